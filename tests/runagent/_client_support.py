"""Constants and reply builders shared by the RunAgentClient tests (shapes from the
local-server captures in reference/runagent-fixtures/)."""

from __future__ import annotations

import json
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

AGENT = "11111111-2222-3333-4444-555555555555"
HOST, PORT = "127.0.0.1", 8450
LOCAL_ROOT = f"http://{HOST}:{PORT}/api/v1"
CLOUD_ROOT = "https://backend.run-agent.ai/api/v1"
KEY = "ra-test/key+0123456789=="  # '/', '+' and '=' must be %-encoded in a WS query
BEARER = f"Bearer {KEY}"
ARCH_PATH = f"/agents/{AGENT}/architecture"
RUN_PATH = f"/agents/{AGENT}/run"
TIMESTAMP = "2026-11-23T08:13:20.439083"
REQUEST_ID = "7e8b29a8-05ed-4b6f-945d-60a1e5d6d8d1"


def structured(value: Any) -> str:
    """A value as the server sends it in `data`/`content`: `{type, payload}`, dumped twice."""
    kinds = {
        type(None): "null",
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }
    return json.dumps({"type": kinds[type(value)], "payload": json.dumps(value)})


def entrypoint(tag: str) -> dict[str, Any]:
    return {"file": "agent.py", "module": tag, "tag": tag, "extractor": {}}


def architecture(*tags: str, agent_id: str = AGENT) -> dict[str, Any]:
    """The architecture envelope the local server sends (`architecture.http`)."""
    return {
        "success": True,
        "data": {"agent_id": agent_id, "entrypoints": [entrypoint(t) for t in tags]},
        "message": "Agent architecture retrieved successfully",
        "error": None,
        "timestamp": TIMESTAMP,
        "request_id": REQUEST_ID,
    }


def run_ok(value: Any) -> dict[str, Any]:
    """A successful run envelope carrying `value` (`run_echo.http`)."""
    return {
        "success": True,
        "data": structured(value),
        "message": "Agent execution completed successfully",
        "error": None,
        "timestamp": TIMESTAMP,
        "request_id": REQUEST_ID,
    }


def failure(code: str, message: str) -> dict[str, Any]:
    """An envelope with `success:false` (`run_agent_raises.http`, `run_unknown_tag.http`)."""
    return {
        "success": False,
        "data": None,
        "message": None,
        "error": {"code": code, "message": message, "details": None, "field": None},
        "timestamp": TIMESTAMP,
        "request_id": REQUEST_ID,
    }


NOT_FOUND_DETAIL = {"detail": "Not Found"}  # Starlette's 404 for a wrong agent id


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with closing(socket.socket()) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
    return port


def make_registry(
    path: Path,
    *,
    agent_id: str = AGENT,
    host: str = HOST,
    port: int = PORT,
    status: str = "serving",
    agent_path: str = "/home/me/agents/echo",
) -> Path:
    """A registry database like the CLI's, with one row in `agents`."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE agents (agent_id VARCHAR PRIMARY KEY, agent_path VARCHAR NOT NULL, "
            "host VARCHAR NOT NULL, port INTEGER NOT NULL, framework VARCHAR, status VARCHAR)"
        )
        db.execute(
            "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?)",
            (agent_id, agent_path, host, port, "default", status),
        )
    return path
