"""A `Stream` over a WebSocket: connect, send one text message, turn text frames into items.

Built on websocket-client, imported on the first call (importing controldeck or a platform
does not load it). The platform supplies `parse`: it turns each text frame into an item,
None (skip the frame) or `END` (the stream is over: no item, the socket is closed). Binary
frames are skipped; pings are answered by the library.

Every failure is a controldeck error, masked with the stream's `secrets`, naming the URL
without its query (a cloud URL carries `?token=`), then passed through `map_error` so a
platform raises its own classes:

| what happened | error |
|---|---|
| refused, DNS, reset, TLS | `APIConnectionError` (`.cause`, `.url`) |
| no answer within `connect_timeout` (TCP, handshake, first message) | `APITimeoutError` |
| no frame for `idle_timeout` while iterating | `APITimeoutError` |
| handshake answered with an HTTP status | its `APIStatusError` subclass |
| a close frame or EOF before `END` | `StreamError` (`.details["close_code"]`) |
| an invalid frame, a text frame that is not UTF-8 | `StreamError` |
| `parse` raised a `ControlDeckError` | that error (through `map_error` too) |
| `parse` raised anything else | `StreamError` naming it, with an excerpt of the frame |

A status error carries `.status_code`, `.code`/`.message` from a JSON body and
`.body_excerpt`; a close's `details` is `{"close_code": 1003, "reason": "..."}`, and EOF
without a close frame counts as code 1006.

Closing (on `END`, an error, `close()`, leaving the `with` block, Ctrl-C) sends a close
frame and waits at most one second for the server's answer, then drops the socket; it never
hangs and may be called twice. Only the opening and the closing are logged (debug).
"""

from __future__ import annotations

import enum
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

from controldeck._core import _constants as C
from controldeck._core._describe import root_cause, strip_query
from controldeck._core._logging import logger
from controldeck._core._redact import excerpt, redact_data, redact_text
from controldeck._core._replies import ErrorInfo, parse_generic_error
from controldeck._core._retry import parse_retry_after
from controldeck._core._streams import Stream
from controldeck.errors import (
    STATUS_HINTS,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
    StreamError,
    error_class_for_status,
)

__all__ = ["END", "EndType", "websocket_stream"]

T = TypeVar("T")


class EndType(enum.Enum):
    """The type of `END` (one member, so `item is END` narrows the type)."""

    END = "END"


END: Final = EndType.END
"""What `parse` returns for the frame that ends the stream cleanly (no item is yielded)."""

CLOSE_TIMEOUT: Final = 1.0  # how long closing waits for the server's close frame
_OP_TEXT: Final = 0x1
_OP_CLOSE: Final = 0x8
_NO_STATUS: Final = 1005  # a close frame without a code (RFC 6455 §7.4.1)
_ABNORMAL: Final = 1006  # the connection ended without a close frame


def websocket_stream(
    url: str,
    parse: Callable[[str], T | EndType | None],
    *,
    send: str | None = None,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float,
    idle_timeout: float,
    secrets: Iterable[str] = (),
    map_error: Callable[[ControlDeckError], ControlDeckError] | None = None,
    user_agent: str | None = None,
) -> Stream[T]:
    """Open a WebSocket, send `send`, and stream what `parse` makes of each text frame.

    The connection is opened now (TCP, handshake, then `send`), so connection errors
    raise from this call, not from the first `next()`.

    Args:
        url: `ws://` or `wss://` URL; its query (a `token=`) is never logged or shown.
        parse: Turns a text frame into an item, None (skip it) or `END` (the end: no
            item, the socket is closed). It may raise a `ControlDeckError`, which ends
            the stream with that error (socket closed).
        send: The first text message, sent right after the handshake.
        headers: Extra handshake headers (`Authorization`...).
        connect_timeout: Seconds for the TCP connect, the handshake and `send` each.
        idle_timeout: Seconds without a frame, while iterating, before `APITimeoutError`.
        secrets: Strings masked in every message (the API key).
        map_error: Turns every error raised (by the open and while iterating) into the
            platform's own; it also gets the errors `parse` raised, so it should return
            the platform's own errors unchanged.
        user_agent: Sent as `User-Agent`.

    Returns:
        The open stream; use it in a `with` block.

    Raises:
        InvalidArgumentError: `url` is not a ws(s) URL, or a timeout is not a positive
            number (never mapped).
        APIConnectionError: The connection failed (`APITimeoutError`: it timed out).
        APIStatusError: The server answered the handshake with an HTTP status.

    Example:
        >>> def parse(text: str) -> str | None | EndType:
        ...     frame = json.loads(text)
        ...     if frame["type"] == "status":
        ...         return END if frame["status"] == "stream_completed" else None
        ...     return frame["content"]
        >>> with websocket_stream(
        ...     "ws://127.0.0.1:8450/api/v1/agents/a1/run-stream", parse,
        ...     send='{"entrypoint_tag": "echo_stream", "input_args": [], "input_kwargs": {}}',
        ...     connect_timeout=5, idle_timeout=60,
        ... ) as chunks:
        ...     for chunk in chunks:
        ...         print(chunk)
    """
    if not isinstance(url, str) or not url.lower().startswith(("ws://", "wss://")):
        shown = strip_query(url) if isinstance(url, str) else type(url).__name__
        raise InvalidArgumentError(f"url must be a ws:// or wss:// URL, got {shown[:100]!r}")
    for name, value in (("connect_timeout", connect_timeout), ("idle_timeout", idle_timeout)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
    source: _Source[T] = _Source(
        url,
        parse,
        send=send,
        headers=headers,
        connect_timeout=float(connect_timeout),
        idle_timeout=float(idle_timeout),
        secrets=tuple(s for s in secrets if s),
        map_error=map_error,
        user_agent=user_agent,
    )
    return Stream(source.items(), close=source.close)


class _Source(Generic[T]):
    """One connection: opened by the constructor, read by `items()`, ended by `close()`."""

    def __init__(
        self,
        url: str,
        parse: Callable[[str], T | EndType | None],
        *,
        send: str | None,
        headers: Mapping[str, str] | None,
        connect_timeout: float,
        idle_timeout: float,
        secrets: tuple[str, ...],
        map_error: Callable[[ControlDeckError], ControlDeckError] | None,
        user_agent: str | None,
    ) -> None:
        import websocket  # here, not at the top: only streams need it

        self._parse = parse
        self._secrets = secrets
        self._map_error = map_error
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._url = redact_text(strip_query(url), secrets)
        self._label = f"WebSocket {self._url}"
        self._lib: Any = websocket
        handshake = dict(headers or {})
        if user_agent is not None:
            handshake["User-Agent"] = user_agent
        # One reader, one thread: no locks. UTF-8 is checked by the decode in items().
        ws: Any = websocket.WebSocket(enable_multithread=False, skip_utf8_validation=True)
        self._ws = ws
        started = time.monotonic()
        logger.debug("%s: connecting", self._label)
        try:
            ws.connect(
                url,
                timeout=connect_timeout,
                header=handshake,
                suppress_origin=True,
                redirect_limit=0,  # credentials are never sent on to another host
            )
            if send is not None:
                ws.send(send)
            ws.settimeout(idle_timeout)
        except Exception as exc:
            ws.shutdown()
            raise self._mapped(self._open_error(exc)) from None
        except BaseException:
            ws.shutdown()
            raise
        logger.debug("%s: open (%.0f ms)", self._label, (time.monotonic() - started) * 1000)

    # -- reading ------------------------------------------------------------------------

    def items(self) -> Iterator[T]:
        recv_data = self._ws.recv_data
        parse = self._parse
        while True:
            try:
                opcode, data = recv_data()
            except Exception as exc:
                raise self._mapped(self._read_error(exc)) from None
            if opcode == _OP_TEXT:
                try:
                    item = parse(data.decode())
                except ControlDeckError as exc:
                    mapped = self._mapped(exc)
                    if mapped is exc:
                        raise
                    raise mapped from exc
                except Exception as exc:
                    raise self._mapped(self._bad_frame(exc, data)) from exc
                if item is None:
                    continue
                if item is END:
                    return
                yield item
            elif opcode == _OP_CLOSE:
                raise self._mapped(self._closed_early(data)) from None
            # binary frames are skipped

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Send a close frame, wait at most `CLOSE_TIMEOUT` for the answer, drop the socket."""
        ws = self._ws
        if ws.sock is None:
            return
        try:
            if ws.connected:  # False once the server's close frame was answered
                ws.send_close()
                deadline = time.monotonic() + CLOSE_TIMEOUT
                while ws.sock is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    ws.sock.settimeout(remaining)
                    if ws.recv_frame().opcode == _OP_CLOSE:
                        break
        except Exception:
            pass  # the socket goes either way
        finally:
            ws.shutdown()
            logger.debug("%s: closed", self._label)

    # -- errors -------------------------------------------------------------------------

    def _mapped(self, error: ControlDeckError) -> ControlDeckError:
        return error if self._map_error is None else self._map_error(error)

    def _cause(self, exc: BaseException) -> str:
        return root_cause(exc, self._secrets)

    def _open_error(self, exc: Exception) -> ControlDeckError:
        lib = self._lib
        if isinstance(exc, lib.WebSocketBadStatusException):
            return self._status_error(exc)
        response = self._ws.handshake_response
        if response is not None and response.status != 101:
            return self._redirect_error(response.status, response.headers or {})
        if isinstance(exc, lib.WebSocketTimeoutException | TimeoutError):
            return APITimeoutError(
                f"{self._label}: timed out after {self._connect_timeout:g} s (connect "
                "timeout: TCP connect, handshake and first message). Pass a longer "
                "connect timeout to wait longer.",
                method="GET",
                url=self._url,
                cause=exc,
            )
        if isinstance(exc, OSError | lib.WebSocketAddressException | lib.WebSocketProxyException):
            what = f"could not connect ({self._cause(exc)}). Is the server up and the URL right?"
        elif isinstance(exc, lib.WebSocketConnectionClosedException):
            what = "the server dropped the connection during the handshake"
        else:
            what = f"the WebSocket handshake failed ({self._cause(exc)})"
        return APIConnectionError(
            redact_text(f"{self._label}: {what}", self._secrets),
            method="GET",
            url=self._url,
            cause=exc,
        )

    def _status_error(self, exc: Any) -> APIStatusError:
        status = int(exc.status_code)
        body: bytes = exc.resp_body or b""
        headers: Mapping[str, str] = exc.resp_headers or {}
        text = body.decode("utf-8", errors="replace")
        info = ErrorInfo()
        try:
            info = parse_generic_error(json.loads(text))
        except ValueError:
            if text.strip() and "<" not in text[:100] and len(text) <= 200:
                info = ErrorInfo(message=text.strip())
        except Exception:  # a body of an unexpected shape must not hide the status
            logger.debug("error parser failed", exc_info=True)
        reason = exc.status_message or "error"
        message = info.message or f"{reason} (WebSocket handshake to {self._url})"
        secrets = self._secrets
        return error_class_for_status(status)(
            excerpt(message, C.BODY_EXCERPT_CHARS, secrets),
            status_code=status,
            request_id=next((headers[h] for h in C.REQUEST_ID_HEADERS if headers.get(h)), None),
            code=info.code,
            body_excerpt=excerpt(body, C.BODY_EXCERPT_CHARS, secrets),
            details=redact_data(info.details, secrets),
            field_errors=[
                (excerpt(f, C.MAX_ECHO, secrets), excerpt(m, C.BODY_EXCERPT_CHARS, secrets))
                for f, m in info.field_errors
            ],
            retry_after=parse_retry_after(headers.get("retry-after")),
            hint=None if info.message else STATUS_HINTS.get(status),
        )

    def _redirect_error(self, status: int, headers: Mapping[str, str]) -> APIStatusError:
        location = redact_text(strip_query(headers.get("location", "")), self._secrets)
        return error_class_for_status(status)(
            f"the server redirected the WebSocket handshake to {location or '(nowhere)'} "
            f"({self._url})",
            status_code=status,
            hint="WebSocket redirects are not followed (credentials never go to another "
            "host); point the URL at the new address",
        )

    def _read_error(self, exc: Exception) -> ControlDeckError:
        lib = self._lib
        if isinstance(exc, lib.WebSocketTimeoutException | TimeoutError):
            return APITimeoutError(
                f"{self._label}: no frame arrived for {self._idle_timeout:g} s (idle "
                "timeout). Pass a longer idle timeout to wait longer.",
                method="GET",
                url=self._url,
                cause=exc,
            )
        if isinstance(exc, lib.WebSocketConnectionClosedException):
            return StreamError(
                f"{self._label}: the connection ended without a close frame (code "
                f"{_ABNORMAL}) before the stream ended",
                details={"close_code": _ABNORMAL, "reason": ""},
            )
        if isinstance(exc, OSError):  # reset, TLS
            return APIConnectionError(
                f"{self._label}: connection dropped mid-stream ({self._cause(exc)})",
                method="GET",
                url=self._url,
                cause=exc,
            )
        return StreamError(f"{self._label}: invalid frame ({self._cause(exc)})")

    def _closed_early(self, data: bytes) -> StreamError:
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else _NO_STATUS
        reason = redact_text(data[2:].decode("utf-8", errors="replace"), self._secrets)
        shown = f"code {code}: {excerpt(reason, 200)}" if reason else f"code {code}"
        return StreamError(
            f"{self._label}: the server closed the connection ({shown}) before the stream ended",
            details={"close_code": code, "reason": reason},
        )

    def _bad_frame(self, exc: Exception, data: bytes) -> StreamError:
        if isinstance(exc, UnicodeDecodeError):
            what = "a text frame is not UTF-8"
        else:
            frame = excerpt(data.decode("utf-8", errors="replace"), 200, self._secrets)
            what = f"could not read a frame ({type(exc).__name__}: {exc}): {frame}"
        return StreamError(redact_text(f"{self._label}: {what}", self._secrets))
