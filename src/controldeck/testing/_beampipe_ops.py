"""The operator routes of `FakeBeampipe`: health, readiness, metrics, diagnostics, overview,
the OpenAPI document, workers, scheduler, DALiuGE, graphs, jobs, Slurm credential slots,
notification channels, alert rules and deliveries. Small but stateful where the server is."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from controldeck.testing._beampipe_core import Call, State, user_view
from controldeck.testing._beampipe_projects import valid_credential_name
from controldeck.testing._beampipe_wire import (
    REDACTED,
    AnyT,
    ApiError,
    Bool,
    Int,
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
    query_uuid,
    redact,
    secret_key,
    sha256_hex,
)
from controldeck.testing._server import Reply, json_reply, text_reply

__all__ = ["OPERATIONS", "OpsRoutes"]

_TRIGGER_KINDS = (
    "execution_terminal",
    "discovery_changed",
    "pending_backlog",
    "pending_stale",
    "discovery_stall",
    "dependency_down",
    "daily_summary",
)
# The upstream operations (method, path under /api/v2) and their operationIds.
OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/alert-deliveries"): "list_alert_deliveries",
    ("GET", "/alert-rules"): "list_alert_rules",
    ("POST", "/alert-rules"): "create_alert_rule",
    ("DELETE", "/alert-rules/{id}"): "delete_alert_rule",
    ("PATCH", "/alert-rules/{id}"): "update_alert_rule",
    ("GET", "/daliuge/inspect"): "daliuge_inspect",
    ("GET", "/daliuge/sessions"): "daliuge_sessions",
    ("GET", "/deployment-profiles"): "list_deployment_profiles",
    ("POST", "/deployment-profiles"): "create_deployment_profile",
    ("DELETE", "/deployment-profiles/{id}"): "delete_deployment_profile",
    ("GET", "/deployment-profiles/{id}"): "get_deployment_profile",
    ("PATCH", "/deployment-profiles/{id}"): "update_deployment_profile",
    ("GET", "/diagnostics"): "diagnostics",
    ("GET", "/executions"): "list_executions",
    ("POST", "/executions"): "create_execution",
    ("POST", "/executions/prepare"): "prepare_execution",
    ("GET", "/executions/{id}"): "get_execution",
    ("PATCH", "/executions/{id}"): "patch_execution",
    ("GET", "/executions/{id}/artifacts"): "execution_artifacts",
    ("GET", "/executions/{id}/events"): "list_execution_events",
    ("POST", "/executions/{id}/execute"): "execute_execution",
    ("GET", "/executions/{id}/ledger-snapshot"): "execution_ledger_snapshot",
    ("GET", "/executions/{id}/observations"): "execution_observations",
    ("POST", "/executions/{id}/outputs/verify"): "verify_execution_outputs",
    ("POST", "/executions/{id}/retry"): "retry_execution",
    ("GET", "/executions/{id}/status"): "execution_status",
    ("POST", "/executions/{id}/submission/abandon"): "abandon_execution_submission",
    ("GET", "/executions/{id}/summary"): "execution_summary",
    ("POST", "/graphs/prepare"): "prepare_graph",
    ("GET", "/health"): "health",
    ("GET", "/health/tap"): "health_tap",
    ("POST", "/jobs"): "enqueue_job_handler",
    ("POST", "/login"): "login",
    ("POST", "/logout"): "logout",
    ("GET", "/metrics"): "metrics",
    ("GET", "/notification-channels"): "list_notification_channels",
    ("POST", "/notification-channels"): "create_notification_channel",
    ("DELETE", "/notification-channels/{id}"): "delete_notification_channel",
    ("PATCH", "/notification-channels/{id}"): "update_notification_channel",
    ("POST", "/notification-channels/{id}/test"): "test_notification_channel",
    ("GET", "/overview"): "operator_overview",
    ("POST", "/project-configs"): "upload_project_config",
    ("GET", "/project-configs/{id}"): "get_project_config",
    ("GET", "/project-configs/{id}/versions"): "list_project_config_versions",
    ("POST", "/project-configs/{id}/wasm"): "upload_project_config_wasm",
    ("GET", "/project-configs/{id}/wasm/{sha256}"): "get_project_config_wasm",
    ("GET", "/projects"): "list_projects",
    ("GET", "/projects/contracts"): "list_project_contracts",
    ("GET", "/projects/contracts/{id}"): "get_project_contract",
    ("GET", "/projects/{module}/events"): "list_project_events",
    ("GET", "/ready"): "ready",
    ("POST", "/refresh"): "refresh",
    ("GET", "/scheduler/jobs"): "scheduler_jobs",
    ("GET", "/scheduler/status"): "scheduler_status",
    ("GET", "/slurm/credentials"): "list_slurm_credentials",
    ("GET", "/slurm/credentials/{slot}"): "get_slurm_credential",
    ("GET", "/sources"): "list_sources",
    ("POST", "/sources"): "create_source",
    ("POST", "/sources/bulk"): "bulk_create_sources",
    ("POST", "/sources/discover"): "discover_sources",
    ("DELETE", "/sources/{id}"): "delete_source",
    ("GET", "/sources/{id}"): "get_source",
    ("PATCH", "/sources/{id}"): "update_source",
    ("GET", "/sources/{id}/events"): "list_source_events",
    ("GET", "/sources/{id}/executions"): "list_source_executions",
    ("GET", "/sources/{id}/metadata"): "get_source_metadata",
    ("GET", "/sources/{id}/status"): "get_source_status",
    ("GET", "/user/me"): "current_user",
    ("GET", "/workers"): "list_workers",
    ("POST", "/workers"): "register_worker",
    ("GET", "/workers/leases"): "list_worker_leases",
    ("GET", "/workers/pools"): "list_worker_pools",
    ("GET", "/workers/{id}"): "get_worker",
    ("POST", "/workers/{id}/drain"): "drain_worker",
    ("POST", "/workers/{id}/heartbeat"): "heartbeat_worker",
    ("POST", "/workers/{id}/resume"): "resume_worker",
}
_OPEN_OPERATIONS = frozenset({"health", "health_tap", "login", "refresh", "logout"})
_STALE_AFTER = 30  # seconds without a heartbeat before a worker is stale

_WORKER_REGISTER = Struct(
    "WorkerRegisterRequest",
    id=Opt(UuidT()),
    instance_name=Str(),
    host=Str(),
    process_id=Opt(Int()),
    role=(Str(), lambda: "worker"),
    pool=(Str(), lambda: "default"),
    capabilities=(ListOf(Str()), list),
    labels=(AnyT(), dict),
    version=Str(),
    concurrency_limit=(Int(), lambda: 1),
)
_JOB_CREATE = Struct(
    "JobCreate",
    kind=Str(),
    payload=(AnyT(), dict),
    execution_id=Opt(UuidT()),
    idempotency_key=Opt(Str()),
)
_GRAPH_PREPARE = Struct(
    "GraphPrepareRequest", project_module=Str(), source_identifiers=ListOf(Str())
)
_CHANNEL_CREATE = Struct(
    "NotificationChannelCreate",
    name=Str(),
    kind=Str(),
    config=AnyT(),
    enabled=(Bool(), lambda: True),
)
_CHANNEL_UPDATE = Struct(
    "NotificationChannelUpdate", name=Opt(Str()), config=Opt(AnyT()), enabled=Opt(Bool())
)
_RULE_CREATE = Struct(
    "AlertRuleCreate",
    name=Str(),
    project_module=Opt(Str()),
    severity=(Str(), lambda: "warning"),
    trigger_kind=Str(),
    trigger_config=AnyT(),
    channel_ids=ListOf(UuidT()),
    cooldown_minutes=(Int(), lambda: 60),
    enabled=(Bool(), lambda: True),
)
_RULE_UPDATE = Struct(
    "AlertRuleUpdate",
    name=Opt(Str()),
    project_module=Opt(Str()),
    severity=Opt(Str()),
    trigger_kind=Opt(Str()),
    enabled=Opt(Bool()),
    trigger_config=Opt(AnyT()),
    channel_ids=Opt(ListOf(UuidT())),
    cooldown_minutes=Opt(Int()),
)


def _secret_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("env", "file", "inline_dev")
    )


def _secret_paths(value: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if secret_key(key) or _secret_ref(item):
                out.append(path)
            out.extend(_secret_paths(item, path))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_secret_paths(item, f"{prefix}[{index}]"))
    return out


def _merge_config(existing: Any, patch: Any) -> Any:
    """`merge_notification_config`: `[REDACTED]` keeps a value; null headers are dropped."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(existing) if isinstance(existing, dict) else {}
    for key, value in patch.items():
        if value == REDACTED:
            continue
        if key == "headers" and (value is None or isinstance(value, dict)):
            if value is None:
                merged.pop(key, None)
                continue
            headers = dict(merged.get(key) or {})
            for name, header in value.items():
                if header == REDACTED:
                    continue
                if header is None:
                    headers.pop(name, None)
                else:
                    headers[name] = header
            merged[key] = headers
            continue
        merged[key] = value
    return merged


def _check_channel_config(kind: str, config: Any) -> None:
    field = {"webhook": "url", "email": "smtp_host"}.get(kind)
    if field is None:
        raise ApiError.bad_request("kind must be webhook or email")
    if not isinstance(config, dict) or not isinstance(config.get(field), str):
        raise ApiError.bad_request(f"{kind} config.{field} is required")


def _check_trigger_kind(kind: str) -> None:
    if kind not in _TRIGGER_KINDS:
        raise ApiError.bad_request(
            f"unknown trigger_kind '{kind}'; expected one of: {', '.join(_TRIGGER_KINDS)}"
        )


class OpsRoutes(State):
    """Route handlers for the operator and alerting endpoints."""

    _counters: dict[tuple[str, str, str], int]

    def _ops_routes(self) -> list[tuple[str, str, Callable[[Call], Reply]]]:
        return [
            ("GET", "/ready", self._ready),
            ("GET", "/diagnostics", self._diagnostics),
            ("GET", "/overview", self._overview),
            ("GET", "/user/me", self._me),
            ("GET", "/workers", self._list_workers),
            ("POST", "/workers", self._register_worker),
            ("GET", "/workers/pools", self._worker_pools),
            ("GET", "/workers/leases", self._worker_leases),
            ("GET", "/workers/{id}", self._get_worker),
            ("POST", "/workers/{id}/heartbeat", self._heartbeat),
            ("POST", "/workers/{id}/drain", self._drain),
            ("POST", "/workers/{id}/resume", self._resume),
            ("GET", "/scheduler/status", self._scheduler_status),
            ("GET", "/scheduler/jobs", self._scheduler_jobs),
            ("GET", "/daliuge/inspect", self._daliuge_inspect),
            ("GET", "/daliuge/sessions", self._daliuge_sessions),
            ("POST", "/graphs/prepare", self._prepare_graph),
            ("POST", "/jobs", self._enqueue_job),
            ("GET", "/slurm/credentials", self._list_credentials),
            ("GET", "/slurm/credentials/{slot}", self._get_credential),
            ("GET", "/notification-channels", self._list_channels),
            ("POST", "/notification-channels", self._create_channel),
            ("PATCH", "/notification-channels/{id}", self._update_channel),
            ("DELETE", "/notification-channels/{id}", self._delete_channel),
            ("POST", "/notification-channels/{id}/test", self._test_channel),
            ("GET", "/alert-rules", self._list_rules),
            ("POST", "/alert-rules", self._create_rule),
            ("PATCH", "/alert-rules/{id}", self._update_rule),
            ("DELETE", "/alert-rules/{id}", self._delete_rule),
            ("GET", "/alert-deliveries", self._list_deliveries),
        ]

    # -- health and the system view ---------------------------------------------------------------

    def _health(self, call: Call) -> Reply:
        return json_reply(200, {"status": "ok", "service": "beampipe-v2"})

    def _health_tap(self, call: Call) -> Reply:
        return json_reply(200, {"casda": "not_configured", "vizier": "not_configured"})

    def _queue_depth(self) -> int:
        return sum(1 for j in self.jobs.values() if j["status"] == "queued")

    def _ready(self, call: Call) -> Reply:
        running = sum(1 for j in self.jobs.values() if j["status"] == "running")
        return json_reply(
            200,
            {
                "status": "ready",
                "service": "beampipe-v2",
                "database": "ok",
                "redis": "not_configured",
                "tap_casda": "not_configured",
                "tap_vizier": "not_configured",
                "queue_depth": self._queue_depth(),
                "jobs_running": running,
            },
        )

    def _metrics(self, call: Call) -> Reply:
        lines = [
            "# HELP beampipe_api_requests_total Total Beampipe API requests.",
            "# TYPE beampipe_api_requests_total counter",
        ]
        for (method, route, status), count in sorted(self._counters.items()):
            lines.append(
                f'beampipe_api_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {count}'
            )
        running = sum(1 for j in self.jobs.values() if j["status"] == "running")
        active = sum(
            1
            for e in self.executions.values()
            if e["status"] in ("pending", "running", "awaiting_scheduler", "retrying")
        )
        for name, help_text, value in (
            (
                "beampipe_jobs_queue_depth",
                "Runnable jobs waiting in the queue.",
                self._queue_depth(),
            ),
            ("beampipe_jobs_running", "Jobs running now.", running),
            ("beampipe_executions_active", "Executions not yet terminal.", active),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        return text_reply(200, "\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")

    def _diagnostics(self, call: Call) -> Reply:
        profile = self._resolve_profile(call.request.query.get("profile"), strict=False)
        diagnostics: list[Json] = []
        if not (profile or {}).get("translation", {}).get("tm_url"):
            diagnostics.append(
                {
                    "path": "daliuge",
                    "severity": "warning",
                    "code": "daliuge.not_configured",
                    "message": "DALiuGE endpoints are not fully configured",
                    "hint": "DALiuGE Translator Manager URL is not configured in settings or "
                    "profile",
                }
            )
        stale = self._stale_workers()
        if stale:
            diagnostics.append(
                {
                    "path": "workers.heartbeat",
                    "severity": "warning",
                    "code": "workers.stale",
                    "message": f"{stale} Beampipe worker heartbeat(s) are stale",
                    "hint": "inspect worker leases and host clock skew before forcing recovery",
                }
            )
        healthy = not any(d["severity"] == "error" for d in diagnostics)
        return json_reply(
            200, {"healthy": healthy, "generated_at": iso(self._now()), "diagnostics": diagnostics}
        )

    def _stale_workers(self) -> int:
        now = self._now()
        return sum(
            1
            for w in self.workers.values()
            if w["status"] in ("active", "draining")
            and now - parse_iso(w["last_heartbeat_at"]) > _STALE_AFTER
        )

    def _overview(self, call: Call) -> Reply:
        now = self._now()
        counts = {
            "registered_sources": sum(1 for s in self.sources.values() if s["enabled"]),
            "pending_admissions": sum(
                1 for s in self.sources.values() if s["workflow_run_pending"]
            ),
            "running_executions": sum(
                1
                for e in self.executions.values()
                if e["status"] in ("pending", "running", "awaiting_scheduler", "retrying")
            ),
            "failed_executions": sum(
                1 for e in self.executions.values() if e["status"] == "failed"
            ),
            "queue_depth": self._queue_depth(),
            "active_workers": sum(1 for w in self.workers.values() if w["status"] == "active"),
            "stale_workers": self._stale_workers(),
            "recent_alerts": sum(
                1 for d in self.alert_deliveries if now - parse_iso(d["created_at"]) < 86400
            ),
        }
        return json_reply(
            200,
            {
                "generated_at": iso(now),
                **counts,
                "casda": "not_configured",
                "daliuge": "profile_managed",
                "scheduler": "profile_managed",
            },
        )

    def _me(self, call: Call) -> Reply:
        return json_reply(200, user_view(call.who))

    def openapi_document(self) -> Json:
        """A small OpenAPI 3.1 document listing every operation (upstream operationIds)."""
        paths: Json = {}
        for (method, template), operation_id in sorted(OPERATIONS.items(), key=lambda i: i[0][1]):
            operation: Json = {
                "operationId": operation_id,
                "responses": {"200": {"description": "OK"}},
            }
            if operation_id not in _OPEN_OPERATIONS:
                operation["security"] = [{"BearerAuth": []}]
            paths.setdefault(f"/api/v2{template}", {})[method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Beampipe",
                "version": "0.1.6",
                "description": "FakeBeampipe, a loopback fake of Beampipe Core (Rust v2)",
            },
            "servers": [{"url": "/", "description": "Current host (API routes are under /api/v2)"}],
            "paths": paths,
            "components": {"securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer"}}},
        }

    def _openapi(self, call: Call) -> Reply:
        return json_reply(200, self.openapi_document())

    # -- workers -----------------------------------------------------------------------------------

    def _worker_read(self, row: Json) -> Json:
        age = max(int(self._now() - parse_iso(row["last_heartbeat_at"])), 0)
        if row["status"] == "stopped":
            health = "stopped"
        elif age > _STALE_AFTER:
            health = "stale"
        elif row["status"] == "draining":
            health = "draining"
        else:
            health = "healthy"
        return {
            "id": row["uuid"],
            "instance_name": row["instance_name"],
            "host": row["host_name"],
            "process_id": row["process_id"],
            "role": row["role"],
            "pool": row["pool"],
            "capabilities": row["capabilities"],
            "labels": row["labels"],
            "version": row["version"],
            "concurrency_limit": row["concurrency_limit"],
            "status": row["status"],
            "health": health,
            "active_leases": 0,
            "heartbeat_age_seconds": age,
            "started_at": row["started_at"],
            "last_heartbeat_at": row["last_heartbeat_at"],
            "draining_at": row["draining_at"],
            "stopped_at": row["stopped_at"],
        }

    def _list_workers(self, call: Call) -> Reply:
        stopped = query_bool(call.request, "include_stopped") or False
        rows = [w for w in self.workers.values() if stopped or w["status"] != "stopped"]
        rows.sort(key=lambda w: (w["status"], w["instance_name"], w["started_at"]))
        return json_reply(200, [self._worker_read(w) for w in rows])

    def _register_worker(self, call: Call) -> Reply:
        req = call.body(_WORKER_REGISTER)
        call.require_superuser()
        if (
            not req["instance_name"].strip()
            or not req["host"].strip()
            or not req["pool"].strip()
            or not req["version"].strip()
            or req["concurrency_limit"] < 1
        ):
            raise ApiError.bad_request(
                "worker instance_name, host, pool, version, and positive "
                "concurrency_limit are required"
            )
        if req["role"] not in ("worker", "scheduler_worker"):
            raise ApiError.bad_request("worker role must be worker or scheduler_worker")
        now = iso(self._now())
        worker_id = req["id"] or self._id()
        existing = self.workers.get(worker_id)
        row = {
            "uuid": worker_id,
            "instance_name": req["instance_name"],
            "host_name": req["host"],
            "process_id": req["process_id"],
            "role": req["role"],
            "pool": req["pool"],
            "capabilities": req["capabilities"],
            "labels": req["labels"],
            "version": req["version"],
            "concurrency_limit": req["concurrency_limit"],
            "status": "draining" if existing and existing["status"] == "draining" else "active",
            "started_at": existing["started_at"] if existing else now,
            "last_heartbeat_at": now,
            "draining_at": existing["draining_at"] if existing else None,
            "stopped_at": None,
            "updated_at": now,
        }
        self.workers[worker_id] = row
        return json_reply(201, self._worker_read(row))

    def _found_worker(self, call: Call) -> Json:
        row = self.workers.get(call.uuid())
        if row is None:
            raise ApiError.not_found()
        return row

    def _get_worker(self, call: Call) -> Reply:
        return json_reply(200, self._worker_read(self._found_worker(call)))

    def _heartbeat(self, call: Call) -> Reply:
        worker_id = call.uuid()
        row = self.workers.get(worker_id)
        if row is None or row["status"] not in ("active", "draining"):
            raise ApiError.not_found()
        now = iso(self._now())
        row.update(last_heartbeat_at=now, updated_at=now)
        return json_reply(200, {"worker_id": worker_id, "accepted": True, "recorded_at": now})

    def _set_draining(self, call: Call, draining: bool) -> Reply:
        worker_id = call.uuid()
        call.require_superuser()
        row = self.workers.get(worker_id)
        if row is None or row["status"] == "stopped":
            raise ApiError.not_found()
        now = iso(self._now())
        row.update(
            status="draining" if draining else "active",
            updated_at=now,
            draining_at=(row["draining_at"] or now) if draining else None,
        )
        self._event(
            "worker.drained" if draining else "worker.resumed",
            "system",
            {"worker_id": worker_id, "draining": draining},
            actor=f"user:{call.who['username']}",
            correlation_id=worker_id,
        )
        return json_reply(200, self._worker_read(row))

    def _drain(self, call: Call) -> Reply:
        return self._set_draining(call, True)

    def _resume(self, call: Call) -> Reply:
        return self._set_draining(call, False)

    def _worker_pools(self, call: Call) -> Reply:
        now = self._now()
        pools: dict[str, Json] = {}
        for w in self.workers.values():
            if w["status"] == "stopped":
                continue
            pool = pools.setdefault(
                w["pool"],
                {
                    "pool": w["pool"],
                    "active_workers": 0,
                    "draining_workers": 0,
                    "unhealthy_workers": 0,
                    "concurrency_limit": 0,
                    "active_leases": 0,
                },
            )
            if w["status"] == "active":
                pool["active_workers"] += 1
                pool["concurrency_limit"] += w["concurrency_limit"]
            if w["status"] == "draining":
                pool["draining_workers"] += 1
            if now - parse_iso(w["last_heartbeat_at"]) > 120:
                pool["unhealthy_workers"] += 1
        running = sum(1 for j in self.jobs.values() if j["status"] == "running")
        if "default" in pools:
            pools["default"]["active_leases"] = running
        return json_reply(200, [pools[name] for name in sorted(pools)])

    def _worker_leases(self, call: Call) -> Reply:
        worker_id = query_uuid(call.request, "worker_id")
        query_bool(call.request, "include_expired")
        if worker_id is not None:  # the fake's jobs are leased to no registered worker
            return json_reply(200, [])
        leases = [
            {
                "job_id": j["uuid"],
                "kind": j["kind"],
                "execution_id": j["execution_id"],
                "worker_id": None,
                "claim_id": None,
                "pool": "default",
                "required_capability": "execute" if j["kind"] == "execute" else None,
                "attempts": j["attempts"],
                "lease_expires_at": j["locked_until"],
                "heartbeat_at": j["updated_at"],
            }
            for j in self.jobs.values()
            if j["status"] == "running"
        ]
        return json_reply(200, leases)

    # -- scheduler, DALiuGE, graphs, jobs ----------------------------------------------------------

    def _resolve_profile(self, name: str | None, *, strict: bool = True) -> Json | None:
        """`resolve_operator_profile`: by name (404 if unknown), else the lone default."""
        if name is not None:
            found = self._profile_by_name(name)
            if found is None and strict:
                raise ApiError.not_found()
            return found
        profiles = list(reversed(self.profiles.values()))
        for profile in profiles:
            if profile["is_default"] and profile["project_module"] is None:
                return profile
        defaults = [p for p in profiles if p["is_default"]]
        return defaults[0] if len(defaults) == 1 else None

    def _scheduler_status(self, call: Call) -> Reply:
        profile = self._resolve_profile(call.request.query.get("profile"))
        if profile is None:
            raise ApiError.bad_request(
                "a SLURM deployment profile is required; pass ?profile=<name>"
            )
        deployment = profile["deployment"]
        if deployment["kind"] != "slurm_remote":
            raise ApiError.bad_request(
                f"deployment profile '{profile['name']}' is not slurm_remote"
            )
        resources = deployment.get("resources") or {}
        request = {
            "account": deployment["account"],
            "partition": resources.get("partition"),
            "nodes": resources.get("nodes", deployment.get("num_nodes", 1)),
            "wall_time_minutes": resources.get(
                "wall_time_minutes", deployment.get("job_duration_minutes", 30)
            ),
        }
        rendered = "\n".join(
            [
                f"#SBATCH --account={request['account']}",
                f"#SBATCH --nodes={request['nodes']}",
                f"#SBATCH --time={request['wall_time_minutes']}",
            ]
            + ([f"#SBATCH --partition={request['partition']}"] if request["partition"] else [])
        )
        connectivity = {
            "login_node": deployment["login_node"],
            "reachable": True,
            "ssh_port": deployment.get("ssh_port", 22),
        }
        return json_reply(
            200,
            {
                "profile": profile["name"],
                "connectivity": connectivity,
                "resource_request": request,
                "rendered_resource_request": rendered,
            },
        )

    def _scheduler_jobs(self, call: Call) -> Reply:
        limit = query_int(call.request, "limit")
        offset = max(query_int_or(call.request, "offset", 0), 0)
        rows = [e for e in reversed(self.executions.values()) if e["scheduler_name"] == "slurm"]
        rows = rows[offset : offset + max(100 if limit is None else limit, 0)]
        return json_reply(
            200,
            [
                {
                    "execution_id": e["uuid"],
                    "project_module": e["project_module"],
                    "execution_status": e["status"],
                    **{
                        k: e[k]
                        for k in (
                            "scheduler_job_id",
                            "scheduler_state",
                            "scheduler_raw_state",
                            "scheduler_reason",
                            "daliuge_session_id",
                            "remote_session_dir",
                        )
                    },
                    "submitted_at": e["created_at"],
                    "last_reconciled_at": e["last_reconciled_at"],
                }
                for e in rows
            ],
        )

    def _daliuge_endpoints(self, profile: Json | None) -> tuple[str, str | None]:
        tm_url = (profile or {}).get("translation", {}).get("tm_url")
        if tm_url is None:
            raise ApiError.bad_request(
                "DALiuGE Translator Manager URL is not configured in settings or profile"
            )
        deployment = (profile or {}).get("deployment") or {}
        manager = None
        if deployment.get("kind") == "rest_remote" and deployment.get("deploy_host"):
            scheme = "https" if deployment.get("use_https") else "http"
            port = deployment.get("deploy_port") or 8001
            manager = f"{scheme}://{deployment['deploy_host']}:{port}"
        return tm_url, manager

    def _daliuge_inspect(self, call: Call) -> Reply:
        profile = self._resolve_profile(call.request.query.get("profile"))
        tm_url, manager = self._daliuge_endpoints(profile)
        translator = {"url": tm_url, "reachable": True, "algorithms": ["metis", "mysarkar"]}
        manager_view = (
            None if manager is None else {"url": manager, "reachable": True, "nodes": ["127.0.0.1"]}
        )
        return json_reply(
            200,
            {
                "profile": profile["name"] if profile else None,
                "translator": translator,
                "manager": manager_view,
            },
        )

    def _daliuge_sessions(self, call: Call) -> Reply:
        profile = self._resolve_profile(call.request.query.get("profile"))
        _, manager = self._daliuge_endpoints(profile)
        if manager is None:
            raise ApiError.bad_request(
                "DALiuGE Data Island Manager URL is not configured for this profile"
            )
        sessions = [
            {
                "sessionId": e["daliuge_session_id"],
                "status": {"running": 1, "finished": 2, "cancelled": 4}.get(
                    e["daliuge_state"] or "", 0
                ),
            }
            for e in self.executions.values()
            if e["daliuge_session_id"] and e["scheduler_name"] == "daliuge"
        ]
        return json_reply(200, sessions)

    def _prepare_graph(self, call: Call) -> Reply:
        req = call.body(_GRAPH_PREPARE)
        module, sids = req["project_module"], req["source_identifiers"]
        if not module.strip() or not sids:
            raise ApiError.bad_request(
                "project_module and at least one source_identifier are required"
            )
        config = self._active_config(module)
        if config is None:
            raise ApiError.bad_request(f"project '{module}' has no active configuration")
        for sid in sids:
            row = self._source_by_identifier(module, sid)
            problem = self._readiness_problem(
                row, self.archive_metadata.get((module, sid), []), sid
            )
            if problem is not None:
                raise ApiError.bad_request(problem)
        manifest = {"project_module": module, "sources": [{"source_identifier": s} for s in sids]}
        source_graph = {"nodes": [{"name": "Scatter/GenericScatterApp/Beam"}], "links": []}
        patched = {
            "nodes": [{"name": "Scatter/GenericScatterApp/Beam", "num_of_copies": len(sids)}],
            "links": [],
        }

        def digest(value: Any) -> str:
            return sha256_hex(json.dumps(value, sort_keys=True, separators=(",", ":")))

        return json_reply(
            200,
            {
                "project_module": module,
                "source_identifiers": sids,
                "project_config_id": config["uuid"],
                "project_config_version": config["version"],
                "project_spec_sha256": config["spec_sha256"],
                "manifest_sha256": digest(manifest),
                "source_graph_sha256": digest(source_graph),
                "patched_graph_sha256": digest(patched),
                "patch_summary": {
                    "applied": 1,
                    "patches": [
                        {
                            "node": "Scatter/GenericScatterApp/Beam",
                            "field": "num_of_copies",
                            "value": len(sids),
                        }
                    ],
                },
                "manifest": manifest,
                "source_graph": source_graph,
                "patched_graph": patched,
            },
        )

    def _enqueue_job(self, call: Call) -> Reply:
        req = call.body(_JOB_CREATE)
        call.require_superuser()
        key = req["idempotency_key"]
        existing = next(
            (j for j in self.jobs.values() if key is not None and j["idempotency_key"] == key), None
        )
        if existing is not None:
            return json_reply(202, self._job_view(existing))
        now = iso(self._now())
        job = {
            "uuid": self._id(),
            "kind": req["kind"],
            "payload": req["payload"],
            "status": "queued",
            "execution_id": req["execution_id"],
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
        return json_reply(202, self._job_view(job))

    @staticmethod
    def _job_view(job: Json) -> Json:
        """`JobResponse` of a stored job (payload redacted)."""
        return {**job, "payload": redact(job["payload"])}

    # -- Slurm credential slots --------------------------------------------------------------------

    def _list_credentials(self, call: Call) -> Reply:
        return json_reply(
            200,
            {"slots": [self.slurm_credentials[name] for name in sorted(self.slurm_credentials)]},
        )

    def _get_credential(self, call: Call) -> Reply:
        slot = call.params["slot"]
        if not valid_credential_name(slot):
            raise ApiError.bad_request(
                "deployment.ssh_credential must be 1-50 ASCII letters, digits, '.', '_', or '-'"
            )
        found = self.slurm_credentials.get(slot)
        if found is None:
            raise ApiError.not_found()
        return json_reply(200, found)

    # -- notification channels, alert rules, deliveries -------------------------------------------

    @staticmethod
    def _channel_view(row: Json) -> Json:
        """`NotificationChannelResponse`: config redacted, secret and configured fields listed."""
        config = row["config"]
        return {
            "uuid": row["uuid"],
            "name": row["name"],
            "kind": row["kind"],
            "config": redact(config),
            "secret_fields": _secret_paths(config),
            "configured_fields": list(config) if isinstance(config, dict) else [],
            "enabled": row["enabled"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def _list_channels(self, call: Call) -> Reply:
        rows = sorted(self.notification_channels.values(), key=lambda r: r["name"])
        return json_reply(200, [self._channel_view(r) for r in rows])

    def _create_channel(self, call: Call) -> Reply:
        req = call.body(_CHANNEL_CREATE)
        call.require_superuser()
        if req["kind"] not in ("webhook", "email"):
            raise ApiError.bad_request("kind must be webhook or email")
        _check_channel_config(req["kind"], req["config"])
        row = {
            "uuid": self._id(),
            "name": req["name"],
            "kind": req["kind"],
            "config": req["config"],
            "enabled": req["enabled"],
            "created_at": iso(self._now()),
            "updated_at": None,
        }
        self.notification_channels[row["uuid"]] = row
        return json_reply(201, self._channel_view(row))

    def _update_channel(self, call: Call) -> Reply:
        channel_id = call.uuid()
        req = call.body(_CHANNEL_UPDATE)
        call.require_superuser()
        row = self.notification_channels.get(channel_id)
        if row is None:
            raise ApiError.not_found()
        if req["config"] is not None:
            merged = _merge_config(row["config"], req["config"])
            _check_channel_config(row["kind"], merged)
            row["config"] = merged
        if req["name"] is not None:
            row["name"] = req["name"]
        if req["enabled"] is not None:
            row["enabled"] = req["enabled"]
        row["updated_at"] = iso(self._now())
        return json_reply(200, self._channel_view(row))

    def _delete_channel(self, call: Call) -> Reply:
        channel_id = call.uuid()
        call.require_superuser()
        if self.notification_channels.pop(channel_id, None) is None:
            raise ApiError.not_found()
        return Reply(204)

    def _test_channel(self, call: Call) -> Reply:
        channel_id = call.uuid()
        call.require_superuser()
        row = self.notification_channels.get(channel_id)
        if row is None:
            raise ApiError.bad_request(f"notification channel {channel_id} not found")
        delivery = {
            "uuid": self._id(),
            "rule_id": None,
            "channel_id": channel_id,
            "status": "sent" if row["enabled"] else "failed",
            "payload": {
                "alert": "test",
                "severity": "info",
                "project_module": "system",
                "summary": "Beampipe test notification",
            },
            "error": None if row["enabled"] else "channel is disabled",
            "created_at": iso(self._now()),
        }
        self.alert_deliveries.append(delivery)
        return json_reply(200, {"delivery_id": delivery["uuid"], "status": "sent_or_failed"})

    def _list_rules(self, call: Call) -> Reply:
        query_int(call.request, "limit")  # accepted and ignored, as the server does
        query_int(call.request, "offset")
        return json_reply(200, sorted(self.alert_rules.values(), key=lambda r: r["name"]))

    def _create_rule(self, call: Call) -> Reply:
        req = call.body(_RULE_CREATE)
        call.require_superuser()
        _check_trigger_kind(req["trigger_kind"])
        row = {
            "uuid": self._id(),
            "name": req["name"],
            "project_module": req["project_module"],
            "enabled": req["enabled"],
            "severity": req["severity"],
            "trigger_kind": req["trigger_kind"],
            "trigger_config": req["trigger_config"],
            "channel_ids": req["channel_ids"],
            "cooldown_minutes": req["cooldown_minutes"],
            "last_fired_at": None,
            "created_at": iso(self._now()),
            "updated_at": None,
        }
        self.alert_rules[row["uuid"]] = row
        return json_reply(201, row)

    def _update_rule(self, call: Call) -> Reply:
        rule_id = call.uuid()
        req = call.body(_RULE_UPDATE)
        call.require_superuser()
        if req["trigger_kind"] is not None:
            _check_trigger_kind(req["trigger_kind"])
        row = self.alert_rules.get(rule_id)
        if row is None:
            raise ApiError.not_found()
        row.update({k: v for k, v in req.items() if v is not None})
        row["updated_at"] = iso(self._now())
        return json_reply(200, row)

    def _delete_rule(self, call: Call) -> Reply:
        rule_id = call.uuid()
        call.require_superuser()
        if self.alert_rules.pop(rule_id, None) is None:
            raise ApiError.not_found()
        return Reply(204)

    def _list_deliveries(self, call: Call) -> Reply:
        limit = query_int(call.request, "limit")
        query_int(call.request, "offset")
        rows = list(reversed(self.alert_deliveries))[: max(50 if limit is None else limit, 0)]
        return json_reply(200, [{**d, "payload": redact(d["payload"])} for d in rows])
