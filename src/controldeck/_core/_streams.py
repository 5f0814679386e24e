"""`Stream[T]` and how platforms open one: SSE (with resume), NDJSON, length-prefixed envelopes.

A stream is an iterator of typed items and a context manager; closing it releases the
connection at once (close it from the thread that iterates). Items come from *frames*
(SSE events from `_sse.py`, JSON lines and envelope messages from `_frames.py`) through a
platform's `parse` callable, which returns an item or `None` to skip the frame
(keepalives, pings); wrapped in `Flatten(...)`, it returns several items per frame (a
batch) or None. Reads go through `response.raw.read1()`, so an event reaches the caller
as soon as its bytes arrive, on chunked and close-delimited responses alike. Every error
raised while iterating is a controldeck error; messages have the stream's `secrets`
masked and show the URL without its query.

Building a stream in a platform
-------------------------------

The platform gives an *opener*: a callable that takes the extra headers to send
(`Last-Event-ID` when resuming) and returns a 2xx response opened with `stream=True`.
The read timeout it opens with is the stream's idle timeout: no bytes for that long
raises `APITimeoutError` (keepalive comments count as bytes).

SSE with resume (Akribes hub events: `event: batch` frames whose data is a JSON array)::

    def events(self, hub_id: str, *, timeout: Timeout = (5, 90)) -> Stream[HubEvent]:
        def opener(headers: Mapping[str, str]) -> requests.Response:
            return self._transport.send(
                "GET", f"/hubs/{hub_id}/events", stream=True, timeout=timeout,
                extra_headers={"Accept": "text/event-stream", **headers},
            )

        def parse(event: ServerSentEvent) -> list[HubEvent] | None:
            if event.event != "batch":
                return None  # pings and unknown names vanish
            return [structure(item, HubEvent) for item in event.json()]

        return sse_stream(
            opener, Flatten(parse), resume=True, terminal=lambda e: e.kind == "done"
        )

With `resume=True` a dropped connection (reset, cut-off chunked body) is reopened with
`Last-Event-ID: <last id>` after the server's `retry:` (capped at 30 s) or a jittered
backoff; a connect failure, 408, 429 or 5xx while reopening is retried the same way, any
other status is raised at once. `max_reconnects` bounds the reopen attempts in a row and
is restored once a reopened connection delivers data (a server that accepts and drops at
once cannot keep a caller looping forever). A clean end of the body ends the stream and
is never reconnected. An idle timeout is raised, not reconnected: it is the caller's own
bound on silence, and reconnecting would stretch it without limit.

Length-prefixed envelopes (Rune Connect server streams)::

    def on_end(payload: Mapping[str, Any]) -> None:
        if "error" in payload:
            raise rune_error_from_connect(payload["error"])  # the platform's mapping

    return envelope_stream(opener, lambda msg: structure(msg, WatchEvent), on_end=on_end)

Each message is decoded as JSON before `parse` sees it (`ndjson_stream` likewise hands
`parse` each decoded line). The end-of-stream message goes to
`on_end` (default: `raise_end_error`, a `StreamError` naming the code); a body that ends
without one is a `StreamError`.

A WebSocket (RunAgent's run-stream) is `websocket_stream` in `_websocket.py`: it connects,
sends the start message, and hands `parse` each text frame, which returns an item, None
(skip) or `END`; the library's errors become controldeck errors (then `map_error`'s)::

    def parse(text: str) -> Any:
        frame = json.loads(text)
        if frame["type"] == "status":
            return END if frame["status"] == "stream_completed" else None
        return decode_result(frame["content"])

    return websocket_stream(
        ws_url, parse, send=json.dumps(payload), connect_timeout=5, idle_timeout=60,
        secrets=[api_key], map_error=to_runagent_error,
    )

Any other source: `Stream(items, close=release, terminal=...)` over a generator that
raises only controldeck errors.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Generic, NamedTuple, Protocol, Self, TypeVar

import requests
import urllib3

from controldeck._core import _constants as C
from controldeck._core._describe import root_cause
from controldeck._core._frames import EndOfStream, EnvelopeDecoder, NDJSONDecoder
from controldeck._core._redact import excerpt, redact_text
from controldeck._core._retry import backoff_delay
from controldeck._core._sse import ServerSentEvent, SSEDecoder
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
    StreamError,
)

__all__ = [
    "Flatten",
    "Opener",
    "Stream",
    "envelope_stream",
    "ndjson_stream",
    "raise_end_error",
    "sse_stream",
]

T = TypeVar("T")
F = TypeVar("F")

Opener = Callable[[Mapping[str, str]], requests.Response]
"""Opens the stream: given extra headers to send, returns a 2xx response with `stream=True`."""


class Flatten(Generic[F, T]):
    """Marks a `parse` callable that returns several items per frame (a batch), or None.

    A plain `parse` returns one item or None; a union of both shapes would defeat type
    inference, so the shape is chosen once, by wrapping the callable.

    Args:
        parse: Turns a frame into an iterable of items (possibly empty), or None.

    Example:
        >>> def batch(event: ServerSentEvent) -> list[int] | None:
        ...     return event.json() if event.event == "batch" else None
        >>> stream = sse_stream(opener, Flatten(batch))  # a Stream[int]
    """

    __slots__ = ("parse",)

    def __init__(self, parse: Callable[[F], Iterable[T] | None]) -> None:
        self.parse = parse


Parser = Callable[[F], T | None] | Flatten[F, T]
"""What a stream constructor takes: one item (or None) per frame, or `Flatten(...)`."""


class Stream(Generic[T]):
    """An iterator of items that holds a connection; use it in a `with` block.

    Iteration ends at the end of the source, after a terminal item, or once `close()` was
    called; each of these releases the connection. An error while iterating closes the
    stream too.

    Args:
        items: Where the items come from: any iterable (a generator over a WebSocket, say).
        close: Releases what `items` holds; called once, by `close()`.
        terminal: True for the last item the caller wants: it is yielded, then the stream
            closes.

    Example:
        >>> with client.hub_events("hub-1") as events:
        ...     for event in events:
        ...         print(event.kind)
    """

    __slots__ = ("_close", "_closed", "_items", "_terminal")

    def __init__(
        self,
        items: Iterable[T],
        *,
        close: Callable[[], None] | None = None,
        terminal: Callable[[T], bool] | None = None,
    ) -> None:
        self._items = iter(items)
        self._close = close
        self._terminal = terminal
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the stream was closed (by the caller, its end, a terminal item or an error).

        Example:
            >>> stream.close(); stream.closed
            True
        """
        return self._closed

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            item = next(self._items)
        except BaseException:  # the end, an error or Ctrl-C: release the connection either way
            self.close()
            raise
        if self._terminal is not None and self._terminal(item):
            self.close()
        return item

    def close(self) -> None:
        """Release the connection now; later calls do nothing and iteration stops.

        Call it from the thread that iterates (or when no iteration is in progress).

        Example:
            >>> stream = client.hub_events("hub-1")
            >>> first = next(stream)
            >>> stream.close()
        """
        if self._closed:
            return
        self._closed = True
        close_items = getattr(self._items, "close", None)
        try:
            if close_items is not None:
                close_items()
        finally:
            if self._close is not None:
                self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def raise_end_error(payload: Mapping[str, Any]) -> None:
    """The default `on_end`: raise when the end-of-stream message carries an error.

    Args:
        payload: The end-of-stream JSON object (`{"error"?: {code, message, details},
            "metadata"?}`).

    Raises:
        StreamError: `payload` has an `error`; the message names its code and message.

    Example:
        >>> raise_end_error({})  # a clean end
        >>> raise_end_error({"error": {"code": "not_found", "message": "no such mesh"}})
        Traceback (most recent call last):
        controldeck.errors.StreamError: stream ended with error [not_found]: no such mesh
    """
    error = payload.get("error")
    if error is None:
        return
    if not isinstance(error, Mapping):
        raise StreamError(f"stream ended with error: {excerpt(json.dumps(error), 200)}")
    code, message = error.get("code", "unknown"), error.get("message", "")
    raise StreamError(f"stream ended with error [{code}]: {excerpt(str(message), 200)}")


# -- reading HTTP responses ---------------------------------------------------------------

# Exceptions a read can raise when the connection breaks; ReadTimeoutError and DecodeError
# are told apart before these.
_DROPPED = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class _Decoder(Protocol[F]):
    def feed(self, chunk: bytes) -> list[F]: ...
    def finish(self) -> list[F]: ...


class _Resume(NamedTuple):
    max_reconnects: int
    sleep: Callable[[float], None]


class _HttpSource(Generic[F, T]):
    """Reads one response after another (when resuming) and turns its bytes into items."""

    def __init__(
        self,
        opener: Opener,
        decoder: _Decoder[F],
        parse: Parser[F, T],
        *,
        resume: _Resume | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self._opener = opener
        self._decoder = decoder
        # The hot loop calls the bare function; `_flat` says whether it returns many items.
        self._flat = isinstance(parse, Flatten)
        self._parse: Callable[[F], Any] = parse.parse if isinstance(parse, Flatten) else parse
        self._resume = resume
        self._secrets = tuple(s for s in secrets if s)
        self._failures = 0  # reopen attempts since a connection last delivered data
        self._response = opener(self._headers())
        self._opened()

    def _headers(self) -> dict[str, str]:
        decoder = self._decoder
        last_id = decoder.last_event_id if isinstance(decoder, SSEDecoder) else None
        if not last_id:
            return {}
        # WHATWG sends the id UTF-8 encoded; requests writes str headers as Latin-1.
        return {"Last-Event-ID": last_id.encode("utf-8").decode("latin-1")}

    def _opened(self) -> None:
        response = self._response
        request = response.request
        method = request.method if request is not None else "GET"
        self._method = method
        self._url = redact_text(response.url.split("?", 1)[0], self._secrets)
        self._label = f"{method} {self._url}"

    def close(self) -> None:
        self._response.close()

    def items(self) -> Iterator[T]:
        decoder, parse, flat, clock = self._decoder, self._parse, self._flat, time.monotonic
        while True:
            read1 = self._response.raw.read1
            delivered = False
            dropped: APIConnectionError | None
            while True:
                # The response does not say which read timeout it was opened with; the
                # time a timed-out read waited does (once per chunk, not per event).
                started = clock()
                try:
                    chunk = read1(C.STREAM_READ_SIZE, decode_content=True)
                except Exception as exc:
                    dropped = self._read_failed(exc, clock() - started)
                    break
                if not chunk:
                    dropped = None
                    break
                delivered = True
                try:
                    frames = decoder.feed(chunk)
                except StreamError as exc:
                    raise self._stream_error(exc) from None
                for frame in frames:
                    try:
                        item = parse(frame)
                    except ControlDeckError as exc:
                        if isinstance(exc, StreamError):
                            raise self._stream_error(exc) from None
                        raise
                    except Exception as exc:
                        raise self._foreign_error(exc) from exc
                    if item is None:
                        continue
                    if flat:
                        yield from item
                    else:
                        yield item
            if dropped is None:
                try:
                    frames = decoder.finish()
                except StreamError as exc:
                    raise self._stream_error(exc) from None
                for frame in frames:
                    item = self._parsed(frame)
                    if item is not None:
                        yield from item if flat else (item,)
                return
            self._reopen(dropped, delivered)

    def _parsed(self, frame: F) -> Any:
        try:
            return self._parse(frame)
        except ControlDeckError as exc:
            if isinstance(exc, StreamError):
                raise self._stream_error(exc) from None
            raise
        except Exception as exc:
            raise self._foreign_error(exc) from exc

    def _foreign_error(self, exc: Exception) -> StreamError:
        # A platform's parser let a raw error out (KeyError, JSONDecodeError...).
        return StreamError(
            redact_text(
                f"{self._label}: could not read a frame ({type(exc).__name__}: {exc})",
                self._secrets,
            )
        )

    def _stream_error(self, exc: StreamError) -> StreamError:
        # The server's code and details stay on the error: callers branch on `.code`.
        return StreamError(
            redact_text(f"{self._label}: {exc}", self._secrets), code=exc.code, details=exc.details
        )

    def _read_failed(self, exc: Exception, waited: float) -> APIConnectionError:
        """Raise what ends the stream; return the error of a drop that may be reconnected."""
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            raise APITimeoutError(
                f"{self._label}: no data arrived for {round(waited, 1):g} s (idle timeout). "
                "Pass a longer read timeout to wait longer.",
                method=self._method,
                url=self._url,
            ) from None
        if isinstance(exc, urllib3.exceptions.DecodeError):
            raise StreamError(
                f"{self._label}: could not decode the body ({root_cause(exc, self._secrets)})"
            ) from None
        if not isinstance(exc, _DROPPED):
            raise APIConnectionError(
                f"{self._label}: reading the stream failed ({root_cause(exc, self._secrets)})",
                method=self._method,
                url=self._url,
            ) from exc
        return APIConnectionError(
            f"{self._label}: connection dropped mid-stream ({root_cause(exc, self._secrets)})",
            method=self._method,
            url=self._url,
        )

    def _reopen(self, dropped: APIConnectionError, delivered: bool) -> None:
        """Reopen after a drop, or raise when not resuming or out of reconnects."""
        self._response.close()
        self._decoder.finish()  # a half-received event is not continued by the next response
        resume = self._resume
        if resume is None:
            raise dropped from None
        if delivered:
            self._failures = 0
        error: ControlDeckError = dropped
        while self._failures < resume.max_reconnects:
            resume.sleep(self._delay(error))
            self._failures += 1
            try:
                self._response = self._opener(self._headers())
            except APIStatusError as exc:
                if exc.status_code < 500 and exc.status_code not in (408, 429):
                    raise
                error = exc
            except APIConnectionError as exc:
                error = exc
            else:
                self._opened()
                return
        if error is dropped and self._failures:
            raise APIConnectionError(
                f"{dropped}; gave up after {self._failures} reconnects",
                method=self._method,
                url=self._url,
            ) from None
        raise error

    def _delay(self, error: ControlDeckError) -> float:
        if isinstance(error, APIStatusError) and error.retry_after is not None:
            return error.retry_after
        decoder = self._decoder
        if isinstance(decoder, SSEDecoder) and decoder.retry is not None:
            return min(decoder.retry / 1000, C.STREAM_RETRY_MAX)
        return backoff_delay(self._failures)


# -- constructors -------------------------------------------------------------------------


def sse_stream(
    opener: Opener,
    parse: Parser[ServerSentEvent, T],
    *,
    terminal: Callable[[T], bool] | None = None,
    resume: bool = False,
    last_event_id: str | None = None,
    max_reconnects: int = C.STREAM_MAX_RECONNECTS,
    sleep: Callable[[float], None] = time.sleep,
    secrets: Iterable[str] = (),
) -> Stream[T]:
    """Open a server-sent events stream.

    Args:
        opener: Opens the response (see `Opener`); called now, and again on each reconnect.
        parse: Turns an event into an item or `None` (skip it); see `Flatten` for batches.
        terminal: True for the last item wanted; the stream closes after yielding it.
        resume: Reopen a dropped connection with `Last-Event-ID` (see the module docs).
        last_event_id: Resume from this id already on the first request.
        max_reconnects: Reopen attempts in a row before giving up.
        sleep: Waits between reconnects (injected by tests).
        secrets: Strings to mask in error messages (a token in the URL, say).

    Returns:
        The open stream.

    Raises:
        InvalidArgumentError: `max_reconnects` is not an int >= 0.
        APIStatusError: The server refused to open the stream.
        APIConnectionError: The stream could not be opened.

    Example:
        >>> stream = sse_stream(opener, lambda e: e.json() if e.event == "log" else None)
        >>> with stream:
        ...     for line in stream:
        ...         print(line)
    """
    if (
        not isinstance(max_reconnects, int)
        or isinstance(max_reconnects, bool)
        or max_reconnects < 0
    ):
        raise InvalidArgumentError(f"max_reconnects must be an int >= 0, got {max_reconnects!r}")
    source: _HttpSource[ServerSentEvent, T] = _HttpSource(
        opener,
        SSEDecoder(last_event_id),
        parse,
        resume=_Resume(max_reconnects, sleep) if resume else None,
        secrets=secrets,
    )
    return Stream(source.items(), close=source.close, terminal=terminal)


def ndjson_stream(
    opener: Opener,
    parse: Parser[Any, T],
    *,
    terminal: Callable[[T], bool] | None = None,
    secrets: Iterable[str] = (),
) -> Stream[T]:
    """Open a newline-delimited JSON stream; `parse` gets each decoded line.

    Args:
        opener: Opens the response (see `Opener`).
        parse: Turns a decoded JSON value into an item or `None`; see `Flatten`.
        terminal: True for the last item wanted; the stream closes after yielding it.
        secrets: Strings to mask in error messages.

    Returns:
        The open stream.

    Raises:
        APIStatusError: The server refused to open the stream.
        APIConnectionError: The stream could not be opened.

    Example:
        >>> with ndjson_stream(opener, lambda v: structure(v, LogLine)) as lines:
        ...     for line in lines:
        ...         print(line.text)
    """
    source: _HttpSource[Any, T] = _HttpSource(opener, NDJSONDecoder(), parse, secrets=secrets)
    return Stream(source.items(), close=source.close, terminal=terminal)


def envelope_stream(
    opener: Opener,
    parse: Parser[Any, T],
    *,
    terminal: Callable[[T], bool] | None = None,
    on_end: Callable[[Mapping[str, Any]], None] = raise_end_error,
    require_end: bool = True,
    max_message_size: int = C.STREAM_MAX_MESSAGE,
    secrets: Iterable[str] = (),
) -> Stream[T]:
    """Open a stream of length-prefixed JSON envelopes (Connect server streaming).

    Args:
        opener: Opens the response (see `Opener`).
        parse: Turns a decoded JSON message into an item or `None`; see `Flatten`.
        terminal: True for the last item wanted; the stream closes after yielding it.
        on_end: Gets the end-of-stream JSON object when it arrives; raise from it to turn
            `error.code` into the platform's error.
        require_end: Whether a body without an end-of-stream message is a `StreamError`.
        max_message_size: Largest message accepted, in bytes.
        secrets: Strings to mask in error messages.

    Returns:
        The open stream.

    Raises:
        APIStatusError: The server refused to open the stream.
        APIConnectionError: The stream could not be opened.

    Example:
        >>> with envelope_stream(opener, lambda m: structure(m, Workload)) as workloads:
        ...     for workload in workloads:
        ...         print(workload.name)
    """

    flat = isinstance(parse, Flatten)
    parse_message: Callable[[Any], Any] = parse.parse if isinstance(parse, Flatten) else parse

    def frame(item: bytes | EndOfStream) -> Any:
        if isinstance(item, EndOfStream):
            on_end(item.payload)
            return None
        try:
            message = json.loads(item)
        except ValueError:
            raise StreamError(f"envelope message is not JSON: {excerpt(item, 80)!r}") from None
        return parse_message(message)

    decoder = EnvelopeDecoder(max_message_size=max_message_size, require_end=require_end)
    source: _HttpSource[bytes | EndOfStream, T] = _HttpSource(
        opener, decoder, Flatten(frame) if flat else frame, secrets=secrets
    )
    return Stream(source.items(), close=source.close, terminal=terminal)
