"""Streams over real loopback sockets: incremental delivery, idle timeouts, drops, resume.

Streams are opened the way a platform opens them: `Transport.send(..., stream=True)` with
`timeout=(connect, idle)`. Reconnect waits never sleep for real (`sleep=` records them).
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import requests

from controldeck import (
    APIConnectionError,
    APITimeoutError,
    ControlDeckError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    StreamError,
)
from controldeck._core._sse import ServerSentEvent
from controldeck._core._streams import (
    Flatten,
    Stream,
    envelope_stream,
    ndjson_stream,
    sse_stream,
)
from controldeck._core._transport import Transport
from tests.wire.server import (
    AWAIT_CLOSE,
    HANG,
    LAST_CHUNK,
    RESET,
    Request,
    Script,
    Server,
    Wait,
    chunk,
    response,
    stream_head,
)

IDLE = 0.3
SECRET = "tok-5ecret-in-path"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def transport() -> Iterator[Callable[[Server], Transport]]:
    made: list[Transport] = []

    def make(server: Server) -> Transport:
        # max_retries=0: every reopen the tests count is the stream's own, not the transport's.
        t = Transport(base_url=server.base_url, platform="test", max_retries=0)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def opener(t: Transport, path: str = "/events", idle: float = IDLE) -> Any:
    def open_(headers: Mapping[str, str]) -> requests.Response:
        return t.send("GET", path, stream=True, extra_headers=headers, timeout=(1, idle))

    return open_


def sse(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def ev(id_: str, data: str) -> bytes:
    return sse(f"id: {id_}", f"data: {data}", "")


def data_of(event: ServerSentEvent) -> str:
    return event.data


def collect(stream: Stream[Any]) -> list[Any]:
    with stream:
        return list(stream)


# -- delivery -------------------------------------------------------------------------------


def test_chunked_sse_split_at_odd_boundaries(transport: Callable[[Server], Transport]) -> None:
    body = b": hi\r\nevent: a\r\ndata: \xc3\xa9t\xc3\xa9\r\n\r\nid: 2\rdata: x\r\rdata: y\n\n"
    pieces = [body[:9], body[9:21], body[21:24], body[24:41], body[41:42], body[42:]]
    script = [stream_head(), *(chunk(p) for p in pieces), LAST_CHUNK]
    with Server([script]) as server:
        events = collect(sse_stream(opener(transport(server)), lambda e: e))
    assert events == [
        ServerSentEvent("\u00e9t\u00e9", "a"),
        ServerSentEvent("x", "message", "2"),
        ServerSentEvent("y", "message", "2"),
    ]
    assert server.requests[0].headers["accept"] == "application/json"
    assert "last-event-id" not in server.requests[0].headers


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_event_arrives_while_the_server_holds_the_connection(
    transport: Callable[[Server], Transport], chunked: bool
) -> None:
    gate = threading.Event()
    wrap: Callable[[bytes], bytes] = chunk if chunked else (lambda b: b)
    script: Script = [
        stream_head(chunked=chunked),
        wrap(ev("1", "first")),
        Wait(gate),  # nothing more until the test has seen the first event
        wrap(ev("2", "second")),
        *([LAST_CHUNK] if chunked else []),
    ]
    with Server([script]) as server, sse_stream(opener(transport(server), idle=5), data_of) as s:
        assert next(s) == "first"
        gate.set()
        assert list(s) == ["second"]


def test_gzip_encoded_events_are_decoded_as_they_arrive(
    transport: Callable[[Server], Transport],
) -> None:
    gate = threading.Event()
    compressor = zlib.compressobj(wbits=31)  # gzip framing
    first = compressor.compress(ev("1", "zipped")) + compressor.flush(zlib.Z_SYNC_FLUSH)
    rest = compressor.compress(ev("2", "more")) + compressor.flush()
    head = stream_head(headers={"Content-Encoding": "gzip"})
    script = [head, chunk(first), Wait(gate), chunk(rest), LAST_CHUNK]
    with Server([script]) as server, sse_stream(opener(transport(server), idle=5), data_of) as s:
        assert next(s) == "zipped"
        gate.set()
        assert list(s) == ["more"]


def test_parse_skips_none_and_flatten_yields_each_item(
    transport: Callable[[Server], Transport],
) -> None:
    body = sse(": keepalive", "event: ping", "data: {}", "", "event: batch", "data: [1, 2, 3]", "")
    body += sse("event: batch", "data: []", "", "event: batch", "data: [4]", "")

    def parse(e: ServerSentEvent) -> list[int] | None:
        return e.json() if e.event == "batch" else None

    with Server([response(200, body)]) as server:
        assert collect(sse_stream(opener(transport(server)), Flatten(parse))) == [1, 2, 3, 4]


def test_ndjson_stream(transport: Callable[[Server], Transport]) -> None:
    script = [
        stream_head(content_type="application/x-ndjson"),
        chunk(b'{"n": 1}\n{"n"'),
        chunk(b': 2}\n\n{"n": 3}'),
        LAST_CHUNK,
    ]
    with Server([script]) as server:
        stream = ndjson_stream(opener(transport(server)), lambda v: v["n"])
        assert collect(stream) == [1, 2, 3]


# -- ending ---------------------------------------------------------------------------------


def test_close_mid_stream_releases_the_connection(
    transport: Callable[[Server], Transport],
) -> None:
    with Server([[stream_head(), chunk(ev("1", "a")), AWAIT_CLOSE]]) as server:
        stream = sse_stream(opener(transport(server), idle=5), data_of)
        assert next(stream) == "a"
        stream.close()
        assert server.client_closed.wait(2)
        stream.close()
        assert list(stream) == []


def test_terminal_item_ends_iteration_and_the_connection(
    transport: Callable[[Server], Transport],
) -> None:
    events = ev("1", "a") + ev("2", "done") + ev("3", "after")
    with Server([[stream_head(), chunk(events), AWAIT_CLOSE]]) as server:
        stream = sse_stream(
            opener(transport(server), idle=5), data_of, terminal=lambda d: d == "done"
        )
        assert list(stream) == ["a", "done"]
        assert server.client_closed.wait(2)


# -- failures -------------------------------------------------------------------------------


def test_idle_timeout(transport: Callable[[Server], Transport]) -> None:
    with Server([[stream_head(), chunk(ev("1", "a")), HANG]]) as server:
        stream = sse_stream(opener(transport(server)), data_of, resume=True)
        assert next(stream) == "a"
        with pytest.raises(APITimeoutError) as info:
            next(stream)
        assert str(info.value) == (
            f"GET {server.base_url}/events: no data arrived for 0.3 s (idle timeout). "
            "Pass a longer read timeout to wait longer."
        )
        assert stream.closed
    assert len(server.requests) == 1  # an idle timeout is not reconnected


def test_reset_mid_stream(transport: Callable[[Server], Transport]) -> None:
    with Server([[stream_head(), chunk(ev("1", "a")), RESET]]) as server:
        stream = sse_stream(
            opener(transport(server), f"/t/{SECRET}/events"), data_of, secrets=[SECRET]
        )
        assert next(stream) == "a"
        with pytest.raises(APIConnectionError) as info:
            next(stream)
    message = str(info.value)
    assert type(info.value) is APIConnectionError
    assert message.startswith(
        f"GET {server.base_url}/t/<redacted>/events: connection dropped mid-stream ("
    )
    assert "reset by peer" in message.lower()
    assert "\n" not in message and SECRET not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert (info.value.method, info.value.url) == ("GET", f"{server.base_url}/t/<redacted>/events")


@pytest.mark.parametrize(
    ("script", "error", "text"),
    [
        ([stream_head(), chunk(ev("1", "a"))], APIConnectionError, "connection dropped mid-stream"),
        ([stream_head(), chunk(ev("1", "a")), b"zz\r\n"], APIConnectionError, "connection dropped"),
        (
            [
                stream_head(headers={"Content-Encoding": "gzip"}),
                chunk(b"not gzip at all"),
                LAST_CHUNK,
            ],
            StreamError,
            "could not decode the body",
        ),
        ([response(200, b"data: a\n\n", content_length=100)], APIConnectionError, "dropped"),
    ],
    ids=["chunked-cut-off", "bad-chunk-size", "bad-gzip", "short-content-length"],
)
def test_nothing_raw_escapes(
    transport: Callable[[Server], Transport], script: Script, error: type[Exception], text: str
) -> None:
    with Server([script]) as server:
        stream = sse_stream(opener(transport(server)), data_of)
        with pytest.raises(ControlDeckError) as info:
            list(stream)
    assert type(info.value) is error
    assert text in str(info.value)
    assert stream.closed


def test_parser_errors_become_stream_errors(transport: Callable[[Server], Transport]) -> None:
    with Server([response(200, ev("1", "{not json"))]) as server:
        with pytest.raises(StreamError) as info:
            collect(sse_stream(opener(transport(server)), ServerSentEvent.json))
        assert str(info.value).startswith(
            f"GET {server.base_url}/events: event 'message' (id '1') has data that is not JSON"
        )
        with pytest.raises(StreamError) as info:
            collect(sse_stream(opener(transport(server)), lambda e: {"a": 1}[e.data]))
        assert str(info.value) == (
            f"GET {server.base_url}/events: could not read a frame (KeyError: '{{not json')"
        )
        assert isinstance(info.value.__cause__, KeyError)


def test_open_failure_is_raised_by_the_constructor(
    transport: Callable[[Server], Transport],
) -> None:
    with (
        Server([response(404, {"message": "no such hub"})]) as server,
        pytest.raises(NotFoundError, match="no such hub"),
    ):
        sse_stream(opener(transport(server)), data_of, resume=True)
    assert len(server.requests) == 1


# -- resume ---------------------------------------------------------------------------------


def test_reconnect_sends_last_event_id_and_resumes(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    def handler(request: Request) -> Script:
        last = request.headers.get("last-event-id")
        if last is None:
            return [stream_head(), chunk(ev("1", "a") + ev("2", "b") + sse("data: half")), RESET]
        assert last == "2"
        return [stream_head(), chunk(ev("3", "c")), LAST_CHUNK]

    with Server(handler) as server:
        stream = sse_stream(opener(transport(server)), data_of, resume=True, sleep=sleeps)
        assert collect(stream) == ["a", "b", "c"]
    assert [r.headers.get("last-event-id") for r in server.requests] == [None, "2"]
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5  # backoff_delay(0)


def test_reconnect_waits_the_servers_retry_and_resumes_from_a_given_id(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    first = [stream_head(), chunk(sse("retry: 250", "") + ev("\u00e9v-8", "a")), RESET]
    second = [stream_head(), chunk(ev("9", "b")), LAST_CHUNK]
    with Server([first, second]) as server:
        stream = sse_stream(
            opener(transport(server)), data_of, resume=True, last_event_id="7", sleep=sleeps
        )
        assert collect(stream) == ["a", "b"]
    # Sent as its UTF-8 bytes, which the test server reads back as Latin-1.
    expected = ["7", "\u00e9v-8".encode().decode("latin-1")]
    assert [r.headers.get("last-event-id") for r in server.requests] == expected
    assert sleeps == [0.25]


def test_reopen_failures_are_retried_with_their_retry_after(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    scripts: list[Script] = [
        [stream_head(), chunk(ev("1", "a")), RESET],
        response(503, {"message": "busy"}),
        response(429, {"message": "slow down"}, headers={"Retry-After": "2"}),
        RESET,  # a connection error while reopening
        [stream_head(), chunk(ev("2", "b")), LAST_CHUNK],
    ]
    with Server(scripts) as server:
        stream = sse_stream(opener(transport(server)), data_of, resume=True, sleep=sleeps)
        assert collect(stream) == ["a", "b"]
    assert len(server.requests) == 5
    assert sleeps[2] == 2.0
    assert 0.75 <= sleeps[1] <= 1.0 and 3.0 <= sleeps[3] <= 4.0  # backoff_delay(1), (3)


def test_reopen_4xx_is_raised_at_once(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    scripts: list[Script] = [
        [stream_head(), chunk(ev("1", "a")), RESET],
        response(404, {"message": "hub deleted"}),
    ]
    with Server(scripts) as server:
        stream = sse_stream(opener(transport(server)), data_of, resume=True, sleep=sleeps)
        assert next(stream) == "a"
        with pytest.raises(NotFoundError, match="hub deleted"):
            next(stream)
    assert len(sleeps) == 1 and len(server.requests) == 2


def test_budget_exhausted_on_status_raises_the_last_error(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    scripts: list[Script] = [
        [stream_head(), chunk(ev("1", "a")), RESET],
        response(503, {"message": "still down"}),
    ]
    with Server(scripts) as server:
        stream = sse_stream(
            opener(transport(server)), data_of, resume=True, max_reconnects=2, sleep=sleeps
        )
        assert next(stream) == "a"
        with pytest.raises(InternalServerError, match="still down"):
            next(stream)
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_budget_exhausted_on_drops(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    # Each reopened connection drops before delivering anything: the budget never resets.
    scripts: list[Script] = [[stream_head(), chunk(ev("1", "a")), RESET], [stream_head(), RESET]]
    with Server(scripts) as server:
        stream = sse_stream(
            opener(transport(server)), data_of, resume=True, max_reconnects=2, sleep=sleeps
        )
        assert next(stream) == "a"
        with pytest.raises(APIConnectionError) as info:
            next(stream)
    assert str(info.value).endswith("; gave up after 2 reconnects")
    assert str(info.value).startswith(f"GET {server.base_url}/events: connection dropped")
    assert len(server.requests) == 3


def test_budget_resets_after_a_connection_delivers(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    drop = [[stream_head(), chunk(ev(str(i), str(i))), RESET] for i in range(4)]
    scripts: list[Script] = [*drop, [stream_head(), chunk(ev("4", "4")), LAST_CHUNK]]
    with Server(scripts) as server:
        stream = sse_stream(
            opener(transport(server)), data_of, resume=True, max_reconnects=1, sleep=sleeps
        )
        assert collect(stream) == ["0", "1", "2", "3", "4"]
    assert len(server.requests) == 5
    assert all(0.375 <= s <= 0.5 for s in sleeps)  # backoff restarts from 0 each time


def test_no_reconnect_after_a_clean_end(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    with Server([response(200, ev("1", "a") + sse("data: unfinished"))]) as server:
        stream = sse_stream(opener(transport(server)), data_of, resume=True, sleep=sleeps)
        assert collect(stream) == ["a"]
    assert len(server.requests) == 1 and sleeps == []


def test_without_resume_a_drop_is_raised(
    transport: Callable[[Server], Transport], sleeps: Sleeps
) -> None:
    with Server([[stream_head(), chunk(ev("1", "a")), RESET]]) as server:
        stream = sse_stream(opener(transport(server)), data_of, sleep=sleeps)
        with pytest.raises(APIConnectionError, match="connection dropped mid-stream"):
            collect(stream)
    assert len(server.requests) == 1 and sleeps == []


# -- envelopes ------------------------------------------------------------------------------


def envelope(message: Any, flags: int = 0) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">BI", flags, len(body)) + body


CONNECT = "application/connect+json"


def test_envelope_stream_ends_cleanly_with_empty_end(
    transport: Callable[[Server], Transport],
) -> None:
    data = envelope({"n": [1]}) + envelope({"n": []}) + envelope({"n": [2, 3]}) + envelope({}, 0x02)
    ends: list[Mapping[str, Any]] = []
    script = [stream_head(content_type=CONNECT), chunk(data[:7]), chunk(data[7:]), LAST_CHUNK]
    with Server([script]) as server:
        parse = Flatten(lambda m: m["n"])
        stream = envelope_stream(opener(transport(server)), parse, on_end=ends.append)
        assert collect(stream) == [1, 2, 3]
    assert ends == [{}]


def test_envelope_stream_end_error_after_the_messages(
    transport: Callable[[Server], Transport],
) -> None:
    end = {"error": {"code": "not_found", "message": "mesh gone", "details": []}}
    data = envelope({"n": 1}) + envelope(end, 0x02)
    with Server([response(200, data, headers={"Content-Type": CONNECT})]) as server:
        stream = envelope_stream(opener(transport(server)), lambda m: m["n"])
        assert next(stream) == 1
        with pytest.raises(StreamError) as info:
            next(stream)
        assert str(info.value) == (
            f"GET {server.base_url}/events: stream ended with error [not_found]: mesh gone"
        )

        def on_end(payload: Mapping[str, Any]) -> None:
            raise RateLimitError(payload["error"]["message"], status_code=429)

        with pytest.raises(RateLimitError, match="mesh gone"):
            collect(envelope_stream(opener(transport(server)), lambda m: m, on_end=on_end))


def test_envelope_stream_without_end_message(transport: Callable[[Server], Transport]) -> None:
    with Server([response(200, envelope({"n": 1}) + envelope("x")[:3])]) as server:
        stream = envelope_stream(opener(transport(server)), lambda m: m)
        assert next(stream) == {"n": 1}
        with pytest.raises(StreamError, match="stream cut off inside an envelope"):
            next(stream)
    with (
        Server([response(200, envelope({"n": 1}))]) as server,
        pytest.raises(StreamError, match="ended without an end-of-stream message"),
    ):
        collect(envelope_stream(opener(transport(server)), lambda m: m))
