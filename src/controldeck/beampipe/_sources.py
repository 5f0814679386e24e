"""PLACEHOLDER: Beampipe sources, discovery and deployment profiles (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.beampipe._base import BeampipeBase

__all__ = ["SourcesAPI"]


class SourcesAPI(BeampipeBase):
    """Beampipe sources, discovery and deployment profiles."""
