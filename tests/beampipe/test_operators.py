"""Operator endpoints: workers, scheduler, DALiuGE, graphs, jobs, Slurm credentials,
notification channels, alert rules and deliveries — the exact requests and decoded values."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from controldeck.beampipe import BeampipeClient
from controldeck.errors import (
    APIStatusError,
    BadRequestError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import (
    API,
    AUTH,
    CHANNEL_ID,
    EXECUTION_ID,
    NOW,
    RULE_ID,
    WORKER_ID,
    error_body,
)

WHEN = datetime(2026, 11, 23, 10, tzinfo=UTC)
JOB_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000f001"
CONFIG_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000f101"
DELIVERY_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000f201"
OTHER_CHANNEL = "0192f0c4-9a3b-7c1d-8e2f-00000000c002"

WORKER: dict[str, Any] = {
    "id": WORKER_ID,
    "instance_name": "worker-1",
    "host": "node01",
    "process_id": 4242,
    "role": "worker",
    "pool": "default",
    "capabilities": ["daliuge-deployment"],
    "labels": {"site": "pawsey"},
    "version": "0.1.6",
    "concurrency_limit": 2,
    "status": "active",
    "health": "healthy",
    "active_leases": 1,
    "heartbeat_age_seconds": 3,
    "started_at": NOW,
    "last_heartbeat_at": NOW,
    "draining_at": None,
    "stopped_at": None,
}
LEASE: dict[str, Any] = {
    "job_id": JOB_ID,
    "kind": "execute",
    "execution_id": EXECUTION_ID,
    "worker_id": WORKER_ID,
    "claim_id": None,
    "pool": "default",
    "required_capability": "daliuge-deployment",
    "attempts": 1,
    "lease_expires_at": NOW,
    "heartbeat_at": None,
}
SCHEDULER_JOB: dict[str, Any] = {
    "execution_id": EXECUTION_ID,
    "project_module": "wallaby_hires",
    "execution_status": "awaiting_scheduler",
    "scheduler_job_id": "123456",
    "scheduler_state": "PENDING",
    "scheduler_raw_state": "PENDING",
    "scheduler_reason": "Priority",
    "daliuge_session_id": None,
    "remote_session_dir": None,
    "submitted_at": NOW,
    "last_reconciled_at": None,
}
JOB: dict[str, Any] = {
    "uuid": JOB_ID,
    "kind": "execute",
    "payload": {"note": "rerun", "password": "[REDACTED]"},
    "status": "queued",
    "execution_id": EXECUTION_ID,
    "phase": None,
    "attempts": 0,
    "max_attempts": 5,
    "next_run_at": NOW,
    "locked_until": None,
    "idempotency_key": "rerun-1",
    "last_error": None,
    "created_at": NOW,
    "updated_at": None,
}
CHANNEL: dict[str, Any] = {
    "uuid": CHANNEL_ID,
    "name": "ops-slack",
    "kind": "webhook",
    "config": {"url": "https://hooks.example/services/T1/B2/abcdef", "template": "slack"},
    "secret_fields": [],
    "configured_fields": ["template", "url"],
    "enabled": True,
    "created_at": NOW,
    "updated_at": None,
}
RULE: dict[str, Any] = {
    "uuid": RULE_ID,
    "name": "failed-runs",
    "project_module": None,
    "severity": "warning",
    "trigger_kind": "execution_terminal",
    "trigger_config": {},
    "channel_ids": [CHANNEL_ID],
    "cooldown_minutes": 60,
    "enabled": True,
    "last_fired_at": None,
    "created_at": NOW,
    "updated_at": None,
}
DELIVERY: dict[str, Any] = {
    "uuid": DELIVERY_ID,
    "rule_id": RULE_ID,
    "channel_id": CHANNEL_ID,
    "status": "failed",
    "payload": {"summary": "execution failed"},
    "error": "delivery failed: HTTP 404 Not Found",
    "created_at": NOW,
}


def only(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    return request


def assert_sent(request: requests.PreparedRequest, method: str, url: str, body: Any = None) -> None:
    """Method, full URL with query, the bearer token, and the JSON body (None: no body)."""
    assert request.method == method
    assert request.url == url
    assert request.headers["Authorization"] == AUTH
    assert "Idempotency-Key" not in request.headers
    if body is None:
        assert request.body is None
        assert "Content-Type" not in request.headers
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.body or b"") == body


# -- workers ---------------------------------------------------------------------------


def test_list_workers(api: ConformanceMock, client: BeampipeClient) -> None:
    stopped = {
        **WORKER,
        "id": JOB_ID,
        "status": "stopped",
        "health": "stopped",
        "process_id": None,
        "stopped_at": NOW,
    }
    api.get(f"{API}/workers", json=[WORKER, stopped])

    workers = client.list_workers()

    assert_sent(only(api), "GET", f"{API}/workers")
    assert [(w.id, w.health, w.process_id) for w in workers] == [
        (WORKER_ID, "healthy", 4242),
        (JOB_ID, "stopped", None),
    ]
    assert workers[0].labels == {"site": "pawsey"}
    assert workers[0].last_heartbeat_at == WHEN
    assert workers[1].stopped_at == WHEN and workers[0].stopped_at is None


def test_list_workers_including_stopped(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/workers", json=[])
    assert client.list_workers(include_stopped=True) == []
    assert_sent(only(api), "GET", f"{API}/workers?include_stopped=true")


def test_register_worker_sends_only_what_was_given(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.post(f"{API}/workers", status=201, json=WORKER)

    worker = client.register_worker("worker-1", "node01", "0.1.6")

    assert_sent(
        only(api),
        "POST",
        f"{API}/workers",
        {"instance_name": "worker-1", "host": "node01", "version": "0.1.6"},
    )
    assert (worker.id, worker.concurrency_limit, worker.capabilities) == (
        WORKER_ID,
        2,
        ["daliuge-deployment"],
    )


def test_register_worker_with_every_field(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/workers", status=201, json=WORKER)

    client.register_worker(
        "worker-1",
        "node01",
        "0.1.6",
        id=uuid.UUID(WORKER_ID.upper()),
        process_id=4242,
        role="scheduler_worker",
        pool="gpu",
        capabilities=("daliuge-deployment", "slurm-remote"),
        labels={"site": "pawsey"},
        concurrency_limit=4,
    )

    assert_sent(
        only(api),
        "POST",
        f"{API}/workers",
        {
            "instance_name": "worker-1",
            "host": "node01",
            "version": "0.1.6",
            "id": WORKER_ID,
            "process_id": 4242,
            "role": "scheduler_worker",
            "pool": "gpu",
            "capabilities": ["daliuge-deployment", "slurm-remote"],
            "labels": {"site": "pawsey"},
            "concurrency_limit": 4,
        },
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"instance_name": " "}, "instance_name must not be empty"),
        ({"host": None}, "host must be a string"),
        ({"version": 6}, "version must be a string"),
        ({"id": "worker-1"}, "id must be a UUID"),
        ({"concurrency_limit": 0}, "concurrency_limit must be an int from 1"),
        ({"concurrency_limit": True}, "concurrency_limit must be an int"),
        ({"process_id": 2**31}, "process_id must be an int from 0"),
        ({"pool": ""}, "pool must not be empty"),
        ({"capabilities": "gpu"}, "capabilities must be a list of strings"),
        ({"labels": ["a"]}, "labels must be a JSON object"),
    ],
)
def test_register_worker_rejects_bad_arguments(
    api: ConformanceMock, client: BeampipeClient, kwargs: dict[str, Any], match: str
) -> None:
    args = {"instance_name": "worker-1", "host": "node01", "version": "0.1.6", **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        client.register_worker(**args)
    assert len(api.calls) == 0


def test_register_worker_needs_a_superuser(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(
        f"{API}/workers",
        status=403,
        json=error_body(
            "forbidden", "superuser required", cls="authorization", retry="after_remediation"
        ),
    )
    with pytest.raises(PermissionDeniedError, match="superuser required"):
        client.register_worker("worker-1", "node01", "0.1.6")


def test_get_worker(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/workers/{WORKER_ID}", json=WORKER)
    worker = client.get_worker(WORKER_ID.upper())
    assert_sent(only(api), "GET", f"{API}/workers/{WORKER_ID}")
    assert (worker.instance_name, worker.active_leases) == ("worker-1", 1)


def test_get_worker_404(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/workers/{WORKER_ID}",
        status=404,
        json=error_body("not_found", "not found", cls="not_found", retry="after_remediation"),
    )
    with pytest.raises(NotFoundError):
        client.get_worker(WORKER_ID)


def test_heartbeat_worker(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(
        f"{API}/workers/{WORKER_ID}/heartbeat",
        json={"worker_id": WORKER_ID, "accepted": True, "recorded_at": NOW},
    )
    receipt = client.heartbeat_worker(WORKER_ID)
    assert_sent(only(api), "POST", f"{API}/workers/{WORKER_ID}/heartbeat")
    assert (receipt.worker_id, receipt.accepted, receipt.recorded_at) == (WORKER_ID, True, WHEN)


def test_drain_and_resume_worker(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(
        f"{API}/workers/{WORKER_ID}/drain",
        json={**WORKER, "status": "draining", "health": "draining", "draining_at": NOW},
    )
    api.post(f"{API}/workers/{WORKER_ID}/resume", json=WORKER)

    drained = client.drain_worker(WORKER_ID)
    resumed = client.resume_worker(uuid.UUID(WORKER_ID))

    assert len(api.calls) == 2
    assert_sent(api.calls[0].request, "POST", f"{API}/workers/{WORKER_ID}/drain")
    assert_sent(api.calls[1].request, "POST", f"{API}/workers/{WORKER_ID}/resume")
    assert (drained.status, drained.draining_at) == ("draining", WHEN)
    assert (resumed.status, resumed.draining_at) == ("active", None)


@pytest.mark.parametrize(
    "method", ["get_worker", "heartbeat_worker", "drain_worker", "resume_worker"]
)
def test_worker_ids_must_be_uuids(
    api: ConformanceMock, client: BeampipeClient, method: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="worker_id must be a UUID"):
        getattr(client, method)("worker-1")
    assert len(api.calls) == 0


def test_list_worker_pools(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/workers/pools",
        json=[
            {
                "pool": "default",
                "active_workers": 2,
                "draining_workers": 0,
                "unhealthy_workers": 1,
                "concurrency_limit": 4,
                "active_leases": 3,
            }
        ],
    )
    pools = client.list_worker_pools()
    assert_sent(only(api), "GET", f"{API}/workers/pools")
    assert [(p.pool, p.active_workers, p.unhealthy_workers, p.active_leases) for p in pools] == [
        ("default", 2, 1, 3)
    ]


def test_list_worker_leases(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/workers/leases", json=[LEASE])

    leases = client.list_worker_leases()
    client.list_worker_leases(worker_id=WORKER_ID.upper(), include_expired=True)

    assert_sent(api.calls[0].request, "GET", f"{API}/workers/leases")
    assert_sent(
        api.calls[1].request,
        "GET",
        f"{API}/workers/leases?worker_id={WORKER_ID}&include_expired=true",
    )
    assert [(x.job_id, x.worker_id, x.claim_id, x.lease_expires_at) for x in leases] == [
        (JOB_ID, WORKER_ID, None, WHEN)
    ]


def test_list_worker_leases_checks_its_arguments(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    with pytest.raises(InvalidArgumentError, match="worker_id must be a UUID"):
        client.list_worker_leases(worker_id="w1")
    with pytest.raises(InvalidArgumentError, match="include_expired must be True or False"):
        client.list_worker_leases(include_expired="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="include_stopped must be True or False"):
        client.list_workers(include_stopped=1)  # type: ignore[arg-type]
    assert len(api.calls) == 0


# -- scheduler and DALiuGE -------------------------------------------------------------


def test_scheduler_status(api: ConformanceMock, client: BeampipeClient) -> None:
    reply = {
        "profile": "setonix",
        "connectivity": {"reachable": True},
        "resource_request": {"nodes": 2},
        "rendered_resource_request": "#SBATCH --nodes=2",
    }
    api.get(f"{API}/scheduler/status", json=reply)

    default = client.scheduler_status()
    named = client.scheduler_status("setonix a")

    assert_sent(api.calls[0].request, "GET", f"{API}/scheduler/status")
    assert_sent(api.calls[1].request, "GET", f"{API}/scheduler/status?profile=setonix+a")
    assert (default.profile, default.connectivity, default.resource_request) == (
        "setonix",
        {"reachable": True},
        {"nodes": 2},
    )
    assert named.rendered_resource_request == "#SBATCH --nodes=2"


def test_scheduler_status_maps_adapter_failures(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(
        f"{API}/scheduler/status",
        status=502,
        json=error_body("scheduler.ssh_failed", "ssh failed", cls="connectivity", retry="unsafe"),
    )
    with pytest.raises(InternalServerError) as info:
        client.scheduler_status("setonix")
    assert info.value.code == "scheduler.ssh_failed"


def test_scheduler_jobs_asks_for_one_more_than_a_page(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.get(f"{API}/scheduler/jobs", json=[SCHEDULER_JOB])

    page = client.scheduler_jobs()
    jobs = list(page)

    assert_sent(only(api), "GET", f"{API}/scheduler/jobs?limit=101&offset=0")
    assert [(j.execution_id, j.scheduler_job_id, j.submitted_at) for j in jobs] == [
        (EXECUTION_ID, "123456", WHEN)
    ]
    assert jobs[0].daliuge_session_id is None


def test_scheduler_jobs_walks_full_pages(api: ConformanceMock, client: BeampipeClient) -> None:
    second = {**SCHEDULER_JOB, "execution_id": JOB_ID}
    three = [SCHEDULER_JOB, SCHEDULER_JOB, second]
    api.get(f"{API}/scheduler/jobs?limit=3&offset=5", json=three)
    api.get(f"{API}/scheduler/jobs?limit=3&offset=7", json=[second])

    jobs = list(client.scheduler_jobs(limit=2, offset=5))

    assert [c.request.url for c in api.calls] == [
        f"{API}/scheduler/jobs?limit=3&offset=5",
        f"{API}/scheduler/jobs?limit=3&offset=7",
    ]
    assert [j.execution_id for j in jobs] == [EXECUTION_ID, EXECUTION_ID, JOB_ID]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"limit": 0}, "limit must be an int from 1 to 499"),
        ({"limit": 500}, "limit must be an int from 1 to 499"),
        ({"offset": -1}, "offset must be an int >= 0"),
    ],
)
def test_scheduler_jobs_checks_its_window(
    api: ConformanceMock, client: BeampipeClient, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        client.scheduler_jobs(**kwargs)
    assert len(api.calls) == 0


def test_daliuge_inspect(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/daliuge/inspect",
        json={"profile": "setonix", "translator": {"version": "4.0"}, "manager": None},
    )
    inspected = client.daliuge_inspect("setonix")
    assert_sent(only(api), "GET", f"{API}/daliuge/inspect?profile=setonix")
    assert (inspected.profile, inspected.translator, inspected.manager) == (
        "setonix",
        {"version": "4.0"},
        None,
    )


def test_daliuge_sessions_is_any_json(api: ConformanceMock, client: BeampipeClient) -> None:
    sessions = [{"sessionId": "wallaby-1", "status": 2}]
    api.get(f"{API}/daliuge/sessions", json=sessions)
    assert client.daliuge_sessions() == sessions
    assert_sent(only(api), "GET", f"{API}/daliuge/sessions")


def test_daliuge_sessions_unconfigured(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/daliuge/sessions",
        status=400,
        json=error_body(
            "bad_request",
            "DALiuGE Data Island Manager URL is not configured",
            cls="validation",
            retry="after_remediation",
        ),
    )
    with pytest.raises(BadRequestError, match="not configured"):
        client.daliuge_sessions("rest")
    assert only(api).url == f"{API}/daliuge/sessions?profile=rest"


@pytest.mark.parametrize("method", ["scheduler_status", "daliuge_inspect", "daliuge_sessions"])
def test_profile_must_be_a_name(api: ConformanceMock, client: BeampipeClient, method: str) -> None:
    with pytest.raises(InvalidArgumentError, match="profile must not be empty"):
        getattr(client, method)("  ")
    assert len(api.calls) == 0


# -- graphs and jobs -------------------------------------------------------------------


def test_prepare_graph(api: ConformanceMock, client: BeampipeClient) -> None:
    reply = {
        "project_module": "wallaby_hires",
        "source_identifiers": ["HIPASSJ1318-21"],
        "project_config_id": CONFIG_ID,
        "project_config_version": 3,
        "project_spec_sha256": "a" * 64,
        "manifest_sha256": "b" * 64,
        "source_graph_sha256": "c" * 64,
        "patched_graph_sha256": "d" * 64,
        "patch_summary": {"patched_nodes": 2},
        "manifest": {"sources": ["HIPASSJ1318-21"]},
        "source_graph": [{"name": "a"}],
        "patched_graph": [{"name": "a", "num_cpus": 4}],
    }
    api.post(f"{API}/graphs/prepare", json=reply)

    prepared = client.prepare_graph("wallaby_hires", (s for s in ["HIPASSJ1318-21"]))

    assert_sent(
        only(api),
        "POST",
        f"{API}/graphs/prepare",
        {"project_module": "wallaby_hires", "source_identifiers": ["HIPASSJ1318-21"]},
    )
    assert (prepared.project_config_version, prepared.patched_graph_sha256) == (3, "d" * 64)
    assert prepared.patched_graph == [{"name": "a", "num_cpus": 4}]


@pytest.mark.parametrize(
    "module, sources, match",
    [
        ("", ["s"], "project_module must not be empty"),
        ("wallaby_hires", [], "source_identifiers must not be empty"),
        ("wallaby_hires", "HIPASSJ1318-21", "source_identifiers must be a list of strings"),
        ("wallaby_hires", ["ok", ""], r"source_identifiers\[1\] must not be empty"),
    ],
)
def test_prepare_graph_checks_its_arguments(
    api: ConformanceMock, client: BeampipeClient, module: str, sources: Any, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        client.prepare_graph(module, sources)
    assert len(api.calls) == 0


def test_enqueue_job_minimal(api: ConformanceMock, client: BeampipeClient) -> None:
    tick = {**JOB, "kind": "scheduler_tick", "execution_id": None, "idempotency_key": None}
    api.post(f"{API}/jobs", status=202, json=tick)

    job = client.enqueue_job("scheduler_tick")

    assert_sent(only(api), "POST", f"{API}/jobs", {"kind": "scheduler_tick"})
    assert (job.kind, job.status, job.execution_id, job.next_run_at) == (
        "scheduler_tick",
        "queued",
        None,
        WHEN,
    )


def test_enqueue_job_key_goes_in_the_body(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/jobs", status=202, json=JOB)

    job = client.enqueue_job(
        "execute",
        payload={"note": "rerun"},
        execution_id=EXECUTION_ID.upper(),
        idempotency_key="rerun-1",
    )

    request = only(api)
    assert_sent(
        request,
        "POST",
        f"{API}/jobs",
        {
            "kind": "execute",
            "payload": {"note": "rerun"},
            "execution_id": EXECUTION_ID,
            "idempotency_key": "rerun-1",
        },
    )
    assert (job.uuid, job.idempotency_key, job.max_attempts) == (JOB_ID, "rerun-1", 5)
    assert job.payload == {"note": "rerun", "password": "[REDACTED]"}


@pytest.mark.parametrize(
    "kind, kwargs, match",
    [
        ("", {}, "kind must not be empty"),
        ("execute", {"execution_id": "e1"}, "execution_id must be a UUID"),
        ("execute", {"idempotency_key": ""}, "idempotency_key must not be empty"),
        ("execute", {"idempotency_key": 7}, "idempotency_key must be a string"),
    ],
)
def test_enqueue_job_checks_its_arguments(
    api: ConformanceMock, client: BeampipeClient, kind: str, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        client.enqueue_job(kind, **kwargs)
    assert len(api.calls) == 0


def test_enqueue_job_is_not_retried_on_a_503(api: ConformanceMock) -> None:
    # A POST without a header key is not retry-safe; the body key does not change that.
    with BeampipeClient("http://127.0.0.1:8080", token="t0ken-abc", max_retries=2) as client:
        client._transport.sleep = lambda _s: None
        api.post(
            f"{API}/jobs",
            status=503,
            json=error_body(
                "service_unavailable",
                "down",
                cls="dependency_unavailable",
                retry="after_remediation",
            ),
        )
        with pytest.raises(APIStatusError) as info:
            client.enqueue_job("scheduler_tick", idempotency_key="k1")
    assert info.value.status_code == 503
    assert len(api.calls) == 1


# -- Slurm credentials -----------------------------------------------------------------


SLOT = {
    "name": "setonix",
    "private_key": True,
    "public_key": True,
    "passphrase": False,
    "known_hosts": True,
}


def test_list_slurm_credentials(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/slurm/credentials", json={"slots": [SLOT, {**SLOT, "name": "gadi"}]})
    slots = client.list_slurm_credentials()
    assert_sent(only(api), "GET", f"{API}/slurm/credentials")
    assert [(s.name, s.private_key, s.passphrase) for s in slots] == [
        ("setonix", True, False),
        ("gadi", True, False),
    ]


def test_get_slurm_credential(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/slurm/credentials/setonix.v2_a-b", json={**SLOT, "name": "setonix.v2_a-b"})
    slot = client.get_slurm_credential("setonix.v2_a-b")
    assert_sent(only(api), "GET", f"{API}/slurm/credentials/setonix.v2_a-b")
    assert (slot.name, slot.known_hosts) == ("setonix.v2_a-b", True)


def test_get_slurm_credential_404(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(
        f"{API}/slurm/credentials/gone",
        status=404,
        json=error_body("not_found", "not found", cls="not_found", retry="after_remediation"),
    )
    with pytest.raises(NotFoundError):
        client.get_slurm_credential("gone")


@pytest.mark.parametrize("slot", ["", "a/b", "..", "a..b", "x" * 51, " setonix", "sé", 5])
def test_get_slurm_credential_checks_the_name(
    api: ConformanceMock, client: BeampipeClient, slot: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="slot must"):
        client.get_slurm_credential(slot)
    assert len(api.calls) == 0


# -- notification channels -------------------------------------------------------------


def test_list_notification_channels(api: ConformanceMock, client: BeampipeClient) -> None:
    email = {
        **CHANNEL,
        "uuid": OTHER_CHANNEL,
        "name": "ops-mail",
        "kind": "email",
        "config": {"smtp_host": "smtp.example", "password": "[REDACTED]"},
        "secret_fields": ["password"],
        "configured_fields": ["password", "smtp_host"],
        "enabled": False,
        "updated_at": NOW,
    }
    api.get(f"{API}/notification-channels", json=[email, CHANNEL])

    channels = client.list_notification_channels()

    assert_sent(only(api), "GET", f"{API}/notification-channels")
    assert [(c.name, c.kind, c.enabled, c.secret_fields) for c in channels] == [
        ("ops-mail", "email", False, ["password"]),
        ("ops-slack", "webhook", True, []),
    ]
    assert channels[0].config == {"smtp_host": "smtp.example", "password": "[REDACTED]"}
    assert channels[0].updated_at == WHEN and channels[1].updated_at is None


def test_create_notification_channel(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/notification-channels", status=201, json=CHANNEL)
    config = {"url": "https://hooks.example/services/T1/B2/abcdef", "template": "slack"}

    channel = client.create_notification_channel("ops-slack", "webhook", config)
    client.create_notification_channel("ops-slack", "webhook", config, enabled=False)

    assert len(api.calls) == 2
    body = {"name": "ops-slack", "kind": "webhook", "config": config}
    assert_sent(api.calls[0].request, "POST", f"{API}/notification-channels", body)
    assert_sent(
        api.calls[1].request, "POST", f"{API}/notification-channels", {**body, "enabled": False}
    )
    assert (channel.uuid, channel.configured_fields) == (CHANNEL_ID, ["template", "url"])


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("", "webhook", {"url": "u"}), {}, "name must not be empty"),
        (("ops", None, {"url": "u"}), {}, "kind must be a string"),
        (("ops", "webhook", "https://hooks.example/secret"), {}, "config must be a JSON object"),
        (("ops", "webhook", {1: "x"}), {}, "config must be a JSON object"),
        (("ops", "webhook", {"url": "u"}), {"enabled": "yes"}, "enabled must be True or False"),
    ],
)
def test_create_notification_channel_checks_its_arguments(
    api: ConformanceMock,
    client: BeampipeClient,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match) as info:
        client.create_notification_channel(*args, **kwargs)
    assert "hooks.example/secret" not in str(info.value)
    assert len(api.calls) == 0


def test_update_notification_channel_sends_only_what_changes(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    url = f"{API}/notification-channels/{CHANNEL_ID}"
    api.patch(url, json={**CHANNEL, "enabled": False, "updated_at": NOW})

    updated = client.update_notification_channel(CHANNEL_ID.upper(), enabled=False)
    client.update_notification_channel(
        CHANNEL_ID,
        name="ops",
        config={"url": "[REDACTED]", "template": "generic", "headers": {"X-Trace": None}},
    )

    assert len(api.calls) == 2
    assert_sent(api.calls[0].request, "PATCH", url, {"enabled": False})
    assert_sent(
        api.calls[1].request,
        "PATCH",
        url,
        {
            "name": "ops",
            "config": {"url": "[REDACTED]", "template": "generic", "headers": {"X-Trace": None}},
        },
    )
    assert (updated.enabled, updated.updated_at) == (False, WHEN)


@pytest.mark.parametrize(
    "channel_id, kwargs, match",
    [
        (CHANNEL_ID, {}, "needs at least one of name, config, enabled"),
        ("ops", {"enabled": True}, "channel_id must be a UUID"),
        (CHANNEL_ID, {"name": None}, "name must be a string"),
        (CHANNEL_ID, {"enabled": None}, "enabled must be True or False"),
        (CHANNEL_ID, {"config": None}, "config must be a JSON object"),
    ],
)
def test_update_notification_channel_checks_its_arguments(
    api: ConformanceMock,
    client: BeampipeClient,
    channel_id: str,
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        client.update_notification_channel(channel_id, **kwargs)
    assert len(api.calls) == 0


def test_delete_notification_channel(api: ConformanceMock, client: BeampipeClient) -> None:
    url = f"{API}/notification-channels/{CHANNEL_ID}"
    api.delete(url, status=204)
    assert client.delete_notification_channel(uuid.UUID(CHANNEL_ID)) is None
    assert_sent(only(api), "DELETE", url)


def test_delete_missing_notification_channel_raises(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    api.delete(
        f"{API}/notification-channels/{CHANNEL_ID}",
        status=404,
        json=error_body("not_found", "not found", cls="not_found", retry="after_remediation"),
    )
    with pytest.raises(NotFoundError):
        client.delete_notification_channel(CHANNEL_ID)


def test_test_notification_channel_returns_the_json(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    url = f"{API}/notification-channels/{CHANNEL_ID}/test"
    api.post(url, json={"delivery_id": DELIVERY_ID, "status": "sent_or_failed"})
    assert client.test_notification_channel(CHANNEL_ID) == {
        "delivery_id": DELIVERY_ID,
        "status": "sent_or_failed",
    }
    assert_sent(only(api), "POST", url)


SECRETS = {
    "url": "https://hooks.example/services/T1/B2/hook-secret-1",
    "routing_key": "pd-routing-secret-2",
    "smtp_password": "smtp-secret-3",
    "headers.Authorization": "Bearer header-secret-4",
    "headers.X-Api-Key": "header-secret-5",
    "inline_dev": "inline-secret-6",
    "passphrase": "phrase-secret-7",
    "api_tokens[1]": "list-secret-8",
}


def secret_config() -> dict[str, Any]:
    return {
        "url": SECRETS["url"],
        "template": "pagerduty",
        "routing_key": SECRETS["routing_key"],
        "smtp_password": SECRETS["smtp_password"],
        "headers": {
            "Authorization": SECRETS["headers.Authorization"],
            "X-Api-Key": SECRETS["headers.X-Api-Key"],
        },
        "api": {"passphrase": SECRETS["passphrase"]},
        "password_ref": {"inline_dev": SECRETS["inline_dev"]},
        "token_ref": {"env": "ALERT_TOKEN_ENV"},
        "api_tokens": ["[REDACTED]", SECRETS["api_tokens[1]"]],
        "to": ["ops@example.org"],
    }


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    return caplog


def assert_clean(*texts: str) -> None:
    for text in texts:
        for where, secret in SECRETS.items():
            assert secret not in text, f"{where} ({secret!r}) leaked into {text[:300]!r}"


def test_channel_config_secrets_stay_out_of_logs(
    api: ConformanceMock, client: BeampipeClient, debug_log: pytest.LogCaptureFixture
) -> None:
    # A server that echoes the URL (it only redacts keys that look secret) is masked too.
    echoed = {**CHANNEL, "config": {"url": SECRETS["url"], "routing_key": "[REDACTED]"}}
    api.post(f"{API}/notification-channels", status=201, json=echoed)
    api.patch(f"{API}/notification-channels/{CHANNEL_ID}", json=echoed)

    client.create_notification_channel("ops", "webhook", secret_config())
    client.update_notification_channel(CHANNEL_ID, config=secret_config())

    # The secrets really went out...
    for call in api.calls:
        sent = json.loads(call.request.body or b"")
        assert sent["config"] == secret_config()
    # ...and the debug log of both calls shows neither them nor the echoed URL...
    assert f"POST {API}/notification-channels" in debug_log.text
    assert f"PATCH {API}/notification-channels/{CHANNEL_ID}" in debug_log.text
    assert_clean(debug_log.text)
    # ...while secret references (names, not secrets) stay readable.
    assert "ALERT_TOKEN_ENV" in debug_log.text
    assert "pagerduty" in debug_log.text and "ops@example.org" in debug_log.text


def test_job_payload_secrets_stay_out_of_logs(
    api: ConformanceMock, client: BeampipeClient, debug_log: pytest.LogCaptureFixture
) -> None:
    api.post(f"{API}/jobs", status=202, json=JOB)

    client.enqueue_job("execute", payload=secret_config(), execution_id=EXECUTION_ID)

    assert json.loads(only(api).body or b"")["payload"] == secret_config()
    assert f"POST {API}/jobs" in debug_log.text
    assert_clean(debug_log.text)


def test_channel_config_secrets_stay_out_of_errors(
    api: ConformanceMock, client: BeampipeClient, debug_log: pytest.LogCaptureFixture
) -> None:
    message = f"webhook {SECRETS['url']} refused; routing key {SECRETS['routing_key']}"
    api.post(
        f"{API}/notification-channels",
        status=400,
        json=error_body("bad_request", message, cls="validation", retry="after_remediation"),
    )
    with pytest.raises(BadRequestError) as info:
        client.create_notification_channel("ops", "webhook", secret_config())

    err = info.value
    assert_clean(str(err), repr(err), err.message or "", err.body_excerpt or "", debug_log.text)
    assert "<redacted>" in (err.message or "")


# -- alert rules and deliveries --------------------------------------------------------


def test_list_alert_rules_is_one_request(api: ConformanceMock, client: BeampipeClient) -> None:
    # The server ignores limit/offset and returns every rule: no pager, no query.
    api.get(f"{API}/alert-rules", json=[RULE] * 3)
    rules = client.list_alert_rules()
    assert_sent(only(api), "GET", f"{API}/alert-rules")
    assert [(r.uuid, r.channel_ids, r.project_module) for r in rules] == [
        (RULE_ID, [CHANNEL_ID], None)
    ] * 3


def test_create_alert_rule_minimal(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/alert-rules", status=201, json=RULE)

    rule = client.create_alert_rule("failed-runs", "execution_terminal", [CHANNEL_ID.upper()])

    assert_sent(
        only(api),
        "POST",
        f"{API}/alert-rules",
        {
            "name": "failed-runs",
            "trigger_kind": "execution_terminal",
            "trigger_config": {},
            "channel_ids": [CHANNEL_ID],
        },
    )
    assert (rule.uuid, rule.cooldown_minutes, rule.severity, rule.created_at) == (
        RULE_ID,
        60,
        "warning",
        WHEN,
    )


def test_create_alert_rule_with_every_field(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(f"{API}/alert-rules", status=201, json=RULE)

    client.create_alert_rule(
        "backlog",
        "pending_backlog",
        [uuid.UUID(CHANNEL_ID), OTHER_CHANNEL],
        trigger_config={"threshold": 10},
        project_module="wallaby_hires",
        severity="critical",
        cooldown_minutes=0,
        enabled=False,
    )

    assert_sent(
        only(api),
        "POST",
        f"{API}/alert-rules",
        {
            "name": "backlog",
            "trigger_kind": "pending_backlog",
            "channel_ids": [CHANNEL_ID, OTHER_CHANNEL],
            "trigger_config": {"threshold": 10},
            "project_module": "wallaby_hires",
            "severity": "critical",
            "cooldown_minutes": 0,
            "enabled": False,
        },
    )


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("", "execution_terminal", []), {}, "name must not be empty"),
        (("r", "", []), {}, "trigger_kind must not be empty"),
        (("r", "execution_terminal", CHANNEL_ID), {}, "channel_ids must be a list of UUIDs"),
        (("r", "execution_terminal", ["ch"]), {}, r"channel_ids\[0\] must be a UUID"),
        (("r", "pending_backlog", []), {"trigger_config": [1]}, "trigger_config must be a JSON"),
        (("r", "execution_terminal", []), {"cooldown_minutes": -1}, "cooldown_minutes must be"),
        (("r", "execution_terminal", []), {"severity": ""}, "severity must not be empty"),
    ],
)
def test_create_alert_rule_checks_its_arguments(
    api: ConformanceMock,
    client: BeampipeClient,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        client.create_alert_rule(*args, **kwargs)
    assert len(api.calls) == 0


def test_create_alert_rule_unknown_trigger(api: ConformanceMock, client: BeampipeClient) -> None:
    api.post(
        f"{API}/alert-rules",
        status=400,
        json=error_body(
            "bad_request", "unknown trigger_kind 'x'", cls="validation", retry="after_remediation"
        ),
    )
    with pytest.raises(BadRequestError, match="unknown trigger_kind"):
        client.create_alert_rule("r", "x", [])


def test_update_alert_rule_sends_only_what_changes(
    api: ConformanceMock, client: BeampipeClient
) -> None:
    url = f"{API}/alert-rules/{RULE_ID}"
    api.patch(url, json={**RULE, "enabled": False, "updated_at": NOW})

    updated = client.update_alert_rule(RULE_ID.upper(), enabled=False)
    client.update_alert_rule(
        RULE_ID,
        name="r2",
        trigger_kind="pending_stale",
        trigger_config={"max_age_seconds": 600},
        channel_ids=[],
        project_module="wallaby_hires",
        severity="info",
        cooldown_minutes=5,
    )

    assert len(api.calls) == 2
    assert_sent(api.calls[0].request, "PATCH", url, {"enabled": False})
    assert_sent(
        api.calls[1].request,
        "PATCH",
        url,
        {
            "name": "r2",
            "trigger_kind": "pending_stale",
            "trigger_config": {"max_age_seconds": 600},
            "channel_ids": [],
            "project_module": "wallaby_hires",
            "severity": "info",
            "cooldown_minutes": 5,
        },
    )
    assert (updated.enabled, updated.updated_at) == (False, WHEN)


@pytest.mark.parametrize(
    "rule_id, kwargs, match",
    [
        (RULE_ID, {}, "needs at least one field"),
        ("r1", {"enabled": True}, "rule_id must be a UUID"),
        (RULE_ID, {"project_module": None}, "project_module must be a string"),
        (RULE_ID, {"channel_ids": ["x"]}, r"channel_ids\[0\] must be a UUID"),
        (RULE_ID, {"cooldown_minutes": 1.5}, "cooldown_minutes must be an int"),
        (RULE_ID, {"trigger_config": "x"}, "trigger_config must be a JSON object"),
    ],
)
def test_update_alert_rule_checks_its_arguments(
    api: ConformanceMock,
    client: BeampipeClient,
    rule_id: str,
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        client.update_alert_rule(rule_id, **kwargs)
    assert len(api.calls) == 0


def test_update_missing_alert_rule_raises(api: ConformanceMock, client: BeampipeClient) -> None:
    api.patch(
        f"{API}/alert-rules/{RULE_ID}",
        status=404,
        json=error_body("not_found", "not found", cls="not_found", retry="after_remediation"),
    )
    with pytest.raises(NotFoundError):
        client.update_alert_rule(RULE_ID, enabled=True)


def test_delete_alert_rule(api: ConformanceMock, client: BeampipeClient) -> None:
    url = f"{API}/alert-rules/{RULE_ID}"
    api.delete(url, status=204)
    assert client.delete_alert_rule(RULE_ID) is None
    assert_sent(only(api), "DELETE", url)
    with pytest.raises(InvalidArgumentError, match="rule_id must be a UUID"):
        client.delete_alert_rule("rule-1")
    assert len(api.calls) == 1


def test_list_alert_deliveries(api: ConformanceMock, client: BeampipeClient) -> None:
    test_send = {**DELIVERY, "rule_id": None, "status": "sent", "error": None}
    api.get(f"{API}/alert-deliveries", json=[DELIVERY, test_send])

    deliveries = client.list_alert_deliveries()
    client.list_alert_deliveries(limit=500)

    assert_sent(api.calls[0].request, "GET", f"{API}/alert-deliveries?limit=50")
    assert_sent(api.calls[1].request, "GET", f"{API}/alert-deliveries?limit=500")
    assert [(d.status, d.rule_id, d.error) for d in deliveries] == [
        ("failed", RULE_ID, "delivery failed: HTTP 404 Not Found"),
        ("sent", None, None),
    ]
    assert deliveries[0].payload == {"summary": "execution failed"}


@pytest.mark.parametrize("limit", [0, 501, True, "10"])
def test_list_alert_deliveries_checks_the_limit(
    api: ConformanceMock, client: BeampipeClient, limit: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="limit must be an int from 1 to 500"):
        client.list_alert_deliveries(limit=limit)
    assert len(api.calls) == 0
