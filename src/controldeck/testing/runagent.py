"""`FakeRunAgent`: one RunAgent agent served on 127.0.0.1, like `runagent serve`.

It answers what the real local server (`runagent==0.1.49`) answers, byte for byte in shape
(only timestamps, request ids, uptime and uuids differ; reference §2-§4 and the captures in
`shared/reference/runagent-fixtures/`):

- `GET /api/v1` (agent info), `GET /api/v1/health`, `GET /api/v1/agents/{id}/architecture`
  (the envelope), `POST /api/v1/agents/{id}/run`, the invocation history
  (`GET .../invocations?limit=&status=`, `GET .../invocations/stats`,
  `GET /api/v1/invocations/{invocation_id}`) and the WebSocket
  `/api/v1/agents/{id}/run-stream`;
- the routes carry this agent's literal id, so any other id or path is 404
  `{"detail":"Not Found"}` (a WebSocket handshake on another id: HTTP 403); a wrong method
  is 405 `{"detail":"Method Not Allowed"}`; a path with a trailing slash redirects (307);
- the run rules: FastAPI's 422 `{"detail": [...]}` for a body `AgentRunRequest` rejects,
  404 envelope `NOT_FOUND` for an unknown tag, 400 `VALIDATION_ERROR` for a `_stream`
  tag, and HTTP 200 `success: false` `INTERNAL_ERROR` when the agent raises (bad
  arguments included); results are double-encoded `{"type", "payload"}` strings;
- every run and stream is recorded as an invocation (`pending`, then `completed` or
  `failed`) with second-resolution UTC timestamps.

Entrypoints are plain Python callables registered by tag; the default set is the
captures' agent (`echo`, `add`, `greet`, `echo_stream`, `boom`, `boom_stream`). Agents run
in the server's threads: a REST run holds the fake's lock (one at a time), a stream runs in
its connection's thread.

Test hooks: `requests` (every HTTP request and WebSocket upgrade), `stream_messages` (the
start frames received), `close_after()` and `stall()` for a stream that dies or goes quiet,
`fail_next()` (from `LoopbackServer`), and `register()`, which writes a registry database
(reference §5) pointing at the fake so discovery works without the real CLI.

Example:
    >>> import requests
    >>> from controldeck.testing.runagent import FakeRunAgent
    >>> with FakeRunAgent() as fake:
    ...     body = {"entrypoint_tag": "add", "input_args": [2, 3], "input_kwargs": {}}
    ...     requests.post(f"{fake.agent_url}/run", json=body).json()["data"]
    '{"type": "integer", "payload": "5"}'
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from controldeck.testing._runagent_agent import DEFAULT_ENTRYPOINTS
from controldeck.testing._runagent_stream import StreamPlan, StreamRoutes
from controldeck.testing._runagent_wire import (
    Json,
    ValidationFailed,
    envelope,
    envelope_error,
    query_int,
    run_request,
    stored_output,
    structured,
)
from controldeck.testing._server import (
    Handler,
    LoopbackServer,
    RecordedRequest,
    Reply,
    _RequestHandler,
    json_reply,
)

__all__ = ["AgentEntrypoint", "FakeRunAgent"]

API = "/api/v1"
DEFAULT_AGENT_ID = "11111111-2222-3333-4444-555555555555"
REGISTRY_FILE = "runagent_local.db"

_NOT_FOUND: Json = {"detail": "Not Found"}
_ENDPOINTS = {
    "GET /": "Agent info",
    "GET /health": "Health check",
    "POST /api/v1/agents/{agent_id}/execute/{entrypoint}": "Execute agent",
    "GET /api/v1/agents/{agent_id}/invocations": "Get invocation history",
    "GET /api/v1/agents/{agent_id}/invocations/stats": "Get invocation stats",
}
# The `agents` table of the real registry (runagent sdk/db.py, as SQLAlchemy creates it).
_AGENTS_TABLE = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id VARCHAR NOT NULL,
    agent_path VARCHAR NOT NULL,
    host VARCHAR NOT NULL,
    port INTEGER NOT NULL,
    framework VARCHAR,
    status VARCHAR,
    remote_status VARCHAR,
    is_local BOOLEAN,
    fingerprint VARCHAR,
    deployed_at DATETIME,
    last_run DATETIME,
    run_count INTEGER,
    success_count INTEGER,
    error_count INTEGER,
    created_at DATETIME,
    updated_at DATETIME,
    agent_name VARCHAR,
    description TEXT,
    template VARCHAR,
    version VARCHAR,
    initialized_at DATETIME,
    config_fingerprint VARCHAR,
    project_id VARCHAR,
    PRIMARY KEY (agent_id)
)
"""


@dataclasses.dataclass(frozen=True)
class AgentEntrypoint:
    """One entrypoint of the fake's agent.

    Attributes:
        tag: The tag clients call; a tag ending in `_stream` is served over the WebSocket.
        func: The Python callable (a function, a generator function for streams, or their
            `async` forms).
        file: The `file` the architecture lists.
        module: The `module` the architecture lists.
    """

    tag: str
    func: Callable[..., Any]
    file: str = "agent.py"
    module: str = ""

    def architecture(self) -> Json:
        """The entry as the architecture lists it: `{file, module, tag, extractor}`."""
        return {"file": self.file, "module": self.module, "tag": self.tag, "extractor": {}}


class _UvicornHandler(_RequestHandler):
    """The base handler, answering as `server: uvicorn` with the server's 500 envelope."""

    def version_string(self) -> str:
        return "uvicorn"

    def _crash_reply(self, exc: Exception) -> Reply:
        owner = self.server.owner
        now = owner._now() if isinstance(owner, FakeRunAgent) else _local_iso(time.time())
        body = envelope_error("INTERNAL_ERROR", f"Agent execution failed: {exc}", timestamp=now)
        return json_reply(500, body)


class FakeRunAgent(StreamRoutes, LoopbackServer):
    """One RunAgent agent on 127.0.0.1, answering like `runagent serve`.

    Args:
        agent_id: The agent's id; only this id's routes exist.
        agent_name: Its name (health, agent info, invocation `client_info`).
        port: Port to listen on; 0 picks a free one.
        entrypoints: Tag → callable; None serves the captures' agent
            (`echo`, `add`, `greet`, `echo_stream`, `boom`, `boom_stream`), `{}` none.
        clock: Returns the time in epoch seconds (timestamps and uptime).

    Attributes:
        agent_id: The agent id.
        agent_name: The agent name.
        framework: `"default"` (plain Python).
        description: The config's description (agent info).
        version: The config's version (agent info).
        entrypoints: Tag → `AgentEntrypoint`, in architecture order.
        invocations: Invocation id → the row the invocation routes answer, oldest first.
        stream_messages: The text of every stream start frame received, oldest first.
        requests: Every request received (WebSocket upgrades too); `repr` masks tokens.
        websockets: Every run-stream socket served (`close_code` is the client's).

    Example:
        >>> with FakeRunAgent(agent_name="Demo") as fake:
        ...     fake.add_entrypoint("shout", lambda text: text.upper())
        ...     body = {"entrypoint_tag": "shout", "input_args": ["hi"], "input_kwargs": {}}
        ...     requests.post(f"{fake.agent_url}/run", json=body).json()["data"]
        '{"type": "string", "payload": "\\\\"HI\\\\""}'
    """

    handler_class = _UvicornHandler

    def __init__(
        self,
        agent_id: str = DEFAULT_AGENT_ID,
        *,
        agent_name: str = "Echo Agent",
        port: int = 0,
        entrypoints: Mapping[str, Callable[..., Any]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(port=port)
        if not agent_id or any(c in agent_id for c in "/{}?#%"):
            raise ValueError(f"agent_id must be a plain path segment, got {agent_id!r}")
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.framework = "default"
        self.description = "Trivial offline agent"
        self.version = "1.0.0"
        self.entrypoints: dict[str, AgentEntrypoint] = {}
        self.invocations: dict[str, Json] = {}
        self.stream_messages: list[str] = []
        self._stream_plans: list[StreamPlan] = []
        self._clock = clock or time.time
        self._started_at = self._clock()
        for tag, func in (DEFAULT_ENTRYPOINTS if entrypoints is None else entrypoints).items():
            self.add_entrypoint(tag, func)
        self._register_routes()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a daemon thread (see `LoopbackServer.start`); health uptime starts now.

        Returns:
            The fake itself.

        Example:
            >>> fake = FakeRunAgent().start()
            >>> fake.stop()
        """
        super().start()
        self._started_at = self._clock()
        return self

    # -- addresses --------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """`127.0.0.1`, the host a client passes (`host=fake.host, port=fake.port`)."""
        return "127.0.0.1"

    @property
    def api_url(self) -> str:
        """The API root, like `http://127.0.0.1:50123/api/v1`.

        Example:
            >>> requests.get(f"{fake.api_url}/health").json()["status"]
            'healthy'
        """
        return f"{self.url}{API}"

    @property
    def agent_url(self) -> str:
        """This agent's REST root, `{api_url}/agents/{agent_id}`.

        Example:
            >>> requests.get(f"{fake.agent_url}/architecture").json()["success"]
            True
        """
        return f"{self.api_url}/agents/{self.agent_id}"

    @property
    def ws_url(self) -> str:
        """The run-stream WebSocket URL, `ws://127.0.0.1:<port>/api/v1/agents/{id}/run-stream`.

        Example:
            >>> fake.ws_url
            'ws://127.0.0.1:50123/api/v1/agents/11111111-2222-3333-4444-555555555555/run-stream'
        """
        return f"ws://{self.host}:{self.port}{API}/agents/{self.agent_id}/run-stream"

    # -- the agent --------------------------------------------------------------------------

    def add_entrypoint(
        self,
        tag: str,
        func: Callable[..., Any],
        *,
        file: str = "agent.py",
        module: str | None = None,
    ) -> AgentEntrypoint:
        """Serve `func` under `tag` (replacing an entrypoint with that tag).

        A tag ending in `_stream` is a streaming entrypoint: `func` is then a generator
        function (or returns an iterable, or is an async generator function), and each
        item is one `data` frame. Any other tag runs over `POST .../run` and `func`'s return
        value (awaited for an `async def`) is the result. Arguments are the request's
        `input_args` and `input_kwargs`; an exception is the server's "agent raised".

        Args:
            tag: The entrypoint tag.
            func: The callable.
            file: The `file` the architecture lists.
            module: The `module` the architecture lists (default: the function's name).

        Returns:
            The entrypoint.

        Raises:
            ValueError: The tag is empty.

        Example:
            >>> fake.add_entrypoint("count_stream", lambda n: range(n))
            AgentEntrypoint(tag='count_stream', ...)
        """
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"tag must be a non-empty string, got {tag!r}")
        name = getattr(func, "__name__", "")
        if module is None:
            module = name if name.isidentifier() else tag
        entry = AgentEntrypoint(tag, func, file, module)
        with self._lock:
            self.entrypoints[tag] = entry
        return entry

    def remove_entrypoint(self, tag: str) -> None:
        """Stop serving `tag`.

        Raises:
            KeyError: No such entrypoint.

        Example:
            >>> fake.remove_entrypoint("boom")
        """
        with self._lock:
            del self.entrypoints[tag]

    def architecture(self) -> Json:
        """The `data` of the architecture reply: `{agent_id, entrypoints: [...]}`.

        Example:
            >>> [e["tag"] for e in fake.architecture()["entrypoints"]][:2]
            ['echo', 'add']
        """
        with self._lock:
            entries = [entry.architecture() for entry in self.entrypoints.values()]
        return {"agent_id": self.agent_id, "entrypoints": entries}

    # -- the registry -----------------------------------------------------------------------

    def register(
        self,
        registry_path_or_cache_dir: str | os.PathLike[str],
        *,
        status: str = "serving",
        host: str | None = None,
        port: int | None = None,
        agent_path: str | None = None,
    ) -> Path:
        """Write this agent into a RunAgent registry database, as `runagent serve` does.

        The file gets the real `agents` table (reference §5; created when missing) and one
        row for this agent (replacing an earlier one): `host`/`port` this fake's address
        unless given, `framework` `default`, the given `status`. A client then finds the
        fake by its id, e.g. with `RUNAGENT_CACHE_DIR` set to the directory.

        Args:
            registry_path_or_cache_dir: The database file, or a cache directory (then the
                file is `<dir>/runagent_local.db`, as with `RUNAGENT_CACHE_DIR`); a path
                that does not exist yet is a file when it ends in `.db`. Missing
                directories are made.
            status: The row's `status` (`serving`; `initialized` as after
                `runagent config --register-agent`; anything).
            host: The row's host (default `127.0.0.1`).
            port: The row's port (default: this fake's port; give one when it is not
                running, e.g. to model a stale row).
            agent_path: The row's `agent_path` (default `/fake-runagent/<agent_id>`, which
                does not exist).

        Returns:
            The database file's path.

        Raises:
            RuntimeError: No `port` was given and the fake is not running.

        Example:
            >>> db = fake.register(tmp_path)  # tmp_path / "runagent_local.db"
            >>> sqlite3.connect(db).execute(
            ...     "SELECT host, port, status FROM agents WHERE agent_id = ?", (fake.agent_id,)
            ... ).fetchone()
            ('127.0.0.1', 50123, 'serving')
        """
        target = Path(registry_path_or_cache_dir)
        if target.is_dir() or (not target.exists() and target.suffix != ".db"):
            target = target / REGISTRY_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        address_port = self.port if port is None else port
        now = _utc_seconds(self._clock()).replace("T", " ")
        row = {
            "agent_id": self.agent_id,
            "agent_path": agent_path or f"/fake-runagent/{self.agent_id}",
            "host": host or self.host,
            "port": address_port,
            "framework": self.framework,
            "status": status,
            "remote_status": "initialized",
            "is_local": 1,
            "deployed_at": now,
            "run_count": 0,
            "success_count": 0,
            "error_count": 0,
            "created_at": now,
            "updated_at": now,
            "agent_name": self.agent_name,
            "description": self.description,
            "template": "default",
            "version": self.version,
            "initialized_at": now,
        }
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with contextlib.closing(sqlite3.connect(target)) as db, db:
            db.execute(_AGENTS_TABLE)
            db.execute(
                f"INSERT OR REPLACE INTO agents ({columns}) VALUES ({marks})", tuple(row.values())
            )
        return target

    # -- routes -----------------------------------------------------------------------------

    def _register_routes(self) -> None:
        agent = f"{API}/agents/{self.agent_id}"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", API, self._info),
            ("GET", f"{API}/health", self._health),
            ("GET", f"{agent}/architecture", self._architecture),
            ("GET", f"{agent}/invocations", self._list_invocations),
            ("GET", f"{agent}/invocations/stats", self._invocation_stats),
            ("GET", f"{API}/invocations/{{invocation_id}}", self._invocation),
            ("POST", f"{agent}/run", self._run),
        ]
        for method, template, handler in routes:
            self.add_route(method, template, handler)
        self.add_websocket_route(f"{agent}/run-stream", self._run_stream)

    def not_found(self, request: RecordedRequest) -> Reply:
        """Starlette's 404 `{"detail":"Not Found"}`; a path that matches once its trailing
        slash is removed redirects there (307), as Starlette's `redirect_slashes` does.

        Example:
            >>> fake.not_found(request).body
            b'{"detail":"Not Found"}'
        """
        path = request.path
        if path.endswith("/") and path != "/":
            bare = path.rstrip("/")
            if any(route.pattern.fullmatch(bare) for route in self._routes):
                query = "&".join(f"{k}={v}" for k, v in request.query.items())
                location = f"{self.url}{bare}" + (f"?{query}" if query else "")
                return Reply(307, b"", None, {"location": location})
        return json_reply(404, _NOT_FOUND)

    def method_not_allowed(self, request: RecordedRequest, allowed: list[str]) -> Reply:
        """Starlette's 405 `{"detail":"Method Not Allowed"}` with `allow` (GET routes also
        answer HEAD).

        Example:
            >>> fake.method_not_allowed(request, ["POST"]).headers
            {'allow': 'POST'}
        """
        methods = [
            m for method in allowed for m in ((method, "HEAD") if method == "GET" else (method,))
        ]
        return json_reply(
            405, {"detail": "Method Not Allowed"}, headers={"allow": ", ".join(methods)}
        )

    # -- handlers ---------------------------------------------------------------------------

    def _info(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        config = {
            "agent_name": self.agent_name,
            "description": self.description,
            "framework": self.framework,
            "template": "default",
            "version": self.version,
            "created_at": "2025-06-25T13:42:03",
            "template_source": {
                "repo_url": "https://github.com/runagent-dev/runagent.git",
                "author": "local",
                "path": "templates/default",
            },
            "agent_architecture": {"entrypoints": self.architecture()["entrypoints"]},
            "agent_id": self.agent_id,
            "auth_settings": {"type": "none"},
            "persistent_folders": [],
        }
        return json_reply(
            200,
            {
                "message": f"RunAgent API - {self.agent_name}({self.agent_id})",
                "version": self.version,
                "host": self.host,
                "port": self.port,
                "config": config,
                "endpoints": dict(_ENDPOINTS),
            },
        )

    def _health(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        now = self._clock()
        return json_reply(
            200,
            {
                "status": "healthy",
                "server": "RunAgent FastAPI Local Server",
                "timestamp": _local_iso(now),
                "uptime_seconds": now - self._started_at,
                "version": "1.0.0",
                "agent_id": self.agent_id,
                "agent_name": self.agent_name,
                "framework": self.framework,
            },
        )

    def _architecture(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        body = envelope(
            success=True,
            data=self.architecture(),
            message="Agent architecture retrieved successfully",
            error=None,
            timestamp=self._now(),
        )
        return json_reply(200, body)

    def _list_invocations(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        try:
            limit = query_int(request.query, "limit", 50)
        except ValidationFailed as exc:
            return json_reply(422, {"detail": exc.detail})
        wanted = request.query.get("status") or None
        rows = [row for row in self._newest_first() if wanted is None or row["status"] == wanted]
        if limit >= 0:  # SQLite: a negative LIMIT is no limit
            rows = rows[:limit]
        body = {"agent_id": self.agent_id, "invocations": rows, "total_count": len(rows)}
        return json_reply(200, body)

    def _invocation_stats(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        return json_reply(200, {"agent_id": self.agent_id, "stats": self.invocation_stats()})

    def _invocation(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        invocation_id = params["invocation_id"]
        row = self.invocations.get(invocation_id)
        if row is None:
            message = f"Invocation {invocation_id} not found"
            return json_reply(404, envelope_error("NOT_FOUND", message, timestamp=self._now()))
        return json_reply(200, row)

    def _run(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        try:
            run = run_request(request.body, request.headers.get("content-type"))
        except ValidationFailed as exc:
            if exc.detail is not None:
                return json_reply(422, {"detail": exc.detail})
            return json_reply(
                400, envelope_error("VALIDATION_ERROR", str(exc.message), timestamp=self._now())
            )
        tag = run.entrypoint_tag
        entry = self.entrypoints.get(tag)
        if entry is None:
            message = f"Entrypoint {tag} not found"
            return json_reply(404, envelope_error("NOT_FOUND", message, timestamp=self._now()))
        if tag.endswith("_stream"):
            message = f"Can't use Streaming Entrypoint `{tag}` through non-streaming endpoint."
            return json_reply(
                400, envelope_error("VALIDATION_ERROR", message, timestamp=self._now())
            )
        client_info = {
            "server_host": self.host,
            "server_port": self.port,
            "agent_name": self.agent_name,
            "agent_framework": self.framework,
        }
        invocation_id = self._start_invocation(
            tag, run.input_args, run.input_kwargs, "local_server", client_info
        )
        started = time.perf_counter()
        try:
            result = _call(entry.func, run.input_args, run.input_kwargs)
            data = structured(result)
        except Exception as exc:
            detail = f"Server error running agent {self.agent_id}: {exc}"
            self._finish_invocation(invocation_id, started, error=detail)
            message = f"Agent execution failed: {detail}"
            return json_reply(200, envelope_error("INTERNAL_ERROR", message, timestamp=self._now()))
        stored, output = stored_output(result)
        if stored:
            self._finish_invocation(invocation_id, started, output=output)
        body = envelope(
            success=True,
            data=data,
            message="Agent execution completed successfully",
            error=None,
            timestamp=self._now(),
        )
        return json_reply(200, body)

    # -- invocations ------------------------------------------------------------------------

    def invocation_stats(self) -> Json:
        """The `stats` the stats route answers (counts, `success_rate` in percent rounded
        to 2 places, `avg_execution_time_ms` of completed runs or null).

        Example:
            >>> fake.invocation_stats()["total_invocations"]
            0
        """
        with self._lock:
            rows = list(self.invocations.values())
        total = len(rows)
        completed = [row for row in rows if row["status"] == "completed"]
        rate: float = round(len(completed) / total * 100, 2) if total else 0
        times = [
            row["execution_time_ms"] for row in completed if row["execution_time_ms"] is not None
        ]
        average = sum(times) / len(times) if times else None
        return {
            "total_invocations": total,
            "completed_invocations": len(completed),
            "failed_invocations": sum(row["status"] == "failed" for row in rows),
            "pending_invocations": sum(row["status"] == "pending" for row in rows),
            "success_rate": rate,
            "avg_execution_time_ms": round(average, 2) if average else None,
            "agent_id": self.agent_id,
        }

    def _newest_first(self) -> list[Json]:
        """By `request_timestamp` (whole seconds) descending; ties keep the order the runs
        came in, as the real server's SQLite query returns them."""
        with self._lock:
            rows = list(self.invocations.values())
        return sorted(rows, key=lambda row: str(row["request_timestamp"]), reverse=True)

    def _start_invocation(
        self,
        tag: str,
        args: Any,
        kwargs: Any,
        sdk_type: str,
        client_info: Json,
    ) -> str:
        invocation_id = str(uuid.uuid4())
        row: Json = {
            "invocation_id": invocation_id,
            "agent_id": self.agent_id,
            "input_data": json.loads(json.dumps({"input_args": args, "input_kwargs": kwargs})),
            "output_data": None,
            "error_detail": None,
            "request_timestamp": _utc_seconds(self._clock()),
            "response_timestamp": None,
            "execution_time_ms": None,
            "status": "pending",
            "entrypoint_tag": tag,
            "sdk_type": sdk_type,
            "client_info": client_info,
        }
        with self._lock:
            self.invocations[invocation_id] = row
        return invocation_id

    def _finish_invocation(
        self,
        invocation_id: str,
        started: float,
        *,
        output: Any = None,
        error: str | None = None,
        elapsed_ms: float | None = None,
    ) -> None:
        with self._lock:
            row = self.invocations.get(invocation_id)
            if row is None:  # a test cleared the history meanwhile
                return
            row["response_timestamp"] = _utc_seconds(self._clock())
            if elapsed_ms is None:
                elapsed_ms = (time.perf_counter() - started) * 1000
            row["execution_time_ms"] = elapsed_ms
            if error:
                row["status"] = "failed"
                row["error_detail"] = error
            else:
                row["status"] = "completed"
                row["output_data"] = output

    def _now(self) -> str:
        return _local_iso(self._clock())

    def __repr__(self) -> str:
        where = f"{self.url}" if self._httpd is not None else "not running"
        return f"FakeRunAgent(agent_id={self.agent_id!r}, agent_name={self.agent_name!r}, {where})"


def _call(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run an entrypoint: a plain call, or to completion for an `async def`."""
    if inspect.iscoroutinefunction(func):
        return asyncio.run(func(*args, **kwargs))
    return func(*args, **kwargs)


def _local_iso(epoch: float) -> str:
    """`datetime.now().isoformat()`: local time, microseconds, no zone."""
    return datetime.fromtimestamp(epoch).isoformat()


def _utc_seconds(epoch: float) -> str:
    """SQLite's `CURRENT_TIMESTAMP` read back by SQLAlchemy: UTC, whole seconds, no zone."""
    return datetime.fromtimestamp(int(epoch), UTC).replace(tzinfo=None).isoformat()
