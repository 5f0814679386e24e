"""The routes of `FakeAkribes` for benches: a script's bench and its cases, bench runs
(trigger, results, live events, cancel, compare, tag, delete), promoting executions to
cases and MCP session costs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from controldeck.testing._akribes_routes import (
    Call,
    Json,
    WorkRoutes,
    error,
    not_found,
    page,
    to_int,
)
from controldeck.testing._akribes_seed import declared_inputs, iso
from controldeck.testing._server import Reply, json_reply

__all__ = ["BenchRoutes"]

Route = tuple[str, str, Callable[[Call], Reply]]


class BenchRoutes(WorkRoutes):
    """Route handlers for benches, cases and bench runs.

    Mixed into `FakeAkribes`, which owns the state named below.
    """

    def add_bench(self, script_id: int, *, config: Any = None) -> Json:
        """Give a script a bench, as `POST .../bench` would.

        Args:
            script_id: The script.
            config: The bench's free-form configuration (default `{}`).

        Returns:
            The `Bench` row.

        Example:
            >>> fake.add_bench(1)["judge_channel"]
            'production'
        """
        with self._lock:
            now = iso(time.time())
            bench: Json = {"id": self._next("bench"), "script_id": script_id,
                           "judge_script_id": None, "judge_channel": "production",
                           "config": config if config is not None else {},
                           "created_at": now, "updated_at": now}  # fmt: skip
            self.benches[bench["id"]] = bench
        return bench

    def add_case(
        self,
        bench_id: int,
        inputs: Any,
        *,
        expected_output: Any = None,
        name: str | None = None,
        kind: str = "manual",
    ) -> Json:
        """Add a case to a bench, as `POST .../bench/cases` would.

        Args:
            bench_id: The bench.
            inputs: The case's inputs.
            expected_output: What the script should return for them.
            name: The case's name.
            kind: `manual`, or `promoted` for a case made from an execution.

        Returns:
            The `BenchCase` row.

        Example:
            >>> fake.add_case(1, {"name": "Linus"}, expected_output={"name": "Linus"})["kind"]
            'manual'
        """
        with self._lock:
            script = self.scripts[self.benches[bench_id]["script_id"]]
            case = {"id": f"case-{self._next('case')}", "project_id": script["project_id"],
                    "script_name": script["name"], "bench_id": bench_id, "kind": kind,
                    "frozen": False, "case_name": name, "inputs": inputs,
                    "expected_output": expected_output, "ground_truth": None,
                    "input_hash": None, "created_at": iso(time.time())}  # fmt: skip
            self.cases[case["id"]] = case
        return case

    def _bench_routes(self) -> list[Route]:
        s = "/projects/{project_id}/scripts/{script_name}"
        run = "/bench-runs/{run_id}"
        return [
            ("GET", "/projects/{project_id}/benches", self._bench_summaries),
            ("GET", f"{s}/bench", self._get_bench),
            ("POST", f"{s}/bench", self._save_bench),
            ("DELETE", f"{s}/bench", self._delete_bench),
            ("GET", f"{s}/signature", self._signature),
            ("GET", f"{s}/bench/contract-preview", self._contract_preview),
            ("GET", f"{s}/bench/cases", self._list_cases),
            ("POST", f"{s}/bench/cases", self._create_case),
            ("GET", f"{s}/bench/cases/contract-drift", self._contract_drift),
            ("GET", f"{s}/bench/runs", self._list_bench_runs),
            ("POST", f"{s}/bench/runs", self._trigger_bench_run),
            ("GET", run, self._get_bench_run),
            ("DELETE", run, self._delete_bench_run),
            ("GET", f"{run}/results", self._list_bench_results),
            ("GET", f"{run}/events", self._bench_run_events),
            ("POST", f"{run}/cancel", self._cancel_bench_run),
            ("PATCH", f"{run}/tag-session", self._tag_session),
            ("GET", "/bench-runs/{run_a_id}/compare/{run_b_id}", self._compare),
            ("POST", "/executions/{execution_id}/promote-to-case", self._promote),
            ("PATCH", "/cases/{case_id}", self._patch_case),
            ("DELETE", "/cases/{case_id}", self._delete_case),
            ("GET", "/benches/{bench_id}", self._bench_by_id),
            ("GET", "/mcp-sessions/{session_id}/cost", self._session_cost),
        ]

    # -- a script's bench and cases -------------------------------------------------------

    def _bench_of(self, script_id: int) -> Json | None:
        return next((b for b in self.benches.values() if b["script_id"] == script_id), None)

    def _found_bench(self, call: Call) -> tuple[Json, Json] | Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        bench = self._bench_of(script["id"])
        return (script, bench) if bench is not None else not_found("bench")

    def _bench_cases(self, bench_id: int) -> list[Json]:
        return [c for c in self.cases.values() if c["bench_id"] == bench_id]

    def _bench_summaries(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        rows = []
        for bench in self.benches.values():
            script = self.scripts.get(bench["script_id"])
            if script is None or script["project_id"] != project["id"]:
                continue
            runs = [r for r in self.bench_runs.values() if r["bench_id"] == bench["id"]]
            latest = runs[-1] if runs else {}
            rows.append({"bench_id": bench["id"], "script_id": script["id"],
                         "script_name": script["name"],
                         "judge_script_id": bench["judge_script_id"], "judge_script_name": None,
                         "judge_channel": bench["judge_channel"],
                         "case_count": len(self._bench_cases(bench["id"])),
                         "latest_run_id": latest.get("id"),
                         "latest_run_status": latest.get("status"),
                         "latest_run_channel": latest.get("channel"),
                         "latest_run_workflow_version_id": latest.get("workflow_version_id"),
                         "latest_run_at": latest.get("triggered_at"),
                         "latest_run_mean_score": latest.get("mean_headline_score"),
                         "latest_run_cost_usd": latest.get("total_cost_usd"),
                         "updated_at": bench["updated_at"]})  # fmt: skip
        return json_reply(200, rows)

    def _get_bench(self, call: Call) -> Reply:
        found = self._found_bench(call)
        return found if isinstance(found, Reply) else json_reply(200, found[1])

    def _save_bench(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        body = call.body if isinstance(call.body, dict) else {}
        judge = body.get("judge_script_id")
        if judge is not None and judge not in self.scripts:
            return not_found("judge script")
        bench, created = self._bench_of(script["id"]), False
        if bench is None:
            bench, created = self.add_bench(script["id"]), True
        for field in ("judge_script_id", "judge_channel", "config"):
            if field in body:
                bench[field] = body[field]
        bench["updated_at"] = iso(time.time())
        return json_reply(201 if created else 200, bench)

    def _delete_bench(self, call: Call) -> Reply:
        found = self._found_bench(call)
        if isinstance(found, Reply):
            return found
        bench_id = found[1]["id"]
        del self.benches[bench_id]
        for case in self._bench_cases(bench_id):
            del self.cases[case["id"]]
        return Reply(204)

    def _script_source(self, script: Json) -> tuple[Json | None, str]:
        """The latest published version (None: unpublished) and the source that runs."""
        versions = [v for v in self.versions.values() if v["script_id"] == script["id"]]
        if versions:
            return versions[-1], versions[-1]["source"]
        return None, self.drafts.get(script["id"], "")

    def _signature(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        version, source = self._script_source(script)
        return json_reply(200, {"script_name": script["name"],
                                "version_id": None if version is None else version["id"],
                                "inputs": declared_inputs(source), "output": "any"})  # fmt: skip

    def _contract_preview(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        judge = self.scripts.get(to_int(call.request.query.get("judge")) or -1)
        if judge is None:
            return not_found("judge script")
        channel = call.request.query.get("channel") or "production"
        _, source = self._script_source(script)
        return json_reply(200, {"judge_script_id": judge["id"], "judge_script_name": judge["name"],
                                "channel": channel, "compatible": True,
                                "workflow_inputs": declared_inputs(source)})  # fmt: skip

    def _list_cases(self, call: Call) -> Reply:
        found = self._found_bench(call)
        return found if isinstance(found, Reply) else json_reply(
            200, self._bench_cases(found[1]["id"]))  # fmt: skip

    def _create_case(self, call: Call) -> Reply:
        found = self._found_bench(call)
        if isinstance(found, Reply):
            return found
        body = call.body if isinstance(call.body, dict) else {}
        if "inputs" not in body:
            return error(400, "inputs are required")
        expected, name = body.get("expected_output"), body.get("name")
        case = self.add_case(found[1]["id"], body["inputs"], expected_output=expected, name=name)
        case["ground_truth"] = body.get("ground_truth")
        return json_reply(201, case)

    def _contract_drift(self, call: Call) -> Reply:
        """A case drifted when its inputs no longer match what the latest version declares."""
        found = self._found_bench(call)
        if isinstance(found, Reply):
            return found
        script, bench = found
        version, source = self._script_source(script)
        declared = {name for name, _ in declared_inputs(source)}
        drifted = []
        for case in self._bench_cases(bench["id"]):
            given = set(case["inputs"]) if isinstance(case["inputs"], dict) else set()
            broke = [f"missing input {n}" for n in sorted(declared - given)]
            broke += [f"unknown input {n}" for n in sorted(given - declared)]
            if broke:
                drifted.append({"case_id": case["id"], "label": case["case_name"] or case["id"],
                                "what_broke": "; ".join(broke)})  # fmt: skip
        total = len(self._bench_cases(bench["id"]))
        return json_reply(200, {
            "drifted": drifted, "script_version_id": version and version["id"],
            "published_at": version and version["created_at"],
            "published_by": version and version["published_by"],
            "summary": f"{len(drifted)} of {total} cases drifted"})  # fmt: skip

    # -- bench runs -----------------------------------------------------------------------

    def _list_bench_runs(self, call: Call) -> Reply:
        found = self._found_bench(call)
        if isinstance(found, Reply):
            return found
        runs = [r for r in reversed(self.bench_runs.values()) if r["bench_id"] == found[1]["id"]]
        return page(call.request, runs)

    def _trigger_bench_run(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        bench = next((b for b in self.benches.values() if b["script_id"] == script["id"]), None)
        if bench is None:
            return not_found("bench")
        body = call.body if isinstance(call.body, dict) else {}
        channel = self._channel(script["id"], str(body.get("channel")))
        if channel is None or channel["version_id"] is None:
            return error(404, f"channel {body.get('channel')} has no published version")
        wanted = body.get("case_ids")
        cases = [c for c in self.cases.values() if c["bench_id"] == bench["id"]
                 and (wanted is None or c["id"] in wanted)]  # fmt: skip
        run_id = self._next("bench_run")
        run = {"id": run_id, "bench_id": bench["id"], "channel": channel["name"],
               "workflow_version_id": channel["version_id"],
               "judge_version_id": channel["version_id"], "status": "running",
               "triggered_by": call.caller, "triggered_at": iso(time.time()),
               "completed_at": None, "total_cost_usd": 0.0, "total_cases": len(cases),
               "cache_hit_cases": 0, "notes": body.get("notes"), "mcp_session_id": None,
               "case_filter": wanted, "mode": body.get("mode", "full"),
               "sample_size": body.get("sample_size")}  # fmt: skip
        self.bench_runs[run_id] = run
        results = []
        for case in cases:
            output = self.results.get(script["name"], case["inputs"])
            passed = output == case["expected_output"]
            results.append({"id": self._next("bench_result"), "bench_run_id": run_id,
                            "case_id": case["id"], "workflow_execution_id": None,
                            "judge_execution_id": None, "score": 1.0 if passed else 0.0,
                            "headline_score": 1.0 if passed else 0.0, "status": "completed",
                            "verdict": "pass" if passed else "fail", "cost_usd": 0.0,
                            "case_name": case["case_name"], "duration_ms": 10,
                            "cache_hit": False, "error": None, "created_at": iso(time.time()),
                            "workflow_output": output})  # fmt: skip
        self.bench_results[run_id] = results
        return json_reply(201, run)

    def _found_run(self, call: Call) -> Json | Reply:
        run = self.bench_runs.get(to_int(call.params["run_id"]) or -1)
        return run if run is not None else not_found("bench run")

    def _get_bench_run(self, call: Call) -> Reply:
        run = self._found_run(call)
        return run if isinstance(run, Reply) else json_reply(200, run)

    def _list_bench_results(self, call: Call) -> Reply:
        run = self._found_run(call)
        return run if isinstance(run, Reply) else json_reply(200, self.bench_results[run["id"]])

    def _bench_run_events(self, call: Call) -> Reply:
        """Every result as an `event: result`, then `event: terminal`; the run completes."""
        run = self._found_run(call)
        if isinstance(run, Reply):
            return run
        results = self.bench_results[run["id"]]
        if run["status"] == "running":
            passed = sum(r["verdict"] == "pass" for r in results)
            scores = [r["headline_score"] for r in results]
            run.update(status="completed", completed_at=iso(time.time()), ok_cases=len(results),
                       passed=passed, failed=len(results) - passed, inconclusive=0,
                       mean_headline_score=sum(scores) / len(scores) if scores else None,
                       )  # fmt: skip
        frames = [b"event: result\ndata: %s\n\n" % json.dumps(r).encode() for r in results]
        frames.append(b'event: terminal\ndata: {"status":"%s"}\n\n' % run["status"].encode())
        return Reply(200, b"".join(frames), "text/event-stream", {"Cache-Control": "no-cache"})

    def _delete_bench_run(self, call: Call) -> Reply:
        run = self._found_run(call)
        if isinstance(run, Reply):
            return run
        del self.bench_runs[run["id"]], self.bench_results[run["id"]]
        return Reply(204)

    def _cancel_bench_run(self, call: Call) -> Reply:
        run = self._found_run(call)
        if isinstance(run, Reply):
            return run
        if run["status"] != "running":
            return error(409, f"bench run {run['id']} is {run['status']}")
        run.update(status="cancelled", completed_at=iso(time.time()))
        return json_reply(200, run)

    def _tag_session(self, call: Call) -> Reply:
        run = self._found_run(call)
        if isinstance(run, Reply):
            return run
        session = call.body.get("mcp_session_id") if isinstance(call.body, dict) else None
        if not isinstance(session, str) or not session:
            return error(400, "mcp_session_id is required")
        run["mcp_session_id"] = session
        return json_reply(200, {"tagged": True, "run_id": run["id"], "mcp_session_id": session})

    def _compare(self, call: Call) -> Reply:
        run_a = self.bench_runs.get(to_int(call.params["run_a_id"]) or -1)
        run_b = self.bench_runs.get(to_int(call.params["run_b_id"]) or -1)
        if run_a is None or run_b is None:
            return not_found("bench run")
        a, b = ({r["case_id"]: r for r in self.bench_results[run["id"]]} for run in (run_a, run_b))
        per_case = []
        for case_id in [*a, *(k for k in b if k not in a)]:
            score_a = a[case_id]["score"] if case_id in a else None
            score_b = b[case_id]["score"] if case_id in b else None
            delta = None if score_a is None or score_b is None else score_b - score_a
            flag = "unchanged" if not delta else "improved" if delta > 0 else "regressed"
            label = (a.get(case_id) or b[case_id])["case_name"] or case_id
            per_case.append({"case_id": case_id, "case_label": label, "score_a": score_a,
                             "score_b": score_b, "delta": delta, "flag": flag})  # fmt: skip
        deltas = [c["delta"] for c in per_case if c["delta"] is not None]
        aggregate = {"mean_score_delta": sum(deltas) / len(deltas) if deltas else 0.0,
                     "cost_delta_usd": run_b["total_cost_usd"] - run_a["total_cost_usd"],
                     "n_regressed": sum(c["flag"] == "regressed" for c in per_case),
                     "n_improved": sum(c["flag"] == "improved" for c in per_case),
                     "n_unchanged": sum(c["flag"] == "unchanged" for c in per_case)}  # fmt: skip
        return json_reply(200, {"run_a_id": run_a["id"], "run_b_id": run_b["id"],
                                "aggregate": aggregate, "per_case": per_case})  # fmt: skip

    def _promote(self, call: Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        script = self._script(execution["project_id"], execution["script_name"])
        bench = None if script is None else self._bench_of(script["id"])
        if bench is None:
            return not_found("bench")
        body = call.body if isinstance(call.body, dict) else {}
        edits = body["edits"] if isinstance(body.get("edits"), dict) else {}
        inputs = edits.get("inputs", self._run_inputs[execution["id"]])
        expected = edits.get("expected_output", execution["result"])
        case = self.add_case(bench["id"], inputs, expected_output=expected,
                             name=body.get("name"), kind="promoted")  # fmt: skip
        case["ground_truth"] = edits.get("ground_truth")
        return json_reply(201, case)

    def _found_case(self, call: Call) -> Json | Reply:
        case = self.cases.get(call.params["case_id"])
        return case if case is not None else not_found("case")

    def _patch_case(self, call: Call) -> Reply:
        case = self._found_case(call)
        if isinstance(case, Reply):
            return case
        body = call.body if isinstance(call.body, dict) else {}
        for field in ("inputs", "expected_output", "ground_truth"):
            if field in body:
                case[field] = body[field]
        if "name" in body:
            case["case_name"] = body["name"]
        return json_reply(200, case)

    def _delete_case(self, call: Call) -> Reply:
        case = self._found_case(call)
        if isinstance(case, Reply):
            return case
        del self.cases[case["id"]]
        return Reply(204)

    def _bench_by_id(self, call: Call) -> Reply:
        bench = self.benches.get(to_int(call.params["bench_id"]) or -1)
        return json_reply(200, bench) if bench is not None else not_found("bench")

    def _session_cost(self, call: Call) -> Reply:
        session = call.params["session_id"]
        runs = [r for r in self.bench_runs.values() if r["mcp_session_id"] == session]
        cost = sum(r["total_cost_usd"] for r in runs)
        return json_reply(200, {"session_id": session, "bench_runs": [r["id"] for r in runs],
                                "total_cost_usd": cost})  # fmt: skip
