"""PLACEHOLDER: Beampipe health, readiness, metrics, diagnostics, overview, the OpenAPI document, project configs, WASM modules and projects (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.beampipe._base import BeampipeBase

__all__ = ["ProjectsAPI"]


class ProjectsAPI(BeampipeBase):
    """Beampipe health, readiness, metrics, diagnostics, overview, the OpenAPI document, project configs, WASM modules and projects."""
