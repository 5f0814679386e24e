"""FakeRunAgent over real loopback sockets, with plain `requests` (and `websocket-client`).

The SDK client is written in parallel, so these tests pin the wire itself against the
captures of the real local server (`runagent==0.1.49`, in tests/wire/fixtures/runagent/):
every captured HTTP reply is reproduced with the same status, content type, server header
and body text once the volatile values (timestamps, request ids, uptime, invocation ids,
execution times, ports) are replaced — after checking that each has the captured format —
and every WebSocket transcript frame for frame, including how it ends (close 1003, the
socket left open, or the handshake refused).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from controldeck.testing import FakeRunAgent
from controldeck.testing._runagent_wire import stored_output, stream_chunk, structured

AGENT_ID = "11111111-2222-3333-4444-555555555555"
A = f"/api/v1/agents/{AGENT_ID}"
TIMEOUT = 5
NOW = 1795508889.25  # 2026-11-23T...: every run of a test in the same second, as captured
JSON = {"Content-Type": "application/json"}

# -- the captures ---------------------------------------------------------------------------

FIXTURES = Path(__file__).parents[1] / "wire" / "fixtures" / "runagent"


@dataclasses.dataclass(frozen=True)
class Captured:
    status: int
    headers: dict[str, str]
    body: str


def captured(name: str) -> Captured:
    """`<name>.http`: the reply exactly as received (status line, headers, body)."""
    text = (FIXTURES / f"{name}.http").read_bytes().decode("utf-8")
    head, body = re.split(r"\r?\n\r?\n", text, maxsplit=1)  # some captures use CRLF, some LF
    status_line, *lines = re.split(r"\r?\n", head)
    headers = dict(line.split(": ", 1) for line in lines)
    return Captured(int(status_line.split()[1]), headers, body.rstrip("\r\n"))


@dataclasses.dataclass(frozen=True)
class Transcript:
    sent: str
    frames: list[str]
    end: str  # "open", "close 1003" or "reject 403"


def transcript(name: str) -> Transcript:
    """`<name>.txt`: `>>>` the frame sent, `<<<` each frame received, then how it ended."""
    lines = (FIXTURES / f"{name}.txt").read_text("utf-8").splitlines()
    sent = next(line[4:] for line in lines if line.startswith(">>> "))
    frames = [re.sub(r"  \(t\+[0-9.]+s\)$", "", ln[4:]) for ln in lines if ln.startswith("<<< ")]
    text = "\n".join(lines)
    if "connection still OPEN" in text:
        end = "open"
    elif "close code=1003" in text:
        end = "close 1003"
    else:
        assert "HTTP 403" in text, name
        end = "reject 403"
    return Transcript(sent, frames, end)


TRANSCRIPTS = sorted(p.stem for p in FIXTURES.glob("ws_*.txt"))


_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?"
# (pattern of a volatile value, what it becomes): the pattern pins the captured format.
VOLATILE = [
    (r'"timestamp":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(?:\.[0-9]{6})?"', '"timestamp":"<now>"'),
    (rf'"request_id":"{_UUID4}"', '"request_id":"<uuid4>"'),
    (rf'"invocation_id":"{_UUID4}"', '"invocation_id":"<uuid4>"'),
    (rf"Invocation {_UUID4} not found", "Invocation <uuid4> not found"),
    (
        r'"(request|response)_timestamp":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}"',
        r'"\1_timestamp":"<second>"',
    ),
    (rf'"uptime_seconds":{_NUMBER}', '"uptime_seconds":<float>'),
    (rf'"execution_time_ms":{_NUMBER}', '"execution_time_ms":<float>'),
    (rf'"avg_execution_time_ms":{_NUMBER}', '"avg_execution_time_ms":<float>'),
    (rf'"execution_time":{_NUMBER}', '"execution_time":<float>'),
    (r'"(server_port|port)":[0-9]+', r'"\1":<port>'),
]


def normalized(text: str) -> str:
    """The body with its volatile values replaced (only where they have the right format)."""
    for pattern, replacement in VOLATILE:
        text = re.sub(pattern, replacement, text)
    return text


@pytest.fixture
def fake() -> Iterator[FakeRunAgent]:
    with FakeRunAgent(clock=lambda: NOW) as server:
        yield server


def get(fake: FakeRunAgent, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(fake.url + path, timeout=TIMEOUT, **kwargs)


def post(fake: FakeRunAgent, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**JSON, **kwargs.pop("headers", {})}
    return requests.post(fake.url + path, data=data, headers=headers, timeout=TIMEOUT, **kwargs)


def run(fake: FakeRunAgent, tag: str, *args: Any, **kwargs: Any) -> requests.Response:
    body = {"entrypoint_tag": tag, "input_args": list(args), "input_kwargs": kwargs}
    return post(fake, f"{A}/run", body)


def assert_captured(response: requests.Response, name: str) -> None:
    expected = captured(name)
    assert response.status_code == expected.status, response.text
    assert response.headers["Content-Type"] == expected.headers["content-type"]
    assert response.headers["Server"] == expected.headers["server"]
    assert normalized(response.text) == normalized(expected.body)
    assert int(response.headers["Content-Length"]) == len(response.content)


# The capture session's runs, in its order (the invocation captures were taken after them).
SESSION_RUNS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        "run_echo",
        {"entrypoint_tag": "echo", "input_args": [], "input_kwargs": {"message": "hi", "times": 2}},
        {},
    ),
    ("run_add_args", {"entrypoint_tag": "add", "input_args": [2, 3], "input_kwargs": {}}, {}),
    (
        "run_greet_string",
        {
            "entrypoint_tag": "greet",
            "input_args": [],
            "input_kwargs": {"name": "bob"},
            "timeout_seconds": 300,
            "async_execution": False,
            "user_id": "u1",
            "persistent_memory": True,
        },
        {},
    ),
    (
        "run_with_auth_header",
        {"entrypoint_tag": "greet", "input_args": [], "input_kwargs": {}},
        {"Authorization": "Bearer any-key-at-all"},
    ),
    ("run_none_result", {"entrypoint_tag": "echo", "input_args": [None], "input_kwargs": {}}, {}),
    ("run_agent_raises", {"entrypoint_tag": "boom", "input_args": [], "input_kwargs": {}}, {}),
    ("run_bad_kwargs", {"entrypoint_tag": "add", "input_args": [], "input_kwargs": {"zzz": 1}}, {}),
    ("run_unknown_tag", {"entrypoint_tag": "nope", "input_args": [], "input_kwargs": {}}, {}),
    (
        "run_stream_tag_via_rest",
        {"entrypoint_tag": "echo_stream", "input_args": [], "input_kwargs": {}},
        {},
    ),
    ("run_missing_tag_422", {"input_args": []}, {}),
]


def play_session(fake: FakeRunAgent) -> None:
    for name, body, headers in SESSION_RUNS:
        assert_captured(post(fake, f"{A}/run", body, headers=headers), name)


# -- captured HTTP replies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("health", "/api/v1/health"),
        ("health_root_404", "/health"),
        ("root", "/api/v1"),
        ("architecture", f"{A}/architecture"),
        ("arch_wrong_agent", "/api/v1/agents/wrong/architecture"),
        ("invocations_wrong_agent", "/api/v1/agents/wrong/invocations"),
        ("invocations_list_bad_limit_422", f"{A}/invocations?limit=abc"),
        ("invocation_not_found", "/api/v1/invocations/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_get_replies_match_the_captures(fake: FakeRunAgent, name: str, path: str) -> None:
    assert_captured(get(fake, path), name)


@pytest.mark.parametrize(
    ("name", "body", "headers"), SESSION_RUNS, ids=[r[0] for r in SESSION_RUNS]
)
def test_run_replies_match_the_captures(
    fake: FakeRunAgent, name: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    assert_captured(post(fake, f"{A}/run", body, headers=headers), name)


def test_run_invalid_json_and_wrong_agent_match_the_captures(fake: FakeRunAgent) -> None:
    assert_captured(post(fake, f"{A}/run", b"{bad"), "run_invalid_json")
    body = {"entrypoint_tag": "echo", "input_args": [], "input_kwargs": {}}
    assert_captured(post(fake, "/api/v1/agents/wrong/run", body), "run_wrong_agent")


def test_invocation_history_matches_the_captures(fake: FakeRunAgent) -> None:
    play_session(fake)  # 7 recorded runs: 5 completed, 2 failed; rejected ones are not recorded

    listed = get(fake, f"{A}/invocations", params={"limit": "2"})
    assert_captured(listed, "invocations_list")
    assert_captured(get(fake, f"{A}/invocations?limit=1&status=failed"), "invocations_list_status")
    assert_captured(get(fake, f"{A}/invocations/stats"), "invocations_stats")
    first = listed.json()["invocations"][0]["invocation_id"]
    assert_captured(get(fake, f"/api/v1/invocations/{first}"), "invocation_detail")
    assert listed.json()["invocations"][0]["client_info"]["server_port"] == fake.port


def test_volatile_values_have_the_captured_formats(fake: FakeRunAgent) -> None:
    health = get(fake, "/api/v1/health").json()
    assert health["timestamp"] == datetime.fromtimestamp(NOW).isoformat()
    assert health["uptime_seconds"] == 0.0  # the injected clock has not moved since start()
    run(fake, "echo", "hi")
    row = get(fake, f"{A}/invocations").json()["invocations"][0]
    second = datetime.fromtimestamp(int(NOW), UTC).replace(tzinfo=None).isoformat()
    assert row["request_timestamp"] == row["response_timestamp"] == second
    assert isinstance(row["execution_time_ms"], float) and row["execution_time_ms"] >= 0
    ids = {run(fake, "greet").json()["request_id"] for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(_UUID4, i) for i in ids)


def test_the_root_reports_the_fakes_address_and_entrypoints(fake: FakeRunAgent) -> None:
    fake.add_entrypoint("shout", str.upper, file="tools.py", module="tools.shout")
    info = get(fake, "/api/v1").json()
    assert (info["host"], info["port"]) == ("127.0.0.1", fake.port)
    entry = info["config"]["agent_architecture"]["entrypoints"][-1]
    assert entry == {"file": "tools.py", "module": "tools.shout", "tag": "shout", "extractor": {}}
    assert info["message"] == f"RunAgent API - Echo Agent({AGENT_ID})"


# -- run rules beyond the captures ----------------------------------------------------------


def test_a_run_decodes_back_to_the_agents_value(fake: FakeRunAgent) -> None:
    data = run(fake, "echo", message={"nested": [1, 2.5, None]}).json()["data"]
    wrapper = json.loads(data)
    assert wrapper == {
        "type": "object",
        "payload": json.dumps({"echo": {"nested": [1, 2.5, None]}, "times": 1}),
    }
    assert json.loads(wrapper["payload"]) == {"echo": {"nested": [1, 2.5, None]}, "times": 1}


def test_custom_and_async_entrypoints(fake: FakeRunAgent) -> None:
    async def later(x: int) -> list[int]:
        await asyncio.sleep(0)
        return [x, x]

    fake.add_entrypoint("later", later)
    fake.add_entrypoint("pi", lambda: 3.5)
    assert json.loads(run(fake, "later", 4).json()["data"]) == {
        "type": "array",
        "payload": "[4, 4]",
    }
    assert json.loads(run(fake, "pi").json()["data"]) == {"type": "number", "payload": "3.5"}
    tags = [e["tag"] for e in get(fake, f"{A}/architecture").json()["data"]["entrypoints"]]
    assert tags[-2:] == ["later", "pi"]
    assert fake.entrypoints["pi"].module == "pi"  # a lambda is listed under its tag
    assert fake.entrypoints["later"].module == "later"
    fake.remove_entrypoint("pi")
    assert run(fake, "pi").status_code == 404


def test_a_fake_without_entrypoints_lists_none() -> None:
    with FakeRunAgent("agent-2", agent_name="Empty", entrypoints={}) as fake:
        reply = requests.get(f"{fake.agent_url}/architecture", timeout=TIMEOUT).json()
        assert reply["data"] == {"agent_id": "agent-2", "entrypoints": []}
        assert fake.agent_url == f"{fake.url}/api/v1/agents/agent-2"
        other = requests.get(f"{fake.url}{A}/architecture", timeout=TIMEOUT)
        assert (other.status_code, other.json()) == (404, {"detail": "Not Found"})


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (
            b"",
            "application/json",
            [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}],
        ),
        (
            b"[1]",
            "application/json",
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": [1],
                }
            ],
        ),
        (
            b'{"entrypoint_tag": "echo"}',
            "text/plain",
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": '{"entrypoint_tag": "echo"}',
                }
            ],
        ),
        (
            b'{"entrypoint_tag": 7, "input_args": "x", "input_kwargs": []}',
            "application/json; charset=utf-8",
            [
                {
                    "type": "string_type",
                    "loc": ["body", "entrypoint_tag"],
                    "msg": "Input should be a valid string",
                    "input": 7,
                },
                {
                    "type": "list_type",
                    "loc": ["body", "input_args"],
                    "msg": "Input should be a valid list",
                    "input": "x",
                },
                {
                    "type": "dict_type",
                    "loc": ["body", "input_kwargs"],
                    "msg": "Input should be a valid dictionary",
                    "input": [],
                },
            ],
        ),
    ],
    ids=["empty", "not-an-object", "not-json-content-type", "wrong-types"],
)
def test_run_bodies_fastapi_rejects(
    fake: FakeRunAgent, body: bytes, content_type: str, detail: list[Any]
) -> None:
    reply = post(fake, f"{A}/run", body, headers={"Content-Type": content_type})
    assert (reply.status_code, reply.json()) == (422, {"detail": detail})
    assert fake.invocations == {}


def test_run_without_content_type_reads_json_and_ignores_extra_keys(fake: FakeRunAgent) -> None:
    body = b'{"entrypoint_tag": "greet", "id": "run_start", "extra_params": {"a": 1}}'
    reply = requests.post(f"{fake.agent_url}/run", data=body, timeout=TIMEOUT)
    assert reply.request.headers.get("Content-Type") is None
    assert json.loads(reply.json()["data"])["payload"] == '"hello world"'


def test_a_body_that_is_not_utf8_is_the_servers_400_envelope(fake: FakeRunAgent) -> None:
    reply = post(fake, f"{A}/run", b'{"entrypoint_tag": "\xff"}')
    assert reply.status_code == 400
    assert reply.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "There was an error parsing the body",
        "details": None,
        "field": None,
    }


def test_wrong_methods_and_trailing_slashes_answer_like_starlette(fake: FakeRunAgent) -> None:
    wrong = get(fake, f"{A}/run")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method Not Allowed"})
    assert wrong.headers["allow"] == "POST"
    posted = post(fake, f"{A}/architecture", {})
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")
    slash = get(fake, "/api/v1/health/?x=1", allow_redirects=False)
    assert slash.status_code == 307
    assert slash.headers["location"] == f"{fake.url}/api/v1/health?x=1"
    assert get(fake, "/api/v1/health/").json()["status"] == "healthy"  # requests follows it
    assert get(fake, "/api/v1/nothing/").status_code == 404


def test_a_crashing_handler_is_the_servers_500_envelope(
    fake: FakeRunAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, Any]:
        raise LookupError("disk gone")

    monkeypatch.setattr(fake, "architecture", broken)
    reply = get(fake, f"{A}/architecture")
    assert reply.status_code == 500
    assert reply.json()["error"]["message"] == "Agent execution failed: disk gone"
    assert reply.json()["error"]["code"] == "INTERNAL_ERROR"


def test_the_fake_rejects_an_agent_id_that_is_not_one_path_segment() -> None:
    with pytest.raises(ValueError, match="plain path segment"):
        FakeRunAgent("a/b")
    with pytest.raises(ValueError, match="non-empty string"):
        FakeRunAgent().add_entrypoint("", print)


def test_requests_are_recorded_with_their_headers(fake: FakeRunAgent) -> None:
    run(fake, "greet", name="ann")
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"{A}/run")
    assert sent.json() == {
        "entrypoint_tag": "greet",
        "input_args": [],
        "input_kwargs": {"name": "ann"},
    }


# -- invocation history ---------------------------------------------------------------------


def test_history_is_newest_first_by_second_with_ties_in_run_order() -> None:
    now = [NOW]
    with FakeRunAgent(clock=lambda: now[0]) as fake:
        run(fake, "add", 1, 1)
        run(fake, "add", 2, 2)
        now[0] += 1
        run(fake, "add", 3, 3)
        rows = requests.get(f"{fake.agent_url}/invocations", timeout=TIMEOUT).json()
        assert [r["input_data"]["input_args"] for r in rows["invocations"]] == [
            [3, 3],
            [1, 1],
            [2, 2],
        ]
        assert rows["total_count"] == 3


def test_history_limit_and_status_filters(fake: FakeRunAgent) -> None:
    for i in range(3):
        run(fake, "add", i, 1)
    run(fake, "boom")
    listing = get(fake, f"{A}/invocations", params={"limit": " 2 "}).json()
    assert listing["total_count"] == len(listing["invocations"]) == 2
    assert get(fake, f"{A}/invocations?limit=0").json() == {
        "agent_id": AGENT_ID,
        "invocations": [],
        "total_count": 0,
    }
    assert get(fake, f"{A}/invocations?limit=-1").json()["total_count"] == 4  # SQLite: no limit
    assert get(fake, f"{A}/invocations?status=").json()["total_count"] == 4
    assert get(fake, f"{A}/invocations?status=pending").json()["total_count"] == 0
    failed = get(fake, f"{A}/invocations?status=failed").json()["invocations"]
    assert [r["entrypoint_tag"] for r in failed] == ["boom"]
    assert failed[0]["output_data"] is None
    bad = get(fake, f"{A}/invocations?limit=1.5")
    assert bad.status_code == 422 and bad.json()["detail"][0]["input"] == "1.5"


def test_a_falsy_result_is_stored_as_null_like_the_server(fake: FakeRunAgent) -> None:
    assert json.loads(run(fake, "add", 0, 0).json()["data"]) == {"type": "integer", "payload": "0"}
    (row,) = fake.invocations.values()
    assert (row["status"], row["output_data"]) == ("completed", None)


def test_stats_round_and_count(fake: FakeRunAgent) -> None:
    empty = get(fake, f"{A}/invocations/stats").json()["stats"]
    assert empty == {
        "total_invocations": 0,
        "completed_invocations": 0,
        "failed_invocations": 0,
        "pending_invocations": 0,
        "success_rate": 0,
        "avg_execution_time_ms": None,
        "agent_id": AGENT_ID,
    }
    assert '"success_rate":0,' in get(fake, f"{A}/invocations/stats").text  # an int, as sent
    run(fake, "greet")
    run(fake, "greet")
    run(fake, "boom")
    stats = get(fake, f"{A}/invocations/stats").json()["stats"]
    assert (stats["completed_invocations"], stats["failed_invocations"]) == (2, 1)
    assert stats["success_rate"] == 66.67
    times = [
        r["execution_time_ms"] for r in fake.invocations.values() if r["status"] == "completed"
    ]
    average = sum(times) / len(times)
    assert stats["avg_execution_time_ms"] == (round(average, 2) if average else None)


# -- result encoding (serializer.py) --------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model:
    def model_dump(self) -> dict[str, Any]:
        return {"kind": "model"}


class Legacy:
    def dict(self) -> dict[str, Any]:
        return {"kind": "legacy"}


class Plain:
    def __init__(self) -> None:
        self.a = 1
        self._hidden = 2


class Slotted:
    __slots__ = ("v",)

    def __init__(self) -> None:
        self.v = 1

    def __str__(self) -> str:
        return "slotted!"


@pytest.mark.parametrize(
    ("value", "kind", "payload"),
    [
        (None, "null", "null"),
        (True, "boolean", "true"),
        (5, "integer", "5"),
        (2.5, "number", "2.5"),
        (math.nan, "number", "null"),
        (math.inf, "number", '"inf"'),
        (-math.inf, "number", '"-inf"'),
        ("héllo", "string", '"héllo"'),
        ((1, (2, 3)), "array", "[1, [2, 3]]"),
        ({3}, "array", "[3]"),
        ([math.nan, {"k": math.nan}], "array", '[null, {"k": null}]'),
        (b"\x00\xff", "string", '"00ff"'),
        (datetime(2026, 1, 2, 3, 4, 5), "string", '"2026-01-02T03:04:05"'),
        (date(2026, 1, 2), "string", '"2026-01-02"'),
        (Model(), "object", '{"kind": "model"}'),
        (Legacy(), "object", '{"kind": "legacy"}'),
        (Plain(), "object", '{"a": 1, "_hidden": 2}'),
        (Point(1, 2), "object", '{"x": 1, "y": 2}'),
        (Slotted(), "string", '"slotted!"'),
        (
            {"when": datetime(2026, 1, 2), "b": b"\x01"},
            "object",
            '{"when": "2026-01-02T00:00:00", "b": "01"}',
        ),
    ],
)
def test_structured_encodes_like_serializer_py(value: Any, kind: str, payload: str) -> None:
    text = structured(value)
    assert json.loads(text) == {"type": kind, "payload": payload}
    assert text == json.dumps({"type": kind, "payload": payload}, ensure_ascii=False)


def test_a_value_that_cannot_be_encoded_is_a_serialization_error_result() -> None:
    loop = Plain()
    loop.me = loop  # type: ignore[attr-defined]
    decoded = json.loads(json.loads(structured(loop))["payload"])
    assert decoded == {
        "error": "Serialization Error: Circular reference detected",
        "original_type": f"<class '{__name__}.Plain'>",
    }
    nan_in_set = json.loads(structured({math.nan}))
    assert nan_in_set["type"] == "object"
    assert "Out of range float values" in json.loads(nan_in_set["payload"])["error"]


def test_stream_chunks_are_converted_like_socket_utils() -> None:
    assert stream_chunk(("a", [1, None])) == ["a", [1, None]]
    assert stream_chunk({"p": Plain()}) == {"p": {"a": 1}}
    assert stream_chunk(Legacy()) == {"kind": "legacy"}
    assert stream_chunk({1, 2}) == "{1, 2}"
    assert stream_chunk(b"ab") == "b'ab'"


def test_stored_output_keeps_what_the_history_shows() -> None:
    assert stored_output({"a": (1, 2)}) == (True, {"a": [1, 2]})
    assert stored_output([]) == (True, None)
    assert stored_output({1, 2}) == (True, {"type": "set", "repr": "{1, 2}", "str": "{1, 2}"})
    assert stored_output(Plain()) == (True, {"type": "Plain", "data": {"a": 1, "_hidden": 2}})


# -- the registry ---------------------------------------------------------------------------

RS_QUERY = (
    "SELECT agent_id, agent_path, host, port, framework, status FROM agents WHERE agent_id = ?"
)
TS_QUERY = "SELECT host, port, status, agent_path FROM agents WHERE agent_id = ?"


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def test_register_writes_a_registry_the_references_queries_read(
    fake: FakeRunAgent, tmp_path: Path
) -> None:
    db = fake.register(tmp_path / "cache")
    assert db == tmp_path / "cache" / "runagent_local.db"
    with _read_only(db) as conn:
        row = conn.execute(RS_QUERY, (AGENT_ID,)).fetchone()
        assert row == (
            AGENT_ID,
            f"/fake-runagent/{AGENT_ID}",
            "127.0.0.1",
            fake.port,
            "default",
            "serving",
        )
        assert conn.execute(TS_QUERY, (AGENT_ID,)).fetchone() == (
            "127.0.0.1",
            fake.port,
            "serving",
            f"/fake-runagent/{AGENT_ID}",
        )
        columns = [c[1] for c in conn.execute("PRAGMA table_info(agents)")]
    assert columns[:6] == ["agent_id", "agent_path", "host", "port", "framework", "status"]
    assert {"remote_status", "is_local", "run_count", "agent_name", "project_id"} <= set(columns)


def test_register_replaces_the_row_and_models_a_stale_one(
    fake: FakeRunAgent, tmp_path: Path
) -> None:
    path = tmp_path / "registry.db"
    fake.register(path)
    assert (
        fake.register(path, status="initialized", host="localhost", port=8000, agent_path="/srv/a")
        == path
    )
    with FakeRunAgent("other-agent") as other:
        other.register(path)
        with _read_only(path) as conn:
            assert conn.execute(TS_QUERY, (AGENT_ID,)).fetchall() == [
                ("localhost", 8000, "initialized", "/srv/a")
            ]
            assert conn.execute(TS_QUERY, ("other-agent",)).fetchone()[:3] == (
                "127.0.0.1",
                other.port,
                "serving",
            )


def test_register_needs_a_port_when_the_fake_is_not_running(tmp_path: Path) -> None:
    fake = FakeRunAgent()
    with pytest.raises(RuntimeError, match="not running"):
        fake.register(tmp_path)
    db = fake.register(tmp_path, port=8450)
    with _read_only(db) as conn:
        assert conn.execute(TS_QUERY, (AGENT_ID,)).fetchone()[:3] == ("127.0.0.1", 8450, "serving")


# -- the WebSocket run-stream ---------------------------------------------------------------


def open_stream(fake: FakeRunAgent, agent_id: str = AGENT_ID) -> websocket.WebSocket:
    url = f"ws://127.0.0.1:{fake.port}/api/v1/agents/{agent_id}/run-stream"
    return websocket.create_connection(url, timeout=TIMEOUT)


def start(fake: FakeRunAgent, tag: str, *args: Any, **kwargs: Any) -> websocket.WebSocket:
    ws = open_stream(fake)
    ws.send(json.dumps({"entrypoint_tag": tag, "input_args": list(args), "input_kwargs": kwargs}))
    return ws


def stays_open(ws: websocket.WebSocket) -> bool:
    """No frame within 0.2 s, and the connection is still up."""
    ws.settimeout(0.2)
    try:
        ws.recv()
    except websocket.WebSocketTimeoutException:
        return ws.connected
    return False


def close_code(ws: websocket.WebSocket) -> int:
    """The code of the close frame the server sends next (fails on any other frame)."""
    opcode, frame = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE, frame.data
    return int.from_bytes(frame.data[:2], "big")


def done(ws: websocket.WebSocket) -> None:
    """Close the client side (a close handshake when still connected) and its socket."""
    ws.close(timeout=1)
    ws.shutdown()


def frames_until_quiet(ws: websocket.WebSocket, n: int) -> list[str]:
    return [ws.recv() for _ in range(n)]


STREAM_CAPTURES = [name for name in TRANSCRIPTS if name != "ws_stream_wrong_agent"]


def test_every_capture_is_replayed() -> None:
    assert len(STREAM_CAPTURES) == 8
    http = {p.stem for p in FIXTURES.glob("*.http")} - {"openapi"}
    replayed = {
        "health", "health_root_404", "root", "architecture", "arch_wrong_agent",
        "invocations_wrong_agent", "invocations_list_bad_limit_422", "invocation_not_found",
        "run_invalid_json", "run_wrong_agent", "invocations_list", "invocations_list_status",
        "invocations_stats", "invocation_detail", *(run[0] for run in SESSION_RUNS),
    }  # fmt: skip
    assert http == replayed


@pytest.mark.parametrize("name", STREAM_CAPTURES)
def test_stream_transcripts_are_reproduced_frame_for_frame(fake: FakeRunAgent, name: str) -> None:
    sent, frames, end = dataclasses.astuple(transcript(name))
    ws = open_stream(fake)
    try:
        ws.send(sent)
        received = frames_until_quiet(ws, len(frames))
        assert [normalized(f) for f in received] == [normalized(f) for f in frames]
        if end == "open":
            assert stays_open(ws)
        else:
            assert end == "close 1003"
            assert close_code(ws) == 1003
    finally:
        done(ws)
    assert fake.stream_messages == [sent]


def test_a_stream_on_another_agent_is_refused_with_403(fake: FakeRunAgent) -> None:
    assert transcript("ws_stream_wrong_agent").end == "reject 403"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_stream(fake, "wrong")
    assert refused.value.status_code == 403
    assert fake.requests[-1].path == "/api/v1/agents/wrong/run-stream"
    with pytest.raises(websocket.WebSocketBadStatusException) as other:
        websocket.create_connection(f"ws://127.0.0.1:{fake.port}/api/v1/health", timeout=TIMEOUT)
    assert other.value.status_code == 403
    assert get(fake, f"{A}/run-stream").status_code == 404  # no upgrade: no route


def test_the_ids_in_a_stream_are_its_invocation(fake: FakeRunAgent) -> None:
    ws = start(fake, "echo_stream", "yo", n=2)
    started, *_, completed = (json.loads(f) for f in frames_until_quiet(ws, 4))
    done(ws)
    invocation_id = started["invocation_id"]
    assert completed["invocation_id"] == invocation_id
    assert completed["total_chunks"] == 2 and isinstance(completed["execution_time"], float)
    assert fake.wait_idle()
    row = get(fake, f"/api/v1/invocations/{invocation_id}").json()
    assert row["status"] == "completed"
    assert (row["sdk_type"], row["client_info"]) == (
        "websocket_stream",
        {"connection_type": "websocket", "stream_mode": True},
    )
    assert row["input_data"] == {"input_args": ["yo"], "input_kwargs": {"n": 2}}
    output = row["output_data"]
    assert output["sample_chunks"] == ["yo-0", "yo-1"]
    assert output["chunk_summary"] == {
        "total_chunks": 2,
        "stored_samples": 2,
        "stream_type": "websocket",
    }
    assert (output["stream_completed"], output["total_chunks"], output["execution_type"]) == (
        True,
        2,
        "streaming",
    )
    assert row["execution_time_ms"] == pytest.approx(output["execution_time_seconds"] * 1000)


def test_a_failed_stream_is_a_failed_invocation(fake: FakeRunAgent) -> None:
    ws = start(fake, "boom_stream")
    frames_until_quiet(ws, 3)
    done(ws)
    (row,) = fake.invocations.values()
    assert (row["status"], row["error_detail"]) == ("failed", "Streaming error: stream kaboom")
    assert row["output_data"] is None


def test_the_runtime_error_frame_escapes_like_json_dumps(fake: FakeRunAgent) -> None:
    def bad_stream(word: str) -> Iterator[str]:
        yield word
        raise ValueError(f"no {word}")

    fake.add_entrypoint("bad_stream", bad_stream)
    ws = start(fake, "bad_stream", "héllo")
    frames = frames_until_quiet(ws, 3)
    done(ws)
    assert json.loads(json.loads(frames[1])["content"]) == {"type": "string", "payload": '"héllo"'}
    assert "héllo" in frames[1]  # send_json keeps non-ASCII text
    assert frames[2] == '{"type": "error", "error": "Streaming error: no h\\u00e9llo"}'


def test_stream_chunks_of_every_kind(fake: FakeRunAgent) -> None:
    async def mixed_stream() -> Any:
        yield {"n": 1, "tags": ("a", "b")}
        await asyncio.sleep(0)
        yield Plain()
        yield {1}
        yield None

    fake.add_entrypoint("mixed_stream", mixed_stream)
    ws = start(fake, "mixed_stream")
    frames = [json.loads(f) for f in frames_until_quiet(ws, 6)]
    done(ws)
    contents = [json.loads(f["content"]) for f in frames[1:5]]
    assert contents == [
        {"type": "object", "payload": '{"n": 1, "tags": ["a", "b"]}'},
        {"type": "object", "payload": '{"a": 1}'},
        {"type": "string", "payload": '"{1}"'},
        {"type": "null", "payload": "null"},
    ]
    assert frames[5]["total_chunks"] == 4


def test_a_stream_entrypoint_returning_an_iterable(fake: FakeRunAgent) -> None:
    fake.add_entrypoint("count_stream", lambda n: range(n))
    ws = start(fake, "count_stream", 2)
    frames = [json.loads(f) for f in frames_until_quiet(ws, 4)]
    done(ws)
    assert [json.loads(f["content"])["payload"] for f in frames[1:3]] == ["0", "1"]
    assert fake.entrypoints["count_stream"].module == "count_stream"


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ("[]", "Missing required field: entrypoint_tag"),
        (
            '{"entrypoint_tag": "echo_stream", "input_args": []}',
            "Missing required field: input_kwargs",
        ),
        ('{"entrypoint_tag": 5, "input_args": [], "input_kwargs": {}}', "Entrypoint 5 not found"),
    ],
)
def test_more_pre_start_errors_close_1003(fake: FakeRunAgent, message: str, detail: str) -> None:
    ws = open_stream(fake)
    ws.send(message)
    assert json.loads(ws.recv()) == {"type": "error", "detail": detail}
    assert close_code(ws) == 1003
    done(ws)
    assert fake.invocations == {}


@pytest.mark.parametrize(
    "message", ["5", '{"entrypoint_tag": ["x"], "input_args": [], "input_kwargs": {}}']
)
def test_a_start_message_the_server_chokes_on_ends_without_a_frame(
    fake: FakeRunAgent, message: str
) -> None:
    ws = open_stream(fake)
    ws.send(message)
    assert close_code(ws) == 1000
    done(ws)


def test_a_binary_start_message_ends_the_socket(fake: FakeRunAgent) -> None:
    ws = open_stream(fake)
    ws.send_binary(b"\x00")
    assert close_code(ws) == 1000
    done(ws)
    assert fake.stream_messages == []


# -- stream test hooks ----------------------------------------------------------------------


def test_close_after_drops_the_connection_mid_stream(fake: FakeRunAgent) -> None:
    fake.close_after(2)
    ws = start(fake, "echo_stream", "hi", n=3)
    assert json.loads(ws.recv())["status"] == "stream_started"
    assert json.loads(ws.recv())["type"] == "data"
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()
    done(ws)
    (row,) = fake.invocations.values()
    assert (row["status"], row["error_detail"], row["execution_time_ms"]) == (
        "failed",
        "WebSocket disconnected",
        0,
    )


def test_close_after_with_a_code_sends_a_close_frame(fake: FakeRunAgent) -> None:
    fake.close_after(1, 1011)
    ws = start(fake, "echo_stream", "hi")
    assert json.loads(ws.recv())["status"] == "stream_started"
    assert close_code(ws) == 1011
    done(ws)


def test_close_after_zero_with_a_reset(fake: FakeRunAgent) -> None:
    fake.close_after(0, reset=True)
    ws = start(fake, "echo_stream", "hi")
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionResetError)):
        ws.recv()
    done(ws)
    assert fake.invocations == {}  # it ended before the stream started
    assert (
        fake.stream_messages
        and json.loads(fake.stream_messages[0])["entrypoint_tag"] == "echo_stream"
    )


def test_plans_queue_and_a_plan_past_the_end_changes_nothing(fake: FakeRunAgent) -> None:
    fake.close_after(50, 1011)
    fake.close_after(1, 1001)
    ws = start(fake, "echo_stream", "a", n=1)
    assert len(frames_until_quiet(ws, 3)) == 3 and stays_open(ws)
    done(ws)
    second = start(fake, "echo_stream", "b", n=1)
    second.recv()
    assert close_code(second) == 1001
    done(second)
    with pytest.raises(ValueError, match="0 or more"):
        fake.stall(-1)


def test_stall_keeps_a_stream_silent_and_pending(fake: FakeRunAgent) -> None:
    fake.stall(1)
    ws = start(fake, "echo_stream", "hi")
    assert json.loads(ws.recv())["status"] == "stream_started"
    assert stays_open(ws)
    stats = get(fake, f"{A}/invocations/stats").json()["stats"]
    assert (stats["pending_invocations"], stats["total_invocations"]) == (1, 1)
    assert get(fake, f"{A}/invocations?status=pending").json()["total_count"] == 1
    done(ws)
    assert fake.wait_idle()
    (row,) = fake.invocations.values()
    assert (row["status"], row["error_detail"]) == ("failed", "WebSocket disconnected")


def test_stall_from_the_first_frame(fake: FakeRunAgent) -> None:
    fake.stall()
    ws = start(fake, "echo_stream", "hi")
    assert stays_open(ws)
    done(ws)


def test_the_client_closing_after_completion_is_seen_by_the_server(fake: FakeRunAgent) -> None:
    ws = start(fake, "echo_stream", "hi", n=1)
    frames_until_quiet(ws, 3)
    done(ws)
    assert fake.wait_idle()
    assert fake.websockets[-1].close_code == 1000
    assert next(iter(fake.invocations.values()))["status"] == "completed"


def test_a_handshake_failure_can_be_injected(fake: FakeRunAgent) -> None:
    fake.fail_next(401, {"detail": "Invalid token"}, path=r".*/run-stream")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_stream(fake)
    assert refused.value.status_code == 401
    ws = start(fake, "echo_stream", "ok", n=1)
    assert len(frames_until_quiet(ws, 3)) == 3
    done(ws)


def test_stopping_the_fake_with_open_streams_does_not_hang() -> None:
    fake = FakeRunAgent().start()
    fake.stall()
    quiet = start(fake, "echo_stream", "x")
    finished = start(fake, "echo_stream", "y", n=1)
    frames_until_quiet(finished, 3)
    fake.stop()
    for ws in (quiet, finished):
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            ws.recv()
        done(ws)
