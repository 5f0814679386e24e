"""openapi/akribes.yaml and its generated models agree with the reference's wire examples.

The frames below are the examples of reference/akribes.md §8.10-§8.11 (values filled in where
the reference elides them); each is decoded strictly (an unknown key fails), written back
unchanged, and where a route returns it, validated against the spec by openapi-core.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from controldeck._core._convert import structure
from controldeck._generated import akribes as m
from tests._conformance import openapi, operations, spec_document

ORIGIN = "http://127.0.0.1:8765"

SPAN = {"line": 3, "col": 5, "end_line": 3, "end_col": 17}
HUB_BATCH = [
    {
        "type": "Execution",
        "payload": {
            "project_id": 1,
            "script_name": "my_script",
            "execution_id": "abc",
            "seq": 1235,
            "at": "2026-02-01T10:00:00+00:00",
            "event": {"type": "NodeStart", "payload": [3, SPAN]},
        },
    },
    {"type": "Registry", "payload": {"type": "ProjectDeleted", "payload": 7}},
    {"type": "Lagged", "payload": {"dropped": 3}},
]
TASK_END = {
    "type": "TaskEnd",
    "payload": {
        "task": "summarise",
        "on_error_label": None,
        "value": {"title": "hi"},
        "value_type": {"name": "Summary", "inner": None, "choices": None},
        "duration": {"secs": 0, "nanos": 10000000},
        "attempt": 1,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "model": "m",
            "provider": "p",
            "cached_input_tokens": 0,
            "stop_reason": "stop",
        },
        "variant": "partial",
    },
}
SUSPENDED = {
    "type": "Suspended",
    "payload": {
        "checkpoint_name": "cp",
        "token": "t",
        "prompt": "p",
        "schema": {},
        "actor_hint": "Human",
        "timeout_secs": None,
    },
}
EXECUTION_EVENTS = {
    "execution_id": "abc-456",
    "status": "running",
    "complete": False,
    "events": [
        {"type": "WorkflowStart", "payload": 2},
        {"type": "TaskStart", "payload": ["summarise", None]},
        {"type": "StateUpdate", "payload": ["x", [1, "two"]]},
        TASK_END,
        SUSPENDED,
        {"type": "WorkflowEnd", "payload": "hi"},
        {"type": "TaskPaused", "payload": {"task": "later"}},
    ],
    "next_after_id": 220,
    "has_more": True,
}


def _roundtrip(model: m.Model) -> Any:
    return json.loads(model.to_json(reveal_secrets=True))


def _validate_reply(method: str, path: str, body: Any, status: int = 200) -> None:
    request = requests.Request(
        method, ORIGIN + path, headers={"Authorization": "Bearer akribes_tk_x"}
    ).prepare()
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    spec = openapi("akribes")
    oa_request = RequestsOpenAPIRequest(request)
    spec.validate_request(oa_request)
    spec.validate_response(oa_request, RequestsOpenAPIResponse(response))


def test_every_operation_has_a_unique_sdk_operation_id() -> None:
    ids = [
        op["operationId"]
        for item in spec_document("akribes")["paths"].values()
        for key, op in item.items()
        if key != "parameters"
    ]
    assert len(ids) == len(set(ids)) == len(operations("akribes", wrapped_only=False))
    assert all(re.fullmatch(r"([a-z_]+\.)?[a-z][a-z0-9_]*", i) for i in ids), ids
    assert {"executions.run", "executions.rerun", "organizations.get_usage"} <= set(ids)


def test_requests_on_a_bare_origin_match_the_spec_and_bad_ones_do_not() -> None:
    """No prefix is added to the base URL, and openapi-core checks what the SDK sends."""
    spec = openapi("akribes")
    good = requests.Request(
        "POST",
        f"{ORIGIN}/projects/1/scripts/my_script/run?channel=production",
        headers={"Authorization": "Bearer akribes_tk_x", "Idempotency-Key": "k-1"},
        json={"inputs": {"doc": "doc_1", "n": 3}, "triggered_by": "rust-sdk"},
    ).prepare()
    spec.validate_request(RequestsOpenAPIRequest(good))
    bad = requests.Request(
        "POST",
        f"{ORIGIN}/projects/one/scripts/my_script/run",
        headers={"Authorization": "Bearer akribes_tk_x"},
        json={"inputs": {}},
    ).prepare()
    with pytest.raises(Exception, match="project_id"):
        spec.validate_request(RequestsOpenAPIRequest(bad))


def test_secret_fields_are_the_token_and_credential_secrets() -> None:
    assert {
        "auth_secret",
        "secret_access_key",
        "session_token",
        "token",
        "value",
    } == m.SECRET_FIELDS
    minted = structure(
        {"token": "akribes_tk_abc", "token_id": "tok_1", "expires_at": "2026-02-01T00:00:00Z"},
        m.MintTokenResponse,
        strict=True,
    )
    assert "akribes_tk_abc" not in repr(minted)
    assert minted.to_dict()["token"] == "<redacted>"
    assert minted.expires_at == datetime(2026, 2, 1, tzinfo=UTC)


def test_a_hub_batch_decodes_by_tag_and_keeps_unknown_variants() -> None:
    execution, registry, unknown = structure(HUB_BATCH, m.HubEventBatch, strict=True)
    assert isinstance(execution, m.ExecutionHubEvent)
    assert execution.payload.seq == 1235
    assert execution.payload.execution_id == "abc"
    assert execution.payload.at == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert execution.payload.event == m.NodeStartEvent(payload=(3, m.Span(**SPAN)))
    assert registry == m.RegistryHubEvent(payload=m.ProjectDeletedEvent(payload=7))
    assert unknown == m.UnknownHubEvent(tag="Lagged", raw=HUB_BATCH[2])
    assert unknown.type == "Lagged"  # reads like every member's `.type`
    assert [_roundtrip(e) for e in (execution, registry, unknown)] == HUB_BATCH


def test_execution_events_decode_every_payload_shape() -> None:
    # The spec lists the known variants only, so the unknown one is left out of this check.
    known = dict(EXECUTION_EVENTS, events=EXECUTION_EVENTS["events"][:-1])
    _validate_reply("GET", "/executions/abc-456/events?after_id=120&limit=100", known)
    page = structure(EXECUTION_EVENTS, m.ExecutionEvents, strict=True)
    start, task, state, end, suspended, finished, unknown = page.events
    assert start == m.WorkflowStartEvent(payload=2)
    assert task == m.TaskStartEvent(payload=("summarise", None))
    assert state == m.StateUpdateEvent(payload=("x", [1, "two"]))
    assert isinstance(end, m.TaskEndEvent)
    assert end.payload.duration == m.Duration(secs=0, nanos=10000000)
    assert end.payload.variant == m.TaskEndVariant.PARTIAL
    assert end.payload.usage is not None and end.payload.usage.cache_write_input_tokens == 0
    assert isinstance(suspended, m.SuspendedEvent)
    assert suspended.payload.trigger is None
    assert "'t'" not in repr(suspended)
    assert finished == m.WorkflowEndEvent(payload="hi")
    assert unknown == m.UnknownEngineEvent(tag="TaskPaused", raw=EXECUTION_EVENTS["events"][6])
    assert (page.next_after_id, page.has_more) == (220, True)
    assert _roundtrip(state) == EXECUTION_EVENTS["events"][2]


def test_task_end_variant_defaults_to_success_and_new_values_are_kept() -> None:
    payload = dict(TASK_END["payload"], variant="retried")
    assert structure(payload, m.TaskEndPayload).variant == m.TaskEndVariant.UNKNOWN
    del payload["variant"]
    assert structure(payload, m.TaskEndPayload).variant == m.TaskEndVariant.SUCCESS


def test_workflow_end_new_shape_decodes_as_a_summary() -> None:
    new = {
        "value": {"exit_code": 0},
        "total_input_tokens": 12,
        "total_cost_usd": 0.5,
        "task_count": 2,
    }
    event = structure({"type": "WorkflowEnd", "payload": new}, m.EngineEvent, strict=True)
    assert isinstance(event, m.WorkflowEndEvent)
    summary = structure(event.payload, m.WorkflowEndSummary, strict=True)
    assert (summary.value, summary.total_input_tokens, summary.total_tool_tokens) == (
        {"exit_code": 0},
        12,
        0,
    )


def test_suspend_triggers_and_child_outcomes_decode_by_their_own_tags() -> None:
    trigger = structure(
        {
            "kind": "AgentUnable",
            "task_name": "t",
            "unable": {"reason": "no data", "missing": ["x"], "category": "input"},
        },
        m.SuspendTrigger,
        strict=True,
    )
    assert trigger == m.AgentUnableTrigger(
        task_name="t", unable=m.UnableRecord(reason="no data", missing=["x"], category="input")
    )
    assert structure({"kind": "Later"}, m.SuspendTrigger) == m.UnknownSuspendTrigger(
        tag="Later", raw={"kind": "Later"}
    )
    outcome = structure(
        {"kind": "Err", "detail": {"kind": "ScriptError", "message": "boom", "code": None}},
        m.ChildOutcome,
        strict=True,
    )
    assert outcome == m.ChildErr(kind="ScriptError", message="boom")


def test_bench_events_in_the_hub() -> None:
    run = {
        "id": 4,
        "bench_id": 2,
        "channel": "production",
        "workflow_version_id": 9,
        "judge_version_id": 10,
        "status": "running",
        "triggered_at": "2026-02-01T10:00:00Z",
    }
    frame = {
        "type": "Bench",
        "payload": {
            "type": "RunStarted",
            "payload": {"project_id": 1, "script_name": "s", "run": run},
        },
    }
    event = structure(frame, m.HubEvent, strict=True)
    assert isinstance(event, m.BenchHubEvent)
    assert isinstance(event.payload, m.BenchRunStartedEvent)
    assert (event.payload.payload.run.mode, event.payload.payload.run.total_cost_usd) == ("full", 0)


def test_error_bodies_of_the_reference_decode() -> None:
    invalid = structure(
        {
            "error": "input_validation_failed",
            "errors": [
                {"input": "x", "code": "missing", "expected": "int"},
                {"input": "y", "code": "wrong_type", "got": "str"},
            ],
        },
        m.InputValidationError,
        strict=True,
    )
    assert [(e.input, e.code, e.expected, e.got) for e in invalid.errors] == [
        ("x", m.InputValidationCode.MISSING, "int", None),
        ("y", m.InputValidationCode.WRONG_TYPE, None, "str"),
    ]
    exists = structure(
        {"error_type": "suite_already_exists", "existing_suite_id": 7, "error": "exists"},
        m.SuiteAlreadyExistsError,
        strict=True,
    )
    assert exists.existing_suite_id == 7


def test_request_bodies_leave_unset_fields_out() -> None:
    body = m.MintTokenRequest(
        user_email="alice@acme.com",
        scopes=m.TokenScopes(projects="*", role=m.TokenRole.ADMIN, can_mint=False),
        expires_in=28800,
        label="web-session",
    )
    assert body.to_dict() == {
        "user_email": "alice@acme.com",
        "scopes": {"projects": "*", "role": "admin", "can_mint": False},
        "expires_in": 28800,
        "label": "web-session",
    }
    s3 = m.RunWithS3Request(
        inputs={"doc": m.S3PresignedRef(presigned_url="https://s3/x")}, triggered_by="rust-sdk"
    )
    assert s3.to_dict() == {
        "inputs": {"doc": {"presigned_url": "https://s3/x"}},
        "triggered_by": "rust-sdk",
    }
