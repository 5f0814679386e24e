"""Benches of a project and bench runs by id.

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource, Resource

__all__ = ["BenchClient", "BenchRunsClient"]


class BenchClient(ProjectResource):
    """Placeholder."""


class BenchRunsClient(Resource):
    """Placeholder."""
