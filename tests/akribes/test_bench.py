"""`client.project(pid).bench`: the exact requests sent and the values decoded.

Every request and canned reply is checked against openapi/akribes.yaml by the `api` mock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from controldeck.akribes import AkribesClient, DuplicateSuiteError
from controldeck.errors import InvalidArgumentError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID

PROJECT = f"{BASE_URL}/projects/{PID}"
BENCH_URL = f"{PROJECT}/scripts/my%20script/bench"

BENCH: dict[str, Any] = {
    "id": 3,
    "script_id": 11,
    "judge_script_id": 12,
    "judge_channel": "production",
    "config": {"threshold": 0.8},
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-02T00:00:00Z",
}
SUMMARY: dict[str, Any] = {
    "bench_id": 3,
    "script_id": 11,
    "script_name": "my script",
    "judge_script_id": 12,
    "judge_script_name": "judge",
    "judge_channel": "production",
    "case_count": 4,
    "latest_run_id": 41,
    "latest_run_status": "completed",
    "latest_run_mean_score": 0.75,
    "updated_at": "2026-01-02T00:00:00Z",
}
CASE: dict[str, Any] = {
    "id": "case-1",
    "project_id": PID,
    "script_name": "my script",
    "bench_id": 3,
    "kind": "manual",
    "frozen": False,
    "case_name": "first",
    "inputs": {"ticket": "T-1"},
    "expected_output": "bug",
    "created_at": "2026-01-01T00:00:00Z",
}
RUN: dict[str, Any] = {
    "id": 41,
    "bench_id": 3,
    "channel": "staging",
    "workflow_version_id": 5,
    "judge_version_id": 6,
    "status": "running",
    "triggered_at": "2026-01-03T00:00:00Z",
    "total_cases": 4,
    "notes": "new prompt",
    "case_filter": ["case-1"],
    "mode": "sample",
    "sample_size": 2,
}

pytestmark = pytest.mark.usefixtures("api")


def sent(api: ConformanceMock, index: int = -1) -> Any:
    body = api.calls[index].request.body
    return None if body is None else json.loads(body)


def test_list_project_summaries(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{PROJECT}/benches", json=[SUMMARY])

    summaries = client.project(PID).bench.list_project_summaries()

    request = api.calls[0].request
    assert request.url == f"{PROJECT}/benches"
    assert request.headers["Authorization"] == AUTH
    assert request.body is None
    assert [(s.bench_id, s.script_name, s.case_count) for s in summaries] == [(3, "my script", 4)]
    assert summaries[0].latest_run_mean_score == 0.75
    assert summaries[0].latest_run_cost_usd is None


def test_list_project_summaries_is_empty_on_404(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{PROJECT}/benches", status=404, json={"error": "no project"})
    assert client.project(PID).bench.list_project_summaries() == []


def test_get_encodes_the_script_name(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(BENCH_URL, json=BENCH)

    bench = client.project(PID).bench.get("my script")

    assert api.calls[0].request.method == "GET"
    assert api.calls[0].request.url == BENCH_URL
    assert bench is not None
    assert (bench.id, bench.judge_script_id, bench.config) == (3, 12, {"threshold": 0.8})


def test_get_is_none_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(BENCH_URL, status=404, json={"error": "no bench"})
    assert client.project(PID).bench.get("my script") is None


def test_create_or_update_sends_only_the_fields_given(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(BENCH_URL, json=BENCH, status=201)
    api.post(BENCH_URL, json=BENCH)
    bench = client.project(PID).bench

    created = bench.create_or_update(
        "my script", judge_script_id=12, judge_channel="production", config={"threshold": 0.8}
    )
    bench.create_or_update("my script")

    assert sent(api, 0) == {
        "judge_script_id": 12,
        "judge_channel": "production",
        "config": {"threshold": 0.8},
    }
    assert api.calls[0].request.headers["Content-Type"] == "application/json"
    assert sent(api, 1) == {}
    assert created.updated_at.isoformat() == "2026-01-02T00:00:00+00:00"


def test_create_or_update_409_is_duplicate_suite(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(
        BENCH_URL,
        status=409,
        json={"error_type": "suite_already_exists", "existing_suite_id": 7, "error": "exists"},
    )

    with pytest.raises(DuplicateSuiteError) as caught:
        client.project(PID).bench.create_or_update("my script", judge_script_id=12)

    assert caught.value.existing_id == 7
    assert caught.value.status_code == 409


def test_delete_is_true_then_false_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(BENCH_URL, status=204)
    api.delete(BENCH_URL, status=404, json={"error": "no bench"})
    bench = client.project(PID).bench

    assert bench.delete("my script") is True
    assert bench.delete("my script") is False
    assert [c.request.method for c in api.calls] == ["DELETE", "DELETE"]


def test_get_signature_and_its_empty_404(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{PROJECT}/scripts/my%20script/signature"
    signature = {"inputs": [["ticket", "str"]], "output": "str"}
    api.get(url, json=signature)
    api.get(url, status=404, json={"error": "no script"})
    bench = client.project(PID).bench

    assert bench.get_signature("my script") == signature
    assert bench.get_signature("my script") == {}
    assert api.calls[0].request.url == url


def test_contract_preview_query(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{BENCH_URL}/contract-preview"
    api.get(url, json={"compatible": True})
    api.get(url, status=404, json={"error": "no judge"})
    bench = client.project(PID).bench

    assert bench.contract_preview("my script", 12, channel="staging") == {"compatible": True}
    assert bench.contract_preview("my script", 12) == {}

    assert api.calls[0].request.url == f"{url}?judge=12&channel=staging"
    assert api.calls[1].request.url == f"{url}?judge=12"


def test_list_cases_and_create_case(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BENCH_URL}/cases", json=[CASE])
    api.post(f"{BENCH_URL}/cases", json=CASE, status=201)
    api.post(f"{BENCH_URL}/cases", json=CASE, status=201)
    bench = client.project(PID).bench

    cases = bench.list_cases("my script")
    case = bench.create_case(
        "my script",
        {"ticket": "T-1"},
        expected_output="bug",
        ground_truth={"label": "bug"},
        case_name="first",
    )
    bench.create_case("my script", {"ticket": "T-2"})

    assert [(c.id, c.inputs, c.frozen) for c in cases] == [("case-1", {"ticket": "T-1"}, False)]
    assert sent(api, 1) == {
        "inputs": {"ticket": "T-1"},
        "expected_output": "bug",
        "ground_truth": {"label": "bug"},
        "name": "first",
    }
    assert sent(api, 2) == {"inputs": {"ticket": "T-2"}}
    assert case.expected_output == "bug"
    assert case.ground_truth is None


def test_list_cases_is_empty_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BENCH_URL}/cases", status=404, json={"error": "no bench"})
    assert client.project(PID).bench.list_cases("my script") == []


def test_case_contract_drift(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{BENCH_URL}/cases/contract-drift"
    api.get(
        url,
        json={
            "drifted": [{"case_id": "case-1", "label": "first", "what_broke": "input ticket"}],
            "script_version_id": 5,
            "summary": "1 case broke",
        },
    )
    api.get(url, status=404, json={"error": "no bench"})
    bench = client.project(PID).bench

    report = bench.case_contract_drift("my script")
    empty = bench.case_contract_drift("my script")

    assert [(d.case_id, d.what_broke) for d in report.drifted] == [("case-1", "input ticket")]
    assert (report.script_version_id, report.summary) == (5, "1 case broke")
    assert (empty.drifted, empty.summary, empty.script_version_id) == ([], "", None)


def test_list_runs_pages_lazily(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{BENCH_URL}/runs"
    first = [{**RUN, "id": i} for i in range(200)]
    api.get(url, json=first)
    api.get(url, json=[{**RUN, "id": 200}])

    page = client.project(PID).bench.list_runs("my script")
    assert len(api.calls) == 1
    ids = [run.id for run in page]

    assert ids == list(range(201))
    assert [c.request.url for c in api.calls] == [
        f"{url}?limit=200&offset=0",
        f"{url}?limit=200&offset=200",
    ]


def test_list_runs_is_empty_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BENCH_URL}/runs", status=404, json={"error": "no bench"})
    assert list(client.project(PID).bench.list_runs("my script")) == []


def test_trigger_run_body(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BENCH_URL}/runs", json=RUN, status=201)
    api.post(f"{BENCH_URL}/runs", json=RUN, status=202)
    bench = client.project(PID).bench

    run = bench.trigger_run(
        "my script",
        "staging",
        notes="new prompt",
        case_ids=["case-1"],
        mode="sample",
        sample_size=2,
    )
    bench.trigger_run("my script", "production")

    assert sent(api, 0) == {
        "channel": "staging",
        "notes": "new prompt",
        "case_ids": ["case-1"],
        "mode": "sample",
        "sample_size": 2,
    }
    assert sent(api, 1) == {"channel": "production"}
    assert (run.id, run.status, run.case_filter, run.total_cost_usd) == (
        41,
        "running",
        ["case-1"],
        0.0,
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.get(""),
        lambda b: b.get("  "),
        lambda b: b.create_or_update("s", judge_script_id="12"),
        lambda b: b.create_or_update("s", judge_channel=""),
        lambda b: b.contract_preview("s", True),
        lambda b: b.create_case("s", {}, case_name=""),
        lambda b: b.trigger_run("s", ""),
        lambda b: b.trigger_run("s", "prod", sample_size=0),
        lambda b: b.trigger_run("s", "prod", case_ids="case-1"),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client.project(PID).bench)
    assert len(api.calls) == 0


def test_options_reach_the_request(api: ConformanceMock, client: AkribesClient) -> None:
    api.add(responses.GET, BENCH_URL, json=BENCH)
    client.project(PID).bench.get("my script", extra_headers={"X-Trace": "t-1"})
    assert api.calls[0].request.headers["X-Trace"] == "t-1"
