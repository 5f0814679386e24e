"""PLACEHOLDER (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.rune._base import RuneBase

__all__ = ["ServicesAPI"]


class ServicesAPI(RuneBase):
    """Rune namespaces, services, deletions, scaling, their watch streams and waits."""
