"""PLACEHOLDER (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.rune._base import RuneBase

__all__ = ["AdminAPI"]


class AdminAPI(RuneBase):
    """Rune auth (whoami, tokens) and admin (bootstrap, users, policies, registries)."""
