"""`FakeRune`'s gRPC wire: a grpcio server on 127.0.0.1 built from the generated code.

`FakeRune(grpc=True).start()` starts it next to the HTTP server (`fake.grpc_target`).

- Every unary RPC of the 11 services is one generic handler: the request message becomes
  a synthetic `RecordedRequest` (`POST /rune.api.<Service>/<Method>`, the metadata as
  lower-cased headers plus `content-type: application/grpc`, the body the compact JSON
  `MessageToDict` gives) appended to `fake.requests`, and runs through `FakeRune._invoke`
  under the fake's lock — the same auth, RBAC, `fail_rpc` and handlers as the Connect and
  REST wires. A JSON reply is parsed into the response message; a Connect error body
  `{"code": "not_found", "message"}` aborts the call with that status.
- The Watch* server streams use the fake's watch machinery (`_open_watch`): each Connect
  frame becomes a response message; the end-of-stream error becomes the call's status.
- `LogService/StreamLogs` (bidi) reads the fake's log store: matching lines are sent (tail,
  since, until, filter, timestamps applied), then, with `follow`, every line
  `add_log_lines` adds until the client cancels or the fake stops. A later request with
  `parameterUpdate: true` re-applies the parameters and sends the lines they select
  (`log_update_mode="apply"`), or ends the stream with `Internal "log streaming error:
  parameter update requested"` (`"restart"`, one older upstream build).
- `ExecService/StreamExec` (bidi) runs a `FakeProcess` in a daemon thread: a built-in
  program (see `BUILTINS`) or one added by `fake.add_exec_command`.
- `fake.stop()` ends open log and exec streams with `UNAVAILABLE "server shutting down"`
  (what the clients of a stopping server see) and open watches cleanly (as over
  Connect), then stops the server (calls still open 0.5 s later are cancelled) and
  joins its threads.

Every message received on the two bidi streams is appended to `fake.grpc_messages` as
`("LogService/StreamLogs", MessageToDict(message))`; the opening of every stream is also
recorded in `fake.requests` (a watch with its request as the body, a bidi stream with an
empty body), so tests can read its metadata.

INFERRED (not read in upstream code): `filter` is a substring match on the content; a
target that names no service or instance but has lines stored under it (any name
`add_log_lines` was given) is served too; `showLogs`/`showEvents`/`showStatus` do not
filter the fake's lines (it keeps only log lines); a log stream whose client half-closes
before its first request ends OK with no lines; `instance_id` also accepts an instance's
name; the not-running status is written the way Rune's Go type spells it (`Pending`);
when the client half-closes an exec session and the program has not ended
`exec_close_grace` seconds later it gets SIGHUP, and if it is still running after another
grace the session ends with exit 137 (SIGKILL).
"""

from __future__ import annotations

import base64
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf import json_format, message_factory

from controldeck._generated.rune_grpc import (
    admin_pb2,
    auth_pb2,
    configmap_pb2,
    exec_pb2,
    health_pb2,
    instance_pb2,
    logs_pb2,
    namespace_pb2,
    secret_pb2,
    service_pb2,
)
from controldeck.testing._rune_access import action_of
from controldeck.testing._rune_routes import RPCS, Rpc
from controldeck.testing._rune_state import namespace_of
from controldeck.testing._rune_wire import Json, RuneError, Stream, rfc3339_nano
from controldeck.testing._server import RecordedRequest

if TYPE_CHECKING:
    from controldeck.testing.rune import FakeRune

__all__ = ["BUILTINS", "ExecHandler", "FakeProcess", "GrpcServer"]

ExecHandler = Callable[["FakeProcess"], int]

_EXEC: Any = exec_pb2  # the generated modules are untyped: Any at this one boundary
_LOGS: Any = logs_pb2
_POLL = 0.05  # how often a waiting stream checks its client and the fake
_STOP_GRACE = 0.5  # how long stop() lets open calls finish before cancelling them
_CHUNK = 4096  # the largest stdout/stderr chunk of one ExecResponse
_MODULES = (
    namespace_pb2,
    service_pb2,
    instance_pb2,
    logs_pb2,
    exec_pb2,
    health_pb2,
    secret_pb2,
    configmap_pb2,
    auth_pb2,
    admin_pb2,
)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_GO_LAYOUT = "2006-01-02T15:04:05Z07:00"
# Signals a program knows by name: number (the exit code is 128 + it).
SIGNALS: dict[str, int] = {
    "SIGHUP": 1,
    "SIGINT": 2,
    "SIGQUIT": 3,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGUSR2": 12,
    "SIGPIPE": 13,
    "SIGALRM": 14,
    "SIGTERM": 15,
}
_SIGNAL_NAMES = {number: name for name, number in SIGNALS.items()}
_IGNORED_SIGNALS = frozenset({"SIGWINCH", "SIGCHLD", "SIGCONT"})
_GO_STATUS = {
    "INSTANCE_STATUS_UNSPECIFIED": "",
    "INSTANCE_STATUS_PENDING": "Pending",
    "INSTANCE_STATUS_CREATED": "Created",
    "INSTANCE_STATUS_STARTING": "Starting",
    "INSTANCE_STATUS_RUNNING": "Running",
    "INSTANCE_STATUS_STOPPING": "Stopping",
    "INSTANCE_STATUS_STOPPED": "Stopped",
    "INSTANCE_STATUS_FAILED": "Failed",
    "INSTANCE_STATUS_EXITED": "Exited",
    "INSTANCE_STATUS_DELETED": "Deleted",
}


class _Abort(Exception):
    """End a call with a gRPC status (raised inside the fake, turned into `context.abort`)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def of(cls, error: RuneError) -> _Abort:
        return cls(_status(error.code), error.message)


def _shutdown() -> _Abort:
    """How `fake.stop()` ends an open log or exec stream."""
    return _Abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")


def _status(code: str) -> grpc.StatusCode:
    """A Connect code name (`not_found`) as a gRPC status code."""
    return cast(grpc.StatusCode, getattr(grpc.StatusCode, code.upper(), grpc.StatusCode.UNKNOWN))


def _to_dict(message: Any) -> Json:
    """A received message as the contract records it: camelCase, default-valued fields
    omitted, int64 as strings, bytes as base64."""
    return cast(Json, json_format.MessageToDict(message))


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _signal_exit(code: int) -> tuple[bool, str]:
    """`ExitInfo.signaled` (code > 128, as upstream decides) and the signal's name."""
    if code <= 128:
        return False, ""
    return True, _SIGNAL_NAMES.get(code - 128, "")


def _signal_name(name: str) -> str:
    """`int`, `INT` and `SIGINT` all name SIGINT (INFERRED: the server forwards the name)."""
    upper = name.strip().upper()
    return upper if upper.startswith("SIG") else f"SIG{upper}"


# -- exec -----------------------------------------------------------------------------------------


class FakeProcess:
    """One program run by `ExecService/StreamExec` on the fake, as its handler sees it.

    A handler (`fake.add_exec_command("name", handler)`) gets one and returns the exit
    code; 128 + a signal's number reports the process as killed by that signal.

    Attributes:
        argv: The command (`ExecInitRequest.command`).
        env: The init request's environment.
        working_dir: The init request's working directory ("" if none).
        tty: Whether a terminal was asked for.
        instance: The instance row the session runs on.
        terminal_size: `(width, height)` of the latest size (init or resize), None if none.
        signals: Every signal name the client sent, in order.

    Example:
        >>> def shout(proc: FakeProcess) -> int:
        ...     proc.write_stdout(proc.read_stdin().upper())
        ...     return 0
        >>> fake.add_exec_command("shout", shout)
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        working_dir: str,
        tty: bool,
        terminal_size: tuple[int, int] | None,
        instance: Json,
        output: queue.SimpleQueue[tuple[str, Any]],
    ) -> None:
        self.argv = argv
        self.env = env
        self.working_dir = working_dir
        self.tty = tty
        self.instance = instance
        self.terminal_size = terminal_size
        self.signals: list[str] = []
        self._output = output
        self._cond = threading.Condition()
        self._stdin = bytearray()
        self._stdin_closed = False
        self._pending: list[str] = []
        self._killed = False

    # -- what a program calls -----------------------------------------------------------------

    def write_stdout(self, data: bytes | str) -> None:
        """Send bytes (str is UTF-8 encoded) on stdout, in chunks of at most 4096 bytes.

        Example:
            >>> proc.write_stdout("hello\\n")
        """
        self._write("stdout", data)

    def write_stderr(self, data: bytes | str) -> None:
        """Send bytes (str is UTF-8 encoded) on stderr, in chunks of at most 4096 bytes.

        Example:
            >>> proc.write_stderr(b"oops\\n")
        """
        self._write("stderr", data)

    def _write(self, stream: str, data: bytes | str) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if self._killed:
            return
        for start in range(0, len(raw), _CHUNK):
            self._output.put((stream, raw[start : start + _CHUNK]))

    def read_stdin(self, size: int = -1, *, timeout: float | None = None) -> bytes:
        """Wait for stdin: up to `size` bytes (all there is with -1) once some came, b""
        at end of input (the client half-closed), on a signal or kill, or on timeout.

        Example:
            >>> proc.read_stdin()
            b'typed text\\n'
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stdin and not self._stdin_closed and not self._interrupted():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return b""
                self._cond.wait(_POLL if left is None else min(left, _POLL))
            count = len(self._stdin) if size < 0 else min(size, len(self._stdin))
            data = bytes(self._stdin[:count])
            del self._stdin[:count]
            return data

    @property
    def stdin_closed(self) -> bool:
        """The client half-closed and every byte of stdin was read.

        Example:
            >>> proc.stdin_closed
            False
        """
        with self._cond:
            return self._stdin_closed and not self._stdin

    def wait_signal(self, timeout: float | None = None) -> str | None:
        """The next signal not yet taken (a kill counts as `SIGKILL`), or None on timeout.

        Example:
            >>> proc.wait_signal(0.1)
            'SIGINT'
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._pending and not self._killed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(_POLL if left is None else min(left, _POLL))
            return self._pending.pop(0) if self._pending else "SIGKILL"

    @property
    def killed(self) -> bool:
        """The session is over (client gone, fake stopped, or the close grace ran out):
        the program should return; what it writes is dropped.

        Example:
            >>> proc.killed
            False
        """
        return self._killed

    # -- what the session calls ---------------------------------------------------------------

    def _interrupted(self) -> bool:
        return bool(self._pending) or self._killed

    def feed(self, data: bytes) -> None:
        with self._cond:
            self._stdin.extend(data)
            self._cond.notify_all()

    def close_stdin(self) -> None:
        with self._cond:
            self._stdin_closed = True
            self._cond.notify_all()

    def signal(self, name: str) -> None:
        with self._cond:
            self.signals.append(name)
            if name not in _IGNORED_SIGNALS:
                self._pending.append(name)
            self._cond.notify_all()

    def resize(self, width: int, height: int) -> None:
        with self._cond:
            self.terminal_size = (width, height)

    def kill(self) -> None:
        with self._cond:
            self._killed = True
            self._cond.notify_all()


def _echo(proc: FakeProcess) -> int:
    proc.write_stdout(" ".join(proc.argv[1:]) + "\n")
    return 0


def _cat(proc: FakeProcess) -> int:
    while True:
        data = proc.read_stdin()
        if data:
            proc.write_stdout(data)
            continue
        if proc.stdin_closed:
            return 0
        signal = proc.wait_signal(0)
        if signal is not None:
            return 128 + SIGNALS.get(signal, 9)


def _sh(proc: FakeProcess) -> int:
    match = re.fullmatch(r"exit ([0-9]{1,3})", proc.argv[2]) if len(proc.argv) == 3 else None
    if proc.argv[1:2] != ["-c"] or match is None:
        proc.write_stderr('sh: the fake runs only sh -c "exit N"\n')
        return 2
    return int(match.group(1)) % 256


def _pwd(proc: FakeProcess) -> int:
    proc.write_stdout((proc.working_dir or "/") + "\n")
    return 0


def _env(proc: FakeProcess) -> int:
    proc.write_stdout("".join(f"{k}={v}\n" for k, v in sorted(proc.env.items())))
    return 0


def _stty(proc: FakeProcess) -> int:
    if proc.argv[1:] != ["size"]:
        proc.write_stderr("stty: the fake knows only stty size\n")
        return 1
    width, height = proc.terminal_size or (0, 0)
    proc.write_stdout(f"{height} {width}\n")
    return 0


def _sleep(proc: FakeProcess) -> int:
    try:
        seconds = float(proc.argv[1]) if len(proc.argv) == 2 else -1.0
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        proc.write_stderr("sleep: invalid time interval\n")
        return 1
    signal = proc.wait_signal(seconds)
    return 0 if signal is None else 128 + SIGNALS.get(signal, 9)


def _yes_stderr(proc: FakeProcess) -> int:
    proc.write_stderr(" ".join(proc.argv[1:]) + "\n")
    return 3


BUILTINS: dict[str, ExecHandler] = {
    "echo": _echo,
    "cat": _cat,
    "true": lambda proc: 0,
    "false": lambda proc: 1,
    "sh": _sh,
    "pwd": _pwd,
    "env": _env,
    "stty": _stty,
    "sleep": _sleep,
    "yes-stderr": _yes_stderr,
}


def _not_found(proc: FakeProcess) -> int:
    proc.write_stderr(f'exec: "{proc.argv[0]}": executable file not found in $PATH\n')
    return 127


# -- the server -----------------------------------------------------------------------------------


class _LogFollower:
    """One following log stream: lines pushed by `add_log_lines` and parameter updates
    arrive on its queue."""

    def __init__(self, namespace: str, target: str) -> None:
        self.namespace = namespace
        self.target = target
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()


class GrpcServer:
    """The grpcio server of one `FakeRune` (made by `FakeRune.start()` with `grpc=True`).

    Example:
        >>> server = GrpcServer(fake).start()
        >>> server.target
        '127.0.0.1:50124'
        >>> server.stop()
    """

    def __init__(self, fake: FakeRune) -> None:
        self.fake = fake
        self.stopping = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="FakeRune-grpc")
        self._server = grpc.server(self._executor)
        self._followers: list[_LogFollower] = []
        self._processes: list[FakeProcess] = []
        for module in _MODULES:
            for service in module.DESCRIPTOR.services_by_name.values():
                handlers = {m.name: self._handler(service.name, m) for m in service.methods}
                self._server.add_generic_rpc_handlers(
                    (grpc.method_handlers_generic_handler(service.full_name, handlers),)
                )
        self.port = int(self._server.add_insecure_port("127.0.0.1:0"))
        self.target = f"127.0.0.1:{self.port}"

    def start(self) -> GrpcServer:
        """Serve (grpcio's own threads).

        Returns:
            The server itself.

        Example:
            >>> server = GrpcServer(fake).start()
        """
        self._server.start()
        return self

    def stop(self) -> None:
        """Wake every waiting stream and program, let the calls end (cancel those still
        open after a short grace), and join the threads.

        Example:
            >>> server.stop()
        """
        self.stopping.set()
        with self.fake.lock:
            followers, self._followers = self._followers, []
            processes = list(self._processes)
        for follower in followers:
            follower.events.put(("stop", None))
        for process in processes:
            process.kill()
        # Every open stream ends by itself now (watches cleanly, logs and exec with
        # UNAVAILABLE); a short grace lets those endings reach the clients, and cancels
        # whatever is still open after it (a bidi call whose first request never came).
        self._server.stop(grace=_STOP_GRACE).wait(2.0)
        self._server.wait_for_termination(2.0)
        self._executor.shutdown(wait=True, cancel_futures=True)

    @property
    def log_followers(self) -> int:
        """How many StreamLogs calls are following now.

        Example:
            >>> server.log_followers
            0
        """
        with self.fake.lock:
            return len(self._followers)

    def push_logs(self, namespace: str, key: str, rows: list[Json]) -> None:
        """Hand lines `add_log_lines` stored under `(namespace, key)` to the calls that
        follow them (called under the fake's lock).

        Example:
            >>> server.push_logs("default", "api-0", rows)
        """
        for follower in self._followers:
            if follower.namespace == namespace and key in self._log_keys(follower):
                for row in rows:
                    follower.events.put(("line", row))

    def _log_keys(self, follower: _LogFollower) -> set[str]:
        """The store keys (instance names, or other names) a log target covers now."""
        fake, ns, target = self.fake, follower.namespace, follower.target
        service = fake.services.get((ns, target))
        if service is not None:
            return {target} | {i["name"] for i in fake._service_instances(service)}
        for instance in fake.instances.values():
            if instance["namespace"] == ns and target in (instance["name"], instance["id"]):
                return {instance["name"]}
        return {target}

    # -- handlers -----------------------------------------------------------------------------

    def _handler(self, service: str, method: Any) -> grpc.RpcMethodHandler:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        rpc = RPCS.get(f"{service}/{method.name}")
        if rpc is None:  # the route table and the protos disagree: a bug in the fake
            raise RuntimeError(f"FakeRune has no handler for {service}/{method.name}")
        decode, encode = request_class.FromString, response_class.SerializeToString
        if method.client_streaming:
            name = "_stream_logs" if service == "LogService" else "_stream_exec"
            bidi = getattr(self, name)

            def bidi_call(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
                return self._guard(context, lambda: bidi(rpc, requests, context))

            return grpc.stream_stream_rpc_method_handler(bidi_call, decode, encode)
        if method.server_streaming:

            def watch(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                return self._guard(
                    context, lambda: self._watch(rpc, request, context, response_class)
                )

            return grpc.unary_stream_rpc_method_handler(watch, decode, encode)

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            return self._unary(rpc, request, context, response_class)

        return grpc.unary_unary_rpc_method_handler(unary, decode, encode)

    def _guard(
        self,
        context: grpc.ServicerContext,
        body: Callable[[], Iterator[Any]],
    ) -> Iterator[Any]:
        """Run a streaming handler, turning `_Abort` and `RuneError` into its status."""
        try:
            yield from body()
        except _Abort as exc:
            context.abort(exc.code, exc.message)
        except RuneError as exc:
            context.abort(_status(exc.code), exc.message)

    def _record(self, rpc: Rpc, context: grpc.ServicerContext, body: bytes) -> RecordedRequest:
        headers: dict[str, str] = {}
        for key, value in context.invocation_metadata():
            text = base64.b64encode(value).decode() if isinstance(value, bytes) else str(value)
            headers[str(key).lower()] = text
        headers["content-type"] = "application/grpc"
        request = RecordedRequest("POST", f"/rune.api.{rpc.key}", {}, headers, body)
        with self.fake.lock:
            self.fake.requests.append(request)
        return request

    def _unary(self, rpc: Rpc, message: Any, context: grpc.ServicerContext, response: Any) -> Any:
        fake = self.fake
        fake._delay(rpc)
        raw = _compact(_to_dict(message))
        request = self._record(rpc, context, raw)
        try:
            with fake.lock:
                body = fake._unary_body(rpc, raw)
                reply = fake._invoke(rpc, request, body, "connect")
            data = json.loads(reply.body)
        except RuneError as exc:
            context.abort(_status(exc.code), exc.message)
        except Exception as exc:
            context.abort(grpc.StatusCode.INTERNAL, f"FakeRune failed: {exc!r}")
        if reply.status != 200:
            context.abort(_status(str(data.get("code", "unknown"))), str(data.get("message", "")))
        return json_format.ParseDict(data, response(), ignore_unknown_fields=True)

    def _admit(self, rpc: Rpc, context: grpc.ServicerContext) -> None:
        """What the interceptors do before a stream's handler runs: `fail_rpc`, auth and
        RBAC (streams are not namespace-scoped)."""
        fake = self.fake
        with fake.lock:
            fake._take_failure(rpc)
            metadata = dict(context.invocation_metadata())
            header = metadata.get("authorization")
            subject, _ = fake._authenticate(header if isinstance(header, str) else None)
            resource, verb = action_of(rpc.service, rpc.method)
            fake._authorize(subject, resource, verb, "")

    def _watch(
        self, rpc: Rpc, message: Any, context: grpc.ServicerContext, response: Any
    ) -> Iterator[Any]:
        fake = self.fake
        fake._delay(rpc)
        raw = _compact(_to_dict(message))
        self._record(rpc, context, raw)
        with fake.lock:
            body = fake._unary_body(rpc, raw)
        self._admit(rpc, context)
        with fake.lock:
            stream = fake._open_watch(rpc.handler, body)
        try:
            yield from self._frames(stream, context, response)
        finally:
            fake._detach(stream)

    def _frames(
        self, stream: Stream, context: grpc.ServicerContext, response: Any
    ) -> Iterator[Any]:
        """A watch's Connect frames as messages; its end-of-stream error as `_Abort`."""
        while True:
            try:
                frame = stream.frames.get(timeout=_POLL)
            except queue.Empty:
                if not context.is_active() or self.stopping.is_set():
                    return
                continue
            if frame is None:
                return
            data = json.loads(frame[5:])
            if frame[0] & 0x02:
                error = data.get("error")
                if error:
                    raise _Abort(_status(error["code"]), error.get("message", ""))
                return
            yield json_format.ParseDict(data, response(), ignore_unknown_fields=True)

    # -- StreamLogs ---------------------------------------------------------------------------

    def _received(self, rpc: Rpc, message: Any) -> Json:
        data = _to_dict(message)
        with self.fake.lock:
            self.fake.grpc_messages.append((rpc.key, data))
        return data

    def _first(
        self, rpc: Rpc, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Any | None:
        """Record the call (body empty), admit it, and read its first request (None: the
        client half-closed first)."""
        self.fake._delay(rpc)
        self._record(rpc, context, b"")
        self._admit(rpc, context)
        try:
            first = next(requests)
        except StopIteration:
            return None
        except grpc.RpcError:
            raise _Abort(grpc.StatusCode.CANCELLED, "the client went away") from None
        self._received(rpc, first)
        return first

    def _stream_logs(
        self, rpc: Rpc, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        first = self._first(rpc, requests, context)
        if first is None:
            return
        options = _log_options(first, None)
        fake = self.fake
        follower = _LogFollower(namespace_of(options["namespace"]), options["resourceTarget"])
        with fake.lock:
            lines = self._log_lines(follower, options)
            if options["follow"]:
                self._followers.append(follower)
        if options["follow"]:
            if not context.add_callback(lambda: self._drop_follower(follower)):
                self._drop_follower(follower)
            threading.Thread(
                target=self._read_log_updates,
                args=(rpc, requests, follower),
                name="FakeRune-grpc-logs-reader",
                daemon=True,
            ).start()
        try:
            for line in lines:
                yield _log_response(line, options)
            while options["follow"]:
                try:
                    kind, value = follower.events.get(timeout=_POLL)
                except queue.Empty:
                    if self.stopping.is_set():
                        raise _shutdown() from None
                    if not context.is_active():
                        return
                    continue
                if self.stopping.is_set():
                    raise _shutdown()
                if kind == "stop":
                    return
                if kind == "error":
                    raise value
                if kind == "line":
                    if _selected(value, options):
                        yield _log_response(value, options)
                    continue
                options = value  # a parameter update, "apply" mode
                with fake.lock:
                    follower.namespace = namespace_of(options["namespace"])
                    follower.target = options["resourceTarget"]
                    lines = self._log_lines(follower, options)
                for line in lines:
                    yield _log_response(line, options)
        finally:
            self._drop_follower(follower)

    def _drop_follower(self, follower: _LogFollower) -> None:
        with self.fake.lock:
            if follower in self._followers:
                self._followers.remove(follower)
        follower.events.put(("stop", None))

    def _log_lines(self, follower: _LogFollower, options: Json) -> list[Json]:
        """The stored lines a request selects (called under the lock)."""
        lines = self.fake._log_target(follower.namespace, options["resourceTarget"])
        lines = [line for line in lines if _selected(line, options)]
        if options["tail"] > 0:
            lines = lines[-options["tail"] :]
        return lines

    def _read_log_updates(self, rpc: Rpc, requests: Iterator[Any], follower: _LogFollower) -> None:
        """Read the later requests of a log stream until the client half-closes (logs go
        on) or the call ends."""
        current: Json | None = None
        try:
            for message in requests:
                self._received(rpc, message)
                if not message.parameter_update:
                    continue
                if self.fake.log_update_mode == "restart":
                    follower.events.put(
                        (
                            "error",
                            _Abort(
                                grpc.StatusCode.INTERNAL,
                                "log streaming error: parameter update requested",
                            ),
                        )
                    )
                    return
                try:
                    current = _log_options(
                        message,
                        current
                        or {"resourceTarget": follower.target, "namespace": follower.namespace},
                    )
                except RuneError as exc:
                    follower.events.put(("error", _Abort.of(exc)))
                    return
                follower.events.put(("update", current))
        except Exception:  # grpc.RpcError: the call ended (cancelled, or the server stopped)
            return

    # -- StreamExec ---------------------------------------------------------------------------

    def _stream_exec(
        self, rpc: Rpc, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        first = self._first(rpc, requests, context)
        if first is None or first.WhichOneof("request") != "init":
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "first request must be an init request")
        init = first.init
        target = init.WhichOneof("target")
        if target is None:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid exec request: must specify either service_name or instance_id",
            )
        if not init.command:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT, "invalid exec request: command is required"
            )
        fake = self.fake
        ns = namespace_of(init.namespace)
        with fake.lock:
            instance = self._exec_instance(ns, init.service_name, init.instance_id)
            size = (
                (init.terminal_size.width, init.terminal_size.height)
                if init.HasField("terminal_size")
                else None
            )
            output: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
            proc = FakeProcess(
                list(init.command), dict(init.env), init.working_dir, init.tty, size,
                dict(instance), output,
            )  # fmt: skip
            handler = fake._exec_commands.get(proc.argv[0]) or BUILTINS.get(
                proc.argv[0], _not_found
            )
            if self.stopping.is_set():
                raise _Abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")
            self._processes.append(proc)
        context.add_callback(proc.kill)
        yield _EXEC.ExecResponse(
            status={"code": 0, "message": f"Connected to instance {instance['id']}"}
        )
        threading.Thread(
            target=self._run, args=(proc, handler), name="FakeRune-grpc-exec", daemon=True
        ).start()
        threading.Thread(
            target=self._read_exec, args=(rpc, requests, proc), name="FakeRune-grpc-exec-reader",
            daemon=True,
        ).start()  # fmt: skip
        try:
            yield from self._exec_output(proc, output, context)
        finally:
            proc.kill()
            with fake.lock:
                if proc in self._processes:
                    self._processes.remove(proc)

    def _exec_instance(self, ns: str, service: str, instance_id: str) -> Json:
        fake = self.fake
        if service:
            rows = fake.services.get((ns, service))
            for row in fake._service_instances(rows) if rows else ():
                if row["status"] == "INSTANCE_STATUS_RUNNING":
                    return row
            raise _Abort(
                grpc.StatusCode.NOT_FOUND,
                f"no running instances found for service: {service} in namespace: {ns}",
            )
        for row in fake.instances.values():
            if instance_id in (row["id"], row["name"]) and row["namespace"] == ns:
                if row["status"] != "INSTANCE_STATUS_RUNNING":
                    raise _Abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"instance is not running, status: {_GO_STATUS.get(row['status'], '')}",
                    )
                return row
        raise _Abort(grpc.StatusCode.NOT_FOUND, f"instance not found: {instance_id}")

    @staticmethod
    def _run(proc: FakeProcess, handler: ExecHandler) -> None:
        try:
            code = int(handler(proc))
        except Exception as exc:
            proc.write_stderr(f"FakeRune: exec handler failed: {exc!r}\n")
            code = 1
        proc._output.put(("exit", code))

    def _read_exec(self, rpc: Rpc, requests: Iterator[Any], proc: FakeProcess) -> None:
        try:
            for message in requests:
                self._received(rpc, message)
                kind = message.WhichOneof("request")
                if kind == "stdin":
                    proc.feed(message.stdin)
                elif kind == "resize":
                    proc.resize(message.resize.width, message.resize.height)
                elif kind == "signal":
                    proc.signal(_signal_name(message.signal.name))
        except Exception:
            proc.kill()
            return
        proc.close_stdin()
        proc._output.put(("closed", time.monotonic()))

    def _exec_output(
        self,
        proc: FakeProcess,
        output: queue.SimpleQueue[tuple[str, Any]],
        context: grpc.ServicerContext,
    ) -> Iterator[Any]:
        """Send the program's output until it exits (or the session ends for it)."""
        hangup_at: float | None = None
        kill_at: float | None = None
        while True:
            try:
                kind, value = output.get(timeout=_POLL)
            except queue.Empty:
                if self.stopping.is_set():
                    raise _shutdown() from None
                if not context.is_active() or proc.killed:
                    return
                now = time.monotonic()
                if hangup_at is not None and now >= hangup_at:
                    hangup_at, kill_at = None, now + self.fake.exec_close_grace
                    proc.signal("SIGHUP")
                elif kill_at is not None and now >= kill_at:
                    proc.kill()
                    yield _EXEC.ExecResponse(exit={"code": 137, "signaled": True,
                                                      "signal": "SIGKILL"})  # fmt: skip
                    return
                continue
            if self.stopping.is_set():
                raise _shutdown()
            if kind == "stdout":
                yield _EXEC.ExecResponse(stdout=value)
            elif kind == "stderr":
                yield _EXEC.ExecResponse(stderr=value)
            elif kind == "closed":
                hangup_at = value + self.fake.exec_close_grace
            elif kind == "exit":
                signaled, name = _signal_exit(value)
                yield _EXEC.ExecResponse(exit={"code": value, "signaled": signaled, "signal": name})
                return


# -- log helpers ----------------------------------------------------------------------------------


def _timestamp(value: str, which: str) -> float | None:
    if not value:
        return None
    if _RFC3339.fullmatch(value):
        try:
            return datetime.fromisoformat(
                value.replace("z", "Z").replace("Z", "+00:00")
            ).timestamp()
        except ValueError:
            pass
    raise RuneError(
        "invalid_argument",
        f'invalid log request: invalid {which} timestamp: parsing time "{value}" as '
        f'"{_GO_LAYOUT}": cannot parse "{value}" as "2006"',
    )


def _log_options(message: Any, previous: Json | None) -> Json:
    """A `LogRequest` as the fake applies it (every field, plus parsed `sinceTime` and
    `untilTime`); a parameter update keeps the previous target when it names none."""
    data = cast(
        Json,
        json_format.MessageToDict(message, always_print_fields_with_no_presence=True),
    )
    target = str(data.get("resourceTarget", ""))
    if not target and previous is not None:
        data["resourceTarget"] = previous["resourceTarget"]
        data["namespace"] = data.get("namespace") or previous["namespace"]
    elif not target:
        raise RuneError(
            "invalid_argument",
            "invalid log request: must specify either service name or instance ID or "
            "resource type/name",
        )
    kind, _, name = data["resourceTarget"].partition("/")
    if kind in ("service", "instance") and name:
        data["resourceTarget"] = name  # the kind only picks which lookup runs first
    data["sinceTime"] = _timestamp(str(data.get("since", "")), "since")
    data["untilTime"] = _timestamp(str(data.get("until", "")), "until")
    data["tail"] = int(data.get("tail", 0))
    return data


def _selected(line: Json, options: Json) -> bool:
    since, until = options["sinceTime"], options["untilTime"]
    if since is not None and line["time"] < since:
        return False
    if until is not None and line["time"] > until:
        return False
    return not options["filter"] or options["filter"] in str(line["content"])


def _log_level(content: str) -> str:
    text = content.lower()
    if "error" in text or "exception" in text or "failed" in text:
        return "error"
    if "warn" in text:
        return "warning"
    return "info"


def _log_response(line: Json, options: Json) -> Any:
    return _LOGS.LogResponse(
        service_name=line.get("serviceName", ""),
        instance_id=line.get("instanceId", ""),
        instance_name=line.get("instanceName", ""),
        timestamp=rfc3339_nano(line["time"]) if options["timestamps"] else "",
        content=str(line["content"]),
        stream="stdout",
        log_level=_log_level(str(line["content"])),
    )
