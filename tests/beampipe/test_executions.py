"""Beampipe executions: every request as sent (method, path, query, headers, body) and every
reply as decoded; idempotent create; lazy numbered paging; argument errors send nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from controldeck._core._pagination import Page
from controldeck._generated.beampipe import (
    ExecutionOutputVerificationRequest,
    ExecutionSourceSelection,
    ExecutionStatus,
    OutputInventoryProduct,
    OutputPublicationAcknowledgement,
)
from controldeck.beampipe import BeampipeClient
from controldeck.errors import (
    APIConnectionError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, AUTH, EXECUTION_ID, NOW, PROFILE_ID, error_body

EXECUTIONS = f"{API}/executions"
ONE = f"{EXECUTIONS}/{EXECUTION_ID}"
JOB_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000f001"
SOURCE = "HIPASSJ1318-21"


def execution_read(**overrides: Any) -> dict[str, Any]:
    """An `ExecutionRead` as the server sends it: every Option key present, most null."""
    body: dict[str, Any] = {
        "uuid": EXECUTION_ID,
        "project_module": "wallaby_hires",
        "archive_name": "casda",
        "sources": [{"source_identifier": SOURCE}],
        "status": "pending",
        "output_verification_required": False,
        "output_verification_policy": {"required": False},
        "phase_timestamps": {},
        "retry_count": 0,
        "created_at": NOW,
        **dict.fromkeys(
            [
                "execution_phase",
                "scheduler_name",
                "scheduler_job_id",
                "daliuge_session_id",
                "remote_session_dir",
                "control_phase",
                "submission_state",
                "submission_deadline_at",
                "submission_abandoned_at",
                "scheduler_state",
                "scheduler_raw_state",
                "scheduler_reason",
                "daliuge_state",
                "output_state",
                "terminal_outcome",
                "failure_class",
                "discovery_signature",
                "manifest_sha256",
                "source_graph_sha256",
                "patched_graph_sha256",
                "physical_graph_sha256",
                "last_reconciled_at",
                "workflow_manifest",
                "beampipe_run_record",
                "last_error",
                "started_at",
                "completed_at",
                "created_by_id",
                "deployment_profile_revision",
                "project_config_version",
            ]
        ),
        "deployment_profile_id": PROFILE_ID,
        "project_config_id": "0192f0c4-9a3b-7c1d-8e2f-00000000c0f1",
    }
    body.update(overrides)
    return body


def execution_row(n: int) -> dict[str, Any]:
    """An `ExecutionRow` (list endpoints), numbered so pages can be told apart."""
    return {
        "uuid": str(uuid.UUID(int=n)),
        "project_module": "wallaby_hires",
        "sources": [{"source_identifier": SOURCE}],
        "archive_name": "casda",
        "output_verification_required": False,
        "output_verification_policy": {},
        "phase_timestamps": {},
        "status": "completed",
        "retry_count": 0,
        "created_at": NOW,
        "deployment_profile_snapshot": None,
        "daliuge_raw_status": None,
        "create_idempotency_key": None,
        "updated_at": None,
    }


def status_body(status: str = "running", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"uuid": EXECUTION_ID, "status": status, "retry_count": 0}
    body.update(overrides)
    return body


def sent(api: ConformanceMock, index: int = -1) -> Any:
    body = api.calls[index].request.body
    assert body is not None
    return json.loads(body)


def query(api: ConformanceMock, index: int = -1) -> dict[str, list[str]]:
    url = api.calls[index].request.url
    assert url is not None
    return parse_qs(urlsplit(url).query)


def assert_json_call(api: ConformanceMock, method: str, url: str, index: int = -1) -> None:
    request = api.calls[index].request
    assert request.method == method
    assert str(request.url).split("?")[0] == url
    assert request.headers["Authorization"] == AUTH
    assert request.headers["Content-Type"] == "application/json"


# -- prepare / create ----------------------------------------------------------------------


def test_prepare_sends_strings_as_selections_and_leaves_unset_keys_out(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.post(
        f"{EXECUTIONS}/prepare",
        json={
            "project_module": "wallaby_hires",
            "valid": False,
            "errors": ["source 'B' has no discovered SBID '9'"],
            "total_datasets": 4,
            "sources_preview": [{"source_identifier": SOURCE, "sbid_count": 2}],
        },
    )
    preview = client.prepare_execution(
        "wallaby_hires",
        [SOURCE, ExecutionSourceSelection(source_identifier="B", sbids=("9",))],  # type: ignore[arg-type]
        "casda",
    )
    assert_json_call(api, "POST", f"{EXECUTIONS}/prepare")
    # deny_unknown_fields: no null profile keys, no null sbids, only what was given.
    assert sent(api) == {
        "project_module": "wallaby_hires",
        "sources": [{"source_identifier": SOURCE}, {"source_identifier": "B", "sbids": ["9"]}],
        "archive_name": "casda",
    }
    assert "Idempotency-Key" not in api.calls[0].request.headers
    assert (preview.valid, preview.errors, preview.total_datasets) == (
        False,
        ["source 'B' has no discovered SBID '9'"],
        4,
    )
    assert preview.sources_preview == [{"source_identifier": SOURCE, "sbid_count": 2}]


def test_prepare_with_a_profile_id(api: ConformanceMock, client: BeampipeClient) -> None:
    reply = {
        "project_module": "m",
        "valid": True,
        "errors": [],
        "total_datasets": 1,
        "sources_preview": [],
    }
    api.post(f"{EXECUTIONS}/prepare", json=reply)
    client.prepare_execution("m", ["a"], "casda", deployment_profile_id=PROFILE_ID.upper())
    assert sent(api) == {
        "project_module": "m",
        "sources": [{"source_identifier": "a"}],
        "archive_name": "casda",
        "deployment_profile_id": PROFILE_ID,  # canonical form
    }


def test_create_sends_an_idempotency_key_and_decodes_201(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.post(EXECUTIONS, status=201, json=execution_read())
    execution = client.create_execution(
        "wallaby_hires", [SOURCE], "casda", deployment_profile_name="slurm-remote"
    )
    assert_json_call(api, "POST", EXECUTIONS)
    assert sent(api) == {
        "project_module": "wallaby_hires",
        "sources": [{"source_identifier": SOURCE}],
        "archive_name": "casda",
        "deployment_profile_name": "slurm-remote",
    }
    key = api.calls[0].request.headers["Idempotency-Key"]
    assert str(uuid.UUID(key)) == key
    assert execution.uuid == EXECUTION_ID
    assert execution.status == "pending"
    assert execution.sources == [{"source_identifier": SOURCE}]
    assert execution.deployment_profile_id == PROFILE_ID
    assert execution.created_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert execution.scheduler_job_id is None


def test_create_generates_a_new_key_per_call(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(EXECUTIONS, status=201, json=execution_read())
    api.post(EXECUTIONS, status=201, json=execution_read())
    client.create_execution("wallaby_hires", [SOURCE], "casda")
    client.create_execution("wallaby_hires", [SOURCE], "casda")
    keys = [call.request.headers["Idempotency-Key"] for call in api.calls]
    assert keys[0] != keys[1]


def test_create_retried_after_503_sends_the_same_key(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    sleeps: list[float] = []
    client._transport.sleep = sleeps.append
    unavailable = error_body(
        "service_unavailable", "database unavailable", cls="dependency_unavailable", retry="safe"
    )
    api.post(EXECUTIONS, status=503, json=unavailable)
    # The first attempt may have been applied: the replay answers 200 with the same row.
    api.post(EXECUTIONS, status=200, json=execution_read())
    execution = client.create_execution("wallaby_hires", [SOURCE], "casda", max_retries=2)
    assert execution.uuid == EXECUTION_ID
    assert len(api.calls) == 2
    first, second = (call.request for call in api.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body
    assert len(sleeps) == 1


def test_a_dropped_create_is_retried_with_the_same_key(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    # The connection broke after the request went out: the server may have created it.
    # Only the key makes a replay safe, so only a keyed create is sent again.
    client._transport.sleep = lambda _: None
    api.post(EXECUTIONS, body=requests.ConnectionError("Connection reset by peer"))
    api.post(EXECUTIONS, status=200, json=execution_read())
    assert client.create_execution("m", ["a"], "casda", max_retries=1).uuid == EXECUTION_ID
    first, second = (call.request for call in api.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_a_dropped_create_without_a_key_is_not_retried(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    client._transport.sleep = lambda _: None
    api.post(EXECUTIONS, body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(APIConnectionError) as info:
        client.create_execution("m", ["a"], "casda", idempotency_key=False, max_retries=2)
    assert "Not retried" in str(info.value)
    assert len(api.calls) == 1
    assert "Idempotency-Key" not in api.calls[0].request.headers


def test_create_with_the_callers_key(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(EXECUTIONS, status=200, json=execution_read())
    client.create_execution(
        "wallaby_hires", [SOURCE], "casda", idempotency_key="nightly-2026-11-23"
    )
    assert api.calls[0].request.headers["Idempotency-Key"] == "nightly-2026-11-23"


def test_create_key_reuse_conflict(api: ConformanceMock, client: BeampipeClient) -> None:
    message = "Idempotency-Key was already used for a different execution request"
    api.post(
        EXECUTIONS,
        status=409,
        json=error_body("conflict", message, cls="conflict", retry="after_remediation"),
    )
    with pytest.raises(ConflictError) as info:
        client.create_execution("m", ["a"], "casda", idempotency_key="k1")
    assert info.value.message == message


def test_create_admission_failure(api: ConformanceMock, client: BeampipeClient) -> None:
    message = "project 'm' has no active configuration; source 'a' is not registered"
    api.post(
        EXECUTIONS,
        status=400,
        json=error_body("bad_request", message, cls="validation", retry="after_remediation"),
    )
    with pytest.raises(BadRequestError) as info:
        client.create_execution("m", ["a"], "casda")
    assert info.value.message == message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sources": []}, "at least one source"),
        ({"sources": "abc"}, "sources must be a list"),
        ({"sources": [""]}, "sources[0] must not be empty"),
        ({"sources": [7]}, "sources[0] must be a source identifier"),
        ({"sources": [{"source_identifier": "a"}]}, "ExecutionSourceSelection"),
        ({"sources": ["a", " a "]}, "more than once"),
        (
            {"sources": [ExecutionSourceSelection(source_identifier="a", sbids=[])]},
            "at least one SBID",
        ),
        (
            {"sources": [ExecutionSourceSelection(source_identifier="a", sbids=["1", "1"])]},
            "more than once",
        ),
        (
            {"sources": [ExecutionSourceSelection(source_identifier="a", sbids=[""])]},
            "sbids[0] must not be empty",
        ),
        (
            {"sources": [ExecutionSourceSelection(source_identifier=" ")]},
            "source_identifier must not be empty",
        ),
        ({"project_module": ""}, "project_module"),
        ({"archive_name": None}, "archive_name"),
        (
            {"deployment_profile_name": "p", "deployment_profile_id": PROFILE_ID},
            "not both",
        ),
        ({"deployment_profile_id": "not-a-uuid"}, "deployment_profile_id must be a UUID"),
        ({"deployment_profile_name": "  "}, "deployment_profile_name"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"idempotency_key": "clé"}, "idempotency_key"),
        ({"idempotency_key": None}, "idempotency_key"),
    ],
)
def test_create_argument_errors_send_nothing(
    api: ConformanceMock, client: BeampipeClient, kwargs: dict[str, Any], fragment: str
) -> None:
    args: dict[str, Any] = {"project_module": "m", "sources": ["a"], "archive_name": "casda"}
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError) as info:
        client.create_execution(**args)
    assert fragment in str(info.value)
    if "idempotency_key" not in kwargs:
        with pytest.raises(InvalidArgumentError):
            client.prepare_execution(**args)
    assert len(api.calls) == 0


# -- list ----------------------------------------------------------------------------------


def paginated(items: list[dict[str, Any]], total: int, page: int, size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "items_per_page": size}


def test_list_executions_pages_lazily_and_stops_at_total(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(EXECUTIONS, json=paginated([execution_row(1), execution_row(2)], 4, 1, 2))
    api.get(EXECUTIONS, json=paginated([execution_row(3), execution_row(4)], 4, 2, 2))
    page = client.list_executions("wallaby_hires", ExecutionStatus.COMPLETED, items_per_page=2)
    assert isinstance(page, Page)
    assert (page.total, page.number, page.last) == (4, 1, 2)
    assert len(api.calls) == 1
    assert query(api, 0) == {
        "project_module": ["wallaby_hires"],
        "status": ["completed"],
        "page": ["1"],
        "items_per_page": ["2"],
    }
    assert api.calls[0].request.headers["Authorization"] == AUTH
    assert [row.uuid for row in page] == [str(uuid.UUID(int=n)) for n in (1, 2, 3, 4)]
    # 2 * 2 reached total=4: no third (empty) page was requested.
    assert len(api.calls) == 2
    assert query(api, 1)["page"] == ["2"]
    assert query(api, 1)["status"] == ["completed"]
    row = page[0]
    assert row.status == "completed" and row.deployment_profile_id is None
    assert row.created_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_list_executions_defaults_and_string_status(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(EXECUTIONS, json=paginated([execution_row(1)], 1, 3, 50))
    page = client.list_executions(status="running", page=3)
    assert query(api) == {"status": ["running"], "page": ["3"], "items_per_page": ["50"]}
    assert page.number == 3 and page.has_next is False


def test_list_executions_empty(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(EXECUTIONS, json=paginated([], 0, 1, 50))
    page = client.list_executions()
    assert list(page) == []
    assert query(api) == {"page": ["1"], "items_per_page": ["50"]}
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"status": "done"}, "status must be one of pending, running"),
        ({"status": 3}, "status must be one of"),
        ({"page": 0}, "page must be an int >= 1"),
        ({"page": True}, "page must be"),
        ({"items_per_page": 501}, "items_per_page must be an int from 1 to 500"),
        ({"items_per_page": 0}, "items_per_page"),
        ({"project_module": ""}, "project_module"),
    ],
)
def test_list_executions_argument_errors(
    api: ConformanceMock, client: BeampipeClient, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        client.list_executions(**kwargs)
    assert fragment in str(info.value)
    assert len(api.calls) == 0


# -- read ----------------------------------------------------------------------------------


def test_get_execution(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        ONE,
        json=execution_read(
            status="running",
            scheduler_job_id="1234567",
            slurm_login_node="setonix.pawsey.org.au",
            submission_deadline_at="2026-11-23T11:00:00.123456Z",
        ),
    )
    execution = client.get_execution(EXECUTION_ID.upper())
    assert api.calls[0].request.method == "GET"
    assert api.calls[0].request.url == ONE
    assert api.calls[0].request.headers["Authorization"] == AUTH
    assert (execution.status, execution.scheduler_job_id) == ("running", "1234567")
    assert execution.slurm_login_node == "setonix.pawsey.org.au"
    assert execution.submission_deadline_at == datetime(2026, 11, 23, 11, 0, 0, 123456, tzinfo=UTC)


def test_get_execution_not_found(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "not_found",
        "the requested resource was not found",
        cls="not_found",
        retry="after_remediation",
    )
    api.get(ONE, status=404, json=body)
    with pytest.raises(NotFoundError):
        client.get_execution(EXECUTION_ID)


def test_get_execution_status(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{ONE}/status",
        json=status_body(
            "awaiting_scheduler",
            execution_phase="submit",
            control_phase="submitted",
            duration_seconds=42,
            started_at=NOW,
        ),
    )
    status = client.get_execution_status(EXECUTION_ID)
    assert api.calls[0].request.url == f"{ONE}/status"
    assert api.calls[0].request.headers["Authorization"] == AUTH
    assert (status.status, status.execution_phase, status.control_phase) == (
        "awaiting_scheduler",
        "submit",
        "submitted",
    )
    assert status.duration_seconds == 42
    assert status.started_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert status.last_error is None


def test_get_execution_summary(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{ONE}/summary",
        json={
            "uuid": EXECUTION_ID,
            "project_module": "wallaby_hires",
            "archive_name": "casda",
            "status": "completed",
            "requested_source_count": 1,
            "requested_source_identifiers": [SOURCE],
            "terminal_outcome": "succeeded",
            "last_error": None,
        },
    )
    summary = client.get_execution_summary(EXECUTION_ID)
    assert api.calls[0].request.url == f"{ONE}/summary"
    assert summary.requested_source_identifiers == [SOURCE]
    assert (summary.status, summary.terminal_outcome) == ("completed", "succeeded")


def ledger(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": EXECUTION_ID,
        "status": "completed",
        "execution_phase": None,
        "scheduler_name": "slurm",
        "scheduler_job_id": "1234567",
        "last_error": None,
        "run_record_phases": {"stage": "done"},
        "provenance_summary": {
            "config_version": 2,
            "discovery_signature": "sig",
            "recent_events": [
                {
                    "id": "0192f0c4-9a3b-7c1d-8e2f-0000000e0e01",
                    "occurred_at": NOW,
                    "event_type": "execution.completed",
                    "project_module": "wallaby_hires",
                    "execution_id": EXECUTION_ID,
                    "payload": {},
                }
            ],
        },
    }
    body.update(overrides)
    return body


def test_get_ledger_snapshot_with_manifest(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{ONE}/ledger-snapshot",
        json=ledger(correlation_id="req-1", workflow_manifest={"sources": ["***"]}),
    )
    snapshot = client.get_ledger_snapshot(EXECUTION_ID)
    assert query(api) == {"include_manifest": ["true"]}
    assert snapshot.correlation_id == "req-1"
    assert snapshot.workflow_manifest == {"sources": ["***"]}
    assert snapshot.provenance_summary.config_version == 2
    assert [e.event_type for e in snapshot.provenance_summary.recent_events] == [
        "execution.completed"
    ]


def test_get_ledger_snapshot_without_manifest(api: ConformanceMock, client: BeampipeClient) -> None:
    # The server leaves correlation_id, active_job_id and workflow_manifest out when null.
    api.get(f"{ONE}/ledger-snapshot", json=ledger())
    snapshot = client.get_ledger_snapshot(EXECUTION_ID, include_manifest=False)
    assert query(api) == {"include_manifest": ["false"]}
    assert snapshot.workflow_manifest is None and snapshot.active_job_id is None


def test_list_execution_events(api: ConformanceMock, client: BeampipeClient) -> None:
    event = {
        "id": "0192f0c4-9a3b-7c1d-8e2f-0000000e0e02",
        "occurred_at": NOW,
        "event_type": "execution.created",
        "project_module": "wallaby_hires",
        "source_identifier": SOURCE,
        "execution_id": EXECUTION_ID,
        "actor": "user:admin",
        "correlation_id": None,
        "payload": {"sources": 1},
    }
    api.get(f"{ONE}/events", json=[event])
    events = client.list_execution_events(EXECUTION_ID)
    assert api.calls[0].request.url == f"{ONE}/events"
    assert [(e.event_type, e.actor, e.payload) for e in events] == [
        ("execution.created", "user:admin", {"sources": 1})
    ]


def observation(n: int) -> dict[str, Any]:
    return {
        "uuid": str(uuid.UUID(int=100 + n)),
        "execution_id": EXECUTION_ID,
        "kind": "scheduler",
        "normalized_state": "running",
        "raw_state": "RUNNING",
        "reason": None,
        "source_version": None,
        "payload": {"n": n},
        "observed_at": NOW,
    }


def test_list_execution_observations_pages_by_offset(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(f"{ONE}/observations", json=[observation(1), observation(2), observation(3)])
    api.get(f"{ONE}/observations", json=[observation(3)])
    page = client.list_execution_observations(EXECUTION_ID, limit=2, offset=4)
    assert query(api, 0) == {"limit": ["3"], "offset": ["4"]}  # one more: is there a next?
    assert len(page) == 2
    assert [o.payload["n"] for o in page] == [1, 2, 3]
    assert query(api, 1) == {"limit": ["3"], "offset": ["6"]}
    assert len(api.calls) == 2
    assert page[0].raw_state == "RUNNING"


def test_list_execution_observations_defaults(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{ONE}/observations", json=[])
    assert list(client.list_execution_observations(EXECUTION_ID)) == []
    assert query(api) == {"limit": ["101"], "offset": ["0"]}


def test_list_execution_artifacts(api: ConformanceMock, client: BeampipeClient) -> None:
    artifact = {
        "uuid": "0192f0c4-9a3b-7c1d-8e2f-00000000af01",
        "execution_id": EXECUTION_ID,
        "kind": "workflow_manifest",
        "storage_kind": "inline",
        "media_type": "application/json",
        "sha256": "9f2c",
        "size_bytes": 512,
        "uri": None,
        "inline_json": {"k": "v"},
        "producer_phase": "stage_and_manifest",
        "metadata": {},
        "created_at": NOW,
    }
    api.get(f"{ONE}/artifacts", json=[artifact])
    artifacts = client.list_execution_artifacts(EXECUTION_ID)
    assert api.calls[0].request.url == f"{ONE}/artifacts"
    assert [(a.kind, a.size_bytes, a.inline_json) for a in artifacts] == [
        ("workflow_manifest", 512, {"k": "v"})
    ]


# -- act -----------------------------------------------------------------------------------


def test_execute_sends_both_flags(api: ConformanceMock, client: BeampipeClient) -> None:
    reply = {
        "status": "accepted",
        "execution_id": EXECUTION_ID,
        "job_id": JOB_ID,
        "do_stage": True,
        "do_submit": True,
    }
    api.post(f"{ONE}/execute", status=202, json=reply)
    accepted = client.execute(EXECUTION_ID)
    assert_json_call(api, "POST", f"{ONE}/execute")
    assert sent(api) == {"do_stage": True, "do_submit": True}
    assert (accepted.status, accepted.job_id) == ("accepted", JOB_ID)


def test_execute_stage_only(api: ConformanceMock, client: BeampipeClient) -> None:
    reply = {
        "status": "accepted",
        "execution_id": EXECUTION_ID,
        "job_id": JOB_ID,
        "do_stage": True,
        "do_submit": False,
    }
    api.post(f"{ONE}/execute", status=202, json=reply)
    accepted = client.execute(EXECUTION_ID, do_submit=False)
    assert sent(api) == {"do_stage": True, "do_submit": False}
    assert accepted.do_submit is False


def test_execute_not_pending_conflict(api: ConformanceMock, client: BeampipeClient) -> None:
    message = "execution cannot be started from status 'running'"
    api.post(
        f"{ONE}/execute",
        status=409,
        json=error_body("conflict", message, cls="conflict", retry="after_remediation"),
    )
    with pytest.raises(ConflictError) as info:
        client.execute(EXECUTION_ID)
    assert info.value.message == message


def test_cancel_execution(api: ConformanceMock, client: BeampipeClient) -> None:
    api.patch(ONE, json=execution_read(status="cancelled", terminal_outcome="cancelled"))
    execution = client.cancel_execution(EXECUTION_ID)
    assert_json_call(api, "PATCH", ONE)
    assert sent(api) == {"status": "cancelled"}
    assert execution.status == "cancelled"


def test_retry_execution(api: ConformanceMock, client: BeampipeClient) -> None:
    reply = {
        "status": "accepted",
        "execution_id": EXECUTION_ID,
        "job_id": JOB_ID,
        "retry_count": 1,
        "stage": "submit",
        "do_stage": False,
        "do_submit": True,
    }
    api.post(f"{ONE}/retry", status=202, json=reply)
    retry = client.retry_execution(EXECUTION_ID, "scratch quota raised")
    assert_json_call(api, "POST", f"{ONE}/retry")
    assert sent(api) == {"reason": "scratch quota raised"}
    assert (retry.stage, retry.retry_count, retry.do_stage) == ("submit", 1, False)


def test_retry_rejected(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(
        f"{ONE}/retry",
        status=409,
        json=error_body(
            "execution_retry_unsafe",
            "submission outcome unresolved",
            cls="conflict",
            retry="unsafe",
        ),
    )
    with pytest.raises(ConflictError) as info:
        client.retry_execution(EXECUTION_ID, "again")
    assert info.value.code == "execution_retry_unsafe"


DEADLINE = "2026-11-23T11:30:00.250000+00:00"


def test_abandon_submission(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(
        f"{ONE}/submission/abandon",
        json=execution_read(status="failed", terminal_outcome="inconsistent"),
    )
    execution = client.abandon_submission(
        EXECUTION_ID,
        expected_submission_state="uncertain",
        expected_daliuge_session_id="wallaby_hires-0192f0c4",
        expected_submission_deadline_at=datetime(2026, 11, 23, 11, 30, 0, 250000, tzinfo=UTC),
        reason="Slurm lost the job; checked sacct by hand",
        acknowledge_external_job_may_exist=True,
    )
    assert_json_call(api, "POST", f"{ONE}/submission/abandon")
    assert sent(api) == {
        "acknowledge_external_job_may_exist": True,
        "expected_daliuge_session_id": "wallaby_hires-0192f0c4",
        "expected_submission_deadline_at": DEADLINE,
        "expected_submission_state": "uncertain",
        "reason": "Slurm lost the job; checked sacct by hand",
    }
    assert (execution.status, execution.terminal_outcome) == ("failed", "inconsistent")


def test_abandon_submission_deadline_as_string(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.post(f"{ONE}/submission/abandon", json=execution_read(status="failed"))
    client.abandon_submission(
        EXECUTION_ID,
        expected_submission_state="in_flight",
        expected_daliuge_session_id="s-1",
        expected_submission_deadline_at="2026-11-23T21:30:00.25+10:00",
        reason="r",
        acknowledge_external_job_may_exist=True,
    )
    # The instant is kept exactly (the server compares it for equality), offset included.
    sent_deadline = datetime.fromisoformat(sent(api)["expected_submission_deadline_at"])
    assert sent_deadline == datetime.fromisoformat(DEADLINE)
    assert sent_deadline.utcoffset() == timedelta(hours=10)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"acknowledge_external_job_may_exist": False}, "must be True"),
        ({"acknowledge_external_job_may_exist": 1}, "must be True"),
        ({"acknowledge_external_job_may_exist": "yes"}, "must be True"),
        ({"expected_submission_state": "submitted"}, "'in_flight' or 'uncertain'"),
        ({"expected_daliuge_session_id": " s-1"}, "without surrounding spaces"),
        ({"expected_daliuge_session_id": ""}, "must not be empty"),
        ({"expected_submission_deadline_at": "yesterday"}, "ISO 8601"),
        ({"expected_submission_deadline_at": "2026-11-23T11:30:00"}, "timezone"),
        (
            {"expected_submission_deadline_at": datetime(2026, 11, 23, 11, 30)},
            "timezone",
        ),
        ({"expected_submission_deadline_at": 1700000000}, "datetime or an ISO 8601"),
        ({"reason": "  "}, "reason must not be empty"),
        ({"reason": "é" * 501}, "at most 1000 bytes"),
    ],
)
def test_abandon_submission_argument_errors(
    api: ConformanceMock, client: BeampipeClient, kwargs: dict[str, Any], fragment: str
) -> None:
    args: dict[str, Any] = {
        "expected_submission_state": "uncertain",
        "expected_daliuge_session_id": "s-1",
        "expected_submission_deadline_at": datetime(2026, 11, 23, tzinfo=UTC),
        "reason": "r",
        "acknowledge_external_job_may_exist": True,
    }
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError) as info:
        client.abandon_submission(EXECUTION_ID, **args)
    assert fragment in str(info.value)
    assert len(api.calls) == 0


def verification_request() -> ExecutionOutputVerificationRequest:
    return ExecutionOutputVerificationRequest(
        schema="beampipe.output_inventory.v1",
        durable_destination_uri="s3://archive/wallaby/0192f0c4",
        inventory_sha256="ab" * 32,
        patterns=["*.fits"],
        pattern_counts={"*.fits": 1},
        products=[OutputInventoryProduct(path="cube.fits", sha256="cd" * 32, bytes=1024)],
        publication=OutputPublicationAcknowledgement(
            publisher="casda-publisher",
            receipt_id="rcpt-1",
            acknowledged=True,
            published_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
        ),
    )


def test_verify_outputs(api: ConformanceMock, client: BeampipeClient) -> None:
    artifact: dict[str, Any] = {
        "uuid": "0192f0c4-9a3b-7c1d-8e2f-00000000af02",
        "execution_id": EXECUTION_ID,
        "kind": "output_inventory",
        "storage_kind": "inline",
        "media_type": "application/json",
        "sha256": "ab" * 32,
        "size_bytes": None,
        "uri": None,
        "inline_json": None,
        "producer_phase": "output_verification",
        "metadata": {},
        "created_at": NOW,
    }
    api.post(
        f"{ONE}/outputs/verify",
        json={
            "execution": execution_read(status="completed", output_state="verified"),
            "artifact": artifact,
        },
    )
    result = client.verify_outputs(EXECUTION_ID, verification_request())
    assert_json_call(api, "POST", f"{ONE}/outputs/verify")
    assert sent(api) == {
        "schema": "beampipe.output_inventory.v1",
        "durable_destination_uri": "s3://archive/wallaby/0192f0c4",
        "inventory_sha256": "ab" * 32,
        "patterns": ["*.fits"],
        "pattern_counts": {"*.fits": 1},
        "products": [{"path": "cube.fits", "sha256": "cd" * 32, "bytes": 1024}],
        "publication": {
            "publisher": "casda-publisher",
            "receipt_id": "rcpt-1",
            "acknowledged": True,
            "published_at": "2026-11-23T12:00:00+00:00",
        },
    }
    assert result.execution.output_state == "verified"
    assert result.artifact.kind == "output_inventory"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_execution("nope"),
        lambda c: c.get_execution_status(None),
        lambda c: c.get_execution_summary(12),
        lambda c: c.get_ledger_snapshot("nope"),
        lambda c: c.get_ledger_snapshot(EXECUTION_ID, include_manifest="false"),
        lambda c: c.list_execution_events(""),
        lambda c: c.list_execution_observations("nope"),
        lambda c: c.list_execution_observations(EXECUTION_ID, limit=0),
        lambda c: c.list_execution_observations(EXECUTION_ID, offset=-1),
        lambda c: c.list_execution_artifacts("nope"),
        lambda c: c.execute("nope"),
        lambda c: c.execute(EXECUTION_ID, do_stage="yes"),
        lambda c: c.execute(EXECUTION_ID, do_submit=None),
        lambda c: c.cancel_execution("nope"),
        lambda c: c.retry_execution(EXECUTION_ID, ""),
        lambda c: c.retry_execution("nope", "why"),
        lambda c: c.verify_outputs(EXECUTION_ID, {"schema": "x"}),
        lambda c: c.verify_outputs("nope", verification_request()),
    ],
)
def test_argument_errors_send_nothing(
    api: ConformanceMock, client: BeampipeClient, call: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client)
    assert len(api.calls) == 0
