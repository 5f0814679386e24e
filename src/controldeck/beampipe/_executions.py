"""PLACEHOLDER: Beampipe executions and waiting for them (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.beampipe._base import BeampipeBase

__all__ = ["ExecutionsAPI"]


class ExecutionsAPI(BeampipeBase):
    """Beampipe executions and waiting for them."""
