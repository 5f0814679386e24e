"""openapi/runagent.yaml and its generated models agree with a real RunAgent local server.

The captures in `fixtures/runagent/` are raw replies of `runagent serve` (PyPI
`runagent==0.1.49`) on 127.0.0.1:8450, taken 2026-11-23 (their README indexes the request
behind each one). Every HTTP reply must validate against the spec's schema for its route and
status (openapi-core, as the conformance mock does) and decode into the generated model with
the strict converter (unknown keys rejected); every request must validate against
`RunRequest` exactly when the server accepted it; every WebSocket frame must validate against
the frame schemas of `components.x-controldeck-stream`. A spec or model change that stops
describing the real wire fails here.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from controldeck._core._convert import structure
from controldeck._core._models import Model, UnknownVariant
from controldeck._generated import runagent as m
from controldeck.errors import ResponseValidationError
from tests._conformance import SPEC_DIR, match_operation, openapi, operations

FIXTURES = Path(__file__).parent / "fixtures" / "runagent"
ORIGIN = "http://127.0.0.1:8450"
AGENT = "11111111-2222-3333-4444-555555555555"

# The model each captured reply decodes into (strictly). `openapi.http` and
# `health_root_404.http` hit routes outside the API on purpose (tested apart below).
MODELS: dict[str, type[Model]] = {
    "health.http": m.HealthResponse,
    "root.http": m.AgentInfo,
    "architecture.http": m.ArchitectureEnvelope,
    "arch_wrong_agent.http": m.HTTPError,
    "run_echo.http": m.RunResponse,
    "run_add_args.http": m.RunResponse,
    "run_greet_string.http": m.RunResponse,
    "run_with_auth_header.http": m.RunResponse,
    "run_none_result.http": m.RunResponse,
    "run_agent_raises.http": m.RunResponse,
    "run_bad_kwargs.http": m.RunResponse,
    "run_unknown_tag.http": m.ErrorEnvelope,
    "run_stream_tag_via_rest.http": m.ErrorEnvelope,
    "run_missing_tag_422.http": m.HTTPValidationError,
    "run_invalid_json.http": m.HTTPValidationError,
    "run_wrong_agent.http": m.HTTPError,
    "invocations_list.http": m.InvocationList,
    "invocations_list_status.http": m.InvocationList,
    "invocations_list_bad_limit_422.http": m.HTTPValidationError,
    "invocations_stats.http": m.InvocationStatsResponse,
    "invocation_detail.http": m.Invocation,
    "invocation_not_found.http": m.ErrorEnvelope,
    "invocations_wrong_agent.http": m.HTTPError,
}
OUTSIDE_THE_API = {"openapi.http", "health_root_404.http"}

# What each successful run returned, by the agent code in the fixtures' README.
RUN_RESULTS: dict[str, tuple[str, Any]] = {
    "run_echo.http": ("object", {"echo": "hi", "times": 2}),
    "run_add_args.http": ("integer", 5),
    "run_greet_string.http": ("string", "hello bob"),
    "run_with_auth_header.http": ("string", "hello world"),
    "run_none_result.http": ("object", {"echo": None, "times": 1}),
}
RESULT_TYPES = {"null", "boolean", "integer", "number", "string", "array", "object"}


# -- reading the captures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """One `.http` file and the request the README says produced it."""

    name: str
    status: int
    headers: dict[str, str]
    body: bytes
    method: str
    path: str  # with the query, as sent
    request_body: bytes | None
    request_headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| (?P<request>.+?) \| (?P<status>[^|]+) \|$")
_REQUEST = re.compile(
    r"^`(?P<method>GET|POST) (?P<path>[^`]+)`"
    r"(?: (?:body )?`(?P<body>[^`]+)`)?(?P<auth> \+ `Authorization: Bearer <any>`)?"
    r"(?: \([^)]*\))?$"
)


@functools.cache
def readme_rows() -> dict[str, tuple[str, str]]:
    """file -> (request cell, status cell) from the fixtures' README table."""
    rows = {}
    for line in (FIXTURES / "README.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match and match["file"] != "file":
            rows[match["file"]] = (match["request"], match["status"].strip())
    return rows


def _parse_http(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    assert sep, "no blank line after the headers"
    lines = head.decode("ascii").splitlines()
    version, status, _reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    assert int(headers["content-length"]) == len(body), "the body is cut or padded"
    return int(status), headers, body


@functools.cache
def capture(name: str) -> Capture:
    status, headers, body = _parse_http((FIXTURES / name).read_bytes())
    request_cell, status_cell = readme_rows()[name]
    match = _REQUEST.match(request_cell)
    assert match, f"{name}: cannot read the README's request {request_cell!r}"
    path = match["path"].replace("A/", f"/api/v1/agents/{AGENT}/")
    if "<invocation_id from the list>" in path:  # the detail of the list's newest invocation
        path = path.replace("<invocation_id from the list>", json.loads(body)["invocation_id"])
    assert re.match(rf"{status}\b", status_cell), f"{name}: README says {status_cell}"
    request_body = match["body"].encode() if match["body"] else None
    request_headers = {"Content-Type": "application/json"} if request_body is not None else {}
    if match["auth"]:
        request_headers["Authorization"] = "Bearer any-key"
    return Capture(
        name, status, headers, body, match["method"], path, request_body, request_headers
    )


def _request(c: Capture) -> requests.PreparedRequest:
    return requests.Request(
        c.method, ORIGIN + c.path, headers=c.request_headers, data=c.request_body
    ).prepare()


def _validate_reply(c: Capture, body: bytes | None = None) -> None:
    response = requests.Response()
    response.status_code = c.status
    response.headers.update(c.headers)
    response._content = c.body if body is None else body
    openapi("runagent").validate_response(
        RequestsOpenAPIRequest(_request(c)), RequestsOpenAPIResponse(response)
    )


@dataclass(frozen=True)
class Transcript:
    """One `ws_*.txt` WebSocket capture."""

    name: str
    path: str
    sent: str | None
    frames: list[str]
    close_code: int | None
    rejected_status: int | None


def transcript(name: str) -> Transcript:
    path, sent, frames, close, rejected = "", None, [], None, None
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("URI "):
            path = re.sub(r"^ws://[^/]+", "", line[4:])
        elif line.startswith(">>> "):
            sent = line[4:]
        elif line.startswith("<<< "):
            frames.append(re.sub(r"  \(t\+[0-9.]+s\)$", "", line[4:]))
        elif line.startswith("close code="):
            code = line.split()[1].removeprefix("code=")
            close = None if code == "None" else int(code)
        elif "server rejected WebSocket connection: HTTP " in line:
            rejected = int(line.rsplit(" ", 1)[1])
    return Transcript(name, path, sent, frames, close, rejected)


# -- the spec's own schemas ----------------------------------------------------------------------


@functools.cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SPEC_DIR / "runagent.yaml").read_text(encoding="utf-8"))
    return doc


def stream_doc() -> dict[str, Any]:
    block: dict[str, Any] = document()["components"]["x-controldeck-stream"]["run_stream"]
    return block


def schema_validator(schema: dict[str, Any]) -> Any:
    """An OAS 3.1 validator for `schema`, resolving `#/components/...` in the spec."""
    return OAS31Validator({**document(), **schema})


def schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    return [e.message for e in schema_validator(schema).iter_errors(instance)]


RUN_REQUEST = {"$ref": "#/components/schemas/RunRequest"}


def as_sent(dumped: Any, sent: Any) -> Any:
    """`dumped` (a model's `to_dict()`) without the `null`s of optional keys `sent` lacks."""
    if isinstance(dumped, dict) and isinstance(sent, dict):
        return {k: as_sent(v, sent.get(k)) for k, v in dumped.items() if k in sent or v is not None}
    if isinstance(dumped, list) and isinstance(sent, list) and len(dumped) == len(sent):
        return [as_sent(d, s) for d, s in zip(dumped, sent, strict=True)]
    return dumped


def decode_twice(text: str) -> tuple[str, Any]:
    """§3: the JSON text of {type, payload}, payload the value's JSON text."""
    outer = json.loads(text)
    assert isinstance(outer, dict) and set(outer) == {"type", "payload"}, outer
    assert outer["type"] in RESULT_TYPES
    assert isinstance(outer["payload"], str)
    return outer["type"], json.loads(outer["payload"])


# -- every capture is accounted for --------------------------------------------------------------


def test_every_capture_is_indexed_and_tested() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.suffix in (".http", ".txt")}
    http = {f for f in files if f.endswith(".http")}
    assert http == set(MODELS) | OUTSIDE_THE_API
    assert set(readme_rows()) == files  # the README indexes every capture, and only those
    assert {f for f in files if f.endswith(".txt")} == set(WS_TRANSCRIPTS)
    assert (FIXTURES / "openapi.json").is_file()


# -- HTTP replies --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_reply_matches_its_route_and_status_in_the_spec(name: str) -> None:
    c = capture(name)
    template = match_operation("runagent", c.method, c.path.split("?")[0], "")
    assert template is not None, f"{c.method} {c.path}: no operation in the spec"
    assert (c.method, template) in operations("runagent")
    assert c.headers["content-type"] == "application/json"
    _validate_reply(c)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_reply_decodes_strictly_into_its_model(name: str) -> None:
    c = capture(name)
    model = structure(c.json(), MODELS[name], strict=True)
    # Nothing lost on the way: the model writes back every key the server sent.
    assert as_sent(model.to_dict(), c.json()) == c.json()


@pytest.mark.parametrize("name", sorted(RUN_RESULTS))
def test_a_run_result_is_double_encoded_as_the_spec_says(name: str) -> None:
    reply = structure(capture(name).json(), m.RunResponse, strict=True)
    assert reply.success is True
    assert reply.error is None
    assert reply.message == "Agent execution completed successfully"
    assert isinstance(reply.data, str)
    assert decode_twice(reply.data) == RUN_RESULTS[name]


@pytest.mark.parametrize(
    ("name", "status", "code", "message"),
    [
        (
            "run_agent_raises.http",
            200,
            "INTERNAL_ERROR",
            f"Agent execution failed: Server error running agent {AGENT}: kaboom",
        ),
        (
            "run_bad_kwargs.http",
            200,
            "INTERNAL_ERROR",
            f"Agent execution failed: Server error running agent {AGENT}: "
            "add() got an unexpected keyword argument 'zzz'",
        ),
        ("run_unknown_tag.http", 404, "NOT_FOUND", "Entrypoint nope not found"),
        (
            "run_stream_tag_via_rest.http",
            400,
            "VALIDATION_ERROR",
            "Can't use Streaming Entrypoint `echo_stream` through non-streaming endpoint.",
        ),
        (
            "invocation_not_found.http",
            404,
            "NOT_FOUND",
            "Invocation 00000000-0000-0000-0000-000000000000 not found",
        ),
    ],
)
def test_server_errors_arrive_in_the_envelope(
    name: str, status: int, code: str, message: str
) -> None:
    c = capture(name)
    assert c.status == status
    reply = structure(c.json(), MODELS[name], strict=True)
    assert isinstance(reply, m.RunResponse | m.ErrorEnvelope)
    assert reply.success is False
    assert reply.data is None
    assert reply.message is None
    assert isinstance(reply.error, m.ErrorDetail)
    assert (reply.error.code, reply.error.message) == (code, message)
    assert (reply.error.details, reply.error.field, reply.error.suggestion) == (None, None, None)
    assert "suggestion" not in c.json()["error"]  # the local server never sends one


def test_a_wrong_agent_id_is_the_frameworks_not_found_on_every_agent_route() -> None:
    for name in ("arch_wrong_agent.http", "run_wrong_agent.http", "invocations_wrong_agent.http"):
        c = capture(name)
        assert "/agents/wrong/" in c.path
        assert (c.status, c.json()) == (404, {"detail": "Not Found"})


def test_the_422_bodies_name_each_problem() -> None:
    missing = structure(capture("run_missing_tag_422.http").json(), m.HTTPValidationError)
    assert [(d.type, d.loc, d.msg) for d in missing.detail] == [
        ("missing", ["body", "entrypoint_tag"], "Field required")
    ]
    invalid = structure(capture("run_invalid_json.http").json(), m.HTTPValidationError)
    assert [(d.type, d.loc) for d in invalid.detail] == [("json_invalid", ["body", 1])]
    assert invalid.detail[0].ctx == {"error": "Expecting property name enclosed in double quotes"}
    limit = structure(capture("invocations_list_bad_limit_422.http").json(), m.HTTPValidationError)
    assert [(d.type, d.loc, d.input) for d in limit.detail] == [
        ("int_parsing", ["query", "limit"], "abc")
    ]


def test_architecture_lists_the_agents_entrypoints() -> None:
    reply = structure(capture("architecture.http").json(), m.ArchitectureEnvelope, strict=True)
    assert reply.success is True
    assert reply.error is None
    assert reply.data is not None
    assert reply.data.agent_id == AGENT
    tags = ["echo", "add", "greet", "echo_stream", "boom", "boom_stream"]
    assert [e.tag for e in reply.data.entrypoints] == tags
    assert all(
        (e.file, e.module, e.extractor, e.description) == ("agent.py", e.tag, {}, None)
        for e in reply.data.entrypoints
    )


def test_info_health_and_invocations_carry_what_the_spec_describes() -> None:
    info = structure(capture("root.http").json(), m.AgentInfo, strict=True)
    assert (info.host, info.port, info.version) == ("127.0.0.1", 8450, "1.0.0")
    assert info.config["agent_id"] == AGENT
    assert "env_vars" not in info.config
    health = structure(capture("health.http").json(), m.HealthResponse, strict=True)
    assert (health.status, health.agent_id, health.framework) == ("healthy", AGENT, "default")
    listed = structure(capture("invocations_list.http").json(), m.InvocationList, strict=True)
    assert listed.total_count == len(listed.invocations) == 2
    newest = listed.invocations[0]
    assert (newest.status, newest.entrypoint_tag, newest.sdk_type) == (
        "completed",
        "echo",
        "local_server",
    )
    assert newest.output_data == {"echo": "hi", "times": 2}  # decoded, not double-encoded
    assert newest.input_data == {"input_args": [], "input_kwargs": {"message": "hi", "times": 2}}
    failed = structure(
        capture("invocations_list_status.http").json(), m.InvocationList, strict=True
    )
    assert [i.status for i in failed.invocations] == ["failed"]
    assert failed.invocations[0].output_data is None
    assert failed.invocations[0].error_detail is not None
    detail = structure(capture("invocation_detail.http").json(), m.Invocation, strict=True)
    assert detail == newest
    stats = structure(
        capture("invocations_stats.http").json(), m.InvocationStatsResponse, strict=True
    )
    assert (stats.stats.total_invocations, stats.stats.success_rate) == (7, 71.43)


def test_routes_outside_the_api_are_not_in_the_spec() -> None:
    # `GET /health` (no prefix) is a 404 on the server and must stay absent from the spec.
    root_health = capture("health_root_404.http")
    assert (root_health.status, root_health.json()) == (404, {"detail": "Not Found"})
    assert match_operation("runagent", "GET", "/health", "") is None
    # The server's own /openapi.json is served but is no API call of the client.
    served = capture("openapi.http")
    assert served.status == 200
    assert served.json() == json.loads((FIXTURES / "openapi.json").read_bytes())
    assert match_operation("runagent", "GET", "/openapi.json", "") is None


# -- the checks can fail -------------------------------------------------------------------------


def _tampered(name: str, change: Any) -> bytes:
    body = capture(name).json()
    change(body)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("architecture.http", lambda b: b.pop("success")),
        ("architecture.http", lambda b: b["data"]["entrypoints"][0].pop("tag")),
        ("architecture.http", lambda b: b["data"].update(entrypoints="echo")),
        ("run_echo.http", lambda b: b.update(success="true")),
        ("run_agent_raises.http", lambda b: b["error"].pop("code")),
        ("run_unknown_tag.http", lambda b: b.pop("error")),
        ("health.http", lambda b: b.pop("status")),
        ("invocations_list.http", lambda b: b.update(total_count="2")),
        ("invocation_detail.http", lambda b: b.pop("status")),
        ("invocations_stats.http", lambda b: b["stats"].update(success_rate="71%")),
        ("run_missing_tag_422.http", lambda b: b.update(detail="Field required")),
        ("run_wrong_agent.http", lambda b: b.update(detail=404)),
    ],
)
def test_a_reply_that_drifted_from_the_spec_is_refused(name: str, change: Any) -> None:
    body = _tampered(name, change)
    with pytest.raises(OpenAPIError):
        _validate_reply(capture(name), body)
    with pytest.raises(ResponseValidationError):
        structure(json.loads(body), MODELS[name], strict=True)


def test_strict_decoding_refuses_a_key_the_spec_does_not_know() -> None:
    body = capture("health.http").json() | {"uptime": 1}
    with pytest.raises(ResponseValidationError, match="uptime"):
        structure(body, m.HealthResponse, strict=True)


# -- requests ------------------------------------------------------------------------------------

RUN_CAPTURES = sorted(name for name in MODELS if name.startswith("run_"))


@pytest.mark.parametrize("name", RUN_CAPTURES)
def test_a_captured_run_body_is_a_run_request_exactly_when_the_server_took_it(
    name: str,
) -> None:
    c = capture(name)
    assert (c.method, c.path.rsplit("/", 1)[1]) == ("POST", "run")
    accepted = c.status != 422  # FastAPI answers 422 when the body does not parse
    request = RequestsOpenAPIRequest(_request(c))
    if accepted:
        openapi("runagent").validate_request(request)
        body = json.loads(c.request_body or b"")
        assert schema_errors(RUN_REQUEST, body) == []
        model = structure(body, m.RunRequest, strict=True)
        assert model.to_dict() == body
    else:
        with pytest.raises(OpenAPIError):
            openapi("runagent").validate_request(request)


def test_the_full_sdk_body_is_a_run_request() -> None:
    body = json.loads(capture("run_greet_string.http").request_body or b"")
    assert list(body) == [
        "entrypoint_tag",
        "input_args",
        "input_kwargs",
        "timeout_seconds",
        "async_execution",
        "user_id",
        "persistent_memory",
    ]
    model = structure(body, m.RunRequest, strict=True)
    assert (model.timeout_seconds, model.async_execution, model.user_id) == (300, False, "u1")
    assert model.persistent_memory is True


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            {"entrypoint_tag": "echo", "input_args": [], "input_kwargs": {}, "extra_params": {}},
            "'extra_params' was unexpected",
        ),
        (
            {"id": "run_start", "entrypoint_tag": "echo", "input_args": [], "input_kwargs": {}},
            "'id' was unexpected",
        ),
        ({"entrypoint_tag": "echo", "input_kwargs": {}}, "input_args"),
        ({"entrypoint_tag": "echo", "input_args": []}, "input_kwargs"),
        ({"entrypoint_tag": "echo", "input_args": {}, "input_kwargs": {}}, "array"),
        (
            {
                "entrypoint_tag": "echo",
                "input_args": [],
                "input_kwargs": {},
                "timeout_seconds": "300",
            },
            "integer",
        ),
        (
            {"entrypoint_tag": "echo", "input_args": [], "input_kwargs": {}, "user_id": None},
            "string",
        ),
    ],
)
def test_run_request_refuses_what_the_sdk_must_never_send(body: dict[str, Any], why: str) -> None:
    errors = schema_errors(RUN_REQUEST, body)
    assert errors, body
    assert any(why in e for e in errors), errors


# -- the WebSocket run-stream --------------------------------------------------------------------

WS_TRANSCRIPTS = {
    "ws_stream_ok.txt",
    "ws_stream_ok_full_sdk_payload.txt",
    "ws_stream_agent_raises.txt",
    "ws_stream_bad_kwargs.txt",
    "ws_stream_nonstream_tag.txt",
    "ws_stream_unknown_tag.txt",
    "ws_stream_missing_field.txt",
    "ws_stream_invalid_json.txt",
    "ws_stream_wrong_agent.txt",
}
# The start messages the server refused before streaming (with a `detail` error frame).
REFUSED_STARTS = {"ws_stream_missing_field.txt", "ws_stream_invalid_json.txt"}


def test_the_stream_is_documented_outside_paths() -> None:
    block = stream_doc()
    assert block["path"] == "/api/v1/agents/{agent_id}/run-stream"
    assert (block["operationId"], block["x-controldeck-method"]) == ("run_stream", "run_stream")
    # Not an HTTP operation: the conformance mock never matches it and the gate never counts it.
    assert block["path"] not in document()["paths"]
    assert match_operation("runagent", "GET", f"/api/v1/agents/{AGENT}/run-stream", "") is None
    token = next(p for p in block["parameters"] if p.get("name") == "token")
    assert (token["in"], token["x-controldeck-secret"]) == ("query", True)
    assert block["start"]["schema"]["allOf"][0] == RUN_REQUEST
    assert block["frame"]["schema"] == {"$ref": "#/components/schemas/StreamFrame"}


@pytest.mark.parametrize("name", sorted(WS_TRANSCRIPTS - {"ws_stream_wrong_agent.txt"}))
def test_every_start_message_is_valid_exactly_when_the_server_started(name: str) -> None:
    t = transcript(name)
    assert t.path == f"/api/v1/agents/{AGENT}/run-stream"
    assert t.sent is not None
    start = stream_doc()["start"]["schema"]
    try:
        message = json.loads(t.sent)
    except ValueError:
        assert name == "ws_stream_invalid_json.txt"
        return
    errors = schema_errors(start, message)
    assert bool(errors) == (name in REFUSED_STARTS), errors
    if name not in REFUSED_STARTS:
        assert structure(message, m.RunRequest, strict=True).to_dict() == message


@pytest.mark.parametrize("name", sorted(WS_TRANSCRIPTS - {"ws_stream_wrong_agent.txt"}))
def test_every_frame_validates_and_decodes_into_its_frame_model(name: str) -> None:
    t = transcript(name)
    frame_schema = stream_doc()["frame"]["schema"]
    assert t.frames
    for text in t.frames:
        frame = json.loads(text)
        assert schema_errors(frame_schema, frame) == [], text
        model = structure(frame, m.StreamFrame, strict=True)
        assert not isinstance(model, UnknownVariant)
        expected = {"status": m.StreamStatusFrame, "data": m.StreamDataFrame}
        assert type(model) is expected.get(frame["type"], m.StreamErrorFrame)
        assert as_sent(model.to_dict(), frame) == frame
        if isinstance(model, m.StreamStatusFrame):
            assert model.status in list(m.StreamStatus)  # a known status, not UNKNOWN


def _stream(name: str) -> tuple[list[Any], Any, int | None]:
    """(decoded data, the last frame's model, close code) of one transcript."""
    t = transcript(name)
    frames = [structure(json.loads(f), m.StreamFrame) for f in t.frames]
    data = [decode_twice(f.content)[1] for f in frames if isinstance(f, m.StreamDataFrame)]
    return data, frames[-1], t.close_code


def test_a_good_stream_is_started_data_completed_and_left_open() -> None:
    for name, values in [
        ("ws_stream_ok.txt", ["hi-0", "hi-1", "hi-2"]),
        ("ws_stream_ok_full_sdk_payload.txt", ["yo-0", "yo-1"]),
    ]:
        frames = [structure(json.loads(f), m.StreamFrame) for f in transcript(name).frames]
        first, last = frames[0], frames[-1]
        assert isinstance(first, m.StreamStatusFrame)
        assert first.status is m.StreamStatus.STREAM_STARTED
        assert isinstance(last, m.StreamStatusFrame)
        assert last.status is m.StreamStatus.STREAM_COMPLETED
        assert last.total_chunks == len(values)
        assert last.invocation_id == first.invocation_id
        data, _, close = _stream(name)
        assert data == values
        assert close is None  # the server never closes after stream_completed


def test_errors_before_the_start_carry_detail_and_close_1003_runtime_errors_carry_error() -> None:
    for name in sorted(WS_TRANSCRIPTS - {"ws_stream_wrong_agent.txt"}):
        _, last, close = _stream(name)
        if isinstance(last, m.StreamErrorFrame):
            if last.detail is not None:
                assert (last.error, close) == (None, 1003), name
                assert "1003" in stream_doc()["close"]
            else:
                assert last.error is not None
                assert last.error.startswith("Streaming error: ")
                assert close is None, name  # the socket stays open
    _, raised, _ = _stream("ws_stream_agent_raises.txt")
    assert raised == m.StreamErrorFrame(error="Streaming error: stream kaboom")
    assert _stream("ws_stream_agent_raises.txt")[0] == ["first"]


def test_a_wrong_agent_id_is_refused_at_the_handshake_as_documented() -> None:
    t = transcript("ws_stream_wrong_agent.txt")
    assert t.path == "/api/v1/agents/wrong/run-stream"
    assert (t.rejected_status, t.frames) == (403, [])
    assert "403" in stream_doc()["handshake"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "data"},  # no content
        {"type": "data", "content": 5},
        {"type": "status"},  # no status
        {"type": "status", "status": 7},
        {"type": "error"},  # neither detail nor error
        {"type": "error", "error": None},
    ],
)
def test_a_frame_that_drifted_from_the_spec_is_refused(frame: dict[str, Any]) -> None:
    assert schema_errors(stream_doc()["frame"]["schema"], frame)


# -- the server's own OpenAPI document -----------------------------------------------------------


def _server_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "openapi.json").read_bytes())
    return doc


def test_every_route_the_server_publishes_is_in_the_spec() -> None:
    published = {
        (method.upper(), path.replace(AGENT, "{agent_id}"))
        for path, item in _server_doc()["paths"].items()
        for method in item
    }
    assert published == operations("runagent")


def test_the_spec_keeps_every_field_and_requirement_of_the_servers_models() -> None:
    server = _server_doc()["components"]["schemas"]
    ours = document()["components"]["schemas"]
    pairs = {
        "AgentInfo": "AgentInfo",
        "AgentRunRequest": "RunRequest",
        "AgentRunResponseMinimal": "RunResponse",
        "ErrorDetail": "ErrorDetail",
        "HTTPValidationError": "HTTPValidationError",
        "ValidationError": "ValidationErrorItem",
    }
    for theirs, mine in pairs.items():
        assert set(server[theirs]["properties"]) <= set(ours[mine]["properties"]), mine
    # What the server requires we require too (RunRequest requires more: the SDK always
    # sends input_args and input_kwargs, and the WebSocket needs them).
    for theirs, mine in pairs.items():
        assert set(server[theirs].get("required", [])) <= set(ours[mine].get("required", [])) | {
            "timestamp",
            "request_id",
        }, mine
    server_params = _server_doc()["paths"][f"/api/v1/agents/{AGENT}/invocations"]["get"]
    spec_params = document()["paths"]["/api/v1/agents/{agent_id}/invocations"]["get"]
    assert {p["name"]: p["schema"].get("default") for p in server_params["parameters"]} == {
        p["name"]: p["schema"].get("default")
        for p in spec_params["parameters"]
        if p.get("in") == "query"
    }


# -- the document itself -------------------------------------------------------------------------

# The contract's fixed model names (shared brief), all generated from the spec.
CONTRACT_MODELS = (
    "AgentInfo",
    "HealthResponse",
    "Entrypoint",
    "AgentArchitecture",
    "ErrorDetail",
    "ArchitectureEnvelope",
    "RunRequest",
    "RunResponse",
    "Invocation",
    "InvocationList",
    "InvocationStats",
    "InvocationStatsResponse",
    "StreamStatusFrame",
    "StreamDataFrame",
    "StreamErrorFrame",
)


def test_the_spec_is_valid_openapi_with_a_local_and_a_cloud_server() -> None:
    validate(document())
    servers = [(s["url"], s["variables"]["root"]["default"]) for s in document()["servers"]]
    assert servers == [
        ("{root}", "http://127.0.0.1:8450"),
        ("{root}", "https://backend.run-agent.ai"),
    ]
    assert document()["security"] == [{}, {"bearer": []}]  # none locally, Bearer in the cloud
    assert all(path.startswith("/api/v1") for path in document()["paths"])


def test_every_operation_names_its_client_method() -> None:
    methods = {
        (method.upper(), path): (op["operationId"], op["x-controldeck-method"])
        for path, item in document()["paths"].items()
        for method, op in item.items()
    }
    assert methods == {
        ("GET", "/api/v1"): ("get_agent_info", "get_agent_info"),
        ("GET", "/api/v1/health"): ("get_health", "get_health"),
        ("GET", "/api/v1/agents/{agent_id}/architecture"): (
            "get_agent_architecture",
            "get_agent_architecture",
        ),
        ("POST", "/api/v1/agents/{agent_id}/run"): ("run_agent", "run"),
        ("GET", "/api/v1/agents/{agent_id}/invocations"): ("list_invocations", "list_invocations"),
        ("GET", "/api/v1/agents/{agent_id}/invocations/stats"): (
            "invocation_stats",
            "invocation_stats",
        ),
        ("GET", "/api/v1/invocations/{invocation_id}"): ("get_invocation", "get_invocation"),
    }


def test_the_contracts_models_are_generated_and_no_body_field_is_secret() -> None:
    for name in CONTRACT_MODELS:
        assert issubclass(getattr(m, name), Model), name
    # The API key travels only in the Authorization header and the WebSocket token.
    assert frozenset() == m.SECRET_FIELDS


def test_the_guesses_are_marked_assumed() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["HealthResponse"]["x-controldeck-assumed"] is True  # the cloud's body
    assert schemas["ErrorDetail"]["properties"]["suggestion"]["x-controldeck-assumed"] is True
    assert schemas["Entrypoint"]["properties"]["description"]["x-controldeck-assumed"] is True
    assert schemas["RunResponse"]["properties"]["data"]["x-controldeck-assumed"] is True
    assert schemas["StreamStatus"]["x-controldeck-assumed"] is True  # the TS statuses
    assert document()["components"]["responses"]["CloudAuthError"]["x-controldeck-assumed"] is True
