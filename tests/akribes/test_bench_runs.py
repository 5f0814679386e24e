"""`client.bench_runs`: the exact requests sent, the values decoded, and the run event stream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controldeck._generated.akribes import BenchResult, BenchRunLagged, BenchRunTerminal
from controldeck.akribes import AkribesClient
from controldeck.errors import (
    InvalidArgumentError,
    NotFoundError,
    ResponseValidationError,
    StreamError,
)
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL
from tests.akribes.test_bench import CASE, RUN

RUNS = f"{BASE_URL}/bench-runs"
RESULT: dict[str, Any] = {
    "id": 1,
    "bench_run_id": 41,
    "case_id": "case-1",
    "workflow_execution_id": "exec-1",
    "score": {"accuracy": 1},
    "headline_score": 0.9,
    "status": "ok",
    "verdict": "pass",
    "cost_usd": 0.02,
    "case_name": "first",
    "cache_hit": True,
    "created_at": "2026-01-03T00:01:00Z",
}
EXECUTION: dict[str, Any] = {
    "id": "case-1",
    "project_id": 7,
    "script_name": "my script",
    "status": "completed",
    "result": "bug",
}

pytestmark = pytest.mark.usefixtures("api")


def sent(api: ConformanceMock, index: int = -1) -> Any:
    body = api.calls[index].request.body
    return None if body is None else json.loads(body)


def test_get_and_its_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{RUNS}/41", json={**RUN, "status": "completed", "passed": 3})
    api.get(f"{RUNS}/41", status=404, json={"error": "no run"})

    run = client.bench_runs.get(41)

    assert run is not None
    assert (run.id, run.status, run.passed, run.mode) == (41, "completed", 3, "sample")
    assert client.bench_runs.get(41) is None
    assert api.calls[0].request.headers["Authorization"] == AUTH


def test_delete_ignores_404_like_upstream(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(f"{RUNS}/41", status=204)
    api.delete(f"{RUNS}/41", status=404, json={"error": "no run"})

    assert client.bench_runs.delete(41) is None  # type: ignore[func-returns-value]
    client.bench_runs.delete(41)

    assert [(c.request.method, c.request.url) for c in api.calls] == [
        ("DELETE", f"{RUNS}/41"),
        ("DELETE", f"{RUNS}/41"),
    ]


def test_list_results(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{RUNS}/41/results", json=[RESULT])
    api.get(f"{RUNS}/41/results", status=404, json={"error": "no run"})

    results = client.bench_runs.list_results(41)

    assert [(r.case_id, r.headline_score, r.cache_hit, r.score) for r in results] == [
        ("case-1", 0.9, True, {"accuracy": 1})
    ]
    assert client.bench_runs.list_results(41) == []


def test_cancel_posts_an_empty_object(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{RUNS}/41/cancel", json={**RUN, "status": "cancelled"})

    run = client.bench_runs.cancel(41)

    assert sent(api) == {}
    assert api.calls[0].request.headers["Content-Type"] == "application/json"
    assert run.status == "cancelled"


def test_cancel_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{RUNS}/41/cancel", status=404, json={"error": "no run"})
    with pytest.raises(NotFoundError):
        client.bench_runs.cancel(41)


def test_tag_session(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(
        f"{RUNS}/41/tag-session", json={"tagged": True, "run_id": 41, "mcp_session_id": "sess-9"}
    )

    reply = client.bench_runs.tag_session(41, "sess-9")

    assert api.calls[0].request.method == "PATCH"
    assert sent(api) == {"mcp_session_id": "sess-9"}
    assert (reply.tagged, reply.run_id, reply.mcp_session_id) == (True, 41, "sess-9")


def test_compare(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(
        f"{RUNS}/40/compare/41",
        json={
            "run_a_id": 40,
            "run_b_id": 41,
            "aggregate": {
                "mean_score_delta": 0.1,
                "cost_delta_usd": -0.01,
                "n_regressed": 0,
                "n_improved": 1,
                "n_unchanged": 3,
            },
            "per_case": [
                {
                    "case_id": "case-1",
                    "case_label": "first",
                    "score_a": 0.8,
                    "score_b": 0.9,
                    "delta": 0.1,
                    "flag": "improved",
                }
            ],
        },
    )

    report = client.bench_runs.compare(40, 41)

    assert (report.aggregate.n_improved, report.aggregate.cost_regression) == (1, False)
    assert [(c.case_id, c.flag, c.cost_flag) for c in report.per_case] == [
        ("case-1", "improved", "cost_unchanged")
    ]


def test_compare_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{RUNS}/40/compare/41", status=404, json={"error": "no run"})
    with pytest.raises(NotFoundError):
        client.bench_runs.compare(40, 41)


def test_promote_execution(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{BASE_URL}/executions/abc%2F456/promote-to-case"
    api.post(url, json=CASE, status=201)
    api.post(url, json=CASE)

    case = client.bench_runs.promote_execution(
        "abc/456", expected_output="bug", ground_truth={"l": 1}, name="from prod"
    )
    client.bench_runs.promote_execution("abc/456")

    assert sent(api, 0) == {
        "edits": {"expected_output": "bug", "ground_truth": {"l": 1}},
        "name": "from prod",
    }
    assert sent(api, 1) == {}
    assert case.id == "case-1"


def test_patch_case_and_delete_case(api: ConformanceMock, client: AkribesClient) -> None:
    url = f"{BASE_URL}/cases/case-1"
    api.patch(url, json={**CASE, "expected_output": "feature"})
    api.delete(url, status=204)
    api.delete(url, status=404, json={"error": "gone"})

    case = client.bench_runs.patch_case("case-1", expected_output="feature")
    client.bench_runs.delete_case("case-1")
    client.bench_runs.delete_case("case-1")

    assert sent(api, 0) == {"expected_output": "feature"}
    assert case.expected_output == "feature"
    assert [c.request.method for c in api.calls] == ["PATCH", "DELETE", "DELETE"]


def test_get_case_reads_the_execution_route(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/executions/case-1", json=EXECUTION)
    api.get(f"{BASE_URL}/executions/case-1", status=404, json={"error": "none"})

    assert client.bench_runs.get_case("case-1") == EXECUTION
    assert client.bench_runs.get_case("case-1") is None


def test_bench_by_id_and_mcp_session_cost(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/benches/3", json={"id": 3, "judge_channel": "production"})
    api.get(f"{BASE_URL}/benches/3", status=404, json={"error": "none"})
    api.get(f"{BASE_URL}/mcp-sessions/sess%209/cost", json={"total_cost_usd": 1.5})
    api.get(f"{BASE_URL}/mcp-sessions/sess%209/cost", status=404, json={"error": "none"})

    assert client.bench_runs.bench_by_id(3) == {"id": 3, "judge_channel": "production"}
    assert client.bench_runs.bench_by_id(3) is None
    assert client.bench_runs.mcp_session_cost("sess 9") == {"total_cost_usd": 1.5}
    with pytest.raises(NotFoundError):
        client.bench_runs.mcp_session_cost("sess 9")


def sse(*events: tuple[str, Any]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


def test_subscribe_run_events_yields_typed_items_until_terminal(
    api: ConformanceMock, client: AkribesClient
) -> None:
    body = (
        b": keepalive\n\n"
        + sse(("result", RESULT), ("ping", 1), ("lagged", {"dropped": 3}))
        + sse(("terminal", {"status": "completed"}), ("result", RESULT))
    )
    api.get(f"{RUNS}/41/events", body=body, content_type="text/event-stream")

    with client.bench_runs.subscribe_run_events(41) as events:
        items = list(events)

    assert [type(i) for i in items] == [BenchResult, BenchRunLagged, BenchRunTerminal]
    first, lagged, terminal = items
    assert isinstance(first, BenchResult) and first.case_name == "first"
    assert isinstance(lagged, BenchRunLagged) and lagged.dropped == 3
    assert isinstance(terminal, BenchRunTerminal) and terminal.status == "completed"
    assert events.closed
    request = api.calls[0].request
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Authorization"] == AUTH


def test_subscribe_run_events_merges_extra_headers(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(
        f"{RUNS}/41/events",
        body=sse(("terminal", {"status": "cancelled"})),
        content_type="text/event-stream",
    )

    with client.bench_runs.subscribe_run_events(
        41, extra_headers={"X-Trace": "t-1"}, timeout=(1, 5)
    ) as events:
        assert [i.status for i in events if isinstance(i, BenchRunTerminal)] == ["cancelled"]

    assert api.calls[0].request.headers["X-Trace"] == "t-1"
    assert api.calls[0].request.headers["Accept"] == "text/event-stream"


def test_subscribe_run_events_bad_data_is_a_validation_error(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(
        f"{RUNS}/41/events",
        body=b"event: lagged\ndata: {}\n\nevent: terminal\ndata: not json\n\n",
        content_type="text/event-stream",
    )
    with client.bench_runs.subscribe_run_events(41) as events:
        with pytest.raises(ResponseValidationError) as caught:
            next(events)
        assert caught.value.path == "$.dropped"
    assert events.closed


def test_subscribe_run_events_data_that_is_not_json_is_a_stream_error(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(
        f"{RUNS}/41/events",
        body=b"event: terminal\ndata: not json\n\n",
        content_type="text/event-stream",
    )
    with client.bench_runs.subscribe_run_events(41) as events, pytest.raises(StreamError):
        next(events)


def test_subscribe_run_events_404_raises_before_iterating(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{RUNS}/41/events", status=404, json={"error": "no run"})
    with pytest.raises(NotFoundError):
        client.bench_runs.subscribe_run_events(41)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.get("41"),
        lambda r: r.get(-1),
        lambda r: r.delete(True),
        lambda r: r.compare(40, "41"),
        lambda r: r.tag_session(41, ""),
        lambda r: r.promote_execution(""),
        lambda r: r.patch_case("case-1"),
        lambda r: r.patch_case("", name="x"),
        lambda r: r.bench_by_id(None),
        lambda r: r.mcp_session_cost(""),
        lambda r: r.subscribe_run_events("41"),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client.bench_runs)
    assert len(api.calls) == 0
