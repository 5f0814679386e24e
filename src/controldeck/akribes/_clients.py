"""Registered clients (with their heartbeat) and contract locks.

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from controldeck.akribes._base import ProjectResource

__all__ = ["RegisteredClientsClient"]


class RegisteredClientsClient(ProjectResource):
    """Placeholder."""
