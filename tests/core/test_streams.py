"""The stream decoders on their own (bytes in, frames out) and `Stream` over plain iterators.

Decoders must give the same output for every way of splitting the same bytes into chunks:
checked exhaustively on sample streams and with hypothesis against a reference decoder.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controldeck import StreamError
from controldeck._core._frames import EndOfStream, EnvelopeDecoder, NDJSONDecoder
from controldeck._core._sse import ServerSentEvent, SSEDecoder
from controldeck._core._streams import Stream, raise_end_error

E = ServerSentEvent


def feed_all(decoder: Any, chunks: Sequence[bytes]) -> list[Any]:
    out: list[Any] = []
    for part in chunks:
        out.extend(decoder.feed(part))
    out.extend(decoder.finish())
    return out


def splits(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def every_split(data: bytes, max_cuts: int = 2) -> Iterator[list[bytes]]:
    """Every way to cut `data` in one or two places, and byte by byte."""
    positions = range(1, len(data))
    for n in range(1, max_cuts + 1):
        for cuts in itertools.combinations(positions, n):
            yield splits(data, cuts)
    yield [data[i : i + 1] for i in range(len(data))]


# -- SSE ----------------------------------------------------------------------------------

SAMPLE = (
    "\ufeff: keepalive\r\n"
    "retry: 1500\n"
    "id: 7\r"
    "event: batch\r\n"
    'data: [{"n": 1},\n'
    'data:  {"n": 2}]\r'
    "\r"
    "data\n"
    "\n"
    "id: a\0b\n"
    "data: caf\u00e9 \u20ac \U0001f600\r\n"
    "\r\n"
    "event: lonely\n"
    "\n"
    "id\n"
    "retry: 12a\n"
    "field: unknown\n"
    "data: last\n"
    "\n"
    "data: cut off at EOF\n"
).encode()

SAMPLE_EVENTS = [
    E('[{"n": 1},\n {"n": 2}]', "batch", "7", 1500),
    E("", "message", "7", None),
    E("caf\u00e9 \u20ac \U0001f600", "message", "7", None),
    E("last", "message", "", None),
]


def test_sse_sample_decodes_per_the_standard() -> None:
    decoder = SSEDecoder()
    assert feed_all(decoder, [SAMPLE]) == SAMPLE_EVENTS
    assert decoder.last_event_id == ""
    assert decoder.retry == 1500


def test_sse_same_events_for_every_split_of_the_sample() -> None:
    for chunks in every_split(SAMPLE):
        assert feed_all(SSEDecoder(), chunks) == SAMPLE_EVENTS, chunks


def test_sse_cr_ending_a_chunk_pairs_with_lf_starting_the_next() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Had the LF counted as a second line end, "a" would have been dispatched alone.
    assert decoder.feed(b"\ndata: b\n\n") == [E("a\nb")]


def test_sse_empty_chunk_between_cr_and_lf_keeps_them_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\n\n") == [E("a\nb")]


def test_sse_two_crs_are_two_line_ends() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [E("a")]


@pytest.mark.parametrize(
    ("line", "data"),
    [
        (b"data: x", "x"),
        (b"data:x", "x"),
        (b"data:  x", " x"),
        (b"data: x ", "x "),
        (b"data", ""),
        (b"data:", ""),
        (b"data: a:b", "a:b"),
    ],
)
def test_sse_one_leading_space_stripped_and_no_colon_means_empty_value(
    line: bytes, data: str
) -> None:
    assert SSEDecoder().feed(line + b"\n\n") == [E(data)]


def test_sse_ids_persist_nul_ignored_empty_resets() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid:\ndata: d\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "1"), ("d", "")]


def test_sse_id_without_data_still_moves_last_event_id() -> None:
    decoder = SSEDecoder(last_event_id="0")
    assert decoder.feed(b"id: 9\n\n") == []
    assert decoder.last_event_id == "9"


@pytest.mark.parametrize(
    ("value", "expected"), [(b"100", 100), (b"0", 0), (b"1.5", None), (b"-1", None), (b"", None)]
)
def test_sse_retry_only_when_all_ascii_digits(value: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: " + value + b"\n\n")
    assert decoder.retry == expected
    # Non-ASCII digits are digits to str.isdigit(), but not to the standard.
    decoder.feed("retry: \u0661\u0662\n\n".encode())
    assert decoder.retry == expected


def test_sse_event_without_data_is_not_dispatched_and_resets_its_name() -> None:
    assert SSEDecoder().feed(b"event: x\nid: 3\n\ndata: y\n\n") == [E("y", "message", "3")]


def test_sse_comments_are_ignored() -> None:
    assert SSEDecoder().feed(b": ping\n:\n: data: no\ndata: yes\n\n") == [E("yes")]


def test_sse_incomplete_event_at_eof_is_discarded() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete line\n") == []
    assert decoder.feed(b"data: no line end") == []
    assert decoder.finish() == []


def test_sse_bom_dropped_only_at_the_start() -> None:
    decoder = SSEDecoder()
    rest = b"\xbfdata: 1\n\n\xef\xbb\xbfdata: 2\n\ndata: 3\n\n"
    events = feed_all(decoder, [b"\xef", b"\xbb", rest])
    # A BOM later in the stream is part of a field name ("\ufeffdata"), which is unknown.
    assert events == [E("1"), E("3")]


def test_sse_invalid_utf8_becomes_replacement_characters() -> None:
    assert SSEDecoder().feed(b"data: \xff\xc3\n\n") == [E("\ufffd\ufffd")]


def test_sse_event_json() -> None:
    assert E('{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(StreamError) as info:
        E('{"token": "s3cr3t-value", "x": ', "batch", "4").json()
    message = str(info.value)
    assert message.startswith("event 'batch' (id '4') has data that is not JSON (Expecting value")
    assert "s3cr3t-value" not in message
    assert info.value.__cause__ is None


def reference_sse(data: bytes) -> list[ServerSentEvent]:
    """The standard's algorithm, line by line over the whole decoded stream."""
    text = data.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\r\n":
            lines.append(current)
            current = ""
            if ch == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
        else:
            current += ch
        i += 1
    events: list[ServerSentEvent] = []
    data_buf, event_type, last_id, retry = "", "", None, None
    for line in lines:  # `current` (no line end) is discarded at EOF
        if line == "":
            if data_buf:
                events.append(E(data_buf[:-1], event_type or "message", last_id, retry))
            data_buf, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            value = value[1:] if value.startswith(" ") else value
        else:
            name, value = line, ""
        if name == "data":
            data_buf += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events


_line_ends = st.sampled_from(["\n", "\r", "\r\n"])
_values = st.text(alphabet=st.sampled_from("ab :\u00e9\U0001f600\0\ufeff1"), max_size=6)
_lines = st.one_of(
    st.just(""),
    st.builds(lambda v: ":" + v, _values),
    st.builds(
        lambda name, sep, v: name + sep + v,
        st.sampled_from(["data", "event", "id", "retry", "other", "dat"]),
        st.sampled_from([":", ": ", ":  ", ""]),
        _values,
    ),
)


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    lines = draw(st.lists(st.tuples(_lines, _line_ends), max_size=25))
    tail = draw(st.sampled_from(["", "data: tail"]))
    text = draw(st.sampled_from(["", "\ufeff"])) + "".join(a + b for a, b in lines) + tail
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data += draw(st.binary(max_size=3))  # stray bytes, possibly not UTF-8
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return data, cuts


@given(sse_streams())
def test_sse_matches_the_reference_for_any_stream_and_any_split(
    case: tuple[bytes, list[int]],
) -> None:
    data, cuts = case
    assert feed_all(SSEDecoder(), splits(data, cuts)) == reference_sse(data)


# -- NDJSON -------------------------------------------------------------------------------

NDJSON = b'{"a": 1}\r\n\n  \r\n[1, "\xc3\xa9"]\n"s"\n\n42'


def test_ndjson_every_split() -> None:
    expected = [{"a": 1}, [1, "\u00e9"], "s", 42]
    for chunks in every_split(NDJSON):
        assert feed_all(NDJSONDecoder(), chunks) == expected, chunks


def test_ndjson_bad_line_names_its_number_with_an_excerpt() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'1\n\n{"token": "s3cr3t-value", "b": nope}') == [1]
    with pytest.raises(StreamError) as info:
        decoder.feed(b"\n")
    assert str(info.value) == (
        "NDJSON line 3 is not JSON (Expecting value): "
        """'{"token": "<redacted>", "b": nope}'"""
    )


def test_ndjson_bad_utf8_and_bad_last_line() -> None:
    with pytest.raises(StreamError, match=r"^NDJSON line 1 is not JSON \(not UTF-8\)"):
        NDJSONDecoder().feed(b'"\xff"\n')
    decoder = NDJSONDecoder()
    decoder.feed(b"1\n{")
    with pytest.raises(StreamError, match=r"^NDJSON line 2 is not JSON"):
        decoder.finish()


# -- envelopes ----------------------------------------------------------------------------


def envelope(message: bytes | dict[str, Any], flags: int = 0) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return struct.pack(">BI", flags, len(body)) + body


def test_envelopes_every_split() -> None:
    end = {"error": {"code": "not_found", "message": "gone"}, "metadata": {"k": ["v"]}}
    data = envelope({"n": 1}) + envelope(b"") + envelope({"n": 2}) + envelope(end, 0x02)
    expected = [b'{"n": 1}', b"", b'{"n": 2}', EndOfStream(end)]
    for chunks in every_split(data):
        assert feed_all(EnvelopeDecoder(), chunks) == expected, chunks


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (envelope({"n": 1}, 0x01), "compressed envelope, but compression was never negotiated"),
        (envelope({"n": 1}, 0x80), "unknown envelope flags 0x80"),
        (envelope(b"[]", 0x02), "end-of-stream message is not a JSON object: '[]'"),
        (envelope(b"{", 0x02), "end-of-stream message is not a JSON object: '{'"),
        (envelope(b"{}", 0x02) + b"\x00", "data after the end-of-stream message"),
    ],
)
def test_envelope_errors(frame: bytes, message: str) -> None:
    with pytest.raises(StreamError) as info:
        EnvelopeDecoder().feed(frame)
    assert str(info.value) == message


def test_envelope_after_end_in_a_later_chunk() -> None:
    decoder = EnvelopeDecoder()
    assert decoder.feed(envelope({}, 0x02)) == [EndOfStream({})]
    with pytest.raises(StreamError, match=r"^data after the end-of-stream message$"):
        decoder.feed(envelope({}))


def test_envelope_over_the_cap_fails_on_the_prefix_alone() -> None:
    decoder = EnvelopeDecoder(max_message_size=10)
    assert decoder.feed(envelope(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(StreamError) as info:
        decoder.feed(struct.pack(">BI", 0, 11))
    assert str(info.value) == "envelope message of 11 bytes exceeds the 10-byte cap"


def test_envelope_default_cap_is_16_mib() -> None:
    with pytest.raises(StreamError, match="16777217 bytes exceeds the 16777216-byte cap"):
        EnvelopeDecoder().feed(struct.pack(">BI", 0, 16 * 1024 * 1024 + 1))


def test_envelope_cut_off_at_eof() -> None:
    decoder = EnvelopeDecoder()
    decoder.feed(envelope({"n": 1})[:-2])
    with pytest.raises(StreamError) as info:
        decoder.finish()
    assert str(info.value) == "stream cut off inside an envelope (11 bytes of it arrived)"


def test_envelope_end_message_required_unless_told_otherwise() -> None:
    decoder = EnvelopeDecoder()
    decoder.feed(envelope({"n": 1}))
    with pytest.raises(StreamError, match=r"^stream ended without an end-of-stream message$"):
        decoder.finish()
    relaxed = EnvelopeDecoder(require_end=False)
    assert feed_all(relaxed, [envelope({"n": 1})]) == [b'{"n": 1}']


def test_raise_end_error() -> None:
    raise_end_error({})
    raise_end_error({"metadata": {"a": ["b"]}})
    with pytest.raises(StreamError) as info:
        raise_end_error({"error": {"code": "permission_denied", "message": "no"}})
    assert str(info.value) == "stream ended with error [permission_denied]: no"
    with pytest.raises(StreamError) as info:
        raise_end_error({"error": "boom"})
    assert str(info.value) == 'stream ended with error: "boom"'


# -- Stream over any iterator -------------------------------------------------------------


class Closer:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_stream_yields_then_closes_once_at_the_end() -> None:
    closer = Closer()
    stream = Stream(iter([1, 2, 3]), close=closer)
    assert list(stream) == [1, 2, 3]
    assert closer.calls == 1
    assert stream.closed
    stream.close()
    assert closer.calls == 1
    assert list(stream) == []


def test_stream_close_mid_way_stops_iteration_and_closes_the_generator() -> None:
    finished: list[str] = []

    def source() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            finished.append("generator closed")

    closer = Closer()
    with Stream(source(), close=closer) as stream:
        assert next(stream) == 0
        assert next(stream) == 1
        stream.close()
        assert finished == ["generator closed"]
        assert list(stream) == []
    assert closer.calls == 1


def test_stream_terminal_item_is_yielded_then_the_stream_closes() -> None:
    closer = Closer()
    stream = Stream(iter(["a", "done", "never"]), close=closer, terminal=lambda s: s == "done")
    assert next(stream) == "a"
    assert closer.calls == 0
    assert next(stream) == "done"
    assert closer.calls == 1  # released before the caller asks for more
    assert list(stream) == []


def test_stream_error_in_source_closes_and_propagates() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise StreamError("broken")

    closer = Closer()
    stream = Stream(source(), close=closer)
    assert next(stream) == 1
    with pytest.raises(StreamError, match="broken"):
        next(stream)
    assert closer.calls == 1
    assert list(stream) == []


def test_stream_exit_closes_even_when_the_body_raises() -> None:
    closer = Closer()
    with pytest.raises(KeyboardInterrupt), Stream(iter([1]), close=closer):
        raise KeyboardInterrupt
    assert closer.calls == 1


def test_an_id_counts_only_once_its_message_has_ended() -> None:
    # A drop inside message 2 must resume after message 1, or message 2 is lost.
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert [(e.id, e.data) for e in events] == [("1", "a")]
    assert decoder.last_event_id == "1"
    decoder.finish()
    assert decoder.last_event_id == "1"
    # An id-only message still moves the cursor when its blank line arrives.
    assert decoder.feed(b"id: 5\n\n") == []
    assert decoder.last_event_id == "5"
