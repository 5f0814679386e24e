"""RunAgent settings: where an agent is (local or cloud), with which key, and the local registry.

`resolve_settings()` turns the client's arguments, the environment and the defaults into
one `Settings` record (reference §1): argument > environment (`RUNAGENT_API_KEY`,
`RUNAGENT_BASE_URL`) > default (`https://backend.run-agent.ai`). It never sends a request;
the only I/O is the read of the local registry when a local agent's address must be
discovered.

`lookup_local_agent()` reads that registry (reference §5): the SQLite file the `runagent`
CLI keeps at `$RUNAGENT_CACHE_DIR/runagent_local.db`, else `~/.runagent/runagent_local.db`.
It opens the file read-only and never creates it or its directory (the official SDK creates
both on import).
"""

from __future__ import annotations

import os
import pathlib
from contextlib import closing
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import attrs

from controldeck._core import _constants as C
from controldeck._core._auth import check_token
from controldeck._core._validate import require_bool, require_str
from controldeck.errors import InvalidArgumentError
from controldeck.runagent._errors import (
    AGENT_NOT_FOUND_LOCAL,
    AgentNotFoundError,
    RunAgentAuthenticationError,
    RunAgentError,
)

__all__ = [
    "API_KEY_ENV",
    "API_PREFIX",
    "BASE_URL_ENV",
    "CACHE_DIR_ENV",
    "DEFAULT_CLOUD_URL",
    "REGISTRY_FILE",
    "LocalAgent",
    "Settings",
    "check_id",
    "default_registry_path",
    "lookup_local_agent",
    "resolve_settings",
]

API_KEY_ENV = "RUNAGENT_API_KEY"
BASE_URL_ENV = "RUNAGENT_BASE_URL"
CACHE_DIR_ENV = "RUNAGENT_CACHE_DIR"
DEFAULT_CLOUD_URL = "https://backend.run-agent.ai"
REGISTRY_FILE = "runagent_local.db"
API_PREFIX = "/api/v1"

# The reference's lookup ([RS] db/service.rs:96), column order included.
REGISTRY_QUERY = (
    "SELECT agent_id, agent_path, host, port, framework, status FROM agents WHERE agent_id = ?"
)
# Seconds sqlite waits for a writer's lock (the CLI updating the row) before giving up.
REGISTRY_LOCK_TIMEOUT = 2.0

NO_KEY_MESSAGE = "no API key for RunAgent Cloud"
NO_KEY_SUGGESTION = "Set RUNAGENT_API_KEY or pass api_key=. For a local agent pass local=True."
NOT_REGISTERED_SUGGESTION = (
    "Ensure the agent is registered locally (`runagent serve` or `runagent config "
    "--register-agent`), or pass host= and port=."
)


def echo(value: str) -> str:
    """`value` cut to the most characters a message may quote of a caller's argument."""
    return value if len(value) <= C.MAX_ECHO else value[: C.MAX_ECHO - 1] + "…"


def check_id(name: str, value: Any) -> str:
    """An agent id or entrypoint tag: a non-empty string that is one URL path segment.

    Both travel in URL paths (`/agents/{agent_id}/run`) and in messages, so a `/` (or a
    `.`/`..` segment, which URL resolution would remove) is refused before anything is sent.

    Example:
        >>> check_id("agent_id", "11111111-2222-3333-4444-555555555555")
        '11111111-2222-3333-4444-555555555555'
    """
    require_str(name, value)
    if "/" in value:
        raise InvalidArgumentError(f"{name} cannot contain '/', got {echo(value)!r}")
    if value in (".", ".."):
        raise InvalidArgumentError(f"{name} cannot be {value!r}: it is a URL path step")
    return str(value)


class LocalAgent(NamedTuple):
    """An agent's row in the local registry (`agents` table of `runagent_local.db`).

    Attributes:
        agent_id: The agent's id.
        host: The host it was last served on (`127.0.0.1` once served; `localhost` while
            only registered, a placeholder nothing listens on).
        port: The port it was last served on (8000 while only registered).
        status: `initialized`, `serving`... The CLI never resets it: a row still says
            `serving` after its server stopped.
        agent_path: The agent's folder, what `runagent serve` takes.
        framework: `default`, `langgraph`...
    """

    agent_id: str
    host: str
    port: int
    status: str | None
    agent_path: str | None
    framework: str | None


def default_registry_path() -> pathlib.Path:
    """Where the `runagent` CLI keeps its registry.

    `$RUNAGENT_CACHE_DIR/runagent_local.db` when `RUNAGENT_CACHE_DIR` is set (and not
    empty; it replaces `~/.runagent` as the CLI's cache directory), else
    `~/.runagent/runagent_local.db`. Nothing is created.

    Example:
        >>> default_registry_path()
        PosixPath('/home/me/.runagent/runagent_local.db')
    """
    cache_dir = os.environ.get(CACHE_DIR_ENV)
    if cache_dir:
        return pathlib.Path(cache_dir).expanduser() / REGISTRY_FILE
    return pathlib.Path.home() / ".runagent" / REGISTRY_FILE


def _registry_file(registry_path: str | os.PathLike[str] | None) -> pathlib.Path:
    if registry_path is None:
        return default_registry_path()
    if not isinstance(registry_path, str | os.PathLike):
        raise InvalidArgumentError(
            f"registry_path must be a path (str or os.PathLike), got {type(registry_path).__name__}"
        )
    text = os.fspath(registry_path)
    if not isinstance(text, str):
        raise InvalidArgumentError("registry_path must be a text path, not bytes")
    if not text.strip():
        raise InvalidArgumentError("registry_path must not be empty")
    return pathlib.Path(text).expanduser()


def _read_only_uri(path: pathlib.Path) -> str:
    """A `file:` URI that opens `path` read-only: `?`, `#`, `%` and spaces in the path are
    percent-encoded so they cannot end the path or start a query."""
    text = path.absolute().as_posix()
    # "/a/b" -> file:///a/b; "C:/a" (Windows) -> file:///C:/a; "//x" stays a path, not a host.
    prefix = "file://" if text.startswith("/") else "file:///"
    return f"{prefix}{quote(text, safe='/:')}?mode=ro"


def lookup_local_agent(
    agent_id: str, registry_path: str | os.PathLike[str] | None = None
) -> LocalAgent:
    """Read an agent's address from the local registry, without writing anything.

    Runs the reference's query (`SELECT agent_id, agent_path, host, port, framework, status
    FROM agents WHERE agent_id = ?`) on the file opened read-only. A missing file is never
    created. The row's `status` is returned, not trusted: a row says `serving` long after
    its server stopped.

    Args:
        agent_id: The agent to look up.
        registry_path: The registry file. Default: `default_registry_path()`.

    Returns:
        The agent's row.

    Raises:
        InvalidArgumentError: A bad `agent_id` or `registry_path`.
        AgentNotFoundError: The file, its `agents` table or the agent's row is missing
            (code `AGENT_NOT_FOUND_LOCAL`).
        RunAgentError: The file cannot be read (not a database, locked, unreadable), or
            the row's host or port is unusable.

    Example:
        >>> agent = lookup_local_agent("11111111-2222-3333-4444-555555555555")
        >>> agent.host, agent.port, agent.status
        ('127.0.0.1', 8450, 'serving')
    """
    import sqlite3  # here: only a local client without an address reads the registry

    check_id("agent_id", agent_id)
    path = _registry_file(registry_path)
    if not path.is_file():
        raise _not_registered(agent_id, path)
    try:
        with closing(
            sqlite3.connect(_read_only_uri(path), uri=True, timeout=REGISTRY_LOCK_TIMEOUT)
        ) as connection:
            row = connection.execute(REGISTRY_QUERY, (agent_id,)).fetchone()
    except sqlite3.Error as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if text.startswith("no such table") or not path.exists():  # or deleted meanwhile
            raise _not_registered(agent_id, path) from None
        raise RunAgentError(
            f"cannot read the local RunAgent registry {path}: {text}",
            suggestion="Check the file (the `runagent` CLI writes it), or pass host= and port=.",
            details={"registry_path": str(path), "sqlite_error": type(exc).__name__},
        ) from None
    if row is None:
        raise _not_registered(agent_id, path)
    return _local_agent(row, agent_id, path)


def _not_registered(agent_id: str, path: pathlib.Path) -> AgentNotFoundError:
    return AgentNotFoundError(
        f"Agent {echo(agent_id)} is not registered in your local RunAgent database ({path}).",
        code=AGENT_NOT_FOUND_LOCAL,
        suggestion=NOT_REGISTERED_SUGGESTION,
        details={"registry_path": str(path)},
    )


def _local_agent(row: tuple[Any, ...], agent_id: str, path: pathlib.Path) -> LocalAgent:
    _, agent_path, host, port, framework, status = row
    where = f"the local RunAgent registry ({path}) lists agent {echo(agent_id)}"
    fix = "Serve the agent again with `runagent serve`, or pass host= and port=."
    if not isinstance(host, str) or not host.strip():
        raise RunAgentError(f"{where} with no usable host ({host!r:.40})", suggestion=fix)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise RunAgentError(f"{where} with port {port!r:.40}, not a TCP port", suggestion=fix)
    return LocalAgent(
        agent_id=agent_id,
        host=host.strip(),
        port=port,
        status=_optional_text(status),
        agent_path=_optional_text(agent_path),
        framework=_optional_text(framework),
    )


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


@attrs.frozen(kw_only=True)
class Settings:
    """Where and how a client reaches its agent; made by `resolve_settings()`.

    Attributes:
        agent_id: The agent's id.
        entrypoint_tag: The entrypoint the client calls.
        local: Whether the agent is a local `runagent serve`.
        api_root: `http(s)://…/api/v1`, every REST route's prefix.
        ws_root: `ws(s)://…/api/v1`, the WebSocket routes' prefix.
        api_key: The cloud key; None in local mode (a local server gets no key, even if
            one is configured). Never shown in `repr()`.
        host: The local agent's host (None in cloud mode).
        port: The local agent's port (None in cloud mode).
        registry_entry: The registry row the address came from, when it did.
    """

    agent_id: str
    entrypoint_tag: str
    local: bool
    api_root: str
    ws_root: str
    api_key: str | None = attrs.field(repr=False)
    host: str | None
    port: int | None
    registry_entry: LocalAgent | None

    @property
    def address(self) -> str:
        """`http://host:port` of a local agent, the API root's origin in cloud mode."""
        return self.api_root.removesuffix(API_PREFIX)


def _check_host(host: Any) -> str:
    if not isinstance(host, str):
        raise InvalidArgumentError(f"host must be a string, got {type(host).__name__}")
    if not host.strip():
        raise InvalidArgumentError("host must not be empty")
    if "://" in host:
        raise InvalidArgumentError(
            f"host must be a host name or IP address without a scheme, got {echo(host)!r}; "
            "e.g. host='127.0.0.1', port=8450"
        )
    if any(c in host for c in "/?#@") or any(c.isspace() for c in host):
        raise InvalidArgumentError(
            f"host must be a host name or IP address, got {echo(host)!r}; "
            "e.g. host='127.0.0.1', port=8450"
        )
    return host


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise InvalidArgumentError(f"port must be an int, got {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise InvalidArgumentError(f"port must be 1-65535, got {port}")
    return port


def _url_host(host: str) -> str:
    """An IPv6 literal in brackets, as a URL needs it (`::1` -> `[::1]`)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _cloud_base(base_url: str | None) -> str:
    """The cloud base URL: argument > `RUNAGENT_BASE_URL` > the default, trailing `/` removed.

    A value without a scheme gets `https://` (as [RS] `Config::load` does for the
    environment variable), so `RUNAGENT_BASE_URL=staging.run-agent.ai` works.
    """
    where = "base_url"
    value = base_url
    if value is None:
        value = os.environ.get(BASE_URL_ENV) or None
        where = BASE_URL_ENV
    if value is None:
        return DEFAULT_CLOUD_URL
    value = value.strip()
    if not value:
        raise InvalidArgumentError(f"{where} must not be empty")
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
        or any(c.isspace() for c in value)
    ):
        raise InvalidArgumentError(
            f"{where} must be an http(s) URL like {DEFAULT_CLOUD_URL}, got "
            f"{echo(value.split('?', 1)[0])!r}"
        )
    return value.rstrip("/")


def _ws_root(api_root: str) -> str:
    if api_root.startswith("https://"):
        return "wss://" + api_root[len("https://") :]
    return "ws://" + api_root[len("http://") :]


def resolve_settings(
    agent_id: str,
    entrypoint_tag: str,
    *,
    local: bool = False,
    host: str | None = None,
    port: int | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    enable_registry: bool | None = None,
    registry_path: str | os.PathLike[str] | None = None,
) -> Settings:
    """Check a client's arguments and work out where its agent is, without any request.

    Cloud (`local=False`): the key is `api_key`, else `RUNAGENT_API_KEY`; the base URL is
    `base_url`, else `RUNAGENT_BASE_URL`, else `https://backend.run-agent.ai` (a base URL
    without scheme gets `https://`; a trailing `/` is dropped; `/api/v1` is always
    appended). `host`/`port`/`registry_path` are checked but unused.

    Local (`local=True`): `host` and `port` both given are used as they are (no registry
    read). Otherwise, when `enable_registry` (default: `local`) is true, the address comes
    from `lookup_local_agent()`, with a given `host` or `port` replacing the row's. The key
    and base URL are never used locally (they are still checked to be strings).

    Args:
        agent_id: The agent's id (no `/`).
        entrypoint_tag: The entrypoint to call (no `/`).
        local: Whether the agent is a local `runagent serve`.
        host: The local agent's host name or IP, without scheme.
        port: The local agent's port.
        api_key: The cloud key.
        base_url: The cloud base URL, e.g. a staging backend.
        enable_registry: Whether a local agent's address may come from the registry.
        registry_path: The registry file (default: `default_registry_path()`).

    Returns:
        The resolved settings.

    Raises:
        InvalidArgumentError: A bad argument, or a local agent whose host or port is
            neither given nor looked up.
        RunAgentAuthenticationError: Cloud mode and no key anywhere.
        AgentNotFoundError: The registry has no row for the agent.
        RunAgentError: The registry cannot be read.

    Example:
        >>> s = resolve_settings("agent-1", "echo", local=True, host="127.0.0.1", port=8450)
        >>> s.api_root, s.ws_root
        ('http://127.0.0.1:8450/api/v1', 'ws://127.0.0.1:8450/api/v1')
    """
    check_id("agent_id", agent_id)
    check_id("entrypoint_tag", entrypoint_tag)
    require_bool("local", local)
    if enable_registry is not None:
        require_bool("enable_registry", enable_registry)
    if host is not None:
        _check_host(host)
    if port is not None:
        _check_port(port)
    if api_key is not None and not isinstance(api_key, str):
        raise InvalidArgumentError(f"api_key must be a string, got {type(api_key).__name__}")
    if base_url is not None and not isinstance(base_url, str):
        raise InvalidArgumentError(f"base_url must be a string, got {type(base_url).__name__}")
    if registry_path is not None:
        _registry_file(registry_path)

    if local:
        return _local_settings(
            agent_id,
            entrypoint_tag,
            host=host,
            port=port,
            enable_registry=local if enable_registry is None else enable_registry,
            registry_path=registry_path,
        )

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if not key or not key.strip():
        raise RunAgentAuthenticationError(NO_KEY_MESSAGE, suggestion=NO_KEY_SUGGESTION)
    check_token("api_key" if api_key is not None else API_KEY_ENV, key)
    api_root = _cloud_base(base_url) + API_PREFIX
    return Settings(
        agent_id=agent_id,
        entrypoint_tag=entrypoint_tag,
        local=False,
        api_root=api_root,
        ws_root=_ws_root(api_root),
        api_key=key,
        host=None,
        port=None,
        registry_entry=None,
    )


def _local_settings(
    agent_id: str,
    entrypoint_tag: str,
    *,
    host: str | None,
    port: int | None,
    enable_registry: bool,
    registry_path: str | os.PathLike[str] | None,
) -> Settings:
    entry: LocalAgent | None = None
    if (host is None or port is None) and enable_registry:
        entry = lookup_local_agent(agent_id, registry_path)
        host = entry.host if host is None else host
        port = entry.port if port is None else port
    if host is None or port is None:
        missing = " and ".join(n for n, v in (("host", host), ("port", port)) if v is None)
        raise InvalidArgumentError(
            f"{missing.capitalize()} {'are' if ' and ' in missing else 'is'} required for "
            "local clients. Pass host= and port=, or enable_registry=True to look the agent "
            "up in the local registry."
        )
    api_root = f"http://{_url_host(host)}:{port}{API_PREFIX}"
    return Settings(
        agent_id=agent_id,
        entrypoint_tag=entrypoint_tag,
        local=True,
        api_root=api_root,
        ws_root=_ws_root(api_root),
        api_key=None,
        host=host,
        port=port,
        registry_entry=entry,
    )
