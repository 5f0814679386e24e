"""`FakeRune`: a stateful fake of Rune (runed) on 127.0.0.1, on its HTTP wires and gRPC.

One loopback server answers the Connect paths current runed builds serve
(`POST {connect_prefix}/rune.api.<Service>/<Method>`, prefix `/grpc` by default) and the
REST gateway the Rune docs describe (`/v1/namespaces/...`), from the same in-memory state,
in protojson (camelCase keys, every field present, int64 as strings, enums as names):

- auth: opaque bearer tokens; AdminBootstrap (no token) makes user `root` and a token;
  CreateToken, RevokeToken, WhoAmI, TokenList; RBAC by the built-in policies `root`,
  `admin`, `readwrite` and `readonly` answers `unauthenticated` and `permission_denied`;
- namespaces (`default` and `system` exist); services whose `scale` makes instances
  `<service>-0` … `<service>-<scale-1>` that move to RUNNING; asynchronous deletion that
  completes after `deletion_polls` polls of GetDeletionStatus; instance start/stop/restart;
  GetHealth;
- secrets and configmaps (`version` goes up on every changing update); users, policies
  and registries, enough to answer every AdminService RPC;
- Connect watch streams (WatchNamespaces/Services/Instances replay the current objects as
  ADDED, then push changes; WatchScaling reports progress until `complete`);
- SSE logs on the REST gateway (`GET /v1/namespaces/{ns}/logs/{target}`), which end with a
  clean EOF; plain probes `GET /healthz` (`ok`) and `GET /readyz` (`ready`).

Behaviour, messages and error codes follow the server's code (runestack/rune 413bfe0,
pkg/api/service and pkg/api/server), quirks included: creating a service, secret,
configmap, user or policy that exists updates it; a duplicate or reserved namespace, a
missing instance and a missing deletion operation are `internal`, as the store's errors
surface there; most AuthService/AdminService failures are `unknown`. The REST gateway,
which no runed build serves, maps its routes onto the same handlers.

With `grpc=True`, `start()` also starts a grpcio server (`fake.grpc_target`, see
`_rune_grpc`): every unary RPC runs through the same handlers (and is recorded in
`requests` as `POST /rune.api.<Service>/<Method>` with the metadata as headers), the Watch*
streams are served from the same watches, and the two bidi streams the HTTP wires cannot
carry work there: `LogService/StreamLogs` (from the log store, following `add_log_lines`;
`log_update_mode` picks how a parameter update is answered) and `ExecService/StreamExec`
(built-in programs `echo`, `cat`, `true`, `false`, `sh -c "exit N"`, `pwd`, `env`,
`stty size`, `sleep`, `yes-stderr`, plus `add_exec_command`). Every message received on
those two is kept in `grpc_messages`. Without `grpc=True` nothing imports grpcio.

Errors: Connect `{"code": "not_found", "message": ...}`, REST (grpc-gateway) `{"code": 5,
"message": ..., "details": []}`, both with the HTTP status of reference §4
(failed_precondition is 400). Connect requests need `Connect-Protocol-Version: 1` (400
otherwise) and their content type (`application/json`, or `application/connect+json` for a
watch; 415 otherwise). With `ui_gate=True` the `/grpc` paths first pass the dashboard's
gate: plain-text `401 missing bearer token`, `401 invalid bearer token` or
`403 ui:access denied`. Parse errors never echo the offending value (it may be a secret).

Example:
    >>> import requests
    >>> from controldeck.testing.rune import FakeRune
    >>> with FakeRune() as fake:
    ...     headers = {"Authorization": f"Bearer {fake.seed_token}",
    ...                "Connect-Protocol-Version": "1"}
    ...     url = f"{fake.url}/grpc/rune.api.ServiceService/CreateService"
    ...     body = {"service": {"name": "api", "image": "nginx:alpine", "scale": 2}}
    ...     reply = requests.post(url, json=body, headers=headers).json()
    ...     reply["service"]["status"], sorted(i["name"] for i in fake.instances.values())
    ('SERVICE_STATUS_PENDING', ['api-0', 'api-1'])
"""

from __future__ import annotations

import dataclasses
import json
import queue
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from controldeck.testing._rune_access import AccessRPCs, action_of
from controldeck.testing._rune_config import ConfigRPCs
from controldeck.testing._rune_proto import emit, parse
from controldeck.testing._rune_routes import REST, RPCS, Rest, Rpc, query_value, rest_message
from controldeck.testing._rune_state import DEFAULT_NAMESPACE, first
from controldeck.testing._rune_streams import StreamRPCs, end_stream
from controldeck.testing._rune_wire import (
    CODES,
    Call,
    Json,
    RuneError,
    Stream,
    StreamReply,
    Wire,
)
from controldeck.testing._rune_workloads import (
    RESERVED_NAMESPACES,
    WorkloadRPCs,
    check_spec,
    dns1123_problem,
)
from controldeck.testing._server import (
    Handler,
    LoopbackServer,
    RecordedRequest,
    Reply,
    _RequestHandler,
    json_reply,
    text_reply,
)

if TYPE_CHECKING:
    from controldeck.testing._rune_grpc import FakeProcess, GrpcServer

__all__ = ["FakeProcess", "FakeRune"]


def __getattr__(name: str) -> Any:
    """`FakeProcess` is imported on first use (it lives with the grpcio server)."""
    if name == "FakeProcess":
        from controldeck.testing._rune_grpc import FakeProcess

        return FakeProcess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CONNECT_JSON = "application/connect+json"
_GO_TEXT = "text/plain; charset=utf-8"
_POLL = 0.05  # how often a waiting stream writer checks that its client is still there
_BATCH = 256  # frames a stream writer sends in one chunk at most
_TIMEOUT = re.compile(r"[0-9]{1,10}")


def _go_error(status: int, text: str) -> Reply:
    """What Go's `http.Error` writes."""
    return text_reply(
        status, text + "\n", content_type=_GO_TEXT, headers={"X-Content-Type-Options": "nosniff"}
    )


def _read_envelope(body: bytes) -> Any:
    """The one message of a server-stream request: flag 0, 4-byte length, JSON."""
    if len(body) < 5:
        raise RuneError("invalid_argument", "protocol error: incomplete envelope")
    flag, size = body[0], int.from_bytes(body[1:5], "big")
    if flag != 0:
        raise RuneError("internal", f"protocol error: unsupported envelope flag {flag}")
    if len(body) != 5 + size:
        raise RuneError(
            "invalid_argument",
            f"protocol error: promised {size} bytes in enveloped message, got {len(body) - 5}",
        )
    try:
        return json.loads(body[5:])
    except ValueError as exc:
        raise RuneError("invalid_argument", f"unmarshal message: {exc}") from None


def _request_namespace(body: Json) -> str:
    """What an RBAC rule's namespace is matched against: the request's top-level
    `namespace` field (server utils.go `extractNamespace`), `""` when it has none."""
    value = body.get("namespace")
    return value if isinstance(value, str) else ""


class _StreamingHandler(_RequestHandler):
    """The base handler, plus open-ended chunked replies for watches and logs."""

    def _handle(self) -> None:
        reply = self._reply()
        if isinstance(reply, StreamReply) and reply.stream is not None:
            self._stream(reply, reply.stream)
            return
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _crash_reply(self, exc: Exception) -> Reply:
        return json_reply(500, {"code": "internal", "message": f"FakeRune failed: {exc!r}"})

    def _stream(self, reply: Reply, stream: Stream) -> None:
        owner = self.server.owner
        assert isinstance(owner, FakeRune)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type or CONNECT_JSON)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        owner._writer(+1)
        try:
            self._pump(stream)
        except OSError:
            self.close_connection = True  # the client went away mid-write
        finally:
            owner._detach(stream)
            owner._writer(-1)

    def _pump(self, stream: Stream) -> None:
        while True:
            try:
                frame = stream.frames.get(timeout=_POLL)
            except queue.Empty:
                if self._client_gone():
                    self.close_connection = True
                    return
                continue
            batch: list[bytes] = []
            while frame is not None:
                batch.append(frame)
                if len(batch) >= _BATCH:
                    break
                try:
                    frame = stream.frames.get_nowait()
                except queue.Empty:
                    break
            if batch:
                data = b"".join(batch)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            if frame is None:
                self.wfile.write(b"0\r\n\r\n")
                return

    def _client_gone(self) -> bool:
        """The client closed its end (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


@dataclasses.dataclass
class _RpcFailure:
    method: str
    code: str
    message: str
    times: int


@dataclasses.dataclass
class _RpcDelay:
    method: str
    seconds: float
    times: int


class FakeRune(AccessRPCs, ConfigRPCs, StreamRPCs, WorkloadRPCs, LoopbackServer):
    """A stateful Rune server on 127.0.0.1 serving the Connect and REST wires.

    Every RPC but AdminBootstrap needs `Authorization: Bearer <token>`; `seed_token` is
    one for user `root`. State lives in plain dicts tests may read and change:
    `namespaces` (name → `Namespace`), `services` ((namespace, name) → `Service`),
    `instances` (id → `Instance`), `deletions` (id → `DeletionOperation`), `secrets` and
    `configmaps` ((namespace, name) → row), `users` (name → `Subject`), `policies`
    (name → `Policy`), `tokens` (id → `TokenInfo`; secrets are not kept), `registries`
    (name → `RegistryConfig`), `logs` ((namespace, target) → lines). Rows hold the
    messages' camelCase fields with int64 values as `int`.

    Instances start `PENDING` and run after `start_polls` reads of their service (Get or
    List of the service or its instances, GetHealth, each WatchScaling step).

    Args:
        port: Port to listen on; 0 picks a free one.
        connect_prefix: Where the Connect paths are mounted (`""`: at the root).
        seed: Make user `root` and a token for it (`seed_token`), as AdminBootstrap does.
        ui_gate: Put the dashboard's access gate in front of the Connect paths.
        deletion_polls: Polls of GetDeletionStatus that show the operation in progress
            (`deleting-instances`, then `running-finalizers`) before it is `completed`
            (0: DeleteService completes it at once).
        start_polls: Reads before a new instance is RUNNING (0: at once).
        clock: Returns the time in epoch seconds (timestamps, token expiry, `since=`).
        grpc: Also serve gRPC on 127.0.0.1 (`grpc_target`) while running; needs the
            `grpc` extra.

    Attributes:
        seed_token: A `root` token, or None with `seed=False`.
        requests: Every request received, oldest first; `repr` masks tokens. gRPC calls
            are recorded as `POST /rune.api.<Service>/<Method>` (no query, the metadata
            as lower-cased headers plus `content-type: application/grpc`, the body the
            request's compact protojson without default-valued fields; empty for a bidi
            stream).
        grpc_messages: `(rpc, message)` for every message received on StreamLogs and
            StreamExec, like `("ExecService/StreamExec", {"stdin": "aGkK"})` (protojson:
            camelCase, default-valued fields left out, bytes as base64).
        log_update_mode: How a StreamLogs `parameterUpdate` is answered: `"apply"` (the
            reference: the new parameters' lines are sent, following goes on) or
            `"restart"` (one older build: the stream ends with `Internal "log streaming
            error: parameter update requested"`).
        exec_close_grace: Seconds an exec program may run after the client half-closed
            (then SIGHUP; after as long again the session ends with exit 137).

    Example:
        >>> with FakeRune(deletion_polls=1) as fake:
        ...     fake.add_service("api", scale=2)["status"]
        ...     viewer = fake.issue_token("viewer", policies=["readonly"])
        'SERVICE_STATUS_PENDING'
    """

    handler_class = _StreamingHandler

    def __init__(
        self,
        *,
        port: int = 0,
        connect_prefix: str = "/grpc",
        seed: bool = True,
        ui_gate: bool = False,
        deletion_polls: int = 2,
        start_polls: int = 1,
        clock: Callable[[], float] | None = None,
        grpc: bool = False,
    ) -> None:
        super().__init__(port=port)
        if connect_prefix and (not connect_prefix.startswith("/") or connect_prefix.endswith("/")):
            raise ValueError(f"connect_prefix must be '' or like '/grpc', got {connect_prefix!r}")
        self.connect_prefix = connect_prefix
        self.ui_gate = ui_gate
        self.deletion_polls = deletion_polls
        self.start_polls = start_polls
        self._clock = clock or time.time
        self.namespaces: dict[str, Json] = {}
        self.services: dict[tuple[str, str], Json] = {}
        self.instances: dict[str, Json] = {}
        self.deletions: dict[str, Json] = {}
        self.secrets: dict[tuple[str, str], Json] = {}
        self.configmaps: dict[tuple[str, str], Json] = {}
        self.users: dict[str, Json] = {}
        self.policies: dict[str, Json] = {}
        self.tokens: dict[str, Json] = {}
        self.registries: dict[str, Json] = {}
        self.logs: dict[tuple[str, str], list[Json]] = {}
        self._token_digests: dict[str, str] = {}
        self._starting: dict[str, int] = {}
        self._deleting: dict[str, int] = {}
        self._streams: list[Stream] = []
        self._log_seq = 0
        self._fail_watch: tuple[str, str] | None = None
        self._rpc_failures: list[_RpcFailure] = []
        self._closing = False
        self._writers = 0
        self._grpc_enabled = grpc
        self._grpc: GrpcServer | None = None
        self._rpc_delays: list[_RpcDelay] = []
        self._stopped = threading.Event()  # wakes delayed calls when the fake stops
        self._exec_commands: dict[str, Callable[[FakeProcess], int]] = {}
        self.grpc_messages: list[tuple[str, Json]] = []
        self.log_update_mode: Literal["apply", "restart"] = "apply"
        self.exec_close_grace = 0.5
        self._register_routes()
        self._add_builtin_policies()
        for name in RESERVED_NAMESPACES:
            self._add_namespace(name, "", {})
        self.seed_token: str | None = self._bootstrap()[1] if seed else None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeRune:
        """Serve in a daemon thread (see `LoopbackServer.start`), with streaming replies,
        and with `grpc=True` the gRPC server too.

        Returns:
            The fake itself.

        Example:
            >>> fake = FakeRune().start()
            >>> fake.stop()
        """
        super().start()
        self._closing = False
        self._stopped.clear()
        if self._grpc_enabled:
            from controldeck.testing._rune_grpc import GrpcServer

            try:
                self._grpc = GrpcServer(self).start()
            except BaseException:
                super().stop()
                raise
        return self

    def stop(self) -> None:
        """End every open watch with the end-of-stream envelope `{}`, let the writers send
        it, then stop serving (see `LoopbackServer.stop`).

        Example:
            >>> fake.stop()
        """
        with self._lock:
            self._closing = True
        self._stopped.set()
        self._end_watches(None)
        server, self._grpc = self._grpc, None
        if server is not None:
            server.stop()
        deadline = time.monotonic() + 2.0
        while self._writers and time.monotonic() < deadline:
            time.sleep(0.005)
        super().stop()

    def _writer(self, delta: int) -> None:
        with self._lock:
            self._writers += delta

    # -- test helpers ---------------------------------------------------------------------------

    @property
    def connect_url(self) -> str:
        """`url` + the Connect prefix + `/rune.api`, for `f"{fake.connect_url}.<Service>/<Method>"`.

        Example:
            >>> fake.connect_url
            'http://127.0.0.1:50123/grpc/rune.api'
        """
        return f"{self.url}{self.connect_prefix}/rune.api"

    def issue_token(
        self,
        subject: str = "root",
        *,
        policies: Iterable[str] | None = None,
        ttl_seconds: int = 0,
        name: str = "test-token",
    ) -> str:
        """A new token for a user, made first if missing (with `policies`, default
        `readonly`); given `policies` replace an existing user's.

        Returns:
            The token's secret (for `Authorization: Bearer`).

        Raises:
            ValueError: A policy does not exist.

        Example:
            >>> token = fake.issue_token("ci", policies=["readwrite"], ttl_seconds=60)
        """
        with self._lock:
            wanted = list(policies) if policies is not None else None
            for policy in wanted or ():
                if policy not in self.policies:
                    raise ValueError(f"FakeRune has no policy {policy!r}")
            user = self.users.get(subject)
            if user is None:
                user = self._add_user(subject, "", wanted if wanted is not None else ["readonly"])
            elif wanted is not None:
                user["policies"] = wanted
            return self._issue(user, name, ttl_seconds)[1]

    def add_service(
        self,
        name: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        image: str = "nginx:alpine",
        scale: int = 1,
        **fields: Any,
    ) -> Json:
        """Create a service as CreateService with `ensureNamespace` would (instances too).

        Args:
            name: The service name.
            namespace: Its namespace, made if missing.
            image: Its container image.
            scale: How many instances it asks for.
            **fields: Other `Service` fields by their JSON names (`labels`, `env`,
                `dependencies`, `runtime`...).

        Returns:
            The stored `Service` row.

        Raises:
            ValueError: The service is invalid or exists already.

        Example:
            >>> fake.add_service("web", scale=3, labels={"tier": "front"})["scale"]
            3
        """
        with self._lock:
            problem = None if namespace in RESERVED_NAMESPACES else dns1123_problem(namespace)
            if problem:
                raise ValueError(problem)
            if (namespace, name) in self.services:
                raise ValueError(f"service {namespace}/{name} exists already")
            try:
                spec = parse("Service", {**fields, "name": name, "namespace": namespace,
                                         "image": image, "scale": scale})  # fmt: skip
                check_spec(spec)
            except RuneError as exc:
                raise ValueError(exc.message) from None
            self._namespace_or_fail(namespace, True)
            return self._add_service(namespace, name, spec)

    def add_log_lines(
        self,
        target: str,
        lines: Iterable[str | Json],
        *,
        namespace: str = DEFAULT_NAMESPACE,
        stream: str = "stdout",
        level: str = "info",
        event: str | None = None,
    ) -> None:
        """Append lines to a log target (an instance name or id, a service, or any name);
        open gRPC StreamLogs calls that follow the target get them at once.

        Args:
            target: What `GET /v1/namespaces/{ns}/logs/{target}` names.
            lines: Text lines, or dicts of `LogResponse` fields (`content`, `stream`,
                `logLevel`...) plus optionally `event` (the SSE event name) and `time`
                (epoch seconds).
            namespace: The target's namespace.
            stream: `stdout` or `stderr` for text lines.
            level: The `logLevel` of text lines.
            event: The SSE event name (default `log`, `stderr` for stderr lines).

        Example:
            >>> fake.add_log_lines("api-1", ["GET / 200", {"content": "boom", "stream": "stderr"}])
        """
        with self._lock:
            instance = first(
                (i for i in self.instances.values() if i["namespace"] == namespace),
                name=target,
            ) or first(
                (i for i in self.instances.values() if i["namespace"] == namespace), id=target
            )
            key = (namespace, instance["name"] if instance else target)
            rows = self.logs.setdefault(key, [])
            added: list[Json] = []
            for line in lines:
                spec: Json = {"content": line} if isinstance(line, str) else dict(line)
                row = self._log_line(
                    instance,
                    str(spec.pop("content", "")),
                    str(spec.pop("stream", stream)),
                    str(spec.pop("logLevel", level)),
                    float(spec.pop("time", self._now())),
                )
                if instance is None and (namespace, target) in self.services:
                    row["serviceName"] = target
                row.update({k: v for k, v in spec.items() if k not in ("event", "seq")})
                name = spec.get("event", event)
                if name:
                    row["event"] = name
                rows.append(row)
                added.append(row)
            if self._grpc is not None:
                self._grpc.push_logs(namespace, key[1], added)

    @property
    def watchers(self) -> int:
        """How many watch streams are open now.

        Example:
            >>> fake.watchers
            0
        """
        with self._lock:
            return len(self._streams)

    def wait_for_watchers(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Block until at least `count` watch streams are open (or, with `count=0`, until
        none is).

        Raises:
            TimeoutError: The count was not reached in time.

        Example:
            >>> fake.wait_for_watchers(1, timeout=2)
        """
        deadline = time.monotonic() + timeout
        while (self.watchers < count) if count else self.watchers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.watchers} watch streams open, waited for {count}")
            time.sleep(0.005)

    def end_watches(self, error: tuple[str, str] | None = None) -> int:
        """End every open watch stream now (Connect or gRPC): with `{}`, or with an
        end-of-stream error.

        Args:
            error: `(code, message)`, like `("unavailable", "server shutting down")`.

        Returns:
            How many streams were ended.

        Example:
            >>> fake.end_watches(("unavailable", "restarting"))
            1
        """
        if error is not None and error[0] not in CODES:
            raise ValueError(f"unknown gRPC code name {error[0]!r}; one of {sorted(CODES)}")
        return self._end_watches(error)

    @property
    def fail_watch(self) -> tuple[str, str] | None:
        """`(code, message)` every watch ends with (after its replay) while set; setting it
        also ends the open ones with it. None (the default) lets watches run.

        Example:
            >>> fake.fail_watch = ("not_found", "namespace gone")
        """
        return self._fail_watch

    @fail_watch.setter
    def fail_watch(self, error: tuple[str, str] | None) -> None:
        if error is not None and error[0] not in CODES:
            raise ValueError(f"unknown gRPC code name {error[0]!r}; one of {sorted(CODES)}")
        with self._lock:
            self._fail_watch = error
        if error is not None:
            self._end_watches(error)

    def fail_rpc(self, method: str, code: str, message: str = "", *, times: int = 1) -> None:
        """Answer the next call(s) of an RPC with a gRPC error, in the shape of the wire it
        came on (a watch ends with it).

        Args:
            method: `GetService` or `ServiceService/GetService`.
            code: A Connect code name, like `resource_exhausted`.
            message: The error message.
            times: How many calls fail.

        Example:
            >>> fake.fail_rpc("GetSecret", "resource_exhausted", "rate limit exceeded")
        """
        if code not in CODES:
            raise ValueError(f"unknown gRPC code name {code!r}; one of {sorted(CODES)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._rpc_failures.append(_RpcFailure(method, code, message, times))

    def delay_rpc(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Make the next call(s) of an RPC wait first, on any wire (deadline tests); a
        waiting call wakes when the fake stops.

        Args:
            method: `GetService` or `ServiceService/GetService`.
            seconds: How long each call waits before it is handled.
            times: How many calls wait.

        Example:
            >>> fake.delay_rpc("GetService", 0.5)
        """
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._rpc_delays.append(_RpcDelay(method, seconds, times))

    def _delay(self, rpc: Rpc) -> None:
        """Wait as `delay_rpc` asked for this call (not holding the lock)."""
        with self._lock:
            seconds = 0.0
            for delay in self._rpc_delays:
                if delay.method in (rpc.key, rpc.method):
                    delay.times -= 1
                    if delay.times == 0:
                        self._rpc_delays.remove(delay)
                    seconds = delay.seconds
                    break
        if seconds:
            self._stopped.wait(seconds)

    def add_exec_command(self, name: str, handler: Callable[[FakeProcess], int]) -> None:
        """Add (or replace) a program StreamExec runs when the command's first word is
        `name`. The handler runs in its own daemon thread and returns the exit code
        (128 + a signal's number reports that signal); see `FakeProcess`.

        Example:
            >>> def shout(proc):
            ...     proc.write_stdout(proc.read_stdin().upper())
            ...     return 0
            >>> fake.add_exec_command("shout", shout)
        """
        if not name:
            raise ValueError("an exec command needs a name")
        with self._lock:
            self._exec_commands[name] = handler

    @property
    def grpc_target(self) -> str:
        """`127.0.0.1:<port>` of the gRPC server.

        Raises:
            RuntimeError: The fake was made without `grpc=True`, or is not running.

        Example:
            >>> FakeRune(grpc=True).start().grpc_target
            '127.0.0.1:50124'
        """
        if not self._grpc_enabled:
            raise RuntimeError("FakeRune serves gRPC only with FakeRune(grpc=True)")
        server = self._grpc
        if server is None:
            raise RuntimeError("FakeRune is not running; call start() first")
        return server.target

    @property
    def log_followers(self) -> int:
        """How many gRPC StreamLogs calls are following now.

        Example:
            >>> fake.log_followers
            0
        """
        server = self._grpc
        return server.log_followers if server is not None else 0

    # -- routes ---------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        self.add_route(
            "GET", "/healthz", lambda req, p: text_reply(200, "ok", content_type=_GO_TEXT)
        )
        self.add_route(
            "GET", "/readyz", lambda req, p: text_reply(200, "ready", content_type=_GO_TEXT)
        )
        self.add_route("GET", "/v1/namespaces/{namespace}/logs/{target}", self._logs)
        for route in REST:
            self.add_route(route.method, route.template, self._rest_handler(route))
        template = f"{self.connect_prefix}/rune.api.{{service}}/{{method}}"
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            self.add_route(method, template, self._connect)

    def _dispatch(self, request: RecordedRequest) -> Reply:
        prefix = f"{self.connect_prefix}/rune.api."
        if self._rpc_delays and request.path.startswith(prefix):
            rpc = RPCS.get(request.path[len(prefix) :])
            if rpc is not None:
                self._delay(rpc)
        reply = super()._dispatch(request)
        request_id = request.headers.get("x-request-id")
        if request_id:
            reply = dataclasses.replace(
                reply, headers={**reply.headers, "X-Request-Id": request_id}
            )
        return reply

    def not_found(self, request: RecordedRequest) -> Reply:
        """An unknown path: grpc-gateway's JSON 404 under `/v1/`, else Go's `404 page not
        found` (after the dashboard gate, for a path under the Connect prefix).

        Example:
            >>> fake.not_found(request).status
            404
        """
        if request.path.startswith("/v1/"):
            return RuneError("not_found", "Not Found").reply("rest")
        if self.connect_prefix and request.path.startswith(self.connect_prefix + "/"):
            gate = self._gate(request)
            if gate is not None:
                return gate
        return _go_error(404, "404 page not found")

    def method_not_allowed(self, request: RecordedRequest, allowed: list[str]) -> Reply:
        """A known path with another method: grpc-gateway's 405 under `/v1/`, Go's
        otherwise.

        Example:
            >>> fake.method_not_allowed(request, ["GET"]).status
            405
        """
        if request.path.startswith("/v1/"):
            return json_reply(405, {"code": 12, "message": "Method Not Allowed", "details": []})
        reply = _go_error(405, "Method Not Allowed")
        return dataclasses.replace(reply, headers={**reply.headers, "Allow": ", ".join(allowed)})

    # -- the two wires --------------------------------------------------------------------------

    def _gate(self, request: RecordedRequest) -> Reply | None:
        """The dashboard's access gate on the Connect paths (`ui_gate=True`), or None."""
        if not self.ui_gate or request.path.endswith("/rune.api.AdminService/AdminBootstrap"):
            return None
        header = request.headers.get("authorization")
        if not header:
            return _go_error(401, "missing bearer token")
        try:
            subject, _ = self._authenticate(header)
        except RuneError:
            return _go_error(401, "invalid bearer token")
        if not self._allowed(subject, "ui", "access", ""):
            return _go_error(403, "ui:access denied")
        return None

    def _connect(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        gate = self._gate(request)
        if gate is not None:
            return gate
        if request.method != "POST":
            reply = _go_error(405, "Method Not Allowed")
            return dataclasses.replace(reply, headers={**reply.headers, "Allow": "POST"})
        rpc = RPCS.get(f"{params['service']}/{params['method']}")
        if rpc is None:
            return _go_error(404, "404 page not found")
        if rpc.bidi:
            return Reply(505)  # connect-go: bidi streams need HTTP/2
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        wanted = CONNECT_JSON if rpc.stream else "application/json"
        if content_type != wanted:
            return Reply(415, b"", None, {"Accept-Post": wanted})
        try:
            if request.headers.get("connect-protocol-version") != "1":
                raise RuneError(
                    "invalid_argument",
                    'missing required header: set Connect-Protocol-Version to "1"',
                )
            timeout = request.headers.get("connect-timeout-ms")
            if timeout is not None and not _TIMEOUT.fullmatch(timeout):
                raise RuneError("invalid_argument", f"protocol error: invalid timeout {timeout!r}")
        except RuneError as exc:
            return exc.reply("connect")
        if rpc.stream:
            return self._connect_stream(rpc, request)
        try:
            body = self._unary_body(rpc, request.body)
        except RuneError as exc:
            return exc.reply("connect")
        return self._invoke(rpc, request, body, "connect")

    @staticmethod
    def _unary_body(rpc: Rpc, raw: bytes) -> Json:
        where = f"unmarshal into *rune.api.{rpc.request}"
        if not raw:
            raise RuneError(
                "invalid_argument", f"{where}: zero-length payload is not a valid JSON object"
            )
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RuneError("invalid_argument", f"{where}: {exc}") from None
        return parse(rpc.request, data)

    def _connect_stream(self, rpc: Rpc, request: RecordedRequest) -> Reply:
        """A server stream: errors are the end-of-stream envelope of a 200 reply."""
        try:
            body = parse(rpc.request, _read_envelope(request.body))
            self._take_failure(rpc)
            subject, _ = self._authenticate(request.headers.get("authorization"))
            resource, verb = action_of(rpc.service, rpc.method)
            self._authorize(subject, resource, verb, "")  # streams are not namespace-scoped
            stream = self._open_watch(rpc.handler, body)
        except RuneError as exc:
            return Reply(200, end_stream(exc), CONNECT_JSON)
        return StreamReply(200, b"", CONNECT_JSON, {}, stream=stream)

    def _rest_handler(self, route: Rest) -> Handler:
        rpc = RPCS[route.rpc]

        def handler(request: RecordedRequest, params: dict[str, str]) -> Reply:
            try:
                body, extra = rest_message(route, rpc.request, params, request.query, request.body)
            except RuneError as exc:
                return exc.reply("rest")
            return self._invoke(rpc, request, body, "rest", extra)

        return handler

    def _invoke(
        self,
        rpc: Rpc,
        request: RecordedRequest,
        body: Json,
        wire: Wire,
        path: dict[str, str] | None = None,
    ) -> Reply:
        """Authenticate, authorize and run one unary RPC; render its reply or error."""
        try:
            self._take_failure(rpc)
            subject, token_id = None, ""
            if not rpc.public:
                subject, token_id = self._authenticate(request.headers.get("authorization"))
                resource, verb = action_of(rpc.service, rpc.method)
                self._authorize(subject, resource, verb, _request_namespace(body))
            call = Call(request, body, wire, subject, token_id, path or {})
            result = getattr(self, rpc.handler)(call)
        except RuneError as exc:
            return exc.reply(wire)
        return json_reply(200, emit(rpc.response, result))

    def _take_failure(self, rpc: Rpc) -> None:
        for failure in self._rpc_failures:
            if failure.method in (rpc.key, rpc.method):
                failure.times -= 1
                if failure.times == 0:
                    self._rpc_failures.remove(failure)
                raise RuneError(failure.code, failure.message)

    def _logs(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        """`GET /v1/namespaces/{namespace}/logs/{target}`: an SSE reply that ends."""
        try:
            self._take_failure(RPCS["LogService/StreamLogs"])
            subject, _ = self._authenticate(request.headers.get("authorization"))
            self._authorize(subject, "logs", "get", params["namespace"])
            data: Json = {}
            for name, text in request.query.items():
                value = query_value("LogRequest", name, text)
                if value is not None:
                    data[value[0]] = value[1]
            options = parse("LogRequest", data)
            frames = self._log_frames(params["namespace"], params["target"], options)
        except RuneError as exc:
            return exc.reply("rest")
        stream = Stream("logs", options)
        for frame in frames:
            stream.send(frame)
        stream.end()
        headers = {"Cache-Control": "no-cache"}
        return StreamReply(200, b"", "text/event-stream", headers, stream=stream)

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not running"
        return (
            f"<FakeRune {where} namespaces={len(self.namespaces)} services={len(self.services)} "
            f"tokens={len(self.tokens)}>"
        )
