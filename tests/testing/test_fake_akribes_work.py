"""FakeAkribes' bench, execution, run-variant, document and script-management routes over
real sockets, each reply decoded strictly and checked against openapi/akribes.yaml (the
helpers of test_fake_akribes.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from controldeck._generated import akribes as m
from controldeck.testing.akribes import FakeAkribes
from tests.testing.test_fake_akribes import Api, _run, strict

S = "/projects/1/scripts/greet"


@pytest.fixture
def fake() -> Iterator[FakeAkribes]:
    with FakeAkribes() as server:
        yield server


@pytest.fixture
def api(fake: FakeAkribes) -> Iterator[Api]:
    client = Api(fake, fake.service_token)
    with client.session:
        yield client
        client.check_spec()


def _finish(api: Api, execution_id: str) -> m.ExecutionOutput:
    """The output after three polls: pending → running → the outcome."""
    for _ in range(3):
        out: m.ExecutionOutput = strict(
            api("GET", f"/executions/{execution_id}/output"), m.ExecutionOutput
        )
    return out


# -- benches and cases ----------------------------------------------------------------------


def test_bench_config_cases_and_drift(fake: FakeAkribes, api: Api) -> None:
    bench = strict(api("GET", f"{S}/bench"), m.Bench)
    judge = fake.add_script(1, "judge", "input output: string\n")["id"]
    saved = api("POST", f"{S}/bench", json={"judge_script_id": judge, "config": {"k": 1}})
    assert (saved.status_code, strict(saved, m.Bench).judge_script_id) == (200, judge)
    assert api("POST", f"{S}/bench", json={"judge_script_id": 99}).status_code == 404
    assert api("GET", f"/benches/{bench.id}").json()["config"] == {"k": 1}
    assert api("GET", "/benches/99").status_code == 404

    summaries = strict(api("GET", "/projects/1/benches"), list[m.ProjectBenchSummary])
    assert [(s.script_name, s.case_count, s.latest_run_id) for s in summaries] == [
        ("greet", 2, None)]  # fmt: skip
    signature = api("GET", f"{S}/signature").json()
    assert (signature["inputs"], signature["version_id"]) == ([["name", "string"]], 1)
    preview = api("GET", f"{S}/bench/contract-preview", params={"judge": judge}).json()
    assert (preview["judge_script_name"], preview["channel"]) == ("judge", "production")
    assert api("GET", f"{S}/bench/contract-preview", params={"judge": 99}).status_code == 404

    new = {"inputs": {"nom": "Linus"}, "expected_output": "hi", "name": "typo"}
    created = api("POST", f"{S}/bench/cases", json=new)
    case = strict(created, m.BenchCase)
    assert (created.status_code, case.case_name, case.kind) == (201, "typo", "manual")
    cases = strict(api("GET", f"{S}/bench/cases"), list[m.BenchCase])
    assert [c.case_name for c in cases] == ["Ada", "Grace", "typo"]
    drift = strict(api("GET", f"{S}/bench/cases/contract-drift"), m.DriftReport)
    assert [(d.case_id, d.what_broke) for d in drift.drifted] == [
        (case.id, "missing input name; unknown input nom")]  # fmt: skip
    assert (drift.summary, drift.published_by) == ("1 of 3 cases drifted", "seed")

    patched = api("PATCH", f"/cases/{case.id}", json={"inputs": {"name": "Linus"}, "name": "ok"})
    assert (strict(patched, m.BenchCase).case_name, fake.cases[case.id]["inputs"]) == (
        "ok", {"name": "Linus"})  # fmt: skip
    assert api("DELETE", f"/cases/{case.id}").status_code == 204
    assert api("PATCH", f"/cases/{case.id}", json={}).status_code == 404

    assert api("DELETE", f"{S}/bench").status_code == 204
    assert (api("GET", f"{S}/bench").status_code, fake.cases) == (404, {})
    assert api("GET", f"{S}/bench/cases").status_code == 404
    assert api("POST", f"{S}/bench", json={}).status_code == 201


def test_bench_runs_list_compare_tag_cancel_and_delete(fake: FakeAkribes, api: Api) -> None:
    first = strict(api("POST", f"{S}/bench/runs", json={"channel": "production"}), m.BenchRun)
    fake.results["greet"] = {"name": "Ada"}  # Grace's case now fails
    second = strict(api("POST", f"{S}/bench/runs", json={"channel": "production"}), m.BenchRun)
    runs = strict(api("GET", f"{S}/bench/runs", params={"limit": 1}), list[m.BenchRun])
    assert [r.id for r in runs] == [second.id]

    report = strict(api("GET", f"/bench-runs/{first.id}/compare/{second.id}"), m.CompareReport)
    assert [(c.case_label, c.delta, c.flag) for c in report.per_case] == [
        ("Ada", 0.0, "unchanged"), ("Grace", -1.0, "regressed")]  # fmt: skip
    assert (report.aggregate.mean_score_delta, report.aggregate.n_regressed) == (-0.5, 1)
    assert api("GET", f"/bench-runs/{first.id}/compare/99").status_code == 404

    tagged = api("PATCH", f"/bench-runs/{first.id}/tag-session", json={"mcp_session_id": "s-1"})
    assert strict(tagged, m.BenchRunTagSessionResponse).tagged is True
    assert api("GET", "/mcp-sessions/s-1/cost").json() == {
        "session_id": "s-1", "bench_runs": [first.id], "total_cost_usd": 0.0}  # fmt: skip

    cancelled = strict(api("POST", f"/bench-runs/{first.id}/cancel", json={}), m.BenchRun)
    assert (cancelled.status, cancelled.completed_at is not None) == ("cancelled", True)
    assert api("POST", f"/bench-runs/{first.id}/cancel", json={}).status_code == 409
    assert api("DELETE", f"/bench-runs/{second.id}").status_code == 204
    assert (api("GET", f"/bench-runs/{second.id}").status_code, list(fake.bench_results)) == (
        404, [first.id])  # fmt: skip


def test_an_execution_is_promoted_to_a_case(fake: FakeAkribes, api: Api) -> None:
    execution_id = _run(api, {"name": "Linus"})
    _finish(api, execution_id)
    promoted = api("POST", f"/executions/{execution_id}/promote-to-case", json={"name": "L"})
    case = strict(promoted, m.BenchCase)
    assert (promoted.status_code, case.kind, case.inputs, case.expected_output) == (
        201, "promoted", {"name": "Linus"}, {"name": "Linus"})  # fmt: skip
    edits = {"edits": {"expected_output": "Hello Linus"}}
    edited = api("POST", f"/executions/{execution_id}/promote-to-case", json=edits)
    assert strict(edited, m.BenchCase).expected_output == "Hello Linus"
    adhoc = api("POST", "/execute", json={"source": "workflow main {}"}).json()["execution_id"]
    assert api("POST", f"/executions/{adhoc}/promote-to-case", json={}).json() == {
        "error": "bench not found"}  # fmt: skip


# -- executions -----------------------------------------------------------------------------


def test_tasks_children_rerun_and_costs(fake: FakeAkribes, api: Api) -> None:
    execution_id = _run(api, {"name": "Ada"})
    assert (
        strict(api("GET", f"/executions/{execution_id}/tasks"), m.ExecutionTasksResponse).tasks
        == []
    )
    _finish(api, execution_id)
    tasks = strict(api("GET", f"/executions/{execution_id}/tasks"), m.ExecutionTasksResponse)
    assert [(t.task_name, t.input_tokens, t.cost_usd) for t in tasks.tasks] == [
        ("main", 12, 0.0001)
    ]
    assert api("GET", f"/executions/{execution_id}/children").json() == []
    assert api("GET", "/executions/nope/children").status_code == 404

    rerun = strict(api("POST", f"/executions/{execution_id}/rerun"), m.RerunResult)
    assert (rerun.rerun_of, rerun.since_id) == (execution_id, 4)
    assert _finish(api, rerun.execution_id).result == {"name": "Ada"}

    cost = strict(api("GET", "/projects/1/cost"), m.ProjectCost)
    assert (cost.total_executions, cost.total_cost_usd, cost.total_input_tokens) == (2, 0.0002, 24)
    later = strict(api("GET", "/projects/1/cost", params={"since": "2999-01-01"}), m.ProjectCost)
    assert (later.total_executions, later.avg_cost_usd) == (0, 0.0)
    by_script = strict(api("GET", f"{S}/cost"), m.CostAggregation)
    assert [(v.version_id, v.executions) for v in by_script.by_version] == [(1, 2)]

    _ = api("POST", "/execute", json={"source": "workflow main {}"})
    listed = api("GET", "/projects/1/executions", params={"script_name": "greet"})
    assert [e.id for e in strict(listed, list[m.ExecutionStatus])] == [
        rerun.execution_id, execution_id]  # fmt: skip


def test_a_checkpoint_suspends_until_resumed(fake: FakeAkribes, api: Api) -> None:
    fake.checkpoints["greet"] = "approve"
    execution_id = _run(api, {"name": "Ada"})
    events = strict(api("GET", f"/executions/{execution_id}/events"), m.ExecutionEvents).events
    suspended = events[-1]
    assert (type(suspended).__name__, suspended.payload.checkpoint_name) == (
        "SuspendedEvent", "approve")  # fmt: skip
    assert api("POST", f"/executions/{execution_id}/resume",
               json={"token": suspended.payload.token, "data": 1}).status_code == 409  # fmt: skip
    assert _finish(api, execution_id).status == "suspended"
    wrong = api("POST", f"/executions/{execution_id}/resume", json={"token": "x", "data": 1})
    assert wrong.status_code == 400
    answer = {"token": suspended.payload.token, "data": {"approved": True}}
    assert api("POST", f"/executions/{execution_id}/resume", json=answer).json() == {
        "resumed": True, "execution_id": execution_id}  # fmt: skip
    done = strict(api("GET", f"/executions/{execution_id}/output"), m.ExecutionOutput)
    assert (done.status, done.result) == ("completed", {"approved": True})
    after = strict(api("GET", f"/executions/{execution_id}/events", params={"after_id": 3}),
                   m.ExecutionEvents)  # fmt: skip
    assert [type(e).__name__ for e in after.events] == ["ResumedEvent", "WorkflowEndEvent"]


def test_run_from_upload_and_s3(fake: FakeAkribes, api: Api) -> None:
    read = fake.add_script(1, "read", "input doc: document\ninput note: string\n")
    seeded = {"seed_env": {"note": "n"}, "skip_node_ids": [0], "inputs": {"doc": "d"}}
    ran = api("POST", "/projects/1/scripts/read/run/from", json=seeded)
    execution_id = strict(ran, m.RunResult).execution_id
    assert (ran.status_code, fake.executions[execution_id]["channel"]) == (201, "draft")
    assert _finish(api, execution_id).result == {"note": "n", "doc": "d"}
    assert api("POST", "/projects/1/scripts/read/run/from", json={}).status_code == 400
    assert api("POST", f"{S}/run/from", params={"channel": "beta"},
               json=seeded).status_code == 404  # fmt: skip

    fake.publish(read["id"], ["production"])
    files = {"doc": ("a.txt", b"alpha"), "note": ("n.txt", b"x"),
             "_meta": (None, json.dumps({"triggered_by": "cli"}))}  # fmt: skip
    uploaded = api("POST", "/projects/1/scripts/read/run/upload", files=files)
    run = fake.executions[strict(uploaded, m.RunResult).execution_id]
    assert run["triggered_by"] == "cli"
    doc_id = _finish(api, run["id"]).result["doc"]
    assert fake.documents[doc_id]["filename"] == "a.txt"
    short = {"doc": ("a.txt", b"alpha"), "_meta": (None, "{}")}
    missing = api("POST", "/projects/1/scripts/read/run/upload", files=short)
    assert missing.json()["errors"] == [{"input": "note", "code": "missing", "expected": "string"}]
    no_meta = api("POST", "/projects/1/scripts/read/run/upload", files={"doc": ("a", b"a")})
    assert no_meta.status_code == 400

    refs = {"doc": {"bucket": "b", "key": "k.pdf", "access_key_id": "AK",
                    "secret_access_key": "SECRET"},
            "note": {"presigned_url": "https://b.s3/x.txt?X-Amz-Signature=sig"}}  # fmt: skip
    s3 = api("POST", "/projects/1/scripts/read/run/s3", json={"inputs": refs})
    result = _finish(api, strict(s3, m.RunResult).execution_id).result
    assert result == {"doc": "s3://b/k.pdf", "note": "https://b.s3/x.txt"}


def test_the_graph_has_inputs_feeding_tasks(api: Api) -> None:
    graph = strict(api("GET", f"{S}/graph"), m.GraphResponse)
    assert [(n.id, n.op_type, n.op_name, n.reads, n.line) for n in graph.nodes] == [
        (0, "input", "name", [], 1), (1, "task", "greet", ["name"], 3)]  # fmt: skip
    assert graph.edges == [m.GraphEdge(from_=0, to=1)]
    assert api("GET", f"{S}/graph", params={"version": 1}).status_code == 200
    assert api("GET", f"{S}/graph", params={"version": 9}).status_code == 404


# -- documents and script management -----------------------------------------------------


def test_document_content_redirects_to_storage_and_reconverts(fake: FakeAkribes, api: Api) -> None:
    uploaded = api("POST", "/projects/1/documents", files={"file": ("q.txt", b"numbers")}).json()
    content = api("GET", f"/documents/{uploaded['document_id']}/content", allow_redirects=False)
    location = content.headers["Location"]
    assert (content.status_code, location) == (
        302, f"/storage/{uploaded['document_id']}?X-Amz-Signature=fake")  # fmt: skip
    stored = requests.get(fake.url + location, timeout=5)  # a presigned URL needs no bearer
    assert (stored.content, stored.headers["Content-Type"]) == (b"numbers", "text/plain")
    assert api("GET", "/documents/nope/content").status_code == 404

    api("GET", f"/documents/{uploaded['document_id']}")  # converting → ready
    again = api("POST", f"/documents/{uploaded['document_id']}/convert", json={})
    assert again.json() == {
        "document_id": uploaded["document_id"],
        "conversion_status": "converting",
    }
    assert fake.documents[uploaded["document_id"]]["conversion_status"] == "converting"


def test_scripts_are_duplicated_moved_reordered_and_checked(fake: FakeAkribes, api: Api) -> None:
    copy = api("POST", f"{S}/duplicate", json={})
    assert (copy.status_code, strict(copy, m.Script).name) == (201, "greet-copy")
    assert strict(api("POST", f"{S}/duplicate", json={}), m.Script).name == "greet-copy-2"
    ids = [s.id for s in strict(api("GET", "/projects/1/scripts"), list[m.Script])]
    assert api("PUT", "/projects/1/scripts/reorder", json={"order": ids[::-1]}).status_code == 204
    listed = strict(api("GET", "/projects/1/scripts"), list[m.Script])
    assert [s.name for s in listed] == ["greet-copy-2", "greet-copy", "greet"]

    moved = api("POST", "/projects/1/scripts/greet-copy/move", json={"target_project_id": 2})
    assert strict(moved, m.Script).project_id == 2
    assert api("POST", f"{S}/move", json={"target_project_id": 9}).status_code == 404

    project = api("POST", "/projects/1/duplicate", json={})
    duplicate = strict(project, m.Project)
    assert (project.status_code, duplicate.name) == (201, "demo (copy)")
    names = [
        s.name for s in strict(api("GET", f"/projects/{duplicate.id}/scripts"), list[m.Script])
    ]
    assert names == ["greet-copy-2", "greet"]

    ok = strict(api("POST", f"{S}/check", json={}), m.CheckResponse)
    assert (ok.ok, ok.diagnostics, ok.analyzer_version) == (True, [], "fake-1")
    bad = strict(
        api("POST", f"{S}/check", json={"source": "workflow main {\n}\n}"}), m.CheckResponse
    )
    assert (bad.ok, [(d.code, d.message, d.line, d.col) for d in bad.diagnostics]) == (
        False, [("E001", "unexpected }", 3, 1)])  # fmt: skip
    unclosed = strict(api("POST", f"{S}/check", json={"source": "x {"}), m.CheckResponse)
    assert [(d.message, d.line, d.col) for d in unclosed.diagnostics] == [("unclosed {", 1, 4)]
