"""`websocket_stream` against a real WebSocket server on 127.0.0.1 (`LoopbackServer`).

Each test scripts the server side (frames, then a close, an abort, or silence) and checks
what the caller gets: items, the controldeck error and its message, and what the server
saw (the start message, the handshake headers, the close frame, no connection left open).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controldeck._core import _websocket as wsmod
from controldeck._core._streams import Stream
from controldeck._core._websocket import END, EndType, websocket_stream
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    StreamError,
)
from controldeck.testing._server import LoopbackServer, RecordedRequest, Reply, json_reply
from controldeck.testing._websocket import ServerWebSocket

TOKEN = "sk-live-0123456789abcdef"
PATH = "/api/v1/agents/a1/run-stream"
START = '{"entrypoint_tag": "echo_stream", "input_args": ["hi"], "input_kwargs": {"n": 3}}'
STARTED = '{"type":"status","status":"stream_started","invocation_id":"i1"}'
COMPLETED = '{"type":"status","status":"stream_completed","total_chunks":3}'


def data(content: str) -> str:
    return json.dumps({"type": "data", "content": content})


def parse(text: str) -> str | EndType | None:
    """A RunAgent-like parser: status frames skipped, completed ends, data yields content."""
    frame = json.loads(text)
    if frame["type"] == "status":
        return END if frame["status"] == "stream_completed" else None
    if frame["type"] == "error":
        raise StreamError(f"stream error: {frame['error']}", code="STREAM_ERROR")
    return str(frame["content"])


Action = Callable[[ServerWebSocket], None]


def wait_for_client(ws: ServerWebSocket) -> None:
    ws.wait_closed(5.0)  # the RunAgent server never closes on its own


def scripted(*frames: str | bytes, then: Action = wait_for_client) -> Any:
    """A handler that reads the start message, sends `frames`, then does `then`."""

    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.recv(5.0)
        for frame in frames:
            if isinstance(frame, bytes):
                ws.send_binary(frame)
            else:
                ws.send_text(frame)
        then(ws)

    return handler


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv
        assert srv.wait_idle(2.0), "a connection was left open"


def url_of(server: LoopbackServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}{PATH}{query}"


def open_stream(server: LoopbackServer, query: str = "", **kw: Any) -> Stream[str]:
    kw.setdefault("send", START)
    kw.setdefault("connect_timeout", 2.0)
    kw.setdefault("idle_timeout", 2.0)
    return websocket_stream(url_of(server, query), kw.pop("parse", parse), **kw)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the happy path -----------------------------------------------------------------------


def test_items_in_order_skip_none_and_end_closes_with_a_close_frame(
    server: LoopbackServer,
) -> None:
    server.add_websocket_route(
        PATH,
        scripted(
            STARTED,
            data("hi-0"),
            '{"type":"status","status":"stream_progress"}',
            data("hi-1"),
            data("hi-2"),
            COMPLETED,
            data("after the end"),
        ),
    )
    stream = open_stream(
        server, headers={"Authorization": "Bearer k"}, user_agent="controldeck-test/1"
    )
    assert list(stream) == ["hi-0", "hi-1", "hi-2"]
    assert stream.closed
    assert server.wait_idle()
    (ws,) = server.websockets
    assert ws.received == [START]  # exactly the first message, nothing else
    assert ws.close_received and ws.close_code == 1000
    request = server.requests[0]
    assert (request.method, request.path, request.query) == ("GET", PATH, {})
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["user-agent"] == "controldeck-test/1"
    assert "origin" not in request.headers


def test_without_send_nothing_is_sent_and_binary_frames_are_skipped(
    server: LoopbackServer,
) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_binary(b"\x00\x01")
        ws.send_text(data("a"))
        ws.send_binary(b"")
        ws.send_text(data("b" * 50), fragment=7)  # a fragmented message is one frame
        ws.ping(b"still there?")
        ws.send_text(COMPLETED)
        ws.wait_closed(5.0)

    server.add_websocket_route(PATH, handler)
    with open_stream(server, send=None) as stream:
        assert list(stream) == ["a", "b" * 50]
    assert server.wait_idle()
    ws = server.websockets[0]
    assert ws.received == []
    assert ws.pongs == [b"still there?"]


def test_stream_in_a_with_block_closes_when_the_block_is_left(server: LoopbackServer) -> None:
    server.add_websocket_route(PATH, scripted(data("one"), data("two")))
    with open_stream(server) as stream:
        assert next(stream) == "one"
    assert stream.closed
    assert list(stream) == []
    assert server.wait_idle()
    assert server.websockets[0].close_code == 1000


def test_caller_close_mid_stream_sends_a_close_frame_once(server: LoopbackServer) -> None:
    server.add_websocket_route(PATH, scripted(data("one"), data("two")))
    stream = open_stream(server)
    assert next(stream) == "one"
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < 0.5  # the server answered the close at once
    stream.close()  # idempotent
    with pytest.raises(StopIteration):
        next(stream)
    assert server.wait_idle()
    assert server.websockets[0].close_code == 1000


def test_close_does_not_hang_when_the_server_never_answers(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wsmod, "CLOSE_TIMEOUT", 0.1)
    release = threading.Event()

    def deaf(ws: ServerWebSocket) -> None:
        release.wait(5.0)  # reads nothing: the close frame is never answered

    server.add_websocket_route(PATH, scripted(data("one"), then=deaf))
    stream = open_stream(server)
    assert next(stream) == "one"
    started = time.monotonic()
    stream.close()
    elapsed = time.monotonic() - started
    release.set()
    assert 0.1 <= elapsed < 0.5


def test_keyboard_interrupt_in_parse_closes_the_socket(server: LoopbackServer) -> None:
    def interrupted(text: str) -> str:
        raise KeyboardInterrupt

    server.add_websocket_route(PATH, scripted(data("one")))
    stream = open_stream(server, parse=interrupted)
    with pytest.raises(KeyboardInterrupt):
        next(stream)
    assert stream.closed
    assert server.wait_idle()
    assert server.websockets[0].close_code == 1000


# -- errors while iterating ---------------------------------------------------------------


def test_error_from_parse_ends_the_stream_and_closes(server: LoopbackServer) -> None:
    server.add_websocket_route(
        PATH,
        scripted(data("first"), '{"type": "error", "error": "Streaming error: kaboom"}'),
    )
    stream = open_stream(server)
    assert next(stream) == "first"
    with pytest.raises(StreamError) as info:
        next(stream)
    assert str(info.value) == "stream error: Streaming error: kaboom"
    assert info.value.code == "STREAM_ERROR"
    assert stream.closed
    assert server.wait_idle()
    assert server.websockets[0].close_code == 1000


def test_foreign_error_from_parse_is_a_stream_error_with_an_excerpt(
    server: LoopbackServer,
) -> None:
    server.add_websocket_route(PATH, scripted('{"type": "data"}'))
    with pytest.raises(StreamError) as info:
        list(open_stream(server))
    message = str(info.value)
    assert message.startswith(f"WebSocket ws://127.0.0.1:{server.port}{PATH}: could not read")
    assert "KeyError: 'content'" in message
    assert '{"type": "data"}' in message
    assert isinstance(info.value.__cause__, KeyError)


def test_text_frame_that_is_not_utf8_is_a_stream_error(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.recv(5.0)
        ws.send_frame(0x1, b"\xff\xfe")
        ws.wait_closed(5.0)

    server.add_websocket_route(PATH, handler)
    with pytest.raises(StreamError, match="a text frame is not UTF-8"):
        list(open_stream(server))


def test_idle_timeout_raises_api_timeout_error_naming_the_seconds(
    server: LoopbackServer,
) -> None:
    server.add_websocket_route(PATH, scripted(STARTED, data("one")))
    stream = open_stream(server, idle_timeout=0.2)
    assert next(stream) == "one"
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        next(stream)
    assert 0.2 <= time.monotonic() - started < 1.5
    assert str(info.value) == (
        f"WebSocket ws://127.0.0.1:{server.port}{PATH}: no frame arrived for 0.2 s "
        "(idle timeout). Pass a longer idle timeout to wait longer."
    )
    assert info.value.url == f"ws://127.0.0.1:{server.port}{PATH}"
    assert stream.closed
    assert server.wait_idle()
    assert server.websockets[0].close_code == 1000


def test_close_1003_mid_stream_is_a_stream_error_with_the_code(server: LoopbackServer) -> None:
    server.add_websocket_route(
        PATH, scripted(data("one"), then=lambda ws: ws.close(1003, "unsupported data"))
    )
    stream = open_stream(server)
    assert next(stream) == "one"
    with pytest.raises(StreamError) as info:
        next(stream)
    assert str(info.value) == (
        f"WebSocket ws://127.0.0.1:{server.port}{PATH}: the server closed the connection "
        "(code 1003: unsupported data) before the stream ended"
    )
    assert info.value.details == {"close_code": 1003, "reason": "unsupported data"}
    assert server.wait_idle()
    assert server.websockets[0].close_code == 1000  # the client answered the close


def test_close_without_a_code_is_1005(server: LoopbackServer) -> None:
    server.add_websocket_route(
        PATH, scripted(then=lambda ws: (ws.send_frame(0x8, b""), ws.wait_closed(5.0)))
    )
    with pytest.raises(StreamError, match=r"\(code 1005\) before the stream ended") as info:
        list(open_stream(server))
    assert info.value.details == {"close_code": 1005, "reason": ""}


def test_abrupt_tcp_drop_mid_stream_is_a_stream_error_1006(server: LoopbackServer) -> None:
    server.add_websocket_route(PATH, scripted(data("one"), then=lambda ws: ws.abort()))
    stream = open_stream(server)
    assert next(stream) == "one"
    with pytest.raises(StreamError) as info:
        next(stream)
    assert "without a close frame (code 1006) before the stream ended" in str(info.value)
    assert info.value.details == {"close_code": 1006, "reason": ""}
    assert stream.closed


def test_reset_mid_stream_is_a_connection_error(server: LoopbackServer) -> None:
    def reset(ws: ServerWebSocket) -> None:
        ws.abort(reset=True)

    server.add_websocket_route(PATH, scripted(data("one"), then=reset))
    stream = open_stream(server)
    assert next(stream) == "one"
    with pytest.raises(APIConnectionError) as info:
        next(stream)
    assert not isinstance(info.value, APITimeoutError)
    assert "connection dropped mid-stream" in str(info.value)
    assert isinstance(info.value.cause, ConnectionResetError)


# -- errors while opening -----------------------------------------------------------------


def test_connect_refused_is_a_connection_error_with_the_root_cause() -> None:
    port = closed_port()
    url = f"ws://127.0.0.1:{port}{PATH}?token={TOKEN}"
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as info:
        websocket_stream(url, parse, connect_timeout=2, idle_timeout=2, secrets=[TOKEN])
    assert time.monotonic() - started < 1.0
    error = info.value
    assert not isinstance(error, APITimeoutError)
    assert str(error).startswith(f"WebSocket ws://127.0.0.1:{port}{PATH}: could not connect (")
    assert "refused" in str(error).lower()
    assert isinstance(error.cause, ConnectionRefusedError)
    assert (error.method, error.url) == ("GET", f"ws://127.0.0.1:{port}{PATH}")
    assert "token" not in str(error)


def test_connect_timeout_when_the_handshake_is_never_answered() -> None:
    with socket.socket() as listener:  # accepts TCP (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            websocket_stream(f"ws://127.0.0.1:{port}/x", parse, connect_timeout=0.2, idle_timeout=5)
        assert 0.2 <= time.monotonic() - started < 1.5
    assert str(info.value) == (
        f"WebSocket ws://127.0.0.1:{port}/x: timed out after 0.2 s (connect timeout: "
        "TCP connect, handshake and first message). Pass a longer connect timeout to "
        "wait longer."
    )


def test_handshake_403_with_a_body_is_permission_denied(server: LoopbackServer) -> None:
    server.add_websocket_route(
        PATH,
        lambda ws, request, params: json_reply(
            403, {"detail": "agent not found"}, headers={"x-request-id": "req-9"}
        ),
    )
    with pytest.raises(PermissionDeniedError) as info:
        open_stream(server)
    error = info.value
    assert error.status_code == 403
    assert error.message == "agent not found"
    assert error.body_excerpt == '{"detail": "agent not found"}'
    assert error.request_id == "req-9"
    assert server.websockets[0].rejected


def test_handshake_rejected_without_a_body_names_the_url(server: LoopbackServer) -> None:
    server.add_websocket_route(PATH, lambda ws, request, params: Reply(404))
    with pytest.raises(NotFoundError) as info:
        open_stream(server, query=f"?token={TOKEN}")
    assert str(info.value).startswith(
        f"HTTP 404: Not Found (WebSocket handshake to ws://127.0.0.1:{server.port}{PATH})"
    )
    assert info.value.body_excerpt == ""
    assert TOKEN not in str(info.value)


def test_redirect_is_not_followed(server: LoopbackServer) -> None:
    server.add_websocket_route(
        PATH,
        lambda ws, request, params: Reply(
            302, headers={"Location": f"ws://elsewhere.invalid/x?token={TOKEN}"}
        ),
    )
    with pytest.raises(APIStatusError) as info:
        open_stream(server, headers={"Authorization": f"Bearer {TOKEN}"}, secrets=[TOKEN])
    assert info.value.status_code == 302
    assert "ws://elsewhere.invalid/x" in str(info.value)
    assert "not followed" in str(info.value)
    assert TOKEN not in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("url", "kw", "message"),
    [
        ("http://127.0.0.1:1/x?token=abc", {}, "url must be a ws:// or wss:// URL"),
        ("ws://127.0.0.1:1/x", {"idle_timeout": 0}, "idle_timeout must be a positive number"),
        ("ws://127.0.0.1:1/x", {"connect_timeout": True}, "connect_timeout must be a positive"),
        ("ws://127.0.0.1:1/x", {"idle_timeout": float("inf")}, "idle_timeout must be"),
    ],
)
def test_bad_arguments_raise_before_connecting(url: str, kw: dict[str, Any], message: str) -> None:
    kw = {"connect_timeout": 1, "idle_timeout": 1, **kw}
    with pytest.raises(InvalidArgumentError, match=message) as info:
        websocket_stream(url, parse, **kw)
    assert "abc" not in str(info.value)


# -- secrets, mapping, leaks --------------------------------------------------------------


def test_secrets_and_the_token_query_never_reach_messages_or_logs(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, websocket-client's too
    server.add_websocket_route(
        PATH, scripted(json.dumps({"type": "data", "note": f"echo {TOKEN}"}))
    )
    query = f"?token={TOKEN}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(StreamError) as info:
        list(open_stream(server, query, headers=headers, secrets=[TOKEN]))
    assert TOKEN not in str(info.value) and "<redacted>" in str(info.value)
    assert "token=" not in str(info.value)

    server.add_websocket_route(
        "/denied", lambda ws, request, params: json_reply(401, {"detail": f"bad key {TOKEN}"})
    )
    with pytest.raises(APIStatusError) as denied:
        websocket_stream(
            f"ws://127.0.0.1:{server.port}/denied{query}",
            parse,
            headers=headers,
            connect_timeout=2,
            idle_timeout=2,
            secrets=[TOKEN],
        )
    assert TOKEN not in str(denied.value) and TOKEN not in denied.value.body_excerpt

    assert server.requests[0].query == {"token": TOKEN}  # it was sent
    messages = [record.getMessage() for record in caplog.records]
    assert any("connecting" in m for m in messages)
    assert any(m.endswith(": closed") for m in messages)
    assert all(TOKEN not in m and "token=" not in m for m in messages)


def test_map_error_applies_to_open_and_iteration_and_parse_errors(
    server: LoopbackServer,
) -> None:
    class PlatformError(ControlDeckError):
        def __init__(self, original: ControlDeckError) -> None:
            super().__init__(f"platform: {original}")
            self.original = original

    def map_error(error: ControlDeckError) -> ControlDeckError:
        return error if isinstance(error, PlatformError) else PlatformError(error)

    with pytest.raises(PlatformError) as opened:
        websocket_stream(
            f"ws://127.0.0.1:{closed_port()}/x",
            parse,
            connect_timeout=1,
            idle_timeout=1,
            map_error=map_error,
        )
    assert isinstance(opened.value.original, APIConnectionError)

    server.add_websocket_route(PATH, scripted(data("one"), then=lambda ws: ws.close(1003)))
    stream = open_stream(server, map_error=map_error)
    assert next(stream) == "one"
    with pytest.raises(PlatformError) as iterated:
        next(stream)
    assert isinstance(iterated.value.original, StreamError)
    assert iterated.value.original.details == {"close_code": 1003, "reason": ""}

    server.add_websocket_route("/err", scripted('{"type": "error", "error": "x"}'))
    with pytest.raises(PlatformError) as parsed:
        list(
            websocket_stream(
                f"ws://127.0.0.1:{server.port}/err",
                parse,
                send=START,
                connect_timeout=2,
                idle_timeout=2,
                map_error=map_error,
            )
        )
    assert isinstance(parsed.value.original, StreamError)
    assert isinstance(parsed.value.__cause__, StreamError)


def test_no_connection_is_left_open_after_many_streams(server: LoopbackServer) -> None:
    server.add_websocket_route(PATH, scripted(data("one"), COMPLETED))
    threads_before = threading.active_count()
    for _ in range(5):
        assert list(open_stream(server)) == ["one"]
        with open_stream(server) as stream:
            next(stream)
    assert server.wait_idle()
    assert server.open_connections == 0
    assert len(server.websockets) == 10
    assert all(ws.close_code == 1000 for ws in server.websockets)
    assert threading.active_count() <= threads_before


def test_importing_controldeck_does_not_load_websocket_client() -> None:
    code = (
        "import sys, controldeck, controldeck._core._websocket; print('websocket' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
