"""openapi/beampipe.yaml and its generated models agree with the Beampipe wire.

The operation list below is the upstream server's (beampipe-core-v2@897d0ce `openapi.json`, 76
operations, the router in lib.rs `router()`) plus the served `GET /api/v2/openapi.json`. Bodies are
the shapes of the reference (`ExecutionRow`, the error body, the deployment union); each is checked
by openapi-core against the spec and decoded into the generated models.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from controldeck._core._convert import structure
from controldeck._core._models import UNSET
from controldeck._generated import beampipe as m
from controldeck.errors import InvalidArgumentError
from tests._conformance import METHODS, openapi, operations, spec_document

ORIGIN = "http://127.0.0.1:8080"
AUTH = {"Authorization": "Bearer eyJ.access.token"}
EXECUTION_ID = "0190f5a0-1b2c-7d3e-8f40-5a6b7c8d9e0f"
SOURCE_ID = "0190f5a0-1b2c-7d3e-8f40-000000000001"

UPSTREAM_OPERATIONS = {
    ("GET", "/api/v2/alert-deliveries"),
    ("GET", "/api/v2/alert-rules"),
    ("POST", "/api/v2/alert-rules"),
    ("DELETE", "/api/v2/alert-rules/{id}"),
    ("PATCH", "/api/v2/alert-rules/{id}"),
    ("GET", "/api/v2/daliuge/inspect"),
    ("GET", "/api/v2/daliuge/sessions"),
    ("GET", "/api/v2/deployment-profiles"),
    ("POST", "/api/v2/deployment-profiles"),
    ("DELETE", "/api/v2/deployment-profiles/{id}"),
    ("GET", "/api/v2/deployment-profiles/{id}"),
    ("PATCH", "/api/v2/deployment-profiles/{id}"),
    ("GET", "/api/v2/diagnostics"),
    ("GET", "/api/v2/executions"),
    ("POST", "/api/v2/executions"),
    ("POST", "/api/v2/executions/prepare"),
    ("GET", "/api/v2/executions/{id}"),
    ("PATCH", "/api/v2/executions/{id}"),
    ("GET", "/api/v2/executions/{id}/artifacts"),
    ("GET", "/api/v2/executions/{id}/events"),
    ("POST", "/api/v2/executions/{id}/execute"),
    ("GET", "/api/v2/executions/{id}/ledger-snapshot"),
    ("GET", "/api/v2/executions/{id}/observations"),
    ("POST", "/api/v2/executions/{id}/outputs/verify"),
    ("POST", "/api/v2/executions/{id}/retry"),
    ("GET", "/api/v2/executions/{id}/status"),
    ("POST", "/api/v2/executions/{id}/submission/abandon"),
    ("GET", "/api/v2/executions/{id}/summary"),
    ("POST", "/api/v2/graphs/prepare"),
    ("GET", "/api/v2/health"),
    ("GET", "/api/v2/health/tap"),
    ("POST", "/api/v2/jobs"),
    ("POST", "/api/v2/login"),
    ("POST", "/api/v2/logout"),
    ("GET", "/api/v2/metrics"),
    ("GET", "/api/v2/notification-channels"),
    ("POST", "/api/v2/notification-channels"),
    ("DELETE", "/api/v2/notification-channels/{id}"),
    ("PATCH", "/api/v2/notification-channels/{id}"),
    ("POST", "/api/v2/notification-channels/{id}/test"),
    ("GET", "/api/v2/overview"),
    ("POST", "/api/v2/project-configs"),
    ("GET", "/api/v2/project-configs/{id}"),
    ("GET", "/api/v2/project-configs/{id}/versions"),
    ("POST", "/api/v2/project-configs/{id}/wasm"),
    ("GET", "/api/v2/project-configs/{id}/wasm/{sha256}"),
    ("GET", "/api/v2/projects"),
    ("GET", "/api/v2/projects/contracts"),
    ("GET", "/api/v2/projects/contracts/{id}"),
    ("GET", "/api/v2/projects/{module}/events"),
    ("GET", "/api/v2/ready"),
    ("POST", "/api/v2/refresh"),
    ("GET", "/api/v2/scheduler/jobs"),
    ("GET", "/api/v2/scheduler/status"),
    ("GET", "/api/v2/slurm/credentials"),
    ("GET", "/api/v2/slurm/credentials/{slot}"),
    ("GET", "/api/v2/sources"),
    ("POST", "/api/v2/sources"),
    ("POST", "/api/v2/sources/bulk"),
    ("POST", "/api/v2/sources/discover"),
    ("DELETE", "/api/v2/sources/{id}"),
    ("GET", "/api/v2/sources/{id}"),
    ("PATCH", "/api/v2/sources/{id}"),
    ("GET", "/api/v2/sources/{id}/events"),
    ("GET", "/api/v2/sources/{id}/executions"),
    ("GET", "/api/v2/sources/{id}/metadata"),
    ("GET", "/api/v2/sources/{id}/status"),
    ("GET", "/api/v2/user/me"),
    ("GET", "/api/v2/workers"),
    ("POST", "/api/v2/workers"),
    ("GET", "/api/v2/workers/leases"),
    ("GET", "/api/v2/workers/pools"),
    ("GET", "/api/v2/workers/{id}"),
    ("POST", "/api/v2/workers/{id}/drain"),
    ("POST", "/api/v2/workers/{id}/heartbeat"),
    ("POST", "/api/v2/workers/{id}/resume"),
}
SERVED_ONLY = {("GET", "/api/v2/openapi.json")}  # SwaggerUi route, not in the upstream document

PUBLIC = {
    ("GET", "/api/v2/health"),
    ("GET", "/api/v2/health/tap"),
    ("POST", "/api/v2/login"),
    ("POST", "/api/v2/refresh"),
    ("POST", "/api/v2/logout"),
    ("GET", "/api/v2/openapi.json"),
}

# Names the facade is written against (fixed by the platform brief).
FIXED_NAMES = [
    "ApiErrorResponse",
    "Failure",
    "FailureClass",
    "RetryDisposition",
    "ValidationDiagnostic",
    "ValidationReport",
    "Diagnostic",
    "DiagnosticsResponse",
    "ProvenanceEventResponse",
    "AlertDeliveryResponse",
    "NotificationChannelResponse",
    "ExecutionRetryStage",
    "ExecutionRetryResponse",
    "DeploymentConfig",
    "RestRemoteDeployment",
    "SlurmRemoteDeployment",
    "UnknownDeploymentConfig",
    "DeploymentProfile",
    "DeploymentProfileResponse",
    "DaliugeTranslationConfig",
    "ProjectListItem",
    "ProjectConfigRow",
    "WasmInfo",
    "WasmUploadResponse",
    "SourceMetadataResponse",
    "SourceRegistryRow",
    "SourceCreate",
    "SourceUpdate",
    "SourceBulkCreate",
    "SourceBulkCreateResponse",
    "ExecutionRow",
    "ExecutionRead",
    "ExecutionCreate",
    "ExecutionSourceSelection",
    "ExecutionPatchRequest",
    "ExecutionPrepareResponse",
    "PaginatedExecutions",
    "ExecuteRequest",
    "ExecuteResponse",
    "ExecutionStatus",
    "ExecutionStatusResponse",
    "ExecutionSummaryResponse",
    "LedgerSnapshotResponse",
    "ProvenanceSummary",
    "HealthResponse",
    "HealthTapResponse",
    "ReadyResponse",
    "OperatorOverviewResponse",
    "TokenResponse",
    "LoginRequest",
    "RefreshRequest",
    "LogoutRequest",
    "CurrentUserResponse",
]

SLURM = {
    "kind": "slurm_remote",
    "login_node": "setonix.pawsey.org.au",
    "ssh_port": 22,
    "remote_user": "[REDACTED]",
    "account": "pawsey0411",
    "home_dir": "/home/u",
    "log_dir": "/scratch/logs",
    "exec_prefix": "srun -l",
    "dlg_root": "/scratch/dlg",
    "facility": "setonix",
    "job_duration_minutes": 50,
    "num_nodes": 1,
    "num_islands": 1,
    "verbose_level": 1,
    "max_threads": 0,
    "all_nics": False,
    "zerorun": False,
    "sleepncopy": False,
    "check_with_session": False,
    "verify_ssl": False,
    "resources": {"partition": "work", "nodes": 1, "tasks": 1, "wall_time_minutes": 50},
    "manager_topology": {"nodes": 1, "islands": 1, "co_host_dim": False},
}

EXECUTION_ROW: dict[str, Any] = {
    "uuid": EXECUTION_ID,
    "project_module": "wallaby_hires",
    "sources": [{"source_identifier": "HIPASSJ1318-21"}],
    "archive_name": "casda",
    "deployment_profile_id": None,
    "deployment_profile_revision": None,
    "deployment_profile_snapshot": None,
    "project_config_id": None,
    "discovery_signature": None,
    "workflow_manifest": None,
    "manifest_sha256": None,
    "source_graph_sha256": None,
    "patched_graph_sha256": None,
    "physical_graph_sha256": None,
    "execution_phase": None,
    "control_phase": None,
    "submission_state": None,
    "submission_deadline_at": None,
    "submission_abandoned_at": None,
    "scheduler_name": None,
    "scheduler_job_id": None,
    "scheduler_state": None,
    "scheduler_raw_state": None,
    "scheduler_reason": None,
    "daliuge_session_id": None,
    "daliuge_manager_url": None,
    "daliuge_state": None,
    "daliuge_raw_status": None,
    "output_state": None,
    "output_verification_required": False,
    "output_verification_policy": {"required": False},
    "remote_session_dir": None,
    "terminal_outcome": None,
    "failure_class": None,
    "phase_timestamps": {},
    "last_reconciled_at": None,
    "last_error": None,
    "created_by_id": 1,
    "create_idempotency_key": None,
    "create_request_sha256": None,
    "status": "pending",
    "retry_count": 0,
    "created_at": "2026-08-22T10:00:00Z",
    "updated_at": None,
    "started_at": None,
    "completed_at": None,
}

VALIDATION_ERROR = {
    "error": "project config validation failed",
    "code": "project_config_validation_failed",
    "failure": {
        "code": "project_config_validation_failed",
        "component": "project_config",
        "class": "validation",
        "message": "project config validation failed",
        "retry": "after_remediation",
        "system_action": "the project configuration was not activated",
        "operator_action": "correct the reported configuration paths and retry",
        "diagnostics": [
            {
                "path": "metadata.id",
                "severity": "error",
                "code": "required",
                "message": "metadata.id is required",
                "hint": "set metadata.id",
            }
        ],
    },
}


def _request(
    method: str,
    path: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> requests.PreparedRequest:
    return requests.Request(
        method,
        ORIGIN + path,
        headers={**AUTH, **(headers or {})},
        json=json_body,
        data=data,
        params=params,
    ).prepare()


def _response(status: int, body: bytes, content_type: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    if content_type is not None:
        response.headers["Content-Type"] = content_type
    return response


def _check_request(request: requests.PreparedRequest) -> None:
    openapi("beampipe").validate_request(RequestsOpenAPIRequest(request))


def _check_reply(
    request: requests.PreparedRequest,
    status: int,
    body: Any,
    content_type: str | None = "application/json",
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    openapi("beampipe").validate_response(
        RequestsOpenAPIRequest(request),
        RequestsOpenAPIResponse(_response(status, raw, content_type)),
    )


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec_document("beampipe")["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_the_spec_describes_exactly_the_upstream_operations_and_the_served_document() -> None:
    openapi("beampipe")  # parses and resolves with openapi-core
    assert len(UPSTREAM_OPERATIONS) == 76
    assert operations("beampipe", wrapped_only=False) == UPSTREAM_OPERATIONS | SERVED_ONLY
    assert operations("beampipe") == UPSTREAM_OPERATIONS | SERVED_ONLY  # every one is wrapped
    servers = spec_document("beampipe")["servers"]
    assert servers == [
        {
            "url": "{origin}",
            "description": servers[0]["description"],
            "variables": {
                "origin": {
                    "default": "http://127.0.0.1:8080",
                    "description": servers[0]["variables"]["origin"]["description"],
                }
            },
        }
    ]


def test_every_operation_names_its_method_success_body_and_error_response() -> None:
    methods = []
    for method, path, op in _operations():
        where = f"{method} {path}"
        assert op.get("operationId"), where
        methods.append(op["x-controldeck-method"])
        responses = op["responses"]
        assert responses["default"] == {"$ref": "#/components/responses/Error"}, where
        success = {code: r for code, r in responses.items() if code.startswith("2")}
        assert success, where
        for code, reply in success.items():
            if code == "204":
                assert "content" not in reply, where
                continue
            content = reply["content"]
            assert content and all("schema" in media for media in content.values()), where
        errors = [code for code in responses if code[0] in "45"]
        assert all(responses[c] == responses["default"] for c in errors), where
    assert len(methods) == len(set(methods)) == 77
    ids = {op["operationId"]: op["x-controldeck-method"] for _, _, op in _operations()}
    assert ids["patch_execution"] == "cancel_execution"
    assert ids["execute_execution"] == "execute"
    assert ids["execution_ledger_snapshot"] == "get_ledger_snapshot"
    assert ids["enqueue_job_handler"] == "enqueue_job"
    assert ids["operator_overview"] == "overview"
    assert ids["openapi_json"] == "openapi"


def test_success_statuses_follow_the_handlers() -> None:
    statuses = {
        (method, path): sorted(c for c in op["responses"] if c.startswith("2"))
        for method, path, op in _operations()
    }
    assert statuses["POST", "/api/v2/executions"] == ["200", "201"]
    assert statuses["POST", "/api/v2/sources"] == ["200"]  # an upsert, never 201
    assert statuses["POST", "/api/v2/logout"] == ["204"]
    for key in [
        ("POST", "/api/v2/executions/{id}/execute"),
        ("POST", "/api/v2/executions/{id}/retry"),
        ("POST", "/api/v2/jobs"),
    ]:
        assert statuses[key] == ["202"], key
    for key in [
        ("POST", "/api/v2/project-configs"),
        ("POST", "/api/v2/project-configs/{id}/wasm"),
        ("POST", "/api/v2/deployment-profiles"),
        ("POST", "/api/v2/workers"),
        ("POST", "/api/v2/alert-rules"),
        ("POST", "/api/v2/notification-channels"),
    ]:
        assert statuses[key] == ["201"], key
    deletes = [key for key in statuses if key[0] == "DELETE"]
    assert len(deletes) == 4
    assert all(statuses[key] == ["204"] for key in deletes)


def test_only_the_public_operations_skip_the_bearer_token() -> None:
    doc = spec_document("beampipe")
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    public = {(method, path) for method, path, op in _operations() if op.get("security") == []}
    assert public == PUBLIC
    assert all(
        "security" not in op for method, path, op in _operations() if (method, path) not in PUBLIC
    )
    health = requests.Request("GET", ORIGIN + "/api/v2/health").prepare()
    _check_request(health)
    ready = requests.Request("GET", ORIGIN + "/api/v2/ready").prepare()  # the seed sends no token
    with pytest.raises(Exception, match=r"(?i)security"):
        _check_request(ready)


def test_the_generated_module_exposes_the_fixed_names() -> None:
    missing = [name for name in FIXED_NAMES if not hasattr(m, name)]
    assert missing == []
    assert {"access_token", "password", "refresh_token"} == m.SECRET_FIELDS


def test_deployment_config_decodes_by_kind_and_keeps_unknown_kinds() -> None:
    slurm = structure(SLURM, m.DeploymentConfig, strict=True)
    assert isinstance(slurm, m.SlurmRemoteDeployment)
    assert (slurm.kind, slurm.login_node, slurm.account) == (
        "slurm_remote",
        "setonix.pawsey.org.au",
        "pawsey0411",
    )
    assert isinstance(slurm.resources, m.SlurmResourceConfig)
    assert (slurm.resources.partition, slurm.resources.memory) == ("work", UNSET)
    assert slurm.to_dict() == SLURM  # written back unchanged

    rest = structure({"kind": "rest_remote", "deploy_host": "dim.local"}, m.DeploymentConfig)
    assert rest == m.RestRemoteDeployment(deploy_host="dim.local")

    later = {"kind": "kubernetes", "namespace": "dlg"}
    unknown = structure(later, m.DeploymentConfig)
    assert unknown == m.UnknownDeploymentConfig(tag="kubernetes", raw=later)
    assert unknown.kind == "kubernetes"


def test_a_deployment_profile_request_sends_its_tag_and_only_what_was_set() -> None:
    profile = m.DeploymentProfile(
        name="dim-local",
        translation=m.DaliugeTranslationConfig(algo=m.DaliugeAlgo.METIS, num_par=1),
        deployment=m.RestRemoteDeployment(deploy_host="dim.local", deploy_port=8001),
    )
    body = profile.to_dict()
    assert body == {
        "name": "dim-local",
        "translation": {"algo": "metis", "num_par": 1},
        "deployment": {"kind": "rest_remote", "deploy_host": "dim.local", "deploy_port": 8001},
    }
    _check_request(_request("POST", "/api/v2/deployment-profiles", json_body=body))
    with pytest.raises(InvalidArgumentError, match="description"):
        m.DeploymentProfile(
            name="x",
            translation=m.DaliugeTranslationConfig(),
            deployment=m.RestRemoteDeployment(),
            description=None,  # type: ignore[arg-type]
        )
    extra = dict(body, deployment={**body["deployment"], "verify": True})
    with pytest.raises(Exception, match="verify"):
        _check_request(_request("POST", "/api/v2/deployment-profiles", json_body=extra))


def test_a_stored_profile_reads_its_translation_and_deployment_typed() -> None:
    stored = {
        "uuid": "0190f5a0-1b2c-7d3e-8f40-00000000000a",
        "name": "slurm-remote",
        "description": None,
        "project_module": "wallaby_hires",
        "is_default": False,
        "max_concurrent_executions": None,
        "revision": 1,
        "spec_sha256": None,
        "translation": {"algo": "metis", "num_par": 1, "num_islands": 1, "tm_url": "http://tm"},
        "deployment": SLURM,
        "created_at": "2026-08-22T10:00:00Z",
        "updated_at": None,
    }
    request = _request("GET", "/api/v2/deployment-profiles/" + str(stored["uuid"]))
    _check_reply(request, 200, stored)
    profile = structure(stored, m.DeploymentProfileResponse, strict=True)
    assert isinstance(profile.deployment, m.SlurmRemoteDeployment)
    assert profile.translation.tm_url == "http://tm"
    assert profile.created_at == datetime(2026, 8, 22, 10, tzinfo=UTC)


def test_the_error_body_decodes_with_open_enums_and_diagnostics() -> None:
    error = structure(VALIDATION_ERROR, m.ApiErrorResponse, strict=True)
    assert error.code == "project_config_validation_failed"
    assert error.failure.class_ == m.FailureClass.VALIDATION
    assert error.failure.retry == m.RetryDisposition.AFTER_REMEDIATION
    assert error.failure.log_reference is None
    (diagnostic,) = error.failure.diagnostics
    assert isinstance(diagnostic, m.ValidationDiagnostic)
    assert (diagnostic.path, diagnostic.severity, diagnostic.hint) == (
        "metadata.id",
        m.DiagnosticSeverity.ERROR,
        "set metadata.id",
    )
    newer = {**VALIDATION_ERROR["failure"], "class": "quota", "retry": "later"}
    del newer["diagnostics"]
    failure = structure(newer, m.Failure)
    assert (failure.class_, failure.retry) == (m.FailureClass.UNKNOWN, m.RetryDisposition.UNKNOWN)
    assert failure.diagnostics == []
    upload = _request(
        "POST",
        "/api/v2/project-configs",
        data=b"metadata: {}\n",
        headers={"Content-Type": "application/x-yaml"},
    )
    _check_reply(upload, 400, VALIDATION_ERROR)
    with pytest.raises(Exception, match="failure"):  # other JSON is not the error body
        _check_reply(upload, 400, {"error": "oops"})
    # axum's own rejections are plain text
    create = _request("POST", "/api/v2/executions", json_body={"project_module": "m"})
    _check_reply(
        create,
        422,
        b"Failed to deserialize the JSON body into the target type: missing field `sources`",
        "text/plain; charset=utf-8",
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-yaml"])
def test_project_configs_upload_as_yaml_text(content_type: str) -> None:
    upload = _request(
        "POST",
        "/api/v2/project-configs",
        data=b"metadata:\n  id: wallaby_hires\n",
        headers={"Content-Type": content_type},
    )
    _check_request(upload)
    report = {"project_id": "wallaby_hires", "valid": True, "errors": [], "spec_sha256": "ab"}
    _check_reply(upload, 201, report)
    assert structure(report, m.ValidationReport, strict=True).warnings == []


def test_execution_create_rejects_unknown_and_null_keys_and_bad_idempotency_keys() -> None:
    body = m.ExecutionCreate(
        project_module="wallaby_hires",
        sources=[m.ExecutionSourceSelection(source_identifier="HIPASSJ1318-21")],
        archive_name="casda",
    ).to_dict()
    assert body == {
        "project_module": "wallaby_hires",
        "sources": [{"source_identifier": "HIPASSJ1318-21"}],
        "archive_name": "casda",
    }
    _check_request(
        _request("POST", "/api/v2/executions", json_body=body, headers={"Idempotency-Key": "k-1"})
    )
    for bad, why in [
        (dict(body, note="x"), "'note' was unexpected"),  # deny_unknown_fields
        (dict(body, deployment_profile_name=None), "None is not of type 'string'"),
        (dict(body, sources=[{"source_identifier": "s", "sbid": ["1"]}]), "'sbid' was unexpected"),
    ]:
        with pytest.raises(Exception, match=why):
            _check_request(_request("POST", "/api/v2/executions", json_body=bad))
    for key in ["has space", "x" * 129]:
        with pytest.raises(Exception, match="Idempotency-Key"):
            _check_request(
                _request(
                    "POST", "/api/v2/executions", json_body=body, headers={"Idempotency-Key": key}
                )
            )
    with pytest.raises(InvalidArgumentError, match="deployment_profile_name"):
        m.ExecutionCreate(
            project_module="m",
            sources=[],
            archive_name="casda",
            deployment_profile_name=None,  # type: ignore[arg-type]
        )


def test_execution_rows_accept_null_for_every_option_field() -> None:
    page = {"items": [EXECUTION_ROW], "total": 1, "page": 1, "items_per_page": 50}
    request = _request(
        "GET",
        "/api/v2/executions",
        params={"status": "pending", "page": "1", "items_per_page": "50"},
    )
    _check_request(request)
    _check_reply(request, 200, page)
    decoded = structure(page, m.PaginatedExecutions, strict=True)
    (row,) = decoded.items
    assert (row.status, row.scheduler_name, row.created_by_id) == ("pending", None, 1)
    assert row.created_at == datetime(2026, 8, 22, 10, tzinfo=UTC)
    required = set(spec_document("beampipe")["components"]["schemas"]["ExecutionRead"]["required"])
    row_schema = spec_document("beampipe")["components"]["schemas"]["ExecutionRow"]
    assert set(row_schema["required"]) == required
    missing = {k: v for k, v in EXECUTION_ROW.items() if k != "retry_count"}
    with pytest.raises(Exception, match="retry_count"):
        _check_reply(request, 200, dict(page, items=[missing]))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/sources", {"limit": "501"}),
        ("/api/v2/sources", {"offset": "-1"}),
        ("/api/v2/executions", {"items_per_page": "0"}),
        ("/api/v2/executions", {"page": "0"}),
        ("/api/v2/executions", {"status": "sleeping"}),
        (f"/api/v2/executions/{EXECUTION_ID}/ledger-snapshot", {"include_manifest": "maybe"}),
    ],
)
def test_query_parameters_carry_the_handler_bounds(path: str, params: dict[str, str]) -> None:
    (name,) = params
    with pytest.raises(Exception, match=f"parameter.*: {name}$"):
        _check_request(_request("GET", path, params=params))


def test_query_parameters_the_handlers_read_are_declared() -> None:
    declared = {
        (method, path): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for method, path, op in _operations()
    }
    assert declared["GET", "/api/v2/executions"] == {
        "project_module",
        "status",
        "page",
        "items_per_page",
    }
    assert declared["GET", "/api/v2/sources"] == {"project_module", "limit", "offset"}
    assert declared["GET", "/api/v2/sources/{id}/executions"] == {"limit", "offset"}
    assert declared["GET", "/api/v2/executions/{id}/observations"] == {"limit", "offset"}
    assert declared["GET", "/api/v2/executions/{id}/ledger-snapshot"] == {"include_manifest"}
    assert declared["GET", "/api/v2/project-configs/{id}/wasm/{sha256}"] == {"download"}
    assert declared["GET", "/api/v2/workers"] == {"include_stopped"}
    assert declared["GET", "/api/v2/workers/leases"] == {"worker_id", "include_expired"}
    for path in ["diagnostics", "scheduler/status", "daliuge/inspect", "daliuge/sessions"]:
        assert declared["GET", f"/api/v2/{path}"] == {"profile"}, path
    for path in ["scheduler/jobs", "alert-rules", "alert-deliveries", "projects/{module}/events"]:
        assert declared["GET", f"/api/v2/{path}"] == {"limit", "offset"}, path
    assert declared["GET", "/api/v2/deployment-profiles"] == set()  # the seed's filter is ignored
    assert all(
        not params
        for (method, path), params in declared.items()
        if path.endswith("/events") and "{module}" not in path
    )
    ops = {(method, path): op for method, path, op in _operations()}
    defaults = {
        p["name"]: p["schema"].get("default")
        for key in [
            ("GET", "/api/v2/sources"),
            ("GET", "/api/v2/executions"),
            ("GET", "/api/v2/executions/{id}/ledger-snapshot"),
            ("GET", "/api/v2/project-configs/{id}/wasm/{sha256}"),
        ]
        for p in ops[key]["parameters"]
        if p["in"] == "query"
    }
    assert defaults == {
        "project_module": None,
        "status": None,
        "limit": 100,
        "offset": 0,
        "page": 1,
        "items_per_page": 50,
        "include_manifest": True,
        "download": False,
    }


def test_source_update_tells_absent_from_null() -> None:
    assert m.SourceUpdate().to_dict() == {}
    assert m.SourceUpdate(stale_after_hours=None).to_dict() == {"stale_after_hours": None}
    assert m.SourceUpdate(enabled=False, stale_after_hours=24).to_dict() == {
        "enabled": False,
        "stale_after_hours": 24,
    }
    path = f"/api/v2/sources/{SOURCE_ID}"
    _check_request(_request("PATCH", path, json_body={"stale_after_hours": None}))
    with pytest.raises(Exception, match="None is not of type 'boolean'"):
        _check_request(_request("PATCH", path, json_body={"enabled": None}))
    create = m.SourceCreate(project_module="wallaby_hires", source_identifier="HIPASSJ1318-21")
    assert create.enabled is UNSET  # the facade always sets it: the wire default is false
    enabled = spec_document("beampipe")["components"]["schemas"]["SourceCreate"]["properties"]
    assert enabled["enabled"]["default"] is False


def test_wasm_metrics_and_openapi_replies_use_their_media_types() -> None:
    upload = _request(
        "POST",
        "/api/v2/project-configs/wallaby_hires/wasm",
        data=b"\x00asm\x01\x00\x00\x00",
        headers={"Content-Type": "application/octet-stream"},
    )
    _check_request(upload)
    _check_reply(upload, 201, {"wasm_sha256": "ab", "project_config_id": SOURCE_ID})
    get = _request(
        "GET", "/api/v2/project-configs/wallaby_hires/wasm/ab", params={"download": "true"}
    )
    _check_request(get)
    _check_reply(get, 200, b"\x00asm\x01\x00\x00\x00", "application/wasm")
    info = {
        "wasm_sha256": "ab",
        "project_config_id": SOURCE_ID,
        "uploaded_at": "2026-08-22T10:00:00Z",
    }
    _check_reply(get, 200, info)
    assert structure(info, m.WasmInfo, strict=True).bytes_len is None
    metrics = _request("GET", "/api/v2/metrics")
    _check_reply(
        metrics, 200, b"# TYPE beampipe_up gauge\nbeampipe_up 1\n", "text/plain; version=0.0.4"
    )
    document = requests.Request("GET", ORIGIN + "/api/v2/openapi.json").prepare()
    _check_reply(document, 200, {"openapi": "3.0.3", "paths": {}})


def test_flattened_and_undeclared_shapes_decode() -> None:
    overview = {
        "generated_at": "2026-08-22T10:00:00Z",
        "registered_sources": 3,
        "pending_admissions": 0,
        "running_executions": 1,
        "failed_executions": 0,
        "queue_depth": 2,
        "active_workers": 1,
        "stale_workers": 0,
        "recent_alerts": 0,
        "casda": "configured",
        "daliuge": "profile_managed",
        "scheduler": "profile_managed",
    }
    _check_reply(_request("GET", "/api/v2/overview"), 200, overview)
    assert structure(overview, m.OperatorOverviewResponse, strict=True).queue_depth == 2
    read = {
        k: v
        for k, v in EXECUTION_ROW.items()
        if k
        not in {
            "deployment_profile_snapshot",
            "daliuge_manager_url",
            "daliuge_raw_status",
            "create_idempotency_key",
            "create_request_sha256",
            "updated_at",
        }
    }
    read |= {
        "beampipe_run_record": None,
        "project_config_version": None,
        "slurm_login_node": "setonix.pawsey.org.au",
        "slurm_remote_user": None,
        "slurm_session_dir": "/scratch/s",
    }
    _check_reply(_request("GET", f"/api/v2/executions/{EXECUTION_ID}"), 200, read)
    execution = structure(read, m.ExecutionRead, strict=True)
    assert (execution.slurm_login_node, execution.dim_graph_status_url) == (
        "setonix.pawsey.org.au",
        None,
    )
    snapshot = {
        "uuid": EXECUTION_ID,
        "status": "running",
        "execution_phase": "submit",
        "scheduler_name": "slurm",
        "scheduler_job_id": None,
        "last_error": None,
        "run_record_phases": {},
        "provenance_summary": {
            "config_version": 2,
            "discovery_signature": None,
            "recent_events": [
                {
                    "id": SOURCE_ID,
                    "occurred_at": "2026-08-22T10:00:00Z",
                    "event_type": "execution.started",
                    "project_module": "wallaby_hires",
                    "source_identifier": None,
                    "execution_id": EXECUTION_ID,
                    "actor": None,
                    "correlation_id": None,
                    "payload": {},
                }
            ],
        },
    }
    ledger = _request(
        "GET",
        f"/api/v2/executions/{EXECUTION_ID}/ledger-snapshot",
        params={"include_manifest": "false"},
    )
    _check_request(ledger)
    _check_reply(ledger, 200, snapshot)
    decoded = structure(snapshot, m.LedgerSnapshotResponse, strict=True)
    assert decoded.correlation_id is None and decoded.workflow_manifest is None
    assert decoded.provenance_summary.recent_events[0].event_type == "execution.started"
    with pytest.raises(Exception, match="None is not of type 'string'"):  # absent, never null
        _check_reply(ledger, 200, dict(snapshot, correlation_id=None))
    tap = structure({"casda": "ok", "vizier": "not_configured"}, m.HealthTapResponse, strict=True)
    assert tap.vizier == "not_configured"
    execute = {
        "status": "accepted",
        "execution_id": EXECUTION_ID,
        "job_id": SOURCE_ID,
        "do_stage": True,
        "do_submit": False,
    }
    start = _request("POST", f"/api/v2/executions/{EXECUTION_ID}/execute", json_body={})
    _check_request(start)
    _check_reply(start, 202, execute)
    assert structure(execute, m.ExecuteResponse, strict=True).do_submit is False


def test_token_secrets_stay_out_of_repr() -> None:
    tokens = structure(
        {"access_token": "eyJ.a.b", "refresh_token": "eyJ.r.t", "token_type": "bearer"},
        m.TokenResponse,
        strict=True,
    )
    assert "eyJ" not in repr(tokens)
    assert tokens.to_dict() == {
        "access_token": "<redacted>",
        "refresh_token": "<redacted>",
        "token_type": "bearer",
    }
    login = m.LoginRequest(username="admin", password="hunter2")
    assert "hunter2" not in repr(login)
    _check_request(
        requests.Request(
            "POST", ORIGIN + "/api/v2/login", json=login.to_dict(reveal_secrets=True)
        ).prepare()
    )
