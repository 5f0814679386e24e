"""What every Akribes sub-client shares: the client it calls through, paths, 404 rules.

Upstream's 404 conventions (reference §1) hold throughout: a getter returns None on 404, a
list returns an empty list, a delete returns False. Lists page lazily with limit/offset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from controldeck._core._options import CallOptions
from controldeck._core._pagination import Page, offset_pager
from controldeck._core._validate import path_segment, require_str
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from controldeck.akribes._client import AkribesClient

__all__ = [
    "PAGE_SIZE",
    "ProjectResource",
    "Resource",
    "document_source",
    "int_id",
    "project_id_of",
    "segment",
]

T = TypeVar("T")

# Items asked for per page: the Python peer's page size, within every server clamp (§8.3).
PAGE_SIZE = 200


def segment(name: str, value: Any) -> str:
    """A non-empty string, or an int id, percent-encoded as one path segment."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return path_segment(name, value)


def int_id(name: str, value: Any) -> int:
    """An int64 id (a project, script, version, run, lock...): an int >= 0, not a bool."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"{name} must be an id (an int >= 0), got {value!r:.40}")
    return value


def project_id_of(value: Any, name: str = "project_id") -> int:
    """A project id."""
    return int_id(name, value)


def document_source(file: Any, filename: str | None) -> tuple[Path | bytes, str]:
    """A document to upload and the filename to announce; nothing is read from a path.

    Args:
        file: A path (streamed when sent), bytes, or a binary file object (read now).
        filename: The name to announce; a path's or file object's own name by default.

    Raises:
        InvalidArgumentError: Not a readable file, a text-mode file, or no filename for
            bytes (the server reads the document's type from the name).
    """
    if filename is not None:
        require_str("filename", filename)
    if isinstance(file, str | os.PathLike):
        path = Path(os.fspath(file))
        if not path.is_file():
            raise InvalidArgumentError(f"file {str(path)[:200]!r} is not a readable file")
        return path, filename or path.name
    if isinstance(file, bytes | bytearray | memoryview):
        data = bytes(file)
    elif callable(getattr(file, "read", None)):
        data = file.read()
        if not isinstance(data, bytes):
            raise InvalidArgumentError(
                f"file must be opened in binary mode ('rb'); read() gave {type(data).__name__}"
            )
        own_name = getattr(file, "name", None)
        if filename is None and isinstance(own_name, str) and own_name:
            filename = os.path.basename(own_name)
    else:
        raise InvalidArgumentError(
            f"file must be a path, bytes or a binary file object, got {type(file).__name__}"
        )
    if not filename:
        raise InvalidArgumentError(
            "pass filename= with bytes or an unnamed file object: the server reads the "
            "document's type from it"
        )
    return data, filename


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
