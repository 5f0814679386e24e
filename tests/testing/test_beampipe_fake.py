"""FakeBeampipe over real loopback sockets, with plain `requests`.

The SDK facade does not exist yet, so these tests pin the wire itself: status codes, exact
error bodies, axum's plain-text rejections, the key sets of every reply (the ones a strict
decoder of the upstream shapes will demand), token rotation with an injected clock, and the
seed's whole workflow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from controldeck.testing import FakeBeampipe

MODULE = "survey"
SOURCE = "HIPASSJ1303+07"
CONFIG_YAML = f"""\
apiVersion: beampipe.dev/v2
kind: ProjectConfig
metadata:
  id: {MODULE}
  description: Generic single-archive survey   # a comment
adapters:
  required: [casda]
  tap:
    timeout_seconds: 60
discovery:
  queries:
    - name: visibility
      adapter: casda
      template: |
        SELECT * FROM ivoa.obscore
        WHERE filename LIKE '{{source_identifier}}%'
"""
VERIFIED_YAML = CONFIG_YAML.replace(f"id: {MODULE}", "id: verified") + (
    "output_verification:\n  required: true\n"
)
SLURM_PROFILE: dict[str, Any] = {
    "name": "slurm-remote",
    "description": "Setonix",
    "project_module": MODULE,
    "translation": {"algo": "metis", "num_par": 1, "num_islands": 1},
    "deployment": {
        "kind": "slurm_remote",
        "login_node": "setonix.pawsey.org.au",
        "ssh_credential": "setonix",
        "account": "pawsey0411",
        "home_dir": "/home/beampipe",
        "dlg_root": "/scratch/pawsey0411/dlg",
        "log_dir": "/scratch/pawsey0411/logs",
        "resources": {"partition": "work", "nodes": 1},
    },
}
REST_PROFILE: dict[str, Any] = {
    "name": "dlg-dim",
    "is_default": True,
    "translation": {"algo": "metis", "num_par": 1, "num_islands": 0, "tm_url": "http://tm:8084"},
    "deployment": {"kind": "rest_remote", "deploy_host": "dim.example.org"},
}
EXECUTION = {
    "project_module": MODULE,
    "sources": [{"source_identifier": SOURCE}],
    "archive_name": "casda",
    "deployment_profile_name": "slurm-remote",
}

# Reply key sets, from the upstream structs (lib.rs, models.rs, observability.rs).
FAILURE_KEYS = {
    "code", "component", "class", "message", "retry", "system_action", "operator_action",
}  # fmt: skip
TOKEN_KEYS = {
    "access_token", "refresh_token", "token_type",
}  # fmt: skip
USER_KEYS = {
    "uuid", "name", "username", "email", "profile_image_url", "is_superuser", "created_at",
    "updated_at",
}  # fmt: skip
REPORT_KEYS = {
    "project_id", "valid", "errors", "spec_sha256",
}  # fmt: skip
CONFIG_ROW_KEYS = {
    "uuid", "project_id", "version", "spec", "spec_sha256", "active", "uploaded_at",
}  # fmt: skip
SOURCE_KEYS = {
    "uuid", "project_module", "source_identifier", "enabled", "created_at", "last_checked_at",
    "last_attempted_at", "stale_after_hours", "discovery_signature",
    "last_executed_discovery_signature", "discovery_claim_token", "discovery_claim_expires_at",
    "workflow_run_pending", "workflow_run_pending_at", "workflow_claim_token",
    "workflow_claimed_at", "workflow_claim_expires_at",
}  # fmt: skip
SOURCE_STATUS_KEYS = {
    "ready_for_execution", "discovery_complete", "workflow_run_pending", "discovery_signature",
    "last_executed_discovery_signature", "signature_matches_last_execution", "blockers",
}  # fmt: skip
METADATA_KEYS = {
    "uuid", "project_module", "source_identifier", "sbid", "metadata_json", "created_at",
    "updated_at",
}  # fmt: skip
PROFILE_KEYS = {
    "uuid", "name", "description", "project_module", "is_default", "max_concurrent_executions",
    "revision", "spec_sha256", "translation", "deployment", "created_at", "updated_at",
}  # fmt: skip
EXECUTION_READ_KEYS = {
    "uuid", "project_module", "archive_name", "sources", "status", "execution_phase",
    "scheduler_name", "scheduler_job_id", "daliuge_session_id", "remote_session_dir",
    "control_phase", "submission_state", "submission_deadline_at", "submission_abandoned_at",
    "scheduler_state", "scheduler_raw_state", "scheduler_reason", "daliuge_state", "output_state",
    "output_verification_required", "output_verification_policy", "terminal_outcome",
    "failure_class", "discovery_signature", "manifest_sha256", "source_graph_sha256",
    "patched_graph_sha256", "physical_graph_sha256", "phase_timestamps", "last_reconciled_at",
    "workflow_manifest", "beampipe_run_record", "last_error", "retry_count", "started_at",
    "completed_at", "created_at", "created_by_id", "deployment_profile_id",
    "deployment_profile_revision", "project_config_id", "project_config_version",
    "dim_session_status_url", "dim_graph_status_url", "slurm_session_dir", "slurm_login_node",
    "slurm_remote_user",
}  # fmt: skip
EXECUTION_ROW_KEYS = {
    "uuid", "project_module", "sources", "archive_name", "deployment_profile_id",
    "deployment_profile_revision", "deployment_profile_snapshot", "project_config_id",
    "discovery_signature", "workflow_manifest", "manifest_sha256", "source_graph_sha256",
    "patched_graph_sha256", "physical_graph_sha256", "execution_phase", "control_phase",
    "submission_state", "submission_deadline_at", "submission_abandoned_at", "scheduler_name",
    "scheduler_job_id", "scheduler_state", "scheduler_raw_state", "scheduler_reason",
    "daliuge_session_id", "daliuge_manager_url", "daliuge_state", "daliuge_raw_status",
    "output_state", "output_verification_required", "output_verification_policy",
    "remote_session_dir", "terminal_outcome", "failure_class", "phase_timestamps",
    "last_reconciled_at", "last_error", "created_by_id", "create_idempotency_key",
    "create_request_sha256", "status", "retry_count", "created_at", "updated_at", "started_at",
    "completed_at",
}  # fmt: skip
STATUS_KEYS = {
    "uuid", "status", "execution_phase", "scheduler_name", "scheduler_job_id",
    "daliuge_session_id", "control_phase", "submission_state", "submission_deadline_at",
    "submission_abandoned_at", "scheduler_state", "scheduler_raw_state", "scheduler_reason",
    "daliuge_state", "output_state", "terminal_outcome", "failure_class", "last_error",
    "retry_count", "started_at", "completed_at", "slurm_state", "dim_state", "last_observation_at",
    "duration_seconds",
}  # fmt: skip
SUMMARY_KEYS = {
    "uuid", "project_module", "archive_name", "status", "requested_source_count",
    "requested_source_identifiers", "scheduler_name", "scheduler_job_id", "daliuge_session_id",
    "control_phase", "scheduler_state", "daliuge_state", "terminal_outcome", "last_error",
}  # fmt: skip
EVENT_KEYS = {
    "id", "occurred_at", "event_type", "project_module", "source_identifier", "execution_id",
    "actor", "correlation_id", "payload",
}  # fmt: skip
OBSERVATION_KEYS = {
    "uuid", "execution_id", "kind", "normalized_state", "raw_state", "reason", "payload",
    "source_version", "observed_at",
}  # fmt: skip
ARTIFACT_KEYS = {
    "uuid", "execution_id", "kind", "storage_kind", "uri", "inline_json", "media_type", "sha256",
    "size_bytes", "producer_phase", "metadata", "created_at",
}  # fmt: skip
JOB_KEYS = {
    "uuid", "kind", "payload", "status", "execution_id", "phase", "attempts", "max_attempts",
    "next_run_at", "locked_until", "idempotency_key", "last_error", "created_at", "updated_at",
}  # fmt: skip
WORKER_KEYS = {
    "id", "instance_name", "host", "process_id", "role", "pool", "capabilities", "labels",
    "version", "concurrency_limit", "status", "health", "active_leases", "heartbeat_age_seconds",
    "started_at", "last_heartbeat_at", "draining_at", "stopped_at",
}  # fmt: skip
CHANNEL_KEYS = {
    "uuid", "name", "kind", "config", "secret_fields", "configured_fields", "enabled",
    "created_at", "updated_at",
}  # fmt: skip
RULE_KEYS = {
    "uuid", "name", "project_module", "enabled", "severity", "trigger_kind", "trigger_config",
    "channel_ids", "cooldown_minutes", "last_fired_at", "created_at", "updated_at",
}  # fmt: skip

READY_KEYS = {
    "status", "service", "database", "redis", "tap_casda", "tap_vizier", "queue_depth",
    "jobs_running",
}  # fmt: skip
OVERVIEW_KEYS = {
    "generated_at", "registered_sources", "pending_admissions", "running_executions",
    "failed_executions", "queue_depth", "active_workers", "stale_workers", "recent_alerts",
    "casda", "daliuge", "scheduler",
}  # fmt: skip
WASM_KEYS = {"wasm_sha256", "project_config_id"}
DISCOVER_KEYS = {"project_module", "marked_count", "source_identifiers", "message"}
PREPARE_KEYS = {"project_module", "valid", "errors", "total_datasets", "sources_preview"}
EXECUTE_KEYS = {"status", "execution_id", "job_id", "do_stage", "do_submit"}
RETRY_KEYS = EXECUTE_KEYS | {"retry_count", "stage"}
LEDGER_KEYS = {
    "uuid", "status", "execution_phase", "scheduler_name", "scheduler_job_id", "correlation_id",
    "workflow_manifest", "last_error", "run_record_phases", "provenance_summary",
}  # fmt: skip
SCHEDULER_JOB_KEYS = {
    "execution_id", "project_module", "execution_status", "scheduler_job_id", "scheduler_state",
    "scheduler_raw_state", "scheduler_reason", "daliuge_session_id", "remote_session_dir",
    "submitted_at", "last_reconciled_at",
}  # fmt: skip
SCHEDULER_STATUS_KEYS = {"profile", "connectivity", "resource_request", "rendered_resource_request"}
GRAPH_KEYS = {
    "project_module", "source_identifiers", "project_config_id", "project_config_version",
    "project_spec_sha256", "manifest_sha256", "source_graph_sha256", "patched_graph_sha256",
    "patch_summary", "manifest", "source_graph", "patched_graph",
}  # fmt: skip
SLOT_KEYS = {"name", "private_key", "public_key", "passphrase", "known_hosts"}
POOL_KEYS = {
    "pool", "active_workers", "draining_workers", "unhealthy_workers", "concurrency_limit",
    "active_leases",
}  # fmt: skip
DELIVERY_KEYS = {"uuid", "rule_id", "channel_id", "status", "payload", "error", "created_at"}

# The 76 upstream operations (reference §6), independent of the fake's own table.
OPERATIONS = {
    ("GET", "/alert-deliveries"), ("GET", "/alert-rules"), ("POST", "/alert-rules"),
    ("DELETE", "/alert-rules/{id}"), ("PATCH", "/alert-rules/{id}"), ("GET", "/daliuge/inspect"),
    ("GET", "/daliuge/sessions"), ("GET", "/deployment-profiles"),
    ("POST", "/deployment-profiles"), ("DELETE", "/deployment-profiles/{id}"),
    ("GET", "/deployment-profiles/{id}"), ("PATCH", "/deployment-profiles/{id}"),
    ("GET", "/diagnostics"), ("GET", "/executions"), ("POST", "/executions"),
    ("POST", "/executions/prepare"), ("GET", "/executions/{id}"), ("PATCH", "/executions/{id}"),
    ("GET", "/executions/{id}/artifacts"), ("GET", "/executions/{id}/events"),
    ("POST", "/executions/{id}/execute"), ("GET", "/executions/{id}/ledger-snapshot"),
    ("GET", "/executions/{id}/observations"), ("POST", "/executions/{id}/outputs/verify"),
    ("POST", "/executions/{id}/retry"), ("GET", "/executions/{id}/status"),
    ("POST", "/executions/{id}/submission/abandon"), ("GET", "/executions/{id}/summary"),
    ("POST", "/graphs/prepare"), ("GET", "/health"), ("GET", "/health/tap"), ("POST", "/jobs"),
    ("POST", "/login"), ("POST", "/logout"), ("GET", "/metrics"),
    ("GET", "/notification-channels"), ("POST", "/notification-channels"),
    ("DELETE", "/notification-channels/{id}"), ("PATCH", "/notification-channels/{id}"),
    ("POST", "/notification-channels/{id}/test"), ("GET", "/overview"),
    ("POST", "/project-configs"), ("GET", "/project-configs/{id}"),
    ("GET", "/project-configs/{id}/versions"), ("POST", "/project-configs/{id}/wasm"),
    ("GET", "/project-configs/{id}/wasm/{sha256}"), ("GET", "/projects"),
    ("GET", "/projects/contracts"), ("GET", "/projects/contracts/{id}"),
    ("GET", "/projects/{module}/events"), ("GET", "/ready"), ("POST", "/refresh"),
    ("GET", "/scheduler/jobs"), ("GET", "/scheduler/status"), ("GET", "/slurm/credentials"),
    ("GET", "/slurm/credentials/{slot}"), ("GET", "/sources"), ("POST", "/sources"),
    ("POST", "/sources/bulk"), ("POST", "/sources/discover"), ("DELETE", "/sources/{id}"),
    ("GET", "/sources/{id}"), ("PATCH", "/sources/{id}"), ("GET", "/sources/{id}/events"),
    ("GET", "/sources/{id}/executions"), ("GET", "/sources/{id}/metadata"),
    ("GET", "/sources/{id}/status"), ("GET", "/user/me"), ("GET", "/workers"),
    ("POST", "/workers"), ("GET", "/workers/leases"), ("GET", "/workers/pools"),
    ("GET", "/workers/{id}"), ("POST", "/workers/{id}/drain"), ("POST", "/workers/{id}/heartbeat"),
    ("POST", "/workers/{id}/resume"),
}  # fmt: skip
WASM = b"\x00asm\x01\x00\x00\x00"


class Clock:
    """An injectable clock: epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_767_225_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """Plain requests against the fake's `/api/v2`, with an optional bearer token."""

    def __init__(self, fake: FakeBeampipe, token: str | None = None) -> None:
        self.fake = fake
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.fake.api_url + path, timeout=5, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeBeampipe]:
    with FakeBeampipe(clock=clock) as server:
        yield server


def login(fake: FakeBeampipe, username: str = "admin") -> Api:
    tokens = fake.issue_tokens(username)
    return Api(fake, tokens["access_token"])


@pytest.fixture
def admin(fake: FakeBeampipe) -> Iterator[Api]:
    api = login(fake)
    with api.session:
        yield api


def expect(
    status: int,
    code: str,
    message: str,
    klass: str = "validation",
    retry: str = "after_remediation",
) -> dict[str, Any]:
    """The error fields a test pins: everything but the action texts."""
    return {"status": status, "code": code, "message": message, "class": klass, "retry": retry}


def bad_request(message: str) -> dict[str, Any]:
    return expect(400, "bad_request", message)


def conflict(message: str, code: str = "conflict") -> dict[str, Any]:
    return expect(409, code, message, "inconsistent_state")


UNAUTHORIZED = expect(401, "unauthorized", "authentication failed", "authentication")
FORBIDDEN = expect(403, "forbidden", "superuser required", "authorization")
NOT_FOUND = expect(404, "not_found", "the requested resource was not found", "not_found")


def assert_error(response: requests.Response, expected: dict[str, Any]) -> dict[str, Any]:
    assert response.status_code == expected["status"], response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    failure = body["failure"]
    assert set(body) == {"error", "code", "failure"}
    assert body["error"] == failure["message"] == expected["message"]
    assert body["code"] == failure["code"] == expected["code"]
    assert (failure["class"], failure["retry"]) == (expected["class"], expected["retry"])
    assert FAILURE_KEYS <= set(failure) <= FAILURE_KEYS | {"log_reference", "diagnostics"}
    return body


def assert_rejection(response: requests.Response, status: int, text: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text.startswith(text), response.text


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def upload_config(api: Api, yaml_text: str = CONFIG_YAML) -> Any:
    return api.ok(
        "POST",
        "/project-configs",
        201,
        data=yaml_text.encode(),
        headers={"Content-Type": "text/plain"},
    )


def ready_source(api: Api, module: str = MODULE, sid: str = SOURCE) -> str:
    """Register a source, discover it, and poll its status until it is ready; its id."""
    source = api.ok(
        "POST",
        "/sources",
        json={"project_module": module, "source_identifier": sid, "enabled": True},
    )
    api.ok("POST", "/sources/discover", json={"project_module": module, "source_identifier": sid})
    for _ in range(api.fake.discovery_polls + 1):
        status = api.ok("GET", f"/sources/{source['uuid']}/status")
    assert status["ready_for_execution"] is True
    return str(source["uuid"])


def started_execution(api: Api, body: dict[str, Any] = EXECUTION, **headers: str) -> str:
    execution = api.ok("POST", "/executions", 201, json=body, headers=headers)
    api.ok("POST", f"/executions/{execution['uuid']}/execute", 202, json={})
    return str(execution["uuid"])


def workflow_ready(api: Api) -> None:
    upload_config(api)
    ready_source(api)
    api.ok("POST", "/deployment-profiles", 201, json=SLURM_PROFILE)


def poll_statuses(api: Api, execution_id: str, polls: int) -> list[str]:
    return [api.ok("GET", f"/executions/{execution_id}/status")["status"] for _ in range(polls)]


def inventory(products: list[dict[str, Any]]) -> dict[str, Any]:
    """An output-verification request for `products`, with their canonical sha256."""
    canonical = json.dumps(products, sort_keys=True, separators=(",", ":")).encode()
    publication = {"acknowledged": True, "publisher": "casda", "receipt_id": "r1",
                   "published_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    return {"schema": "wallaby-hires-output-inventory/v1", "patterns": ["*.fits"],
            "pattern_counts": {"*.fits": 1}, "products": products,
            "inventory_sha256": hashlib.sha256(canonical).hexdigest(),
            "durable_destination_uri": "s3://bucket/run", "publication": publication}  # fmt: skip


# -- auth ---------------------------------------------------------------------------------------


def test_login_returns_an_hs256_jwt_pair_with_the_server_claims(
    fake: FakeBeampipe, clock: Clock
) -> None:
    api = Api(fake)
    response = api("POST", "/login", json={"username": "admin", "password": "admin-password"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOKEN_KEYS and body["token_type"] == "bearer"
    for name, typ, ttl in (("access_token", "access", 1800), ("refresh_token", "refresh", 604800)):
        header, payload, signature = body[name].split(".")
        assert json.loads(_b64(header)) == {"typ": "JWT", "alg": "HS256"}
        claims = json.loads(_b64(payload))
        assert list(claims) == ["sub", "typ", "jti", "exp", "iat"]
        assert (claims["sub"], claims["typ"]) == ("admin", typ)
        assert claims["iat"] == int(clock.now) and claims["exp"] - claims["iat"] == ttl
        assert uuid.UUID(claims["jti"]).version == 7
        mac = hmac.new(fake.jwt_secret, f"{header}.{payload}".encode(), hashlib.sha256)
        assert _b64(signature) == mac.digest()


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong"), ("nobody", "admin-password")]
)
def test_bad_login_is_401_authentication_failed(
    fake: FakeBeampipe, username: str, password: str
) -> None:
    response = Api(fake)("POST", "/login", json={"username": username, "password": password})
    body = assert_error(
        response,
        UNAUTHORIZED,
    )
    assert body["failure"]["component"] == "authentication"
    assert body["failure"]["operator_action"] == "authenticate again with valid credentials"


def test_refresh_rotates_and_the_spent_token_is_revoked_at_once(fake: FakeBeampipe) -> None:
    first = fake.issue_tokens("viewer")
    api = Api(fake)
    second = api.ok("POST", "/refresh", json={"refresh_token": first["refresh_token"]})
    assert set(second) == TOKEN_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert fake.refresh_count == 1
    assert fake.is_revoked(first["refresh_token"]) and not fake.is_revoked(second["refresh_token"])
    jti = json.loads(_b64(first["refresh_token"].split(".")[1]))["jti"]
    assert jti in fake.revoked_jtis
    reuse = api("POST", "/refresh", json={"refresh_token": first["refresh_token"]})
    assert_error(reuse, bad_request("token revoked"))
    assert fake.refresh_count == 1
    me = Api(fake, second["access_token"]).ok("GET", "/user/me")
    assert set(me) == USER_KEYS and me["username"] == "viewer" and me["is_superuser"] is False


def test_concurrent_refreshes_with_one_token_rotate_once(fake: FakeBeampipe) -> None:
    tokens = fake.issue_tokens("admin")
    body = {"refresh_token": tokens["refresh_token"]}
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: Api(fake)("POST", "/refresh", json=body), range(4)))
    assert sorted(r.status_code for r in replies) == [200, 400, 400, 400]
    assert {r.json()["error"] for r in replies if r.status_code == 400} == {"token revoked"}
    assert fake.refresh_count == 1


def test_refresh_rejections(fake: FakeBeampipe, clock: Clock) -> None:
    api, tokens = Api(fake), fake.issue_tokens("admin")
    assert_error(
        api("POST", "/refresh", json={}),
        bad_request("refresh_token required"),
    )
    header, payload, signature = tokens["refresh_token"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for token in (tokens["access_token"], "not-a-jwt", forged):
        assert_error(api("POST", "/refresh", json={"refresh_token": token}), UNAUTHORIZED)
    clock.advance(7 * 86400 + 61)  # past exp and jsonwebtoken's 60 s leeway
    assert_error(api("POST", "/refresh", json=tokens), UNAUTHORIZED)


def test_access_tokens_expire_after_their_ttl_and_the_leeway(
    fake: FakeBeampipe, clock: Clock
) -> None:
    api = login(fake)
    clock.advance(1800 + 59)
    assert api("GET", "/user/me").status_code == 200
    clock.advance(2)
    assert_error(
        api("GET", "/user/me"),
        UNAUTHORIZED,
    )


@pytest.mark.parametrize(
    "authorization",
    [None, "Token {t}", "bearer {t}", "Bearer {r}", "Bearer not.a.jwt"],
)
def test_a_missing_malformed_or_refresh_token_is_401(
    fake: FakeBeampipe, authorization: str | None
) -> None:
    tokens = fake.issue_tokens("admin")
    headers = {}
    if authorization is not None:
        value = authorization.format(t=tokens["access_token"], r=tokens["refresh_token"])
        headers["Authorization"] = value
    response = Api(fake)("GET", "/sources", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_logout_revokes_both_tokens(fake: FakeBeampipe) -> None:
    tokens = fake.issue_tokens("admin")
    api = Api(fake)
    response = api("POST", "/logout", json=tokens)
    assert (response.status_code, response.content) == (204, b"")
    assert Api(fake, tokens["access_token"])("GET", "/user/me").status_code == 401
    reuse = api("POST", "/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.json()["error"] == "token revoked"


def test_logout_rejections(fake: FakeBeampipe) -> None:
    api = Api(fake)
    assert_error(
        api("POST", "/logout", json={}),
        bad_request("access_token or refresh_token required"),
    )
    admin, viewer = fake.issue_tokens("admin"), fake.issue_tokens("viewer")
    mixed = {"access_token": admin["access_token"], "refresh_token": viewer["refresh_token"]}
    swapped = {"access_token": admin["refresh_token"]}
    for body in (mixed, swapped, {"refresh_token": "garbage"}):
        assert api("POST", "/logout", json=body).status_code == 401
    assert not fake.is_revoked(admin["access_token"])


def test_opaque_tokens_are_random_strings_with_server_side_expiry(clock: Clock) -> None:
    with FakeBeampipe(clock=clock, opaque_tokens=True, access_ttl=60.0, leeway=0.0) as fake:
        api = Api(fake)
        tokens = api.ok("POST", "/login", json={"username": "admin", "password": "admin-password"})
        assert tokens["access_token"].count(".") == 0
        assert Api(fake, tokens["access_token"]).ok("GET", "/user/me")["username"] == "admin"
        rotated = api.ok("POST", "/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert fake.is_revoked(tokens["refresh_token"]) and fake.refresh_count == 1
        clock.advance(61)
        assert Api(fake, rotated["access_token"])("GET", "/user/me").status_code == 401
        assert api("POST", "/refresh", json=rotated).status_code == 200


def test_issue_tokens_and_add_user_helpers(fake: FakeBeampipe) -> None:
    user = fake.add_user("operator", "op-password", superuser=True)
    assert set(user) == USER_KEYS and user["is_superuser"] is True
    assert "op-password" not in json.dumps(fake.users["operator"])
    tokens = Api(fake).ok(
        "POST", "/login", json={"username": "operator", "password": "op-password"}
    )
    assert Api(fake, tokens["access_token"]).ok("GET", "/user/me")["username"] == "operator"
    with pytest.raises(KeyError, match="nobody"):
        fake.issue_tokens("nobody")


def test_state_helpers_seed_configs_and_discovered_sources(fake: FakeBeampipe) -> None:
    assert fake.upload_config(CONFIG_YAML)["project_id"] == MODULE
    with pytest.raises(ValueError, match="metadata: missing field `id`"):
        fake.upload_config(CONFIG_YAML.replace(f"  id: {MODULE}\n", ""))
    fresh = fake.add_source(MODULE, "J1")
    assert fresh["enabled"] is True and fresh["last_checked_at"] is None
    done = fake.complete_discovery(fresh["uuid"])
    assert done["last_checked_at"] is not None and done["discovery_signature"]
    ready = fake.add_source(MODULE, "J2", discovered=True)
    status = login(fake).ok("GET", f"/sources/{ready['uuid']}/status")
    assert status["ready_for_execution"] is True
    assert [v["version"] for v in fake.configs[MODULE]] == [1]


def test_superuser_routes_are_403_for_a_viewer(fake: FakeBeampipe) -> None:
    viewer = login(fake, "viewer")
    any_id = str(uuid.uuid4())
    verify = {
        "schema": "s",
        "patterns": [],
        "pattern_counts": {},
        "products": [],
        "inventory_sha256": "x",
        "durable_destination_uri": "s3://b/k",
        "publication": {
            "acknowledged": True,
            "publisher": "p",
            "receipt_id": "r",
            "published_at": "2026-01-01T00:00:00Z",
        },
    }
    abandon = {
        "reason": "r",
        "expected_submission_state": "uncertain",
        "expected_daliuge_session_id": "s",
        "acknowledge_external_job_may_exist": True,
        "expected_submission_deadline_at": "2026-01-01T00:00:00Z",
    }
    channel = {"name": "ops", "kind": "webhook", "config": {"url": "https://hooks.test/x"}}
    rule = {
        "name": "r",
        "trigger_kind": "execution_terminal",
        "trigger_config": {},
        "channel_ids": [],
    }
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/project-configs", {"data": CONFIG_YAML}),
        ("POST", f"/project-configs/{MODULE}/wasm", {"data": WASM}),
        ("POST", "/jobs", {"json": {"kind": "discover"}}),
        ("POST", "/deployment-profiles", {"json": SLURM_PROFILE}),
        ("PATCH", f"/deployment-profiles/{any_id}", {"json": SLURM_PROFILE}),
        ("DELETE", f"/deployment-profiles/{any_id}", {}),
        ("POST", "/workers", {"json": {"instance_name": "w", "host": "h", "version": "1"}}),
        ("POST", f"/workers/{any_id}/drain", {}),
        ("POST", f"/workers/{any_id}/resume", {}),
        ("POST", f"/executions/{any_id}/outputs/verify", {"json": verify}),
        ("POST", f"/executions/{any_id}/submission/abandon", {"json": abandon}),
        ("POST", "/notification-channels", {"json": channel}),
        ("PATCH", f"/notification-channels/{any_id}", {"json": {"enabled": False}}),
        ("DELETE", f"/notification-channels/{any_id}", {}),
        ("POST", f"/notification-channels/{any_id}/test", {}),
        ("POST", "/alert-rules", {"json": rule}),
        ("PATCH", f"/alert-rules/{any_id}", {"json": {"enabled": False}}),
        ("DELETE", f"/alert-rules/{any_id}", {}),
    ]
    for method, path, kwargs in calls:
        body = assert_error(viewer(method, path, **kwargs), FORBIDDEN)
        assert body["failure"]["component"] == "authorization", path
    assert fake.configs == {} and fake.profiles == {} and fake.jobs == {}


# -- the wire: errors, rejections, request ids ------------------------------------------------


def test_not_found_and_conflict_bodies_match_the_server(admin: Api) -> None:
    body = assert_error(
        admin("GET", f"/sources/{uuid.uuid4()}"),
        NOT_FOUND,
    )
    assert body["failure"] == {
        "code": "not_found",
        "component": "api",
        "class": "not_found",
        "message": "the requested resource was not found",
        "retry": "after_remediation",
        "system_action": "the request was not applied",
        "operator_action": "check the resource identifier and try again",
    }
    admin.ok("POST", "/deployment-profiles", 201, json=REST_PROFILE)
    clash = {**REST_PROFILE, "name": "second-default"}
    assert_error(
        admin("POST", "/deployment-profiles", json=clash),
        conflict(
            "encountered unexpected or invalid data: deployment profile 'dlg-dim' "
            "is already the default for the global scope"
        ),
    )
    duplicate = assert_error(
        admin("POST", "/deployment-profiles", json={**REST_PROFILE, "is_default": False}),
        expect(
            500, "database_error", "the database operation failed", "dependency_unavailable", "safe"
        ),
    )
    assert duplicate["failure"]["log_reference"]


def test_framework_rejections_are_plain_text(admin: Api) -> None:
    assert_rejection(
        admin("POST", "/executions", data=json.dumps(EXECUTION)),
        415,
        "Expected request with `Content-Type: application/json`",
    )
    as_json = {"Content-Type": "application/json"}
    assert_rejection(
        admin("POST", "/executions", data="{", headers=as_json),
        400,
        "Failed to parse the request body as JSON: EOF while parsing an object",
    )
    deserialize = "Failed to deserialize the JSON body into the target type: "
    assert_rejection(
        admin("POST", "/executions", json={**EXECUTION, "extra": 1}),
        422,
        f"{deserialize}unknown field `extra`, expected one of `project_module`, "
        "`sources`, `archive_name`, `deployment_profile_id`, "
        "`deployment_profile_name` at line 1 column ",
    )
    nested = {**EXECUTION, "sources": [{"source_identifier": SOURCE, "sbid": "1"}]}
    assert_rejection(
        admin("POST", "/executions/prepare", json=nested),
        422,
        f"{deserialize}sources[0]: unknown field `sbid`, expected `source_identifier` or `sbids`",
    )
    any_id = uuid.uuid4()
    assert_rejection(
        admin("PATCH", f"/executions/{any_id}", json={"status": "cancelled", "reason": "x"}),
        422,
        f"{deserialize}unknown field `reason`, expected `status`",
    )
    assert_rejection(
        admin("PATCH", f"/executions/{any_id}", json={"status": "done"}),
        422,
        f"{deserialize}status: unknown variant `done`, expected one of `pending`",
    )
    assert_rejection(
        admin("POST", "/login", json={"username": "admin"}),
        422,
        f"{deserialize}missing field `password` at line 1 column 21",
    )
    assert_rejection(
        admin("POST", "/sources", json={"project_module": 5, "source_identifier": "s"}),
        422,
        f"{deserialize}project_module: invalid type: integer `5`, expected a string",
    )
    assert_rejection(
        admin("GET", "/executions/not-a-uuid"),
        400,
        "Invalid URL: UUID parsing failed: invalid character",
    )
    assert_rejection(
        admin("GET", "/sources?limit=ten"),
        400,
        "Failed to deserialize query string: invalid digit found in string",
    )
    assert_rejection(
        admin("GET", "/workers?include_stopped=yes"),
        400,
        "Failed to deserialize query string: provided string was not `true`",
    )


def test_unknown_route_is_an_empty_404_and_wrong_method_an_empty_405(admin: Api) -> None:
    missing = admin("GET", "/nothing-here")
    assert (missing.status_code, missing.content) == (404, b"")
    assert "Content-Type" not in missing.headers
    wrong = admin("DELETE", "/executions")
    assert (wrong.status_code, wrong.content) == (405, b"")
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    # A static segment wins over a parameter, as in axum's router: not "invalid UUID".
    assert admin("DELETE", "/sources/bulk").status_code == 405


def test_every_reply_carries_x_request_id(fake: FakeBeampipe, admin: Api) -> None:
    echoed = admin("GET", "/health", headers={"x-request-id": "req-123"})
    assert echoed.headers["x-request-id"] == "req-123"
    for response in (admin("GET", "/health"), admin("GET", "/nope"), Api(fake)("GET", "/ready")):
        assert uuid.UUID(response.headers["x-request-id"]).version == 7
    fake.fail_next(503, {"error": "busy"}, path="/api/v2/health")
    failed = admin("GET", "/health", headers={"x-request-id": "req-9"})
    assert (failed.status_code, failed.headers["x-request-id"]) == (503, "req-9")
    assert admin("GET", "/health").json() == {"status": "ok", "service": "beampipe-v2"}


def test_the_request_id_becomes_the_execution_correlation_id(admin: Api) -> None:
    workflow_ready(admin)
    created = admin.ok(
        "POST", "/executions", 201, json=EXECUTION, headers={"x-request-id": "corr-42"}
    )
    events = admin.ok("GET", f"/executions/{created['uuid']}/events")
    assert [(e["event_type"], e["correlation_id"]) for e in events] == [
        ("execution.created", "corr-42")
    ]
    ledger = admin.ok("GET", f"/executions/{created['uuid']}/ledger-snapshot")
    assert ledger["correlation_id"] == "corr-42"


# -- project configs --------------------------------------------------------------------------


def test_project_configs_are_versioned_and_the_latest_is_active(admin: Api) -> None:
    report = upload_config(admin)
    assert set(report) == REPORT_KEYS and report["valid"] is True and report["errors"] == []
    assert report["project_id"] == MODULE and len(report["spec_sha256"]) == 64
    second = admin.ok(
        "POST",
        "/project-configs",
        201,
        data=CONFIG_YAML.replace("timeout_seconds: 60", "timeout_seconds: 90"),
        headers={"Content-Type": "application/x-yaml"},
    )
    assert second["spec_sha256"] != report["spec_sha256"]
    active = admin.ok("GET", f"/project-configs/{MODULE}")
    assert set(active) == CONFIG_ROW_KEYS and (active["version"], active["active"]) == (2, True)
    assert active["spec"]["metadata"] == {
        "id": MODULE,
        "description": "Generic single-archive survey",
    }
    assert active["spec"]["adapters"]["tap"]["timeout_seconds"] == 90
    template = active["spec"]["discovery"]["queries"][0]["template"]
    assert template == "SELECT * FROM ivoa.obscore\nWHERE filename LIKE '{source_identifier}%'\n"
    versions = admin.ok("GET", f"/project-configs/{MODULE}/versions")
    assert [(v["version"], v["active"]) for v in versions] == [(2, True), (1, False)]
    assert admin.ok("GET", "/project-configs/other/versions") == []
    assert admin("GET", "/project-configs/other").status_code == 404
    assert admin.ok("GET", "/projects") == [{"project_id": MODULE, "version": 2, "active": True}]
    contracts = admin.ok("GET", "/projects/contracts")
    assert contracts == [admin.ok("GET", f"/projects/contracts/{MODULE}")]
    assert contracts[0] == {
        "project_id": MODULE,
        "valid": True,
        "errors": [],
        "spec_sha256": second["spec_sha256"],
    }
    events = admin.ok("GET", f"/projects/{MODULE}/events?limit=1")
    assert [(e["event_type"], e["payload"]["version"]) for e in events] == [("config.activated", 2)]
    assert set(events[0]) == EVENT_KEYS


@pytest.mark.parametrize(
    ("text", "diagnostic"),
    [
        (
            CONFIG_YAML.replace(f"  id: {MODULE}\n", ""),
            {
                "path": "metadata",
                "code": "invalid_config_structure",
                "message": "missing field `id`",
            },
        ),
        (
            "apiVersion: beampipe.dev/v2\nkind: [unclosed\n",
            {
                "path": "line 2, column 16",
                "code": "invalid_yaml",
                "message": "did not find expected ',' or ']' at line 2 column 16",
            },
        ),
        (
            CONFIG_YAML.replace("required: [casda]", "required: []"),
            {
                "path": "adapters.required",
                "code": "required",
                "message": "adapters.required must include at least one adapter",
            },
        ),
    ],
)
def test_an_invalid_project_config_is_400_with_diagnostics(
    admin: Api, text: str, diagnostic: dict[str, str]
) -> None:
    response = admin("POST", "/project-configs", data=text)
    body = assert_error(
        response,
        expect(400, "project_config_validation_failed", "project config validation failed"),
    )
    (found,) = body["failure"]["diagnostics"]
    assert {k: found[k] for k in diagnostic} == diagnostic
    assert found["severity"] == "error"
    assert admin.fake.configs == {}


def test_wasm_modules_upload_and_download(admin: Api) -> None:
    upload_config(admin)
    module = WASM + b"\x01\x02"
    uploaded = admin.ok(
        "POST",
        f"/project-configs/{MODULE}/wasm",
        201,
        data=module,
        headers={"Content-Type": "application/octet-stream"},
    )
    config_id = admin.ok("GET", f"/project-configs/{MODULE}")["uuid"]
    digest = hashlib.sha256(module).hexdigest()
    assert uploaded == {"wasm_sha256": digest, "project_config_id": config_id}
    info = admin.ok("GET", f"/project-configs/{MODULE}/wasm/{digest}")
    assert set(info) == {"wasm_sha256", "project_config_id", "uploaded_at"}
    download = admin("GET", f"/project-configs/{MODULE}/wasm/{digest}?download=true")
    assert download.headers["Content-Type"] == "application/wasm"
    assert download.content == module
    assert admin("GET", f"/project-configs/{MODULE}/wasm/{'0' * 64}").status_code == 404
    bad = expect(400, "wasm_validation_failed", "wasm module bytes are empty")
    assert_error(admin("POST", f"/project-configs/{MODULE}/wasm", data=b""), bad)
    not_wasm = admin("POST", f"/project-configs/{MODULE}/wasm", data=b"MZ\x90\x00")
    assert not_wasm.json()["code"] == "wasm_validation_failed"
    assert admin("POST", "/project-configs/other/wasm", data=module).status_code == 404


# -- sources ----------------------------------------------------------------------------------


def test_sources_upsert_and_omitting_enabled_disables(admin: Api) -> None:
    body = {"project_module": MODULE, "source_identifier": SOURCE, "enabled": True}
    first = admin.ok("POST", "/sources", json=body)
    assert set(first) == SOURCE_KEYS and first["enabled"] is True
    again = admin.ok("POST", "/sources", json={k: body[k] for k in list(body)[:2]})
    assert (again["uuid"], again["enabled"]) == (first["uuid"], False)
    second = {"project_module": MODULE, "source_identifier": "J2"}
    bulk = admin.ok("POST", "/sources/bulk", json={"items": [body, second]})
    assert bulk["total"] == 2 and bulk["items"][0]["uuid"] == first["uuid"]
    assert [s["enabled"] for s in bulk["items"]] == [True, False]


def test_source_list_pages_with_limit_and_offset(admin: Api) -> None:
    for i in range(5):
        admin.ok(
            "POST",
            "/sources",
            json={"project_module": MODULE, "source_identifier": f"S{i}", "enabled": True},
        )
    admin.ok("POST", "/sources", json={"project_module": "other", "source_identifier": "X"})

    def page(query: str) -> list[str]:
        return [s["source_identifier"] for s in admin.ok("GET", f"/sources?{query}")]

    assert page(f"project_module={MODULE}&limit=2") == ["S4", "S3"]
    assert page(f"project_module={MODULE}&limit=2&offset=4") == ["S0"]
    assert page("limit=0") == ["X"]  # clamped to 1
    assert page("limit=9999&offset=-3") == ["X", "S4", "S3", "S2", "S1", "S0"]


def test_source_patch_distinguishes_absent_null_and_value(admin: Api) -> None:
    source = admin.ok(
        "POST", "/sources", json={"project_module": MODULE, "source_identifier": SOURCE}
    )
    path = f"/sources/{source['uuid']}"
    assert admin.ok("PATCH", path, json={"stale_after_hours": 12})["stale_after_hours"] == 12
    kept = admin.ok("PATCH", path, json={"enabled": True})
    assert (kept["enabled"], kept["stale_after_hours"]) == (True, 12)
    assert admin.ok("PATCH", path, json={"stale_after_hours": None})["stale_after_hours"] is None
    assert admin.ok("GET", path) == admin.fake.sources[source["uuid"]]
    deleted = admin("DELETE", path)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert admin("GET", path).status_code == 404
    assert admin("PATCH", path, json={}).status_code == 404


def test_discovery_completes_after_the_configured_status_polls(fake: FakeBeampipe) -> None:
    api = login(fake)
    body = {"project_module": MODULE, "source_identifier": SOURCE, "enabled": True}
    source = api.ok("POST", "/sources", json=body)
    api.ok("POST", "/sources", json={**body, "source_identifier": "off", "enabled": False})
    both = {"project_module": MODULE, "source_identifier": SOURCE, "source_identifiers": []}
    assert_error(
        api("POST", "/sources/discover", json=both),
        bad_request("Provide only one of source_identifier or source_identifiers"),
    )
    marked = api.ok("POST", "/sources/discover", json={"project_module": MODULE})
    assert marked["marked_count"] == 1 and marked["source_identifiers"] == [SOURCE]
    assert marked["message"].startswith("Sources marked for rediscovery.")
    unknown = api.ok("POST", "/sources/discover", json={"project_module": "nope"})
    assert (unknown["marked_count"], unknown["source_identifiers"]) == (0, [])
    path = f"/sources/{source['uuid']}/status"
    polls = [api.ok("GET", path) for _ in range(fake.discovery_polls + 1)]
    assert [p["discovery_complete"] for p in polls] == [False, False, True]
    assert polls[0]["blockers"] == [
        f"Source {SOURCE}: Discovery has not yet run for this source (last_checked_at is unset). "
        "Run discovery first (POST /api/v2/sources/discover)."
    ]
    done = polls[-1]
    assert set(done) == SOURCE_STATUS_KEYS | {"pending_age_seconds"}
    assert done["ready_for_execution"] is done["workflow_run_pending"] is True
    assert done["blockers"] == []
    metadata = api.ok("GET", f"/sources/{source['uuid']}/metadata")
    assert metadata["metadata_count"] == 1 and set(metadata["metadata"][0]) == METADATA_KEYS
    assert metadata["source"]["discovery_signature"] == done["discovery_signature"]
    events = api.ok("GET", f"/sources/{source['uuid']}/events")
    assert [e["event_type"] for e in events] == ["source.discovered", "source.discovery_requested"]


# -- deployment profiles ------------------------------------------------------------------------


def test_profiles_are_stored_with_the_server_defaults(admin: Api) -> None:
    created = admin.ok("POST", "/deployment-profiles", 201, json=SLURM_PROFILE)
    assert set(created) == PROFILE_KEYS
    assert (created["revision"], created["is_default"], created["updated_at"]) == (1, False, None)
    deployment = created["deployment"]
    assert next(iter(deployment)) == "kind"
    defaults = {"ssh_port": 22, "exec_prefix": "srun -l", "facility": "setonix", "num_nodes": 1}
    assert {k: deployment[k] for k in defaults} == defaults
    assert deployment["ssh_credential"] == "[REDACTED]"  # the server redacts *credential* keys
    assert deployment["resources"] == {"partition": "work", "nodes": 1}
    assert created["translation"] == {"algo": "metis", "num_par": 1, "num_islands": 1}
    rest = admin.ok("POST", "/deployment-profiles", 201, json=REST_PROFILE)
    assert rest["deployment"] == {
        "kind": "rest_remote",
        "dim_port_for_tm": 8001,
        "deploy_host": "dim.example.org",
        "deploy_port": 8001,
        "use_https": False,
        "verify_ssl": True,
    }
    listed = admin.ok("GET", f"/deployment-profiles?project_module={MODULE}")
    assert [p["name"] for p in listed] == ["dlg-dim", "slurm-remote"]  # newest first, no filter
    patched = admin.ok(
        "PATCH",
        f"/deployment-profiles/{created['uuid']}",
        json={**SLURM_PROFILE, "description": "v2"},
    )
    assert (patched["revision"], patched["description"]) == (2, "v2")
    assert patched["spec_sha256"] != created["spec_sha256"] and patched["updated_at"]
    deleted = admin("DELETE", f"/deployment-profiles/{rest['uuid']}")
    assert deleted.status_code == 204
    assert admin("GET", f"/deployment-profiles/{rest['uuid']}").status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "text"),
    [
        (
            {"translation": {"algo": "metis", "gpus": 2}},
            422,
            "translation: unknown field `gpus`, expected one of `algo`",
        ),
        (
            {"translation": {"algo": "dask"}},
            422,
            "translation.algo: unknown variant `dask`, expected `metis` or `mysarkar`",
        ),
        (
            {"deployment": {"kind": "slurm_remote", "login_node": "l"}},
            422,
            "deployment: missing field `account`",
        ),
        (
            {"deployment": {"kind": "k8s"}},
            422,
            "deployment: unknown variant `k8s`, expected `rest_remote` or `slurm_remote`",
        ),
        ({"translation": {"num_par": 0}}, 400, "translation.num_par must be >= 1"),
        (
            {"deployment": {**SLURM_PROFILE["deployment"], "home_dir": "home"}},
            400,
            "deployment.home_dir must be an absolute remote path",
        ),
        ({"deployment": {"kind": "rest_remote"}}, 400, "deployment.deploy_host is required"),
        ({"name": "bad name"}, 400, "name must be 1-50 ASCII letters, digits, '.', '_', or '-'"),
    ],
)
def test_profile_validation(admin: Api, change: dict[str, Any], status: int, text: str) -> None:
    response = admin("POST", "/deployment-profiles", json={**SLURM_PROFILE, **change})
    if status == 422:
        assert_rejection(
            response, 422, f"Failed to deserialize the JSON body into the target type: {text}"
        )
    else:
        assert_error(response, bad_request(text))


# -- executions ---------------------------------------------------------------------------------


def test_the_seed_workflow_end_to_end(fake: FakeBeampipe) -> None:
    api = Api(fake)
    tokens = api.ok("POST", "/login", json={"username": "admin", "password": "admin-password"})
    api.session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    upload_config(api)
    source_id = ready_source(api)
    profile = api.ok("POST", "/deployment-profiles", 201, json=SLURM_PROFILE)
    preview = api.ok("POST", "/executions/prepare", json=EXECUTION)
    assert preview == {
        "project_module": MODULE,
        "valid": True,
        "errors": [],
        "total_datasets": 1,
        "sources_preview": [{"source_identifier": SOURCE, "sbid_count": 1, "dataset_count": 1}],
    }
    assert fake.executions == {}
    created = api.ok("POST", "/executions", 201, json=EXECUTION, headers={"Idempotency-Key": "a1"})
    assert set(created) == EXECUTION_READ_KEYS
    assert (created["status"], created["deployment_profile_id"]) == ("pending", profile["uuid"])
    assert created["project_config_version"] == 1 and created["sources"] == EXECUTION["sources"]
    execution_id = created["uuid"]
    accepted = api.ok("POST", f"/executions/{execution_id}/execute", 202, json={})
    assert accepted == {**accepted, "status": "accepted", "do_stage": True, "do_submit": True}
    assert set(accepted) == EXECUTE_KEYS
    statuses = poll_statuses(api, execution_id, 5)
    assert statuses == ["pending", "pending", "running", "running", "completed"]
    final = api.ok("GET", f"/executions/{execution_id}/status")
    assert set(final) == STATUS_KEYS
    assert final["terminal_outcome"] == final["scheduler_state"] == "succeeded"
    assert final["slurm_state"] == "COMPLETED"
    summary = api.ok("GET", f"/executions/{execution_id}/summary")
    assert set(summary) == SUMMARY_KEYS
    assert summary["requested_source_count"] == 1
    assert summary["requested_source_identifiers"] == [SOURCE]
    ledger = api.ok("GET", f"/executions/{execution_id}/ledger-snapshot")
    assert set(ledger) == LEDGER_KEYS
    assert ledger["provenance_summary"]["config_version"] == 1
    recent = [e["event_type"] for e in ledger["provenance_summary"]["recent_events"]]
    assert recent == ["execution.created", "execution.start_requested", "execution.running",
                      "execution.completed"]  # fmt: skip
    lean = api.ok("GET", f"/executions/{execution_id}/ledger-snapshot?include_manifest=false")
    assert "workflow_manifest" not in lean
    read = api.ok("GET", f"/executions/{execution_id}")
    assert read["slurm_login_node"] == "setonix.pawsey.org.au"
    assert read["beampipe_run_record"] == read["workflow_manifest"]["beampipe_run_record"]
    after = api.ok("GET", f"/sources/{source_id}/status")
    assert after["signature_matches_last_execution"] is True
    assert after["ready_for_execution"] is False
    runs = api.ok("GET", f"/sources/{source_id}/executions")
    assert [r["uuid"] for r in runs] == [execution_id] and set(runs[0]) == EXECUTION_ROW_KEYS


def test_admission_errors_are_joined_into_one_400(admin: Api) -> None:
    body = {**EXECUTION, "sources": [{"source_identifier": SOURCE}, {"source_identifier": SOURCE}]}
    assert_error(
        admin("POST", "/executions", json=body),
        bad_request(
            f"source '{SOURCE}' is selected more than once; project 'survey' has "
            "no active configuration; deployment profile 'slurm-remote' does not exist; Source "
            f"{SOURCE} is not registered. Register and discover the source before execution."
        ),
    )
    upload_config(admin)
    admin.ok(
        "POST",
        "/sources",
        json={"project_module": MODULE, "source_identifier": SOURCE, "enabled": True},
    )
    admin.ok("POST", "/deployment-profiles", 201, json=SLURM_PROFILE)
    preview = admin.ok("POST", "/executions/prepare", json={**EXECUTION, "archive_name": "vizier"})
    assert preview["valid"] is False and preview["errors"] == [
        "archive 'vizier' is not enabled by project 'survey'",
        f"Source {SOURCE}: Discovery has not yet run for this source (last_checked_at is unset). "
        "Run discovery first (POST /api/v2/sources/discover).",
    ]
    no_profile = {k: v for k, v in EXECUTION.items() if k != "deployment_profile_name"}
    message = admin("POST", "/executions", json=no_profile).json()["error"]
    assert "project 'survey' has no default deployment profile; select one explicitly" in message
    assert admin.fake.executions == {}


def test_create_is_idempotent_per_user_and_key(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    key = {"Idempotency-Key": "create-01"}
    first = admin.ok("POST", "/executions", 201, json=EXECUTION, headers=key)
    spaced = {**EXECUTION, "project_module": f" {MODULE} "}  # same canonical request
    replay = admin.ok("POST", "/executions", 200, json=spaced, headers=key)
    assert replay == first
    assert_error(
        admin("POST", "/executions", json={**EXECUTION, "archive_name": "vizier"}, headers=key),
        conflict("Idempotency-Key was already used for a different execution request"),
    )
    bad_key = admin("POST", "/executions", json=EXECUTION, headers={"Idempotency-Key": "a b"})
    assert bad_key.json()["error"] == (
        "Idempotency-Key must be 1-128 visible ASCII characters without whitespace"
    )
    other_user = login(fake, "viewer").ok("POST", "/executions", 201, json=EXECUTION, headers=key)
    assert other_user["uuid"] != first["uuid"]
    row = fake.executions[first["uuid"]]
    assert row["create_idempotency_key"] == "create-01" and len(row["create_request_sha256"]) == 64
    assert len(fake.executions) == 2


def test_execution_list_pages_and_filters(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    ids = [admin.ok("POST", "/executions", 201, json=EXECUTION)["uuid"] for _ in range(3)]
    admin.ok("PATCH", f"/executions/{ids[0]}", json={"status": "cancelled"})
    page = admin.ok("GET", "/executions?page=2&items_per_page=2")
    assert (page["total"], page["page"], page["items_per_page"]) == (3, 2, 2)
    assert [e["uuid"] for e in page["items"]] == [ids[0]]
    assert set(page["items"][0]) == EXECUTION_ROW_KEYS
    clamped = admin.ok("GET", "/executions?page=0&items_per_page=0")
    assert (clamped["page"], clamped["items_per_page"], len(clamped["items"])) == (1, 1, 1)
    pending = admin.ok("GET", f"/executions?status=pending&project_module={MODULE}")
    assert [e["uuid"] for e in pending["items"]] == ids[:0:-1] and pending["total"] == 2
    assert admin.ok("GET", "/executions?project_module=other")["total"] == 0


def test_cancel_and_the_patch_rules(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    execution_id = started_execution(admin)
    path = f"/executions/{execution_id}"
    assert_error(
        admin("PATCH", path, json={"status": "running"}),
        bad_request("the public execution patch endpoint only supports status=cancelled"),
    )
    cancelled = admin.ok("PATCH", path, json={"status": "cancelled"})
    assert (cancelled["status"], cancelled["terminal_outcome"]) == ("cancelled", "cancelled")
    assert admin("PATCH", path, json={"status": "cancelled"}).json()["error"] == (
        "execution is already terminal (cancelled)"
    )
    again = admin("POST", f"{path}/execute", json={})
    assert again.json()["error"] == "execution cannot be started from status 'cancelled'"
    assert poll_statuses(admin, execution_id, 3) == ["cancelled"] * 3
    assert (
        admin("PATCH", f"/executions/{uuid.uuid4()}", json={"status": "cancelled"}).status_code
        == 404
    )


def test_execute_is_idempotent_per_flags(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    execution_id = admin.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
    path = f"/executions/{execution_id}/execute"
    first = admin.ok("POST", path, 202, json={"do_stage": True})
    assert admin.ok("POST", path, 202, json={})["job_id"] == first["job_id"]
    assert_error(
        admin("POST", path, json={"do_submit": False}),
        conflict("execution was already queued with different do_stage/do_submit options"),
    )
    poll_statuses(admin, execution_id, 5)
    assert admin.ok("POST", path, 202, json={})["job_id"] == first["job_id"]  # completed job
    assert admin("POST", f"/executions/{uuid.uuid4()}/execute", json={}).status_code == 404


def test_a_failed_run_is_retried_in_place(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    execution_id = admin.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
    fake.fail_executions.add(execution_id)
    admin.ok("POST", f"/executions/{execution_id}/execute", 202, json={})
    assert poll_statuses(admin, execution_id, 5)[-1] == "failed"
    failed = admin.ok("GET", f"/executions/{execution_id}")
    assert failed["last_error"] == fake.failure_message
    assert failed["failure_class"] == "dependency_unavailable"
    retry = f"/executions/{execution_id}/retry"
    body = assert_error(
        admin("POST", retry, json={"reason": "  "}),
        conflict("a recovery reason is required for the audit trail", "retry_reason_required"),
    )
    assert body["failure"]["component"] == "execution_retry"
    assert_rejection(
        admin("POST", retry, json={}),
        422,
        "Failed to deserialize the JSON body into the target type: missing field `reason`",
    )
    fake.fail_executions.clear()
    accepted = admin.ok("POST", retry, 202, json={"reason": "archive is back"})
    assert set(accepted) == RETRY_KEYS and accepted["job_id"] in fake.jobs
    assert (accepted["status"], accepted["retry_count"]) == ("accepted", 1)
    assert (accepted["stage"], accepted["do_stage"]) == ("stage_and_manifest", True)
    statuses = poll_statuses(admin, execution_id, 5)
    assert statuses == ["retrying", "retrying", "running", "running", "completed"]
    again = admin("POST", retry, json={"reason": "once more"})
    assert again.json()["code"] == "execution_not_failed"


def test_every_run_fails_when_asked(clock: Clock) -> None:
    with FakeBeampipe(clock=clock, fail_executions=True, execution_polls=0) as fake:
        admin = login(fake)
        workflow_ready(admin)
        execution_id = started_execution(admin)
        assert poll_statuses(admin, execution_id, 1) == ["failed"]


def test_staging_only_runs_end_not_submitted(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    execution_id = admin.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
    admin.ok("POST", f"/executions/{execution_id}/execute", 202, json={"do_submit": False})
    assert poll_statuses(admin, execution_id, 5)[-1] == "not_submitted"


def test_output_verification_holds_success_until_acknowledged(fake: FakeBeampipe) -> None:
    admin = login(fake)
    upload_config(admin, VERIFIED_YAML)
    ready_source(admin, "verified")
    admin.ok("POST", "/deployment-profiles", 201, json={**SLURM_PROFILE, "project_module": None})
    body = {**EXECUTION, "project_module": "verified"}
    execution_id = started_execution(admin, body)
    assert poll_statuses(admin, execution_id, 6)[-1] == "running"
    held = admin.ok("GET", f"/executions/{execution_id}")
    assert (held["control_phase"], held["output_state"]) == ("output_verification", "pending")
    # The canonical products JSON has sorted keys: bytes, path, sha256.
    canonical = b'[{"bytes":10,"path":"cube.fits","sha256":"' + b"a" * 64 + b'"}]'
    digest = hashlib.sha256(canonical).hexdigest()
    request = inventory([{"path": "cube.fits", "bytes": 10, "sha256": "a" * 64}])
    path = f"/executions/{execution_id}/outputs/verify"
    wrong = admin("POST", path, json={**request, "inventory_sha256": "b" * 64})
    message = f"inventory_sha256 does not match canonical products JSON (expected {digest})"
    assert_error(wrong, bad_request(message))
    assert request["inventory_sha256"] == digest
    verified = admin.ok("POST", path, json=request)
    assert set(verified) == {"execution", "artifact"} and set(verified["artifact"]) == ARTIFACT_KEYS
    assert verified["execution"]["status"] == "completed"
    assert verified["execution"]["output_state"] == "verified"
    assert admin.ok("POST", path, json=request)["artifact"] == verified["artifact"]
    kinds = [a["kind"] for a in admin.ok("GET", f"/executions/{execution_id}/artifacts")]
    assert kinds == ["workflow_manifest", "output_inventory"]


def test_an_uncertain_submission_can_be_abandoned(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    execution_id = admin.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
    row = fake.set_submission_uncertain(execution_id)
    request = {
        "reason": "three scheduler negatives reviewed",
        "expected_submission_state": "uncertain",
        "expected_daliuge_session_id": row["daliuge_session_id"],
        "expected_submission_deadline_at": row["submission_deadline_at"],
        "acknowledge_external_job_may_exist": True,
    }
    path = f"/executions/{execution_id}/submission/abandon"
    body = assert_error(
        admin("POST", path, json={**request, "acknowledge_external_job_may_exist": False}),
        expect(
            400,
            "submission_abandonment_orphan_risk_not_acknowledged",
            "acknowledge_external_job_may_exist must be true",
        ),
    )
    assert body["failure"]["component"] == "submission_abandonment"
    mismatch = admin("POST", path, json={**request, "expected_daliuge_session_id": "other"})
    assert (mismatch.status_code, mismatch.json()["code"]) == (
        409,
        "submission_abandonment_cas_mismatch",
    )
    abandoned = admin.ok("POST", path, json=request)
    assert set(abandoned) == EXECUTION_READ_KEYS
    assert (abandoned["status"], abandoned["terminal_outcome"]) == ("failed", "inconsistent")
    assert admin("POST", path, json=request).json()["code"] == "submission_already_abandoned"


def test_observations_and_events_of_a_run(fake: FakeBeampipe) -> None:
    admin = login(fake)
    workflow_ready(admin)
    execution_id = started_execution(admin)
    poll_statuses(admin, execution_id, 5)
    observations = admin.ok("GET", f"/executions/{execution_id}/observations")
    assert [o["normalized_state"] for o in observations] == ["succeeded", "running"]
    assert set(observations[0]) == OBSERVATION_KEYS
    assert (
        admin.ok("GET", f"/executions/{execution_id}/observations?offset=1&limit=5")
        == (observations[1:])
    )
    events = admin.ok("GET", f"/executions/{execution_id}/events")
    assert [e["event_type"] for e in events][:2] == [
        "execution.created",
        "execution.start_requested",
    ]
    assert admin.ok("GET", f"/executions/{uuid.uuid4()}/events") == []
    assert admin("GET", f"/executions/{uuid.uuid4()}/observations").status_code == 404


# -- operator routes, metrics, openapi --------------------------------------------------------


def test_metrics_are_prometheus_text_and_need_a_token_unless_public(
    fake: FakeBeampipe, clock: Clock
) -> None:
    anonymous = Api(fake)
    for _ in range(3):
        anonymous.ok("GET", "/health")
    assert anonymous("GET", "/metrics").status_code == 401
    response = login(fake)("GET", "/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4"
    lines = response.text.splitlines()
    assert "# TYPE beampipe_api_requests_total counter" in lines
    assert 'beampipe_api_requests_total{method="GET",route="/api/v2/health",status="200"} 3' in (
        lines
    )
    assert 'beampipe_api_requests_total{method="GET",route="/api/v2/metrics",status="401"} 1' in (
        lines
    )
    assert any(line.startswith("# HELP beampipe_jobs_queue_depth ") for line in lines)
    with FakeBeampipe(clock=clock, metrics_public=True) as public:
        assert Api(public)("GET", "/metrics").status_code == 200


def test_openapi_names_every_operation(fake: FakeBeampipe) -> None:
    document = Api(fake).ok("GET", "/openapi.json")
    assert document["openapi"] == "3.1.0" and document["info"]["version"] == "0.1.6"
    served = {
        (method.upper(), path.removeprefix("/api/v2"))
        for path, item in document["paths"].items()
        for method in item
    }
    assert served == OPERATIONS
    assert document["paths"]["/api/v2/login"]["post"]["operationId"] == "login"


def test_workers_register_heartbeat_drain_and_resume(fake: FakeBeampipe, clock: Clock) -> None:
    admin = login(fake)
    worker = admin.ok(
        "POST", "/workers", 201, json={"instance_name": "w1", "host": "node1", "version": "0.1.6"}
    )
    assert set(worker) == WORKER_KEYS
    assert (worker["role"], worker["pool"], worker["health"]) == ("worker", "default", "healthy")
    bad = admin(
        "POST", "/workers", json={"instance_name": "w", "host": "h", "version": "1", "role": "boss"}
    )
    assert bad.json()["error"] == "worker role must be worker or scheduler_worker"
    clock.advance(31)
    assert admin.ok("GET", f"/workers/{worker['id']}")["health"] == "stale"
    beat = admin.ok("POST", f"/workers/{worker['id']}/heartbeat")
    assert beat == {"worker_id": worker["id"], "accepted": True, "recorded_at": beat["recorded_at"]}
    drained = admin.ok("POST", f"/workers/{worker['id']}/drain")
    assert (drained["status"], drained["health"]) == ("draining", "draining")
    assert admin.ok("GET", "/workers/pools") == [
        {
            "pool": "default",
            "active_workers": 0,
            "draining_workers": 1,
            "unhealthy_workers": 0,
            "concurrency_limit": 0,
            "active_leases": 0,
        }
    ]
    assert admin.ok("POST", f"/workers/{worker['id']}/resume")["status"] == "active"
    assert admin("GET", f"/workers/{uuid.uuid4()}").status_code == 404


def test_notification_channels_redact_secrets_and_merge_updates(fake: FakeBeampipe) -> None:
    admin = login(fake)
    created = admin.ok(
        "POST",
        "/notification-channels",
        201,
        json={
            "name": "ops",
            "kind": "webhook",
            "config": {
                "url": "https://hooks.test/x",
                "headers": {"Authorization": "Bearer s3cret"},
            },
        },
    )
    assert set(created) == CHANNEL_KEYS
    assert created["config"]["headers"] == {"Authorization": "[REDACTED]"}
    assert created["secret_fields"] == ["headers.Authorization"]
    assert created["configured_fields"] == ["url", "headers"]
    updated = admin.ok(
        "PATCH",
        f"/notification-channels/{created['uuid']}",
        json={"config": {"headers": {"Authorization": "[REDACTED]", "X-Trace": "1"}}},
    )
    stored = fake.notification_channels[created["uuid"]]["config"]
    assert stored["headers"] == {"Authorization": "Bearer s3cret", "X-Trace": "1"}
    assert updated["config"]["url"] == "https://hooks.test/x"
    bad = admin("POST", "/notification-channels", json={"name": "m", "kind": "email", "config": {}})
    assert bad.json()["error"] == "email config.smtp_host is required"
    unknown = admin(
        "POST",
        "/alert-rules",
        json={"name": "r", "trigger_kind": "sometimes", "trigger_config": {}, "channel_ids": []},
    )
    assert unknown.json()["error"].startswith("unknown trigger_kind 'sometimes'; expected one of")


def _template(method: str, path: str) -> tuple[str, str]:
    """The upstream operation a concrete path belongs to (static segments win, as in axum)."""
    segments = path.split("?")[0].split("/")
    best: tuple[int, tuple[str, str]] | None = None
    for op_method, template in OPERATIONS:
        parts = template.split("/")
        if op_method != method or len(parts) != len(segments):
            continue
        if all(p.startswith("{") or p == s for p, s in zip(parts, segments, strict=True)):
            statics = sum(not p.startswith("{") for p in parts)
            if best is None or statics > best[0]:
                best = (statics, (op_method, template))
    assert best is not None, (method, path)
    return best[1]


def test_every_route_answers(clock: Clock) -> None:
    """All 76 operations, each with valid input: a 2xx and the upstream reply's keys."""
    with FakeBeampipe(clock=clock, discovery_polls=0, execution_polls=0) as fake:
        api, anon = login(fake), Api(fake)
        seen: set[tuple[str, str]] = set()

        def call(method: str, path: str, keys: set[str] | None = None, status: int = 200,
                 client: Api = api, **kwargs: Any) -> Any:  # fmt: skip
            response = client(method, path, **kwargs)
            assert response.status_code == status, (method, path, response.text)
            seen.add(_template(method, path))
            if keys is None:
                return response
            body = response.json()
            item = body[0] if isinstance(body, list) else body
            assert set(item) == keys, (path, set(item) ^ keys)
            return body

        login_body = {"username": "admin", "password": "admin-password"}
        tokens = call("POST", "/login", TOKEN_KEYS, client=anon, json=login_body)
        fresh = call("POST", "/refresh", TOKEN_KEYS, client=anon, json=tokens)
        call("POST", "/logout", status=204, client=anon, json=fresh)
        call("GET", "/health", {"status", "service"}, client=anon)
        call("GET", "/health/tap", {"casda", "vizier"}, client=anon)
        assert call("GET", "/metrics").text.startswith("# HELP")
        call("GET", "/ready", READY_KEYS)
        call("GET", "/diagnostics", {"healthy", "generated_at", "diagnostics"})
        call("GET", "/overview", OVERVIEW_KEYS)
        call("GET", "/user/me", USER_KEYS)

        yaml_type = {"Content-Type": "application/x-yaml"}
        call("POST", "/project-configs", REPORT_KEYS, 201, data=CONFIG_YAML, headers=yaml_type)
        upload_config(api, VERIFIED_YAML)
        call("GET", f"/project-configs/{MODULE}", CONFIG_ROW_KEYS)
        call("GET", f"/project-configs/{MODULE}/versions", CONFIG_ROW_KEYS)
        wasm = call("POST", f"/project-configs/{MODULE}/wasm", WASM_KEYS, 201, data=WASM)
        digest = wasm["wasm_sha256"]
        call("GET", f"/project-configs/{MODULE}/wasm/{digest}", WASM_KEYS | {"uploaded_at"})
        call("GET", "/projects", {"project_id", "version", "active"})
        call("GET", "/projects/contracts", REPORT_KEYS)
        call("GET", f"/projects/contracts/{MODULE}", REPORT_KEYS)
        call("GET", f"/projects/{MODULE}/events", EVENT_KEYS)

        body = {"project_module": MODULE, "source_identifier": SOURCE, "enabled": True}
        sid = call("POST", "/sources", SOURCE_KEYS, json=body)["uuid"]
        other = {**body, "project_module": "verified"}
        call("POST", "/sources/bulk", {"items", "total"}, json={"items": [body, other]})
        call("POST", "/sources/discover", DISCOVER_KEYS, json={"project_module": MODULE})
        api.ok("POST", "/sources/discover", json={"project_module": "verified"})
        call("GET", "/sources", SOURCE_KEYS)
        call("GET", f"/sources/{sid}", SOURCE_KEYS)
        call("PATCH", f"/sources/{sid}", SOURCE_KEYS, json={"stale_after_hours": 24})
        call("GET", f"/sources/{sid}/status", SOURCE_STATUS_KEYS | {"pending_age_seconds"})
        call("GET", f"/sources/{sid}/metadata", {"source", "metadata", "metadata_count"})
        call("GET", f"/sources/{sid}/events", EVENT_KEYS)

        global_slurm = {**SLURM_PROFILE, "project_module": None}
        slurm = call("POST", "/deployment-profiles", PROFILE_KEYS, 201, json=global_slurm)
        rest = api.ok("POST", "/deployment-profiles", 201, json=REST_PROFILE)
        call("GET", "/deployment-profiles", PROFILE_KEYS)
        call("GET", f"/deployment-profiles/{slurm['uuid']}", PROFILE_KEYS)
        call("PATCH", f"/deployment-profiles/{slurm['uuid']}", PROFILE_KEYS, json=global_slurm)

        call("POST", "/executions/prepare", PREPARE_KEYS, json=EXECUTION)
        done = call("POST", "/executions", EXECUTION_READ_KEYS, 201, json=EXECUTION)["uuid"]
        e = f"/executions/{done}"
        call("POST", f"{e}/execute", EXECUTE_KEYS, 202, json={})
        assert call("GET", f"{e}/status", STATUS_KEYS)["status"] == "completed"
        call("GET", "/executions", {"items", "total", "page", "items_per_page"})
        call("GET", e, EXECUTION_READ_KEYS)
        call("GET", f"{e}/summary", SUMMARY_KEYS)
        call("GET", f"{e}/ledger-snapshot", LEDGER_KEYS)
        call("GET", f"{e}/events", EVENT_KEYS)
        call("GET", f"{e}/observations", OBSERVATION_KEYS)
        call("GET", f"{e}/artifacts", ARTIFACT_KEYS)
        call("GET", f"/sources/{sid}/executions", EXECUTION_ROW_KEYS)
        call("GET", "/scheduler/jobs", SCHEDULER_JOB_KEYS)

        pending = api.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
        cancel = {"status": "cancelled"}
        call("PATCH", f"/executions/{pending}", EXECUTION_READ_KEYS, json=cancel)
        failing = api.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
        fake.fail_executions.add(failing)
        api.ok("POST", f"/executions/{failing}/execute", 202, json={})
        api.ok("GET", f"/executions/{failing}/status")
        reason = {"reason": "transient"}
        call("POST", f"/executions/{failing}/retry", RETRY_KEYS, 202, json=reason)
        stuck = api.ok("POST", "/executions", 201, json=EXECUTION)["uuid"]
        row = fake.set_submission_uncertain(stuck)
        abandon = {"reason": "reviewed", "expected_submission_state": "uncertain",
                   "expected_daliuge_session_id": row["daliuge_session_id"],
                   "expected_submission_deadline_at": row["submission_deadline_at"],
                   "acknowledge_external_job_may_exist": True}  # fmt: skip
        call("POST", f"/executions/{stuck}/submission/abandon", EXECUTION_READ_KEYS, json=abandon)
        held = started_execution(api, {**EXECUTION, "project_module": "verified"})
        api.ok("GET", f"/executions/{held}/status")
        verify = inventory([{"path": "cube.fits", "bytes": 3, "sha256": "c" * 64}])
        call("POST", f"/executions/{held}/outputs/verify", {"execution", "artifact"}, json=verify)

        graph = {"project_module": MODULE, "source_identifiers": [SOURCE]}
        call("POST", "/graphs/prepare", GRAPH_KEYS, json=graph)
        call("POST", "/jobs", JOB_KEYS, 202, json={"kind": "discover", "payload": {"x": 1}})
        call("GET", "/scheduler/status?profile=slurm-remote", SCHEDULER_STATUS_KEYS)
        call("GET", "/daliuge/inspect", {"profile", "translator", "manager"})
        call("GET", "/daliuge/sessions")
        call("GET", "/slurm/credentials", {"slots"})
        call("GET", "/slurm/credentials/setonix", SLOT_KEYS)

        registration = {"instance_name": "w1", "host": "node1", "version": "0.1.6"}
        w = "/workers/" + call("POST", "/workers", WORKER_KEYS, 201, json=registration)["id"]
        call("GET", "/workers", WORKER_KEYS)
        call("GET", w, WORKER_KEYS)
        call("POST", f"{w}/heartbeat", {"worker_id", "accepted", "recorded_at"})
        call("POST", f"{w}/drain", WORKER_KEYS)
        call("POST", f"{w}/resume", WORKER_KEYS)
        call("GET", "/workers/pools", POOL_KEYS)
        call("GET", "/workers/leases")

        hook = {"name": "ops", "kind": "webhook", "config": {"url": "https://hooks.test/x"}}
        c = (
            "/notification-channels/"
            + call("POST", "/notification-channels", CHANNEL_KEYS, 201, json=hook)["uuid"]
        )
        call("GET", "/notification-channels", CHANNEL_KEYS)
        call("PATCH", c, CHANNEL_KEYS, json={"enabled": True})
        call("POST", f"{c}/test", {"delivery_id", "status"})
        call("GET", "/alert-deliveries", DELIVERY_KEYS)
        rule = {"name": "terminal", "trigger_kind": "execution_terminal", "trigger_config": {},
                "channel_ids": [c.rsplit("/", 1)[1]]}  # fmt: skip
        r = "/alert-rules/" + call("POST", "/alert-rules", RULE_KEYS, 201, json=rule)["uuid"]
        call("GET", "/alert-rules", RULE_KEYS)
        call("PATCH", r, RULE_KEYS, json={"severity": "critical"})
        call("DELETE", r, status=204)
        call("DELETE", c, status=204)
        call("DELETE", f"/deployment-profiles/{rest['uuid']}", status=204)
        call("DELETE", f"/sources/{sid}", status=204)
        assert seen == OPERATIONS, sorted(OPERATIONS - seen)
