"""A minimal threaded keep-alive HTTP/1.1 server on 127.0.0.1 that answers canned bytes.

It does as little as an HTTP server can, so that what a benchmark measures is the client:
read a request head, look the target up, write `200` (or `404`) with `Content-Length`, and
keep the connection open for the next request. It is shared by the baseline and the SDK of
a row, so whatever it costs is the same on both sides of the ratio.

    with CannedServer(lambda target: b'{"ok":true}') as server:
        requests.Session().get(server.url("/x")).json()

On exit every connection is shut down and every thread joined: nothing leaks a socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

__all__ = ["Body", "CannedServer"]

Body = Callable[[str], bytes | None]
"""Maps a request target (path and query, as sent) to the reply body; None means 404."""

# How often a blocked accept() looks at the stop flag; connections are woken by shutdown().
_POLL = 0.05
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class CannedServer:
    """Serve `body(target)` to every request (a POST's body is read and ignored) on
    127.0.0.1 and a free port, over keep-alive.

    Args:
        body: Returns the reply body for a request target, or None for a 404.
        content_type: The `Content-Type` of every 200 reply.

    Attributes:
        connections: How many TCP connections were accepted (1 for a reused session).
        requests: How many requests were answered (counted just before the reply is sent).
        errors: Exceptions raised by `body`; the first is re-raised on exit, so a broken
            row cannot report numbers.

    Example:
        >>> with CannedServer(lambda target: b"[]") as server:
        ...     requests.Session().get(server.url("/items")).json()
        []
    """

    def __init__(self, body: Body, *, content_type: str = "application/json") -> None:
        self._body = body
        self._head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: "
        self.connections = 0
        self.requests = 0
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> Self:
        self._listener.listen(16)
        self._listener.settimeout(_POLL)
        self._accepter.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._accepter.join()
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            # Wakes the connection's thread from a blocking recv() at once.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join()
        for conn in conns:
            conn.close()
        if exc_type is None and self.errors:
            raise self.errors[0]

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this server.

        Args:
            path: Path and query, starting with `/`.

        Returns:
            `http://127.0.0.1:<port><path>`.

        Example:
            >>> server.url("/api/gateways")
            'http://127.0.0.1:40123/api/gateways'
        """
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        except OSError:
            pass  # the client or __exit__ closed the connection
        except Exception as exc:
            self.errors.append(exc)
            # The client gets a closed connection instead of waiting forever for a reply.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _answer(self, conn: socket.socket) -> None:
        head = self._head.encode("latin-1")
        buffer = b""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                continue
            request, buffer = buffer[:end], buffer[end + 4 :]
            # A POST (a Connect RPC) carries a body: skip it, the reply does not depend on it.
            length = _content_length(request)
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            target = request.split(b" ", 2)[1].decode("latin-1")
            body = self._body(target)
            with self._lock:
                self.requests += 1
            if body is None:
                conn.sendall(_NOT_FOUND)
            else:
                conn.sendall(b"%s%d\r\n\r\n%s" % (head, len(body), body))


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0
