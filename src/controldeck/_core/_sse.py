"""An incremental WHATWG server-sent events decoder: bytes in, events out.

Implements the "event stream interpretation" of the HTML standard
(https://html.spec.whatwg.org/multipage/server-sent-events.html): CR, LF and CRLF line ends,
`data` lines joined with LF, one leading space stripped after the colon, `id` kept across
events (ignored when it holds NUL), `retry` only when all ASCII digits, comments ignored,
no dispatch for an event without data, an unfinished event discarded at EOF, one leading
BOM dropped. The output is the same however the bytes are split into chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from controldeck._core._constants import BODY_EXCERPT_CHARS
from controldeck._core._frames import LineBuffer
from controldeck._core._redact import excerpt
from controldeck.errors import StreamError

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs twice as much per event
class ServerSentEvent:
    """One dispatched server-sent event.

    Attributes:
        data: The event's data lines joined with `\\n` (may be empty: `data:` alone).
        event: The `event:` name, `"message"` when the server sent none.
        id: The last event id at dispatch time (ids persist across events), or None
            when the stream has not sent one.
        retry: The `retry:` value (milliseconds) sent in this event's block, if any.

    Example:
        >>> ServerSentEvent(data='{"n": 1}', event="batch", id="7").json()
        {'n': 1}
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The data decoded as JSON.

        Returns:
            The decoded value.

        Raises:
            StreamError: The data is not JSON (the message quotes a short excerpt).

        Example:
            >>> ServerSentEvent(data="[1, 2]").json()
            [1, 2]
        """
        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise StreamError(
                f"event {self.event!r} (id {self.id!r}) has data that is not JSON ({exc}): "
                f"{excerpt(self.data, BODY_EXCERPT_CHARS // 5)!r}"
            ) from None


_BOM = "\ufeff"


class SSEDecoder:
    """Turns the bytes of an event stream into `ServerSentEvent`s, chunk by chunk.

    Attributes:
        last_event_id: The id to send as `Last-Event-ID` when reconnecting ("" after the
            server reset it with an empty `id:`, None before any `id:`).
        retry: The last `retry:` value in milliseconds, even from a block without data.

    Example:
        >>> decoder = SSEDecoder()
        >>> decoder.feed(b"id: 1\\ndata: hel")
        []
        >>> decoder.feed(b"lo\\r\\n\\r\\n")
        [ServerSentEvent(data='hello', event='message', id='1', retry=None)]
    """

    __slots__ = (
        "_buffer",
        "_data",
        "_event",
        "_pending_cr",
        "_pending_id",
        "_retry",
        "_started",
        "last_event_id",
        "retry",
    )

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self._pending_id = last_event_id  # from an `id:` line of the message being read
        self.retry: int | None = None
        self._buffer = LineBuffer()
        self._pending_cr = False  # the last chunk ended in CR: a leading LF is its pair
        self._started = False
        self._data: list[str] | None = None
        self._event = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next bytes of the stream.

        Args:
            chunk: Any number of bytes; a line, a character or a CRLF may be split
                across calls.

        Returns:
            The events completed by these bytes, in order (often none).

        Example:
            >>> SSEDecoder().feed(b"event: ping\\ndata:\\n\\n")
            [ServerSentEvent(data='', event='ping', id=None, retry=None)]
        """
        if not chunk:
            return []  # and keep a pending CR pending
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # A CR is a line end on its own; one ending this chunk may pair with an LF
            # starting the next, which must then not count as a second (empty) line.
            self._pending_cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        complete = self._buffer.complete(chunk)
        if complete is None:
            return []
        # LF never occurs inside a UTF-8 sequence, so decoding whole lines at once gives
        # the same text as decoding line by line.
        text = complete.decode("utf-8", "replace")
        if not self._started:
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
        return self._lines(text.split("\n"))

    def _lines(self, lines: list[str]) -> list[ServerSentEvent]:
        # The hot loop: state lives in locals and is written back once per chunk.
        events: list[ServerSentEvent] = []
        data, event, retry = self._data, self._event, self._retry
        last_id, pending_id = self.last_event_id, self._pending_id
        for line in lines:
            if not line:
                # WHATWG: the id becomes the stream's last event id only when the message
                # ends; a message cut off by a drop must not be skipped on resume.
                last_id = pending_id
                if data is not None:
                    events.append(
                        ServerSentEvent(
                            data[0] if len(data) == 1 else "\n".join(data),
                            event or "message",
                            last_id,
                            retry,
                        )
                    )
                data = None
                event = ""
                retry = None
                continue
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if name == "data":
                if data is None:
                    data = [value]
                else:
                    data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                if "\0" not in value:
                    pending_id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                retry = self.retry = int(value)
            # Anything else, comments (empty name) included, is ignored.
        self._data, self._event, self._retry = data, event, retry
        self.last_event_id, self._pending_id = last_id, pending_id
        return events

    def finish(self) -> list[ServerSentEvent]:
        """End of one response: an unterminated line or unfinished event is dropped.

        `last_event_id` (the id of the last complete message) and `retry` are kept, so the
        decoder can go on reading the stream a reconnect opens (which may start with a BOM
        again); an `id:` of the unfinished message is dropped with it.

        Returns:
            Always an empty list (kept for symmetry with the other decoders).

        Example:
            >>> decoder = SSEDecoder("3")
            >>> decoder.feed(b"id: 4\ndata: cut off\n")
            []
            >>> decoder.finish(), decoder.last_event_id
            ([], '3')
        """
        self._buffer.take_rest()
        self._pending_cr = False
        self._started = False
        self._data = None
        self._event = ""
        self._retry = None
        self._pending_id = self.last_event_id
        return []
