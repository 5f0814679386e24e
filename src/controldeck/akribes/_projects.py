"""Projects (`client.projects`).

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import Resource

__all__ = ["ProjectsClient"]


class ProjectsClient(Resource):
    """Placeholder."""
