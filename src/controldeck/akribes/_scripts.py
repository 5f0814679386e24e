"""Scripts, drafts, versions and channels of a project.

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource

__all__ = ["ScriptsClient", "DraftsClient", "VersionsClient", "ChannelsClient"]


class ScriptsClient(ProjectResource):
    """Placeholder."""


class DraftsClient(ProjectResource):
    """Placeholder."""


class VersionsClient(ProjectResource):
    """Placeholder."""


class ChannelsClient(ProjectResource):
    """Placeholder."""
