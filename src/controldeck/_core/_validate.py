"""Argument checks that run before any request is sent, and environment resolution."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from controldeck.errors import InvalidArgumentError

__all__ = [
    "from_env",
    "path_segment",
    "require_bool",
    "require_choice",
    "require_str",
    "require_str_list",
]


def from_env(value: str | None, env_name: str) -> str | None:
    """`value` when given, else the environment variable (empty counts as unset)."""
    if value is not None:
        return value
    return os.environ.get(env_name) or None


def require_bool(name: str, value: Any) -> bool:
    """`value` if it is a bool (not a truthy string: `"false"` would mean true)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, got {value!r:.40}")
    return value


def require_str(name: str, value: Any, *, allow_empty: bool = False) -> str:
    """`value` if it is a string (non-blank unless `allow_empty`), else InvalidArgumentError."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InvalidArgumentError(f"{name} must not be empty")
    return value


def path_segment(name: str, value: Any) -> str:
    """Check an id and percent-encode it as one path segment (a `/` cannot change the path,
    and `.` or `..`, which requests would resolve away, are refused)."""
    segment = quote(require_str(name, value), safe="")
    if segment in (".", ".."):
        raise InvalidArgumentError(f"{name} cannot be {value!r}: it is a URL path step")
    return segment


def require_str_list(name: str, value: Any, *, allow_empty: bool = False) -> list[str]:
    """A list (or other non-string iterable) of non-empty strings, as a list."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{name} must be a list of strings, got {type(value).__name__}")
    items = list(value)
    if not items and not allow_empty:
        raise InvalidArgumentError(f"{name} must not be empty")
    for i, item in enumerate(items):
        require_str(f"{name}[{i}]", item)
    return items


def require_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of `choices` (enum members count by value)."""
    allowed = list(choices)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)
