"""The run routes of `FakeBeampipe`: the execute job and the run's progress on status polls
(queued, running, then completed, failed, not submitted, or held for output verification),
retry in place, submission abandonment and output verification."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from controldeck.testing._beampipe_core import TERMINAL, Call
from controldeck.testing._beampipe_executions import ExecutionRoutes, canonical
from controldeck.testing._beampipe_wire import (
    ApiError,
    Bool,
    DateTimeT,
    Int,
    Json,
    ListOf,
    MapOf,
    Str,
    Struct,
    iso,
    parse_iso,
    sha256_hex,
)
from controldeck.testing._server import Reply, json_reply

__all__ = ["RunRoutes"]

_EXECUTE = Struct(
    "ExecuteRequest", do_stage=(Bool(), lambda: True), do_submit=(Bool(), lambda: True)
)
_RETRY = Struct("ExecutionRetryRequest", reason=Str())
_ABANDON = Struct(
    "ExecutionSubmissionAbandonRequest",
    deny_unknown=True,
    reason=Str(),
    expected_submission_state=Str(),
    expected_daliuge_session_id=Str(),
    expected_submission_deadline_at=DateTimeT(),
    acknowledge_external_job_may_exist=Bool(),
)
_PRODUCT = Struct(
    "OutputInventoryProduct", deny_unknown=True, path=Str(), bytes=Int("u64"), sha256=Str()
)
_PUBLICATION = Struct(
    "OutputPublicationAcknowledgement",
    deny_unknown=True,
    acknowledged=Bool(),
    publisher=Str(),
    receipt_id=Str(),
    published_at=DateTimeT(),
)
_VERIFY = Struct(
    "ExecutionOutputVerificationRequest",
    deny_unknown=True,
    schema=Str(),
    patterns=ListOf(Str()),
    pattern_counts=MapOf(Int("u64")),
    products=ListOf(_PRODUCT),
    inventory_sha256=Str(),
    durable_destination_uri=Str(),
    publication=_PUBLICATION,
)


def _abandon_invalid(code: str, message: str) -> ApiError:
    return ApiError("abandon_invalid", message, code=code)


def _abandon_conflict(code: str, message: str) -> ApiError:
    return ApiError("abandon_conflict", message, code=code)


def _retry_rejected(code: str, message: str) -> ApiError:
    return ApiError("retry_rejected", message, code=code)


class RunRoutes(ExecutionRoutes):
    """Route handlers that start, advance, retry, abandon and verify runs."""

    _ordinal: int

    def _run_routes(self) -> list[tuple[str, str, Callable[[Call], Reply]]]:
        e = "/executions/{id}"
        return [
            ("POST", f"{e}/execute", self._execute),
            ("POST", f"{e}/retry", self._retry),
            ("POST", f"{e}/submission/abandon", self._abandon),
            ("POST", f"{e}/outputs/verify", self._verify_outputs),
            ("GET", f"{e}/status", self._execution_status),
        ]

    # -- execute and the run ------------------------------------------------------------------

    def _execute(self, call: Call) -> Reply:
        execution_id = call.uuid()
        flags = call.body(_EXECUTE)
        row = self._found_execution(execution_id)
        key = f"execute:{execution_id}"
        wanted = (flags["do_stage"], flags["do_submit"])
        existing = next((j for j in self.jobs.values() if j["idempotency_key"] == key), None)
        if existing is not None:
            if (existing["payload"]["do_stage"], existing["payload"]["do_submit"]) != wanted:
                raise ApiError.conflict(
                    "execution was already queued with different do_stage/do_submit options"
                )
            if existing["status"] in ("queued", "running", "completed"):
                return self._accepted(execution_id, existing, flags)
        if row["status"] != "pending":
            raise ApiError.conflict(f"execution cannot be started from status '{row['status']}'")
        if existing is not None:
            raise ApiError.conflict(
                "execution start request already finished with job status "
                f"'{existing['status']}'; use the retry endpoint before starting again"
            )
        job = self._new_job("execute", {"execution_id": execution_id, **flags}, execution_id, key)
        self._progress[execution_id] = 0
        self._event(
            "execution.start_requested",
            row["project_module"],
            {"job_id": job["uuid"], **flags},
            execution_id=execution_id,
            actor=f"user:{call.who['uuid']}",
            correlation_id=call.request_id,
        )
        return self._accepted(execution_id, job, flags)

    @staticmethod
    def _accepted(execution_id: str, job: Json, flags: Json) -> Reply:
        return json_reply(
            202,
            {"status": "accepted", "execution_id": execution_id, "job_id": job["uuid"], **flags},
        )

    def _current_job(self, execution_id: str) -> Json | None:
        jobs = [
            j
            for j in self.jobs.values()
            if j["execution_id"] == execution_id and j["kind"] == "execute"
        ]
        return jobs[-1] if jobs else None

    def _fails(self, execution_id: str) -> bool:
        return self.fail_all_executions or execution_id in self.fail_executions

    def _advance(self, execution_id: str) -> Json:
        """One status poll's worth of progress for a started run; the row.

        A run stays queued for `execution_polls` polls, runs for as many, then ends.
        """
        row = self.executions[execution_id]
        polls = self._progress.get(execution_id)
        if polls is None:
            return row
        polls += 1
        self._progress[execution_id] = polls
        n = self.execution_polls
        target = 0 if polls <= n else 1 if polls <= 2 * n else 2
        if target >= 1 and row["status"] in ("pending", "retrying"):
            self._begin_run(row)
        held = row["control_phase"] == "output_verification"
        if target >= 2 and row["status"] == "running" and not held:
            self._end_run(row)
        return row

    def _begin_run(self, row: Json) -> None:
        now = self._now()
        stamp = iso(now)
        execution_id = row["uuid"]
        job = self._current_job(execution_id)
        flags = job["payload"] if job else {"do_stage": True, "do_submit": True}
        if job is not None:
            job.update(
                status="running",
                attempts=job["attempts"] + 1,
                updated_at=stamp,
                locked_until=iso(now + 300),
            )
        manifest = {
            "schema": "beampipe-workflow-manifest/v1",
            "project_module": row["project_module"],
            "sources": row["sources"],
            "archive_name": row["archive_name"],
        }
        row.update(
            status="running",
            started_at=row["started_at"] or stamp,
            execution_phase="submit" if not flags.get("do_stage", True) else "stage_and_manifest",
            control_phase="manifest_generated",
            updated_at=stamp,
        )
        row["phase_timestamps"]["running"] = stamp
        submit = flags.get("do_submit", True) and not self._fails(execution_id)
        if submit:
            self._submit(row, manifest, stamp)
        self._event(
            "execution.running",
            row["project_module"],
            {"status": "running"},
            execution_id=execution_id,
            actor="system:worker",
        )

    def _submit(self, row: Json, manifest: Json, stamp: str) -> None:
        """What staging and submission leave on the row: manifest, graphs, external ids."""
        self._ordinal += 1
        deployment = (row["deployment_profile_snapshot"] or {}).get("deployment") or {}
        session = f"beampipe-{row['uuid'][:8]}-{self._ordinal}"
        record: Json = {"phases": {"stage_and_manifest": "completed", "submit": "completed"}}
        if deployment.get("kind") == "slurm_remote":
            job_id = str(7_000_000 + self._ordinal)
            row.update(
                scheduler_name="slurm",
                scheduler_job_id=job_id,
                scheduler_state="running",
                scheduler_raw_state="RUNNING",
                remote_session_dir=f"{deployment['log_dir'].rstrip('/')}/{session}",
            )
            record["slurm"] = {
                "job_id": job_id,
                "last_observation": {"state": "RUNNING", "observed_at": stamp},
            }
        else:
            host = deployment.get("deploy_host") or "127.0.0.1"
            row.update(
                scheduler_name="daliuge",
                scheduler_state="running",
                daliuge_manager_url=f"http://{host}:{deployment.get('deploy_port') or 8001}",
            )
        record["dim"] = {
            "session_id": session,
            "last_observation": {"session_state": "Running", "observed_at": stamp},
        }
        manifest["beampipe_run_record"] = record
        row.update(
            workflow_manifest=manifest,
            manifest_sha256=sha256_hex(canonical(manifest)),
            source_graph_sha256=sha256_hex(f"source-graph:{row['project_module']}"),
            patched_graph_sha256=sha256_hex(f"patched-graph:{row['uuid']}"),
            physical_graph_sha256=sha256_hex(f"physical-graph:{session}"),
            daliuge_session_id=session,
            daliuge_state="running",
            control_phase="monitoring",
            submission_state="submitted",
            execution_phase="submit",
            last_reconciled_at=stamp,
        )
        self._observe(row, "scheduler", "running", "RUNNING")
        self.artifacts.setdefault(row["uuid"], []).append(
            {
                "uuid": self._id(),
                "execution_id": row["uuid"],
                "kind": "workflow_manifest",
                "storage_kind": "inline",
                "uri": None,
                "inline_json": manifest,
                "media_type": "application/json",
                "sha256": row["manifest_sha256"],
                "size_bytes": len(canonical(manifest).encode("utf-8")),
                "producer_phase": "stage_and_manifest",
                "metadata": {},
                "created_at": stamp,
            }
        )

    def _observe(self, row: Json, kind: str, state: str, raw: str | None) -> None:
        self.observations.setdefault(row["uuid"], []).append(
            {
                "uuid": self._id(),
                "execution_id": row["uuid"],
                "kind": kind,
                "normalized_state": state,
                "raw_state": raw,
                "reason": None,
                "payload": {
                    "scheduler_job_id": row["scheduler_job_id"],
                    "daliuge_session_id": row["daliuge_session_id"],
                },
                "source_version": None,
                "observed_at": iso(self._now()),
            }
        )

    def _end_run(self, row: Json) -> None:
        stamp = iso(self._now())
        execution_id = row["uuid"]
        job = self._current_job(execution_id)
        submitted = row["submission_state"] == "submitted"
        if self._fails(execution_id):
            if job is not None:
                job.update(status="failed", last_error=self.failure_message, updated_at=stamp)
            row.update(
                status="failed",
                execution_phase=None,
                control_phase="terminal",
                terminal_outcome="failed",
                failure_class="dependency_unavailable",
                last_error=self.failure_message,
                completed_at=stamp,
                updated_at=stamp,
            )
            row["phase_timestamps"]["terminal"] = stamp
            self._event(
                "execution.failed",
                row["project_module"],
                {"error": self.failure_message},
                execution_id=execution_id,
                actor="system:worker",
            )
            return
        if job is not None:
            job.update(status="completed", updated_at=stamp)
        if not submitted:  # staged only (do_submit=false)
            row.update(
                status="not_submitted",
                execution_phase=None,
                control_phase="terminal",
                completed_at=stamp,
                updated_at=stamp,
            )
            row["phase_timestamps"]["terminal"] = stamp
            self._event(
                "execution.not_submitted",
                row["project_module"],
                {},
                execution_id=execution_id,
                actor="system:worker",
            )
            return
        record = row["workflow_manifest"]["beampipe_run_record"]
        if "slurm" in record:
            record["slurm"]["last_observation"] = {"state": "COMPLETED", "observed_at": stamp}
            row.update(scheduler_state="succeeded", scheduler_raw_state="COMPLETED")
        else:
            row["scheduler_state"] = "succeeded"
        record["dim"]["last_observation"] = {"session_state": "Finished", "observed_at": stamp}
        row.update(daliuge_state="finished", last_reconciled_at=stamp, updated_at=stamp)
        self._observe(row, "scheduler", "succeeded", "COMPLETED")
        if row["output_verification_required"]:
            # Success is held until a trusted publisher acknowledges the outputs.
            row.update(control_phase="output_verification")
            self._event(
                "execution.awaiting_output_verification",
                row["project_module"],
                {},
                execution_id=execution_id,
                actor="system:worker",
            )
            return
        self._complete(row, stamp)

    def _complete(self, row: Json, stamp: str) -> None:
        row.update(
            status="completed",
            execution_phase=None,
            control_phase="terminal",
            terminal_outcome="succeeded",
            failure_class=None,
            last_error=None,
            completed_at=row["completed_at"] or stamp,
            updated_at=stamp,
        )
        row["phase_timestamps"]["terminal"] = stamp
        for selection in row["sources"]:
            source = self._source_by_identifier(
                row["project_module"], selection["source_identifier"]
            )
            if source is not None:
                source.update(
                    last_executed_discovery_signature=source["discovery_signature"],
                    workflow_run_pending=False,
                    workflow_run_pending_at=None,
                )
        self._event(
            "execution.completed",
            row["project_module"],
            {"status": "completed"},
            execution_id=row["uuid"],
            actor="system:worker",
        )

    def _execution_status(self, call: Call) -> Reply:
        row = self._found_execution(call.uuid())
        return json_reply(200, self._status_view(self._advance(row["uuid"])))

    # -- retry, abandon, verify -----------------------------------------------------------------

    def _retry(self, call: Call) -> Reply:
        execution_id = call.uuid()
        reason = call.body(_RETRY)["reason"].strip()
        if not reason:
            raise _retry_rejected(
                "retry_reason_required", "a recovery reason is required for the audit trail"
            )
        if len(reason.encode("utf-8")) > 1000:
            raise _retry_rejected(
                "retry_reason_too_long", "the recovery reason must be at most 1000 bytes"
            )
        row = self._found_execution(execution_id)
        stage = self._retry_stage(row)
        if any(
            j["execution_id"] == execution_id
            and j["kind"] == "execute"
            and j["status"] in ("queued", "running")
            for j in self.jobs.values()
        ):
            raise _retry_rejected(
                "execution_job_active",
                "the previous execution job still owns "
                "active work; wait for it to finish before retrying",
            )
        count = row["retry_count"] + 1
        stamp = iso(self._now())
        row.update(
            status="retrying",
            retry_count=count,
            execution_phase=stage,
            control_phase="graph_patched" if stage == "submit" else "admitted",
            submission_state="not_started",
            scheduler_name=None,
            scheduler_job_id=None,
            scheduler_state="not_submitted",
            scheduler_raw_state=None,
            scheduler_reason=None,
            daliuge_session_id=None,
            daliuge_manager_url=None,
            daliuge_state="not_created",
            daliuge_raw_status=None,
            remote_session_dir=None,
            output_state="pending" if row["output_verification_required"] else "not_started",
            terminal_outcome=None,
            failure_class=None,
            last_error=None,
            last_reconciled_at=None,
            completed_at=None,
            updated_at=stamp,
        )
        row["phase_timestamps"][f"retry_{count}"] = stamp
        flags = {"do_stage": stage == "stage_and_manifest", "do_submit": True}
        job = self._new_job(
            "execute",
            {
                "execution_id": execution_id,
                **flags,
                "retry_count": count,
                "recovery_reason": reason,
                "correlation_id": call.request_id,
            },
            execution_id,
            f"execute:{execution_id}:retry:{count}",
        )
        self._progress[execution_id] = 0
        self._event(
            "execution.retry_requested",
            row["project_module"],
            {"job_id": job["uuid"], "retry_count": count, "reason": reason, "stage": stage},
            execution_id=execution_id,
            actor=f"user:{call.who['uuid']}",
            correlation_id=call.request_id,
        )
        return json_reply(
            202,
            {
                "status": "accepted",
                "execution_id": execution_id,
                "job_id": job["uuid"],
                "retry_count": count,
                "stage": stage,
                **flags,
            },
        )

    @staticmethod
    def _retry_stage(row: Json) -> str:
        """`plan_execution_retry`: the stage to rerun, or the rejection."""
        if row["status"] != "failed":
            raise _retry_rejected(
                "execution_not_failed", "only a failed execution can be retried in place"
            )
        if row["terminal_outcome"] == "inconsistent":
            raise _retry_rejected(
                "external_state_inconsistent",
                "the external state is "
                "inconsistent; reconcile or create a new execution instead of "
                "replaying work",
            )
        if row["submission_state"] in ("preparing", "in_flight", "submitted", "uncertain"):
            raise _retry_rejected(
                "submission_may_exist",
                "submission may have reached an "
                "external system; retry is blocked to prevent duplicate work",
            )
        if row["scheduler_job_id"] is not None or row["scheduler_state"] not in (
            None,
            "not_submitted",
        ):
            raise _retry_rejected(
                "scheduler_work_exists",
                "a scheduler job or scheduler "
                "observation exists; create a new execution after "
                "reconciliation",
            )
        if row["daliuge_state"] not in (None, "not_created"):
            raise _retry_rejected(
                "daliuge_session_may_exist",
                "DALiuGE is not definitively in "
                "the not-created state; retry is blocked to prevent duplicate "
                "sessions",
            )
        manifest = row["workflow_manifest"] is not None
        if row["execution_phase"] == "submit" or (row["submission_state"] == "failed" and manifest):
            if not manifest:
                raise _retry_rejected(
                    "retry_manifest_missing",
                    "the submit stage cannot be retried because its pinned manifest is missing",
                )
            return "submit"
        return "stage_and_manifest"

    def _abandon(self, call: Call) -> Reply:
        execution_id = call.uuid()
        req = call.body(_ABANDON)
        call.require_superuser()
        reason = req["reason"].strip()
        if not reason:
            raise _abandon_invalid(
                "submission_abandonment_reason_required",
                "an operator rationale is required for the audit trail",
            )
        if len(reason.encode("utf-8")) > 1000:
            raise _abandon_invalid(
                "submission_abandonment_reason_too_long",
                "the operator rationale must be at most 1000 bytes",
            )
        if req["expected_submission_state"] not in ("in_flight", "uncertain"):
            raise _abandon_invalid(
                "submission_abandonment_state_invalid",
                "expected_submission_state must be 'in_flight' or 'uncertain'",
            )
        session = req["expected_daliuge_session_id"]
        if not session.strip() or session.strip() != session:
            raise _abandon_invalid(
                "submission_abandonment_session_id_invalid",
                "expected_daliuge_session_id must be a non-empty exact "
                "identifier without surrounding whitespace",
            )
        if not req["acknowledge_external_job_may_exist"]:
            raise _abandon_invalid(
                "submission_abandonment_orphan_risk_not_acknowledged",
                "acknowledge_external_job_may_exist must be true",
            )
        row = self._found_execution(execution_id)
        if row["submission_abandoned_at"] is not None:
            raise _abandon_conflict(
                "submission_already_abandoned", "the unresolved submission was already abandoned"
            )
        if row["status"] in TERMINAL:
            raise _abandon_conflict(
                "submission_abandonment_terminal_execution",
                f"execution is already terminal with status '{row['status']}'",
            )
        deadline = row["submission_deadline_at"]
        if (
            row["scheduler_name"] != "slurm"
            or row["submission_state"] != req["expected_submission_state"]
            or row["daliuge_session_id"] != session
            or deadline is None
            or parse_iso(deadline) != parse_iso(req["expected_submission_deadline_at"])
        ):
            raise _abandon_conflict(
                "submission_abandonment_cas_mismatch",
                "submission state, session, backend, or deadline changed since operator review",
            )
        if row["scheduler_job_id"] is not None:
            raise _abandon_conflict(
                "submission_abandonment_exact_job_known",
                "an exact Slurm job ID is now known; use confirmed external cancellation",
            )
        stamp = iso(self._now())
        self._finish_jobs(execution_id, "cancelled")
        self._progress.pop(execution_id, None)
        row.update(
            status="failed",
            execution_phase=None,
            control_phase="terminal",
            terminal_outcome="inconsistent",
            failure_class="inconsistent_state",
            submission_abandoned_at=stamp,
            completed_at=row["completed_at"] or stamp,
            last_error="operator abandoned unresolved Slurm submission after durable "
            f"negative evidence: {reason}",
            updated_at=stamp,
        )
        row["phase_timestamps"].setdefault("terminal", stamp)
        self._event(
            "execution.submission_abandoned",
            row["project_module"],
            {
                "reason": reason,
                "prior_submission_state": req["expected_submission_state"],
                "daliuge_session_id": session,
            },
            execution_id=execution_id,
            actor=f"user:{call.who['uuid']}",
            correlation_id=call.request_id,
        )
        return json_reply(200, self._read(row))

    def _verify_outputs(self, call: Call) -> Reply:
        execution_id = call.uuid()
        req = call.body(_VERIFY)
        call.require_superuser()
        row = self._found_execution(execution_id)
        total = self._check_inventory(req, row, self._now())
        report = canonical(req).encode("utf-8")
        artifact = {
            "uuid": self._id(),
            "execution_id": execution_id,
            "kind": "output_inventory",
            "storage_kind": "remote",
            "uri": req["durable_destination_uri"],
            "inline_json": req,
            "media_type": "application/vnd.wallaby.output-inventory+json",
            "sha256": sha256_hex(report),
            "size_bytes": len(report),
            "producer_phase": "publication_acknowledged",
            "metadata": {
                "inventory_schema": req["schema"],
                "inventory_sha256": req["inventory_sha256"],
                "product_count": len(req["products"]),
                "total_product_bytes": total,
                "publication": req["publication"],
            },
            "created_at": iso(self._now()),
        }
        stored = self.artifacts.setdefault(execution_id, [])
        if row["output_state"] == "verified":
            same = next(
                (
                    a
                    for a in stored
                    if a["kind"] == "output_inventory" and a["sha256"] == artifact["sha256"]
                ),
                None,
            )
            if same is None:
                raise ApiError.conflict(
                    "outputs were already verified with a different durable inventory"
                )
            return json_reply(200, {"execution": self._read(row), "artifact": same})
        if row["status"] in TERMINAL:
            raise ApiError.conflict(
                f"execution is already terminal ({row['status']}) without verified outputs"
            )
        if row["control_phase"] != "output_verification":
            raise ApiError.conflict(
                "execution is not waiting for output verification after "
                "successful external completion"
            )
        stored.append(artifact)
        stamp = artifact["created_at"]
        row["output_state"] = "verified"
        row["phase_timestamps"]["outputs_verified"] = stamp
        self._observe(row, "output", "verified", "publication_acknowledged")
        self._complete(row, stamp)
        return json_reply(200, {"execution": self._read(row), "artifact": artifact})

    @staticmethod
    def _check_inventory(req: Json, row: Json, now: float) -> int:
        """`validate_output_verification_request`: the products' total size, or the error."""
        if not row["output_verification_required"]:
            raise ApiError.conflict("this execution explicitly opts out of output verification")
        expected = row["output_verification_policy"].get("inventory_schema")
        if req["schema"] != expected:
            raise ApiError.conflict(
                f"inventory schema '{req['schema']}' does not match pinned schema '{expected}'"
            )
        patterns, counts = req["patterns"], req["pattern_counts"]
        if not patterns:
            raise ApiError.bad_request("patterns must contain at least one Wallaby output pattern")
        if (
            len(set(patterns)) != len(patterns)
            or len(counts) != len(patterns)
            or any(
                p not in counts
                or not p.strip()
                or p.startswith("/")
                or "\\" in p
                or ".." in p.split("/")
                for p in patterns
            )
            or any(c == 0 for c in counts.values())
        ):
            raise ApiError.bad_request(
                "patterns must be unique safe relative patterns and pattern_counts must contain "
                "one positive count for each pattern"
            )
        products = req["products"]
        if not 1 <= len(products) <= 100_000:
            raise ApiError.bad_request("products must contain between 1 and 100000 entries")
        seen: set[str] = set()
        total = 0
        for product in products:
            path = product["path"].strip()
            if (
                not path
                or path.startswith(("/", "\\"))
                or "\\" in path
                or "\0" in path
                or any(part in ("", ".", "..") for part in path.split("/"))
            ):
                raise ApiError.bad_request(
                    "every output product requires a safe relative path without '.', '..', or "
                    "empty components"
                )
            if product["bytes"] == 0:
                raise ApiError.bad_request(f"output product '{product['path']}' must be non-empty")
            if product["path"] in seen:
                raise ApiError.bad_request(f"output product path is duplicated: {product['path']}")
            seen.add(product["path"])
            if not re.fullmatch(r"[0-9a-f]{64}", product["sha256"]):
                raise ApiError.bad_request(
                    f"output product '{product['path']}' has an invalid lowercase SHA-256"
                )
            total += product["bytes"]
        if not re.fullmatch(r"[0-9a-f]{64}", req["inventory_sha256"]):
            raise ApiError.bad_request(
                "inventory_sha256 must be 64 lowercase hexadecimal characters"
            )
        calculated = sha256_hex(canonical(products))
        if req["inventory_sha256"] != calculated:
            raise ApiError.bad_request(
                f"inventory_sha256 does not match canonical products JSON (expected {calculated})"
            )
        _check_destination(req["durable_destination_uri"])
        publication = req["publication"]
        if not publication["acknowledged"]:
            raise ApiError.bad_request("publication.acknowledged must be true")
        for name in ("publisher", "receipt_id"):
            value = publication[name]
            if not value.strip() or len(value) > 256:
                raise ApiError.bad_request(f"publication.{name} must contain 1-256 characters")
        if parse_iso(publication["published_at"]) > now + 300:
            raise ApiError.bad_request(
                "publication.published_at cannot be more than five minutes in the future"
            )
        return total


def _check_destination(uri: str) -> None:
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ApiError.bad_request("durable_destination_uri must be an absolute URI")
    if parts.fragment or parts.username or parts.password:
        raise ApiError.bad_request(
            "durable_destination_uri must not contain credentials or a fragment"
        )
    ok = (parts.scheme in ("s3", "gs", "https") and bool(parts.hostname)) or (
        parts.scheme == "file" and parts.path.startswith("/") and len(parts.path) > 1
    )
    if not ok:
        raise ApiError.bad_request(
            "durable_destination_uri must use s3, gs, https, or an absolute file URI"
        )
