"""`client.executions`: executions and documents by id, against a spec-validating mock.

Each test checks the exact request (method, path, query, headers, body) and the decoded
values; the `api` fixture validates both against openapi/akribes.yaml.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from controldeck._generated.akribes import (
    ConversionStatus,
    LogEvent,
    WorkflowStartEvent,
)
from controldeck.akribes import AkribesClient
from controldeck.akribes._errors import DocumentConversionError
from controldeck.errors import (
    InvalidArgumentError,
    NotFoundError,
    UnprocessableEntityError,
)
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, TOKEN

EID = "abc-456"
DOC = "doc_0f8e"

STATUS: dict[str, Any] = {
    "id": EID,
    "project_id": 7,
    "script_name": "triage",
    "status": "completed",
    "started_at": "2026-01-02T03:04:05Z",
    "finished_at": "2026-01-02T03:04:09Z",
    "channel": "production",
    "result": {"answer": 42},
    "input_tokens": 120,
    "output_tokens": 30,
    "cost_usd": 0.0125,
}
NOT_FOUND = {"error": "not found"}


def only_call(api: ConformanceMock) -> Any:
    assert len(api.calls) == 1
    return api.calls[0].request


def test_get_decodes_the_execution(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/executions/{EID}", json=STATUS)

    execution = client.executions.get(EID)

    request = only_call(api)
    assert request.method == "GET"
    assert request.url == f"{BASE_URL}/executions/{EID}"
    assert request.headers["Authorization"] == AUTH
    assert request.body is None
    assert execution is not None
    assert execution.id == EID
    assert execution.status == "completed"
    assert execution.result == {"answer": 42}
    assert execution.started_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (execution.input_tokens, execution.output_tokens, execution.tool_tokens) == (120, 30, 0)
    assert execution.cost_usd == 0.0125


def test_ids_are_one_encoded_path_segment(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/executions/a%2Fb%20c", json={**STATUS, "id": "a/b c"})

    assert client.executions.get("a/b c") is not None
    assert only_call(api).path_url == "/executions/a%2Fb%20c"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/executions/{EID}"),
        ("get_output", f"/executions/{EID}/output"),
        ("get_events", f"/executions/{EID}/events"),
        ("tasks", f"/executions/{EID}/tasks"),
        ("get_document", f"/documents/{EID}"),
    ],
)
def test_getters_return_none_on_404(
    api: ConformanceMock, client: AkribesClient, method: str, path: str
) -> None:
    api.get(f"{BASE_URL}{path}", json=NOT_FOUND, status=404)

    assert getattr(client.executions, method)(EID) is None
    assert only_call(api).path_url == path


def test_get_output(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(
        f"{BASE_URL}/executions/{EID}/output",
        json={"status": "failed", "error": "boom", "error_kind": "RateLimit"},
    )

    output = client.executions.get_output(EID)

    assert only_call(api).headers["Authorization"] == AUTH
    assert output is not None
    assert (output.status, output.error, output.error_kind, output.result) == (
        "failed",
        "boom",
        "RateLimit",
        None,
    )


EVENTS_PAGE: dict[str, Any] = {
    "execution_id": EID,
    "status": "running",
    "complete": False,
    "events": [
        {"type": "WorkflowStart", "payload": 3},
        {"type": "Log", "payload": "hello"},
    ],
    "next_after_id": 220,
    "has_more": True,
}


def test_get_events_sends_cursor_limit_and_comma_separated_types(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/executions/{EID}/events", json=EVENTS_PAGE)

    page = client.executions.get_events(
        EID, after_id=120, limit=100, types=["TaskEnd", "WorkflowEnd"]
    )

    request = only_call(api)
    assert request.path_url == (
        f"/executions/{EID}/events?after_id=120&limit=100&types=TaskEnd%2CWorkflowEnd"
    )
    assert page is not None
    assert page.events[0] == WorkflowStartEvent(payload=3)
    assert page.events[1] == LogEvent(payload="hello")
    assert len(page.events) == 2
    assert (page.next_after_id, page.has_more, page.complete) == (220, True, False)


def test_get_events_without_filters_sends_no_query(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/executions/{EID}/events", json={**EVENTS_PAGE, "has_more": False})

    client.executions.get_events(EID, types="TaskEnd")
    client.executions.get_events(EID)

    assert api.calls[0].request.path_url == f"/executions/{EID}/events?types=TaskEnd"
    assert api.calls[1].request.path_url == f"/executions/{EID}/events"


def test_iter_events_follows_next_after_id_while_has_more(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/executions/{EID}/events", json=EVENTS_PAGE)
    api.get(
        f"{BASE_URL}/executions/{EID}/events",
        json={
            **EVENTS_PAGE,
            "status": "completed",
            "complete": True,
            "events": [{"type": "Log", "payload": "bye"}],
            "next_after_id": 221,
            "has_more": False,
        },
    )

    events = client.executions.iter_events(EID, types=["Log", "WorkflowStart"])
    assert len(api.calls) == 0  # lazy: nothing is fetched before iterating
    got = list(events)

    assert [e.type for e in got] == ["WorkflowStart", "Log", "Log"]
    assert got[-1] == LogEvent(payload="bye")
    assert [c.request.path_url for c in api.calls] == [
        f"/executions/{EID}/events?types=Log%2CWorkflowStart",
        f"/executions/{EID}/events?after_id=220&types=Log%2CWorkflowStart",
    ]


def test_iter_events_stops_when_the_cursor_does_not_move(
    api: ConformanceMock, client: AkribesClient
) -> None:
    stuck = {**EVENTS_PAGE, "events": [], "next_after_id": 5, "has_more": True}
    api.get(f"{BASE_URL}/executions/{EID}/events", json=stuck)

    assert list(client.executions.iter_events(EID, after_id=4)) == []
    assert [c.request.path_url for c in api.calls] == [
        f"/executions/{EID}/events?after_id=4",
        f"/executions/{EID}/events?after_id=5",
    ]


def test_iter_events_of_an_unknown_execution_is_empty(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/executions/{EID}/events", json=NOT_FOUND, status=404)

    assert list(client.executions.iter_events(EID)) == []
    assert len(api.calls) == 1


def test_tasks(api: ConformanceMock, client: AkribesClient) -> None:
    task = {
        "task_name": "classify",
        "model": "m",
        "provider": "p",
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_input_tokens": 2,
        "cache_write_input_tokens": 1,
        "cost_usd": 0.002,
        "duration_ms": 900,
        "attempt": 1,
        "finished_at": "2026-01-02T03:04:09Z",
    }
    api.get(f"{BASE_URL}/executions/{EID}/tasks", json={"execution_id": EID, "tasks": [task]})

    tasks = client.executions.tasks(EID)

    assert only_call(api).headers["Authorization"] == AUTH
    assert tasks is not None
    assert tasks.execution_id == EID
    assert [(t.task_name, t.input_tokens, t.duration_ms) for t in tasks.tasks] == [
        ("classify", 10, 900)
    ]


def test_children_is_a_list_and_empty_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    child = {"id": "c-1", "status": "running", "script_name": "summarise", "parent_node_id": "4"}
    api.get(f"{BASE_URL}/executions/{EID}/children", json=[child])
    api.get(f"{BASE_URL}/executions/{EID}/children", json=NOT_FOUND, status=404)

    children = client.executions.children(EID)

    assert [(c.id, c.script_name, c.parent_node_id) for c in children] == [
        ("c-1", "summarise", "4")
    ]
    assert api.calls[0].request.path_url == f"/executions/{EID}/children"
    assert client.executions.children(EID) == []


def test_cancel_is_true_then_false_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(f"{BASE_URL}/executions/{EID}", json={"status": "cancelled"})
    api.delete(f"{BASE_URL}/executions/{EID}", json=NOT_FOUND, status=404)

    assert client.executions.cancel(EID) is True
    assert client.executions.cancel(EID) is False
    request = api.calls[0].request
    assert (request.method, request.path_url, request.body) == (
        "DELETE",
        f"/executions/{EID}",
        None,
    )
    assert request.headers["Authorization"] == AUTH


def test_resume_sends_token_and_data(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/executions/{EID}/resume", json={"status": "resumed"})

    reply = client.executions.resume(EID, "tok-secret-1", {"approved": True})

    request = only_call(api)
    assert request.headers["Authorization"] == AUTH
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"token": "tok-secret-1", "data": {"approved": True}}
    assert reply == {"status": "resumed"}


def test_resume_sends_a_null_answer_as_null(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/executions/{EID}/resume", json={})

    client.executions.resume(EID, "tok-secret-1", None)

    assert json.loads(only_call(api).body) == {"token": "tok-secret-1", "data": None}


def test_resume_token_never_appears_in_errors(
    api: ConformanceMock, client: AkribesClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "tok-secret-checkpoint-77"
    api.post(
        f"{BASE_URL}/executions/{EID}/resume",
        json={"error": f"bad resume token {secret}"},
        status=404,
    )

    with (
        caplog.at_level(logging.DEBUG, logger="controldeck"),
        pytest.raises(NotFoundError) as caught,
    ):
        client.executions.resume(EID, secret, {"ok": 1})

    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    assert secret not in (caught.value.body_excerpt or "")
    assert secret not in caplog.text


def test_rerun_posts_no_body(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(
        f"{BASE_URL}/executions/{EID}/rerun",
        json={"execution_id": "def-789", "rerun_of": EID},
        status=201,
    )

    rerun = client.executions.rerun(EID)

    request = only_call(api)
    assert (request.method, request.path_url, request.body) == (
        "POST",
        f"/executions/{EID}/rerun",
        None,
    )
    assert "Content-Type" not in request.headers
    assert (rerun.execution_id, rerun.rerun_of, rerun.since_id) == ("def-789", EID, None)


def test_rerun_of_purged_documents_is_422(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(
        f"{BASE_URL}/executions/{EID}/rerun",
        json={"error": "referenced documents were purged"},
        status=422,
    )

    with pytest.raises(UnprocessableEntityError, match="purged"):
        client.executions.rerun(EID)


def test_get_document(api: ConformanceMock, client: AkribesClient) -> None:
    meta = {
        "id": DOC,
        "filename": "a.pdf",
        "content_type": "application/pdf",
        "size_bytes": 1234,
        "content_hash": "ab" * 32,
        "conversion_status": "ready",
        "created_at": "2026-01-02T03:04:05Z",
    }
    api.get(f"{BASE_URL}/documents/{DOC}", json=meta)

    document = client.executions.get_document(DOC)

    assert only_call(api).path_url == f"/documents/{DOC}"
    assert document is not None
    assert (document.filename, document.size_bytes) == ("a.pdf", 1234)
    assert document.conversion_status is ConversionStatus.READY


def test_get_document_markdown_returns_the_text(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/documents/{DOC}/markdown", json={"markdown": "# Title\n\nBody"})
    api.get(f"{BASE_URL}/documents/{DOC}/markdown", json=NOT_FOUND, status=404)

    assert client.executions.get_document_markdown(DOC) == "# Title\n\nBody"
    assert api.calls[0].request.headers["Authorization"] == AUTH
    with pytest.raises(NotFoundError):
        client.executions.get_document_markdown(DOC)


STORAGE = "https://bucket.s3.example/doc_0f8e.pdf?X-Amz-Signature=abc"


def test_get_document_url_is_the_redirect_target_never_fetched(
    api: ConformanceMock,
) -> None:
    with AkribesClient(
        BASE_URL, token=TOKEN, on_behalf_of="alice@acme.com", max_retries=0
    ) as client:
        api.get(f"{BASE_URL}/documents/{DOC}/content", status=302, headers={"Location": STORAGE})

        assert client.executions.get_document_url(DOC) == STORAGE

    (first,) = (c.request for c in api.calls)  # storage is never contacted
    assert first.path_url == f"/documents/{DOC}/content"
    assert first.headers["Accept"] == "*/*"
    assert first.headers["Authorization"] == AUTH


def test_a_relative_location_is_resolved_against_the_server(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/documents/{DOC}/content", status=302, headers={"Location": "/blobs/1"})

    assert client.executions.get_document_url(DOC) == f"{BASE_URL}/blobs/1"
    assert len(api.calls) == 1


@pytest.mark.off_spec("the document body is deliberately never read, so there is none to check")
def test_get_document_url_served_in_place_is_the_endpoint(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/documents/{DOC}/content", body=b"%PDF", content_type="*/*")

    url = client.executions.get_document_url(DOC, extra_headers={"X-Trace": "1"})

    request = only_call(api)
    assert url == f"{BASE_URL}/documents/{DOC}/content"
    assert (request.headers["Accept"], request.headers["X-Trace"]) == ("*/*", "1")


def test_get_document_url_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/documents/{DOC}/content", json=NOT_FOUND, status=404)

    with pytest.raises(NotFoundError):
        client.executions.get_document_url(DOC)


def test_reconvert_document_posts_an_empty_object(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{BASE_URL}/documents/{DOC}/convert", json={"status": "ready"})

    assert client.executions.reconvert_document(DOC) == {"status": "ready"}
    request = only_call(api)
    assert request.path_url == f"/documents/{DOC}/convert"
    assert json.loads(request.body) == {}


def test_reconvert_document_failure_is_typed(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(
        f"{BASE_URL}/documents/{DOC}/convert",
        json={"error_type": "conversion_failed", "error": "cannot convert", "reason": "encrypted"},
        status=502,
    )

    with pytest.raises(DocumentConversionError) as caught:
        client.executions.reconvert_document(DOC)
    assert caught.value.reason == "encrypted"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.executions.get(""),
        lambda c: c.executions.get(7),
        lambda c: c.executions.get_output(" "),
        lambda c: c.executions.get_events(EID, after_id="5"),
        lambda c: c.executions.get_events(EID, limit=0),
        lambda c: c.executions.get_events(EID, types=[]),
        lambda c: c.executions.get_events(EID, types=["TaskEnd", ""]),
        lambda c: c.executions.iter_events(EID, types=3),
        lambda c: c.executions.tasks(""),
        lambda c: c.executions.children(""),
        lambda c: c.executions.cancel(None),
        lambda c: c.executions.resume(EID, "", {}),
        lambda c: c.executions.resume("", "tok", {}),
        lambda c: c.executions.rerun(""),
        lambda c: c.executions.get_document(""),
        lambda c: c.executions.get_document_markdown(""),
        lambda c: c.executions.get_document_url(""),
        lambda c: c.executions.reconvert_document(""),
        lambda c: c.executions.run_from_node(-1, "triage", {}, []),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client)
    assert len(api.calls) == 0


def test_run_from_node_is_the_scoped_run_from(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/projects/3/scripts/triage/run/from", json={"execution_id": "e-2"})

    run = client.executions.run_from_node(3, "triage", {"x": 1}, [0, 1], inputs={"n": 2})

    request = only_call(api)
    assert request.path_url == "/projects/3/scripts/triage/run/from?channel=draft"
    assert json.loads(request.body) == {
        "seed_env": {"x": 1},
        "skip_node_ids": [0, 1],
        "inputs": {"n": 2},
        "triggered_by": "tests",
    }
    assert run.execution_id == "e-2"


def test_scoped_executions_have_the_global_methods(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/executions/{EID}", json=STATUS)

    execution = client.project(7).executions.get(EID)

    assert execution is not None and execution.script_name == "triage"
    assert only_call(api).path_url == f"/executions/{EID}"
