"""A project's documents: claim, upload, ingest, progress.

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource

__all__ = ["DocumentsClient"]


class DocumentsClient(ProjectResource):
    """Placeholder."""
