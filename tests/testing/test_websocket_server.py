"""`LoopbackServer.add_websocket_route` and `ServerWebSocket`, driven by websocket-client.

Every test talks to a real server on 127.0.0.1 with the library the SDK uses, so the
handshake, masking, fragmentation, control frames and both close handshakes are checked
against an independent implementation (plus raw sockets for what the library never sends).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket
from websocket import ABNF

from controldeck.testing import _websocket as wsmod
from controldeck.testing._server import LoopbackServer, RecordedRequest, Reply, json_reply
from controldeck.testing._websocket import (
    OP_CLOSE,
    OP_TEXT,
    ServerWebSocket,
    WebSocketClosedError,
    accept_key,
    handshake_problem,
)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def ws_url(server: LoopbackServer, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def connect(server: LoopbackServer, path: str = "/ws", **kw: Any) -> websocket.WebSocket:
    return websocket.create_connection(ws_url(server, path), timeout=2, **kw)


def echo(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
    while (message := ws.recv()) is not None:
        if isinstance(message, str):
            ws.send_text(message)
        else:
            ws.send_binary(message)


def close_code(frame_data: bytes) -> tuple[int, str]:
    code = struct.unpack("!H", frame_data[:2])[0]
    return code, frame_data[2:].decode()


# -- handshake ----------------------------------------------------------------------------


def test_accept_key_matches_rfc_6455_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_echo_text_and_binary_and_the_upgrade_request_is_recorded(
    server: LoopbackServer,
) -> None:
    seen: list[dict[str, str]] = []

    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        seen.append(params)
        echo(ws, request, params)

    server.add_websocket_route("/agents/{agent_id}/run-stream", handler)
    client = connect(server, "/agents/a%201/run-stream?x=1", header=["X-Trace: t1"])
    client.send('{"hello": "wörld"}')
    assert client.recv() == '{"hello": "wörld"}'
    client.send_binary(b"\x00\x01\xff")
    assert client.recv() == b"\x00\x01\xff"
    client.close()

    assert seen == [{"agent_id": "a 1"}]
    assert server.wait_idle()
    (request,) = server.requests
    assert (request.method, request.path, request.query) == (
        "GET",
        "/agents/a%201/run-stream",
        {"x": "1"},
    )
    assert request.headers["upgrade"].lower() == "websocket"
    assert request.headers["x-trace"] == "t1"
    assert request.body == b""
    (ws,) = server.websockets
    assert ws.request is request
    assert ws.received == ['{"hello": "wörld"}', b"\x00\x01\xff"]
    assert ws.close_code == 1000 and ws.close_received and ws.closed


def test_token_query_and_authorization_are_masked_in_the_recorded_repr(
    server: LoopbackServer,
) -> None:
    server.add_websocket_route("/s", echo)
    client = connect(
        server, "/s?token=sk-live-abcdef", header=["Authorization: Bearer sk-live-abcdef"]
    )
    client.close()
    (request,) = server.requests
    assert request.query == {"token": "sk-live-abcdef"}
    assert request.headers["authorization"] == "Bearer sk-live-abcdef"
    assert "sk-live-abcdef" not in repr(request)
    assert "sk-live-abcdef" not in repr(server.websockets[0])


def test_return_reply_before_accepting_rejects_with_status_and_body(
    server: LoopbackServer,
) -> None:
    server.add_websocket_route(
        "/agents/{agent_id}/run-stream",
        lambda ws, request, params: json_reply(403, {"detail": "nope"}),
    )
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/agents/wrong/run-stream")
    assert info.value.status_code == 403
    assert info.value.resp_body == b'{"detail":"nope"}'
    assert server.websockets[0].rejected and not server.websockets[0].accepted
    assert server.wait_idle()


def test_ws_reject_sends_a_text_body_and_extra_headers(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.reject(401, "no token", headers={"WWW-Authenticate": "Bearer"})

    server.add_websocket_route("/s", handler)
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/s")
    assert info.value.status_code == 401
    assert info.value.resp_body == b"no token"
    assert info.value.resp_headers is not None
    assert info.value.resp_headers["www-authenticate"] == "Bearer"
    assert info.value.resp_headers["content-type"] == "text/plain; charset=utf-8"


def test_fail_next_rejects_the_upgrade_like_a_proxy(server: LoopbackServer) -> None:
    server.add_websocket_route("/s", echo)
    server.fail_next(503, {"message": "busy"}, path="/s")
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/s")
    assert info.value.status_code == 503
    assert len(server.requests) == 1 and server.websockets == []
    client = connect(server, "/s")  # the failure was used up
    client.close()
    assert len(server.websockets) == 1


def test_upgrade_without_a_websocket_route_goes_to_websocket_not_found(
    server: LoopbackServer,
) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/nowhere")
    assert info.value.status_code == 404
    assert server.requests[0].path == "/nowhere"

    class Starlette(LoopbackServer):
        def websocket_not_found(self, request: RecordedRequest) -> Reply:
            return Reply(403)

    with Starlette() as other, pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(other, "/nowhere")
    assert info.value.status_code == 403


def test_invalid_handshakes_get_400_or_426(server: LoopbackServer) -> None:
    server.add_websocket_route("/s", echo)
    base = {"Upgrade": "websocket", "Connection": "Upgrade"}
    reply = requests.get(server.url + "/s", headers=base, timeout=2)
    assert reply.status_code == 400
    assert "Sec-WebSocket-Key" in reply.text
    key = base64.b64encode(os.urandom(16)).decode()
    reply = requests.get(
        server.url + "/s",
        headers={**base, "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "8"},
        timeout=2,
    )
    assert reply.status_code == 426
    assert reply.headers["Sec-WebSocket-Version"] == "13"
    assert server.websockets == []
    assert handshake_problem({"upgrade": "websocket"}) == (
        400,
        "not a WebSocket handshake: Connection: Upgrade is missing",
    )


# -- frames -------------------------------------------------------------------------------


def test_fragmented_messages_both_ways_with_a_ping_in_between(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        message = ws.recv()
        assert isinstance(message, str)
        ws.send_text(message.upper(), fragment=3)
        ws.wait_closed()

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    client.send_frame(ABNF.create_frame("hel", ABNF.OPCODE_TEXT, fin=0))
    client.send_frame(ABNF.create_frame("ping!", ABNF.OPCODE_PING))
    client.send_frame(ABNF.create_frame("lo wö".encode(), ABNF.OPCODE_CONT, fin=0))
    client.send_frame(ABNF.create_frame(b"rld", ABNF.OPCODE_CONT, fin=1))
    opcode, data = client.recv_data(control_frame=True)
    assert (opcode, data) == (ABNF.OPCODE_PONG, b"ping!")
    assert client.recv() == "HELLO WÖRLD"
    client.close()
    assert server.websockets[0].received == ["hello wörld"]


def test_server_ping_is_answered_by_the_client(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.ping(b"are you there")
        ws.send_text("pinged")
        ws.wait_closed()

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert client.recv() == "pinged"  # the client answered the ping on its way
    client.close()
    assert server.wait_idle()
    assert server.websockets[0].pongs == [b"are you there"]


def test_server_close_with_a_code_reaches_the_client_and_is_answered(
    server: LoopbackServer,
) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_text('{"type":"error","detail":"Missing required field: input_args"}')
        ws.close(1003, "unsupported")

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert json.loads(client.recv())["type"] == "error"
    opcode, data = client.recv_data()
    assert opcode == ABNF.OPCODE_CLOSE
    assert close_code(data) == (1003, "unsupported")
    client.shutdown()
    assert server.wait_idle()
    ws = server.websockets[0]
    assert ws.close_received and ws.close_code == 1000  # websocket-client answers with 1000


def test_client_close_is_echoed_at_once(server: LoopbackServer) -> None:
    server.add_websocket_route("/s", echo)
    client = connect(server, "/s")
    started = time.monotonic()
    client.close(status=1001, reason="bye")
    assert time.monotonic() - started < 0.5
    assert client.close_frame is not None
    assert close_code(client.close_frame.data) == (1001, "")
    ws = server.websockets[0]
    assert (ws.close_code, ws.close_reason) == (1001, "bye")


def test_abort_drops_tcp_without_a_close_frame(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_text("first")
        ws.abort()

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert client.recv() == "first"
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.recv()
    assert server.wait_idle()
    assert server.websockets[0].close_code is None


def test_abort_with_reset_is_an_error_on_the_client(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_text("first")
        assert ws.recv() == "ack"
        ws.abort(reset=True)

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert client.recv() == "first"
    client.send("ack")
    with pytest.raises(ConnectionResetError):
        client.recv()
    client.shutdown()
    assert server.wait_idle()


def test_handler_returning_without_touching_the_socket_accepts_and_closes(
    server: LoopbackServer,
) -> None:
    server.add_websocket_route("/s", lambda ws, request, params: None)
    client = connect(server, "/s")
    opcode, data = client.recv_data()
    assert (opcode, close_code(data)) == (ABNF.OPCODE_CLOSE, (1000, ""))
    client.shutdown()


def test_handler_errors_become_500_before_accepting_and_1011_after(
    server: LoopbackServer,
) -> None:
    def early(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        raise KeyError("oops")

    def late(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_text("hi")
        raise KeyError("late")

    server.add_websocket_route("/early", early)
    server.add_websocket_route("/late", late)
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/early")
    assert info.value.status_code == 500
    assert b"oops" in (info.value.resp_body or b"")
    client = connect(server, "/late")
    assert client.recv() == "hi"
    opcode, data = client.recv_data()
    code, reason = close_code(data)
    assert (opcode, code) == (ABNF.OPCODE_CLOSE, 1011)
    assert "late" in reason
    client.shutdown()
    assert isinstance(server.websockets[1].handler_error, KeyError)


def test_unmasked_client_frame_is_a_protocol_error(server: LoopbackServer) -> None:
    server.add_websocket_route("/s", echo)
    client = connect(server, "/s")
    assert client.sock is not None
    client.sock.sendall(b"\x81\x02hi")  # FIN + text, no mask bit
    opcode, data = client.recv_data()
    assert (opcode, close_code(data)[0]) == (ABNF.OPCODE_CLOSE, 1002)
    client.shutdown()
    assert server.wait_idle()
    assert server.websockets[0].received == []


def test_text_that_is_not_utf8_is_closed_with_1007(server: LoopbackServer) -> None:
    server.add_websocket_route("/s", echo)
    client = connect(server, "/s")
    client.send_frame(ABNF.create_frame(b"\xff\xfe", ABNF.OPCODE_TEXT))
    opcode, data = client.recv_data()
    assert (opcode, close_code(data)[0]) == (ABNF.OPCODE_CLOSE, 1007)
    client.shutdown()


def test_oversized_message_is_closed_with_1009(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wsmod, "_MAX_MESSAGE", 8)
    server.add_websocket_route("/s", echo)
    client = connect(server, "/s")
    client.send("12345")
    assert client.recv() == "12345"
    client.send_frame(ABNF.create_frame("12345", ABNF.OPCODE_TEXT, fin=0))
    client.send_frame(ABNF.create_frame(b"6789", ABNF.OPCODE_CONT, fin=1))
    opcode, data = client.recv_data()
    assert (opcode, close_code(data)[0]) == (ABNF.OPCODE_CLOSE, 1009)
    client.shutdown()


def test_server_sends_raw_frames_for_edge_cases(server: LoopbackServer) -> None:
    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_frame(OP_TEXT, b"raw")
        ws.close(4000, "custom")
        with pytest.raises(WebSocketClosedError):
            ws.send_text("too late")

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert client.recv() == "raw"
    opcode, data = client.recv_data()
    assert (opcode, close_code(data)) == (OP_CLOSE, (4000, "custom"))
    client.shutdown()
    assert server.wait_idle()
    assert server.websockets[0].handler_error is None


def test_frames_sent_right_after_the_handshake_are_not_lost(server: LoopbackServer) -> None:
    # A raw client that does not wait for 101 before its first frame: the bytes the HTTP
    # parser read ahead must reach the WebSocket.
    server.add_websocket_route("/s", echo)
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    mask = b"\x01\x02\x03\x04"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"early"))
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
        sock.sendall(handshake + b"\x81\x85" + mask + payload)
        data = b""
        while b"early" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
    head, _, frame = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in head
    assert frame == b"\x81\x05early"


# -- threads, the lock and stop() ----------------------------------------------------------


def test_handler_runs_outside_the_lock_and_other_threads_may_send(
    server: LoopbackServer,
) -> None:
    opened: queue.Queue[ServerWebSocket] = queue.Queue()

    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.accept()
        opened.put(ws)
        ws.wait_closed()  # blocks in recv for the whole test

    server.add_websocket_route("/s", handler)
    server.add_route("GET", "/ping", lambda request, params: json_reply(200, {"ok": True}))
    client = connect(server, "/s")
    ws = opened.get(timeout=2)
    assert requests.get(server.url + "/ping", timeout=2).json() == {"ok": True}
    pusher = threading.Thread(target=ws.send_text, args=("pushed",))
    pusher.start()
    pusher.join(2)
    assert client.recv() == "pushed"
    assert server.open_connections >= 1
    client.close()
    assert server.wait_idle()
    assert server.open_connections == 0


def test_stop_does_not_hang_on_an_open_websocket(server: LoopbackServer) -> None:
    results: queue.Queue[object] = queue.Queue()

    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.send_text("hello")
        results.put(ws.recv())  # blocked until stop()

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert client.recv() == "hello"
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    assert results.get(timeout=1) is None
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionResetError)):
        client.recv()
    client.shutdown()


def test_close_from_another_thread_while_the_handler_reads(server: LoopbackServer) -> None:
    opened: queue.Queue[ServerWebSocket] = queue.Queue()
    results: queue.Queue[object] = queue.Queue()

    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        ws.accept()
        opened.put(ws)
        results.put(ws.recv())

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    ws = opened.get(timeout=2)
    closer = threading.Thread(target=ws.close, args=(1001, "going away"))
    closer.start()
    opcode, data = client.recv_data()  # websocket-client answers the close frame
    assert (opcode, close_code(data)) == (ABNF.OPCODE_CLOSE, (1001, "going away"))
    closer.join(2)
    assert not closer.is_alive()
    assert results.get(timeout=1) is None
    assert ws.close_code == 1000
    client.shutdown()


def test_recv_timeout_raises_timeout_error(server: LoopbackServer) -> None:
    results: queue.Queue[object] = queue.Queue()

    def handler(ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]) -> None:
        try:
            ws.recv(0.05)
        except TimeoutError as exc:
            results.put(exc)
        results.put(ws.recv(2))
        results.put(ws.wait_closed(0.05))

    server.add_websocket_route("/s", handler)
    client = connect(server, "/s")
    assert isinstance(results.get(timeout=2), TimeoutError)
    client.send("late")
    assert results.get(timeout=2) == "late"
    assert results.get(timeout=2) is False  # still open
    client.close()
    assert server.wait_idle()
