"""What every group of Beampipe methods shares: the `/api/v2` prefix, id checks, paging.

`BeampipeClient` is one flat class (the method names of reference §7) assembled from a few
mixins, one per area (`_projects.py`, `_sources.py`, `_executions.py`, `_operators.py`);
each mixin subclasses `BeampipeBase` so its methods see the typed helpers of `BaseClient`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar, Unpack

from controldeck._core._client import BaseClient
from controldeck._core._options import CallOptions
from controldeck._core._pagination import Page, offset_pager
from controldeck._core._validate import path_segment, require_bool
from controldeck.errors import InvalidArgumentError

__all__ = [
    "API",
    "MAX_LIMIT",
    "BeampipeBase",
    "check_limit",
    "name_id",
    "optional_bool",
    "uuid_id",
]

T = TypeVar("T")

API = "/api/v2"
"""Every route's prefix (reference §1)."""

MAX_LIMIT = 500
"""The server clamps `limit` and `items_per_page` to 1..500 (reference §4)."""


def uuid_id(name: str, value: Any) -> str:
    """A UUID path id (sources, executions, profiles, workers, channels, rules) as its
    canonical string; anything else fails here instead of as the server's plain-text 400.

    Example:
        >>> uuid_id("source_id", "0192F0C4-9A3B-7C1D-8E2F-0123456789AB")
        '0192f0c4-9a3b-7c1d-8e2f-0123456789ab'
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise InvalidArgumentError(f"{name} must be a UUID, got {value!r:.60}")


def name_id(name: str, value: Any) -> str:
    """A string path id (a project id / module name, a sha256, a slot), percent-encoded;
    `.` and `..` are refused (requests would resolve them away)."""
    return path_segment(name, value)


def check_limit(name: str, value: Any, maximum: int = MAX_LIMIT) -> int:
    """A page size the server accepts as given (1..500); bigger ones it would clamp."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be an int from 1 to {maximum}, got {value!r}")
    return value


def optional_bool(name: str, value: Any) -> bool | None:
    """None or a bool (not a truthy string: `"false"` would mean true)."""
    return None if value is None else require_bool(name, value)


class BeampipeBase(BaseClient):
    """The base of the Beampipe mixins and of `BeampipeClient`."""

    _platform = "beampipe"

    def _offset_page(
        self,
        path: str,
        item: type[T],
        *,
        limit: int,
        offset: int = 0,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[T]:
        """A `?limit=&offset=` list whose reply is a bare array, paged lazily.

        The server sends no total, so each request asks for `limit + 1` rows: the extra one
        only says that another page follows (it is the next page's first). Iterating walks
        every page and never sends a request that comes back empty; `limit` is therefore at
        most 499 (the server clamps a request to 500).
        """
        check_limit("limit", limit, MAX_LIMIT - 1)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgumentError(f"offset must be an int >= 0, got {offset!r}")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        query["offset"] = offset
        items: Any = list[item]  # type: ignore[valid-type]  # a runtime alias: list[Row]
        return self._page(path, items, offset_pager(limit, lookahead=True), params=query, **options)
