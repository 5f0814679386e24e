"""Pure decoders for newline-delimited JSON and length-prefixed envelopes: bytes in, frames out.

Each has `feed(chunk) -> list[frame]` and `finish() -> list[frame]` (at a clean end of the
body), like `SSEDecoder`; the output is the same however the bytes are split.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from controldeck._core import _constants as C
from controldeck._core._redact import excerpt
from controldeck.errors import StreamError

__all__ = ["LineBuffer", "EndOfStream", "EnvelopeDecoder", "NDJSONDecoder"]


class LineBuffer:
    """Splits a byte stream at LF: whole lines out, the unfinished tail kept.

    The tail is kept as a list of chunks so that one long line arriving in many chunks
    is joined once, not re-copied on every chunk.

    Example:
        >>> lines = LineBuffer()
        >>> lines.complete(b"a\nb"), lines.complete(b"c\nd")
        (b'a', b'bc')
    """

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def complete(self, chunk: bytes) -> bytes | None:
        """The bytes up to the last LF seen so far (without it), or None if no line ended."""
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                self._parts.append(chunk)
            return None
        if self._parts:
            self._parts.append(chunk[:end])
            complete = b"".join(self._parts)
            self._parts = []
        else:
            complete = chunk[:end]
        if end + 1 < len(chunk):
            self._parts.append(chunk[end + 1 :])
        return complete

    def take_rest(self) -> bytes:
        """The unfinished tail, removed from the buffer."""
        rest = b"".join(self._parts)
        self._parts = []
        return rest


class NDJSONDecoder:
    """Newline-delimited JSON: one value per line, blank lines skipped, CRLF accepted.

    Example:
        >>> decoder = NDJSONDecoder()
        >>> decoder.feed(b'{"a": 1}\\r\\n\\n[2')
        [{'a': 1}]
        >>> decoder.feed(b"]\\n")
        [[2]]
    """

    __slots__ = ("_line", "_lines")

    def __init__(self) -> None:
        self._lines = LineBuffer()
        self._line = 0

    def feed(self, chunk: bytes) -> list[Any]:
        """Decode the next bytes.

        Args:
            chunk: Any number of bytes.

        Returns:
            The values of the lines these bytes complete.

        Raises:
            StreamError: A line is not JSON (the message names its number and quotes it).

        Example:
            >>> NDJSONDecoder().feed(b"1\\n2\\n")
            [1, 2]
        """
        complete = self._lines.complete(chunk)
        if complete is None:
            return []
        return [
            value for line in complete.split(b"\n") if (value := self._value(line)) is not _SKIP
        ]

    def finish(self) -> list[Any]:
        """End of stream: the last line may lack its newline.

        Returns:
            The value of that last line, if there is one.

        Raises:
            StreamError: The last line is not JSON.

        Example:
            >>> decoder = NDJSONDecoder()
            >>> decoder.feed(b'{"done": true}')
            []
            >>> decoder.finish()
            [{'done': True}]
        """
        rest = self._lines.take_rest()
        value = self._value(rest) if rest else _SKIP
        return [] if value is _SKIP else [value]

    def _value(self, line: bytes) -> Any:
        self._line += 1
        if not line.strip():
            return _SKIP
        try:
            return json.loads(line)
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise StreamError(
                f"NDJSON line {self._line} is not JSON ({reason}): {excerpt(line, 80)!r}"
            ) from None


_SKIP: Any = object()


class EndOfStream(NamedTuple):
    """The end-of-stream message of an envelope stream (`{"error"?, "metadata"?}`)."""

    payload: dict[str, Any]


_PREFIX = 5
_FLAG_COMPRESSED = 0x01
_FLAG_END = 0x02


class EnvelopeDecoder:
    """Length-prefixed envelopes (Connect streaming): 1 flags byte, 4-byte big-endian length.

    Args:
        max_message_size: Largest message accepted, in bytes.
        require_end: Whether a stream must finish with an end-of-stream message.

    Example:
        >>> decoder = EnvelopeDecoder()
        >>> decoder.feed(b"\\x00\\x00\\x00\\x00\\x02{}\\x02\\x00\\x00\\x00\\x02{}")
        [b'{}', EndOfStream(payload={})]
    """

    __slots__ = ("_buf", "_ended", "max_message_size", "require_end")

    def __init__(
        self, *, max_message_size: int = C.STREAM_MAX_MESSAGE, require_end: bool = True
    ) -> None:
        self.max_message_size = max_message_size
        self.require_end = require_end
        self._buf = bytearray()
        self._ended = False

    def feed(self, chunk: bytes) -> list[bytes | EndOfStream]:
        """Decode the next bytes.

        Args:
            chunk: Any number of bytes; a prefix or a message may be split across calls.

        Returns:
            The messages these bytes complete, and `EndOfStream` once it arrives.

        Raises:
            StreamError: A compressed or oversized message, unknown flags, a malformed
                end-of-stream message, or data after it.

        Example:
            >>> EnvelopeDecoder().feed(b"\\x00\\x00\\x00\\x00\\x01")
            []
        """
        if not chunk:
            return []
        if self._ended:
            raise StreamError("data after the end-of-stream message")
        buf = self._buf
        buf += chunk
        frames: list[bytes | EndOfStream] = []
        pos, size = 0, len(buf)
        while size - pos >= _PREFIX:
            flags = buf[pos]
            length = int.from_bytes(buf[pos + 1 : pos + _PREFIX], "big")
            self._check(flags, length)
            start = pos + _PREFIX
            if size - start < length:
                break
            message = bytes(buf[start : start + length])
            pos = start + length
            if flags & _FLAG_END:
                if pos != size:
                    raise StreamError("data after the end-of-stream message")
                self._ended = True
                frames.append(EndOfStream(_end_payload(message)))
            else:
                frames.append(message)
        del buf[:pos]
        return frames

    def _check(self, flags: int, length: int) -> None:
        # Checked as soon as the prefix is in, before waiting for (and buffering) the body.
        if flags & _FLAG_COMPRESSED:
            raise StreamError("compressed envelope, but compression was never negotiated")
        if flags & ~(_FLAG_COMPRESSED | _FLAG_END):
            raise StreamError(f"unknown envelope flags 0x{flags:02x}")
        if length > self.max_message_size:
            raise StreamError(
                f"envelope message of {length} bytes exceeds the {self.max_message_size}-byte cap"
            )

    def finish(self) -> list[bytes | EndOfStream]:
        """End of stream: nothing may be left half-read, and the end message must have come.

        Returns:
            Always an empty list (every complete message was returned by `feed`).

        Raises:
            StreamError: The stream was cut off inside an envelope, or ended without an
                end-of-stream message although one is required.

        Example:
            >>> EnvelopeDecoder(require_end=False).finish()
            []
        """
        left = len(self._buf)
        if left:
            self._buf.clear()
            raise StreamError(f"stream cut off inside an envelope ({left} bytes of it arrived)")
        if self.require_end and not self._ended:
            raise StreamError("stream ended without an end-of-stream message")
        return []


def _end_payload(message: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(message)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise StreamError(f"end-of-stream message is not a JSON object: {excerpt(message, 80)!r}")
    return payload
