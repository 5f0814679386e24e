"""Benches of a project (`client.project(pid).bench`) and bench runs by id (`client.bench_runs`).

A bench is a script's evaluation suite: cases (inputs with expected output or ground truth),
a judge script, and runs that score every case. Paths and 404 rules follow reference §2
(R/sub/bench.rs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

import requests

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions
from controldeck._core._sse import ServerSentEvent
from controldeck._core._streams import Stream, sse_stream
from controldeck._core._validate import require_str, require_str_list
from controldeck.akribes._base import ProjectResource, Resource, int_id, segment
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from controldeck._core._pagination import Page
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        Bench,
        BenchCase,
        BenchResult,
        BenchRun,
        BenchRunLagged,
        BenchRunTagSessionResponse,
        BenchRunTerminal,
        CompareReport,
        DriftReport,
        ProjectBenchSummary,
    )
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = ["BENCH_STREAM_IDLE", "BenchClient", "BenchRunsClient"]

# Seconds a bench run stream may stay silent before it is reported as stalled, unless the
# caller passes `timeout=`: a judge can take minutes on one case and the server sends no
# keepalives (R/sub/events.rs:406-497), so the client's 60 s read timeout is too short.
BENCH_STREAM_IDLE = 600.0


def _unset_if_none(value: Any) -> Any:
    """Optional free-form JSON fields: None means "leave it out", as upstream's Option does."""
    return UNSET if value is None else value


class BenchClient(ProjectResource):
    """The benches of one project's scripts (`client.project(pid).bench`).

    Every method takes the script's `name` first; `**options` are the per-call options
    documented on `AkribesClient`.

    Example:
        >>> bench = client.project(7).bench
        >>> bench.create_or_update("triage", judge_script_id=12)
        >>> run = bench.trigger_run("triage", "production")
    """

    def _bench(self, name: str, *rest: str) -> str:
        return self._path("scripts", segment("name", name), "bench", *rest)

    def list_project_summaries(self, **options: Unpack[CallOptions]) -> list[ProjectBenchSummary]:
        """One summary per bench in the project, with its latest run (empty on 404).

        Returns:
            The summaries.

        Example:
            >>> [(s.script_name, s.latest_run_status) for s in bench.list_project_summaries()]
            [('triage', 'completed')]
        """
        try:
            return self._client._get(
                self._path("benches"), list[models.ProjectBenchSummary], **options
            )
        except NotFoundError:
            return []

    def get(self, name: str, **options: Unpack[CallOptions]) -> Bench | None:
        """The script's bench.

        Args:
            name: The script.

        Returns:
            The bench, or None when the script has none (404).

        Raises:
            InvalidArgumentError: `name` is empty.

        Example:
            >>> bench.get("triage").judge_channel
            'production'
        """
        return self._client._get_or_none(self._bench(name), models.Bench, **options)

    def create_or_update(
        self,
        name: str,
        *,
        judge_script_id: int | None = None,
        judge_channel: str | None = None,
        config: Any = None,
        **options: Unpack[CallOptions],
    ) -> Bench:
        """Create the script's bench, or update the fields given.

        Args:
            name: The script.
            judge_script_id: The id of the script that scores each case.
            judge_channel: The judge's channel.
            config: Free-form bench configuration (any JSON value).

        Returns:
            The bench.

        Raises:
            DuplicateSuiteError: The server says a suite already exists (`.existing_id`).

        Example:
            >>> bench.create_or_update("triage", judge_script_id=12, config={"threshold": 0.8})
        """
        path = self._bench(name)
        body = models.CreateOrUpdateBenchRequest(
            judge_script_id=(
                UNSET if judge_script_id is None else int_id("judge_script_id", judge_script_id)
            ),
            judge_channel=(
                UNSET if judge_channel is None else require_str("judge_channel", judge_channel)
            ),
            config=_unset_if_none(config),
        )
        return self._client._post(path, models.Bench, json=body, **options)

    def delete(self, name: str, **options: Unpack[CallOptions]) -> bool:
        """Delete the script's bench.

        Returns:
            True when deleted, False when there was none (404).

        Example:
            >>> bench.delete("triage")
            True
        """
        return self._client._delete_found(self._bench(name), **options)

    def get_signature(self, name: str, **options: Unpack[CallOptions]) -> dict[str, Any]:
        """The script's input/output signature, as the server describes it.

        Returns:
            The signature object; `{}` when the script has none (404).

        Example:
            >>> bench.get_signature("triage")["inputs"]
        """
        path = self._path("scripts", segment("name", name), "signature")
        found = self._client._get_or_none(path, dict[str, Any], **options)
        return {} if found is None else found

    def contract_preview(
        self,
        name: str,
        judge_script_id: int,
        *,
        channel: str | None = None,
        **options: Unpack[CallOptions],
    ) -> dict[str, Any]:
        """Preview the contract between the script and a judge.

        Args:
            name: The script.
            judge_script_id: The judge script's id (sent as `judge`).
            channel: The judge channel (the server's default when None).

        Returns:
            The preview object; `{}` on 404.

        Example:
            >>> bench.contract_preview("triage", 12, channel="staging")
        """
        path = self._bench(name, "contract-preview")
        params: dict[str, Any] = {"judge": int_id("judge_script_id", judge_script_id)}
        if channel is not None:
            params["channel"] = require_str("channel", channel)
        found = self._client._get_or_none(path, dict[str, Any], params=params, **options)
        return {} if found is None else found

    def list_cases(self, name: str, **options: Unpack[CallOptions]) -> list[BenchCase]:
        """The bench's cases (empty on 404).

        Example:
            >>> [c.case_name for c in bench.list_cases("triage")]
        """
        try:
            return self._client._get(self._bench(name, "cases"), list[models.BenchCase], **options)
        except NotFoundError:
            return []

    def create_case(
        self,
        name: str,
        inputs: Any,
        *,
        expected_output: Any = None,
        ground_truth: Any = None,
        case_name: str | None = None,
        **options: Unpack[CallOptions],
    ) -> BenchCase:
        """Add a case to the bench.

        Args:
            name: The script.
            inputs: The case's input values (any JSON value, usually an object).
            expected_output: What the script should return (left out when None).
            ground_truth: Reference data for the judge (left out when None).
            case_name: A label for the case.

        Returns:
            The new case.

        Example:
            >>> case = bench.create_case("triage", {"ticket": "T-1"}, expected_output="bug")
        """
        path = self._bench(name, "cases")
        body = models.CreateBenchCaseRequest(
            inputs=inputs,
            expected_output=_unset_if_none(expected_output),
            ground_truth=_unset_if_none(ground_truth),
            name=UNSET if case_name is None else require_str("case_name", case_name),
        )
        return self._client._post(path, models.BenchCase, json=body, **options)

    def case_contract_drift(self, name: str, **options: Unpack[CallOptions]) -> DriftReport:
        """The cases the script's latest version broke.

        Returns:
            The report; an empty one (no cases, empty summary) on 404.

        Example:
            >>> [d.what_broke for d in bench.case_contract_drift("triage").drifted]
        """
        path = self._bench(name, "cases", "contract-drift")
        found = self._client._get_or_none(path, models.DriftReport, **options)
        return models.DriftReport(drifted=[], summary="") if found is None else found

    def list_runs(self, name: str, **options: Unpack[CallOptions]) -> Page[BenchRun]:
        """The bench's runs, paged lazily (empty on 404).

        Example:
            >>> for run in bench.list_runs("triage"):
            ...     print(run.id, run.status, run.mean_headline_score)
        """
        return self._list(self._bench(name, "runs"), models.BenchRun, **options)

    def trigger_run(
        self,
        name: str,
        channel: str,
        *,
        notes: str | None = None,
        case_ids: Sequence[str] | None = None,
        mode: str | None = None,
        sample_size: int | None = None,
        **options: Unpack[CallOptions],
    ) -> BenchRun:
        """Start a bench run of the script's `channel`.

        Args:
            name: The script.
            channel: The channel whose version is run.
            notes: A note kept with the run.
            case_ids: Run only these cases.
            mode: The run mode (the server runs `full` by default).
            sample_size: Run this many cases, at least 1.

        Returns:
            The run (usually still running; follow it with `bench_runs.subscribe_run_events`).

        Example:
            >>> run = bench.trigger_run("triage", "staging", notes="new prompt")
        """
        path = self._bench(name, "runs")
        if sample_size is not None and (
            not isinstance(sample_size, int) or isinstance(sample_size, bool) or sample_size < 1
        ):
            raise InvalidArgumentError(f"sample_size must be an int >= 1, got {sample_size!r:.40}")
        body = models.TriggerBenchRunRequest(
            channel=require_str("channel", channel),
            notes=UNSET if notes is None else require_str("notes", notes, allow_empty=True),
            case_ids=UNSET if case_ids is None else require_str_list("case_ids", case_ids),
            mode=UNSET if mode is None else require_str("mode", mode),
            sample_size=UNSET if sample_size is None else sample_size,
        )
        return self._client._post(path, models.BenchRun, json=body, **options)


class BenchRunsClient(Resource):
    """Bench runs and cases by id (`client.bench_runs`).

    Example:
        >>> run = client.bench_runs.get(41)
        >>> report = client.bench_runs.compare(40, 41)
    """

    @staticmethod
    def _run(run_id: int, *rest: str) -> str:
        return "/".join((f"/bench-runs/{int_id('run_id', run_id)}", *rest))

    def get(self, run_id: int, **options: Unpack[CallOptions]) -> BenchRun | None:
        """A bench run.

        Returns:
            The run, or None when there is none (404).

        Example:
            >>> client.bench_runs.get(41).status
            'completed'
        """
        return self._client._get_or_none(self._run(run_id), models.BenchRun, **options)

    def delete(self, run_id: int, **options: Unpack[CallOptions]) -> None:
        """Delete a bench run (nothing happens when it does not exist, as upstream).

        Example:
            >>> client.bench_runs.delete(41)
        """
        self._client._delete_found(self._run(run_id), **options)

    def list_results(self, run_id: int, **options: Unpack[CallOptions]) -> list[BenchResult]:
        """The results recorded for a run so far (empty on 404).

        Example:
            >>> [(r.case_name, r.headline_score) for r in client.bench_runs.list_results(41)]
        """
        try:
            return self._client._get(
                self._run(run_id, "results"), list[models.BenchResult], **options
            )
        except NotFoundError:
            return []

    def subscribe_run_events(
        self, run_id: int, **options: Unpack[CallOptions]
    ) -> Stream[BenchResult | BenchRunLagged | BenchRunTerminal]:
        """Follow a bench run live (SSE): each result, then the run's final status.

        Items are `BenchResult` (a case was scored), `BenchRunLagged` (`.dropped` results
        were skipped because this reader fell behind; `list_results` has them all) and
        finally `BenchRunTerminal` (`.status`), after which the stream ends. A dropped
        connection is not resumed (the server keeps no cursor for this stream). The idle
        limit is 600 s, or the read part of `timeout=` when given.

        Returns:
            The open stream; use it in a `with` block.

        Raises:
            InvalidArgumentError: `run_id` is not an int id.
            NotFoundError: There is no such run.

        Example:
            >>> with client.bench_runs.subscribe_run_events(41) as events:
            ...     for event in events:
            ...         if isinstance(event, BenchResult):
            ...             print(event.case_name, event.headline_score)
        """
        path = self._run(run_id, "events")
        call: dict[str, Any] = dict(options)
        headers: Mapping[str, str] = call.pop("extra_headers", None) or {}
        if "timeout" not in call:
            call["stream_idle"] = BENCH_STREAM_IDLE
        transport = self._client._transport

        def opener(extra: Mapping[str, str]) -> requests.Response:
            return transport.send(
                "GET",
                path,
                stream=True,
                extra_headers={**headers, "Accept": "text/event-stream", **extra},
                **call,
            )

        def parse(event: ServerSentEvent) -> BenchResult | BenchRunLagged | BenchRunTerminal | None:
            kind: Any = _EVENT_TYPES.get(event.event)
            if kind is None:
                return None  # pings and names this version does not know
            item: BenchResult | BenchRunLagged | BenchRunTerminal = self._client._structure(
                event.json(), getattr(models, kind)
            )
            return item

        return sse_stream(
            opener, parse, terminal=lambda item: isinstance(item, models.BenchRunTerminal)
        )

    def cancel(self, run_id: int, **options: Unpack[CallOptions]) -> BenchRun:
        """Cancel a running bench run.

        Returns:
            The run as it is after cancelling.

        Raises:
            NotFoundError: There is no such run.

        Example:
            >>> client.bench_runs.cancel(41).status
            'cancelled'
        """
        return self._client._post(
            self._run(run_id, "cancel"), models.BenchRun, json=models.EmptyBody(), **options
        )

    def tag_session(
        self, run_id: int, mcp_session_id: str, **options: Unpack[CallOptions]
    ) -> BenchRunTagSessionResponse:
        """Tag a run with the MCP session it ran in (for `mcp_session_cost`).

        Example:
            >>> client.bench_runs.tag_session(41, "sess-9").tagged
            True
        """
        path = self._run(run_id, "tag-session")
        body = models.TagSessionRequest(
            mcp_session_id=require_str("mcp_session_id", mcp_session_id)
        )
        return self._client._patch(path, models.BenchRunTagSessionResponse, json=body, **options)

    def compare(
        self, run_a_id: int, run_b_id: int, **options: Unpack[CallOptions]
    ) -> CompareReport:
        """Compare two runs case by case (`run_a_id` is the baseline).

        Raises:
            NotFoundError: Either run does not exist.

        Example:
            >>> client.bench_runs.compare(40, 41).aggregate.n_regressed
            0
        """
        a, b = int_id("run_a_id", run_a_id), int_id("run_b_id", run_b_id)
        return self._client._get(f"/bench-runs/{a}/compare/{b}", models.CompareReport, **options)

    def promote_execution(
        self,
        execution_id: str,
        *,
        inputs: Any = None,
        expected_output: Any = None,
        ground_truth: Any = None,
        name: str | None = None,
        **options: Unpack[CallOptions],
    ) -> BenchCase:
        """Turn an execution into a bench case of its script.

        Args:
            execution_id: The execution.
            inputs: Replace the execution's inputs in the case.
            expected_output: Replace its output as the expected one.
            ground_truth: Reference data for the judge.
            name: The case's name.

        Returns:
            The new case.

        Example:
            >>> case = client.bench_runs.promote_execution("abc-456", expected_output="bug")
        """
        path = f"/executions/{segment('execution_id', execution_id)}/promote-to-case"
        edits = models.PromoteCaseEdits(
            inputs=_unset_if_none(inputs),
            expected_output=_unset_if_none(expected_output),
            ground_truth=_unset_if_none(ground_truth),
        )
        changed = any(v is not None for v in (inputs, expected_output, ground_truth))
        body = models.PromoteExecutionRequest(
            edits=edits if changed else UNSET,
            name=UNSET if name is None else require_str("name", name),
        )
        return self._client._post(path, models.BenchCase, json=body, **options)

    def get_case(self, case_id: str, **options: Unpack[CallOptions]) -> dict[str, Any] | None:
        """A bench case's record, as the server returns it (`GET /executions/{case_id}`).

        Returns:
            The JSON object, or None on 404.

        Example:
            >>> client.bench_runs.get_case("case-1")["status"]
        """
        path = f"/executions/{segment('case_id', case_id)}"
        return self._client._get_or_none(path, dict[str, Any], **options)

    def patch_case(
        self,
        case_id: str,
        *,
        inputs: Any = None,
        expected_output: Any = None,
        ground_truth: Any = None,
        name: str | None = None,
        **options: Unpack[CallOptions],
    ) -> BenchCase:
        """Edit a bench case; fields left as None are not changed.

        Raises:
            InvalidArgumentError: Nothing to change.
            NotFoundError: There is no such case.

        Example:
            >>> client.bench_runs.patch_case("case-1", expected_output="feature").kind
        """
        path = f"/cases/{segment('case_id', case_id)}"
        if all(v is None for v in (inputs, expected_output, ground_truth, name)):
            raise InvalidArgumentError(
                "patch_case needs at least one of inputs, expected_output, ground_truth, name"
            )
        body = models.PatchBenchCaseRequest(
            inputs=_unset_if_none(inputs),
            expected_output=_unset_if_none(expected_output),
            ground_truth=_unset_if_none(ground_truth),
            name=UNSET if name is None else require_str("name", name),
        )
        return self._client._patch(path, models.BenchCase, json=body, **options)

    def delete_case(self, case_id: str, **options: Unpack[CallOptions]) -> None:
        """Delete a bench case (nothing happens when it does not exist, as upstream).

        Example:
            >>> client.bench_runs.delete_case("case-1")
        """
        self._client._delete_found(f"/cases/{segment('case_id', case_id)}", **options)

    def bench_by_id(self, bench_id: int, **options: Unpack[CallOptions]) -> dict[str, Any] | None:
        """A bench by its id, as the server returns it.

        Returns:
            The JSON object, or None on 404.

        Example:
            >>> client.bench_runs.bench_by_id(3)["judge_channel"]
        """
        path = f"/benches/{int_id('bench_id', bench_id)}"
        return self._client._get_or_none(path, dict[str, Any], **options)

    def mcp_session_cost(self, session_id: str, **options: Unpack[CallOptions]) -> dict[str, Any]:
        """The cost of an MCP session, as the server returns it.

        Raises:
            NotFoundError: There is no such session.

        Example:
            >>> client.bench_runs.mcp_session_cost("sess-9")
        """
        path = f"/mcp-sessions/{segment('session_id', session_id)}/cost"
        return self._client._get(path, dict[str, Any], **options)


# SSE event name -> the generated model its data decodes into (reference §4).
_EVENT_TYPES = {"result": "BenchResult", "lagged": "BenchRunLagged", "terminal": "BenchRunTerminal"}
