"""A project's MCP servers and configs.

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource

__all__ = ["McpClient"]


class McpClient(ProjectResource):
    """Placeholder."""
