"""PLACEHOLDER: Beampipe workers, scheduler, DALiuGE, graphs, jobs, Slurm credentials, notification channels and alerts (replaced whole by its owner)."""

from __future__ import annotations

from controldeck.beampipe._base import BeampipeBase

__all__ = ["OperatorsAPI"]


class OperatorsAPI(BeampipeBase):
    """Beampipe workers, scheduler, DALiuGE, graphs, jobs, Slurm credentials, notification channels and alerts."""
