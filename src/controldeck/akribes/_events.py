"""Event streams: the hub SSE stream, ad-hoc and run streams.

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource

__all__ = ["EventsClient"]


class EventsClient(ProjectResource):
    """Placeholder."""
