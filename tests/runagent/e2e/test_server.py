"""The real-server fixture, proven with plain `requests` / websocket-client (no SDK).

These pin the wire facts the SDK tests rely on (reference §2, §5, §6) so a failure there
says "the server or the fixture changed", not "the client is wrong".
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.runagent.e2e._harness import (
    AGENT_ID,
    TAGS,
    LocalServer,
    registry_row,
    wait_ws_closed,
    ws_log,
)


def decode(value: str) -> Any:
    """The server's double-encoded `{type, payload}` string -> the value (reference §3)."""
    outer = json.loads(value)
    return json.loads(outer["payload"])


def test_health_is_the_agent(runagent_server: LocalServer) -> None:
    reply = requests.get(f"{runagent_server.api}/health", timeout=5)
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "healthy"
    assert body["agent_id"] == AGENT_ID
    assert body["framework"] == "default"


def test_registry_row_says_serving_at_the_real_port(runagent_server: LocalServer) -> None:
    row = registry_row(runagent_server.registry_path, AGENT_ID)
    assert row is not None
    assert row["status"] == "serving"
    assert (row["host"], row["port"]) == ("127.0.0.1", runagent_server.port)
    assert Path(row["agent_path"]).resolve() == runagent_server.agent_dir.resolve()
    assert runagent_server.registry_path.parent == runagent_server.home / ".runagent"


def test_architecture_lists_the_agent_tags(runagent_server: LocalServer) -> None:
    reply = requests.get(f"{runagent_server.api}/agents/{AGENT_ID}/architecture", timeout=5)
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True
    assert body["data"]["agent_id"] == AGENT_ID
    assert tuple(e["tag"] for e in body["data"]["entrypoints"]) == TAGS


def test_run_returns_the_double_encoded_value(runagent_server: LocalServer) -> None:
    body = {"entrypoint_tag": "add", "input_args": [2, 3], "input_kwargs": {}}
    reply = requests.post(f"{runagent_server.api}/agents/{AGENT_ID}/run", json=body, timeout=10)
    assert reply.status_code == 200
    envelope = reply.json()
    assert envelope["success"] is True
    assert json.loads(envelope["data"]) == {"type": "integer", "payload": "5"}
    assert decode(envelope["data"]) == 5


def test_raw_websocket_stream_frames(runagent_server: LocalServer) -> None:
    url = f"ws://127.0.0.1:{runagent_server.port}/api/v1/agents/{AGENT_ID}/run-stream"
    before = ws_log(runagent_server)
    ws = websocket.create_connection(url, timeout=5)
    try:
        ws.send(
            json.dumps(
                {"entrypoint_tag": "echo_stream", "input_args": ["e2e"], "input_kwargs": {"n": 2}}
            )
        )
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1].get("status") != "stream_completed":
            frames.append(json.loads(ws.recv()))
        # After stream_completed the server neither sends nor closes (reference §2.6): the
        # client must close. This is what makes a "connection closed" in its log ours.
        ws.settimeout(0.2)
        with pytest.raises(websocket.WebSocketTimeoutException):
            ws.recv()
        assert ws.connected
        assert ws_log(runagent_server) == (before[0] + 1, before[1])
    finally:
        ws.close()
    wait_ws_closed(runagent_server, before, 1)
    assert [(f["type"], f.get("status")) for f in frames] == [
        ("status", "stream_started"),
        ("data", None),
        ("data", None),
        ("status", "stream_completed"),
    ]
    assert [decode(f["content"]) for f in frames[1:3]] == ["e2e-0", "e2e-1"]
    assert frames[-1]["total_chunks"] == 2


def test_server_runs_without_an_api_key(runagent_server: LocalServer) -> None:
    """The server's environment carries no RUNAGENT_API_KEY: no cloud sync (reference §6)."""
    log = runagent_server.log.read_text(errors="replace")
    assert "No API key configured - middleware sync disabled" in log
    environ = Path(f"/proc/{runagent_server.pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert "RUNAGENT_API_KEY" not in names
    assert "RUNAGENT_BASE_URL" not in names
    assert "PYTHONPATH" not in names
    assert os.fsdecode(b"RUNAGENT_CACHE_DIR=" + bytes(runagent_server.cache_dir)) in {
        os.fsdecode(item) for item in environ
    }


def test_a_stopped_server_leaves_a_stale_serving_row(stopped_server: LocalServer) -> None:
    row = registry_row(stopped_server.registry_path, AGENT_ID)
    assert row is not None
    assert (row["status"], row["port"]) == ("serving", stopped_server.port)
    assert not Path(f"/proc/{stopped_server.pid}").exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", stopped_server.port)) != 0
