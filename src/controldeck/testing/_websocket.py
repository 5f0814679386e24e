"""The server side of a WebSocket (RFC 6455), standard library only, for loopback fakes.

`LoopbackServer.add_websocket_route` hands each upgrade request to a handler together
with a `ServerWebSocket`: the handler accepts (explicitly with `accept()`, or implicitly
by its first `send_*`/`recv`), or rejects the handshake with an HTTP status and body. It
runs in the connection's own thread, outside the server's dispatch lock, so it may block
on `recv()` for as long as the client stays connected.

What this side does:

- the handshake (`Sec-WebSocket-Accept`), or a rejection with any HTTP status;
- client frames: masking checked and removed, fragmented messages reassembled (control
  frames in between are handled), text checked to be UTF-8, pings answered with pongs;
- the close handshake both ways: a client's close frame is echoed and the TCP
  connection closed; `close(code, reason)` sends one and waits (bounded) for the echo;
- `abort()`: the TCP connection dropped without a close frame (`reset=True`: with a RST);
- text and binary messages out, optionally fragmented (`fragment=`), and raw frames
  (`send_frame`) for protocol edge cases.

What the client did is kept for assertions: `received` (every message), `close_code` and
`close_reason` (its close frame), `pongs`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from controldeck.testing._server import RecordedRequest

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "ServerWebSocket",
    "WebSocketClosedError",
    "accept_key",
    "handshake_problem",
]

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_MESSAGE = 16 * 1024 * 1024  # a bigger message from the client is closed with 1009
_SEND_TIMEOUT = 10.0  # a client that stops reading cannot block a sender forever
_CLOSE_TIMEOUT = 1.0  # how long close() waits for the client's close frame
_READ_SIZE = 65536
# Close codes that must never appear in a close frame (RFC 6455 §7.4.1).
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


class WebSocketClosedError(ConnectionError):
    """Sending on a WebSocket that is closed (by either side, an abort or the server's stop)."""


def accept_key(key: str) -> str:
    """The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.

    Example:
        >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")  # RFC 6455 §1.3
        's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def handshake_problem(headers: Mapping[str, str]) -> tuple[int, str] | None:
    """Why an upgrade request (lower-case header names) is not a valid handshake, or None.

    Returns:
        `(status, text)` to answer with: 426 for an unsupported version, else 400.

    Example:
        >>> handshake_problem({"upgrade": "websocket"})
        (400, 'not a WebSocket handshake: Connection: Upgrade is missing')
    """
    if "websocket" not in headers.get("upgrade", "").lower():
        return 400, "not a WebSocket handshake: Upgrade: websocket is missing"
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if "upgrade" not in tokens:
        return 400, "not a WebSocket handshake: Connection: Upgrade is missing"
    key = headers.get("sec-websocket-key", "")
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid_key = False
    if not valid_key:
        return 400, "not a WebSocket handshake: Sec-WebSocket-Key is missing or invalid"
    if headers.get("sec-websocket-version", "").strip() != "13":
        return 426, "unsupported WebSocket version: only 13 is served"
    return None


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return payload
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def _frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    head = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", head, n) + payload
    if n < 65536:
        return struct.pack("!BBH", head, 126, n) + payload
    return struct.pack("!BBQ", head, 127, n) + payload


class _ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Timeout(Exception):
    pass


class ServerWebSocket:
    """One WebSocket connection, as the server sees it.

    A handler gets it before the handshake is answered. `accept()` (or the first
    `send_*`, `recv` or `close`) completes the handshake; `reject(status, body)` answers
    with a plain HTTP reply instead. Sending is thread-safe (another thread may push
    frames while the handler waits in `recv`); receive from one thread.

    Attributes:
        request: The upgrade request, as recorded in `server.requests`.
        received: Every message the client sent (`str` for text, `bytes` for binary), in
            order, as `recv` returned them.
        close_code: The code in the client's close frame (1005 when it sent one without
            a code), None when it sent none (yet).
        close_reason: The reason in the client's close frame ("" when none).
        pongs: Payloads of the pongs the client sent.
        handler_error: What the route handler raised, if it did (the server then
            closed with 1011, or rejected with 500 before accepting).

    Example:
        >>> def handler(ws, request, params):
        ...     if params["agent_id"] != "a1":
        ...         return Reply(403)            # or ws.reject(403)
        ...     start = ws.recv()                # accepts, then waits for the first message
        ...     ws.send_text('{"type": "data"}')
        ...     ws.wait_closed()                 # the client closes when it is done
    """

    def __init__(
        self,
        sock: socket.socket,
        headers: Mapping[str, str],
        *,
        request: RecordedRequest | None = None,
        buffered: bytes = b"",
    ) -> None:
        self.request = request
        self.received: list[str | bytes] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.pongs: list[bytes] = []
        self.handler_error: BaseException | None = None
        sock.settimeout(_SEND_TIMEOUT)  # reads wait with select(); this bounds sendall
        self._sock = sock
        self._headers = headers
        self._buffer = bytearray(buffered)
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._state = "new"  # new -> open | rejected; open -> closed
        self._close_sent = False
        self._close_received = threading.Event()
        self._done = threading.Event()  # the TCP connection is gone

    # -- state ----------------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        """Whether the handshake was answered with 101 Switching Protocols."""
        return self._state in ("open", "closed")

    @property
    def rejected(self) -> bool:
        """Whether the handshake was answered with an HTTP status instead."""
        return self._state == "rejected"

    @property
    def closed(self) -> bool:
        """Whether the connection is over (closed by either side, aborted or rejected)."""
        return self._done.is_set()

    @property
    def close_received(self) -> bool:
        """Whether the client sent a close frame."""
        return self._close_received.is_set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the client closes (its close frame or EOF); messages meanwhile are
        read (and kept in `received`), pings answered.

        Returns:
            True once the connection is over; False when `timeout` ran out first.

        Example:
            >>> ws.send_text('{"type":"status","status":"stream_completed"}')
            >>> ws.wait_closed(5.0)  # like the RunAgent server, never close first
            True
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                self.recv(remaining)
            except TimeoutError:
                return False
        return True

    # -- handshake ------------------------------------------------------------------

    def accept(self, *, subprotocol: str | None = None, headers: Mapping[str, str] = {}) -> None:
        """Answer the handshake with 101 Switching Protocols (once; later calls do nothing).

        Args:
            subprotocol: The `Sec-WebSocket-Protocol` to agree to, if any.
            headers: Extra response headers.

        Raises:
            WebSocketClosedError: The handshake was already rejected, or the client left.

        Example:
            >>> ws.accept()
        """
        if self._state != "new":
            if self._state == "rejected":
                raise WebSocketClosedError("the handshake was rejected")
            return
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(self._headers.get('sec-websocket-key', ''))}",
        ]
        if subprotocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        self._state = "open"
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def reject(
        self,
        status: int,
        body: bytes | str = b"",
        *,
        content_type: str | None = None,
        headers: Mapping[str, str] = {},
    ) -> None:
        """Answer the handshake with an HTTP reply (not a WebSocket) and drop the connection.

        Args:
            status: The HTTP status, like 403.
            body: The body; `str` is sent UTF-8 encoded.
            content_type: Its content type (default `text/plain; charset=utf-8` for a
                non-empty body).
            headers: Extra response headers.

        Raises:
            RuntimeError: The handshake was already accepted.

        Example:
            >>> ws.reject(403)  # what Starlette answers for a WebSocket to an unknown path
        """
        if self._state != "new":
            if self._state == "rejected":
                return
            raise RuntimeError("the WebSocket handshake was already accepted; close() it instead")
        data = body.encode("utf-8") if isinstance(body, str) else body
        if content_type is None and data:
            content_type = "text/plain; charset=utf-8"
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        lines += [f"Content-Length: {len(data)}", "Connection: close"]
        self._state = "rejected"
        with contextlib.suppress(OSError):
            self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        self._finish()

    # -- sending --------------------------------------------------------------------

    def send_text(self, text: str, *, fragment: int | None = None) -> None:
        """Send a text message.

        Args:
            text: The message.
            fragment: Split it into continuation frames of this many bytes at most.

        Raises:
            WebSocketClosedError: The connection is closed.

        Example:
            >>> ws.send_text('{"type":"data","content":"..."}')
        """
        self._send_message(OP_TEXT, text.encode("utf-8"), fragment)

    def send_binary(self, data: bytes, *, fragment: int | None = None) -> None:
        """Send a binary message (see `send_text`).

        Example:
            >>> ws.send_binary(b"\\x00\\x01")
        """
        self._send_message(OP_BINARY, bytes(data), fragment)

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping (the client's pong lands in `pongs` while reading).

        Example:
            >>> ws.ping(b"hi")
        """
        self.send_frame(OP_PING, payload)

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True) -> None:
        """Send one raw frame, for protocol edge cases (an unsolicited pong, bad UTF-8).

        Raises:
            WebSocketClosedError: The connection is closed.

        Example:
            >>> ws.send_frame(OP_TEXT, b"\\xff\\xfe")  # not UTF-8
        """
        self.accept()
        if self._close_sent or self.closed:
            raise WebSocketClosedError("the WebSocket is closed")
        self._write(_frame(opcode, payload, fin=fin))

    def _send_message(self, opcode: int, data: bytes, fragment: int | None) -> None:
        if fragment is None or fragment <= 0 or len(data) <= fragment:
            self.send_frame(opcode, data)
            return
        parts = [data[i : i + fragment] for i in range(0, len(data), fragment)]
        frames = [
            _frame(opcode if i == 0 else OP_CONTINUATION, part, fin=i == len(parts) - 1)
            for i, part in enumerate(parts)
        ]
        self.accept()
        if self._close_sent or self.closed:
            raise WebSocketClosedError("the WebSocket is closed")
        self._write(b"".join(frames))

    def _write(self, data: bytes) -> None:
        with self._send_lock:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise WebSocketClosedError(f"the client is gone ({exc})") from None

    # -- receiving ------------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> str | bytes | None:
        """The next message from the client, or None once it closed.

        Pings are answered and pongs recorded on the way. A client close frame is echoed
        and the connection closed; EOF, an abort or the server's stop also return None.
        A protocol violation (unmasked frame, bad UTF-8, oversized message) closes the
        connection with 1002/1007/1009 and returns None.

        Args:
            timeout: Seconds to wait for a whole message; None waits as long as it takes.

        Returns:
            `str` for a text message, `bytes` for a binary one, None when closed.

        Raises:
            TimeoutError: No complete message within `timeout`.

        Example:
            >>> start = json.loads(ws.recv(5.0))
        """
        self.accept()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._read_lock:
            while not self.closed:
                try:
                    message = self._read_message(deadline)
                except _Timeout:
                    raise TimeoutError(f"no WebSocket message within {timeout} s") from None
                except _ProtocolError as exc:
                    self._fail(exc.code, exc.reason)
                    return None
                if message is not None:
                    self.received.append(message)
                    return message
            return None

    def _read_message(self, deadline: float | None) -> str | bytes | None:
        """One whole message; None after a close frame or EOF (connection then finished)."""
        opcode: int | None = None
        parts: list[bytes] = []
        size = 0
        while True:
            frame = self._read_frame(deadline)
            if frame is None:
                self._finish()
                return None
            fin, op, payload = frame
            if op >= 0x8:
                if not fin or len(payload) > 125:
                    raise _ProtocolError(1002, "fragmented or oversized control frame")
                if op == OP_CLOSE:
                    self._on_close(payload)
                    return None
                if op == OP_PING:
                    with contextlib.suppress(WebSocketClosedError):
                        self.send_frame(OP_PONG, payload)
                elif op == OP_PONG:
                    self.pongs.append(payload)
                else:
                    raise _ProtocolError(1002, f"unknown opcode {op:#x}")
                continue
            if op == OP_CONTINUATION:
                if opcode is None:
                    raise _ProtocolError(1002, "continuation frame without a message")
            elif op in (OP_TEXT, OP_BINARY):
                if opcode is not None:
                    raise _ProtocolError(1002, "new message inside a fragmented one")
                opcode = op
            else:
                raise _ProtocolError(1002, f"unknown opcode {op:#x}")
            size += len(payload)
            if size > _MAX_MESSAGE:
                raise _ProtocolError(1009, "message too big")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if opcode == OP_BINARY:
                    return data
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    raise _ProtocolError(1007, "text message is not UTF-8") from None

    def _read_frame(self, deadline: float | None) -> tuple[bool, int, bytes] | None:
        head = self._read_exact(2, deadline)
        if head is None:
            return None
        b0, b1 = head
        if b0 & 0x70:
            raise _ProtocolError(1002, "reserved bits set (no extension was agreed)")
        if not b1 & 0x80:
            raise _ProtocolError(1002, "client frames must be masked")
        n = b1 & 0x7F
        if n >= 126:
            ext = self._read_exact(2 if n == 126 else 8, deadline)
            if ext is None:
                return None
            n = int.from_bytes(ext, "big")
        if n > _MAX_MESSAGE:
            raise _ProtocolError(1009, "frame too big")
        mask = self._read_exact(4, deadline)
        payload = self._read_exact(n, deadline) if n else b""
        if mask is None or payload is None:
            return None
        return bool(b0 & 0x80), b0 & 0x0F, _unmask(payload, mask)

    def _read_exact(self, n: int, deadline: float | None) -> bytes | None:
        buffer = self._buffer
        while len(buffer) < n:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                try:
                    ready, _, _ = select.select([self._sock], [], [], max(remaining, 0))
                except (OSError, ValueError):
                    return None
                if not ready:
                    raise _Timeout
            try:
                chunk = self._sock.recv(_READ_SIZE)
            except TimeoutError:
                if deadline is None:
                    continue
                raise _Timeout from None
            except OSError:
                return None
            if not chunk:
                return None
            buffer += chunk
        data = bytes(buffer[:n])
        del buffer[:n]
        return data

    def _on_close(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise _ProtocolError(1002, "close frame with a one-byte payload")
        if payload:
            self.close_code = int.from_bytes(payload[:2], "big")
            self.close_reason = payload[2:].decode("utf-8", errors="replace")
        else:
            self.close_code = 1005
        self._close_received.set()
        if not self._close_sent:
            # Echo the code (RFC 6455 §5.5.1); none when the client sent none.
            echo = payload[:2] if self.close_code not in _RESERVED_CODES else b""
            self._close_sent = True
            with contextlib.suppress(WebSocketClosedError):
                self._write(_frame(OP_CLOSE, echo))
        self._finish()

    # -- closing --------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "", *, timeout: float = _CLOSE_TIMEOUT) -> None:
        """Send a close frame, wait at most `timeout` for the client's, drop the TCP
        connection. Does nothing when already closed.

        Args:
            code: The close code, like 1003 (unsupported data) or 1011 (server error).
            reason: A short reason (at most 123 UTF-8 bytes).
            timeout: Seconds to wait for the client's close frame.

        Example:
            >>> ws.send_text('{"type":"error","detail":"Missing required field: input_args"}')
            >>> ws.close(1003)
        """
        if self._state == "new":
            with contextlib.suppress(WebSocketClosedError):
                self.accept()
        if self.closed or self._state != "open":
            return
        if not self._close_sent:
            self._close_sent = True
            payload = struct.pack("!H", code) + reason.encode("utf-8")[:123]
            try:
                self._write(_frame(OP_CLOSE, payload))
            except WebSocketClosedError:
                self._finish()
                return
        if self._read_lock.acquire(blocking=False):
            # Nobody else reads: read (and drop) until the client's close frame or EOF.
            try:
                deadline = time.monotonic() + timeout
                while not self.closed:
                    try:
                        self._read_message(deadline)
                    except (_Timeout, _ProtocolError):
                        break
            finally:
                self._read_lock.release()
        else:
            # Another thread is in recv(): it sees the client's close frame.
            self._close_received.wait(timeout)
        self._finish()

    def abort(self, *, reset: bool = False) -> None:
        """Drop the TCP connection without a close frame (the client sees EOF).

        Args:
            reset: Send a TCP reset instead of a clean FIN (the client sees an error).

        Example:
            >>> ws.send_text(first_frame)
            >>> ws.abort()  # an abrupt drop mid-stream
        """
        if self._state == "new":
            with contextlib.suppress(WebSocketClosedError):
                self.accept()
        if reset:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # close() would wait for the handler's rfile/wfile to let go of the
                # socket, and the server's shutdown(SHUT_WR) would send a FIN first.
                os.close(self._sock.detach())
        self._finish()

    def _fail(self, code: int, reason: str) -> None:
        """Close after a protocol violation by the client."""
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(WebSocketClosedError):
                self._write(_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:123]))
        self._finish()

    def _finish(self) -> None:
        """Drop the TCP connection (the server closes the socket after the handler)."""
        if self._done.is_set():
            return
        self._done.set()
        if self._state == "open":
            self._state = "closed"
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def __repr__(self) -> str:
        path = self.request.path if self.request is not None else "?"
        return (
            f"ServerWebSocket(path={path!r}, state={self._state!r}, "
            f"received={len(self.received)}, close_code={self.close_code!r})"
        )
