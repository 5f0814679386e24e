"""The execution routes of `FakeBeampipe`: admission, idempotent create, the execute job and
the run's progress on status polls, cancel, retry, submission abandonment, output
verification, and the read views (status, summary, ledger snapshot, events, observations,
artifacts)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from controldeck.testing._beampipe_core import TERMINAL, Call, State
from controldeck.testing._beampipe_wire import (
    ApiError,
    Bool,
    DateTimeT,
    Enum,
    Int,
    Json,
    ListOf,
    MapOf,
    Opt,
    Str,
    Struct,
    UuidT,
    iso,
    parse_iso,
    query_bool,
    query_int,
    query_int_or,
    sha256_hex,
)
from controldeck.testing._beampipe_yaml import max_sources_per_execution
from controldeck.testing._server import Reply, json_reply

__all__ = ["STATUSES", "ExecutionRoutes"]

STATUSES = (
    "pending",
    "running",
    "awaiting_scheduler",
    "not_submitted",
    "completed",
    "failed",
    "retrying",
    "cancelled",
)

_SELECTION = Struct(
    "ExecutionSourceSelection", deny_unknown=True, source_identifier=Str(), sbids=Opt(ListOf(Str()))
)
EXECUTION_CREATE = Struct(
    "ExecutionCreate",
    deny_unknown=True,
    project_module=Str(),
    sources=ListOf(_SELECTION),
    archive_name=Str(),
    deployment_profile_id=Opt(UuidT()),
    deployment_profile_name=Opt(Str()),
)
_PATCH = Struct("ExecutionPatchRequest", deny_unknown=True, status=Enum(*STATUSES))
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
_KEY = re.compile(r"[!-~]{1,128}")  # visible ASCII, no whitespace
_DEBUG_KEYS = (
    "dim_session_status_url",
    "dim_graph_status_url",
    "slurm_session_dir",
    "slurm_login_node",
    "slurm_remote_user",
)


def _canonical(value: Any) -> str:
    """A `json!` value printed by serde_json: sorted keys, compact, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _abandon_invalid(code: str, message: str) -> ApiError:
    return ApiError("abandon_invalid", message, code=code)


def _abandon_conflict(code: str, message: str) -> ApiError:
    return ApiError("abandon_conflict", message, code=code)


def _retry_rejected(code: str, message: str) -> ApiError:
    return ApiError("retry_rejected", message, code=code)


class ExecutionRoutes(State):
    """Route handlers for executions."""

    _ordinal: int

    def _execution_routes(self) -> list[tuple[str, str, Callable[[Call], Reply]]]:
        e = "/executions/{id}"
        return [
            ("POST", "/executions/prepare", self._prepare),
            ("POST", "/executions", self._create_execution),
            ("GET", "/executions", self._list_executions),
            ("GET", e, self._get_execution),
            ("PATCH", e, self._patch_execution),
            ("POST", f"{e}/execute", self._execute),
            ("POST", f"{e}/retry", self._retry),
            ("POST", f"{e}/submission/abandon", self._abandon),
            ("POST", f"{e}/outputs/verify", self._verify_outputs),
            ("GET", f"{e}/status", self._execution_status),
            ("GET", f"{e}/summary", self._summary),
            ("GET", f"{e}/ledger-snapshot", self._ledger),
            ("GET", f"{e}/events", self._execution_events),
            ("GET", f"{e}/observations", self._observations),
            ("GET", f"{e}/artifacts", self._artifacts),
        ]

    # -- views ----------------------------------------------------------------------------------

    def execution_read(self, row: Json) -> Json:
        """`ExecutionRead` of a stored `ExecutionRow`."""
        manifest = row["workflow_manifest"]
        config = self._config_by_uuid(row["project_config_id"])
        read = {
            k: row[k]
            for k in (
                "uuid",
                "project_module",
                "archive_name",
                "sources",
                "status",
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
                "output_verification_required",
                "output_verification_policy",
                "terminal_outcome",
                "failure_class",
                "discovery_signature",
                "manifest_sha256",
                "source_graph_sha256",
                "patched_graph_sha256",
                "physical_graph_sha256",
                "phase_timestamps",
                "last_reconciled_at",
                "workflow_manifest",
            )
        }
        read["beampipe_run_record"] = manifest.get("beampipe_run_record") if manifest else None
        read.update(
            {
                k: row[k]
                for k in (
                    "last_error",
                    "retry_count",
                    "started_at",
                    "completed_at",
                    "created_at",
                    "created_by_id",
                    "deployment_profile_id",
                    "deployment_profile_revision",
                    "project_config_id",
                )
            }
        )
        read["project_config_version"] = config["version"] if config else None
        read.update(self._debug_urls(row))
        return read

    def _debug_urls(self, row: Json) -> Json:
        urls: Json = dict.fromkeys(_DEBUG_KEYS)
        deployment = (row["deployment_profile_snapshot"] or {}).get("deployment") or {}
        if row["scheduler_name"] == "daliuge" and deployment.get("deploy_host"):
            scheme = "https" if deployment.get("use_https") else "http"
            base = f"{scheme}://{deployment['deploy_host']}:{deployment.get('deploy_port') or 8001}"
            session = row["daliuge_session_id"] or ""
            urls["dim_session_status_url"] = f"{base}/api/sessions/{session}/status"
            urls["dim_graph_status_url"] = f"{base}/api/sessions/{session}/graph/status"
        elif row["scheduler_name"] == "slurm":
            urls["slurm_session_dir"] = row["remote_session_dir"]
            if deployment.get("kind") == "slurm_remote":
                urls["slurm_login_node"] = deployment["login_node"]
                urls["slurm_remote_user"] = deployment.get("remote_user")
        return urls

    def status_view(self, row: Json) -> Json:
        """`ExecutionStatusResponse` of a stored row."""
        out = {
            k: row[k]
            for k in (
                "uuid",
                "status",
                "execution_phase",
                "scheduler_name",
                "scheduler_job_id",
                "daliuge_session_id",
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
                "last_error",
                "retry_count",
                "started_at",
                "completed_at",
            )
        }
        record = (row["workflow_manifest"] or {}).get("beampipe_run_record") or {}
        slurm = (record.get("slurm") or {}).get("last_observation") or {}
        dim = (record.get("dim") or {}).get("last_observation") or {}
        out["slurm_state"] = slurm.get("state")
        out["dim_state"] = dim.get("session_state") or row["daliuge_state"]
        observed = [o["observed_at"] for o in (slurm, dim) if o.get("observed_at")]
        out["last_observation_at"] = max(observed) if observed else None
        duration = None
        if row["started_at"] is not None:
            end = parse_iso(row["completed_at"]) if row["completed_at"] else self._now()
            duration = int(end - parse_iso(row["started_at"]))
        out["duration_seconds"] = duration
        return out

    def _found_execution(self, execution_id: str) -> Json:
        row = self.executions.get(execution_id)
        if row is None:
            raise ApiError.not_found()
        return row

    # -- admission and create -------------------------------------------------------------------

    def _admission(self, req: Json) -> tuple[Json, Json | None, Json | None, list[Json]]:
        """`validate_execution_admission`: the prepare response, profile, config, sources."""
        module, archive = req["project_module"].strip(), req["archive_name"].strip()
        errors: list[str] = []
        if not module:
            errors.append("project_module must be non-empty")
        if not archive:
            errors.append("archive_name must be non-empty")
        if not req["sources"]:
            errors.append("at least one source is required")
        seen: set[str] = set()
        sources: list[Json] = []
        for index, selection in enumerate(req["sources"]):
            sid = selection["source_identifier"].strip()
            if not sid:
                errors.append(f"sources[{index}].source_identifier must be non-empty")
                continue
            if sid in seen:
                errors.append(f"source '{sid}' is selected more than once")
                continue
            seen.add(sid)
            sbids = selection["sbids"]
            normalized: Json = {"source_identifier": sid}
            if sbids is not None:
                sbids = [s.strip() for s in sbids]
                if not sbids or any(not s for s in sbids):
                    errors.append(
                        f"sources[{index}].sbids must contain at least one non-empty SBID when set"
                    )
                if len(set(sbids)) != len(sbids):
                    errors.append(f"sources[{index}].sbids contains duplicates")
                normalized["sbids"] = sbids
            sources.append(normalized)
        config = self._active_config(module) if module else None
        if config is not None:
            spec = config["spec"]
            if archive and archive not in spec["adapters"]["required"]:
                errors.append(f"archive '{archive}' is not enabled by project '{module}'")
            limit = max_sources_per_execution(spec)
            if limit is not None and limit > 0 and len(sources) > limit:
                errors.append(
                    f"project '{module}' permits at most {limit} source(s) per "
                    f"execution; received {len(sources)}"
                )
        elif module:
            errors.append(f"project '{module}' has no active configuration")
        profile = self._admission_profile(req, module, errors)
        if profile is not None and profile["project_module"] not in (None, module):
            errors.append(
                f"deployment profile '{profile['name']}' belongs to project "
                f"'{profile['project_module']}'"
            )
        preview: list[Json] = []
        total = 0
        for selection in sources:
            sid = selection["source_identifier"]
            row = self._source_by_identifier(module, sid)
            metadata = self.archive_metadata.get((module, sid), [])
            if "sbids" in selection:
                metadata = [m for m in metadata if m["sbid"] in selection["sbids"]]
                found = {m["sbid"] for m in metadata}
                errors.extend(
                    f"source '{sid}' has no discovered SBID '{sbid}'"
                    for sbid in selection["sbids"]
                    if sbid not in found
                )
            problem = self.readiness_problem(row, metadata, sid)
            if problem is not None:
                errors.append(problem)
                continue
            datasets = sum(len((m["metadata_json"] or {}).get("datasets") or []) for m in metadata)
            total += datasets
            preview.append(
                {"source_identifier": sid, "sbid_count": len(metadata), "dataset_count": datasets}
            )
        response = {
            "project_module": req["project_module"],
            "valid": not errors,
            "errors": errors,
            "total_datasets": total,
            "sources_preview": preview,
        }
        return response, profile, config, sources

    def _admission_profile(self, req: Json, module: str, errors: list[str]) -> Json | None:
        by_id, by_name = req["deployment_profile_id"], req["deployment_profile_name"]
        if by_id is not None and by_name is not None:
            errors.append("provide only one of deployment_profile_id or deployment_profile_name")
            return None
        if by_id is not None:
            found = self.profiles.get(by_id)
            if found is None:
                errors.append(f"deployment profile '{by_id}' does not exist")
            return found
        if by_name is not None:
            name = by_name.strip()
            if not name:
                errors.append("deployment_profile_name must be non-empty when provided")
                return None
            found = self._profile_by_name(name)
            if found is None:
                errors.append(f"deployment profile '{name}' does not exist")
            return found
        if not module:
            return None
        found = self._default_profile(module)
        if found is None:
            errors.append(
                f"project '{module}' has no default deployment profile; select one explicitly"
            )
        return found

    def _prepare(self, call: Call) -> Reply:
        return json_reply(200, self._admission(call.body(EXECUTION_CREATE))[0])

    def _create_execution(self, call: Call) -> Reply:
        req = call.body(EXECUTION_CREATE)
        key = call.request.headers.get("idempotency-key")
        if key is not None and not _KEY.fullmatch(key):
            raise ApiError.bad_request(
                "Idempotency-Key must be 1-128 visible ASCII characters without whitespace"
            )
        request_sha = sha256_hex(
            _canonical(
                {
                    "project_module": req["project_module"].strip(),
                    "sources": [
                        {
                            "source_identifier": s["source_identifier"].strip(),
                            "sbids": None
                            if s["sbids"] is None
                            else [b.strip() for b in s["sbids"]],
                        }
                        for s in req["sources"]
                    ],
                    "archive_name": req["archive_name"].strip(),
                    "deployment_profile_id": req["deployment_profile_id"],
                    "deployment_profile_name": None
                    if req["deployment_profile_name"] is None
                    else req["deployment_profile_name"].strip(),
                }
            )
        )
        if key is not None:
            existing = next(
                (
                    e
                    for e in self.executions.values()
                    if e["created_by_id"] == call.who["id"] and e["create_idempotency_key"] == key
                ),
                None,
            )
            if existing is not None:
                if existing["create_request_sha256"] != request_sha:
                    raise ApiError.conflict(
                        "Idempotency-Key was already used for a different execution request"
                    )
                return json_reply(200, self.execution_read(existing))
        response, profile, config, sources = self._admission(req)
        if not response["valid"]:
            raise ApiError.bad_request("; ".join(response["errors"]))
        if profile is not None and profile["max_concurrent_executions"] is not None:
            busy = sum(
                1
                for e in self.executions.values()
                if e["deployment_profile_id"] == profile["uuid"]
                and e["status"] in ("pending", "running", "retrying", "awaiting_scheduler")
            )
            if busy >= profile["max_concurrent_executions"]:
                raise ApiError.conflict(
                    "encountered unexpected or invalid data: deployment profile "
                    f"'{profile['name']}' concurrency limit reached "
                    f"({busy}/{profile['max_concurrent_executions']})"
                )
        row = self._new_execution(req, sources, profile, config, call, key, request_sha)
        return json_reply(201, self.execution_read(row))

    def _new_execution(
        self,
        req: Json,
        sources: list[Json],
        profile: Json | None,
        config: Json | None,
        call: Call,
        key: str | None,
        request_sha: str,
    ) -> Json:
        module = req["project_module"].strip()
        outputs = (
            config["spec"]["output_verification"]
            if config
            else {"required": False, "inventory_schema": "wallaby-hires-output-inventory/v1"}
        )
        policy = {"required": outputs["required"], "inventory_schema": outputs["inventory_schema"]}
        snapshot = None
        if profile is not None:
            snapshot = {
                "id": profile["uuid"],
                **{
                    k: profile[k]
                    for k in (
                        "name",
                        "description",
                        "project_module",
                        "is_default",
                        "max_concurrent_executions",
                        "revision",
                        "spec_sha256",
                        "translation",
                        "deployment",
                    )
                },
            }
        signatures = {}
        for selection in sources:
            found = self._source_by_identifier(module, selection["source_identifier"])
            if found is not None:
                signatures[found["source_identifier"]] = found["discovery_signature"] or ""
        now = iso(self._now())
        row = {
            "uuid": self._id(),
            "project_module": module,
            "sources": sources,
            "archive_name": req["archive_name"].strip(),
            "deployment_profile_id": profile["uuid"] if profile else None,
            "deployment_profile_revision": profile["revision"] if profile else None,
            "deployment_profile_snapshot": snapshot,
            "project_config_id": config["uuid"] if config else None,
            "discovery_signature": sha256_hex(_canonical(signatures)) if signatures else None,
            "workflow_manifest": None,
            "manifest_sha256": None,
            "source_graph_sha256": None,
            "patched_graph_sha256": None,
            "physical_graph_sha256": None,
            "execution_phase": None,
            "control_phase": "discovered",
            "submission_state": "not_started",
            "submission_deadline_at": None,
            "submission_abandoned_at": None,
            "scheduler_name": None,
            "scheduler_job_id": None,
            "scheduler_state": "not_submitted",
            "scheduler_raw_state": None,
            "scheduler_reason": None,
            "daliuge_session_id": None,
            "daliuge_manager_url": None,
            "daliuge_state": "not_created",
            "daliuge_raw_status": None,
            "output_state": "pending" if policy["required"] else "not_started",
            "output_verification_required": policy["required"],
            "output_verification_policy": policy,
            "remote_session_dir": None,
            "terminal_outcome": None,
            "failure_class": None,
            "phase_timestamps": {},
            "last_reconciled_at": None,
            "last_error": None,
            "created_by_id": call.who["id"],
            "create_idempotency_key": key,
            "create_request_sha256": request_sha if key is not None else None,
            "status": "pending",
            "retry_count": 0,
            "created_at": now,
            "updated_at": None,
            "started_at": None,
            "completed_at": None,
        }
        self.executions[row["uuid"]] = row
        self._event(
            "execution.created",
            module,
            {
                "archive_name": row["archive_name"],
                "sources": sources,
                "output_verification_required": policy["required"],
                "output_verification_policy": policy,
            },
            execution_id=row["uuid"],
            actor="system:api",
            correlation_id=call.request_id,
        )
        return row

    # -- list, get, cancel ----------------------------------------------------------------------

    def _list_executions(self, call: Call) -> Reply:
        query = call.request.query
        page = max(query_int_or(call.request, "page", 1), 1)
        per_page = min(max(query_int_or(call.request, "items_per_page", 50), 1), 500)
        rows = [
            e
            for e in reversed(self.executions.values())
            if query.get("project_module") in (None, e["project_module"])
            and query.get("status") in (None, e["status"])
        ]
        start = (page - 1) * per_page
        return json_reply(
            200,
            {
                "items": rows[start : start + per_page],
                "total": len(rows),
                "page": page,
                "items_per_page": per_page,
            },
        )

    def _get_execution(self, call: Call) -> Reply:
        return json_reply(200, self.execution_read(self._found_execution(call.uuid())))

    def _patch_execution(self, call: Call) -> Reply:
        execution_id = call.uuid()
        status = call.body(_PATCH)["status"]
        if status != "cancelled":
            raise ApiError.bad_request(
                "the public execution patch endpoint only supports status=cancelled"
            )
        row = self._found_execution(execution_id)
        if row["status"] in TERMINAL:
            raise ApiError.conflict(f"execution is already terminal ({row['status']})")
        if row["submission_state"] in ("in_flight", "uncertain"):
            raise ApiError.conflict(
                "execution submission outcome is unresolved; wait for reconciliation to record "
                "an exact external job before cancelling"
            )
        now = iso(self._now())
        self._finish_jobs(execution_id, "cancelled")
        self._progress.pop(execution_id, None)
        row.update(
            status="cancelled",
            execution_phase=None,
            control_phase="terminal",
            terminal_outcome="cancelled",
            completed_at=row["completed_at"] or now,
            updated_at=now,
        )
        if row["scheduler_job_id"]:
            row["scheduler_state"] = "cancelled"
        if row["daliuge_session_id"]:
            row["daliuge_state"] = "cancelled"
        row["phase_timestamps"]["terminal"] = now
        self._event(
            "execution.cancelled",
            row["project_module"],
            {"status": "cancelled"},
            execution_id=execution_id,
            actor=f"user:{call.who['uuid']}",
            correlation_id=call.request_id,
        )
        return json_reply(200, self.execution_read(row))

    # -- execute and the run ----------------------------------------------------------------------

    def _new_job(self, kind: str, payload: Json, execution_id: str | None, key: str | None) -> Json:
        now = iso(self._now())
        job: Json = {
            "uuid": self._id(),
            "kind": kind,
            "payload": payload,
            "status": "queued",
            "execution_id": execution_id,
            "phase": None,
            "attempts": 0,
            "max_attempts": 3,
            "next_run_at": now,
            "locked_until": None,
            "idempotency_key": key,
            "last_error": None,
            "created_at": now,
            "updated_at": None,
        }
        self.jobs[job["uuid"]] = job
        return job

    def _finish_jobs(self, execution_id: str, status: str) -> None:
        for job in self.jobs.values():
            if job["execution_id"] == execution_id and job["status"] in ("queued", "running"):
                job.update(status=status, updated_at=iso(self._now()))

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

    def advance(self, execution_id: str) -> Json:
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
        if (
            target >= 2
            and row["status"] == "running"
            and row["control_phase"] != ("output_verification")
        ):
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
            manifest_sha256=sha256_hex(_canonical(manifest)),
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
                "size_bytes": len(_canonical(manifest).encode("utf-8")),
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
        return json_reply(200, self.status_view(self.advance(row["uuid"])))

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
        return json_reply(200, self.execution_read(row))

    def _verify_outputs(self, call: Call) -> Reply:
        execution_id = call.uuid()
        req = call.body(_VERIFY)
        call.require_superuser()
        row = self._found_execution(execution_id)
        total = self._check_inventory(req, row, self._now())
        report = _canonical(req).encode("utf-8")
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
            return json_reply(200, {"execution": self.execution_read(row), "artifact": same})
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
        return json_reply(200, {"execution": self.execution_read(row), "artifact": artifact})

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
        calculated = sha256_hex(_canonical(products))
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

    # -- read views -------------------------------------------------------------------------------

    def _summary(self, call: Call) -> Reply:
        row = self._found_execution(call.uuid())
        ids = [s["source_identifier"] for s in row["sources"] if "source_identifier" in s]
        return json_reply(
            200,
            {
                "uuid": row["uuid"],
                "project_module": row["project_module"],
                "archive_name": row["archive_name"],
                "status": row["status"],
                "requested_source_count": len(ids),
                "requested_source_identifiers": ids,
                **{
                    k: row[k]
                    for k in (
                        "scheduler_name",
                        "scheduler_job_id",
                        "daliuge_session_id",
                        "control_phase",
                        "scheduler_state",
                        "daliuge_state",
                        "terminal_outcome",
                        "last_error",
                    )
                },
            },
        )

    def _events_of(self, execution_id: str, limit: int) -> list[Json]:
        return [e for e in self.events if e["execution_id"] == execution_id][:limit]

    def _ledger(self, call: Call) -> Reply:
        execution_id = call.uuid()
        include = query_bool(call.request, "include_manifest")
        row = self._found_execution(execution_id)
        recent = self._events_of(execution_id, 5)
        config = self._config_by_uuid(row["project_config_id"])
        active = next(
            (
                j
                for j in self.jobs.values()
                if j["execution_id"] == execution_id and j["status"] in ("queued", "running")
            ),
            None,
        )
        correlation = next(
            (e["correlation_id"] for e in reversed(recent) if e["correlation_id"] is not None), None
        )
        out: Json = {
            k: row[k]
            for k in ("uuid", "status", "execution_phase", "scheduler_name", "scheduler_job_id")
        }
        if correlation is not None:
            out["correlation_id"] = correlation
        if active is not None:
            out["active_job_id"] = active["uuid"]
        if (include is None or include) and row["workflow_manifest"] is not None:
            out["workflow_manifest"] = row["workflow_manifest"]
        record = (row["workflow_manifest"] or {}).get("beampipe_run_record") or {}
        out["last_error"] = row["last_error"]
        out["run_record_phases"] = dict(record.get("phases") or {})
        out["provenance_summary"] = {
            "config_version": config["version"] if config else None,
            "discovery_signature": row["discovery_signature"],
            "recent_events": recent,
        }
        return json_reply(200, out)

    def _execution_events(self, call: Call) -> Reply:
        return json_reply(200, self._events_of(call.uuid(), 100))

    def _observations(self, call: Call) -> Reply:
        execution_id = call.uuid()
        limit = query_int(call.request, "limit")
        offset = max(query_int_or(call.request, "offset", 0), 0)
        self._found_execution(execution_id)
        rows = list(reversed(self.observations.get(execution_id, [])))
        return json_reply(200, rows[offset : offset + max(100 if limit is None else limit, 0)])

    def _artifacts(self, call: Call) -> Reply:
        execution_id = call.uuid()
        self._found_execution(execution_id)
        return json_reply(200, self.artifacts.get(execution_id, []))


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
