"""The execution routes of `FakeBeampipe`: admission, idempotent create, the execute job and
the run's progress on status polls, cancel, retry, submission abandonment, output
verification, and the read views (status, summary, ledger snapshot, events, observations,
artifacts)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from controldeck.testing._beampipe_core import TERMINAL, Call, State
from controldeck.testing._beampipe_wire import (
    ApiError,
    Enum,
    Json,
    ListOf,
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
_KEY = re.compile(r"[!-~]{1,128}")  # visible ASCII, no whitespace
_DEBUG_KEYS = (
    "dim_session_status_url",
    "dim_graph_status_url",
    "slurm_session_dir",
    "slurm_login_node",
    "slurm_remote_user",
)


def canonical(value: Any) -> str:
    """A `json!` value printed by serde_json: sorted keys, compact, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ExecutionRoutes(State):
    """Route handlers for executions."""

    def _execution_routes(self) -> list[tuple[str, str, Callable[[Call], Reply]]]:
        e = "/executions/{id}"
        return [
            ("POST", "/executions/prepare", self._prepare),
            ("POST", "/executions", self._create_execution),
            ("GET", "/executions", self._list_executions),
            ("GET", e, self._get_execution),
            ("PATCH", e, self._patch_execution),
            ("GET", f"{e}/summary", self._summary),
            ("GET", f"{e}/ledger-snapshot", self._ledger),
            ("GET", f"{e}/events", self._execution_events),
            ("GET", f"{e}/observations", self._observations),
            ("GET", f"{e}/artifacts", self._artifacts),
        ]

    # -- views ----------------------------------------------------------------------------------

    def _read(self, row: Json) -> Json:
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

    def _status_view(self, row: Json) -> Json:
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
            problem = self._readiness_problem(row, metadata, sid)
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
            canonical(
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
                return json_reply(200, self._read(existing))
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
        return json_reply(201, self._read(row))

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
            "discovery_signature": sha256_hex(canonical(signatures)) if signatures else None,
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
        return json_reply(200, self._read(self._found_execution(call.uuid())))

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
        return json_reply(200, self._read(row))

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
