"""The routes of `FakeBeampipe` for project configs (YAML versions, WASM, contracts,
project events), the source registry with discovery, and deployment profiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from controldeck.testing._beampipe_core import TERMINAL, Call, State
from controldeck.testing._beampipe_wire import (
    ApiError,
    Bool,
    Enum,
    Int,
    Json,
    ListOf,
    Opt,
    Rejection,
    Str,
    Struct,
    Tagged,
    iso,
    parse_iso,
    query_bool,
    query_int,
    query_int_or,
    redact,
    sha256_hex,
)
from controldeck.testing._beampipe_yaml import validate_project_config
from controldeck.testing._server import Reply, json_reply

__all__ = ["PROFILE", "ProjectRoutes"]

_WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
_DISCOVERY_MESSAGE = (
    "Sources marked for rediscovery. Discovery runs asynchronously via the background scheduler."
)

SOURCE_CREATE = Struct(
    "SourceCreate", project_module=Str(), source_identifier=Str(), enabled=(Bool(), lambda: False)
)
_SOURCE_BULK = Struct("SourceBulkCreate", items=ListOf(SOURCE_CREATE))
_SOURCE_UPDATE = Struct("SourceUpdate", enabled=Opt(Bool()), stale_after_hours=Opt(Int()))
_DISCOVER = Struct(
    "DiscoverTriggerRequest",
    project_module=Str(),
    source_identifier=Opt(Str()),
    source_identifiers=Opt(ListOf(Str())),
)

_TRANSLATION = Struct(
    "DaliugeTranslationConfig",
    deny_unknown=True,
    algo=(Enum("metis", "mysarkar"), lambda: "metis"),
    num_par=(Int(), lambda: 1),
    num_islands=(Int(), lambda: 0),
    tm_url=Opt(Str()),
)
_REST = Struct(
    "RestRemoteDeploymentConfig",
    deny_unknown=True,
    dim_host_for_tm=Opt(Str()),
    dim_port_for_tm=(Opt(Int()), lambda: 8001),
    deploy_host=Opt(Str()),
    deploy_port=(Opt(Int()), lambda: 8001),
    use_https=(Bool(), lambda: False),
    verify_ssl=(Bool(), lambda: True),
)
_RESOURCES = Struct(
    "SlurmResourceConfig",
    deny_unknown=True,
    partition=Opt(Str()),
    nodes=Opt(Int()),
    tasks=Opt(Int()),
    cpus_per_task=Opt(Int()),
    memory=Opt(Str()),
    wall_time_minutes=Opt(Int()),
    constraint=Opt(Str()),
    quality_of_service=Opt(Str()),
)
_TOPOLOGY = Struct(
    "DaliugeManagerTopologyConfig",
    deny_unknown=True,
    nodes=Opt(Int()),
    islands=Opt(Int()),
    co_host_dim=(Bool(), lambda: False),
)
_SLURM = Struct(
    "SlurmRemoteDeploymentConfig",
    deny_unknown=True,
    login_node=Str(),
    ssh_port=(Int(), lambda: 22),
    remote_user=Opt(Str()),
    ssh_credential=Opt(Str()),
    account=Str(),
    home_dir=Str(),
    log_dir=Str(),
    exec_prefix=(Str(), lambda: "srun -l"),
    dlg_root=Str(),
    venv=Opt(Str()),
    modules=Opt(Str()),
    facility=(Str(), lambda: "setonix"),
    job_duration_minutes=(Int(), lambda: 30),
    num_nodes=(Int(), lambda: 1),
    num_islands=(Int(), lambda: 1),
    verbose_level=(Int(), lambda: 1),
    max_threads=(Int(), lambda: 0),
    all_nics=(Bool(), lambda: False),
    zerorun=(Bool(), lambda: False),
    sleepncopy=(Bool(), lambda: False),
    check_with_session=(Bool(), lambda: False),
    verify_ssl=Opt(Bool()),
    slurm_template=Opt(Str()),
    resources=(_RESOURCES, dict),
    manager_topology=(_TOPOLOGY, dict),
    container_runtime=Opt(Str()),
    environment_setup=Opt(Str()),
)
PROFILE = Struct(
    "DeploymentProfile",
    deny_unknown=True,
    name=Str(),
    description=Opt(Str()),
    project_module=Opt(Str()),
    is_default=(Bool(), lambda: False),
    max_concurrent_executions=Opt(Int()),
    translation=_TRANSLATION,
    deployment=Tagged("kind", {"rest_remote": _REST, "slurm_remote": _SLURM}),
)

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _drop_none(value: Any) -> Any:
    """serde's `skip_serializing_if = "Option::is_none"`, on every nested object."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def valid_credential_name(name: str) -> bool:
    trimmed = name.strip()
    return 0 < len(trimmed) <= 50 and ".." not in trimmed and set(trimmed) <= _NAME_CHARS


def _profile_problem(profile: Json) -> str | None:
    """`DeploymentProfile::validate`: the first problem, or None."""
    name = profile["name"]
    if not name.strip() or len(name) > 50 or not set(name) <= _NAME_CHARS:
        return "name must be 1-50 ASCII letters, digits, '.', '_', or '-'"
    translation, deployment = profile["translation"], profile["deployment"]
    if translation["num_par"] < 1:
        return "translation.num_par must be >= 1"
    limit = profile["max_concurrent_executions"]
    if limit is not None and limit < 1:
        return "max_concurrent_executions must be >= 1 when set"
    if translation["num_islands"] < 0:
        return "translation.num_islands must be >= 0"
    if deployment["kind"] == "rest_remote":
        for key in ("dim_port_for_tm", "deploy_port"):
            port = deployment[key]
            if port is not None and not 1 <= port <= 65535:
                return f"deployment.{key} must be 1-65535"
        if not (deployment["deploy_host"] or "").strip():
            return "deployment.deploy_host is required"
        return None
    return _slurm_problem(deployment)


def _slurm_problem(dep: Json) -> str | None:
    if not dep["login_node"].strip():
        return "deployment.login_node is required"
    if dep["ssh_credential"] is not None and not valid_credential_name(dep["ssh_credential"]):
        return "deployment.ssh_credential must be 1-50 ASCII letters, digits, '.', '_', or '-'"
    if not 1 <= dep["ssh_port"] <= 65535:
        return "deployment.ssh_port must be 1-65535"
    if not dep["dlg_root"].strip():
        return "deployment.dlg_root is required"
    if not dep["dlg_root"].strip().strip("/"):
        return "deployment.dlg_root must be a dedicated directory, not the remote filesystem root"
    if not dep["account"].strip():
        return "deployment.account is required"
    for key in ("home_dir", "log_dir", "dlg_root"):
        if not dep[key].startswith("/"):
            return f"deployment.{key} must be an absolute remote path"
    resources, topology = dep["resources"], dep["manager_topology"]
    effective = [
        (
            resources["nodes"] if resources["nodes"] is not None else dep["num_nodes"],
            "deployment.resources.nodes",
        ),
        (
            topology["islands"] if topology["islands"] is not None else dep["num_islands"],
            "deployment.manager_topology.islands",
        ),
        (
            resources["wall_time_minutes"]
            if resources["wall_time_minutes"] is not None
            else dep["job_duration_minutes"],
            "deployment.resources.wall_time_minutes",
        ),
        (resources["tasks"], "deployment.resources.tasks"),
        (resources["cpus_per_task"], "deployment.resources.cpus_per_task"),
    ]
    for value, name in effective:
        if value is not None and value < 1:
            return f"{name} must be >= 1"
    for key in ("partition", "memory", "constraint", "quality_of_service"):
        if resources[key] is not None and not resources[key].strip():
            return f"deployment.resources.{key} must not be empty when set"
    if topology["nodes"] is not None and topology["nodes"] < 1:
        return "deployment.manager_topology.nodes must be >= 1"
    return None


def profile_view(row: Json) -> Json:
    """`DeploymentProfileResponse`: the stored row with secret-looking keys masked (the
    server redacts `translation` and `deployment`, so `ssh_credential` reads `[REDACTED]`)."""
    return {
        **row,
        "translation": redact(row["translation"]),
        "deployment": redact(row["deployment"]),
    }


def profile_spec_sha256(profile: Json) -> str:
    """`deployment_profile_spec_sha256`: a `json!` object, so keys sort at every level."""
    canonical = {
        k: profile[k]
        for k in (
            "name",
            "description",
            "project_module",
            "is_default",
            "max_concurrent_executions",
            "translation",
            "deployment",
        )
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text)


class ProjectRoutes(State):
    """Route handlers for project configs, sources and deployment profiles."""

    def _project_routes(self) -> list[tuple[str, str, Callable[[Call], Reply]]]:
        return [
            ("POST", "/project-configs", self._upload_config),
            ("GET", "/project-configs/{id}", self._get_config),
            ("GET", "/project-configs/{id}/versions", self._config_versions),
            ("POST", "/project-configs/{id}/wasm", self._upload_wasm),
            ("GET", "/project-configs/{id}/wasm/{sha256}", self._get_wasm),
            ("GET", "/projects", self._list_projects),
            ("GET", "/projects/contracts", self._list_contracts),
            ("GET", "/projects/contracts/{id}", self._get_contract),
            ("GET", "/projects/{module}/events", self._project_events),
            ("POST", "/sources", self._create_source),
            ("GET", "/sources", self._list_sources),
            ("POST", "/sources/bulk", self._bulk_sources),
            ("POST", "/sources/discover", self._discover),
            ("GET", "/sources/{id}", self._get_source),
            ("PATCH", "/sources/{id}", self._update_source),
            ("DELETE", "/sources/{id}", self._delete_source),
            ("GET", "/sources/{id}/status", self._source_status),
            ("GET", "/sources/{id}/metadata", self._source_metadata),
            ("GET", "/sources/{id}/executions", self._source_executions),
            ("GET", "/sources/{id}/events", self._source_events),
            ("POST", "/deployment-profiles", self._create_profile),
            ("GET", "/deployment-profiles", self._list_profiles),
            ("GET", "/deployment-profiles/{id}", self._get_profile),
            ("PATCH", "/deployment-profiles/{id}", self._update_profile),
            ("DELETE", "/deployment-profiles/{id}", self._delete_profile),
        ]

    # -- project configs ----------------------------------------------------------------------

    def _store_config(self, text: str) -> Json:
        """Validate and store a project config as a new active version; the report.

        Raises:
            ApiError: The config is invalid (`project_config_validation_failed`).
        """
        report, spec = validate_project_config(text)
        if spec is None:
            raise ApiError("project_config_validation_failed", diagnostics=report["errors"])
        project_id = report["project_id"]
        pinned = sum(
            1
            for e in self.executions.values()
            if e["project_module"] == project_id
            and e["status"] not in TERMINAL
            and (self._config_by_uuid(e["project_config_id"]) or {}).get("spec_sha256")
            != report["spec_sha256"]
        )
        if pinned:
            report["warnings"] = [
                {
                    "path": "spec_sha256",
                    "severity": "warning",
                    "code": "in_flight_config_pins",
                    "message": f"{pinned} in-flight execution(s) pin a different project config "
                    "spec_sha256; new config applies to future runs only",
                }
            ]
            report["spec_sha256"] = report.pop("spec_sha256")
        versions = self.configs.setdefault(project_id, [])
        for row in versions:
            row["active"] = False
        row = {
            "uuid": self._id(),
            "project_id": project_id,
            "version": len(versions) + 1,
            "spec": spec,
            "spec_sha256": report["spec_sha256"],
            "active": True,
            "uploaded_at": iso(self._now()),
        }
        versions.append(row)
        self._event(
            "config.activated",
            project_id,
            {"spec_sha256": row["spec_sha256"], "version": row["version"]},
            actor="system:api",
        )
        return report

    def _upload_config(self, call: Call) -> Reply:
        try:
            text = call.request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejection(
                400,
                "Request body didn't contain valid UTF-8: "
                f"invalid utf-8 sequence of 1 bytes from index {exc.start}",
            ) from None
        call.require_superuser()
        return json_reply(201, self._store_config(text))

    def _found_config(self, project_id: str) -> Json:
        row = self._active_config(project_id)
        if row is None:
            raise ApiError.not_found()
        return row

    def _get_config(self, call: Call) -> Reply:
        return json_reply(200, self._found_config(call.params["id"]))

    def _config_versions(self, call: Call) -> Reply:
        return json_reply(200, self.configs.get(call.params["id"], [])[::-1])

    def _upload_wasm(self, call: Call) -> Reply:
        call.require_superuser()
        config = self._found_config(call.params["id"])
        body = call.request.body
        if not body:
            raise ApiError("wasm_validation_failed", "wasm module bytes are empty")
        if not body.startswith(_WASM_MAGIC):
            raise ApiError(
                "wasm_validation_failed",
                "wasm engine error: failed to parse WebAssembly module: "
                "magic header not detected: bad magic number",
            )
        digest = sha256_hex(body)
        self.wasm_modules[(config["uuid"], digest)] = {
            "bytes": body,
            "uploaded_at": iso(self._now()),
        }
        return json_reply(201, {"wasm_sha256": digest, "project_config_id": config["uuid"]})

    def _get_wasm(self, call: Call) -> Reply:
        download = query_bool(call.request, "download")
        config = self._found_config(call.params["id"])
        sha = call.params["sha256"]
        stored = self.wasm_modules.get((config["uuid"], sha))
        if stored is None:
            raise ApiError.not_found()
        if download:
            return Reply(200, stored["bytes"], "application/wasm")
        return json_reply(
            200,
            {
                "wasm_sha256": sha,
                "project_config_id": config["uuid"],
                "uploaded_at": stored["uploaded_at"],
            },
        )

    def _active_configs(self) -> list[Json]:
        rows = [row for rows in self.configs.values() for row in rows if row["active"]]
        return sorted(rows, key=lambda row: row["project_id"])

    def _list_projects(self, call: Call) -> Reply:
        return json_reply(
            200,
            [
                {"project_id": r["project_id"], "version": r["version"], "active": r["active"]}
                for r in self._active_configs()
            ],
        )

    @staticmethod
    def _contract(row: Json) -> Json:
        return {
            "project_id": row["project_id"],
            "valid": True,
            "errors": [],
            "spec_sha256": row["spec_sha256"],
        }

    def _list_contracts(self, call: Call) -> Reply:
        return json_reply(200, [self._contract(row) for row in self._active_configs()])

    def _get_contract(self, call: Call) -> Reply:
        return json_reply(200, self._contract(self._found_config(call.params["id"])))

    def _project_events(self, call: Call) -> Reply:
        limit = query_int(call.request, "limit")
        offset = query_int(call.request, "offset")
        rows = [e for e in reversed(self.events) if e["project_module"] == call.params["module"]]
        start = max(offset or 0, 0)
        return json_reply(200, rows[start : start + max(50 if limit is None else limit, 0)])

    # -- sources ------------------------------------------------------------------------------

    def _upsert_source(self, project_module: str, source_identifier: str, enabled: bool) -> Json:
        """`POST /sources`: insert, or overwrite `enabled` of the existing row."""
        row = self._source_by_identifier(project_module, source_identifier)
        if row is None:
            row = {
                "uuid": self._id(),
                "project_module": project_module,
                "source_identifier": source_identifier,
                "enabled": enabled,
                "created_at": iso(self._now()),
                "last_checked_at": None,
                "last_attempted_at": None,
                "stale_after_hours": None,
                "discovery_signature": None,
                "last_executed_discovery_signature": None,
                "discovery_claim_token": None,
                "discovery_claim_expires_at": None,
                "workflow_run_pending": False,
                "workflow_run_pending_at": None,
                "workflow_claim_token": None,
                "workflow_claimed_at": None,
                "workflow_claim_expires_at": None,
            }
            self.sources[row["uuid"]] = row
        row["enabled"] = enabled
        return row

    def _create_source(self, call: Call) -> Reply:
        body = call.body(SOURCE_CREATE)
        row = self._upsert_source(
            body["project_module"], body["source_identifier"], body["enabled"]
        )
        return json_reply(200, row)

    def _bulk_sources(self, call: Call) -> Reply:
        items = call.body(_SOURCE_BULK)["items"]
        rows = [
            self._upsert_source(i["project_module"], i["source_identifier"], i["enabled"])
            for i in items
        ]
        return json_reply(200, {"items": rows, "total": len(rows)})

    def _list_sources(self, call: Call) -> Reply:
        module = call.request.query.get("project_module")
        limit = min(max(query_int_or(call.request, "limit", 100), 1), 500)
        offset = max(query_int_or(call.request, "offset", 0), 0)
        rows = [
            r
            for r in reversed(self.sources.values())
            if module is None or r["project_module"] == module
        ]
        return json_reply(200, rows[offset : offset + limit])

    def _found_source(self, call: Call) -> Json:
        row = self.sources.get(call.uuid())
        if row is None:
            raise ApiError.not_found()
        return row

    def _get_source(self, call: Call) -> Reply:
        return json_reply(200, self._found_source(call))

    def _update_source(self, call: Call) -> Reply:
        source_id = call.uuid()
        body = call.body(_SOURCE_UPDATE)
        row = self.sources.get(source_id)
        if row is None:
            raise ApiError.not_found()
        if body["enabled"] is not None:
            row["enabled"] = body["enabled"]
        if "stale_after_hours" in call.request.json():  # absent: unchanged; null: cleared
            row["stale_after_hours"] = body["stale_after_hours"]
        return json_reply(200, row)

    def _delete_source(self, call: Call) -> Reply:
        row = self._found_source(call)
        del self.sources[row["uuid"]]
        self._discovering.pop(row["uuid"], None)
        return Reply(204)

    def _discover(self, call: Call) -> Reply:
        body = call.body(_DISCOVER)
        one, many = body["source_identifier"], body["source_identifiers"]
        if one is not None and many is not None:
            raise ApiError.bad_request(
                "Provide only one of source_identifier or source_identifiers"
            )
        wanted = [one] if one is not None else many
        module = body["project_module"]
        marked: list[str] = []
        for row in self.sources.values():
            if row["project_module"] != module or not row["enabled"]:
                continue
            if wanted and row["source_identifier"] not in wanted:
                continue
            self._start_discovery(row, call)
            marked.append(row["source_identifier"])
        return json_reply(
            200,
            {
                "project_module": module,
                "marked_count": len(marked),
                "source_identifiers": marked,
                "message": _DISCOVERY_MESSAGE,
            },
        )

    def _start_discovery(self, row: Json, call: Call) -> None:
        now = self._now()
        row.update(
            last_checked_at=None,
            last_attempted_at=iso(now),
            discovery_claim_token=self._id(),
            discovery_claim_expires_at=iso(now + 900),
            workflow_claim_token=None,
            workflow_claimed_at=None,
            workflow_claim_expires_at=None,
        )
        self._event(
            "source.discovery_requested",
            row["project_module"],
            {"source_identifier": row["source_identifier"]},
            source_identifier=row["source_identifier"],
            actor=f"user:{call.who['uuid']}",
            correlation_id=call.request_id,
        )
        self._discovering[row["uuid"]] = self.discovery_polls
        if self.discovery_polls <= 0:
            self._finish_discovery(row["uuid"])

    def _finish_discovery(self, source_id: str) -> Json:
        """Finish a source's discovery now: archive metadata, signature, `last_checked_at`.

        Returns:
            The source row.

        Raises:
            KeyError: No source has this id.
        """
        row = self.sources[source_id]
        self._discovering.pop(source_id, None)
        module, sid = row["project_module"], row["source_identifier"]
        signature = sha256_hex(f"discovery:{module}:{sid}")
        now = iso(self._now())
        sbid = str(10000 + int(signature[:8], 16) % 90000)
        metadata_json = {
            "source_identifier": sid,
            "sbid": sbid,
            "datasets": [
                {
                    "dataset_id": f"{sid}_SB{sbid}.ms",
                    "visibility_filename": f"{sid}_SB{sbid}.ms.tar",
                }
            ],
            "discovery_flags": {"visibility_complete": True},
        }
        rows = self.archive_metadata.setdefault((module, sid), [])
        if rows:
            rows[0].update(metadata_json=metadata_json, updated_at=now)
        else:
            rows.append(
                {
                    "uuid": self._id(),
                    "project_module": module,
                    "source_identifier": sid,
                    "sbid": sbid,
                    "metadata_json": metadata_json,
                    "created_at": now,
                    "updated_at": None,
                }
            )
        pending = signature != row["last_executed_discovery_signature"]
        row.update(
            last_checked_at=now,
            discovery_signature=signature,
            discovery_claim_token=None,
            discovery_claim_expires_at=None,
            workflow_run_pending=pending,
            workflow_run_pending_at=now if pending else None,
        )
        self._event(
            "source.discovered",
            module,
            {"discovery_signature": signature, "sbid_count": len(rows)},
            source_identifier=sid,
            actor="system:discovery",
        )
        return row

    def _status_of(self, row: Json) -> Json:
        """`SourceExecutionStatus` of a source row, as the server computes it."""
        sid = row["source_identifier"]
        signature, last = row["discovery_signature"], row["last_executed_discovery_signature"]
        matches = bool(signature) and bool(last) and signature == last
        complete = (
            row["last_checked_at"] is not None
            and bool(signature)
            and row["discovery_claim_token"] is None
        )
        blockers = []
        metadata = self.archive_metadata.get((row["project_module"], sid), [])
        problem = self._readiness_problem(row, metadata, sid)
        if problem is not None:
            blockers.append(problem)
        if matches:
            blockers.append(
                f"Source {sid}: Discovery signature matches last executed run "
                "(already executed for current metadata)."
            )
        blockers = sorted(set(blockers))
        status: Json = {
            "ready_for_execution": not blockers,
            "discovery_complete": complete,
            "workflow_run_pending": row["workflow_run_pending"],
            "discovery_signature": signature,
            "last_executed_discovery_signature": last,
            "signature_matches_last_execution": matches,
            "blockers": blockers,
        }
        if row["workflow_run_pending"] and row["workflow_run_pending_at"] is not None:
            age = self._now() - parse_iso(row["workflow_run_pending_at"])
            status["pending_age_seconds"] = max(int(age), 0)
        return status

    def _source_status(self, call: Call) -> Reply:
        row = self._found_source(call)
        left = self._discovering.get(row["uuid"])
        if left is not None:
            if left > 0:
                self._discovering[row["uuid"]] = left - 1
            else:
                self._finish_discovery(row["uuid"])
        return json_reply(200, self._status_of(row))

    def _source_metadata(self, call: Call) -> Reply:
        row = self._found_source(call)
        metadata = self.archive_metadata.get((row["project_module"], row["source_identifier"]), [])
        return json_reply(
            200, {"source": row, "metadata": metadata, "metadata_count": len(metadata)}
        )

    def _source_executions(self, call: Call) -> Reply:
        source_id = call.uuid()
        limit = min(max(query_int_or(call.request, "limit", 100), 1), 500)
        offset = max(query_int_or(call.request, "offset", 0), 0)
        row = self.sources.get(source_id)
        if row is None:
            raise ApiError.not_found()
        rows = [
            e
            for e in reversed(self.executions.values())
            if e["project_module"] == row["project_module"]
            and any(s.get("source_identifier") == row["source_identifier"] for s in e["sources"])
        ]
        return json_reply(200, rows[offset : offset + limit])

    def _source_events(self, call: Call) -> Reply:
        row = self._found_source(call)
        key = (row["project_module"], row["source_identifier"])
        rows = [
            e for e in reversed(self.events) if (e["project_module"], e["source_identifier"]) == key
        ]
        return json_reply(200, rows[:100])

    # -- deployment profiles ------------------------------------------------------------------

    def _profile_body(self, call: Call) -> Json:
        profile: Json = call.body(PROFILE)
        call.require_superuser()
        problem = _profile_problem(profile)
        if problem is not None:
            raise ApiError.bad_request(problem)
        profile["translation"] = _drop_none(profile["translation"])
        profile["deployment"] = _drop_none(profile["deployment"])
        return profile

    def _check_profile_write(self, profile: Json, exclude: str | None) -> None:
        for other in self.profiles.values():
            if other["uuid"] == exclude:
                continue
            if (
                profile["is_default"]
                and other["is_default"]
                and (other["project_module"] == profile["project_module"])
            ):
                scope = profile["project_module"] or "the global scope"
                raise ApiError.conflict(
                    f"encountered unexpected or invalid data: deployment profile "
                    f"'{other['name']}' is already the default for {scope}"
                )
        if any(
            p["name"] == profile["name"] and p["uuid"] != exclude for p in self.profiles.values()
        ):
            raise ApiError("database_error")  # the unique index on the name

    def _add_profile(self, profile: Json) -> Json:
        """Store a validated `DeploymentProfile` body; the `DeploymentProfileResponse`."""
        self._check_profile_write(profile, None)
        now = iso(self._now())
        row = {
            "uuid": self._id(),
            "name": profile["name"],
            "description": profile["description"],
            "project_module": profile["project_module"],
            "is_default": profile["is_default"],
            "max_concurrent_executions": profile["max_concurrent_executions"],
            "revision": 1,
            "spec_sha256": profile_spec_sha256(profile),
            "translation": profile["translation"],
            "deployment": profile["deployment"],
            "created_at": now,
            "updated_at": None,
        }
        self.profiles[row["uuid"]] = row
        return row

    def _create_profile(self, call: Call) -> Reply:
        return json_reply(201, profile_view(self._add_profile(self._profile_body(call))))

    def _list_profiles(self, call: Call) -> Reply:
        return json_reply(200, [profile_view(p) for p in reversed(self.profiles.values())])

    def _found_profile(self, call: Call) -> Json:
        row = self.profiles.get(call.uuid())
        if row is None:
            raise ApiError.not_found()
        return row

    def _get_profile(self, call: Call) -> Reply:
        return json_reply(200, profile_view(self._found_profile(call)))

    def _update_profile(self, call: Call) -> Reply:
        profile_id = call.uuid()
        profile = self._profile_body(call)
        row = self.profiles.get(profile_id)
        if row is None:
            raise ApiError.not_found()
        self._check_profile_write(profile, profile_id)
        row.update(
            {
                k: profile[k]
                for k in (
                    "name",
                    "description",
                    "project_module",
                    "is_default",
                    "max_concurrent_executions",
                    "translation",
                    "deployment",
                )
            }
        )
        row.update(
            revision=row["revision"] + 1,
            spec_sha256=profile_spec_sha256(profile),
            updated_at=iso(self._now()),
        )
        return json_reply(200, profile_view(row))

    def _delete_profile(self, call: Call) -> Reply:
        profile_id = call.uuid()
        call.require_superuser()
        if self.profiles.pop(profile_id, None) is None:
            raise ApiError.not_found()
        return Reply(204)
