"""FakeRunAgent over real loopback sockets, with plain `requests` (and `websocket-client`).

The SDK client is written in parallel, so these tests pin the wire itself against the
captures of the real local server (`runagent==0.1.49`, shared/reference/runagent-fixtures/,
embedded below so a fresh clone needs nothing else): every captured reply is reproduced
with the same status, content type and body text once the volatile values (timestamps,
request ids, uptime, invocation ids, execution times, ports) are replaced — after checking
that each has the captured format.
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

from controldeck.testing import FakeRunAgent
from controldeck.testing._runagent_wire import stored_output, stream_chunk, structured

AGENT_ID = "11111111-2222-3333-4444-555555555555"
A = f"/api/v1/agents/{AGENT_ID}"
TIMEOUT = 5
NOW = 1795508889.25  # 2026-11-23T...: every run of a test in the same second, as captured
JSON = {"Content-Type": "application/json"}

# -- the captures ---------------------------------------------------------------------------

CAPTURED: dict[str, tuple[int, str]] = {
    "arch_wrong_agent": (
        404,
        '{"detail":"Not Found"}',
    ),
    "architecture": (
        200,
        (
            '{"success":true,"data":{"agent_id":"11111111-2222-3333-4444-555555555555","entrypoints'
            '":[{"file":"agent.py","module":"echo","tag":"echo","extractor":{}},{"file":"agent.py",'
            '"module":"add","tag":"add","extractor":{}},{"file":"agent.py","module":"greet","tag":"'
            'greet","extractor":{}},{"file":"agent.py","module":"echo_stream","tag":"echo_stream","'
            'extractor":{}},{"file":"agent.py","module":"boom","tag":"boom","extractor":{}},{"file"'
            ':"agent.py","module":"boom_stream","tag":"boom_stream","extractor":{}}]},"message":"Ag'
            'ent architecture retrieved successfully","error":null,"timestamp":"2026-11-23T08:13:20'
            '.439083","request_id":"7e8b29a8-05ed-4b6f-945d-60a1e5d6d8d1"}'
        ),
    ),
    "health": (
        200,
        (
            '{"status":"healthy","server":"RunAgent FastAPI Local Server","timestamp":"2026-11-23T0'
            '8:13:20.409458","uptime_seconds":10.374157190322876,"version":"1.0.0","agent_id":"1111'
            '1111-2222-3333-4444-555555555555","agent_name":"Echo Agent","framework":"default"}'
        ),
    ),
    "health_root_404": (
        404,
        '{"detail":"Not Found"}',
    ),
    "invocation_detail": (
        200,
        (
            '{"invocation_id":"f2eec70d-fde1-4a91-9804-ac5ab7c00aeb","agent_id":"11111111-2222-3333'
            '-4444-555555555555","input_data":{"input_args":[],"input_kwargs":{"message":"hi","time'
            's":2}},"output_data":{"echo":"hi","times":2},"error_detail":null,"request_timestamp":"'
            '2026-11-23T18:28:09","response_timestamp":"2026-11-23T18:28:09","execution_time_ms":1.'
            '7349720001220703,"status":"completed","entrypoint_tag":"echo","sdk_type":"local_server'
            '","client_info":{"server_host":"127.0.0.1","server_port":8450,"agent_name":"Echo Agent'
            '","agent_framework":"default"}}'
        ),
    ),
    "invocation_not_found": (
        404,
        (
            '{"success":false,"data":null,"message":null,"error":{"code":"NOT_FOUND","message":"Inv'
            'ocation 00000000-0000-0000-0000-000000000000 not found","details":null,"field":null},"'
            'timestamp":"2026-11-23T18:28:09.976353","request_id":"2d384c51-f333-44ff-b713-806b1a97'
            '28b7"}'
        ),
    ),
    "invocations_list": (
        200,
        (
            '{"agent_id":"11111111-2222-3333-4444-555555555555","invocations":[{"invocation_id":"f2'
            'eec70d-fde1-4a91-9804-ac5ab7c00aeb","agent_id":"11111111-2222-3333-4444-555555555555",'
            '"input_data":{"input_args":[],"input_kwargs":{"message":"hi","times":2}},"output_data"'
            ':{"echo":"hi","times":2},"error_detail":null,"request_timestamp":"2026-11-23T18:28:09"'
            ',"response_timestamp":"2026-11-23T18:28:09","execution_time_ms":1.7349720001220703,"st'
            'atus":"completed","entrypoint_tag":"echo","sdk_type":"local_server","client_info":{"se'
            'rver_host":"127.0.0.1","server_port":8450,"agent_name":"Echo Agent","agent_framework":'
            '"default"}},{"invocation_id":"c453e0db-3615-41fb-b25d-6940c23314b7","agent_id":"111111'
            '11-2222-3333-4444-555555555555","input_data":{"input_args":[2,3],"input_kwargs":{}},"o'
            'utput_data":5,"error_detail":null,"request_timestamp":"2026-11-23T18:28:09","response_'
            'timestamp":"2026-11-23T18:28:09","execution_time_ms":0.9427070617675781,"status":"comp'
            'leted","entrypoint_tag":"add","sdk_type":"local_server","client_info":{"server_host":"'
            '127.0.0.1","server_port":8450,"agent_name":"Echo Agent","agent_framework":"default"}}]'
            ',"total_count":2}'
        ),
    ),
    "invocations_list_bad_limit_422": (
        422,
        (
            '{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a vali'
            'd integer, unable to parse string as an integer","input":"abc"}]}'
        ),
    ),
    "invocations_list_status": (
        200,
        (
            '{"agent_id":"11111111-2222-3333-4444-555555555555","invocations":[{"invocation_id":"6c'
            'b2e78e-6822-4e91-9f46-9e09525bef00","agent_id":"11111111-2222-3333-4444-555555555555",'
            '"input_data":{"input_args":[],"input_kwargs":{}},"output_data":null,"error_detail":"Se'
            'rver error running agent 11111111-2222-3333-4444-555555555555: kaboom","request_timest'
            'amp":"2026-11-23T18:28:09","response_timestamp":"2026-11-23T18:28:09","execution_time_'
            'ms":5.58924674987793,"status":"failed","entrypoint_tag":"boom","sdk_type":"local_serve'
            'r","client_info":{"server_host":"127.0.0.1","server_port":8450,"agent_name":"Echo Agen'
            't","agent_framework":"default"}}],"total_count":1}'
        ),
    ),
    "invocations_stats": (
        200,
        (
            '{"agent_id":"11111111-2222-3333-4444-555555555555","stats":{"total_invocations":7,"com'
            'pleted_invocations":5,"failed_invocations":2,"pending_invocations":0,"success_rate":71'
            '.43,"avg_execution_time_ms":1.09,"agent_id":"11111111-2222-3333-4444-555555555555"}}'
        ),
    ),
    "invocations_wrong_agent": (
        404,
        '{"detail":"Not Found"}',
    ),
    "root": (
        200,
        (
            '{"message":"RunAgent API - Echo Agent(11111111-2222-3333-4444-555555555555)","version"'
            ':"1.0.0","host":"127.0.0.1","port":8450,"config":{"agent_name":"Echo Agent","descripti'
            'on":"Trivial offline agent","framework":"default","template":"default","version":"1.0.'
            '0","created_at":"2025-06-25T13:42:03","template_source":{"repo_url":"https://github.co'
            'm/runagent-dev/runagent.git","author":"local","path":"templates/default"},"agent_archi'
            'tecture":{"entrypoints":[{"file":"agent.py","module":"echo","tag":"echo","extractor":{'
            '}},{"file":"agent.py","module":"add","tag":"add","extractor":{}},{"file":"agent.py","m'
            'odule":"greet","tag":"greet","extractor":{}},{"file":"agent.py","module":"echo_stream"'
            ',"tag":"echo_stream","extractor":{}},{"file":"agent.py","module":"boom","tag":"boom","'
            'extractor":{}},{"file":"agent.py","module":"boom_stream","tag":"boom_stream","extracto'
            'r":{}}]},"agent_id":"11111111-2222-3333-4444-555555555555","auth_settings":{"type":"no'
            'ne"},"persistent_folders":[]},"endpoints":{"GET /":"Agent info","GET /health":"Health '
            'check","POST /api/v1/agents/{agent_id}/execute/{entrypoint}":"Execute agent","GET /api'
            '/v1/agents/{agent_id}/invocations":"Get invocation history","GET /api/v1/agents/{agent'
            '_id}/invocations/stats":"Get invocation stats"}}'
        ),
    ),
    "run_add_args": (
        200,
        (
            '{"success":true,"data":"{\\"type\\": \\"integer\\", \\"payload\\": \\"5\\"}","message"'
            ':"Agent execution completed successfully","error":null,"timestamp":"2026-11-23T08:13:2'
            '0.549805","request_id":"0ce7b077-4e62-44c8-9edc-ecdcdb20ac25"}'
        ),
    ),
    "run_agent_raises": (
        200,
        (
            '{"success":false,"data":null,"message":null,"error":{"code":"INTERNAL_ERROR","message"'
            ':"Agent execution failed: Server error running agent 11111111-2222-3333-4444-555555555'
            '555: kaboom","details":null,"field":null},"timestamp":"2026-11-23T08:13:24.977922","re'
            'quest_id":"a78deed0-fb82-4cb0-88e0-b875cd3216bc"}'
        ),
    ),
    "run_bad_kwargs": (
        200,
        (
            '{"success":false,"data":null,"message":null,"error":{"code":"INTERNAL_ERROR","message"'
            ':"Agent execution failed: Server error running agent 11111111-2222-3333-4444-555555555'
            '555: add() got an unexpected keyword argument \'zzz\'","details":null,"field":null},"t'
            'imestamp":"2026-11-23T08:13:25.019971","request_id":"459a8fe9-91ab-40a6-9f7e-6a74efa1f'
            'fc3"}'
        ),
    ),
    "run_echo": (
        200,
        (
            '{"success":true,"data":"{\\"type\\": \\"object\\", \\"payload\\": \\"{\\\\\\"echo\\\\'
            '\\": \\\\\\"hi\\\\\\", \\\\\\"times\\\\\\": 2}\\"}","message":"Agent execution complet'
            'ed successfully","error":null,"timestamp":"2026-11-23T08:13:20.507950","request_id":"e'
            '70d3d06-06d6-435e-a9e4-2e2df8e7951b"}'
        ),
    ),
    "run_greet_string": (
        200,
        (
            '{"success":true,"data":"{\\"type\\": \\"string\\", \\"payload\\": \\"\\\\\\"hello bob'
            '\\\\\\"\\"}","message":"Agent execution completed successfully","error":null,"timestam'
            'p":"2026-11-23T08:13:20.578676","request_id":"62e9bb21-553b-4bd6-b4b9-c41af9dfc76b"}'
        ),
    ),
    "run_invalid_json": (
        422,
        (
            '{"detail":[{"type":"json_invalid","loc":["body",1],"msg":"JSON decode error","input":{'
            '},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}'
        ),
    ),
    "run_missing_tag_422": (
        422,
        (
            '{"detail":[{"type":"missing","loc":["body","entrypoint_tag"],"msg":"Field required","i'
            'nput":{"input_args":[]}}]}'
        ),
    ),
    "run_none_result": (
        200,
        (
            '{"success":true,"data":"{\\"type\\": \\"object\\", \\"payload\\": \\"{\\\\\\"echo\\\\'
            '\\": null, \\\\\\"times\\\\\\": 1}\\"}","message":"Agent execution completed successfu'
            'lly","error":null,"timestamp":"2026-11-23T08:13:25.143077","request_id":"aeb66a96-460a'
            '-4c4c-bdf8-443d32adc46d"}'
        ),
    ),
    "run_stream_tag_via_rest": (
        400,
        (
            '{"success":false,"data":null,"message":null,"error":{"code":"VALIDATION_ERROR","messag'
            'e":"Can\'t use Streaming Entrypoint `echo_stream` through non-streaming endpoint.","de'
            'tails":null,"field":null},"timestamp":"2026-11-23T08:13:24.933363","request_id":"8f95b'
            '137-4cd1-4a4c-9fb4-5585f0c2d305"}'
        ),
    ),
    "run_unknown_tag": (
        404,
        (
            '{"success":false,"data":null,"message":null,"error":{"code":"NOT_FOUND","message":"Ent'
            'rypoint nope not found","details":null,"field":null},"timestamp":"2026-11-23T08:13:24.'
            '919004","request_id":"67d04520-52db-48a6-a546-57b944d7a19c"}'
        ),
    ),
    "run_with_auth_header": (
        200,
        (
            '{"success":true,"data":"{\\"type\\": \\"string\\", \\"payload\\": \\"\\\\\\"hello worl'
            'd\\\\\\"\\"}","message":"Agent execution completed successfully","error":null,"timesta'
            'mp":"2026-11-23T08:13:25.103277","request_id":"444ec703-c74f-4ffd-af6f-090887076360"}'
        ),
    ),
    "run_wrong_agent": (
        404,
        '{"detail":"Not Found"}',
    ),
}

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
    status, body = CAPTURED[name]
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert normalized(response.text) == normalized(body)
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
