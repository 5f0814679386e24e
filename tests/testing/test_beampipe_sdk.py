"""The Beampipe SDK against FakeBeampipe over real sockets, decoding strictly.

`StrictClient` decodes with the strict converter (`forbid_extra_keys=True`): a key the fake
sends that `openapi/beampipe.yaml` lacks fails, and so does a required key the fake leaves
out. Every public method of `BeampipeClient` is called here at least once with its result
checked; then the auth machinery (rotation races, proactive and 401-driven refresh,
revoked refresh tokens), idempotent creates, typed errors, a dead server and the session
pool under threads, all over loopback sockets.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from controldeck._core._convert import strict_converter
from controldeck._core._models import UNSET
from controldeck.beampipe import (
    BeampipeClient,
    DaliugeAlgo,
    DaliugeTranslationConfig,
    DeploymentProfile,
    ExecutionOutputVerificationRequest,
    ExecutionSourceSelection,
    ExecutionStatus,
    MetricSample,
    OutputInventoryProduct,
    OutputPublicationAcknowledgement,
    ProjectConfigValidationError,
    RestRemoteDeployment,
    SlurmRemoteDeployment,
    SourceCreate,
    failure_of,
    metric_types,
    parse_metrics,
)
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from controldeck.testing.beampipe import FakeBeampipe
from tests.testing.test_beampipe_fake import OPERATIONS, _template

MODULE = "minimal_survey"
SOURCE = "HIPASSJ1318-21"
CONFIG = f"""\
apiVersion: beampipe.dev/v2
kind: ProjectConfig
metadata:
  id: {MODULE}
  description: Generic single-archive survey
adapters:
  required: [casda]
discovery:
  queries:
    - name: visibility
      adapter: casda
      template: "SELECT * FROM ivoa.obscore WHERE filename LIKE '{{source_identifier}}%'"
"""
VERIFIED = "verified_survey"
VERIFIED_CONFIG = CONFIG.replace(f"id: {MODULE}", f"id: {VERIFIED}") + (
    "output_verification:\n  required: true\n"
)
WASM = b"\x00asm\x01\x00\x00\x00"
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class StrictClient(BeampipeClient):
    """Decodes with the strict converter: an unknown or missing key in a reply fails."""

    _converter = strict_converter


class Clock:
    """Epoch seconds that only move when a test says so (the fake's and the client's)."""

    def __init__(self, now: float = EPOCH) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class Recorder:
    """Forwards to a client and records which public methods were called."""

    def __init__(self, client: BeampipeClient) -> None:
        self._client = client
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if callable(value):
            self.called.add(name)
        return value


def public_methods() -> set[str]:
    return {
        name
        for name in dir(BeampipeClient)
        if not name.startswith("_") and callable(getattr(BeampipeClient, name))
    }


def slurm_profile(module: str | None = MODULE) -> DeploymentProfile:
    return DeploymentProfile(
        name="slurm-remote",
        project_module=UNSET if module is None else module,
        translation=DaliugeTranslationConfig(algo=DaliugeAlgo.METIS, num_par=1, num_islands=1),
        deployment=SlurmRemoteDeployment(
            login_node="setonix.pawsey.org.au",
            account="pawsey0411",
            ssh_credential="setonix",
            home_dir="/home/beampipe",
            dlg_root="/scratch/pawsey0411/dlg",
            log_dir="/scratch/pawsey0411/logs",
        ),
    )


def inventory(products: list[OutputInventoryProduct]) -> ExecutionOutputVerificationRequest:
    canonical = json.dumps(
        [p.to_dict() for p in products], sort_keys=True, separators=(",", ":")
    ).encode()
    return ExecutionOutputVerificationRequest(
        schema="wallaby-hires-output-inventory/v1",
        patterns=["*.fits"],
        pattern_counts={"*.fits": len(products)},
        products=products,
        inventory_sha256=hashlib.sha256(canonical).hexdigest(),
        durable_destination_uri="s3://bucket/run",
        publication=OutputPublicationAcknowledgement(
            acknowledged=True,
            publisher="casda",
            receipt_id="r1",
            published_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


@pytest.fixture(autouse=True)
def _no_beampipe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BEAMPIPE_BASE_URL", "BEAMPIPE_TOKEN", "BEAMPIPE_USERNAME", "BEAMPIPE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CONTROLDECK_LOG", raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeBeampipe]:
    with FakeBeampipe(clock=clock, discovery_polls=1, execution_polls=1) as server:
        yield server


def strict_client(
    fake: FakeBeampipe, clock: Clock, user: str = "admin", **kwargs: Any
) -> StrictClient:
    client = StrictClient(fake.url, username=user, password=f"{user}-password", **kwargs)
    client._auth._clock = clock
    return client


@pytest.fixture
def admin(fake: FakeBeampipe, clock: Clock) -> Iterator[StrictClient]:
    with strict_client(fake, clock, max_retries=0) as client:
        yield client


# -- every public method ------------------------------------------------------------------------


def test_every_public_method_decodes_strictly(
    fake: FakeBeampipe, clock: Clock, admin: StrictClient, tmp_path: Path
) -> None:
    bp = Recorder(admin)

    # Health and the logged-in user.
    health = bp.health()
    assert (health.status, health.service) == ("ok", "beampipe-v2")
    tap = bp.health_tap()
    assert (tap.casda, tap.vizier) == ("not_configured", "not_configured")
    me = bp.current_user()
    assert (me.username, me.is_superuser) == ("admin", True)
    assert bp.ready().database == "ok"
    assert bp.openapi()["info"]["version"] == "0.1.6"
    diagnostics = bp.diagnostics()
    assert diagnostics.diagnostics and isinstance(diagnostics.healthy, bool)

    # Project configs, WASM, projects.
    report = bp.upload_project_config(CONFIG)
    assert (report.project_id, report.valid) == (MODULE, True)
    config_file = tmp_path / "survey.yaml"
    config_file.write_text(CONFIG)
    again = bp.upload_project_config(config_file)
    assert again.spec_sha256 == report.spec_sha256
    active = bp.get_project_config(MODULE)
    assert (active.project_id, active.version, active.active) == (MODULE, 2, True)
    assert active.spec["metadata"]["id"] == MODULE
    versions = bp.list_project_config_versions(MODULE)
    assert sorted(v.version for v in versions) == [1, 2]
    assert [v.active for v in versions if v.version == 1] == [False]
    uploaded = bp.upload_project_config_wasm(MODULE, WASM)
    assert uploaded.wasm_sha256 == hashlib.sha256(WASM).hexdigest()
    assert uploaded.project_config_id == active.uuid
    info = bp.get_project_config_wasm(MODULE, uploaded.wasm_sha256.upper())
    assert info.wasm_sha256 == uploaded.wasm_sha256
    assert bp.download_project_config_wasm(MODULE, info.wasm_sha256) == WASM
    saved = bp.download_project_config_wasm(MODULE, info.wasm_sha256, tmp_path / "hook.wasm")
    assert saved == tmp_path / "hook.wasm" and saved.read_bytes() == WASM
    sink = io.BytesIO()
    assert bp.download_project_config_wasm(MODULE, info.wasm_sha256, sink) == len(WASM)
    assert sink.getvalue() == WASM
    assert [(p.project_id, p.version, p.active) for p in bp.list_projects()] == [(MODULE, 2, True)]
    assert [c.project_id for c in bp.list_project_contracts()] == [MODULE]
    assert bp.get_project_contract(MODULE).valid is True
    bp.upload_project_config(VERIFIED_CONFIG)

    # Sources and discovery.
    source = bp.create_source(MODULE, SOURCE)
    assert (source.project_module, source.source_identifier, source.enabled) == (
        MODULE,
        SOURCE,
        True,
    )
    bulk = bp.bulk_create_sources(MODULE, ["J1", "J2"])
    assert bulk.total == 2 and [s.source_identifier for s in bulk.items] == ["J1", "J2"]
    mixed = bp.bulk_create_sources(
        items=[SourceCreate(project_module=VERIFIED, source_identifier=SOURCE, enabled=True)]
    )
    assert mixed.items[0].project_module == VERIFIED
    page = bp.list_sources(MODULE, limit=2)
    assert len(page.data) == 2
    assert sorted(s.source_identifier for s in page) == ["HIPASSJ1318-21", "J1", "J2"]
    assert bp.get_source(source.uuid).uuid == source.uuid
    stale = bp.update_source(source.uuid, stale_after_hours=24)
    assert (stale.stale_after_hours, stale.enabled) == (24, True)
    assert bp.update_source(source.uuid, stale_after_hours=None).stale_after_hours is None
    triggered = bp.discover_sources(MODULE, SOURCE)
    assert (triggered.marked_count, triggered.source_identifiers) == (1, [SOURCE])
    first = bp.get_source_status(source.uuid)
    assert (first.ready_for_execution, first.discovery_complete) == (False, False)
    ready = bp.wait_for_source_ready(source.uuid, poll_interval=0.01)
    assert (ready.ready_for_execution, ready.blockers) == (True, [])
    metadata = bp.get_source_metadata(source.uuid)
    assert metadata.metadata_count == len(metadata.metadata) == 1
    assert metadata.source.uuid == source.uuid
    assert [e.event_type for e in bp.list_source_events(source.uuid)]
    bp.discover_sources(VERIFIED)
    verified_source = bp.list_sources(VERIFIED).data[0]
    bp.wait_for_source_ready(verified_source.uuid, poll_interval=0.01)

    # Deployment profiles.
    profile = bp.create_deployment_profile(slurm_profile(None))
    assert isinstance(profile.deployment, SlurmRemoteDeployment)
    assert profile.deployment.ssh_credential == "[REDACTED]" and profile.revision == 1
    rest = bp.create_deployment_profile(
        DeploymentProfile(
            name="dlg-dim",
            project_module=MODULE,
            translation=DaliugeTranslationConfig(
                algo=DaliugeAlgo.METIS, num_par=1, num_islands=1, tm_url="http://tm.local:8084"
            ),
            deployment=RestRemoteDeployment(deploy_host="dlg-dim.local", deploy_port=8001),
        )
    )
    assert isinstance(rest.deployment, RestRemoteDeployment)
    assert rest.deployment.deploy_port == 8001
    assert {p.name for p in bp.list_deployment_profiles()} == {"slurm-remote", "dlg-dim"}
    assert [p.name for p in bp.list_deployment_profiles(MODULE)] == ["dlg-dim"]
    assert bp.get_deployment_profile(profile.uuid).name == "slurm-remote"
    changed = slurm_profile(None)
    changed.max_concurrent_executions = 2
    updated = bp.update_deployment_profile(profile.uuid, changed)
    assert (updated.revision, updated.max_concurrent_executions) == (2, 2)

    # Executions.
    prepared = bp.prepare_execution(
        MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote"
    )
    assert (prepared.project_module, prepared.valid, prepared.errors) == (MODULE, True, [])
    run = bp.create_execution(
        MODULE,
        [ExecutionSourceSelection(source_identifier=SOURCE)],
        "casda",
        deployment_profile_id=profile.uuid,
    )
    assert (run.status, run.project_module, run.deployment_profile_id) == (
        "pending",
        MODULE,
        profile.uuid,
    )
    started = bp.execute(run.uuid)
    assert (started.execution_id, started.do_stage, started.do_submit) == (run.uuid, True, True)
    final = bp.wait_for_execution(run.uuid, poll_interval=0.01)
    assert final.status == ExecutionStatus.COMPLETED
    assert bp.get_execution(run.uuid).status == "completed"
    assert bp.get_execution_status(run.uuid).status == "completed"
    summary = bp.get_execution_summary(run.uuid)
    assert (summary.status, summary.requested_source_count) == ("completed", 1)
    ledger = bp.get_ledger_snapshot(run.uuid, include_manifest=False)
    assert (ledger.uuid, ledger.status, ledger.workflow_manifest) == (run.uuid, "completed", None)
    assert ledger.provenance_summary.recent_events
    assert bp.get_ledger_snapshot(run.uuid).workflow_manifest is not None
    events = [e.event_type for e in bp.list_execution_events(run.uuid)]
    assert events[:2] == ["execution.created", "execution.start_requested"]
    project_events = bp.list_project_events(MODULE, limit=2)
    assert len(project_events.data) == 2
    walked = list(project_events)
    assert len(walked) > 2 and {e.project_module for e in walked} == {MODULE}
    assert {"execution.created", "execution.start_requested"} <= {e.event_type for e in walked}
    observations = list(bp.list_execution_observations(run.uuid, limit=1))
    assert [o.normalized_state for o in observations] == ["succeeded", "running"]
    assert [a.kind for a in bp.list_execution_artifacts(run.uuid)] == ["workflow_manifest"]
    assert [r.uuid for r in bp.list_source_executions(source.uuid)] == [run.uuid]
    rows = list(bp.list_executions(project_module=MODULE, status="completed", items_per_page=1))
    assert [r.uuid for r in rows] == [run.uuid]
    assert bp.execute(run.uuid).job_id == started.job_id  # the finished start, replayed
    with pytest.raises(ConflictError, match="different do_stage/do_submit"):
        bp.execute(run.uuid, do_submit=False)

    pending = bp.create_execution(MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote")
    assert bp.cancel_execution(pending.uuid).status == "cancelled"
    failing = bp.create_execution(MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote")
    fake.fail_executions.add(failing.uuid)
    bp.execute(failing.uuid)
    failed = bp.wait_for_execution(failing.uuid, poll_interval=0.01)
    assert (failed.status, failed.last_error) == ("failed", fake.failure_message)
    retried = bp.retry_execution(failing.uuid, "transient archive outage")
    assert (retried.execution_id, retried.retry_count, retried.status) == (
        failing.uuid,
        1,
        "accepted",
    )
    stuck = bp.create_execution(MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote")
    row = fake.set_submission_uncertain(stuck.uuid)
    abandoned = bp.abandon_submission(
        stuck.uuid,
        expected_submission_state="uncertain",
        expected_daliuge_session_id=row["daliuge_session_id"],
        expected_submission_deadline_at=row["submission_deadline_at"],
        reason="three scheduler negatives reviewed",
        acknowledge_external_job_may_exist=True,
    )
    assert (abandoned.status, abandoned.terminal_outcome) == ("failed", "inconsistent")
    held = bp.create_execution(VERIFIED, [SOURCE], "casda", deployment_profile_name="slurm-remote")
    bp.execute(held.uuid)
    with pytest.raises(WaitTimeoutError):
        bp.wait_for_execution(held.uuid, timeout=0.1, poll_interval=0.01)
    assert bp.get_execution(held.uuid).control_phase == "output_verification"
    product = OutputInventoryProduct(path="cube.fits", bytes=10, sha256="a" * 64)
    verified = bp.verify_outputs(held.uuid, inventory([product]))
    assert (verified.execution.status, verified.execution.output_state) == ("completed", "verified")
    assert verified.artifact.kind == "output_inventory"

    # Graphs, jobs, scheduler, DALiuGE, Slurm credentials.
    graph = bp.prepare_graph(MODULE, [SOURCE])
    assert graph.project_module == MODULE and len(graph.patched_graph_sha256) == 64
    job = bp.enqueue_job("discover", payload={"project_module": MODULE}, idempotency_key="k1")
    assert (job.kind, job.status) == ("discover", "queued")
    assert bp.enqueue_job("discover", idempotency_key="k1").uuid == job.uuid
    submitted = {j.execution_id: j.project_module for j in bp.scheduler_jobs(limit=499)}
    assert submitted[run.uuid] == MODULE
    status = bp.scheduler_status(profile="slurm-remote")
    assert status.profile == "slurm-remote"
    inspect = bp.daliuge_inspect("dlg-dim")
    assert (inspect.profile, inspect.translator["url"]) == ("dlg-dim", "http://tm.local:8084")
    assert bp.daliuge_sessions("dlg-dim") == []
    bp.delete_deployment_profile(rest.uuid)
    with pytest.raises(NotFoundError):
        bp.get_deployment_profile(rest.uuid)
    slots = bp.list_slurm_credentials()
    assert [(s.name, s.private_key) for s in slots] == [("setonix", True)]
    assert bp.get_slurm_credential("setonix").known_hosts is True

    # Workers.
    worker = bp.register_worker("w1", "node1", "0.1.6", pool="gpu", capabilities=["stage"])
    assert (worker.instance_name, worker.pool, worker.status) == ("w1", "gpu", "active")
    assert [w.id for w in bp.list_workers()] == [worker.id]
    assert bp.get_worker(worker.id).host == "node1"
    beat = bp.heartbeat_worker(worker.id)
    assert (beat.worker_id, beat.accepted) == (worker.id, True)
    assert bp.drain_worker(worker.id).status == "draining"
    assert [p.pool for p in bp.list_worker_pools()] == ["gpu"]
    assert bp.resume_worker(worker.id).status == "active"
    assert bp.list_worker_leases(worker_id=worker.id, include_expired=True) == []

    # Notification channels, alert rules, deliveries.
    channel = bp.create_notification_channel(
        "ops",
        "webhook",
        {"url": "https://hooks.test/x", "headers": {"Authorization": "Bearer s3cret"}},
    )
    assert channel.config["headers"] == {"Authorization": "[REDACTED]"}
    assert [c.uuid for c in bp.list_notification_channels()] == [channel.uuid]
    assert bp.update_notification_channel(channel.uuid, enabled=False).enabled is False
    tested = bp.test_notification_channel(channel.uuid)
    assert set(tested) == {"delivery_id", "status"}
    deliveries = bp.list_alert_deliveries(limit=10)
    assert [d.channel_id for d in deliveries] == [channel.uuid]
    rule = bp.create_alert_rule("terminal", "execution_terminal", [channel.uuid])
    assert rule.channel_ids == [channel.uuid]
    assert [r.uuid for r in bp.list_alert_rules()] == [rule.uuid]
    assert bp.update_alert_rule(rule.uuid, severity="critical").severity == "critical"
    bp.delete_alert_rule(rule.uuid)
    bp.delete_notification_channel(channel.uuid)
    assert bp.list_alert_rules() == [] and bp.list_notification_channels() == []

    # The operator overview and metrics after all that traffic.
    overview = bp.overview()
    assert overview.active_workers == 1
    samples = parse_metrics(bp.metrics())
    assert all(isinstance(s, MetricSample) for s in samples)
    health_hits = [
        s.value
        for s in samples
        if s.name == "beampipe_api_requests_total"
        and s.labels == {"method": "GET", "route": "/api/v2/health", "status": "200"}
    ]
    assert health_hits == [1.0]
    assert metric_types(bp.metrics())["beampipe_api_requests_total"] == "counter"

    # Deleting, then the token calls.
    bp.delete_source(bulk.items[0].uuid)
    with pytest.raises(NotFoundError):
        bp.get_source(bulk.items[0].uuid)
    pair = bp.login("admin", "admin-password")
    assert pair.token_type == "bearer" and admin.access_token == pair.access_token
    fresh = bp.refresh()
    assert fresh.refresh_token == admin.refresh_token != pair.refresh_token
    assert fake.is_revoked(pair.refresh_token)
    other = bp.copy(timeout=30)
    assert other.current_user().username == "admin"
    other.close()
    bp.logout()
    assert admin.access_token is None and fake.is_revoked(fresh.access_token)
    with pytest.raises(InvalidArgumentError, match="needs a token"):
        admin.current_user()
    bp.close()

    assert public_methods() - bp.called == set()
    served = {
        _template(r.method, r.path.removeprefix("/api/v2"))
        for r in fake.requests
        if r.path != "/api/v2/openapi.json"  # the server's document, not one of the 76
    }
    assert served >= OPERATIONS, sorted(OPERATIONS - served)


def test_the_strict_client_fails_on_a_key_the_spec_lacks(fake: FakeBeampipe, clock: Clock) -> None:
    row = fake.add_source(MODULE, SOURCE)
    fake.sources[row["uuid"]]["surprise"] = 1
    with (
        strict_client(fake, clock) as client,
        pytest.raises(ResponseValidationError, match="surprise"),
    ):
        client.get_source(row["uuid"])
    with BeampipeClient(fake.url, username="admin", password="admin-password") as lenient:
        assert lenient.get_source(row["uuid"]).uuid == row["uuid"]


# -- tokens -------------------------------------------------------------------------------------


def _in_threads(count: int, call: Callable[[], Any]) -> list[Any]:
    """`call` from `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def task() -> Any:
        barrier.wait(timeout=5)
        return call()

    with ThreadPoolExecutor(count) as pool:
        return [f.result(timeout=10) for f in [pool.submit(task) for _ in range(count)]]


@pytest.mark.parametrize("proactive", [True, False], ids=["before-exp", "on-401"])
def test_eight_threads_rotate_once_per_expiry(clock: Clock, proactive: bool) -> None:
    with FakeBeampipe(clock=clock, access_ttl=120, leeway=0) as fake:
        client = StrictClient(fake.url, username="admin", password="admin-password")
        # The client's clock: the shared one (renew shortly before exp), or one that never
        # moves (it cannot see the expiry, so only the server's 401 tells it).
        client._auth._clock = clock if proactive else (lambda: EPOCH)
        with client:
            client.login("admin", "admin-password")
            spent = []
            for expiry in range(1, 4):
                spent.append(client.refresh_token)
                clock.advance(121)
                users = _in_threads(8, lambda: client.current_user().username)
                assert users == ["admin"] * 8
                assert fake.refresh_count == expiry
            assert all(fake.is_revoked(token) for token in spent)
            assert not fake.is_revoked(client.refresh_token or "")
            user_calls = [r for r in fake.requests if r.path == "/api/v2/user/me"]
            assert len(user_calls) == (24 if proactive else 48)  # each 401 replayed once
            assert [r.path for r in fake.requests].count("/api/v2/login") == 1


def test_a_jwt_close_to_exp_is_renewed_before_the_call(fake: FakeBeampipe, clock: Clock) -> None:
    with strict_client(fake, clock) as client:
        client.current_user()
        expires = claims(client.access_token or "")["exp"]
        clock.advance(expires - clock() - 30)  # 30 s left: inside the 60 s leeway
        old = client.access_token
        fake.requests.clear()
        assert client.ready().database == "ok"
        assert [r.path for r in fake.requests] == ["/api/v2/refresh", "/api/v2/ready"]
        assert client.access_token != old and fake.refresh_count == 1
        sent = fake.requests[-1].headers["authorization"]
        assert sent == f"Bearer {client.access_token}"


def test_opaque_tokens_are_refreshed_only_on_a_401(clock: Clock) -> None:
    with (
        FakeBeampipe(clock=clock, opaque_tokens=True, access_ttl=120, leeway=0) as fake,
        strict_client(fake, clock) as client,
    ):
        client.current_user()
        assert client._auth.expires_at is None  # nothing to read an expiry from
        clock.advance(119)
        fake.requests.clear()
        client.current_user()
        assert [r.path for r in fake.requests] == ["/api/v2/user/me"]
        clock.advance(2)
        old = client.access_token
        assert client.current_user().username == "admin"
        paths = [r.path for r in fake.requests]
        assert paths == ["/api/v2/user/me", "/api/v2/user/me", "/api/v2/refresh", "/api/v2/user/me"]
        assert fake.refresh_count == 1 and client.access_token != old


@pytest.mark.parametrize(
    ("sees_expiry", "problem"),
    [(True, "the access token expired"), (False, "the access token was rejected")],
    ids=["before-exp", "on-401"],
)
def test_a_revoked_refresh_token_without_login_details(
    fake: FakeBeampipe, clock: Clock, sees_expiry: bool, problem: str
) -> None:
    pair = fake.issue_tokens("admin")
    client = StrictClient(fake.url, pair["access_token"], refresh_token=pair["refresh_token"])
    client._auth._clock = clock
    with client:
        assert client.current_user().username == "admin"
        with BeampipeClient(fake.url, refresh_token=pair["refresh_token"]) as thief:
            thief.refresh()  # spends (and so revokes) the shared refresh token
        clock.advance(1801 + 60)  # the access token expires, leeway included
        # The client renews before sending when its clock shows the expiry, else on the 401.
        client._auth._clock = clock if sees_expiry else (lambda: EPOCH)
        with pytest.raises(AuthenticationError) as caught:
            client.current_user()
        message = str(caught.value)
        assert message.startswith(
            f"HTTP 401 [unauthorized]: {problem} and refreshing it failed "
            "(HTTP 400 [bad_request]: token revoked); log in again with client.login("
        )
        assert "\n" not in message
        assert pair["refresh_token"] not in message and pair["access_token"] not in message
        assert caught.value.request_id and caught.value.request_id in message
        assert client.refresh_token is None  # a dead refresh token is not presented again
        with pytest.raises(InvalidArgumentError, match="no refresh token"):
            client.refresh()
        client.login("admin", "admin-password")
        assert client.current_user().username == "admin"


def test_a_wrong_password_names_the_login(fake: FakeBeampipe) -> None:
    with (
        BeampipeClient(fake.url, username="admin", password="wrong-password") as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.current_user()
    message = str(caught.value)
    assert message.startswith(
        "HTTP 401 [unauthorized]: logging in as 'admin' failed "
        "(HTTP 401 [unauthorized]: authentication failed); check the username and password"
    )
    assert "wrong-password" not in message and "wrong-password" not in repr(caught.value)
    assert [r.path for r in fake.requests] == ["/api/v2/login"]


def test_a_revoked_refresh_token_with_login_details_logs_in_again(
    fake: FakeBeampipe, clock: Clock
) -> None:
    with strict_client(fake, clock) as client:
        client.current_user()
        stolen = client.refresh_token or ""
        with BeampipeClient(fake.url, refresh_token=stolen) as thief:
            thief.refresh()
        clock.advance(1801)  # close to exp (proactive) and, with the leeway, still valid
        fake.requests.clear()
        assert client.current_user().username == "admin"
        assert [r.path for r in fake.requests] == [
            "/api/v2/refresh",
            "/api/v2/login",
            "/api/v2/user/me",
        ]
        assert client.refresh_token != stolen


# -- idempotent create, errors ------------------------------------------------------------------


def _ready(fake: FakeBeampipe, client: BeampipeClient) -> None:
    fake.upload_config(CONFIG)
    fake.add_source(MODULE, SOURCE, discovered=True)
    client.create_deployment_profile(slurm_profile())


def test_create_retried_after_a_503_sends_the_same_key_once(
    fake: FakeBeampipe, clock: Clock
) -> None:
    with strict_client(fake, clock) as client:
        _ready(fake, client)
        client._transport.sleep = lambda seconds: None
        fake.fail_next(
            503,
            {"error": "service unavailable", "code": "unavailable"},
            method="POST",
            path="/api/v2/executions",
        )
        created = client.create_execution(
            MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote"
        )
        posts = [r for r in fake.requests if r.method == "POST" and r.path == "/api/v2/executions"]
        keys = {r.headers["idempotency-key"] for r in posts}
        assert len(posts) == 2 and len(keys) == 1
        assert list(fake.executions) == [created.uuid]
        # The same key again (a caller retrying the whole call) replays that execution.
        (key,) = keys
        replay = client.create_execution(
            MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote", idempotency_key=key
        )
        assert replay.uuid == created.uuid and len(fake.executions) == 1
        # Another key is another execution.
        fresh = client.create_execution(
            MODULE, [SOURCE], "casda", deployment_profile_name="slurm-remote"
        )
        assert fresh.uuid != created.uuid and len(fake.executions) == 2


def test_superuser_routes_are_403_for_a_viewer(fake: FakeBeampipe, clock: Clock) -> None:
    fake.upload_config(CONFIG)
    with strict_client(fake, clock, "viewer", max_retries=0) as viewer:
        attempts: list[Callable[[], object]] = [
            lambda: viewer.upload_project_config(CONFIG),
            lambda: viewer.upload_project_config_wasm(MODULE, WASM),
            lambda: viewer.create_deployment_profile(slurm_profile()),
            lambda: viewer.register_worker("w1", "node1", "0.1.6"),
            lambda: viewer.enqueue_job("discover"),
            lambda: viewer.create_notification_channel("ops", "webhook", {"url": "https://h/x"}),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionDeniedError) as caught:
                attempt()
            exc = caught.value
            assert (exc.status_code, exc.code, exc.message) == (
                403,
                "forbidden",
                "superuser required",
            )
            failure = failure_of(exc)
            assert failure is not None and failure.class_ == "authorization"
            assert exc.request_id and exc.request_id in str(exc)
        assert viewer.get_project_config(MODULE).project_id == MODULE  # reading is allowed


def test_plain_text_rejections_are_typed_errors(fake: FakeBeampipe, clock: Clock) -> None:
    with strict_client(fake, clock, max_retries=0) as client:
        with pytest.raises(APIStatusError) as caught:
            client.create_source(MODULE, SOURCE, extra_headers={"Content-Type": "text/plain"})
        exc = caught.value
        assert exc.status_code == 415 and failure_of(exc) is None
        assert "Content-Type" in exc.message and "\n" not in str(exc)
        text = "Failed to deserialize the JSON body into the target type: unknown field `x`"
        fake.fail_next(422, text, content_type="text/plain; charset=utf-8")
        with pytest.raises(UnprocessableEntityError) as unprocessable:
            client.create_source(MODULE, SOURCE)
        assert unprocessable.value.message == text and failure_of(unprocessable.value) is None
        with pytest.raises(ProjectConfigValidationError) as invalid:
            client.upload_project_config("apiVersion: beampipe.dev/v2\nkind: ProjectConfig\n")
        assert invalid.value.status_code == 400 and invalid.value.diagnostics
        assert all(d.message for d in invalid.value.diagnostics)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_is_down_is_a_one_line_connection_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with BeampipeClient(url, username="admin", password="admin-password", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            client.current_user()
        message = str(caught.value)
        assert "\n" not in message and "admin-password" not in message
        assert "refused" in message.lower() and f"{url}/api/v2/login" in message
        assert isinstance(caught.value.cause, Exception)
        with pytest.raises(APIConnectionError, match=r"(?i)refused"):
            client.health()


def test_sixteen_threads_share_a_few_sessions_and_leak_no_threads(
    fake: FakeBeampipe, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[requests.Session] = []

    class CountedSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            created.append(self)

    monkeypatch.setattr(requests, "Session", CountedSession)
    before = threading.active_count()
    client = strict_client(fake, clock)
    client.current_user()
    pool = client._transport._pool

    def call(i: int) -> str:
        return client.health().status if i % 2 else client.current_user().username

    with ThreadPoolExecutor(16) as executor:
        results = list(executor.map(call, range(200)))
    assert results.count("ok") == 100 and results.count("admin") == 100
    # At most one session per concurrent call, and only MAX_IDLE_SESSIONS (8) kept after.
    idle, lent = pool.counts
    assert 1 <= len(created) <= 16 and lent == 0 and 1 <= idle <= 8
    assert fake.refresh_count == 0 and [r.path for r in fake.requests].count("/api/v2/login") == 1
    client.close()
    assert pool.counts == (0, 0)
    for _ in range(100):  # the fake's connection threads end once the sockets close
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.02)
    assert threading.active_count() <= before, threading.enumerate()
