"""An organization's configuration (`client.organization(org_id)`).

PLACEHOLDER from the skeleton: the engineer who owns this module replaces it whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controldeck.akribes._base import Resource

if TYPE_CHECKING:
    from controldeck.akribes._client import AkribesClient

__all__ = ["OrganizationClient"]


class OrganizationClient(Resource):
    """Placeholder."""

    def __init__(self, client: AkribesClient, org_id: int) -> None:
        super().__init__(client)
        self.org_id = org_id
