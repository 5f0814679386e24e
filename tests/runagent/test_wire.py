"""The wire rules of `controldeck.runagent._wire`: run body, decoding, every error mapping.

Bodies and frames are the captures of a real `runagent serve` 0.1.49
(`../shared/reference/runagent-fixtures/`), copied byte for byte.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from errno import ECONNREFUSED, EHOSTUNREACH
from typing import Any

import pytest
import requests
import responses
import websocket
from hypothesis import assume, given
from hypothesis import strategies as st

from controldeck._core._auth import BearerAuth
from controldeck._core._transport import Transport
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidArgumentError,
    StreamError,
)
from controldeck.runagent._config import LocalAgent
from controldeck.runagent._errors import (
    AgentNotFoundError,
    AgentNotRunningError,
    ArchitectureMissingError,
    EntrypointError,
    RunAgentAuthenticationError,
    RunAgentConnectionError,
    RunAgentError,
    RunAgentExecutionError,
    RunAgentNotFoundError,
    RunAgentPermissionError,
    RunAgentServerError,
    RunAgentStreamError,
    RunAgentTimeoutError,
    RunAgentValidationError,
)
from controldeck.runagent._wire import (
    FAILED_STATUSES,
    SKIPPED_STATUSES,
    build_run_payload,
    check_guardrail,
    decode_result,
    error_from_connection,
    error_from_envelope,
    error_from_frame,
    error_from_status,
    is_refused,
    parse_runagent_error,
    run_result,
    split_error_text,
)

AGENT = "11111111-2222-3333-4444-555555555555"
ROOT = "http://127.0.0.1:8450/api/v1"
A = f"/agents/{AGENT}"
KEY = "ra_live_SECRET_key_123"

# --- captured bodies (run_*.http, architecture, invocations) -----------------------------
RUN_ECHO = r"""{"success":true,"data":"{\"type\": \"object\", \"payload\": \"{\\\"echo\\\": \\\"hi\\\", \\\"times\\\": 2}\"}","message":"Agent execution completed successfully","error":null,"timestamp":"2026-11-23T08:13:20.507950","request_id":"e70d3d06-06d6-435e-a9e4-2e2df8e7951b"}"""  # noqa: E501
RUN_ADD = r"""{"success":true,"data":"{\"type\": \"integer\", \"payload\": \"5\"}","message":"Agent execution completed successfully","error":null,"timestamp":"2026-11-23T08:13:20.549805","request_id":"0ce7b077-4e62-44c8-9edc-ecdcdb20ac25"}"""  # noqa: E501
RUN_GREET = r"""{"success":true,"data":"{\"type\": \"string\", \"payload\": \"\\\"hello bob\\\"\"}","message":"Agent execution completed successfully","error":null,"timestamp":"2026-11-23T08:13:20.578676","request_id":"62e9bb21-553b-4bd6-b4b9-c41af9dfc76b"}"""  # noqa: E501
RUN_NONE = r"""{"success":true,"data":"{\"type\": \"object\", \"payload\": \"{\\\"echo\\\": null, \\\"times\\\": 1}\"}","message":"Agent execution completed successfully","error":null,"timestamp":"2026-11-23T08:13:25.143077","request_id":"aeb66a96-460a-4c4c-bdf8-443d32adc46d"}"""  # noqa: E501
RUN_AUTH_HEADER = r"""{"success":true,"data":"{\"type\": \"string\", \"payload\": \"\\\"hello world\\\"\"}","message":"Agent execution completed successfully","error":null,"timestamp":"2026-11-23T08:13:25.103277","request_id":"444ec703-c74f-4ffd-af6f-090887076360"}"""  # noqa: E501
RUN_RAISES = r"""{"success":false,"data":null,"message":null,"error":{"code":"INTERNAL_ERROR","message":"Agent execution failed: Server error running agent 11111111-2222-3333-4444-555555555555: kaboom","details":null,"field":null},"timestamp":"2026-11-23T08:13:24.977922","request_id":"a78deed0-fb82-4cb0-88e0-b875cd3216bc"}"""  # noqa: E501
RUN_BAD_KWARGS = r"""{"success":false,"data":null,"message":null,"error":{"code":"INTERNAL_ERROR","message":"Agent execution failed: Server error running agent 11111111-2222-3333-4444-555555555555: add() got an unexpected keyword argument 'zzz'","details":null,"field":null},"timestamp":"2026-11-23T08:13:25.019971","request_id":"459a8fe9-91ab-40a6-9f7e-6a74efa1ffc3"}"""  # noqa: E501
RUN_UNKNOWN_TAG = r"""{"success":false,"data":null,"message":null,"error":{"code":"NOT_FOUND","message":"Entrypoint nope not found","details":null,"field":null},"timestamp":"2026-11-23T08:13:24.919004","request_id":"67d04520-52db-48a6-a546-57b944d7a19c"}"""  # noqa: E501
RUN_STREAM_VIA_REST = r"""{"success":false,"data":null,"message":null,"error":{"code":"VALIDATION_ERROR","message":"Can't use Streaming Entrypoint `echo_stream` through non-streaming endpoint.","details":null,"field":null},"timestamp":"2026-11-23T08:13:24.933363","request_id":"8f95b137-4cd1-4a4c-9fb4-5585f0c2d305"}"""  # noqa: E501
RUN_MISSING_TAG_422 = r"""{"detail":[{"type":"missing","loc":["body","entrypoint_tag"],"msg":"Field required","input":{"input_args":[]}}]}"""  # noqa: E501
RUN_INVALID_JSON_422 = r"""{"detail":[{"type":"json_invalid","loc":["body",1],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}"""  # noqa: E501
BAD_LIMIT_422 = r"""{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"""  # noqa: E501
NOT_FOUND_DETAIL = r"""{"detail":"Not Found"}"""
INVOCATION_NOT_FOUND = r"""{"success":false,"data":null,"message":null,"error":{"code":"NOT_FOUND","message":"Invocation 00000000-0000-0000-0000-000000000000 not found","details":null,"field":null},"timestamp":"2026-11-23T18:28:09.976353","request_id":"2d384c51-f333-44ff-b713-806b1a9728b7"}"""  # noqa: E501

# --- captured WebSocket frames (ws_*.txt) -------------------------------------------------
FRAME_STARTED = r"""{"type":"status","status":"stream_started","invocation_id":"6276fd04-da5c-4b85-a1e5-77e5926fbbfc"}"""  # noqa: E501
FRAMES_OK = [
    r"""{"type":"data","content":"{\"type\": \"string\", \"payload\": \"\\\"hi-0\\\"\"}"}""",
    r"""{"type":"data","content":"{\"type\": \"string\", \"payload\": \"\\\"hi-1\\\"\"}"}""",
    r"""{"type":"data","content":"{\"type\": \"string\", \"payload\": \"\\\"hi-2\\\"\"}"}""",
]
FRAME_FIRST = (
    r"""{"type":"data","content":"{\"type\": \"string\", \"payload\": \"\\\"first\\\"\"}"}"""
)
FRAME_COMPLETED = r"""{"type":"status","status":"stream_completed","total_chunks":3,"execution_time":0.0008454322814941406,"invocation_id":"6276fd04-da5c-4b85-a1e5-77e5926fbbfc"}"""  # noqa: E501
FRAME_AGENT_RAISES = r"""{"type": "error", "error": "Streaming error: stream kaboom"}"""
FRAME_BAD_KWARGS = r"""{"type": "error", "error": "Streaming error: echo_stream() got an unexpected keyword argument 'zzz'"}"""  # noqa: E501
FRAME_INVALID_JSON = r"""{"type":"error","detail":"Invalid JSON format: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}"""  # noqa: E501
FRAME_MISSING_FIELD = r"""{"type":"error","detail":"Missing required field: input_args"}"""
FRAME_NONSTREAM_TAG = r"""{"type":"error","detail":"Entrypoint `echo` is not a streaming entrypoint. Use a streaming entrypoint (ending with '_stream')."}"""  # noqa: E501
FRAME_UNKNOWN_TAG = r"""{"type":"error","detail":"Entrypoint nope_stream not found"}"""


# =========================================================================================
class TestPayload:
    def test_minimal(self) -> None:
        body = build_run_payload("echo")
        assert body == {
            "entrypoint_tag": "echo",
            "input_args": [],
            "input_kwargs": {},
            "timeout_seconds": 300,
            "async_execution": False,
        }
        assert list(body) == [
            "entrypoint_tag",
            "input_args",
            "input_kwargs",
            "timeout_seconds",
            "async_execution",
        ]

    def test_everything(self) -> None:
        body = build_run_payload(
            "greet",
            ("a", 2),
            {"name": "bob"},
            timeout_seconds=42,
            user_id="u1",
            persistent_memory=True,
        )
        # The canonical body ([CHK] l.59-72), key order included.
        assert json.dumps(body, separators=(",", ":")) == (
            '{"entrypoint_tag":"greet","input_args":["a",2],"input_kwargs":{"name":"bob"},'
            '"timeout_seconds":42,"async_execution":false,"user_id":"u1","persistent_memory":true}'
        )

    def test_optional_keys_absent_by_default(self) -> None:
        body = build_run_payload("echo", user_id=None, persistent_memory=False)
        assert "user_id" not in body
        assert "persistent_memory" not in body  # never `false` (the TS SDK's quirk)
        assert "extra_params" not in body
        assert "id" not in body  # the Rust SDK's "run_start"

    def test_tuple_becomes_list_and_inputs_are_copied(self) -> None:
        args = ("hi", None)
        kwargs = {"n": 3}
        body = build_run_payload("echo", args, kwargs)
        assert body["input_args"] == ["hi", None]
        assert type(body["input_args"]) is list
        body["input_kwargs"]["n"] = 4
        assert kwargs == {"n": 3}

    def test_mapping_kwargs_become_dict(self) -> None:
        from types import MappingProxyType

        body = build_run_payload("echo", [], MappingProxyType({"a": 1}))
        assert type(body["input_kwargs"]) is dict
        assert body["input_kwargs"] == {"a": 1}

    def test_user_id_sent_as_given(self) -> None:
        assert build_run_payload("echo", user_id="user-7")["user_id"] == "user-7"

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({"entrypoint_tag": ""}, "entrypoint_tag must not be empty"),
            ({"entrypoint_tag": None}, "entrypoint_tag must be a string, got NoneType"),
            ({"entrypoint_tag": "a/b"}, "entrypoint_tag cannot contain '/', got 'a/b'"),
            (
                {"input_args": "hi"},
                "input_args must be a list or tuple of positional arguments, got str",
            ),
            (
                {"input_args": {"a": 1}},
                "input_args must be a list or tuple of positional arguments, got dict",
            ),
            (
                {"input_args": {1, 2}},
                "input_args must be a list or tuple of positional arguments, got set",
            ),
            ({"input_kwargs": [1]}, "input_kwargs must be a dict of keyword arguments, got list"),
            ({"input_kwargs": {1: "x"}}, "input_kwargs keys must be strings, got 1"),
            ({"timeout_seconds": 0}, "timeout_seconds must be at least 1, got 0"),
            ({"timeout_seconds": 1.5}, "timeout_seconds must be an int, got float"),
            ({"timeout_seconds": True}, "timeout_seconds must be an int, got bool"),
            ({"user_id": 7}, "user_id must be a string, got int"),
            ({"user_id": ""}, "user_id must not be empty"),
            ({"persistent_memory": "yes"}, "persistent_memory must be True or False, got 'yes'"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], text: str) -> None:
        arguments: dict[str, Any] = {"entrypoint_tag": "echo", **kwargs}
        with pytest.raises(InvalidArgumentError) as info:
            build_run_payload(**arguments)
        assert str(info.value) == text


# =========================================================================================
def serialize(value: Any) -> str:
    """The server's `serialize_object_to_structured` for a JSON value (serializer.py:163)."""
    kind = "null" if value is None else "object"
    for cls, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, cls):
            kind = name
            break
    if isinstance(value, list):
        kind = "array"
    payload = json.dumps(value, ensure_ascii=False)
    return json.dumps({"type": kind, "payload": payload}, ensure_ascii=False)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


class TestDecode:
    @pytest.mark.parametrize(
        ("body", "value"),
        [
            (RUN_ECHO, {"echo": "hi", "times": 2}),
            (RUN_ADD, 5),
            (RUN_GREET, "hello bob"),
            (RUN_NONE, {"echo": None, "times": 1}),
            (RUN_AUTH_HEADER, "hello world"),
        ],
    )
    def test_captured_run_replies(self, body: str, value: Any) -> None:
        data = json.loads(body)["data"]
        assert decode_result(data) == value
        assert type(decode_result(data)) is type(value)

    def test_captured_stream_frames(self) -> None:
        contents = [json.loads(f)["content"] for f in [*FRAMES_OK, FRAME_FIRST]]
        assert [decode_result(c) for c in contents] == ["hi-0", "hi-1", "hi-2", "first"]

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            # Every type the server emits (checked against runagent 0.1.49's serializer).
            ('{"type": "null", "payload": "null"}', None),
            ('{"type": "boolean", "payload": "true"}', True),
            ('{"type": "number", "payload": "2.5"}', 2.5),
            ('{"type": "array", "payload": "[1, [2, 3]]"}', [1, [2, 3]]),
            ('{"type": "string", "payload": "\\"\\""}', ""),
            ('{"type": "string", "payload": "\\"é\\""}', "é"),
            # NaN is sent as null, ±inf as a string.
            ('{"type": "number", "payload": "null"}', None),
            ('{"type": "number", "payload": "\\"inf\\""}', "inf"),
            ('{"type": "number", "payload": "\\"-inf\\""}', "-inf"),
            ('{"type": "array", "payload": "[null]"}', [None]),
            # Nested structured values are decoded once: inner strings stay strings.
            (
                '{"type": "object", "payload": "{\\"a\\": \\"{\\\\\\"b\\\\\\": 1}\\"}"}',
                {"a": '{"b": 1}'},
            ),
            # What the server sends for a value it cannot serialise (success:true!).
            (
                '{"type": "object", "payload": "{\\"error\\": \\"Serialization Error: x\\", '
                '\\"original_type\\": \\"<class \'Foo\'>\\"}"}',
                {"error": "Serialization Error: x", "original_type": "<class 'Foo'>"},
            ),
        ],
    )
    def test_structured(self, value: str, expected: Any) -> None:
        assert decode_result(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, None),
            ("", None),
            ("   \n", None),
            ("not json at all", "not json at all"),
            ("{bad", "{bad"),
            ("5", 5),  # JSON, not structured: its value
            ('"plain"', "plain"),
            ("[1, 2]", [1, 2]),
            ('{"a": 1}', {"a": 1}),
            ('{"type": "x"}', {"type": "x"}),  # no payload: not structured
            ('{"type": "string", "payload": "not json"}', "not json"),
            ('{"type": "object", "payload": {"already": "decoded"}}', {"already": "decoded"}),
            ('{"type": "integer", "payload": 7}', 7),
            ('{"type": "string", "payload": null}', None),
            ('{"strategy": "direct", "content": {"x": 1}}', {"x": 1}),
            ('{"strategy": "string_repr", "content": "Foo(x=1)"}', "Foo(x=1)"),
            # Already-decoded values (a cloud `data` object) go through the same rules.
            ({"type": "integer", "payload": "5"}, 5),
            ({"strategy": "direct", "content": [1]}, [1]),
            ({"plain": "dict"}, {"plain": "dict"}),
            ([1, 2], [1, 2]),
            (3, 3),
            (True, True),
        ],
    )
    def test_shapes(self, value: Any, expected: Any) -> None:
        assert decode_result(value) == expected

    @pytest.mark.parametrize("value", ["NaN", '{"type": "number", "payload": "NaN"}'])
    def test_nan_token(self, value: str) -> None:
        # json.loads accepts the NaN token, so the recipe gives a float NaN (the server
        # itself sends NaN as null).
        result = decode_result(value)
        assert isinstance(result, float) and result != result

    def test_deeply_nested_text_does_not_raise(self) -> None:
        text = "[" * 100_000
        assert decode_result(text) == text
        nested = json.dumps({"type": "array", "payload": "[" * 100_000})
        assert decode_result(nested) == "[" * 100_000

    @given(json_values)
    def test_round_trip(self, value: Any) -> None:
        assert decode_result(serialize(value)) == value

    @given(json_values)
    def test_round_trip_through_a_reply(self, value: Any) -> None:
        assume(not (isinstance(value, str) and "generator" in value.lower()))
        body = json.loads(json.dumps({"success": True, "data": serialize(value)}))
        assert run_result(body, tag="echo") == value


# =========================================================================================
class TestRunResult:
    def test_captured(self) -> None:
        assert run_result(json.loads(RUN_ECHO), tag="echo") == {"echo": "hi", "times": 2}
        assert run_result(json.loads(RUN_ADD), tag="add") == 5

    @pytest.mark.parametrize(
        ("body", "value"),
        [
            ({"success": True, "data": serialize("x")}, "x"),  # 1. string data
            (  # 2. legacy detailed payload
                {"success": True, "data": {"result_data": {"data": serialize([1, 2])}}},
                [1, 2],
            ),
            ({"success": True, "data": {"result_data": {"other": 1}}}, None),
            ({"success": True, "data": {"result_data": serialize(3)}}, 3),
            ({"success": True, "data": {"type": "integer", "payload": "5"}}, 5),  # 3. object
            ({"success": True, "data": {"strategy": "direct", "content": "c"}}, "c"),
            ({"success": True, "data": {"plain": 1}}, {"plain": 1}),
            ({"success": True, "data": [1]}, [1]),
            ({"success": True, "output_data": serialize({"old": True})}, {"old": True}),  # 4.
            ({"success": True, "data": None, "output_data": "raw"}, "raw"),
            ({"success": True, "data": None}, None),  # 5.
            ({"success": True, "data": ""}, None),
            ({"success": True}, None),
            ({"success": True, "data": "not json"}, "not json"),
            (serialize(9), 9),  # not an envelope at all
        ],
    )
    def test_where_the_value_is(self, body: Any, value: Any) -> None:
        assert run_result(body, tag="echo") == value

    @pytest.mark.parametrize(
        "data",
        [
            # What runagent 0.1.49 sends for a generator returned through /run.
            '{"type": "string", "payload": "\\"<generator object echo at 0x7fd1634949e0>\\""}',
            "<Generator object at 0x1>",
            '{"type": "string", "payload": "\\"<async_generator object g at 0x1>\\""}',
        ],
    )
    def test_generator_guard(self, data: str) -> None:
        with pytest.raises(EntrypointError) as info:
            run_result({"success": True, "data": data}, tag="echo")
        exc = info.value
        assert exc.code == "VALIDATION_ERROR"
        assert exc.message == (
            "Entrypoint `echo` returned a generator, which only a streaming entrypoint can deliver."
        )
        assert exc.suggestion == (
            "Expose it as `echo_stream` and call run_stream(), or return a value instead of "
            "yielding."
        )

    def test_generator_text_inside_an_object_is_a_value(self) -> None:
        data = serialize({"log": "<generator object x at 0x1>"})
        assert run_result({"success": True, "data": data}, tag="echo") == {
            "log": "<generator object x at 0x1>"
        }


# =========================================================================================
class TestParseError:
    def test_envelope(self) -> None:
        info = parse_runagent_error(json.loads(RUN_UNKNOWN_TAG))
        assert info.code == "NOT_FOUND"
        assert info.message == "Entrypoint nope not found"
        assert info.details is None
        assert info.field_errors == ()
        assert info.attributes == {"request_id": "67d04520-52db-48a6-a546-57b944d7a19c"}

    def test_envelope_with_suggestion_field_and_details(self) -> None:
        info = parse_runagent_error(
            {
                "success": False,
                "error": {
                    "code": "VALIDATION_ERROR",
                    "message": "bad input",
                    "details": {"max": 3},
                    "field": "input_kwargs.n",
                    "suggestion": "Use n <= 3.",
                },
            }
        )
        assert (info.code, info.message, info.details) == (
            "VALIDATION_ERROR",
            "bad input",
            {"max": 3},
        )
        assert info.attributes == {"suggestion": "Use n <= 3.", "field": "input_kwargs.n"}

    def test_string_error_with_code(self) -> None:
        info = parse_runagent_error({"success": False, "error": "[PERMISSION_ERROR] nope"})
        assert (info.code, info.message) == ("PERMISSION_ERROR", "nope")

    def test_string_error_without_code(self) -> None:
        info = parse_runagent_error({"error": "something broke"})
        assert (info.code, info.message) == (None, "something broke")

    def test_detail_string(self) -> None:
        info = parse_runagent_error(json.loads(NOT_FOUND_DETAIL))
        assert (info.code, info.message, info.attributes) == (None, "Not Found", {})

    def test_detail_list(self) -> None:
        info = parse_runagent_error(json.loads(RUN_MISSING_TAG_422))
        assert info.message == "Request validation failed"
        assert info.field_errors == (("entrypoint_tag", "Field required"),)
        assert info.details == json.loads(RUN_MISSING_TAG_422)["detail"]

    def test_top_level_message(self) -> None:
        assert parse_runagent_error({"message": "Unauthorized"}).message == "Unauthorized"

    @pytest.mark.parametrize("body", [None, [], "text", 3, {}, {"error": None}, {"error": ""}])
    def test_nothing_useful(self, body: Any) -> None:
        info = parse_runagent_error(body)
        assert (info.code, info.message, info.details, info.attributes) == (None, None, None, {})

    def test_non_string_code_and_message(self) -> None:
        info = parse_runagent_error({"error": {"code": 7, "message": {"a": 1}}})
        assert (info.code, info.message) == ("7", '{"a": 1}')

    @pytest.mark.parametrize(
        ("text", "parts"),
        [
            ("[NOT_FOUND] Entrypoint nope not found", ("NOT_FOUND", "Entrypoint nope not found")),
            ("[X1]msg", ("X1", "msg")),
            ("  [CODE]  spaced  ", ("CODE", "spaced")),
            ("[lower] no", (None, "[lower] no")),
            ("no code", (None, "no code")),
            ("[CODE]", ("CODE", "")),
        ],
    )
    def test_split_error_text(self, text: str, parts: tuple[str | None, str]) -> None:
        assert split_error_text(text) == parts


# =========================================================================================
@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def transport(*, key: str | None = None) -> Transport:
    return Transport(
        base_url=ROOT,
        platform="runagent",
        auth=BearerAuth(key) if key else None,
        error_parser=parse_runagent_error,
        max_retries=0,
    )


def status_error(
    mock: responses.RequestsMock,
    status: int,
    body: str | bytes = b"",
    *,
    method: str = "POST",
    path: str = f"{A}/run",
    headers: dict[str, str] | None = None,
    key: str | None = None,
) -> APIStatusError:
    """The APIStatusError the real transport raises for this reply, through our parser."""
    mock.add(
        method,
        ROOT + path,
        body=body,
        status=status,
        headers=headers,
        content_type="application/json",
    )
    t = transport(key=key)
    try:
        with pytest.raises(APIStatusError) as info:
            t.request(method, path, json={"entrypoint_tag": "echo"} if method == "POST" else None)
    finally:
        t.close()
    return info.value


def reformatted(body: str) -> str:
    """A JSON body as the core's excerpt shows it (parsed to mask secret keys, re-dumped)."""
    return json.dumps(json.loads(body), ensure_ascii=False)


def mapped(
    exc: APIStatusError, *, local: bool = True, op: Any = "run", tag: str = "echo"
) -> RunAgentError:
    return error_from_status(exc, local=local, agent_id=AGENT, tag=tag, op=op)


LOCAL_NOT_FOUND = (
    "Start the agent locally with `runagent serve`, or pass the host= and port= it is served "
    "at (a local server serves exactly one agent)."
)
REMOTE_NOT_FOUND = (
    "Confirm the agent ID in the dashboard, or pass local=True with host= and port= to call a "
    "local agent."
)


class TestStatusErrors:
    def test_unknown_tag_is_an_entrypoint_error(self, mock: responses.RequestsMock) -> None:
        err = mapped(status_error(mock, 404, RUN_UNKNOWN_TAG), tag="nope")
        assert type(err) is EntrypointError
        assert err.code == "NOT_FOUND"
        assert err.message == "Entrypoint nope not found"
        assert err.suggestion == (
            "Check that the entrypoint tag `nope` exists for this agent "
            "(get_agent_architecture() lists its tags)."
        )
        assert err.status_code == 404
        assert err.request_id == "67d04520-52db-48a6-a546-57b944d7a19c"
        assert err.body_excerpt == reformatted(RUN_UNKNOWN_TAG)
        assert err.details is None
        assert str(err) == (
            "[NOT_FOUND] Entrypoint nope not found (HTTP 404) — Check that the entrypoint tag "
            "`nope` exists for this agent (get_agent_architecture() lists its tags). "
            "[request id: 67d04520-52db-48a6-a546-57b944d7a19c]"
        )

    @pytest.mark.parametrize("op", ["run", "architecture"])
    def test_wrong_agent_locally(self, mock: responses.RequestsMock, op: str) -> None:
        method = "POST" if op == "run" else "GET"
        path = "/agents/wrong/run" if op == "run" else "/agents/wrong/architecture"
        err = mapped(status_error(mock, 404, NOT_FOUND_DETAIL, method=method, path=path), op=op)
        assert type(err) is AgentNotFoundError
        assert err.code == "AGENT_NOT_FOUND_LOCAL"
        assert err.local is True
        assert err.message == f"Agent {AGENT} was not found on the local server."
        assert err.suggestion == LOCAL_NOT_FOUND
        assert err.status_code == 404
        assert err.body_excerpt == reformatted(NOT_FOUND_DETAIL)

    @pytest.mark.parametrize("op", ["run", "architecture"])
    def test_wrong_agent_in_the_cloud(self, mock: responses.RequestsMock, op: str) -> None:
        err = mapped(status_error(mock, 404, NOT_FOUND_DETAIL, key=KEY), local=False, op=op)
        assert type(err) is AgentNotFoundError
        assert err.code == "AGENT_NOT_FOUND_REMOTE"
        assert err.local is False
        assert err.message == f"Agent {AGENT} was not found in RunAgent Cloud."
        assert err.suggestion == REMOTE_NOT_FOUND

    def test_architecture_404_envelope_keeps_the_server_message(
        self, mock: responses.RequestsMock
    ) -> None:
        body = json.dumps({"success": False, "error": {"code": "NOT_FOUND", "message": "No agent"}})
        err = mapped(status_error(mock, 404, body, method="GET"), local=False, op="architecture")
        assert type(err) is AgentNotFoundError
        assert (err.code, err.message) == ("AGENT_NOT_FOUND_REMOTE", "No agent")

    def test_invocation_not_found(self, mock: responses.RequestsMock) -> None:
        err = mapped(
            status_error(mock, 404, INVOCATION_NOT_FOUND, method="GET", path="/invocations/0"),
            op="invocation",
        )
        assert type(err) is RunAgentNotFoundError
        assert err.code == "NOT_FOUND"
        assert err.message == "Invocation 00000000-0000-0000-0000-000000000000 not found"
        assert err.suggestion == "Check the invocation id; list_invocations() shows recent ones."
        assert err.request_id == "2d384c51-f333-44ff-b713-806b1a9728b7"

    def test_agent_scoped_list_with_wrong_agent(self, mock: responses.RequestsMock) -> None:
        err = mapped(
            status_error(
                mock, 404, NOT_FOUND_DETAIL, method="GET", path="/agents/wrong/invocations"
            ),
            op="other",
        )
        assert type(err) is RunAgentNotFoundError
        assert (err.code, err.message) == ("NOT_FOUND", "Not Found")
        assert err.suggestion == "Check the agent id and that the address serves this agent."

    def test_stream_tag_through_rest(self, mock: responses.RequestsMock) -> None:
        err = mapped(status_error(mock, 400, RUN_STREAM_VIA_REST), tag="echo_stream")
        assert type(err) is RunAgentValidationError
        assert err.code == "VALIDATION_ERROR"
        assert err.message == (
            "Can't use Streaming Entrypoint `echo_stream` through non-streaming endpoint."
        )
        assert err.suggestion == "Call run_stream() or switch to a non-stream tag."
        assert err.request_id == "8f95b137-4cd1-4a4c-9fb4-5585f0c2d305"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (RUN_MISSING_TAG_422, "Request validation failed (entrypoint_tag: Field required)"),
            (RUN_INVALID_JSON_422, "Request validation failed (1: JSON decode error)"),
            (
                BAD_LIMIT_422,
                "Request validation failed (limit: Input should be a valid integer, unable to "
                "parse string as an integer)",
            ),
        ],
    )
    def test_422_names_the_fields(
        self, mock: responses.RequestsMock, body: str, message: str
    ) -> None:
        err = mapped(status_error(mock, 422, body), op="other")
        assert type(err) is RunAgentValidationError
        assert err.code == "VALIDATION_ERROR"
        assert err.message == message
        assert err.details == json.loads(body)["detail"]
        assert err.suggestion is None
        assert err.request_id is None

    def test_422_with_many_fields(self, mock: responses.RequestsMock) -> None:
        detail = [{"loc": ["body", f"f{i}"], "msg": "bad"} for i in range(5)]
        err = mapped(status_error(mock, 422, json.dumps({"detail": detail})))
        assert err.message == ("Request validation failed (f0: bad; f1: bad; f2: bad; and 2 more)")

    def test_401(self, mock: responses.RequestsMock) -> None:
        err = mapped(
            status_error(mock, 401, json.dumps({"detail": "Invalid API key"}), key=KEY),
            local=False,
        )
        assert type(err) is RunAgentAuthenticationError
        assert err.code == "AUTHENTICATION_ERROR"
        assert err.message == "Invalid API key"
        assert err.suggestion == "Check RUNAGENT_API_KEY or pass api_key=."
        assert KEY not in str(err) + err.body_excerpt

    def test_401_without_body(self, mock: responses.RequestsMock) -> None:
        err = mapped(status_error(mock, 401, b"", key=KEY), local=False)
        assert type(err) is RunAgentAuthenticationError
        assert err.message == f"Unauthorized (POST {ROOT}{A}/run)"

    def test_403(self, mock: responses.RequestsMock) -> None:
        err = mapped(
            status_error(mock, 403, json.dumps({"detail": "Forbidden"}), key=KEY), local=False
        )
        assert type(err) is RunAgentPermissionError
        assert err.code == "PERMISSION_ERROR"
        assert err.suggestion == (
            "Verify the agent ID and ensure your API key has access to this agent "
            f"(https://app.run-agent.ai/dashboard/agents/{AGENT})."
        )

    def test_500_envelope(self, mock: responses.RequestsMock) -> None:
        body = json.dumps(
            {
                "success": False,
                "error": {"code": "INTERNAL_ERROR", "message": "Internal server error: boom"},
                "request_id": "req-env",
            }
        )
        err = mapped(status_error(mock, 500, body, headers={"x-request-id": "req-header"}))
        assert type(err) is RunAgentServerError
        assert err.code == "INTERNAL_ERROR"
        assert err.message == "Internal server error: boom"
        assert err.suggestion == (
            "The local server failed; the output of `runagent serve` has the traceback."
        )
        assert err.request_id == "req-env"  # the envelope's first

    def test_request_id_from_header_without_envelope(self, mock: responses.RequestsMock) -> None:
        err = mapped(
            status_error(mock, 502, b"<html>bad gateway</html>", headers={"x-request-id": "h-1"}),
            local=False,
        )
        assert type(err) is RunAgentServerError
        assert err.code == "SERVER_ERROR"
        assert err.message == f"Bad Gateway (POST {ROOT}{A}/run)"
        assert err.request_id == "h-1"
        assert err.body_excerpt == "<html>bad gateway</html>"
        assert err.suggestion == (
            "Retry later; if it persists, contact RunAgent support with the request id."
        )

    @pytest.mark.parametrize("status", [405, 409, 429])
    def test_other_statuses(self, mock: responses.RequestsMock, status: int) -> None:
        err = mapped(status_error(mock, status, json.dumps({"detail": "nope"})))
        assert type(err) is RunAgentError
        assert (err.code, err.message, err.status_code) == ("UNKNOWN_ERROR", "nope", status)

    @pytest.mark.parametrize(
        ("status", "code", "cls"),
        [
            (500, "AUTHENTICATION_ERROR", RunAgentAuthenticationError),
            (400, "PERMISSION_ERROR", RunAgentPermissionError),
            (400, "ARCHITECTURE_MISSING", ArchitectureMissingError),
            (409, "VALIDATION_ERROR", RunAgentValidationError),
            (400, "STREAM_ENTRYPOINT", EntrypointError),
            (418, "SERVER_ERROR", RunAgentServerError),
        ],
    )
    def test_envelope_code_wins(
        self, mock: responses.RequestsMock, status: int, code: str, cls: type[RunAgentError]
    ) -> None:
        body = json.dumps({"success": False, "error": {"code": code, "message": "m"}})
        err = mapped(status_error(mock, status, body))
        assert type(err) is cls
        assert (err.code, err.message, err.status_code) == (code, "m", status)

    def test_server_agent_not_found_code_is_kept(self, mock: responses.RequestsMock) -> None:
        body = json.dumps(
            {"success": False, "error": {"code": "AGENT_NOT_FOUND_REMOTE", "message": "gone"}}
        )
        err = mapped(status_error(mock, 404, body), local=True)
        assert type(err) is AgentNotFoundError
        assert (err.code, err.message, err.local) == ("AGENT_NOT_FOUND_REMOTE", "gone", False)
        assert err.suggestion == REMOTE_NOT_FOUND

    def test_unknown_code_with_404(self, mock: responses.RequestsMock) -> None:
        body = json.dumps({"success": False, "error": {"code": "GONE", "message": "m"}})
        err = mapped(status_error(mock, 404, body))
        assert type(err) is RunAgentNotFoundError
        assert err.code == "GONE"

    def test_unknown_code_with_5xx_keeps_it(self, mock: responses.RequestsMock) -> None:
        body = json.dumps({"success": False, "error": {"code": "DB_DOWN", "message": "m"}})
        err = mapped(status_error(mock, 503, body), local=False)
        assert type(err) is RunAgentServerError
        assert err.code == "DB_DOWN"

    def test_server_suggestion_wins(self, mock: responses.RequestsMock) -> None:
        body = json.dumps(
            {
                "success": False,
                "error": {
                    "code": "AUTHENTICATION_ERROR",
                    "message": "expired",
                    "suggestion": "Create a new key in the dashboard.",
                },
            }
        )
        err = mapped(status_error(mock, 401, body, key=KEY), local=False)
        assert err.suggestion == "Create a new key in the dashboard."

    def test_server_suggestion_wins_on_404(self, mock: responses.RequestsMock) -> None:
        body = json.dumps(
            {"success": False, "error": {"code": "NOT_FOUND", "message": "m", "suggestion": "s"}}
        )
        assert mapped(status_error(mock, 404, body)).suggestion == "s"
        assert mapped(status_error(mock, 404, body), op="architecture").suggestion == "s"

    def test_string_error_code(self, mock: responses.RequestsMock) -> None:
        body = json.dumps({"success": False, "error": "[PERMISSION_ERROR] Access denied"})
        err = mapped(status_error(mock, 400, body))
        assert type(err) is RunAgentPermissionError
        assert (err.code, err.message) == ("PERMISSION_ERROR", "Access denied")

    def test_envelope_field_named(self, mock: responses.RequestsMock) -> None:
        body = json.dumps(
            {
                "success": False,
                "error": {"code": "VALIDATION_ERROR", "message": "too long", "field": "user_id"},
            }
        )
        err = mapped(status_error(mock, 400, body))
        assert err.message == "too long (field: user_id)"

    def test_secrets_masked_in_message_and_excerpt(self, mock: responses.RequestsMock) -> None:
        body = json.dumps({"success": False, "error": {"code": "X", "message": f"bad key {KEY}"}})
        err = mapped(status_error(mock, 401, body, key=KEY), local=False)
        assert KEY not in err.message
        assert KEY not in err.body_excerpt

    def test_long_agent_id_cut(self, mock: responses.RequestsMock) -> None:
        exc = status_error(mock, 404, NOT_FOUND_DETAIL)
        err = error_from_status(exc, local=True, agent_id="a" * 300, tag="echo", op="run")
        assert err.message == f"Agent {'a' * 99}… was not found on the local server."


# =========================================================================================
class TestEnvelope:
    def envelope(self, body: str, *, op: Any = "run", local: bool = True) -> RunAgentError:
        reply = json.loads(body)
        return error_from_envelope(
            reply["error"],
            local=local,
            agent_id=AGENT,
            status_code=200,
            request_id=reply.get("request_id"),
            op=op,
            tag="boom",
        )

    def test_agent_raised(self) -> None:
        err = self.envelope(RUN_RAISES)
        assert type(err) is RunAgentExecutionError
        assert err.code == "INTERNAL_ERROR"
        assert err.message == (
            f"Agent execution failed: Server error running agent {AGENT}: kaboom"
        )
        assert err.suggestion == (
            "The agent raised an exception or rejected its arguments; the output of "
            "`runagent serve` has the traceback."
        )
        assert (err.status_code, err.request_id) == (200, "a78deed0-fb82-4cb0-88e0-b875cd3216bc")
        assert err.details is None

    def test_bad_kwargs_in_the_cloud(self) -> None:
        err = self.envelope(RUN_BAD_KWARGS, local=False)
        assert type(err) is RunAgentExecutionError
        assert err.message.endswith("add() got an unexpected keyword argument 'zzz'")
        assert err.suggestion == (
            "The agent raised an exception or rejected its arguments; see its logs in the "
            f"dashboard (https://app.run-agent.ai/dashboard/agents/{AGENT})."
        )

    @pytest.mark.parametrize(
        ("error", "code", "message"),
        [
            ("[TIMEOUT] took too long", "TIMEOUT", "took too long"),
            ("plain failure", "UNKNOWN_ERROR", "plain failure"),
            (None, "UNKNOWN_ERROR", "The agent run failed; the server sent no error message."),
            ({}, "UNKNOWN_ERROR", "The agent run failed; the server sent no error message."),
            ({"message": "m"}, "UNKNOWN_ERROR", "m"),
            (
                {"code": "PERMISSION_ERROR", "message": "Access denied"},
                "PERMISSION_ERROR",
                "Access denied",
            ),
        ],
    )
    def test_run_shapes(self, error: Any, code: str, message: str) -> None:
        err = error_from_envelope(
            error, local=True, agent_id=AGENT, status_code=200, request_id=None, op="run"
        )
        assert type(err) is RunAgentExecutionError
        assert (err.code, err.message) == (code, message)

    def test_run_keeps_server_suggestion_and_details(self) -> None:
        err = error_from_envelope(
            {"code": "X", "message": "m", "details": {"a": 1}, "suggestion": "do y"},
            local=False,
            agent_id=AGENT,
            status_code=200,
            request_id="r",
            op="run",
            body_excerpt="{...}",
        )
        assert (err.suggestion, err.details, err.body_excerpt) == ("do y", {"a": 1}, "{...}")

    def test_deploy_hint(self) -> None:
        err = error_from_envelope(
            {"code": "X", "message": "Agent must be deployed first"},
            local=False,
            agent_id=AGENT,
            status_code=200,
            request_id=None,
            op="run",
        )
        assert err.suggestion == (
            f"Deploy the agent before running it (`runagent deploy`, or `runagent start --id "
            f"{AGENT}` if already uploaded)."
        )

    def test_secrets_masked(self) -> None:
        err = error_from_envelope(
            {"code": "X", "message": f"key {KEY} rejected", "details": {"echo": KEY}},
            local=False,
            agent_id=AGENT,
            status_code=200,
            request_id=None,
            op="run",
            secrets=(KEY,),
        )
        assert KEY not in err.message
        assert KEY not in json.dumps(err.details)

    @pytest.mark.parametrize(
        ("error", "local", "cls", "code", "message"),
        [
            (None, True, RunAgentError, "UNKNOWN_ERROR", "Failed to retrieve agent architecture"),
            ("oops", True, RunAgentError, "UNKNOWN_ERROR", "oops"),
            (
                {"code": "NOT_FOUND", "message": "no such agent"},
                True,
                AgentNotFoundError,
                "AGENT_NOT_FOUND_LOCAL",
                "no such agent",
            ),
            (
                {"code": "NOT_FOUND"},
                False,
                AgentNotFoundError,
                "AGENT_NOT_FOUND_REMOTE",
                f"Agent {AGENT} was not found in RunAgent Cloud.",
            ),
            (
                {"code": "AGENT_NOT_FOUND_LOCAL", "message": "m"},
                False,
                AgentNotFoundError,
                "AGENT_NOT_FOUND_LOCAL",
                "m",
            ),
            (
                {"code": "ARCHITECTURE_MISSING"},
                True,
                ArchitectureMissingError,
                "ARCHITECTURE_MISSING",
                "Failed to retrieve agent architecture",
            ),
            (
                {"code": "AUTHENTICATION_ERROR", "message": "m"},
                False,
                RunAgentAuthenticationError,
                "AUTHENTICATION_ERROR",
                "m",
            ),
        ],
    )
    def test_architecture(
        self, error: Any, local: bool, cls: type[RunAgentError], code: str, message: str
    ) -> None:
        err = error_from_envelope(
            error, local=local, agent_id=AGENT, status_code=200, request_id=None, op="architecture"
        )
        assert type(err) is cls
        assert (err.code, err.message) == (code, message)

    def test_other_ops(self) -> None:
        err = error_from_envelope(
            {"code": "NOT_FOUND", "message": "Invocation x not found"},
            local=True,
            agent_id=AGENT,
            status_code=200,
            request_id=None,
            op="invocation",
        )
        assert type(err) is RunAgentNotFoundError
        assert err.suggestion == "Check the invocation id; list_invocations() shows recent ones."
        err = error_from_envelope(
            None, local=True, agent_id=AGENT, status_code=200, request_id=None, op="other"
        )
        assert type(err) is RunAgentError
        assert (err.code, err.message) == (
            "UNKNOWN_ERROR",
            "The server reported a failure without a message.",
        )


# =========================================================================================
@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def connection_error(port: int) -> APIConnectionError:
    t = Transport(base_url=f"http://127.0.0.1:{port}/api/v1", platform="runagent", max_retries=0)
    try:
        with pytest.raises(APIConnectionError) as info:
            t.request("GET", "/health", timeout=(0.5, 0.5))
    finally:
        t.close()
    return info.value


STALE = LocalAgent(AGENT, "127.0.0.1", 8450, "serving", "/home/me/my agents/echo", "default")


class TestConnection:
    def test_refused_at_a_given_address(self, closed_port: int) -> None:
        exc = connection_error(closed_port)
        address = f"http://127.0.0.1:{closed_port}"
        err = error_from_connection(
            exc, agent_id=AGENT, local=True, address=address, registry_entry=None
        )
        assert type(err) is AgentNotRunningError
        assert isinstance(err, RunAgentConnectionError)
        assert isinstance(err, APIConnectionError)
        assert err.code == "CONNECTION_ERROR"
        assert err.message == f"agent {AGENT} is not running at {address}"
        assert err.suggestion == (
            "Start it with `runagent serve <agent dir>`, or pass host= and port=."
        )
        assert err.details == {"address": address}
        assert (err.method, err.url) == ("GET", f"{address}/api/v1/health")
        assert err.cause is exc.cause

    def test_refused_at_a_registry_address(self, closed_port: int) -> None:
        exc = connection_error(closed_port)
        address = f"http://127.0.0.1:{closed_port}"
        err = error_from_connection(
            exc, agent_id=AGENT, local=True, address=address, registry_entry=STALE
        )
        assert type(err) is AgentNotRunningError
        assert err.message == (
            f"agent {AGENT} is not running at {address} "
            "(the local registry still lists it as 'serving')"
        )
        # The path is quoted so the command can be pasted into a shell.
        assert err.suggestion == (
            "Start it with `runagent serve '/home/me/my agents/echo'`, or pass host= and port=."
        )
        assert err.details == {"address": address, "registry_status": "serving"}

    def test_registry_row_without_status_or_path(self, closed_port: int) -> None:
        entry = STALE._replace(status=None, agent_path=None)
        err = error_from_connection(
            connection_error(closed_port),
            agent_id=AGENT,
            local=True,
            address="http://x:1",
            registry_entry=entry,
        )
        assert err.message == (
            f"agent {AGENT} is not running at http://x:1 (the address came from the local registry)"
        )
        assert err.suggestion == (
            "Start it with `runagent serve <agent dir>`, or pass host= and port=."
        )

    def test_refused_in_the_cloud_is_a_connection_error(self, closed_port: int) -> None:
        exc = connection_error(closed_port)
        err = error_from_connection(
            exc, agent_id=AGENT, local=False, address="https://x", registry_entry=None
        )
        assert type(err) is RunAgentConnectionError
        assert err.message == str(exc)  # the core's one line: attempts, elapsed, cause
        assert "could not connect" in err.message
        assert err.suggestion == (
            "Check your network connection and that the RunAgent service URL is reachable "
            "(RUNAGENT_BASE_URL or base_url=)."
        )

    def test_websocket_refused(self, closed_port: int) -> None:
        with pytest.raises(ConnectionRefusedError) as info:
            websocket.create_connection(f"ws://127.0.0.1:{closed_port}/api/v1", timeout=0.5)
        exc = APIConnectionError("refused", method="GET", url="ws://x", cause=info.value)
        assert is_refused(exc)
        err = error_from_connection(
            exc, agent_id=AGENT, local=True, address="ws://x", registry_entry=None
        )
        assert type(err) is AgentNotRunningError

    def test_other_local_failure(self) -> None:
        cause = requests.ConnectionError(OSError(-2, "Name or service not known"))
        exc = APIConnectionError(
            "GET http://nohost:1/api/v1/health: could not connect", cause=cause
        )
        assert not is_refused(exc)
        err = error_from_connection(
            exc, agent_id=AGENT, local=True, address="http://nohost:1", registry_entry=STALE
        )
        assert type(err) is RunAgentConnectionError
        assert err.message == "GET http://nohost:1/api/v1/health: could not connect"
        assert err.suggestion == (
            "Check that the agent is served at http://nohost:1 (`runagent serve`) and that "
            "host= and port= are right."
        )

    def test_errno_refused_without_the_subclass(self) -> None:
        class Wrapped(Exception):  # e.g. a library error carrying the errno of its cause
            errno = ECONNREFUSED

        assert is_refused(APIConnectionError("x", cause=Wrapped("refused")))
        unreachable = OSError(EHOSTUNREACH, "No route to host")
        assert not is_refused(APIConnectionError("x", cause=unreachable))

    def test_refused_found_through_context(self) -> None:
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except OSError:
                raise RuntimeError("wrapped") from None
        except RuntimeError as exc:
            # `from None` hides the context from tracebacks but keeps it on the exception.
            assert is_refused(exc)

    def test_cyclic_chain_terminates(self) -> None:
        a, b = ValueError("a"), ValueError("b")
        a.__context__, b.__context__ = b, a
        assert not is_refused(a)

    def test_timeout(self) -> None:
        exc = APITimeoutError(
            "GET http://127.0.0.1:8450/api/v1/health: no reply within 0.1s (read timeout) "
            "(1 attempt in 0.1s).",
            method="GET",
            url="http://127.0.0.1:8450/api/v1/health",
            cause=TimeoutError("timed out"),
        )
        err = error_from_connection(
            exc, agent_id=AGENT, local=True, address="http://127.0.0.1:8450", registry_entry=STALE
        )
        assert type(err) is RunAgentTimeoutError
        assert isinstance(err, APITimeoutError)
        assert err.code == "TIMEOUT"
        assert err.message == str(exc)
        assert (err.method, err.url, err.cause) == (exc.method, exc.url, exc.cause)


# =========================================================================================
class TestFrames:
    def frame(self, text: str) -> RunAgentStreamError:
        return error_from_frame(json.loads(text))

    @pytest.mark.parametrize(
        ("text", "message", "suggestion"),
        [
            (
                FRAME_AGENT_RAISES,
                "Streaming error: stream kaboom",
                "The agent raised an exception while streaming (or rejected its arguments); "
                "the agent server's log has the traceback.",
            ),
            (
                FRAME_BAD_KWARGS,
                "Streaming error: echo_stream() got an unexpected keyword argument 'zzz'",
                "The agent raised an exception while streaming (or rejected its arguments); "
                "the agent server's log has the traceback.",
            ),
            (
                FRAME_NONSTREAM_TAG,
                "Entrypoint `echo` is not a streaming entrypoint. Use a streaming entrypoint "
                "(ending with '_stream').",
                "Call run() or deploy a `_stream` entrypoint.",
            ),
            (
                FRAME_UNKNOWN_TAG,
                "Entrypoint nope_stream not found",
                "Check the entrypoint tag; get_agent_architecture() lists the agent's tags.",
            ),
            (FRAME_MISSING_FIELD, "Missing required field: input_args", None),
            (
                FRAME_INVALID_JSON,
                "Invalid JSON format: Expecting property name enclosed in double quotes: line 1 "
                "column 2 (char 1)",
                None,
            ),
        ],
    )
    def test_captured_error_frames(self, text: str, message: str, suggestion: str | None) -> None:
        err = self.frame(text)
        assert type(err) is RunAgentStreamError
        assert isinstance(err, StreamError)
        assert err.code == "STREAM_ERROR"
        assert err.message == message
        assert err.suggestion == suggestion
        assert err.details == json.loads(text)
        assert str(err).startswith(f"[STREAM_ERROR] {message}")

    def test_error_wins_over_detail(self) -> None:
        err = error_from_frame({"type": "error", "error": "e", "detail": "d"})
        assert err.message == "e"

    def test_code_in_text_or_frame(self) -> None:
        err = error_from_frame({"type": "error", "error": "[PERMISSION_ERROR] Access denied"})
        assert (err.code, err.message) == ("PERMISSION_ERROR", "Access denied")
        err = error_from_frame({"type": "error", "error": "m", "code": "RATE_LIMITED"})
        assert (err.code, err.message) == ("RATE_LIMITED", "m")

    def test_non_text_error(self) -> None:
        err = error_from_frame({"type": "error", "error": {"code": 1, "reason": "x"}})
        assert err.message == '{"code": 1, "reason": "x"}'

    def test_error_frame_without_text(self) -> None:
        err = error_from_frame({"type": "error"})
        assert err.message == "the server sent an error frame without a message"

    @pytest.mark.parametrize("status", sorted(FAILED_STATUSES))
    def test_failing_status_frames(self, status: str) -> None:
        err = error_from_frame({"type": "status", "status": status})
        assert type(err) is RunAgentStreamError
        assert err.message == f"the stream reported status '{status}'"
        assert err.code == ("STREAM_RETRY" if status == "stream_retry" else "STREAM_ERROR")
        if status == "stream_retry":
            assert err.suggestion == "The server asked to retry: call run_stream() again."

    def test_status_frame_with_text(self) -> None:
        err = error_from_frame({"type": "status", "status": "stream_failed", "error": "VM died"})
        assert err.message == "VM died"

    def test_long_text_cut_and_secrets_masked(self) -> None:
        err = error_from_frame({"type": "error", "error": f"{KEY} " + "x" * 2000}, secrets=(KEY,))
        assert len(err.message) == 500
        assert KEY not in err.message
        assert KEY not in json.dumps(err.details)

    def test_status_sets(self) -> None:
        assert sorted(SKIPPED_STATUSES) == ["stream_progress", "stream_started", "stream_update"]
        assert sorted(FAILED_STATUSES) == [
            "stream_error",
            "stream_failed",
            "stream_interrupted",
            "stream_retry",
        ]
        assert json.loads(FRAME_STARTED)["status"] in SKIPPED_STATUSES
        assert json.loads(FRAME_COMPLETED)["status"] == "stream_completed"


# =========================================================================================
class TestGuardrail:
    @pytest.mark.parametrize(
        ("tag", "streaming"),
        [("echo", False), ("echo_stream", True), ("stream", False), ("_stream", True)],
    )
    def test_allowed(self, tag: str, streaming: bool) -> None:
        check_guardrail(tag, streaming=streaming)  # no error

    def test_run_on_a_stream_tag(self) -> None:
        with pytest.raises(EntrypointError) as info:
            check_guardrail("echo_stream", streaming=False)
        err = info.value
        assert err.code == "STREAM_ENTRYPOINT"
        assert err.message == "Entrypoint `echo_stream` is streaming. Use run_stream() instead."
        assert err.suggestion == "Call run_stream() or switch to a non-stream tag."
        assert err.status_code is None

    def test_run_stream_on_another_tag(self) -> None:
        with pytest.raises(EntrypointError) as info:
            check_guardrail("echo", streaming=True)
        err = info.value
        assert err.code == "NON_STREAM_ENTRYPOINT"
        assert err.message == "Entrypoint `echo` is not streaming. Use run() instead."
        assert err.suggestion == "Call run() or deploy a `_stream` entrypoint."

    def test_suffix_is_case_sensitive(self) -> None:
        # The server's own rule is `endswith("_stream")`.
        with pytest.raises(EntrypointError):
            check_guardrail("echo_STREAM", streaming=True)

    def test_long_tag_cut(self) -> None:
        with pytest.raises(EntrypointError) as info:
            check_guardrail("t" * 300 + "_stream", streaming=False)
        assert info.value.message == (
            f"Entrypoint `{'t' * 99}…` is streaming. Use run_stream() instead."
        )

    def test_bad_tag(self) -> None:
        with pytest.raises(InvalidArgumentError, match="entrypoint_tag must be a string"):
            check_guardrail(None, streaming=True)  # type: ignore[arg-type]
