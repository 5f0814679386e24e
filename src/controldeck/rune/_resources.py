"""PLACEHOLDER (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.rune._base import RuneBase

__all__ = ["ResourcesAPI"]


class ResourcesAPI(RuneBase):
    """Rune instances, health, secrets, configmaps and logs."""
