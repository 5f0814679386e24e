"""`RunAgentClient`: one entrypoint of one RunAgent agent, local (`runagent serve`) or in
RunAgent Cloud (openapi/runagent.yaml; wire facts in docs/runagent.md).

Every HTTP call goes through `_send`, which turns the core's errors into the RunAgent
tree (`_wire.error_from_status` / `error_from_connection`); `run_stream` opens the core's
WebSocket stream with a frame parser and an error mapping of its own. The architecture
is fetched once per client (and its views), under a lock, by the first `run()`,
`run_stream()` or `validate()`.
"""

from __future__ import annotations

import copy as copylib
import json
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Self, Unpack
from urllib.parse import quote

import requests

from controldeck._core import _constants as C
from controldeck._core._auth import BearerAuth, check_token
from controldeck._core._bodies import JsonBody
from controldeck._core._client import BaseClient
from controldeck._core._lazy import LazyModule
from controldeck._core._options import CallOptions, RequestOptions, Timeout
from controldeck._core._redact import excerpt
from controldeck._core._streams import Stream
from controldeck._core._transport import check_deadline, check_max_retries, check_timeout
from controldeck._core._validate import path_segment, require_bool, require_str
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
    ResponseValidationError,
    StreamError,
)
from controldeck.runagent._errors import (
    AGENT_NOT_FOUND_LOCAL,
    AGENT_NOT_FOUND_REMOTE,
    AgentNotFoundError,
    ArchitectureMissingError,
    EntrypointError,
    RunAgentError,
    RunAgentStreamError,
    RunAgentTimeoutError,
)
from controldeck.runagent._wire import (
    END_STATUS,
    FAILED_STATUSES,
    build_run_payload,
    check_guardrail,
    decode_result,
    error_from_connection,
    error_from_envelope,
    error_from_frame,
    error_from_status,
    parse_runagent_error,
    run_result,
)

if TYPE_CHECKING:
    from controldeck._core._websocket import EndType
    from controldeck._generated import runagent as models
    from controldeck._generated.runagent import (
        AgentArchitecture,
        AgentInfo,
        HealthResponse,
        Invocation,
        InvocationList,
        InvocationStatsResponse,
    )
    from controldeck.runagent._config import LocalAgent
else:
    models = LazyModule("controldeck._generated.runagent")

__all__ = ["RunAgentClient"]

Op = Literal["run", "architecture", "invocation", "other"]

DEFAULT_RUN_TIMEOUT: Final = 300
"""Seconds sent as `timeout_seconds` (the upstream SDKs' `DEFAULT_TIMEOUT_SECONDS`)."""
RUN_READ_MARGIN: Final = 10
"""`run()` waits `run_timeout` + this many seconds for the reply (as [PY] does)."""
DEFAULT_STREAM_IDLE_TIMEOUT: Final = 60.0
"""`run_stream()`: seconds without a frame before `RunAgentTimeoutError`."""

_OPTION_KEYS: Final = frozenset(CallOptions.__annotations__)
_VIEW_KEYS: Final = _OPTION_KEYS | {
    "run_timeout",
    "stream_idle_timeout",
    "user_id",
    "persistent_memory",
}
_MAX_TAGS_SHOWN = 20


class _Shared:
    """What a client shares with its views: the architecture, fetched once, and its lock."""

    __slots__ = ("architecture", "lock", "tags")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.architecture: AgentArchitecture | None = None
        self.tags: frozenset[str] = frozenset()


class RunAgentClient(BaseClient):
    """Client for one entrypoint (`entrypoint_tag`) of one RunAgent agent.

    Local mode (`local=True`) talks to `runagent serve` at `http://{host}:{port}/api/v1`
    with no credentials; without `host` and `port` it finds the address in the local
    registry (`$RUNAGENT_CACHE_DIR/runagent_local.db`, else `~/.runagent/runagent_local.db`).
    Cloud mode (the default) talks to `{base_url}/api/v1` (`RUNAGENT_BASE_URL`, else
    https://backend.run-agent.ai) with `Authorization: Bearer <api_key>` (`RUNAGENT_API_KEY`).

    The constructor sends nothing. The first `run()`, `run_stream()` or `validate()` fetches
    the agent's architecture once, caches it on the client (and its `with_options` views),
    and checks that `entrypoint_tag` is one of its entrypoints; threads calling at the same
    time wait for that one fetch, and a failed fetch is not cached, so the next call tries
    again. `run()` refuses a tag ending in `_stream` and `run_stream()` any other tag
    before sending anything (the guardrails).

    `run()` is one POST, never retried once it may have reached the agent: only a refused
    connection, or a 429/503 whose `Retry-After` asks to come back, is tried again. Its read
    timeout is `run_timeout + 10` seconds. Reads (health, architecture, invocations) use
    `timeout` and are retried up to `max_retries` times. Safe to share between threads.

    Args:
        agent_id: The agent's id (a UUID for agents made by the CLI).
        entrypoint_tag: The entrypoint to call (`tag` in `runagent.config.json`); tags
            ending in `_stream` are streaming entrypoints, for `run_stream()`.
        local: Call a local agent (`runagent serve`) instead of RunAgent Cloud.
        host: The local server's host; with `port`, no registry lookup.
        port: The local server's port.
        api_key: The cloud API key. Defaults to `RUNAGENT_API_KEY`. Never sent locally.
        base_url: The cloud origin (`/api/v1` is added). Defaults to `RUNAGENT_BASE_URL`,
            else https://backend.run-agent.ai.
        enable_registry: Look the local address up in the registry when `host`/`port` are
            not both given. Defaults to `local`.
        user_id: Sent with every run (`user_id`), for per-user persistent storage.
        persistent_memory: Sent as `persistent_memory: true` with every run when True.
        extra_params: Stored and returned by `get_extra_params()`; never sent.
        registry_path: The registry database to read instead of the default one.
        timeout: Seconds, or (connect, read) seconds, per attempt of the reads; its connect
            part also bounds connecting for `run()` and `run_stream()`. Default (5, 60).
        deadline: Seconds any one call may take across its retries. Default: no limit.
        max_retries: Retries of reads (and of a refused connection). Default 2.
        run_timeout: Seconds the agent may run: sent as `timeout_seconds`, and `run()`
            waits this plus 10 s for the reply. Default 300.
        stream_idle_timeout: Seconds `run_stream()` waits for each frame before raising
            `RunAgentTimeoutError`. Default 60.
        session: A `requests.Session` to use (proxies, TLS) instead of our own.
        user_agent: Replaces `controldeck/<version> python/<x.y> runagent`.

    Raises:
        InvalidArgumentError: A bad argument; nothing is sent.
        RunAgentAuthenticationError: Cloud mode without an API key.
        AgentNotFoundError: Local mode, the agent is not in the registry
            (`AGENT_NOT_FOUND_LOCAL`).
        RunAgentError: The registry could not be read.

    Example:
        >>> with RunAgentClient("1111-...", "echo", local=True) as agent:
        ...     print(agent.run(message="hi"))
        {'echo': 'hi', 'n': 1}
    """

    _platform = "runagent"

    def __init__(
        self,
        agent_id: str,
        entrypoint_tag: str,
        *,
        local: bool = False,
        host: str | None = None,
        port: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        enable_registry: bool | None = None,
        user_id: str | None = None,
        persistent_memory: bool = False,
        extra_params: Mapping[str, Any] | None = None,
        registry_path: str | os.PathLike[str] | None = None,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        run_timeout: int = DEFAULT_RUN_TIMEOUT,
        stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
        session: requests.Session | None = None,
        user_agent: str | None = None,
    ) -> None:
        copy_args = {
            "agent_id": agent_id,
            "entrypoint_tag": entrypoint_tag,
            "local": local,
            "host": host,
            "port": port,
            "api_key": api_key,
            "base_url": base_url,
            "enable_registry": enable_registry,
            "user_id": user_id,
            "persistent_memory": persistent_memory,
            "extra_params": extra_params,
            "registry_path": registry_path,
            "timeout": timeout,
            "deadline": deadline,
            "max_retries": max_retries,
            "run_timeout": run_timeout,
            "stream_idle_timeout": stream_idle_timeout,
            "session": session,
            "user_agent": user_agent,
        }
        # Our own arguments first: a bad one fails before the registry is read.
        self._user_id = _check_user_id(user_id)
        self._persistent_memory = require_bool("persistent_memory", persistent_memory)
        if extra_params is not None and not isinstance(extra_params, Mapping):
            raise InvalidArgumentError(
                f"extra_params must be a mapping or None, got {type(extra_params).__name__}"
            )
        self._extra_params = dict(extra_params) if extra_params is not None else None
        self._run_timeout = _check_run_timeout(run_timeout)
        self._stream_idle_timeout = _check_idle_timeout("stream_idle_timeout", stream_idle_timeout)
        if enable_registry is not None:
            require_bool("enable_registry", enable_registry)
        # Here, not at the top: the registry's sqlite3 loads when a client is made.
        from controldeck.runagent._config import resolve_settings

        settings = resolve_settings(
            agent_id,
            entrypoint_tag,
            local=local,
            host=host,
            port=port,
            api_key=api_key,
            base_url=base_url,
            enable_registry=enable_registry,
            registry_path=registry_path,
        )
        self._settings = settings
        self._agent_segment = path_segment("agent_id", settings.agent_id)
        key = None if settings.local else settings.api_key
        if key is not None:
            check_token("api_key", key)
        self._api_key = key
        super().__init__(
            base_url=settings.api_root,
            copy_args=copy_args,
            auth=BearerAuth(key, missing="pass api_key= or set RUNAGENT_API_KEY")
            if key is not None
            else None,
            secret_keys=models.SECRET_FIELDS,
            error_parser=parse_runagent_error,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
        )
        self._timeout = self._transport.timeout
        self._deadline = self._transport.deadline
        self._max_retries = self._transport.max_retries
        self._extra_headers: dict[str, str] = {}
        self._shared = _Shared()
        self._view = False
        self._secrets: tuple[str, ...] = (key, quote(key, safe="")) if key is not None else ()

    @classmethod
    def from_env(cls, agent_id: str, entrypoint_tag: str, **kwargs: Any) -> Self:
        """A client configured from the environment, as the constructor does anyway.

        `RUNAGENT_API_KEY`, `RUNAGENT_BASE_URL` and `RUNAGENT_CACHE_DIR` fill what the
        arguments leave out ([CHK] `from_env()` factory).

        Example:
            >>> agent = RunAgentClient.from_env("1111-...", "echo")
        """
        return cls(agent_id, entrypoint_tag, **kwargs)

    # -- views, copies, repr ----------------------------------------------------------------

    def with_options(
        self,
        *,
        timeout: Timeout | None = None,
        deadline: float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        run_timeout: int | None = None,
        stream_idle_timeout: float | None = None,
        user_id: str | None = None,
        persistent_memory: bool | None = None,
    ) -> Self:
        """A view of this client with other defaults, sharing its connections and its
        cached architecture.

        Arguments left out keep this client's values; `extra_headers` are added to this
        client's. The view owns nothing: `close()` on a view does nothing, and closing
        this client (the parent) closes the view's connections too, so close the parent.

        Args:
            timeout: Seconds, or (connect, read) seconds, per attempt of the reads; the
                connect part also bounds `run()` and `run_stream()`.
            deadline: Seconds any one call may take across its retries.
            max_retries: Retries of reads.
            extra_headers: Headers sent with every call of the view (and its streams).
            run_timeout: Seconds the agent may run (`timeout_seconds`; `run()` waits 10 s more).
            stream_idle_timeout: Seconds `run_stream()` waits for each frame.
            user_id: Sent with every run of the view.
            persistent_memory: Sent with every run of the view.

        Raises:
            InvalidArgumentError: A bad value.

        Example:
            >>> alice = agent.with_options(user_id="alice", run_timeout=30)
            >>> alice.run(message="hi")  # same connections, architecture fetched once
        """
        view = copylib.copy(self)
        view._view = True
        view._copy_args = dict(self._copy_args)
        if timeout is not None:
            view._timeout = check_timeout(timeout)
            view._copy_args["timeout"] = timeout
        if deadline is not None:
            view._deadline = check_deadline(deadline)
            view._copy_args["deadline"] = deadline
        if max_retries is not None:
            view._max_retries = check_max_retries(max_retries)
            view._copy_args["max_retries"] = max_retries
        if extra_headers is not None:
            # The transport checks the headers of every call; check them here already.
            self._transport.build("GET", "/", extra_headers=extra_headers)
            view._extra_headers = {**self._extra_headers, **extra_headers}
        if run_timeout is not None:
            view._run_timeout = _check_run_timeout(run_timeout)
            view._copy_args["run_timeout"] = run_timeout
        if stream_idle_timeout is not None:
            view._stream_idle_timeout = _check_idle_timeout(
                "stream_idle_timeout", stream_idle_timeout
            )
            view._copy_args["stream_idle_timeout"] = stream_idle_timeout
        if user_id is not None:
            view._user_id = _check_user_id(user_id)
            view._copy_args["user_id"] = user_id
        if persistent_memory is not None:
            view._persistent_memory = require_bool("persistent_memory", persistent_memory)
            view._copy_args["persistent_memory"] = persistent_memory
        return view

    def copy(self, **overrides: Any) -> Self:
        """A new, independent client like this one, with some constructor arguments replaced.

        Unlike `with_options`, the copy has its own sessions and fetches the architecture
        again; the settings are resolved again too (environment, registry).

        Raises:
            InvalidArgumentError: An argument the constructor does not take.

        Example:
            >>> streaming = agent.copy(entrypoint_tag="echo_stream")
        """
        return super().copy(**overrides)

    def close(self) -> None:
        """Close the HTTP sessions this client opened. Safe to call twice.

        On a `with_options` view this does nothing: the parent owns the connections.

        Example:
            >>> agent.close()
        """
        if not self._view:
            super().close()

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"RunAgentClient(agent_id={_cut(s.agent_id)!r}, entrypoint_tag="
            f"{_cut(s.entrypoint_tag)!r}, local={s.local}, base_url={self.base_url!r})"
        )

    # -- getters ----------------------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        """The agent's id."""
        return self._settings.agent_id

    @property
    def entrypoint_tag(self) -> str:
        """The entrypoint this client calls."""
        return self._settings.entrypoint_tag

    @property
    def is_local(self) -> bool:
        """Whether the client calls a local agent (`runagent serve`)."""
        return self._settings.local

    @property
    def host(self) -> str | None:
        """The local server's host (None in cloud mode)."""
        return self._settings.host

    @property
    def port(self) -> int | None:
        """The local server's port (None in cloud mode)."""
        return self._settings.port

    @property
    def api_key_set(self) -> bool:
        """Whether requests carry an API key (cloud mode; never locally)."""
        return self._api_key is not None

    @property
    def user_id(self) -> str | None:
        """The `user_id` sent with every run, or None."""
        return self._user_id

    @property
    def persistent_memory(self) -> bool:
        """Whether runs ask for persistent memory."""
        return self._persistent_memory

    @property
    def extra_params(self) -> dict[str, Any] | None:
        """A copy of the `extra_params` given to the constructor (never sent), or None."""
        return dict(self._extra_params) if self._extra_params is not None else None

    @property
    def registry_entry(self) -> LocalAgent | None:
        """The registry row the local address came from, or None (address given, cloud)."""
        return self._settings.registry_entry

    @property
    def run_timeout(self) -> int:
        """Seconds the agent may run (`timeout_seconds`)."""
        return self._run_timeout

    @property
    def stream_idle_timeout(self) -> float:
        """Seconds `run_stream()` waits for each frame."""
        return self._stream_idle_timeout

    def get_agent_id(self) -> str:
        """The agent's id (the upstream SDKs' getter name)."""
        return self.agent_id

    def get_entrypoint_tag(self) -> str:
        """The entrypoint tag (the upstream SDKs' getter name)."""
        return self.entrypoint_tag

    def get_user_id(self) -> str | None:
        """The `user_id` sent with every run (the upstream SDKs' getter name)."""
        return self.user_id

    def get_persistent_memory(self) -> bool:
        """Whether runs ask for persistent memory (the upstream SDKs' getter name)."""
        return self.persistent_memory

    def get_extra_params(self) -> dict[str, Any] | None:
        """A copy of `extra_params` (the upstream SDKs' getter name)."""
        return self.extra_params

    # -- running ----------------------------------------------------------------------------

    def run(self, *input_args: Any, **input_kwargs: Any) -> Any:
        """Run the entrypoint once and return its decoded result.

        Positional and keyword arguments go to the agent as they are (`input_args`,
        `input_kwargs`); use `invoke()` to pass per-call options. The first call fetches
        the architecture and checks the tag.

        Returns:
            The agent's return value, decoded (`decode_result`).

        Raises:
            EntrypointError: A `_stream` tag (`STREAM_ENTRYPOINT`, nothing sent), a tag the
                architecture does not list, or one the server does not know (`NOT_FOUND`).
            RunAgentExecutionError: The agent raised or rejected its arguments.
            AgentNotFoundError: The server does not serve this agent id.
            AgentNotRunningError: Nothing listens at the local address.
            RunAgentTimeoutError: No reply within `run_timeout + 10` seconds.
            RunAgentError: Any other failure, with its code.

        Example:
            >>> agent.run("hi", n=2)
            {'echo': 'hi', 'n': 2}
        """
        return self._run(input_args, input_kwargs, {})

    def invoke(
        self,
        input_args: Sequence[Any] = (),
        input_kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> Any:
        """`run()` with the agent's arguments passed explicitly and per-call options.

        Args:
            input_args: Positional arguments for the agent.
            input_kwargs: Keyword arguments for the agent.
            options: `timeout=` (default `(connect, run_timeout + 10)`), `deadline=`,
                `max_retries=`, `extra_headers=`.

        Raises:
            InvalidArgumentError: A bad argument or option; nothing is sent.
            (the rest): As for `run()`.

        Example:
            >>> agent.invoke(["hi"], {"n": 2}, timeout=(2, 30))
            {'echo': 'hi', 'n': 2}
        """
        return self._run(input_args, input_kwargs, options)

    def run_stream(self, *input_args: Any, **input_kwargs: Any) -> Stream[Any]:
        """Run a streaming entrypoint (tag ending in `_stream`) over a WebSocket.

        Connects, sends the start message and returns at once; iterate the stream for the
        decoded chunks. It ends when the server says `stream_completed` (the client then
        closes the socket itself). Use it in a `with` block.

        Returns:
            A `Stream` of decoded chunks.

        Raises:
            EntrypointError: A tag without `_stream` (`NON_STREAM_ENTRYPOINT`, nothing
                sent) or one the architecture does not list.
            AgentNotFoundError: The server refused the handshake (unknown agent id).
            AgentNotRunningError: Nothing listens at the local address.
            RunAgentStreamError: While iterating: an error frame, or the socket closed
                before `stream_completed`.
            RunAgentTimeoutError: While iterating: no frame for `stream_idle_timeout` s.

        Example:
            >>> with agent.run_stream("hi", n=3) as chunks:
            ...     for chunk in chunks:
            ...         print(chunk)
            hi-0
            hi-1
            hi-2
        """
        return self._stream(input_args, input_kwargs, None, {})

    def invoke_stream(
        self,
        input_args: Sequence[Any] = (),
        input_kwargs: Mapping[str, Any] | None = None,
        *,
        idle_timeout: float | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[Any]:
        """`run_stream()` with the agent's arguments passed explicitly and per-call options.

        Args:
            input_args: Positional arguments for the agent.
            input_kwargs: Keyword arguments for the agent.
            idle_timeout: Seconds to wait for each frame (default `stream_idle_timeout`).
            options: `timeout=` (its connect part bounds the connect and handshake) and
                `extra_headers=`; `deadline=` and `max_retries=` do not apply to a stream.

        Raises:
            InvalidArgumentError: A bad argument or option; nothing is sent.
            (the rest): As for `run_stream()`.

        Example:
            >>> with agent.invoke_stream(["hi"], {"n": 3}, idle_timeout=5) as chunks:
            ...     print(list(chunks))
            ['hi-0', 'hi-1', 'hi-2']
        """
        idle = None if idle_timeout is None else _check_idle_timeout("idle_timeout", idle_timeout)
        return self._stream(input_args, input_kwargs, idle, options)

    # -- architecture -----------------------------------------------------------------------

    def validate(self, **options: Unpack[CallOptions]) -> AgentArchitecture:
        """Fetch the architecture now (once per client) and check the entrypoint tag.

        `run()` and `run_stream()` do this on their first call; call it to fail early.

        Returns:
            The cached architecture.

        Raises:
            EntrypointError: The architecture has no entrypoint `entrypoint_tag`; the
                message lists the tags it has.
            ArchitectureMissingError: The reply had no data or no entrypoints.
            AgentNotFoundError: The server does not know the agent id.

        Example:
            >>> [e.tag for e in agent.validate().entrypoints]
            ['echo', 'echo_stream']
        """
        return self._checked_architecture(options)

    def get_agent_architecture(self, **options: Unpack[CallOptions]) -> AgentArchitecture:
        """Fetch the agent's entrypoints (`GET /agents/{id}/architecture`); never cached.

        Accepts the envelope (`{success, data, ...}`) and a legacy body without `success`
        (the architecture itself); `agentId` is read as `agent_id`.

        Raises:
            AgentNotFoundError: HTTP 404 (`AGENT_NOT_FOUND_LOCAL` / `_REMOTE`).
            ArchitectureMissingError: No `data`, or no `data.entrypoints`.
            RunAgentError: `success: false`, with the server's code.

        Example:
            >>> agent.get_agent_architecture().entrypoints[0].tag
            'echo'
        """
        body = self._http(
            "GET", f"/agents/{self._agent_segment}/architecture", op="architecture", options=options
        )
        return self._architecture_from(body)

    # -- other reads ------------------------------------------------------------------------

    def health_check(self, **options: Unpack[CallOptions]) -> bool:
        """Whether the server answers `GET /api/v1/health`; never raises.

        Returns:
            True on any 2xx reply, False on anything else (refused, timeout, error status,
            a closed client).

        Example:
            >>> agent.health_check()
            True
        """
        try:
            self._http("GET", "/health", op="other", reply="none", options=options)
        except ControlDeckError:
            return False
        return True

    def get_health(self, **options: Unpack[CallOptions]) -> HealthResponse:
        """The server's health (`GET /api/v1/health`).

        Raises:
            AgentNotRunningError: Nothing listens at the local address.
            RunAgentError: An error status.

        Example:
            >>> agent.get_health().status
            'healthy'
        """
        result: HealthResponse = self._http(
            "GET", "/health", op="other", cast_to=models.HealthResponse, options=options
        )
        return result

    def get_agent_info(self, **options: Unpack[CallOptions]) -> AgentInfo:
        """What the local server says about itself and its agent (`GET /api/v1`).

        Example:
            >>> agent.get_agent_info().config["agent_name"]
            'Echo Agent'
        """
        # The API root itself: an absolute URL, so no trailing slash is added.
        result: AgentInfo = self._http(
            "GET", self.base_url, op="other", cast_to=models.AgentInfo, options=options
        )
        return result

    def list_invocations(
        self,
        *,
        limit: int | None = None,
        status: str | None = None,
        **options: Unpack[CallOptions],
    ) -> InvocationList:
        """The agent's recent invocations, newest first (local server).

        Args:
            limit: At most this many (the server's default is 50).
            status: Only invocations with this status (`completed`, `failed`, `pending`).

        Example:
            >>> [i.status for i in agent.list_invocations(limit=2).invocations]
            ['completed', 'failed']
        """
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise InvalidArgumentError(f"limit must be an int >= 1 or None, got {limit!r:.40}")
        if status is not None:
            require_str("status", status)
        result: InvocationList = self._http(
            "GET",
            f"/agents/{self._agent_segment}/invocations",
            op="architecture",
            params={"limit": limit, "status": status},
            cast_to=models.InvocationList,
            options=options,
        )
        return result

    def invocation_stats(self, **options: Unpack[CallOptions]) -> InvocationStatsResponse:
        """Counts and timings of the agent's invocations (local server).

        Example:
            >>> agent.invocation_stats().stats.success_rate
            71.43
        """
        result: InvocationStatsResponse = self._http(
            "GET",
            f"/agents/{self._agent_segment}/invocations/stats",
            op="architecture",
            cast_to=models.InvocationStatsResponse,
            options=options,
        )
        return result

    def get_invocation(self, invocation_id: str, **options: Unpack[CallOptions]) -> Invocation:
        """One invocation by its id (local server; `GET /api/v1/invocations/{id}`).

        Raises:
            RunAgentNotFoundError: No invocation with this id.

        Example:
            >>> agent.get_invocation("f2eec70d-...").output_data
            {'echo': 'hi', 'n': 1}
        """
        segment = path_segment("invocation_id", invocation_id)
        result: Invocation = self._http(
            "GET",
            f"/invocations/{segment}",
            op="invocation",
            cast_to=models.Invocation,
            options=options,
        )
        return result

    # -- internals: HTTP --------------------------------------------------------------------

    def _call_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """This view's defaults under a call's own options (checked by name here, by
        value in the transport)."""
        unknown = options.keys() - _OPTION_KEYS
        if unknown:
            raise InvalidArgumentError(
                f"unexpected keyword arguments: {', '.join(sorted(unknown))} (the options "
                f"are {', '.join(sorted(_OPTION_KEYS))})"
            )
        out: dict[str, Any] = {
            "timeout": self._timeout,
            "deadline": self._deadline,
            "max_retries": self._max_retries,
            **options,
        }
        if self._extra_headers:
            out["extra_headers"] = {**self._extra_headers, **(options.get("extra_headers") or {})}
        return out

    def _request(
        self,
        method: str,
        path: str,
        *,
        options: Mapping[str, Any],
        cast_to: Any = None,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        reply: Literal["json", "none"] = "json",
    ) -> RequestOptions:
        """Build (and so check) one request; nothing is sent."""
        return self._transport.build(
            method,
            path,
            params=params,
            body=JsonBody(body) if body is not None else None,
            cast_to=cast_to,
            reply=reply,
            auth=not self._settings.local,
            **self._call_options(options),
        )

    def _send(self, request: RequestOptions, *, op: Op) -> Any:
        """Send a built request and decode its reply; every HTTP call of the client ends
        here.

        Errors become the RunAgent tree: an error status through `error_from_status` (with
        `op` deciding what a 404 means), no reply through `error_from_connection` (a refused
        local address is `AgentNotRunningError`).
        """
        try:
            return self._transport.execute(request)
        except APIStatusError as exc:
            raise error_from_status(
                exc,
                local=self._settings.local,
                agent_id=self._settings.agent_id,
                tag=self._settings.entrypoint_tag,
                op=op,
            ) from None
        except APIConnectionError as exc:
            raise self._connection_error(exc) from None

    def _http(
        self,
        method: str,
        path: str,
        *,
        op: Op,
        options: Mapping[str, Any],
        cast_to: Any = None,
        params: Mapping[str, Any] | None = None,
        reply: Literal["json", "none"] = "json",
    ) -> Any:
        """`_request` then `_send`."""
        request = self._request(
            method, path, options=options, cast_to=cast_to, params=params, reply=reply
        )
        return self._send(request, op=op)

    def _connection_error(self, exc: APIConnectionError) -> RunAgentError:
        s = self._settings
        return error_from_connection(
            exc,
            agent_id=s.agent_id,
            local=s.local,
            address=s.address,
            registry_entry=s.registry_entry,
        )

    def _run(self, input_args: Any, input_kwargs: Any, options: Mapping[str, Any]) -> Any:
        s = self._settings
        check_guardrail(s.entrypoint_tag, streaming=False)
        payload = self._payload(input_args, input_kwargs)
        call = dict(options)
        if "timeout" not in call:
            # The agent may run `run_timeout` seconds: wait that long for the reply, and more.
            call["timeout"] = (self._timeout[0], self._run_timeout + RUN_READ_MARGIN)
        # Built (so every option checked) before the architecture fetch sends anything.
        request = self._request(
            "POST", f"/agents/{self._agent_segment}/run", body=payload, options=call
        )
        self._checked_architecture(_headers_only(options))
        body = self._send(request, op="run")
        if not isinstance(body, dict):
            raise ResponseValidationError(
                f"the run reply is not a JSON object: {excerpt(json.dumps(body), 200)}",
                path="$",
                problems=["expected an object @ $"],
            )
        if body.get("success") is False:
            raise self._envelope_error(body, "run")
        return run_result(body, tag=s.entrypoint_tag)

    def _envelope_error(self, body: Mapping[str, Any], op: Op) -> RunAgentError:
        """The error of an HTTP 200 reply that says `success: false`."""
        s = self._settings
        return error_from_envelope(
            body.get("error"),
            local=s.local,
            agent_id=s.agent_id,
            status_code=200,
            request_id=_str_or_none(body.get("request_id")),
            op=op,
            tag=s.entrypoint_tag,
            secrets=self._secrets,
        )

    def _payload(self, input_args: Any, input_kwargs: Any) -> bytes:
        """The run body / stream start message, serialised (key order as built)."""
        payload = build_run_payload(
            self._settings.entrypoint_tag,
            input_args,
            input_kwargs,
            timeout_seconds=self._run_timeout,
            user_id=self._user_id,
            persistent_memory=self._persistent_memory,
        )
        try:
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"the agent's arguments must be JSON values (str, int, float, bool, None, "
                f"lists, dicts with string keys): {exc}"
            ) from None
        return text.encode()

    # -- internals: architecture ------------------------------------------------------------

    def _checked_architecture(self, options: Mapping[str, Any]) -> AgentArchitecture:
        """The cached architecture (fetched under the lock on first use), tag checked."""
        shared = self._shared
        architecture = shared.architecture
        if architecture is None:
            with shared.lock:
                architecture = shared.architecture
                if architecture is None:
                    # A failure raises here and leaves the cache empty: the next call retries.
                    architecture = self.get_agent_architecture(**options)
                    shared.tags = frozenset(e.tag for e in architecture.entrypoints)
                    shared.architecture = architecture
        tag = self._settings.entrypoint_tag
        if tag not in shared.tags:
            raise self._unknown_tag(architecture)
        return architecture

    def _unknown_tag(self, architecture: AgentArchitecture) -> EntrypointError:
        tags = [e.tag for e in architecture.entrypoints]
        shown = ", ".join(_cut(t) for t in tags[:_MAX_TAGS_SHOWN])
        if len(tags) > _MAX_TAGS_SHOWN:
            shown += f" and {len(tags) - _MAX_TAGS_SHOWN} more"
        s = self._settings
        return EntrypointError(
            f"Entrypoint `{_cut(s.entrypoint_tag)}` not found in agent {_cut(s.agent_id)}; "
            f"its entrypoints are: {shown or '(none)'}",
            suggestion="Pass one of the agent's entrypoint tags as entrypoint_tag "
            "(tags ending in `_stream` are for run_stream()).",
            details={"entrypoint_tag": s.entrypoint_tag, "available_tags": tags},
        )

    def _architecture_from(self, body: Any) -> AgentArchitecture:
        if not isinstance(body, dict):
            raise ArchitectureMissingError(
                "Architecture response is not a JSON object",
                suggestion="Redeploy the agent or ensure entrypoints are configured.",
            )
        if "success" in body:
            if body.get("success") is False:
                raise self._envelope_error(body, "architecture")
            data = body.get("data")
            request_id = _str_or_none(body.get("request_id"))
        else:
            data = body  # a legacy body: the architecture itself
            request_id = None
        if not isinstance(data, dict):
            raise ArchitectureMissingError(
                "Architecture response missing data",
                suggestion="Redeploy the agent or ensure entrypoints are configured.",
                request_id=request_id,
            )
        if data.get("entrypoints") is None:
            raise ArchitectureMissingError(
                "Architecture response has no entrypoints",
                suggestion="Redeploy the agent or ensure entrypoints are configured.",
                request_id=request_id,
            )
        if "agent_id" not in data and "agentId" in data:
            data = {("agent_id" if k == "agentId" else k): v for k, v in data.items()}
        result: AgentArchitecture = self._structure(data, models.AgentArchitecture)
        return result

    # -- internals: streams -----------------------------------------------------------------

    def _stream(
        self,
        input_args: Any,
        input_kwargs: Any,
        idle_timeout: float | None,
        options: Mapping[str, Any],
    ) -> Stream[Any]:
        from controldeck._core._websocket import websocket_stream

        s = self._settings
        check_guardrail(s.entrypoint_tag, streaming=True)
        call = self._call_options(options)
        connect = check_timeout(call["timeout"])[0]
        if "extra_headers" in call:  # checked now, before anything is sent
            self._transport.build("GET", "/", extra_headers=call["extra_headers"])
        payload = self._payload(input_args, input_kwargs).decode()
        self._checked_architecture(_headers_only(options))
        url = f"{s.ws_root}/agents/{self._agent_segment}/run-stream"
        headers: dict[str, str] = dict(call.get("extra_headers") or {})
        if self._api_key is not None:
            url += f"?token={quote(self._api_key, safe='')}"
            headers["Authorization"] = f"Bearer {self._api_key}"
        inner = websocket_stream(
            url,
            _frame_parser(self._secrets),
            send=payload,
            headers=headers,
            connect_timeout=connect,
            idle_timeout=idle_timeout if idle_timeout is not None else self._stream_idle_timeout,
            secrets=self._secrets,
            map_error=self._map_stream_error,
            user_agent=self._transport.headers["User-Agent"],
        )
        # The parser wraps each value in a 1-tuple, so a chunk that decodes to None is
        # yielded, not taken for "skip this frame".
        return Stream((item[0] for item in inner), close=inner.close)

    def _map_stream_error(self, exc: ControlDeckError) -> ControlDeckError:
        """The core WebSocket errors as RunAgent errors (applied to every error raised)."""
        s = self._settings
        if isinstance(exc, RunAgentError):
            return exc
        if isinstance(exc, APIStatusError):
            if exc.status_code in (403, 404):
                return self._stream_agent_not_found(exc)
            return error_from_status(
                exc, local=s.local, agent_id=s.agent_id, tag=s.entrypoint_tag, op="other"
            )
        if isinstance(exc, APITimeoutError):
            return RunAgentTimeoutError(
                str(exc),
                suggestion="Pass stream_idle_timeout= (or invoke_stream(idle_timeout=...)) to "
                "wait longer between chunks, or timeout= for a slow connect.",
                method=exc.method,
                url=exc.url,
                cause=exc.cause,
            )
        if isinstance(exc, APIConnectionError):
            return self._connection_error(exc)
        if isinstance(exc, StreamError):
            where = (
                "the output of `runagent serve`"
                if s.local
                else "the agent's logs in the RunAgent dashboard"
            )
            return RunAgentStreamError(
                str(exc),
                details=exc.details,
                suggestion=f"The stream ended before stream_completed: check {where}, then "
                "try again.",
            )
        return exc

    def _stream_agent_not_found(self, exc: APIStatusError) -> AgentNotFoundError:
        s = self._settings
        if s.local:
            return AgentNotFoundError(
                f"Agent {_cut(s.agent_id)} is not served at http://{s.host}:{s.port} (the "
                f"WebSocket handshake was refused with HTTP {exc.status_code})",
                code=AGENT_NOT_FOUND_LOCAL,
                suggestion="Check the agent id: a local server serves one agent "
                "(get_agent_info() says which), or start it with `runagent serve`.",
                status_code=exc.status_code,
                request_id=exc.request_id,
                body_excerpt=exc.body_excerpt,
            )
        return AgentNotFoundError(
            f"Agent {_cut(s.agent_id)} was not found in RunAgent Cloud (the WebSocket "
            f"handshake was refused with HTTP {exc.status_code})",
            code=AGENT_NOT_FOUND_REMOTE,
            suggestion="Verify the agent ID and that your API key has access.",
            status_code=exc.status_code,
            request_id=exc.request_id,
            body_excerpt=exc.body_excerpt,
        )


# -- module helpers ---------------------------------------------------------------------------


def _frame_parser(secrets: tuple[str, ...]) -> Callable[[str], tuple[Any] | EndType | None]:
    """The run-stream frame parser: a text frame -> a 1-tuple holding the decoded chunk,
    None to skip the frame, or END.

    `data` frames come first (the common case): decoded `content`, or the whole frame
    when it has none ([RS]). `stream_completed` ends the stream; `stream_started` and the
    other progress statuses are skipped, the failing ones raise, as do `error` frames
    (`RunAgentStreamError`, the socket then closed by the core). A frame type this SDK
    does not know is skipped, as [PY] does.
    """
    from controldeck._core._websocket import END

    def parse(text: str) -> tuple[Any] | EndType | None:
        try:
            frame = json.loads(text)
        except ValueError:
            raise RunAgentStreamError(
                f"the server sent a frame that is not JSON: {excerpt(text, 200, secrets)}",
                details={"frame": excerpt(text, 500, secrets)},
            ) from None
        if type(frame) is not dict:
            raise RunAgentStreamError(
                f"the server sent a frame that is not a JSON object: {excerpt(text, 200, secrets)}",
                details={"frame": excerpt(text, 500, secrets)},
            )
        kind = frame.get("type")
        if kind == "data":
            if "content" in frame:
                return (decode_result(frame["content"]),)
            return (frame,)
        if kind == "status":
            status = frame.get("status")
            if status == END_STATUS:
                return END
            if status in FAILED_STATUSES:
                raise error_from_frame(frame, secrets=secrets)
            return None  # stream_started, stream_progress, stream_update, unknown statuses
        if kind == "error":
            raise error_from_frame(frame, secrets=secrets)
        return None

    return parse


def _headers_only(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options the implicit architecture fetch of a run takes from the call: its
    headers (its timeout is the run's, not the fetch's)."""
    headers = options.get("extra_headers")
    return {"extra_headers": headers} if headers is not None else {}


def _check_user_id(value: Any) -> str | None:
    if value is None:
        return None
    return require_str("user_id", value)


def _check_run_timeout(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(f"run_timeout must be whole seconds >= 1, got {value!r:.40}")
    return value


def _check_idle_timeout(name: str, value: Any) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidArgumentError(f"{name} must be positive, finite seconds, got {value!r:.40}")
    return float(value)


def _cut(text: str) -> str:
    return text if len(text) <= C.MAX_ECHO else text[: C.MAX_ECHO - 1] + "…"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
