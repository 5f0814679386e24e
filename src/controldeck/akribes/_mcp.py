"""A project's MCP servers: their tools and health, and the stored server configs.

`client.project(pid).mcp`: the Rust SDK's `McpClient` (reference §2) plus the routes only
the TS SDK calls (configs, pin, schema diff; §8.5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._validate import require_choice, require_str
from controldeck.akribes._base import ProjectResource, segment
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from enum import Enum

    from controldeck._core._models import Unset
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        McpAuthKind,
        McpConfigOrigin,
        McpConfigRow,
        McpDriftResult,
        McpHealth,
        McpPinResult,
        McpRefreshResult,
        McpSchemaDiff,
        McpServerSummary,
        McpToolSummary,
    )
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["McpClient"]

T = TypeVar("T")


def _choice(name: str, value: Any, enum: type[Enum]) -> Any:
    """An enum member, or UNSET for None; a plain string must be one of its values."""
    if value is None:
        return UNSET
    return enum(require_choice(name, getattr(value, "value", value), [m.value for m in enum]))


def _optional_str(name: str, value: Any) -> str | Unset:
    return UNSET if value is None else require_str(name, value)


def _timeout_secs(value: Any) -> int | Unset:
    if value is None:
        return UNSET
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"timeout_secs must be an int >= 0, got {value!r:.40}")
    return value


def _optional_bool(name: str, value: Any) -> bool | Unset:
    if value is None:
        return UNSET
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _config_fields(
    url: Any,
    origin: Any,
    timeout_secs: Any,
    approval_required: Any,
    auth_kind: Any,
    auth_header_name: Any,
    auth_secret: Any,
) -> dict[str, Any]:
    """The optional fields both config bodies share, validated; None → left out."""
    return {
        "url": _optional_str("url", url),
        "origin": _choice("origin", origin, models.McpConfigOrigin),
        "timeout_secs": _timeout_secs(timeout_secs),
        "approval_required": _optional_bool("approval_required", approval_required),
        "auth_kind": _choice("auth_kind", auth_kind, models.McpAuthKind),
        "auth_header_name": _optional_str("auth_header_name", auth_header_name),
        "auth_secret": _optional_str("auth_secret", auth_secret),
    }


class McpClient(ProjectResource):
    """The project's MCP servers and their configs (`client.project(pid).mcp`).

    Config secrets (`auth_secret`) are write-only: the server never returns them, and the
    SDK masks them in reprs, logs and error messages.

    Example:
        >>> mcp = client.project(7).mcp
        >>> [(s.alias, s.status) for s in mcp.list_servers()]
        [('search', 'connected')]
    """

    def _get_list(self, path: str, item: type[T], **options: Unpack[CallOptions]) -> list[T]:
        # These routes do not page (no limit/offset in the spec): one GET, 404 → [].
        items: Any = list[item]  # type: ignore[valid-type]  # a runtime alias: list[Model]
        try:
            result: list[T] = self._client._get(path, items, **options)
        except NotFoundError:
            return []
        return result

    def _server(self, alias: str, *rest: str) -> str:
        return self._path("mcp", "servers", segment("alias", alias), *rest)

    # -- servers and tools (Rust SDK) --------------------------------------------------------

    def list_servers(self, **options: Unpack[CallOptions]) -> list[McpServerSummary]:
        """The MCP servers the project can use, wherever they are declared.

        Returns:
            One summary per server (alias, URL, origin, status, tool count); empty when
            the project does not exist (404).

        Example:
            >>> client.project(7).mcp.list_servers()[0].tool_count
            4
        """
        return self._get_list(self._path("mcp", "servers"), models.McpServerSummary, **options)

    def list_tools(self, **options: Unpack[CallOptions]) -> list[McpToolSummary]:
        """The tools of every MCP server of the project.

        Returns:
            One summary per tool, with its JSON Schema; empty on 404.

        Example:
            >>> [t.qualified_name for t in client.project(7).mcp.list_tools()]
            ['search.query', 'search.fetch']
        """
        return self._get_list(self._path("mcp", "tools"), models.McpToolSummary, **options)

    def health(self, alias: str, **options: Unpack[CallOptions]) -> McpHealth:
        """One server's health.

        Args:
            alias: The server's alias.

        Returns:
            Its status, last error and when it was last checked.

        Raises:
            InvalidArgumentError: `alias` is empty.
            NotFoundError: No such server (upstream raises here too).

        Example:
            >>> client.project(7).mcp.health("search").status
            <McpHealthStatus.CONNECTED: 'connected'>
        """
        return self._client._get(self._server(alias, "health"), models.McpHealth, **options)

    def refresh(self, alias: str, **options: Unpack[CallOptions]) -> McpRefreshResult:
        """Reconnect to a server and list its tools again.

        Args:
            alias: The server's alias.

        Returns:
            Whether it refreshed, and how many tools it now has.

        Raises:
            InvalidArgumentError: `alias` is empty.
            NotFoundError: No such server.

        Example:
            >>> client.project(7).mcp.refresh("search").tool_count
            4
        """
        return self._client._post(
            self._server(alias, "refresh"),
            models.McpRefreshResult,
            json=models.EmptyBody(),
            **options,
        )

    def drift(self, alias: str, **options: Unpack[CallOptions]) -> McpDriftResult:
        """Whether a server's tools changed since they were recorded.

        Args:
            alias: The server's alias.

        Returns:
            `drifted`, and the tools `added` and `removed`.

        Raises:
            InvalidArgumentError: `alias` is empty.
            NotFoundError: No such server.

        Example:
            >>> client.project(7).mcp.drift("search").added
            ['search.summarise']
        """
        return self._client._get(self._server(alias, "drift"), models.McpDriftResult, **options)

    # -- configs, pin, schema diff (TS only) ---------------------------------------------------

    def list_configs(self, **options: Unpack[CallOptions]) -> list[McpConfigRow]:
        """The MCP server configs stored for the project (secrets are never returned).

        Returns:
            One row per config; `auth_configured` tells whether a secret is stored.
            Empty on 404.

        Example:
            >>> [(c.alias, c.auth_configured) for c in client.project(7).mcp.list_configs()]
            [('search', True)]
        """
        return self._get_list(self._path("mcp", "configs"), models.McpConfigRow, **options)

    def create_config(
        self,
        alias: str,
        *,
        url: str | None = None,
        origin: McpConfigOrigin | str | None = None,
        timeout_secs: int | None = None,
        approval_required: bool | None = None,
        auth_kind: McpAuthKind | str | None = None,
        auth_header_name: str | None = None,
        auth_secret: str | None = None,
        **options: Unpack[CallOptions],
    ) -> McpConfigRow:
        """Store an MCP server config for the project. Arguments left None are not sent.

        Args:
            alias: The server's alias (how scripts name it).
            url: The server's URL.
            origin: `"db"` or `"override"` (of a server declared elsewhere).
            timeout_secs: Seconds a tool call may take.
            approval_required: Whether tool calls need a human's approval.
            auth_kind: `"none"`, `"bearer"` or `"header"`.
            auth_header_name: The header carrying the secret when `auth_kind="header"`.
            auth_secret: The credential to send. Never returned, logged or shown.

        Returns:
            The stored config, without its secret.

        Raises:
            InvalidArgumentError: A bad argument (an unknown `origin` or `auth_kind`...).
            ConflictError: A config with that alias exists.

        Example:
            >>> row = client.project(7).mcp.create_config(
            ...     "search", url="https://mcp.example/sse", auth_kind="bearer",
            ...     auth_secret=os.environ["SEARCH_KEY"])
            >>> row.auth_configured
            True
        """
        body = models.McpConfigInput(
            alias=require_str("alias", alias),
            **_config_fields(
                url,
                origin,
                timeout_secs,
                approval_required,
                auth_kind,
                auth_header_name,
                auth_secret,
            ),
        )
        return self._client._call(
            "POST",
            self._path("mcp", "servers"),
            models.McpConfigRow,
            json=body,
            secrets=() if auth_secret is None else (auth_secret,),
            **options,
        )

    def update_config(
        self,
        alias: str,
        *,
        url: str | None = None,
        origin: McpConfigOrigin | str | None = None,
        timeout_secs: int | None = None,
        approval_required: bool | None = None,
        auth_kind: McpAuthKind | str | None = None,
        auth_header_name: str | None = None,
        auth_secret: str | None = None,
        clear_secret: bool = False,
        **options: Unpack[CallOptions],
    ) -> McpConfigRow:
        """Change a stored MCP server config. Arguments left None are left unchanged.

        Args:
            alias: The config's alias (also sent in the body, as the TS SDK does).
            url: As for `create_config`.
            origin: As for `create_config`.
            timeout_secs: As for `create_config`.
            approval_required: As for `create_config`.
            auth_kind: As for `create_config`.
            auth_header_name: As for `create_config`.
            auth_secret: A new credential. Never returned, logged or shown.
            clear_secret: Remove the stored credential (sent only when True).

        Returns:
            The updated config, without its secret.

        Raises:
            InvalidArgumentError: A bad argument, or both `auth_secret` and `clear_secret`.
            NotFoundError: No such config.

        Example:
            >>> client.project(7).mcp.update_config("search", clear_secret=True).auth_configured
            False
        """
        if not isinstance(clear_secret, bool):
            raise InvalidArgumentError(
                f"clear_secret must be a bool, got {type(clear_secret).__name__}"
            )
        if clear_secret and auth_secret is not None:
            raise InvalidArgumentError("pass auth_secret= or clear_secret=True, not both")
        body = models.McpConfigUpdate(
            alias=require_str("alias", alias),
            clear_secret=True if clear_secret else UNSET,
            **_config_fields(
                url,
                origin,
                timeout_secs,
                approval_required,
                auth_kind,
                auth_header_name,
                auth_secret,
            ),
        )
        return self._client._call(
            "PATCH",
            self._server(alias),
            models.McpConfigRow,
            json=body,
            secrets=() if auth_secret is None else (auth_secret,),
            **options,
        )

    def delete_config(self, alias: str, **options: Unpack[CallOptions]) -> None:
        """Remove a stored MCP server config.

        Args:
            alias: The config's alias.

        Raises:
            InvalidArgumentError: `alias` is empty.
            NotFoundError: No such config.

        Example:
            >>> client.project(7).mcp.delete_config("search")
        """
        self._client._delete(self._server(alias), **options)

    def pin(self, alias: str, **options: Unpack[CallOptions]) -> McpPinResult:
        """Pin a server's current tool schemas, so later changes show as drift.

        Args:
            alias: The server's alias.

        Returns:
            The alias, its tool count and whether it is now pinned.

        Raises:
            InvalidArgumentError: `alias` is empty.
            NotFoundError: No such server.

        Example:
            >>> client.project(7).mcp.pin("search").pinned
            True
        """
        # TS posts no body at all here (not `{}`).
        return self._client._post(self._server(alias, "pin"), models.McpPinResult, **options)

    def schema_diff(self, alias: str, **options: Unpack[CallOptions]) -> McpSchemaDiff:
        """The pinned tool schemas against the live ones.

        Args:
            alias: The server's alias.

        Returns:
            Whether it is pinned and reachable, and the tools added, removed and changed.

        Raises:
            InvalidArgumentError: `alias` is empty.
            NotFoundError: No such server.

        Example:
            >>> client.project(7).mcp.schema_diff("search").changed
            ['search.query']
        """
        return self._client._get(
            self._server(alias, "schema-diff"), models.McpSchemaDiff, **options
        )
