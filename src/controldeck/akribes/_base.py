"""What every Akribes sub-client shares: the client it calls through, paths, 404 rules.

Upstream's 404 conventions (reference §1) hold throughout: a getter returns None on 404, a
list returns an empty list, a delete returns False. Lists page lazily with limit/offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Unpack
from urllib.parse import quote

from controldeck._core._options import CallOptions
from controldeck._core._pagination import Page, offset_pager
from controldeck._core._validate import require_str
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from controldeck.akribes._client import AkribesClient

__all__ = ["PAGE_SIZE", "ProjectResource", "Resource", "project_id_of", "segment"]

T = TypeVar("T")

# Items asked for per page: the Python peer's page size, within every server clamp (§8.3).
PAGE_SIZE = 200


def segment(name: str, value: Any) -> str:
    """A non-empty string, or an int id, percent-encoded as one path segment."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return quote(require_str(name, value), safe="")


def project_id_of(value: Any, name: str = "project_id") -> int:
    """A project id: a positive int."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"{name} must be a project id (an int >= 0), got {value!r:.40}")
    return value


class Resource:
    """A group of methods on the client (`client.projects`, `client.tokens`...)."""

    def __init__(self, client: AkribesClient) -> None:
        self._client = client

    def _list(
        self,
        path: str,
        item: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[T]:
        """A lazily paged list (limit/offset); an empty page when the server answers 404."""
        items: Any = list[item]  # type: ignore[valid-type]  # a runtime alias: list[Project]
        try:
            return self._client._page(
                path, items, offset_pager(PAGE_SIZE), params=params, **options
            )
        except NotFoundError:
            return Page([])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class ProjectResource(Resource):
    """A group of methods of one project (`client.project(7).scripts`...)."""

    def __init__(self, client: AkribesClient, project_id: int) -> None:
        super().__init__(client)
        self.project_id = project_id_of(project_id)

    def _path(self, *segments: str) -> str:
        """`/projects/{pid}/<segments>`; each segment must already be encoded."""
        return "/".join((f"/projects/{self.project_id}", *segments))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of project {self.project_id}>"
