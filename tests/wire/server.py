"""A tiny threaded raw-socket HTTP server on 127.0.0.1 for wire-level tests.

Modelled on requests' own `tests/testserver/server.py`: the test decides the exact bytes
each connection gets back, when they are sent, and how the connection ends.

    def handler(request: Request) -> Script:
        return [response(200, b'{"ok":true}')]

    with Server(handler) as server:
        requests.get(server.url("/x"), timeout=(0.5, 0.3))
    assert server.requests[0].path == "/x"

A handler returns a *script*: bytes, or a sequence of bytes chunks, `Delay(seconds)` pauses,
`Wait(event)` pauses until the test sets a `threading.Event`, and at most one ending action
(`CLOSE`, `RESET`, `HANG`, `AWAIT_CLOSE`) as the last item. Without an
ending action the connection is closed normally after the last chunk. A script that is a
bare action (`HANG`, `RESET`, `CLOSE`) sends nothing first.

Instead of a callable the server also takes a list of scripts: request *i* gets item *i*,
and the last item is repeated for every later request.

Each connection serves exactly one request and is then closed, so scripted replies
should say `Connection: close` (`response()` does); the client then never reuses a
connection the server is about to drop.

On exit every connection thread is woken, joined and its socket closed, so no
`ResourceWarning` leaks into the test run.
"""

from __future__ import annotations

import contextlib
import enum
import json as jsonlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "AWAIT_CLOSE",
    "CLOSE",
    "HANG",
    "LAST_CHUNK",
    "RESET",
    "Action",
    "Delay",
    "Request",
    "Script",
    "Server",
    "Wait",
    "chunk",
    "closed_port",
    "full_backlog_port",
    "response",
    "stream_head",
]

# How long a blocked socket read may wait before the thread looks at the stop flag again.
_POLL = 0.05
# A client that never finishes sending its request is given up on after this long.
_REQUEST_DEADLINE = 5.0


class Action(enum.Enum):
    """How a connection ends (or that it never gets a reply)."""

    CLOSE = "close"  # close normally (FIN), possibly without any reply
    RESET = "reset"  # abort with a TCP RST (SO_LINGER 0)
    HANG = "hang"  # keep the connection open and send nothing more until the server stops
    # Keep the connection open until the client closes it, then set `Server.client_closed`.
    AWAIT_CLOSE = "await_close"


CLOSE = Action.CLOSE
RESET = Action.RESET
HANG = Action.HANG
AWAIT_CLOSE = Action.AWAIT_CLOSE


@dataclass(frozen=True)
class Delay:
    """Pause the reply for this many seconds (woken early when the server stops)."""

    seconds: float


@dataclass(frozen=True)
class Wait:
    """Pause the reply until the test sets `event` (or the server stops)."""

    event: threading.Event


ScriptItem = bytes | Delay | Wait | Action
Script = bytes | Action | Sequence[ScriptItem]
Handler = Callable[["Request"], Script]


@dataclass(frozen=True)
class Request:
    """One request as it arrived on the socket."""

    method: str
    target: str
    """The request target exactly as sent: path plus query."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    """Header (name, value) pairs in the order and spelling the client sent."""
    port: int = 0
    """The port of the server that got it."""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def response(
    status: int,
    body: bytes | str | Any = b"",
    *,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
    content_length: int | None = None,
) -> bytes:
    """A complete HTTP/1.1 reply with `Connection: close`.

    A `str` body is UTF-8 encoded; anything that is not bytes or str is sent as compact
    JSON with `Content-Type: application/json`. `content_length` overrides the true
    length (to promise more than is sent).
    """
    all_headers = {"Connection": "close"}
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = jsonlib.dumps(body, separators=(",", ":")).encode("utf-8")
        all_headers["Content-Type"] = "application/json"
    all_headers["Content-Length"] = str(len(body) if content_length is None else content_length)
    all_headers.update(headers or {})
    phrase = reason if reason is not None else _REASONS.get(status, "Status")
    head = f"HTTP/1.1 {status} {phrase}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in all_headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + body


def stream_head(
    status: int = 200,
    *,
    content_type: str = "text/event-stream",
    chunked: bool = True,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The status line and headers of a streamed reply with `Connection: close`.

    Chunked unless `chunked=False`; then the body is close-delimited (no length at all).
    """
    all_headers = {"Connection": "close", "Content-Type": content_type}
    if chunked:
        all_headers["Transfer-Encoding"] = "chunked"
    all_headers.update(headers or {})
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in all_headers.items()
    )
    return head.encode("latin-1") + b"\r\n"


def chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
"""The chunk that ends a chunked body."""


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Server:
    """A threaded one-request-per-connection HTTP server on 127.0.0.1 and a random port.

    Args:
        handler: A callable from `Request` to a script, or a list of scripts (request i
            gets item i; the last one repeats).

    Attributes:
        requests: Every request received, in arrival order.
        errors: Exceptions raised by the handler or while reading a request; re-raised
            on exit so a broken test server cannot pass silently.
    """

    def __init__(self, handler: Handler | Sequence[Script]) -> None:
        if callable(handler):
            self._handler: Handler = handler
        else:
            scripts = list(handler)
            if not scripts:
                raise ValueError("a scripted server needs at least one reply")
            self._handler = self._scripted(scripts)
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.client_closed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"wire-server-{self.port}", daemon=True
        )

    # -- context manager ---------------------------------------------------------

    def __enter__(self) -> Self:
        self._listener.listen(16)
        self._listener.settimeout(_POLL)
        self._accept_thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.errors:
            raise self.errors[0]

    def stop(self) -> None:
        """Wake every waiting connection, join all threads and close every socket."""
        self._stop.set()
        if self._accept_thread.is_alive():
            self._accept_thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    # -- addresses ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    @property
    def paths(self) -> list[str]:
        """The target (path and query) of each request, in arrival order."""
        return [r.target for r in self.requests]

    # -- internals ----------------------------------------------------------------

    def _scripted(self, scripts: list[Script]) -> Handler:
        counter = iter(range(1 << 30))

        def handler(_: Request) -> Script:
            return scripts[min(next(counter), len(scripts) - 1)]

        return handler

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # listener closed
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL)
        try:
            request = self._read_request(conn)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            try:
                script = self._handler(request)
            except Exception as exc:
                self.errors.append(exc)
                script = response(500, b"handler failed")
            self._play(conn, script)
        except OSError:
            pass  # the client went away first (it timed out, or was reset); nothing to do
        except Exception as exc:  # a bug in this server: surface it on exit
            self.errors.append(exc)

    def _read_request(self, conn: socket.socket) -> Request | None:
        data = b""
        deadline = _REQUEST_DEADLINE
        while b"\r\n\r\n" not in data:
            chunk = self._recv(conn)
            if chunk is None:
                deadline -= _POLL
                if deadline <= 0 or self._stop.is_set():
                    return None
                continue
            if not chunk:
                return None  # closed before a full request (e.g. a filler connection)
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        raw_headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            raw_headers.append((name.strip(), value.strip()))
        headers = {k.lower(): v for k, v in raw_headers}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise ValueError("chunked request bodies are not supported by the test server")
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = self._recv(conn)
            if chunk is None:
                if self._stop.is_set():
                    return None
                continue
            if not chunk:
                return None
            body += chunk
        return Request(method, target, headers, body, raw_headers, self.port)

    def _recv(self, conn: socket.socket) -> bytes | None:
        """Some bytes, b"" at EOF, or None when nothing came within the poll interval."""
        try:
            return conn.recv(65536)
        except TimeoutError:
            return None

    def _play(self, conn: socket.socket, script: Script) -> None:
        items: Sequence[ScriptItem] = (
            [script] if isinstance(script, bytes | Action) else list(script)
        )
        for i, item in enumerate(items):
            if isinstance(item, Action) and i != len(items) - 1:
                raise ValueError(f"{item} must be the last item of a script")
            if isinstance(item, bytes):
                conn.sendall(item)
            elif isinstance(item, Delay):
                self._stop.wait(item.seconds)
            elif isinstance(item, Wait):
                while not item.event.wait(_POLL) and not self._stop.is_set():
                    pass
            elif item is AWAIT_CLOSE:
                self._await_client_close(conn)
                self._close(conn)
                return
            elif item is RESET:
                # Linger 0: close() sends RST instead of FIN and drops unsent data.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._close(conn)
                return
            elif item is HANG:
                self._stop.wait()
                return
        # CLOSE, or the script simply ended: a normal close.
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        self._close(conn)

    def _await_client_close(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # closed with unread data in its buffer: a reset, still a close
                data = b""
            if not data:
                self.client_closed.set()
                return

    def _close(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
        conn.close()


def closed_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.contextmanager
def full_backlog_port() -> Iterator[int]:
    """A loopback port whose listen queue is full, so a new connect() hangs.

    Linux drops a SYN when the accept queue of a listener is full and the client keeps
    retransmitting it, which is a real connect timeout on 127.0.0.1 (no routing tricks).
    The listener never accepts; a few non-blocking "filler" connects occupy the queue.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
