"""Executions: by id (`client.executions`) and runs of a project (`project(pid).executions`).

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource, Resource

__all__ = ["ExecutionsClient", "ScopedExecutionsClient"]


class ExecutionsClient(Resource):
    """Placeholder."""


class ScopedExecutionsClient(ProjectResource):
    """Placeholder."""
