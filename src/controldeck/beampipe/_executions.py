"""Beampipe executions (reference §5.4): preview, create, start, watch, recover, inspect.

The seed's flow is `create_execution` → `execute` → `wait_for_execution` →
`get_execution_summary` / `get_ledger_snapshot`. Creating is safe to retry: each call sends
one `Idempotency-Key` on every attempt, so a create whose reply was lost (a 503, a reset)
is replayed by the server (200, the same execution) instead of creating a second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions, PollOptions, poll_call_options
from controldeck._core._pagination import Page, numbered_pager
from controldeck._core._validate import require_bool, require_str
from controldeck._core._wait import wait_for
from controldeck.beampipe._base import API, BeampipeBase, check_limit, uuid_id
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._generated import beampipe as models
    from controldeck._generated.beampipe import (
        ExecuteResponse,
        ExecutionArtifactRow,
        ExecutionCreate,
        ExecutionObservationRow,
        ExecutionOutputVerificationRequest,
        ExecutionOutputVerificationResponse,
        ExecutionPrepareResponse,
        ExecutionRead,
        ExecutionRetryResponse,
        ExecutionRow,
        ExecutionSourceSelection,
        ExecutionStatus,
        ExecutionStatusResponse,
        ExecutionSummaryResponse,
        LedgerSnapshotResponse,
        ProvenanceEventResponse,
    )
else:
    models = LazyModule("controldeck._generated.beampipe")

__all__ = ["ExecutionsAPI"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "not_submitted"})
"""Statuses an execution never leaves (`ExecutionStatus::is_terminal`, reference §4)."""

# `Idempotency-Key`: 1-128 visible ASCII characters, no whitespace (lib.rs L2766-2785).
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,128}")
# States an unresolved submission can be abandoned from (lib.rs L3719-3727).
_ABANDONABLE = ("in_flight", "uncertain")
_REASON_BYTES = 1000


class ExecutionsAPI(BeampipeBase):
    """Beampipe executions and waiting for them."""

    # -- create ---------------------------------------------------------------------------

    def prepare_execution(
        self,
        project_module: str,
        sources: Iterable[str | ExecutionSourceSelection],
        archive_name: str,
        *,
        deployment_profile_name: str | None = None,
        deployment_profile_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> ExecutionPrepareResponse:
        """Check whether an execution would be admitted, without creating it
        (`POST /api/v2/executions/prepare`).

        Nothing is stored. The answer lists every admission problem at once (no active
        config, a source not discovered yet, an unknown SBID or profile...), which a
        `create_execution` would report as a 400.

        Args:
            project_module: The project (its active config is used), e.g. `"wallaby_hires"`.
            sources: Source identifiers, or `ExecutionSourceSelection(source_identifier=...,
                sbids=[...])` to pick some of a source's SBIDs; at least one, no repeats.
            archive_name: The archive to stage from, e.g. `"casda"` (one of the project's
                required adapters).
            deployment_profile_name: Use the profile with this name.
            deployment_profile_id: Use the profile with this UUID. Give at most one of the
                two (the server rejects both); neither means the project's default profile.

        Returns:
            `valid`, the `errors` that stop admission, `total_datasets` and a per-source
            `sources_preview`.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.

        Example:
            >>> preview = client.prepare_execution("wallaby_hires", ["HIPASSJ1318-21"], "casda")
            >>> preview.valid, preview.errors
            (True, [])
        """
        body = _execution_create(
            project_module, sources, archive_name, deployment_profile_name, deployment_profile_id
        )
        return self._post(
            f"{API}/executions/prepare", models.ExecutionPrepareResponse, json=body, **options
        )

    def create_execution(
        self,
        project_module: str,
        sources: Iterable[str | ExecutionSourceSelection],
        archive_name: str,
        *,
        deployment_profile_name: str | None = None,
        deployment_profile_id: str | None = None,
        idempotency_key: str | bool = True,
        **options: Unpack[CallOptions],
    ) -> ExecutionRead:
        """Create an execution (`POST /api/v2/executions`); start it with `execute`.

        The request carries an `Idempotency-Key` (one per call, the same on every retry),
        so the client retries a create whose reply was lost (a 503, a reset connection)
        without risking a second execution: the server answers the replay with the one it
        already created. Sending the same key again later replays it too; the same key
        with a different request is a 409.

        Args:
            project_module: As for `prepare_execution`.
            sources: As for `prepare_execution`.
            archive_name: As for `prepare_execution`.
            deployment_profile_name: As for `prepare_execution`.
            deployment_profile_id: As for `prepare_execution` (at most one of the two).
            idempotency_key: True (default) generates a key for this call; a string (1-128
                visible ASCII characters, no whitespace) is sent as given, e.g. to make a
                create safe to repeat across runs of a script; False sends none, and a
                create whose connection drops after sending is then not retried (a reply
                the server marks safe to retry, such as its 503, still is).

        Returns:
            The execution (`status` `pending`), whether created now (201) or replayed (200).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            BadRequestError: Admission failed; `.message` joins the reasons with `; `
                (`prepare_execution` lists them one by one).
            ConflictError: The key was used for a different request, or the profile's
                concurrency limit is reached.

        Example:
            >>> execution = client.create_execution(
            ...     "wallaby_hires", ["HIPASSJ1318-21"], "casda",
            ...     deployment_profile_name="slurm-remote",
            ... )
            >>> execution.status
            'pending'
        """
        body = _execution_create(
            project_module, sources, archive_name, deployment_profile_name, deployment_profile_id
        )
        key = _idempotency_key(idempotency_key)
        return self._call(
            "POST",
            f"{API}/executions",
            models.ExecutionRead,
            json=body,
            idempotency_key=key,
            **options,
        )

    # -- list and read --------------------------------------------------------------------

    def list_executions(
        self,
        project_module: str | None = None,
        status: ExecutionStatus | str | None = None,
        *,
        page: int = 1,
        items_per_page: int = 50,
        **options: Unpack[CallOptions],
    ) -> Page[ExecutionRow]:
        """Executions, newest first (`GET /api/v2/executions`), paged lazily.

        Iterating the page walks the following pages as needed; it stops after a short
        page or once `page * items_per_page` reaches the server's `total`, so an empty page
        is never requested. `.total`, `.number` and `.last` are the server's count, this
        page's number and the last page's number.

        Args:
            project_module: Only this project's executions.
            status: Only executions with this status: an `ExecutionStatus` or its value
                (`"running"`, `"failed"`...).
            page: The first page to fetch (from 1).
            items_per_page: Page size, 1 to 500.

        Returns:
            A page of ledger rows (`ExecutionRow`: every stored column, unredacted).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.

        Example:
            >>> failed = client.list_executions("wallaby_hires", "failed")
            >>> failed.total
            3
            >>> [row.uuid for row in failed]
            ['0192f0c4-...', ...]
        """
        if project_module is not None:
            require_str("project_module", project_module)
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidArgumentError(f"page must be an int >= 1, got {page!r:.40}")
        check_limit("items_per_page", items_per_page)
        params = {"project_module": project_module, "status": _status(status), "page": page}
        return self._page(
            f"{API}/executions",
            models.PaginatedExecutions,
            numbered_pager(items_per_page),
            params=params,
            **options,
        )

    def get_execution(self, execution_id: str, **options: Unpack[CallOptions]) -> ExecutionRead:
        """An execution's full record (`GET /api/v2/executions/{id}`).

        Args:
            execution_id: The execution's UUID.

        Returns:
            The record, with its manifest, scheduler and DALiuGE fields and debug URLs.

        Raises:
            InvalidArgumentError: `execution_id` is not a UUID; nothing was sent.
            NotFoundError: No such execution.

        Example:
            >>> client.get_execution(execution_id).scheduler_job_id
            '1234567'
        """
        return self._get(_path(execution_id), models.ExecutionRead, **options)

    def get_execution_status(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> ExecutionStatusResponse:
        """Where an execution is now (`GET /api/v2/executions/{id}/status`).

        Args:
            execution_id: The execution's UUID.

        Returns:
            `status` (terminal: `completed`, `failed`, `cancelled`, `not_submitted`), its
            phases, scheduler and DALiuGE states, `last_error` and timings.

        Raises:
            InvalidArgumentError: `execution_id` is not a UUID; nothing was sent.
            NotFoundError: No such execution.

        Example:
            >>> status = client.get_execution_status(execution_id)
            >>> status.status, status.control_phase
            ('running', 'monitoring')
        """
        return self._get(_path(execution_id, "status"), models.ExecutionStatusResponse, **options)

    def get_execution_summary(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> ExecutionSummaryResponse:
        """An operator's summary of an execution (`GET /api/v2/executions/{id}/summary`).

        Args:
            execution_id: The execution's UUID.

        Returns:
            The requested sources, status, scheduler and DALiuGE state, outcome, last error.

        Raises:
            InvalidArgumentError: `execution_id` is not a UUID; nothing was sent.
            NotFoundError: No such execution.

        Example:
            >>> client.get_execution_summary(execution_id).requested_source_identifiers
            ['HIPASSJ1318-21']
        """
        return self._get(_path(execution_id, "summary"), models.ExecutionSummaryResponse, **options)

    def get_ledger_snapshot(
        self,
        execution_id: str,
        *,
        include_manifest: bool = True,
        **options: Unpack[CallOptions],
    ) -> LedgerSnapshotResponse:
        """A compact ledger view with a provenance summary
        (`GET /api/v2/executions/{id}/ledger-snapshot`).

        Args:
            execution_id: The execution's UUID.
            include_manifest: Include the (redacted) workflow manifest, which can be large.

        Returns:
            Status, phases, run-record phases and the five most recent provenance events.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such execution.

        Example:
            >>> snapshot = client.get_ledger_snapshot(execution_id, include_manifest=False)
            >>> [e.event_type for e in snapshot.provenance_summary.recent_events]
            ['execution.completed', ...]
        """
        path = _path(execution_id, "ledger-snapshot")
        require_bool("include_manifest", include_manifest)
        # The server reads only `true`/`false` (serde); Python's `True` would be a 400.
        params = {"include_manifest": "true" if include_manifest else "false"}
        return self._get(path, models.LedgerSnapshotResponse, params=params, **options)

    def list_execution_events(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> list[ProvenanceEventResponse]:
        """An execution's provenance timeline (`GET /api/v2/executions/{id}/events`).

        Args:
            execution_id: The execution's UUID.

        Returns:
            Up to the 100 most recent events (the server pages no further).

        Raises:
            InvalidArgumentError: `execution_id` is not a UUID; nothing was sent.

        Example:
            >>> [e.event_type for e in client.list_execution_events(execution_id)]
            ['execution.created', 'execution.started', ...]
        """
        return self._get(
            _path(execution_id, "events"), list[models.ProvenanceEventResponse], **options
        )

    def list_execution_observations(
        self,
        execution_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        **options: Unpack[CallOptions],
    ) -> Page[ExecutionObservationRow]:
        """Scheduler and DALiuGE observations of an execution
        (`GET /api/v2/executions/{id}/observations`), paged lazily.

        Iterating walks every page lazily; each request asks for one row more than a page
        holds (the server sends no total), so none comes back empty.

        Args:
            execution_id: The execution's UUID.
            limit: Page size, 1 to 499.
            offset: Rows to skip first.

        Returns:
            A page of observations.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such execution.

        Example:
            >>> [o.normalized_state for o in client.list_execution_observations(execution_id)]
            ['pending', 'running', ...]
        """
        return self._offset_page(
            _path(execution_id, "observations"),
            models.ExecutionObservationRow,
            limit=limit,
            offset=offset,
            **options,
        )

    def list_execution_artifacts(
        self, execution_id: str, **options: Unpack[CallOptions]
    ) -> list[ExecutionArtifactRow]:
        """An execution's artifacts: manifests, graphs, output inventories
        (`GET /api/v2/executions/{id}/artifacts`).

        Args:
            execution_id: The execution's UUID.

        Returns:
            The artifacts (their `uri`, `inline_json` and `metadata` redacted by the server).

        Raises:
            InvalidArgumentError: `execution_id` is not a UUID; nothing was sent.
            NotFoundError: No such execution.

        Example:
            >>> [(a.kind, a.sha256) for a in client.list_execution_artifacts(execution_id)]
            [('workflow_manifest', '9f2c...'), ...]
        """
        return self._get(
            _path(execution_id, "artifacts"), list[models.ExecutionArtifactRow], **options
        )

    # -- act --------------------------------------------------------------------------------

    def execute(
        self,
        execution_id: str,
        *,
        do_stage: bool = True,
        do_submit: bool = True,
        **options: Unpack[CallOptions],
    ) -> ExecuteResponse:
        """Start a pending execution (`POST /api/v2/executions/{id}/execute`): a worker job
        stages the data and submits the graph; follow it with `wait_for_execution`.

        Starting again with the same flags while that job is queued, running or done
        returns the same `job_id`.

        Args:
            execution_id: The execution's UUID.
            do_stage: Stage the data and build the manifest.
            do_submit: Submit the graph to the scheduler. Both flags are always sent.

        Returns:
            The accepted start (202): `job_id` and the flags.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such execution.
            ConflictError: The execution is not `pending`, or was started with other flags.

        Example:
            >>> client.execute(execution.uuid).job_id
            '0192f0c4-...'
        """
        path = _path(execution_id, "execute")
        body = models.ExecuteRequest(
            do_stage=require_bool("do_stage", do_stage),
            do_submit=require_bool("do_submit", do_submit),
        )
        return self._post(path, models.ExecuteResponse, json=body, **options)

    def cancel_execution(self, execution_id: str, **options: Unpack[CallOptions]) -> ExecutionRead:
        """Cancel an execution (`PATCH /api/v2/executions/{id}` with `{"status":
        "cancelled"}`); the server cancels the scheduler job first when there is one.

        Args:
            execution_id: The execution's UUID.

        Returns:
            The cancelled execution.

        Raises:
            InvalidArgumentError: `execution_id` is not a UUID; nothing was sent.
            NotFoundError: No such execution.
            ConflictError: It already ended, or its submission outcome is unresolved (see
                `abandon_submission`).
            InternalServerError: The scheduler could not cancel the job (502).

        Example:
            >>> client.cancel_execution(execution_id).status
            'cancelled'
        """
        body = models.ExecutionPatchRequest(status=models.ExecutionStatus.CANCELLED)
        return self._patch(_path(execution_id), models.ExecutionRead, json=body, **options)

    def retry_execution(
        self, execution_id: str, reason: str, **options: Unpack[CallOptions]
    ) -> ExecutionRetryResponse:
        """Retry a failed execution from the stage the server judges safe
        (`POST /api/v2/executions/{id}/retry`).

        Args:
            execution_id: The execution's UUID.
            reason: Why, for the provenance record.

        Returns:
            The accepted retry (202): the new `job_id`, `retry_count` and the `stage` it
            restarts from (`stage_and_manifest` or `submit`).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such execution.
            ConflictError: A retry is not allowed now (`.code` says why).

        Example:
            >>> client.retry_execution(execution_id, "scratch quota raised").stage
            'submit'
        """
        path = _path(execution_id, "retry")
        body = models.ExecutionRetryRequest(reason=require_str("reason", reason))
        return self._post(path, models.ExecutionRetryResponse, json=body, **options)

    def abandon_submission(
        self,
        execution_id: str,
        *,
        expected_submission_state: str,
        expected_daliuge_session_id: str,
        expected_submission_deadline_at: datetime | str,
        reason: str,
        acknowledge_external_job_may_exist: bool,
        **options: Unpack[CallOptions],
    ) -> ExecutionRead:
        """Give up on a submission whose outcome is unknown
        (`POST /api/v2/executions/{id}/submission/abandon`, superuser).

        A compare-and-set: it applies only while the execution still has the submission
        state, DALiuGE session id and deadline given (copy them from
        `get_execution_status`). The scheduler may still run a job the server cannot see;
        `acknowledge_external_job_may_exist=True` is your statement that you accept that.

        Args:
            execution_id: The execution's UUID.
            expected_submission_state: `"in_flight"` or `"uncertain"`.
            expected_daliuge_session_id: The exact session id (no surrounding spaces).
            expected_submission_deadline_at: The exact deadline: an aware datetime, or an
                ISO 8601 string with an offset.
            reason: Why, for the audit trail (at most 1000 bytes).
            acknowledge_external_job_may_exist: Must be True.

        Returns:
            The execution, now `failed` with `terminal_outcome` `inconsistent` (its queued
            job is fenced off).

        Raises:
            InvalidArgumentError: A bad argument, or the acknowledgement is not True;
                nothing was sent.
            PermissionDeniedError: Not a superuser.
            NotFoundError: No such execution.
            ConflictError: The execution no longer matches the expected values.

        Example:
            >>> status = client.get_execution_status(execution_id)
            >>> client.abandon_submission(
            ...     execution_id,
            ...     expected_submission_state=status.submission_state,
            ...     expected_daliuge_session_id=status.daliuge_session_id,
            ...     expected_submission_deadline_at=status.submission_deadline_at,
            ...     reason="Slurm lost the job; checked sacct by hand",
            ...     acknowledge_external_job_may_exist=True,
            ... ).terminal_outcome
            'inconsistent'
        """
        path = _path(execution_id, "submission", "abandon")
        if acknowledge_external_job_may_exist is not True:
            raise InvalidArgumentError(
                "acknowledge_external_job_may_exist must be True: abandoning means accepting"
                " that the scheduler may still run a job the server cannot see"
            )
        if expected_submission_state not in _ABANDONABLE:
            raise InvalidArgumentError(
                "expected_submission_state must be 'in_flight' or 'uncertain', got"
                f" {expected_submission_state!r:.40}"
            )
        session = require_str("expected_daliuge_session_id", expected_daliuge_session_id)
        if session != session.strip():
            raise InvalidArgumentError(
                "expected_daliuge_session_id must be the exact id, without surrounding spaces"
            )
        require_str("reason", reason)
        if len(reason.strip().encode()) > _REASON_BYTES:
            raise InvalidArgumentError(f"reason must be at most {_REASON_BYTES} bytes")
        body = models.ExecutionSubmissionAbandonRequest(
            acknowledge_external_job_may_exist=True,
            expected_daliuge_session_id=session,
            expected_submission_deadline_at=_aware(
                "expected_submission_deadline_at", expected_submission_deadline_at
            ),
            expected_submission_state=expected_submission_state,
            reason=reason,
        )
        return self._post(path, models.ExecutionRead, json=body, **options)

    def verify_outputs(
        self,
        execution_id: str,
        request: ExecutionOutputVerificationRequest,
        **options: Unpack[CallOptions],
    ) -> ExecutionOutputVerificationResponse:
        """Record a trusted publisher's inventory of an execution's outputs
        (`POST /api/v2/executions/{id}/outputs/verify`, superuser).

        Args:
            execution_id: The execution's UUID.
            request: The inventory: schema, destination, patterns and their counts,
                products, and the publication acknowledgement.

        Returns:
            The verification result.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            PermissionDeniedError: Not a superuser.
            NotFoundError: No such execution.
            ConflictError: The execution is not awaiting output verification.

        Example:
            >>> from controldeck.beampipe import ExecutionOutputVerificationRequest
            >>> request = ExecutionOutputVerificationRequest(...)  # the publisher's inventory
            >>> client.verify_outputs(execution_id, request).execution.output_state
            'verified'
        """
        path = _path(execution_id, "outputs", "verify")
        if not isinstance(request, models.ExecutionOutputVerificationRequest):
            raise InvalidArgumentError(
                "request must be an ExecutionOutputVerificationRequest, got"
                f" {type(request).__name__}"
            )
        return self._post(path, models.ExecutionOutputVerificationResponse, json=request, **options)

    # -- wait -------------------------------------------------------------------------------

    def wait_for_execution(
        self,
        execution_id: str,
        *,
        timeout: float | None = 3600.0,
        poll_interval: float = 5.0,
        progress: bool | None = None,
        **options: Unpack[PollOptions],
    ) -> ExecutionStatusResponse:
        """Poll `get_execution_status` until the execution ends, and return its last status.

        It returns on every terminal status — `completed`, `failed`, `cancelled`,
        `not_submitted` — and does not raise on the unsuccessful ones: check `.status` (and
        `.last_error`, `.failure_class`), then read the summary or ledger snapshot, as the
        seed workflow does whatever the outcome. The bar (and the `controldeck` logger at
        INFO) shows every change of status, execution phase and control phase. The
        interval grows gently from `poll_interval` (capped at 30 s).

        Args:
            execution_id: The execution's UUID.
            timeout: Seconds to wait in all; None waits until it ends (or Ctrl-C).
            poll_interval: Seconds between the first checks.
            progress: Show a progress bar; None shows one only on an interactive terminal or
                in a notebook.
            options: `request_timeout=`, `max_retries=`, `extra_headers=` for each poll.

        Returns:
            The terminal status.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such execution (a 404 is not waited out: an execution is
                visible as soon as `create_execution` returns).
            WaitTimeoutError: `timeout` passed first; `.last_state` is the last status.

        Example:
            >>> client.execute(execution.uuid)
            >>> final = client.wait_for_execution(execution.uuid, timeout=6 * 3600)
            >>> if final.status != "completed":
            ...     raise SystemExit(f"{final.status}: {final.last_error}")
        """
        raw_id = uuid_id("execution_id", execution_id)
        path = _path(raw_id, "status")
        call = poll_call_options(options)
        transport = self._transport
        return wait_for(
            lambda: self._get(path, models.ExecutionStatusResponse, **call),
            lambda status: status.status in TERMINAL_STATUSES,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            what=f"execution {raw_id}",
            describe=_describe,
            # The transport's clock and sleep: one seam for tests, shared with retries.
            clock=transport.clock,
            sleep=transport.sleep,
        )


# -- argument checks ------------------------------------------------------------------------


def _path(execution_id: Any, *rest: str) -> str:
    return "/".join((f"{API}/executions/{uuid_id('execution_id', execution_id)}", *rest))


def _execution_create(
    project_module: Any,
    sources: Any,
    archive_name: Any,
    profile_name: Any,
    profile_id: Any,
) -> ExecutionCreate:
    """The create/prepare body. Optional keys are left out, never sent as null: the body
    type denies unknown fields, and leaving a key out is the one form it always accepts."""
    if profile_name is not None and profile_id is not None:
        raise InvalidArgumentError(
            "give deployment_profile_name or deployment_profile_id, not both"
            " (the server rejects a request naming two profiles)"
        )
    return models.ExecutionCreate(
        project_module=require_str("project_module", project_module),
        sources=_sources(sources),
        archive_name=require_str("archive_name", archive_name),
        deployment_profile_id=(
            UNSET if profile_id is None else uuid_id("deployment_profile_id", profile_id)
        ),
        deployment_profile_name=(
            UNSET if profile_name is None else require_str("deployment_profile_name", profile_name)
        ),
    )


def _sources(value: Any) -> list[ExecutionSourceSelection]:
    """Strings become `{"source_identifier": s}`; selections are checked and copied."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            "sources must be a list of source identifiers or ExecutionSourceSelection,"
            f" got {type(value).__name__}"
        )
    selections = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        name = f"sources[{i}]"
        if isinstance(item, str):
            selection = models.ExecutionSourceSelection(source_identifier=require_str(name, item))
        elif isinstance(item, models.ExecutionSourceSelection):
            selection = _selection(name, item)
        else:
            raise InvalidArgumentError(
                f"{name} must be a source identifier or an ExecutionSourceSelection,"
                f" got {type(item).__name__}"
            )
        identifier = selection.source_identifier.strip()
        if identifier in seen:
            raise InvalidArgumentError(f"source {identifier!r} is given more than once")
        seen.add(identifier)
        selections.append(selection)
    if not selections:
        raise InvalidArgumentError("sources must name at least one source")
    return selections


def _selection(name: str, item: ExecutionSourceSelection) -> ExecutionSourceSelection:
    identifier = require_str(f"{name}.source_identifier", item.source_identifier)
    if item.sbids is UNSET:
        return models.ExecutionSourceSelection(source_identifier=identifier)
    sbids = item.sbids
    if isinstance(sbids, str | bytes) or not isinstance(sbids, Iterable):
        raise InvalidArgumentError(f"{name}.sbids must be a list of SBIDs")
    sbids = [require_str(f"{name}.sbids[{j}]", sbid) for j, sbid in enumerate(sbids)]
    if not sbids:
        raise InvalidArgumentError(
            f"{name}.sbids must list at least one SBID (leave it unset for all of them)"
        )
    if len({sbid.strip() for sbid in sbids}) != len(sbids):
        raise InvalidArgumentError(f"{name}.sbids lists an SBID more than once")
    return models.ExecutionSourceSelection(source_identifier=identifier, sbids=sbids)


def _idempotency_key(value: Any) -> str | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _IDEMPOTENCY_KEY.fullmatch(value):
        return value
    raise InvalidArgumentError(
        "idempotency_key must be True (one key per call), False (none), or 1-128 visible"
        f" ASCII characters without whitespace; got {value!r:.40}"
    )


def _status(value: Any) -> str | None:
    if value is None:
        return None
    allowed = [member.value for member in models.ExecutionStatus]
    if isinstance(value, str) and value in allowed:
        return str(value)
    raise InvalidArgumentError(f"status must be one of {', '.join(allowed)}; got {value!r:.40}")


def _aware(name: str, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidArgumentError(
                f"{name} must be an ISO 8601 date-time, got {value!r:.60}"
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise InvalidArgumentError(
            f"{name} must be a datetime or an ISO 8601 string, got {type(value).__name__}"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidArgumentError(f"{name} must carry a timezone (e.g. UTC), got {value!r:.60}")
    return parsed


def _describe(status: ExecutionStatusResponse) -> str:
    """`running (phase submit, control monitoring)`: what the bar and the log show."""
    phases = [
        f"{label} {value}"
        for label, value in (("phase", status.execution_phase), ("control", status.control_phase))
        if value
    ]
    return f"{status.status} ({', '.join(phases)})" if phases else str(status.status)
