"""A small threaded HTTP/1.1 JSON server on 127.0.0.1: the base every platform fake builds on.

A fake subclasses `LoopbackServer`, registers its routes with `add_route` and keeps its own
state. The base owns the socket and the threads, records every request, serves injected
failures (`fail_next`) and answers unknown routes. Handlers run one at a time under a lock,
so fakes need no locking of their own.

WebSocket routes (`add_websocket_route`) are the exception: their handlers run in the
connection's own thread, outside the lock, for as long as the socket is open (see
`testing/_websocket.py` for the protocol side); they take the lock themselves
(`server.lock`) around shared state.
"""

from __future__ import annotations

import contextlib
import http
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from controldeck._core._redact import MASK, redact_data, redact_headers, redact_text
from controldeck.testing._websocket import ServerWebSocket, handshake_problem

__all__ = [
    "Handler",
    "LoopbackServer",
    "RecordedRequest",
    "Reply",
    "WebSocketHandler",
    "json_reply",
    "text_reply",
]

_POLL_INTERVAL = 0.02  # how long stop() may wait for serve_forever to notice
_CONNECTION_TIMEOUT = 60.0  # an idle keep-alive connection is dropped after this
_JOIN_TIMEOUT = 5.0  # stop() never waits longer than this for one connection's thread


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it.

    The attributes hold exactly what was sent; `repr()` masks credentials (`Authorization`
    and other secret headers, `token`-like query parameters and JSON body keys), so a
    failing assertion or a log of `fake.requests` does not print them.

    Attributes:
        method: Upper-case HTTP method.
        path: The path exactly as sent (still percent-encoded), without the query.
        query: Query parameters, decoded; the last value wins for repeated names.
        headers: Request headers with lower-case names.
        body: The raw body (empty when none was sent).

    Example:
        >>> req = fake.requests[-1]
        >>> (req.method, req.path, req.headers["authorization"])
        ('GET', '/api/gateways', 'Bearer 1|fake-runbeam-user-token')
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON, or None when there is no body.

        Raises:
            ValueError: The body is not valid JSON.

        Example:
            >>> fake.requests[-1].json()
            {'change_ids': ['01JFAKE0000000000000000001']}
        """
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        body = self.body
        text = body.decode("utf-8", errors="replace")
        masked = redact_text(text)
        if MASK in masked and MASK not in text:
            body = masked.encode("utf-8")
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"query={redact_data(self.query)!r}, headers={redact_headers(self.headers)!r}, "
            f"body={body!r})"
        )


@dataclass(frozen=True)
class Reply:
    """What a handler answers: status, body bytes, content type and extra headers.

    Example:
        >>> Reply(204)
        Reply(status=204, body=b'', content_type=None, headers={})
    """

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any, *, headers: Mapping[str, str] | None = None) -> Reply:
    """A compact JSON reply.

    Example:
        >>> json_reply(404, {"message": "Not Found"}).body
        b'{"message":"Not Found"}'
    """
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Reply(status, body, "application/json", dict(headers or {}))


def text_reply(
    status: int,
    text: str,
    *,
    content_type: str = "text/plain; charset=UTF-8",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A plain-text (or any other textual) reply.

    Example:
        >>> text_reply(404, "Change not found").content_type
        'text/plain; charset=UTF-8'
    """
    return Reply(status, text.encode("utf-8"), content_type, dict(headers or {}))


Handler = Callable[[RecordedRequest, dict[str, str]], Reply]
"""A route handler: gets the request and the decoded path parameters, returns a `Reply`."""

WebSocketHandler = Callable[[ServerWebSocket, RecordedRequest, dict[str, str]], Reply | None]
"""A WebSocket route handler: gets the (not yet accepted) socket, the upgrade request and
the decoded path parameters. Returning a `Reply` before accepting rejects the handshake
with it; returning None ends the session (see `LoopbackServer.add_websocket_route`)."""


@dataclass
class _Failure:
    reply: Reply
    times: int
    method: str | None
    path: re.Pattern[str] | None

    def matches(self, request: RecordedRequest) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        return self.path is None or self.path.fullmatch(request.path) is not None


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


@dataclass(frozen=True)
class _WebSocketRoute:
    pattern: re.Pattern[str]
    handler: WebSocketHandler


def _compile_template(template: str) -> re.Pattern[str]:
    """`/api/gateways/{id}` → a pattern whose named groups each match one path segment."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with a routing table, for building fakes.

    Subclasses register routes in `__init__` with `add_route` and may override
    `not_found`. Use it as a context manager, or call `start()` and `stop()`.

    Args:
        port: TCP port to listen on; 0 picks a free one.

    Attributes:
        requests: Every request received, oldest first (failures, 404s and WebSocket
            upgrade requests included).
        websockets: Every WebSocket handed to a handler, oldest first.
        lock: The lock HTTP handlers run under; WebSocket handlers take it around shared
            state.

    Example:
        >>> class Echo(LoopbackServer):
        ...     def __init__(self) -> None:
        ...         super().__init__()
        ...         self.add_route("GET", "/echo/{word}", lambda req, p: json_reply(200, p))
        >>> with Echo() as server:
        ...     requests.get(server.url + "/echo/hi").json()
        {'word': 'hi'}
    """

    handler_class: ClassVar[type[BaseHTTPRequestHandler] | None] = None
    """The request handler (None: the plain one); a fake that streams replies or mimics
    a server's headers names its subclass of it here."""

    def __init__(self, *, port: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self._port = port
        self._routes: list[_Route] = []
        self._websocket_routes: list[_WebSocketRoute] = []
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self.websockets: list[ServerWebSocket] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread.

        Returns:
            The server itself, so `server = Fake().start()` works.

        Raises:
            RuntimeError: The server is already running.

        Example:
            >>> server = Echo().start()
            >>> server.url
            'http://127.0.0.1:50123'
            >>> server.stop()
        """
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.url}")
        httpd = _HTTPServer(("127.0.0.1", self._port), self.handler_class or _RequestHandler)
        httpd.owner = self
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"{type(self).__name__}-{httpd.server_address[1]}",
            daemon=True,
        )
        self._httpd, self._thread = httpd, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections (WebSockets too, without a close frame: a
        handler blocked in `recv()` gets None), join the threads and close the socket.

        Calling it twice, or on a server that never started, does nothing.

        Example:
            >>> server.stop()
        """
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on.

        Raises:
            RuntimeError: The server is not running.
        """
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def lock(self) -> threading.RLock:
        """The dispatch lock (reentrant): HTTP handlers run holding it."""
        return self._lock

    @property
    def open_connections(self) -> int:
        """TCP connections being served now (keep-alive HTTP and WebSocket alike).

        Example:
            >>> server.open_connections
            0
        """
        httpd = self._httpd
        return 0 if httpd is None else httpd.connection_count()

    def wait_idle(self, timeout: float = 1.0) -> bool:
        """Wait until no connection is open (every client closed, every handler returned).

        Returns:
            True when idle; False when connections were still open after `timeout`.

        Example:
            >>> stream.close()
            >>> assert server.wait_idle()  # no socket left behind
        """
        httpd = self._httpd
        return True if httpd is None else httpd.wait_idle(timeout)

    @property
    def url(self) -> str:
        """The origin, like `http://127.0.0.1:50123` (no trailing slash).

        Raises:
            RuntimeError: The server is not running.
        """
        return f"http://127.0.0.1:{self.port}"

    # -- configuration ----------------------------------------------------------------

    def add_route(self, method: str, template: str, handler: Handler) -> None:
        """Serve `method template` with `handler`.

        Args:
            method: HTTP method, like `"GET"`.
            template: Path with `{name}` placeholders, each matching one segment, like
                `/api/gateways/{id}`. Parameters reach the handler percent-decoded.
            handler: Called with the request and the parameters.

        Example:
            >>> server.add_route("GET", "/ping", lambda req, params: json_reply(200, {}))
        """
        self._routes.append(_Route(method.upper(), _compile_template(template), handler))

    def add_websocket_route(self, template: str, handler: WebSocketHandler) -> None:
        """Serve WebSocket upgrades (`GET` with `Upgrade: websocket`) on `template` with `handler`.

        The upgrade request is recorded in `requests` and `fail_next` applies to it (a
        queued failure rejects the handshake with its reply). An upgrade no WebSocket route
        matches goes to `websocket_not_found`. The handler runs in the connection's own
        thread, outside the dispatch lock, and may block as long as it likes (`ws.recv()`
        returns None once the client closes or the server stops). It gets the socket
        before the handshake is answered:

        - reject: return a `Reply` (or call `ws.reject(status, body)`) before accepting;
        - accept: `ws.accept()`, or implicitly the first `send_*`/`recv`/`close`;
        - when it returns, the server closes the socket with 1000 (accepting first if it
          never answered; nothing happens if it already closed or aborted). A handler
          that raises gets a 500 reply before accepting, a close with 1011 after
          (the exception is kept in `ws.handler_error`).

        Args:
            template: Path with `{name}` placeholders, like `/api/v1/agents/{id}/run-stream`.
            handler: Called with the socket, the upgrade request and the path parameters.

        Example:
            >>> def echo(ws, request, params):
            ...     while (message := ws.recv()) is not None:
            ...         ws.send_text(message)
            >>> server.add_websocket_route("/echo", echo)
        """
        self._websocket_routes.append(_WebSocketRoute(_compile_template(template), handler))

    def fail_next(
        self,
        status: int,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next matching request(s) with this reply instead of the real route.

        Failures are served before authentication and routing, in the order they were
        queued, like a proxy in front of the API would.

        Args:
            status: HTTP status to send.
            body: `bytes` or `str` are sent as they are; anything else is sent as JSON.
                None sends `{"message": <reason phrase>}`.
            headers: Extra response headers, like `{"Retry-After": "1"}`.
            content_type: Overrides the content type (default JSON for JSON bodies,
                `text/plain` for text).
            times: How many requests get this reply.
            method: Only requests with this method match.
            path: Only requests whose path matches this regular expression (whole path).

        Raises:
            ValueError: `times` is less than 1.

        Example:
            >>> fake.fail_next(503, headers={"Retry-After": "1"})
            >>> fake.fail_next(502, "<html>Bad Gateway</html>", content_type="text/html")
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if body is None:
            reply = json_reply(status, {"message": _reason(status)}, headers=headers)
        elif isinstance(body, bytes):
            reply = Reply(status, body, "application/octet-stream", dict(headers or {}))
        elif isinstance(body, str):
            reply = text_reply(status, body, headers=headers)
        else:
            reply = json_reply(status, body, headers=headers)
        if content_type is not None:
            reply = Reply(reply.status, reply.body, content_type, reply.headers)
        compiled = re.compile(path) if path is not None else None
        with self._lock:
            self._failures.append(
                _Failure(reply, times, method.upper() if method else None, compiled)
            )

    # -- hooks for subclasses ---------------------------------------------------------

    def not_found(self, request: RecordedRequest) -> Reply:
        """The reply for a path no route matches. Override for the platform's shape.

        Example:
            >>> server.not_found(request).status
            404
        """
        return json_reply(404, {"message": "Not Found"})

    def websocket_not_found(self, request: RecordedRequest) -> Reply:
        """The reply to a WebSocket upgrade no WebSocket route matches (under the lock).

        The default routes it like a plain request (an HTTP route on that path answers,
        else `not_found`). Starlette answers 403; override to do the same.

        Example:
            >>> server.websocket_not_found(request).status
            404
        """
        return self._route(request)

    def method_not_allowed(self, request: RecordedRequest, allowed: list[str]) -> Reply:
        """The reply when the path exists but not for this method.

        Example:
            >>> server.method_not_allowed(request, ["GET"]).headers
            {'Allow': 'GET'}
        """
        return json_reply(
            405,
            {"message": f"The {request.method} method is not supported for this route."},
            headers={"Allow": ", ".join(allowed)},
        )

    # -- dispatch ---------------------------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            failure = self._queued_failure(request)
            return failure if failure is not None else self._route(request)

    def _dispatch_websocket(
        self, request: RecordedRequest
    ) -> Reply | tuple[WebSocketHandler, dict[str, str]]:
        """Record an upgrade request; its failure reply, its handler, or the 'not found'."""
        with self._lock:
            self.requests.append(request)
            failure = self._queued_failure(request)
            if failure is not None:
                return failure
            for ws_route in self._websocket_routes:
                match = ws_route.pattern.fullmatch(request.path)
                if match is not None:
                    params = {k: unquote(v) for k, v in match.groupdict().items()}
                    return ws_route.handler, params
            return self.websocket_not_found(request)

    def _websocket_opened(self, ws: ServerWebSocket) -> None:
        with self._lock:
            self.websockets.append(ws)

    def _queued_failure(self, request: RecordedRequest) -> Reply | None:
        for failure in self._failures:
            if failure.matches(request):
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
                return failure.reply
        return None

    def _route(self, request: RecordedRequest) -> Reply:
        """The route table's reply (called under the lock)."""
        with self._lock:
            allowed: list[str] = []
            for route in self._routes:
                match = route.pattern.fullmatch(request.path)
                if match is None:
                    continue
                if route.method == request.method:
                    params = {k: unquote(v) for k, v in match.groupdict().items()}
                    return route.handler(request, params)
                allowed.append(route.method)
            if allowed:
                return self.method_not_allowed(request, allowed)
            return self.not_found(request)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so `stop()` can end idle keep-alive ones and join them."""

    daemon_threads = True
    # The stdlib's backlog of 5 drops connects when eight clients (threads, WebSocket
    # streams) arrive at once; the dropped one is retried about a second later.
    request_queue_size = 64
    owner: LoopbackServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Condition()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs on the serving thread, so every connection is tracked before shutdown() returns.
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._connections_lock:
            self._connections.pop(request, None)
            self._connections_lock.notify_all()

    def connection_count(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def wait_idle(self, timeout: float) -> bool:
        with self._connections_lock:
            return self._connections_lock.wait_for(lambda: not self._connections, timeout)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # wakes a handler blocked on a read
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(_JOIN_TIMEOUT)  # a handler stuck elsewhere must not hang stop()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _CONNECTION_TIMEOUT
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _HTTPServer

    def _handle(self) -> None:
        if self.command == "GET" and "websocket" in self.headers.get("Upgrade", "").lower():
            self._websocket()
            return
        self._send(self._reply())

    def _record(self) -> RecordedRequest:
        body = self._read_body()
        parts = urlsplit(self.path)
        return RecordedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )

    def _reply(self) -> Reply:
        """Record the request and ask the fake for its reply."""
        request = self._record()
        try:
            return self.server.owner._dispatch(request)
        except Exception as exc:  # a bug in a fake must reach the test as a reply, not a reset
            return self._crash_reply(exc)

    def _websocket(self) -> None:
        """Serve an upgrade request: reject it, or run its handler over the socket."""
        self.close_connection = True  # after a WebSocket (or a refused one) the TCP goes
        request = self._record()
        owner = self.server.owner
        try:
            target = owner._dispatch_websocket(request)
        except Exception as exc:
            target = self._crash_reply(exc)
        if isinstance(target, Reply):
            self._send(target)
            return
        problem = handshake_problem(request.headers)
        if problem is not None:
            status, text = problem
            extra = {"Sec-WebSocket-Version": "13"} if status == 426 else None
            self._send(text_reply(status, text, headers=extra))
            return
        handler, params = target
        ws = ServerWebSocket(
            self.connection, request.headers, request=request, buffered=self._buffered()
        )
        owner._websocket_opened(ws)
        try:
            result = handler(ws, request, params)
        except Exception as exc:
            ws.handler_error = exc
            if ws.accepted:
                ws.close(1011, f"handler failed: {exc!r}"[:120])
            else:
                crash = self._crash_reply(exc)
                ws.reject(crash.status, crash.body, content_type=crash.content_type)
        else:
            if isinstance(result, Reply):
                if ws.accepted:
                    message = "the handler returned a Reply after accepting"
                    ws.handler_error = RuntimeError(message)
                    ws.close(1011, message)
                else:
                    ws.reject(
                        result.status,
                        result.body,
                        content_type=result.content_type,
                        headers=result.headers,
                    )
            else:
                ws.close(1000)
        finally:
            ws.abort()  # whatever happened above, the TCP connection is over

    def _buffered(self) -> bytes:
        """Bytes the client sent after its handshake that `rfile` already read ahead."""
        sock = self.connection
        timeout = sock.gettimeout()
        try:
            sock.setblocking(False)
            return self.rfile.read1(65536) or b""
        except (OSError, ValueError):
            return b""
        finally:
            sock.settimeout(timeout)

    def _crash_reply(self, exc: Exception) -> Reply:
        """The 500 a fake answers when one of its handlers raised (in its error shape)."""
        return json_reply(500, {"message": "Server Error", "exception": repr(exc)})

    def _send(self, reply: Reply) -> None:
        """Write a complete reply with its Content-Length."""
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read `requests`, not stderr
