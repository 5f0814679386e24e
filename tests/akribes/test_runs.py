"""`client.project(pid).executions`: starting runs, run history, cost and graph.

Each test checks the exact request (method, path, query, headers, body) and the decoded
values; the `api` fixture validates both against openapi/akribes.yaml.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from controldeck._generated.akribes import S3CredentialsRef, S3PresignedRef
from controldeck.akribes import AkribesClient
from controldeck.akribes._errors import InvalidInputsError
from controldeck.errors import InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID, TOKEN

SCRIPTS = f"{BASE_URL}/projects/{PID}/scripts"
RUN = f"{SCRIPTS}/triage/run"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
STATUS: dict[str, Any] = {
    "id": "abc-456",
    "project_id": PID,
    "script_name": "triage",
    "status": "failed",
    "error": "boom",
    "error_kind": "ScriptError",
}
NOT_FOUND = {"error": "not found"}


def only_call(api: ConformanceMock) -> Any:
    assert len(api.calls) == 1
    return api.calls[0].request


# -- run ---------------------------------------------------------------------------------


def test_run_sends_channel_body_and_a_generated_idempotency_key(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(RUN, json={"execution_id": "abc-456", "since_id": 1234})

    run = client.project(PID).executions.run(
        "triage", inputs={"doc": "doc_1", "n": 3}, breakpoint_lines=[4, 9]
    )

    request = only_call(api)
    assert request.method == "POST"
    assert request.path_url == f"/projects/{PID}/scripts/triage/run?channel=production"
    assert request.headers["Authorization"] == AUTH
    assert request.headers["Content-Type"] == "application/json"
    assert UUID.match(request.headers["Idempotency-Key"])
    assert json.loads(request.body) == {
        "inputs": {"doc": "doc_1", "n": 3},
        "triggered_by": "tests",
        "breakpoint_lines": [4, 9],
    }
    assert (run.execution_id, run.since_id) == ("abc-456", 1234)


def test_run_leaves_unset_fields_out(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(RUN, json={"execution_id": "abc-456"}, status=202)

    client.project(PID).executions.run(
        "triage", channel="staging", triggered_by="cron", idempotency_key="job-42"
    )

    request = only_call(api)
    assert request.path_url == f"/projects/{PID}/scripts/triage/run?channel=staging"
    assert request.headers["Idempotency-Key"] == "job-42"
    assert json.loads(request.body) == {"triggered_by": "cron"}


def test_run_sends_empty_inputs_as_an_empty_object(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(RUN, json={"execution_id": "abc-456"})

    client.project(PID).executions.run("triage", inputs={})

    assert json.loads(only_call(api).body) == {"inputs": {}, "triggered_by": "tests"}


def test_run_script_names_are_one_path_segment(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{SCRIPTS}/a%2Fb%20c/run", json={"execution_id": "abc-456"})

    client.project(PID).executions.run("a/b c")

    assert only_call(api).path_url == f"/projects/{PID}/scripts/a%2Fb%20c/run?channel=production"


def test_run_retries_reuse_one_idempotency_key(api: ConformanceMock) -> None:
    waits: list[float] = []
    with AkribesClient(BASE_URL, token=TOKEN, name="tests", max_retries=2) as client:
        client._transport.sleep = waits.append
        api.post(RUN, json={"error": "down"}, status=503)
        api.post(RUN, json={"execution_id": "abc-456"})

        run = client.project(PID).executions.run("triage")

    first, second = (c.request for c in api.calls)
    assert run.execution_id == "abc-456"
    assert UUID.match(first.headers["Idempotency-Key"])
    assert second.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert len(waits) == 1


def test_two_runs_get_two_keys(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(RUN, json={"execution_id": "abc-456"})

    client.project(PID).executions.run("triage")
    client.project(PID).executions.run("triage")

    keys = {c.request.headers["Idempotency-Key"] for c in api.calls}
    assert len(keys) == 2


def test_run_input_errors_are_typed(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(
        RUN,
        json={
            "error": "input_validation_failed",
            "errors": [{"input": "x", "code": "missing", "expected": "int"}],
        },
        status=400,
    )

    with pytest.raises(InvalidInputsError) as caught:
        client.project(PID).executions.run("triage")
    assert caught.value.input_errors == [{"input": "x", "code": "missing", "expected": "int"}]


# -- history -----------------------------------------------------------------------------


def test_list_sends_filters_and_pages_lazily(api: ConformanceMock, client: AkribesClient) -> None:
    page_one = [{**STATUS, "id": f"e-{i}"} for i in range(200)]
    api.get(f"{SCRIPTS}/triage/executions", json=page_one)
    api.get(f"{SCRIPTS}/triage/executions", json=[{**STATUS, "id": "e-200"}])
    since = datetime(2026, 1, 1, tzinfo=UTC)
    until = datetime(2026, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=2)))

    page = client.project(PID).executions.list(
        "triage", status="failed", channel="production", failure_mode="ScriptError",
        since=since, until=until,
    )  # fmt: skip
    assert len(api.calls) == 1
    ids = [e.id for e in page]

    assert ids == [f"e-{i}" for i in range(201)]
    query = (
        "status=failed&channel=production&failure_mode=ScriptError"
        "&since=2026-01-01T00%3A00%3A00%2B00%3A00&until=2026-01-02T09%3A30%3A00%2B02%3A00"
    )
    assert [c.request.path_url for c in api.calls] == [
        f"/projects/{PID}/scripts/triage/executions?{query}&limit=200&offset=0",
        f"/projects/{PID}/scripts/triage/executions?{query}&limit=200&offset=200",
    ]
    assert api.calls[1].request.headers["Authorization"] == AUTH
    assert page.data[0].error_kind == "ScriptError"


def test_list_without_filters_and_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{SCRIPTS}/gone/executions", json=NOT_FOUND, status=404)

    assert list(client.project(PID).executions.list("gone")) == []
    assert only_call(api).path_url == f"/projects/{PID}/scripts/gone/executions?limit=200&offset=0"


def test_list_for_project(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}/executions", json=[STATUS])

    page = client.project(PID).executions.list_for_project(
        script_name="triage", status="failed", since="2026-01-01T00:00:00Z"
    )

    assert [e.id for e in page] == ["abc-456"]
    assert only_call(api).path_url == (
        f"/projects/{PID}/executions?script_name=triage&status=failed"
        "&since=2026-01-01T00%3A00%3A00Z&limit=200&offset=0"
    )


def test_list_for_project_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/projects/{PID}/executions", json=NOT_FOUND, status=404)

    assert list(client.project(PID).executions.list_for_project()) == []
    assert only_call(api).path_url == f"/projects/{PID}/executions?limit=200&offset=0"


def test_cancel_run_is_true_then_false_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(RUN, json={"cancelled": 2})
    api.delete(RUN, json=NOT_FOUND, status=404)

    assert client.project(PID).executions.cancel_run("triage") is True
    assert client.project(PID).executions.cancel_run("triage") is False
    request = api.calls[0].request
    assert (request.method, request.path_url, request.body) == (
        "DELETE",
        f"/projects/{PID}/scripts/triage/run",
        None,
    )
    assert request.headers["Authorization"] == AUTH


# -- other ways to run -------------------------------------------------------------------


def test_run_from_defaults_to_the_draft_channel(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{RUN}/from", json={"execution_id": "e-2"}, status=201)

    run = client.project(PID).executions.run_from("triage", {"x": 1}, [0, 1])

    request = only_call(api)
    assert request.path_url == f"/projects/{PID}/scripts/triage/run/from?channel=draft"
    assert request.headers["Authorization"] == AUTH
    assert "Idempotency-Key" not in request.headers
    assert json.loads(request.body) == {
        "seed_env": {"x": 1},
        "skip_node_ids": [0, 1],
        "triggered_by": "tests",
    }
    assert run.execution_id == "e-2"


def test_run_from_with_every_argument(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{RUN}/from", json={"execution_id": "e-2"})

    client.project(PID).executions.run_from(
        "triage", {}, [], channel="production", inputs={"n": 1}, triggered_by="me"
    )

    request = only_call(api)
    assert request.path_url == f"/projects/{PID}/scripts/triage/run/from?channel=production"
    assert json.loads(request.body) == {
        "seed_env": {},
        "skip_node_ids": [],
        "inputs": {"n": 1},
        "triggered_by": "me",
    }


def _capture_upload(api: ConformanceMock, bodies: list[bytes]) -> None:
    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = request.body
        bodies.append(body if isinstance(body, bytes) else body.read())  # type: ignore[union-attr]
        return 200, {"Content-Type": "application/json"}, '{"execution_id": "up-1"}'

    api.add_callback("POST", f"{RUN}/upload", callback=reply)


@pytest.mark.off_spec("the streamed multipart body is consumed by the test's own reader")
def test_run_with_upload_sends_one_part_per_input_and_meta(
    api: ConformanceMock, client: AkribesClient, tmp_path: Path
) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 disk")
    bodies: list[bytes] = []
    _capture_upload(api, bodies)

    run = client.project(PID).executions.run_with_upload(
        "triage",
        {"doc": report, "raw": b"\x00\x01", "named": ("b.txt", b"hi"), "other": str(report)},
        channel="staging",
        triggered_by="me",
    )

    request = only_call(api)
    assert run.execution_id == "up-1"
    assert request.path_url == f"/projects/{PID}/scripts/triage/run/upload?channel=staging"
    assert request.headers["Authorization"] == AUTH
    boundary = request.headers["Content-Type"].removeprefix("multipart/form-data; boundary=")
    assert boundary != request.headers["Content-Type"]
    octet = "Content-Type: application/octet-stream"
    expected = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="doc"; filename="report.pdf"\r\n{octet}\r\n\r\n'
        "%PDF-1.7 disk\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="raw"; filename="raw"\r\n{octet}\r\n\r\n'
        "\x00\x01\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="named"; filename="b.txt"\r\n{octet}\r\n\r\n'
        "hi\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="other"; filename="report.pdf"\r\n{octet}\r\n\r\n'
        "%PDF-1.7 disk\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="_meta"\r\n\r\n'
        '{"triggered_by": "me"}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    assert bodies == [expected]
    assert request.headers["Content-Length"] == str(len(expected))


def test_run_with_upload_validates_against_the_spec(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{RUN}/upload", json={"execution_id": "up-1"}, status=202)

    run = client.project(PID).executions.run_with_upload("triage", {"doc": ("a.pdf", b"%PDF")})

    request = only_call(api)
    assert run.execution_id == "up-1"
    assert request.path_url == f"/projects/{PID}/scripts/triage/run/upload?channel=production"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")


def test_run_with_s3_puts_the_channel_in_the_body(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{RUN}/s3", json={"execution_id": "s3-1"})
    refs = {"doc": S3PresignedRef(presigned_url="https://bucket.s3.example/a.pdf?sig=1")}

    run = client.project(PID).executions.run_with_s3("triage", refs, channel="production")

    request = only_call(api)
    assert request.path_url == f"/projects/{PID}/scripts/triage/run/s3"
    assert request.headers["Authorization"] == AUTH
    assert json.loads(request.body) == {
        "inputs": {"doc": {"presigned_url": "https://bucket.s3.example/a.pdf?sig=1"}},
        "channel": "production",
        "triggered_by": "tests",
    }
    assert run.execution_id == "s3-1"


def test_run_with_s3_credentials_are_sent_but_never_logged(
    api: ConformanceMock, client: AkribesClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret, session = "AWS-SECRET-KEY-0123456789", "AWS-SESSION-TOKEN-0123"
    api.post(f"{RUN}/s3", json={"error": f"cannot read with {secret} / {session}"}, status=404)
    ref = S3CredentialsRef(
        bucket="b",
        key="k/a.pdf",
        access_key_id="AKIA1",
        secret_access_key=secret,
        session_token=session,
    )

    with (
        caplog.at_level(logging.DEBUG, logger="controldeck"),
        pytest.raises(NotFoundError) as caught,
    ):
        client.project(PID).executions.run_with_s3("triage", {"doc": ref})

    assert json.loads(only_call(api).body) == {
        "inputs": {
            "doc": {
                "bucket": "b",
                "key": "k/a.pdf",
                "access_key_id": "AKIA1",
                "secret_access_key": secret,
                "session_token": session,
            }
        },
        "triggered_by": "tests",
    }
    for text in (str(caught.value), caught.value.body_excerpt or "", caplog.text):
        assert secret not in text
        assert session not in text


# -- graph and cost ----------------------------------------------------------------------


def test_get_graph(api: ConformanceMock, client: AkribesClient) -> None:
    graph = {
        "nodes": [
            {
                "id": 0,
                "op_type": "task",
                "op_name": "classify",
                "reads": ["doc"],
                "line": 3,
                "col": 5,
            }
        ],
        "edges": [{"from": 0, "to": 1}],
    }
    api.get(f"{SCRIPTS}/triage/graph", json=graph)

    got = client.project(PID).executions.get_graph("triage", version_id=12)
    client.project(PID).executions.get_graph("triage")

    assert api.calls[0].request.path_url == f"/projects/{PID}/scripts/triage/graph?version=12"
    assert api.calls[1].request.path_url == f"/projects/{PID}/scripts/triage/graph"
    assert [(n.id, n.op_name, n.reads) for n in got.nodes] == [(0, "classify", ["doc"])]
    assert [(e.from_, e.to) for e in got.edges] == [(0, 1)]


def test_get_graph_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{SCRIPTS}/gone/graph", json=NOT_FOUND, status=404)

    with pytest.raises(NotFoundError):
        client.project(PID).executions.get_graph("gone")


def test_get_project_cost(api: ConformanceMock, client: AkribesClient) -> None:
    cost = {
        "project_id": PID,
        "total_executions": 4,
        "total_cost_usd": 1.5,
        "avg_cost_usd": 0.375,
        "total_input_tokens": 100,
        "total_output_tokens": 40,
    }
    api.get(f"{BASE_URL}/projects/{PID}/cost", json=cost)

    got = client.project(PID).executions.get_project_cost(
        since="2026-01-01", until=datetime(2026, 2, 1, tzinfo=UTC)
    )
    client.project(PID).executions.get_project_cost()

    assert api.calls[0].request.path_url == (
        f"/projects/{PID}/cost?since=2026-01-01&until=2026-02-01T00%3A00%3A00%2B00%3A00"
    )
    assert api.calls[1].request.path_url == f"/projects/{PID}/cost"
    assert (got.total_executions, got.total_cost_usd, got.avg_cost_usd) == (4, 1.5, 0.375)


def test_get_cost_and_zeros_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    cost = {
        "total_executions": 2,
        "total_cost_usd": 0.5,
        "avg_cost_usd": 0.25,
        "total_input_tokens": 10,
        "total_output_tokens": 4,
        "by_version": [
            {"version_id": 3, "executions": 2, "avg_cost_usd": 0.25, "total_cost_usd": 0.5}
        ],
    }
    api.get(f"{SCRIPTS}/triage/cost", json=cost)
    api.get(f"{SCRIPTS}/gone/cost", json=NOT_FOUND, status=404)

    got = client.project(PID).executions.get_cost("triage")
    zero = client.project(PID).executions.get_cost("gone")

    assert api.calls[0].request.path_url == f"/projects/{PID}/scripts/triage/cost"
    assert (got.total_executions, got.total_tool_tokens) == (2, 0)
    assert [(v.version_id, v.executions) for v in got.by_version] == [(3, 2)]
    assert (zero.total_executions, zero.total_cost_usd, zero.avg_cost_usd) == (0, 0.0, 0.0)
    assert (zero.total_input_tokens, zero.total_output_tokens, zero.by_version) == (0, 0, [])


# -- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.run(""),
        lambda s: s.run("triage", channel=""),
        lambda s: s.run("triage", inputs=["a"]),
        lambda s: s.run("triage", inputs={"": 1}),
        lambda s: s.run("triage", breakpoint_lines=[1, -2]),
        lambda s: s.run("triage", breakpoint_lines="12"),
        lambda s: s.run("triage", triggered_by=""),
        lambda s: s.run("triage", idempotency_key=""),
        lambda s: s.list("triage", since=datetime(2026, 1, 1)),
        lambda s: s.list("triage", status=""),
        lambda s: s.list_for_project(script_name=""),
        lambda s: s.cancel_run(""),
        lambda s: s.run_from("triage", [], []),
        lambda s: s.run_from("triage", {}, [True]),
        lambda s: s.run_from("triage", {}, [], channel=None),
        lambda s: s.run_with_upload("triage", {}),
        lambda s: s.run_with_upload("triage", {"doc": 3}),
        lambda s: s.run_with_upload("triage", {"_meta": b"x"}),
        lambda s: s.run_with_upload("triage", {"doc": ("a.pdf",)}),
        lambda s: s.run_with_upload("triage", {"doc": "/no/such/file.pdf"}),
        lambda s: s.run_with_s3("triage", {"doc": {"presigned_url": "x"}}),
        lambda s: s.run_with_s3("triage", {}),
        lambda s: s.get_graph("triage", version_id="3"),
        lambda s: s.get_project_cost(since=datetime(2026, 1, 1)),
        lambda s: s.get_cost(""),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client.project(PID).executions)
    assert len(api.calls) == 0
