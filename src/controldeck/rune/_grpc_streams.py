"""Logs and exec over runed's gRPC port: the two bidirectional streams (reference §6).

`LogService/StreamLogs` and `ExecService/StreamExec` are bidi: the client keeps writing
(`parameterUpdate` requests, stdin, resizes, signals) while the server streams replies. A
call is fed by a `_Requests` queue that grpc drains on its own (daemon) thread; every way a
call can end (the server's end, an error, `close()`) ends that queue too, so that thread
always finishes.

- `LogStream` is a `Stream[LogResponse]`. Over gRPC it reads the call in the caller's
  thread; `close()` cancels the call and may come from any thread. `update_log_params()`
  sends a `parameterUpdate` request with the whole merged parameter set; an older runed
  answers it by ending the stream with Internal "log streaming error: parameter update
  requested", and the stream then reopens with the merged parameters, so the caller's loop
  just goes on.
- `ExecSession` has one daemon reader thread that turns replies into events (output, the
  exit, an error); iteration and `wait()` take them from a queue, so `wait(timeout=)` and
  `close()` from another thread are bounded. runed ends a session ~0.5 s after the client
  half-closes, so a session half-closes only on `close_stdin()` (and `exec(stdin=...)`,
  after the last chunk).

This module loads neither grpcio nor protobuf: it reaches them through `GrpcWire`, whose
objects are `Any` (the untyped boundary is `_exec_event`, which reads an `ExecResponse`).
"""

from __future__ import annotations

import base64
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, Self

import attrs

from controldeck._core._lazy import LazyModule
from controldeck._core._options import NOT_GIVEN, NotGiven
from controldeck._core._redact import excerpt
from controldeck._core._streams import Stream
from controldeck._core._transport import check_deadline, check_timeout
from controldeck._core._validate import require_bool, require_str
from controldeck.errors import (
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
    StreamError,
    WaitTimeoutError,
)
from controldeck.rune._errors import code_name
from controldeck.rune._grpc import grpc_code, grpc_details
from controldeck.rune._resources import _data, _optional_int32

if TYPE_CHECKING:
    from controldeck._generated import rune as models
    from controldeck._generated.rune import LogResponse, Status
    from controldeck.rune._grpc import GrpcWire
else:
    models = LazyModule("controldeck._generated.rune")

__all__ = [
    "ExecOutput",
    "ExecResult",
    "ExecSession",
    "LogParams",
    "LogStream",
    "exec_init",
    "log_params",
    "open_exec",
    "open_logs",
    "run_exec",
    "stdin_chunks",
]

RPC_LOGS: Final = "LogService/StreamLogs"
RPC_EXEC: Final = "ExecService/StreamExec"
STDIN_CHUNK: Final = 64 * 1024
"""Bytes of stdin per `ExecRequest` (runed's own output chunks are 4 KiB)."""
CLOSE_JOIN: Final = 1.0
"""Seconds `ExecSession.close()` waits for its reader thread (a cancel ends it at once)."""

_MAX_UINT32 = 2**32 - 1
_RESTART = "parameter update requested"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_SIGNAL = re.compile(r"[A-Z][A-Z0-9]*(\+\d+|-\d+)?")


# -- the request side of a call ----------------------------------------------------------


class _End:
    """The marker that ends a request queue (or an event queue)."""


_END: Final = _End()


class _Requests:
    """The request iterator grpc drains on its consumer thread: messages put by any thread,
    in order, until `end()` (a half-close, if the call is still running)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    def put(self, *messages: Any) -> bool:
        """Queue messages; False (nothing queued) once the queue has ended."""
        with self._lock:
            if self._ended:
                return False
            for message in messages:
                self._queue.put(message)
            return True

    def end(self) -> None:
        """End the iteration (idempotent); grpc then half-closes a call that still runs."""
        with self._lock:
            if not self._ended:
                self._ended = True
                self._queue.put(_END)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is _END:
            raise StopIteration
        return item


def _start(
    wire: GrpcWire,
    service: str,
    rpc: str,
    requests: _Requests,
    metadata: Any,
    timeout: float | None,
) -> Any:
    """Start a bidi call fed by `requests`; when it ends, for whatever reason, the request
    queue ends too (so grpc's consumer thread never waits on it forever)."""
    try:
        method = getattr(wire.stub(service), rpc.split("/")[1])
        call = method(requests, metadata=metadata, timeout=timeout)
    except Exception as exc:
        requests.end()
        raise wire.error(exc, rpc, timeout=timeout) from None
    call.add_done_callback(lambda _call: requests.end())
    return call


# -- argument checks ---------------------------------------------------------------------


def _rfc3339(what: str, value: Any) -> str | None:
    """`since`/`until`: an RFC 3339 string or an aware datetime (sent in UTC, `Z`)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgumentError(f"{what} must be a timezone-aware datetime (or a string)")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = require_str(what, value).strip()
    problem = _RFC3339.fullmatch(text) is None
    if not problem:
        try:
            datetime.fromisoformat(text)
        except ValueError:
            problem = True
    if problem:
        raise InvalidArgumentError(
            f"{what} must be an RFC 3339 time like '2025-11-07T10:00:00Z' (runed rejects "
            f"anything else, durations like '10m' too), got {value!r:.60}"
        )
    return text


def _filter(value: Any) -> str | None:
    return None if value is None else require_str("filter", value)


def _uint32(what: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_UINT32:
        raise InvalidArgumentError(f"{what} must be an int between 1 and {_MAX_UINT32}")
    return value


def _extra_keys(options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = set(options) - set(allowed)
    if unknown:
        raise InvalidArgumentError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")


# -- logs --------------------------------------------------------------------------------


@attrs.frozen
class LogParams:
    """What a `LogRequest` asks for (the whole set; `update_log_params` merges into it).

    Attributes:
        target: `resourceTarget` ("api", "service/api", "instance/<name>").
        namespace: The namespace.
        follow, tail, since, until, timestamps, filter: As `RuneClient.logs()` takes them
            (`since`/`until` already RFC 3339 strings).

    Example:
        >>> LogParams("api", "default", tail=5).request(update=False)
        {'resourceTarget': 'api', 'namespace': 'default', 'tail': 5}
    """

    target: str
    namespace: str
    follow: bool = False
    tail: int | None = None
    since: str | None = None
    until: str | None = None
    timestamps: bool = False
    filter: str | None = None

    def request(self, *, update: bool) -> dict[str, Any]:
        """The protojson `LogRequest`: target, namespace and only the parameters set (never
        `show*`: runed then shows logs, events and status)."""
        data: dict[str, Any] = {"resourceTarget": self.target, "namespace": self.namespace}
        if self.follow:
            data["follow"] = True
        if self.tail is not None:
            data["tail"] = self.tail
        if self.since is not None:
            data["since"] = self.since
        if self.until is not None:
            data["until"] = self.until
        if self.timestamps:
            data["timestamps"] = True
        if self.filter is not None:
            data["filter"] = self.filter
        if update:
            data["parameterUpdate"] = True
        return data


def log_params(
    target: Any,
    namespace: str,
    *,
    follow: Any = False,
    tail: Any = None,
    since: Any = None,
    until: Any = None,
    timestamps: Any = False,
    filter: Any = None,
) -> LogParams:
    """Check `logs()`'s arguments (InvalidArgumentError before anything is sent).

    Example:
        >>> log_params("api", "default", since="2025-11-07T10:00:00Z").since
        '2025-11-07T10:00:00Z'
    """
    return LogParams(
        target=require_str("target", target),
        namespace=namespace,
        follow=require_bool("follow", follow),
        tail=_optional_int32("tail", tail),
        since=_rfc3339("since", since),
        until=_rfc3339("until", until),
        timestamps=require_bool("timestamps", timestamps),
        filter=_filter(filter),
    )


class LogStream(Stream["LogResponse"]):
    """A stream of `LogResponse` lines whose parameters can change while it runs (gRPC).

    Iterate it (in a `with` block) for lines. Over gRPC, `close()` cancels the call and may
    be called from any thread; a loop blocked on the next line then ends quietly.

    Example:
        >>> with rune.logs("api", follow=True, tail=10) as lines:
        ...     for line in lines:
        ...         print(line.content)
        ...         if "ready" in line.content:
        ...             lines.update_log_params(filter="error", tail=0)
    """

    __slots__ = ("_update",)

    def __init__(
        self,
        items: Iterable[LogResponse],
        *,
        close: Callable[[], None] | None = None,
        update: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(items, close=close)
        self._update = update

    def update_log_params(
        self,
        *,
        follow: bool | NotGiven = NOT_GIVEN,
        tail: int | NotGiven | None = NOT_GIVEN,
        since: str | datetime | NotGiven | None = NOT_GIVEN,
        until: str | datetime | NotGiven | None = NOT_GIVEN,
        timestamps: bool | NotGiven = NOT_GIVEN,
        filter: str | NotGiven | None = NOT_GIVEN,
    ) -> None:
        """Change the stream's parameters: sends a `LogRequest` with `parameterUpdate: true`
        and the whole merged set (target and namespace too). None clears `tail`, `since`,
        `until` or `filter`; a parameter not passed keeps its value.

        runed then sends what the new parameters select (e.g. the tail of the new filter)
        and goes on. An older runed ends the stream instead ("parameter update
        requested"); the stream then reopens with the merged parameters, so iteration
        simply continues (the reopened stream starts with the new tail).

        Raises:
            InvalidArgumentError: A bad value, no parameter given, or a REST stream (the
                SSE gateway cannot take new parameters); nothing is sent.
            StreamError: The stream is closed or has ended.

        Example:
            >>> lines.update_log_params(filter="timeout", since=None)
        """
        if self._update is None:
            raise InvalidArgumentError(
                "update_log_params() needs a gRPC log stream (RuneClient(..., "
                "transport='grpc')): the REST gateway's SSE stream cannot take new parameters"
            )
        changes: dict[str, Any] = {}
        if not isinstance(follow, NotGiven):
            changes["follow"] = require_bool("follow", follow)
        if not isinstance(tail, NotGiven):
            changes["tail"] = _optional_int32("tail", tail)
        if not isinstance(since, NotGiven):
            changes["since"] = _rfc3339("since", since)
        if not isinstance(until, NotGiven):
            changes["until"] = _rfc3339("until", until)
        if not isinstance(timestamps, NotGiven):
            changes["timestamps"] = require_bool("timestamps", timestamps)
        if not isinstance(filter, NotGiven):
            changes["filter"] = _filter(filter)
        if not changes:
            raise InvalidArgumentError("update_log_params() needs at least one parameter")
        if self.closed:
            raise StreamError("the log stream is closed: open a new one with logs()")
        self._update(changes)


class _LogCall:
    """The gRPC side of a `LogStream`: the current call, its request queue and the
    parameters, behind one lock (updates and the reopen come from different threads)."""

    def __init__(
        self,
        wire: GrpcWire,
        params: LogParams,
        *,
        metadata: Any,
        read_timeout: float | None,
        deadline: float | None,
        structure: Callable[[dict[str, Any]], LogResponse],
    ) -> None:
        self._wire = wire
        self._params = params
        self._metadata = metadata
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._deadline_at = None if deadline is None else time.monotonic() + deadline
        self._structure = structure
        self._lock = threading.Lock()
        self._closed = False
        self._updated = False
        self._seconds: float | None = None
        self._requests = _Requests()
        self._call: Any = None
        with self._lock:
            self._open()

    def _open(self) -> None:
        """Start a call with the current parameters (the lock is held)."""
        seconds = self._read_timeout if not self._params.follow else None
        if self._deadline_at is not None:
            remaining = self._deadline_at - time.monotonic()
            if remaining <= 0:
                raise APITimeoutError(
                    f"gRPC {RPC_LOGS}: the deadline of {self._deadline:g}s ran out "
                    "before the stream could be reopened with the new parameters"
                )
            seconds = remaining if seconds is None else min(seconds, remaining)
        requests = _Requests()
        requests.put(self._wire.message("LogRequest", self._params.request(update=False)))
        self._call = _start(self._wire, "LogService", RPC_LOGS, requests, self._metadata, seconds)
        self._requests, self._seconds, self._updated = requests, seconds, False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> LogResponse:
        while True:
            call = self._call
            try:
                reply = next(call)
            except StopIteration:
                self._requests.end()
                raise
            except Exception as exc:
                with self._lock:
                    if self._closed:
                        raise StopIteration from None
                    if call is not self._call:
                        continue  # another thread reopened it meanwhile
                    if self._updated and _is_restart(exc):
                        self._open()
                        continue
                    seconds = self._seconds
                raise self._wire.error(exc, RPC_LOGS, timeout=seconds) from None
            return self._structure(self._wire.to_json(reply))

    def update(self, changes: dict[str, Any]) -> None:
        with self._lock:
            if self._closed:
                raise StreamError("the log stream is closed: open a new one with logs()")
            merged = attrs.evolve(self._params, **changes)
            message = self._wire.message("LogRequest", merged.request(update=True))
            # A call that ended after an earlier update is being reopened (an older runed):
            # the reopen sends the merged parameters, this change included.
            if not self._requests.put(message) and not self._updated:
                raise StreamError(
                    "the log stream has ended: open a new one with logs() to read more"
                )
            self._params = merged
            self._updated = True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            call, requests = self._call, self._requests
        call.cancel()  # first: grpc must not half-close a call we are leaving
        requests.end()


def _is_restart(exc: BaseException) -> bool:
    """An older runed's answer to `parameterUpdate`: Internal "log streaming error:
    parameter update requested" (the client reopens with the new parameters)."""
    return grpc_code(exc) == "INTERNAL" and _RESTART in grpc_details(exc).lower()


def open_logs(
    wire: GrpcWire,
    params: LogParams,
    structure: Callable[[dict[str, Any]], LogResponse],
    options: Mapping[str, Any],
) -> LogStream:
    """Open `LogService/StreamLogs` with `params` (the first request carries them).

    Not following, the call's deadline is the read timeout (or `deadline=`, if shorter);
    following, only `deadline=` (or the client's) bounds it.

    Example:
        >>> stream = open_logs(wire, log_params("api", "default"), decode, {})
    """
    _extra_keys(options, ("timeout", "deadline", "max_retries", "extra_headers"))
    timeout = check_timeout(options["timeout"]) if "timeout" in options else wire.timeout
    deadline = check_deadline(options["deadline"]) if "deadline" in options else wire.deadline
    metadata = wire.metadata(options.get("extra_headers"))
    call = _LogCall(
        wire,
        params,
        metadata=metadata,
        read_timeout=timeout[1],
        deadline=deadline,
        structure=structure,
    )
    return LogStream(call, update=call.update)


# -- exec --------------------------------------------------------------------------------


def _short(data: bytes) -> str:
    return repr(data) if len(data) <= 60 else f"{data[:40]!r}… ({len(data)} bytes)"


@attrs.frozen
class ExecOutput:
    """One chunk of a command's output (runed sends at most 4 KiB per chunk).

    Attributes:
        stream: `"stdout"` or `"stderr"`.
        data: The bytes, as the command wrote them.

    Example:
        >>> for out in session:
        ...     print(out.stream, out.text(), end="")
    """

    stream: Literal["stdout", "stderr"]
    data: bytes = attrs.field(repr=_short)

    def text(self, encoding: str = "utf-8") -> str:
        """The data decoded (undecodable bytes replaced).

        Example:
            >>> ExecOutput("stdout", b"hi\\n").text()
            'hi\\n'
        """
        return self.data.decode(encoding, errors="replace")


@attrs.frozen
class ExecResult:
    """What a command did: its output and how it ended.

    Attributes:
        stdout: Everything it wrote to stdout (not yet iterated, for `ExecSession.wait()`).
        stderr: Everything it wrote to stderr (likewise).
        exit_code: Its exit code (128 + N when signal N ended it).
        signaled: Whether a signal ended it.
        signal: The signal's name (`SIGINT`), when runed said.

    Example:
        >>> result = rune.exec("api", ["echo", "hi"])
        >>> result.ok, result.text()
        (True, 'hi\\n')
    """

    stdout: bytes = attrs.field(repr=_short)
    stderr: bytes = attrs.field(repr=_short)
    exit_code: int
    signaled: bool = False
    signal: str = ""

    @property
    def ok(self) -> bool:
        """Whether the command exited 0 (and no signal ended it).

        Example:
            >>> rune.exec("api", ["false"]).ok
            False
        """
        return self.exit_code == 0 and not self.signaled

    def text(self, encoding: str = "utf-8") -> str:
        """stdout decoded (undecodable bytes replaced).

        Example:
            >>> rune.exec("api", ["pwd"]).text()
            '/\\n'
        """
        return self.stdout.decode(encoding, errors="replace")


def exec_init(
    target: Any,
    command: Any,
    *,
    namespace: str,
    env: Any = None,
    working_dir: Any = None,
    tty: Any = False,
    terminal_size: Any = None,
) -> dict[str, Any]:
    """Check exec's arguments; return the protojson `ExecInitRequest`.

    `target`: "api" or "service/api" → `serviceName` (runed picks the service's first
    running instance); "instance/<id>" → `instanceId`.

    Example:
        >>> exec_init("instance/api-1", ["ls"], namespace="default")
        {'instanceId': 'api-1', 'namespace': 'default', 'command': ['ls']}
    """
    name = require_str("target", target).strip()
    kind, slash, rest = name.partition("/")
    init: dict[str, Any]
    if not slash:
        init = {"serviceName": name}
    elif kind == "service" and rest.strip() and "/" not in rest:
        init = {"serviceName": rest}
    elif kind == "instance" and rest.strip() and "/" not in rest:
        init = {"instanceId": rest}
    else:
        raise InvalidArgumentError(
            f"target must be a service name ('api', 'service/api') or 'instance/<id>', "
            f"got {name!r:.80}"
        )
    init["namespace"] = namespace
    init["command"] = _command(command)
    if env is not None:
        init["env"] = _env(env)
    if working_dir is not None:
        init["workingDir"] = require_str("working_dir", working_dir)
    if require_bool("tty", tty):
        init["tty"] = True
    if terminal_size is not None:
        init["terminalSize"] = _size(terminal_size)
    return init


def _command(value: Any) -> list[str]:
    if isinstance(value, str):
        raise InvalidArgumentError(
            f"command must be a list of arguments, not one string: runed runs it without a "
            f"shell. Pass ['sh', '-c', {value[:60]!r}] to have a shell parse it"
        )
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"command must be a non-empty list of strings, got {type(value).__name__}"
        )
    items = list(value)
    if not items:
        raise InvalidArgumentError("command must not be empty")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidArgumentError(f"command[{i}] must be a string, got {type(item).__name__}")
    if not items[0].strip():
        raise InvalidArgumentError("command[0] (the program) must not be empty")
    return items


def _env(value: Any) -> dict[str, str]:
    env = _data("env", value)
    for key in env:
        if "=" in key:
            raise InvalidArgumentError(f"env keys must be names without '=', got {key!r:.40}")
    return env


def _size(value: Any) -> dict[str, int]:
    """`terminal_size`: a (width, height) pair (an `os.terminal_size` is one)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidArgumentError("terminal_size must be a (width, height) pair of ints")
    return {
        "width": _uint32("terminal width", value[0]),
        "height": _uint32("terminal height", value[1]),
    }


def stdin_chunks(data: Any) -> list[bytes]:
    """stdin (bytes, or str sent as UTF-8) in chunks of at most 64 KiB.

    Example:
        >>> [len(c) for c in stdin_chunks(b"x" * 70000)]
        [65536, 4464]
    """
    if isinstance(data, str):
        payload = data.encode()
    elif isinstance(data, bytes | bytearray | memoryview):
        payload = bytes(data)
    else:
        raise InvalidArgumentError(f"stdin must be bytes or str, got {type(data).__name__}")
    return [payload[i : i + STDIN_CHUNK] for i in range(0, len(payload), STDIN_CHUNK)]


def _signal_name(value: Any) -> str:
    """`SIGINT`, `INT`, `sigint` or a `signal.Signals` member → `SIGINT`."""
    name = getattr(value, "name", value)  # signal.Signals.SIGTERM
    if not isinstance(name, str):
        raise InvalidArgumentError(f"signal must be a name like 'SIGINT', got {value!r:.40}")
    text = name.strip().upper()
    text = text if text.startswith("SIG") else "SIG" + text
    if _SIGNAL.fullmatch(text[3:]) is None:
        raise InvalidArgumentError(
            f"signal must be a name like 'SIGINT' or 'INT', got {name!r:.40}"
        )
    return text


class _Exit(NamedTuple):
    code: int
    signaled: bool
    signal: str


def _exec_event(reply: Any) -> ExecOutput | Status | _Exit | None:
    """One `ExecResponse` (the untyped protobuf) as what the session keeps."""
    kind = reply.WhichOneof("response")
    if kind == "stdout":
        return ExecOutput("stdout", bytes(reply.stdout))
    if kind == "stderr":
        return ExecOutput("stderr", bytes(reply.stderr))
    if kind == "status":
        status = reply.status
        return models.Status(
            code=int(status.code), message=str(status.message), details=list(status.details)
        )
    if kind == "exit":
        info = reply.exit
        return _Exit(int(info.code), bool(info.signaled), str(info.signal))
    return None  # an empty reply (or a newer variant): nothing to keep


class ExecSession:
    """An interactive command in a Rune instance (`ExecService/StreamExec`); a context manager.

    Iterate it for `ExecOutput` chunks until the command exits; `write()` feeds stdin,
    `resize()` and `send_signal()` reach the process, `close_stdin()` sends EOF (runed then
    ends the session about 0.5 s later, after the last output and the exit), `wait()`
    returns the `ExecResult`. `close()` (also on leaving the `with` block) cancels the
    command if it has not exited; it never blocks for long. Safe to write from one thread
    while another iterates.

    Attributes:
        statuses: The server's status messages so far (`Connected to instance <id>`).

    Example:
        >>> with rune.exec_session("api", ["sh"], tty=True, terminal_size=(80, 24)) as sh:
        ...     sh.write("echo hello; exit 3\\n")
        ...     for out in sh:
        ...         print(out.text(), end="")
        ...     print(sh.wait().exit_code)
        3
    """

    def __init__(
        self,
        wire: GrpcWire,
        init: Mapping[str, Any],
        *,
        metadata: Any,
        timeout: float | None,
        stdin: list[bytes] | None = None,
    ) -> None:
        self._wire = wire
        self._timeout = timeout
        self._lock = threading.Lock()
        self._events: queue.SimpleQueue[ExecOutput | _Exit | ControlDeckError | _End] = (
            queue.SimpleQueue()
        )
        self._started = threading.Event()
        self._received = 0
        self._output_seen = False
        self._closed = False
        self._finished = False
        self._stdin_closed = False
        self._exit: _Exit | None = None
        self._error: ControlDeckError | None = None
        self._result: ExecResult | None = None
        self._unread = (bytearray(), bytearray())
        self.statuses: list[Status] = []
        messages = [wire.message("ExecRequest", {"init": dict(init)})]
        for chunk in stdin or ():
            messages.append(self._stdin_message(chunk))
        self._requests = _Requests()
        self._requests.put(*messages)
        if stdin is not None:
            self._stdin_closed = True
            self._requests.end()  # stdin given whole: EOF after the last chunk
        self._call = _start(wire, "ExecService", RPC_EXEC, self._requests, metadata, timeout)
        self._reader = threading.Thread(
            target=self._read, name="controldeck-rune-exec", daemon=True
        )
        self._reader.start()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._exit is None else "exited"
        return f"<ExecSession {state} exit_code={self.exit_code!r}>"

    # -- the reader thread ---------------------------------------------------------------

    def _read(self) -> None:
        try:
            for reply in self._call:
                event = _exec_event(reply)
                self._received += 1
                self._started.set()
                if isinstance(event, ExecOutput):
                    self._output_seen = True
                    self._events.put(event)
                elif isinstance(event, _Exit):
                    self._exit = event
                    self._events.put(event)
                elif event is not None:
                    self.statuses.append(event)
                    if event.code != 0:
                        code = code_name(event.code) or str(event.code)
                        text = excerpt(event.message, 300) if event.message else "(no message)"
                        self._fail(StreamError(f"exec failed [{code}]: {text}", code=code))
                        self._call.cancel()
                        return
            if self._exit is None and not self._closed:
                self._fail(StreamError(f"gRPC {RPC_EXEC} ended without the command's exit status"))
        except Exception as exc:
            if self._exit is None and not self._closed:
                self._fail(self._map_error(exc))
        finally:
            self._requests.end()
            self._events.put(_END)
            self._started.set()

    def _fail(self, error: ControlDeckError) -> None:
        self._error = error
        self._events.put(error)

    def _map_error(self, exc: BaseException) -> ControlDeckError:
        if grpc_code(exc) == "DEADLINE_EXCEEDED" and self._timeout is not None:
            return APITimeoutError(
                f"exec: the command did not finish within {self._timeout:g} s (gRPC "
                f"{RPC_EXEC} deadline exceeded; it was cancelled). Pass a larger timeout=, "
                "or timeout=None for no limit",
                method="POST",
                url=f"gRPC {RPC_EXEC} on {self._wire.target}",
                cause=exc,
            )
        return self._wire.error(exc, RPC_EXEC, timeout=self._timeout)

    # -- reading ---------------------------------------------------------------------------

    @property
    def exit_code(self) -> int | None:
        """The command's exit code once runed sent it, else None.

        Example:
            >>> session.exit_code is None
            True
        """
        return None if self._exit is None else self._exit.code

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> ExecOutput:
        if self._finished:
            raise StopIteration
        event = self._events.get()
        if isinstance(event, ExecOutput):
            return event
        self._finished = True
        if isinstance(event, ControlDeckError):
            raise event
        raise StopIteration  # the exit (or the end, after close())

    def wait(self, timeout: float | None = None) -> ExecResult:
        """Wait for the command to exit; return its result with the output not iterated.

        Args:
            timeout: Seconds to wait, None for as long as the session's own deadline allows.

        Returns:
            The `ExecResult` (the same one on later calls).

        Raises:
            WaitTimeoutError: The command did not exit within `timeout` (it keeps running;
                output collected so far is kept for the next `wait()`).
            APITimeoutError: The session's `timeout` ran out (the command was cancelled).
            StreamError: runed sent a failed status, or the session ended (or was closed)
                without an exit.
            APIStatusError: The call failed (`NotFoundError`, `AuthenticationError`...).

        Example:
            >>> session.close_stdin()
            >>> session.wait(timeout=10).exit_code
            0
        """
        seconds = check_deadline(timeout, "timeout")
        if self._result is not None:
            return self._result
        until = None if seconds is None else time.monotonic() + seconds
        stdout, stderr = self._unread
        while not self._finished:
            left = None if until is None else until - time.monotonic()
            try:
                event = self._events.get(timeout=left) if left is None or left > 0 else None
            except queue.Empty:
                event = None
            if event is None:
                raise WaitTimeoutError(f"the command did not exit within {seconds:g} s")
            if isinstance(event, ExecOutput):
                (stdout if event.stream == "stdout" else stderr).extend(event.data)
                continue
            self._finished = True
        if self._exit is None:
            if self._error is not None:
                raise self._error
            raise StreamError("the exec session was closed before the command exited")
        exit_ = self._exit
        self._result = ExecResult(bytes(stdout), bytes(stderr), *exit_)
        return self._result

    # -- writing ---------------------------------------------------------------------------

    def _stdin_message(self, chunk: bytes) -> Any:
        return self._wire.message("ExecRequest", {"stdin": base64.b64encode(chunk).decode()})

    def _send(self, messages: list[Any], what: str) -> None:
        with self._lock:
            if self._closed:
                raise StreamError(f"cannot {what}: the exec session is closed")
            if self._exit is not None or self._error is not None:
                raise StreamError(f"cannot {what}: the command has ended")
            if self._stdin_closed or not self._requests.put(*messages):
                raise StreamError(
                    f"cannot {what}: stdin was closed (close_stdin()), so nothing more can "
                    "be sent on this session"
                )

    def write(self, data: bytes | str) -> None:
        """Send bytes to the command's stdin (a str is sent as UTF-8) in ≤ 64 KiB chunks.

        Raises:
            InvalidArgumentError: `data` is not bytes or str.
            StreamError: The session is closed, the command has ended, or stdin was closed.

        Example:
            >>> session.write(b"line\\n")
        """
        messages = [self._stdin_message(chunk) for chunk in stdin_chunks(data)]
        if messages:
            self._send(messages, "write")

    def resize(self, width: int, height: int) -> None:
        """Tell the command's terminal its new size (columns, rows).

        Example:
            >>> session.resize(120, 40)
        """
        size = {"width": _uint32("width", width), "height": _uint32("height", height)}
        self._send([self._wire.message("ExecRequest", {"resize": size})], "resize")

    def send_signal(self, name: Any) -> None:
        """Send a signal to the command: `"SIGINT"`, `"INT"` or a `signal.Signals` member.

        Example:
            >>> session.send_signal("SIGTERM")
        """
        message = self._wire.message("ExecRequest", {"signal": {"name": _signal_name(name)}})
        self._send([message], "send a signal")

    def close_stdin(self) -> None:
        """Send EOF: half-close the call. runed then ends the session ~0.5 s later (after
        flushing the output and sending the exit); nothing more can be written. Safe to
        call twice.

        Example:
            >>> session.write("data"); session.close_stdin(); session.wait().stdout
            b'data'
        """
        with self._lock:
            self._stdin_closed = True
            self._requests.end()

    def close(self) -> None:
        """Cancel the command if it has not exited, and release the call (idempotent).

        Example:
            >>> session.close()
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._call.cancel()
        self._requests.end()
        if self._reader is not threading.current_thread():
            self._reader.join(CLOSE_JOIN)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_exec(
    wire: GrpcWire,
    init: Mapping[str, Any],
    *,
    metadata: Any,
    timeout: float | None,
    first_reply: float | None,
    stdin: list[bytes] | None = None,
) -> ExecSession:
    """Start `ExecService/StreamExec` and wait for runed's first reply (`Connected to
    instance …`), so a missing service, a stopped instance or a refused token raises here.

    Raises:
        APITimeoutError: No reply within `first_reply` seconds.
        APIStatusError: runed refused (`NotFoundError`, `PreconditionFailedError`...).

    Example:
        >>> session = open_exec(wire, init, metadata=wire.metadata(), timeout=None,
        ...                     first_reply=60)
    """
    session = ExecSession(wire, init, metadata=metadata, timeout=timeout, stdin=stdin)
    if not session._started.wait(first_reply):
        session.close()
        raise APITimeoutError(
            f"exec: runed did not answer within {first_reply:g} s "
            f"(gRPC {RPC_EXEC} on {wire.target})"
        )
    if session._error is not None and not session._output_seen:
        session.close()
        raise session._error
    return session


def run_exec(
    wire: GrpcWire,
    init: Mapping[str, Any],
    *,
    metadata: Any,
    timeout: float | None,
    first_reply: float | None,
    stdin: list[bytes] | None,
) -> ExecResult:
    """Run a command to its end: stdin (if any) then EOF, and collect its output.

    Example:
        >>> run_exec(wire, init, metadata=m, timeout=60, first_reply=60, stdin=None).exit_code
        0
    """
    with open_exec(
        wire, init, metadata=metadata, timeout=timeout, first_reply=first_reply, stdin=stdin
    ) as session:
        return session.wait()
