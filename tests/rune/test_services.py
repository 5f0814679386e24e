"""Services on both wires: CRUD, deletion (status, list, wait), scaling (scale, instances,
wait). Exact requests, decoded replies, error mapping, bad arguments sending nothing; the
waits run on a fake clock (no test sleeps)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from controldeck._generated.rune import ScalingMode, Service
from controldeck.errors import (
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PreconditionFailedError,
    WaitTimeoutError,
)
from controldeck.rune import RuneClient
from tests._clock import FakeTime
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, BASE_URL, connect_error, rpc_url

STATUS_OK = {"code": 0, "message": "", "details": []}

# A Service as runed's protojson sends it: every field emitted, unset messages as null.
SERVICE: dict[str, Any] = {
    "id": "0d5c8f62-3f0e-4a8b-9a57-4b8e1f0c2d11",
    "name": "api",
    "namespace": "default",
    "labels": {"app": "api"},
    "image": "nginx:1.27",
    "command": "",
    "args": [],
    "env": {"PORT": "8080"},
    "envFrom": [],
    "scale": 2,
    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "tcp"}],
    "resources": None,
    "health": None,
    "status": "SERVICE_STATUS_RUNNING",
    "runtime": "container",
    "process": None,
    "restartPolicy": "RESTART_POLICY_ALWAYS",
    "secretMounts": [],
    "configmapMounts": [],
    "metadata": {
        "generation": 3,
        "createdAt": "2025-11-07T10:00:00Z",
        "updatedAt": "2025-11-07T10:05:00Z",
        "lastNonZeroScale": 2,
    },
    "dependencies": [],
    "expose": None,
}
DELETION_ID = "delete-default-api-1730937600"


def operation(status: str, **fields: Any) -> dict[str, Any]:
    """A DeletionOperation as runed sends it (int64 times as strings)."""
    return {
        "id": DELETION_ID,
        "namespace": "default",
        "serviceName": "api",
        "totalInstances": 2,
        "deletedInstances": 0,
        "failedInstances": 0,
        "startTime": "1730937600",
        "endTime": "0",
        "status": status,
        "failureReason": "",
        "pendingOperations": [],
        "estimatedCompletion": "0",
        "finalizers": [],
        "finalizerOrder": [],
        "finalizerStatus": "",
        **fields,
    }


def instance(n: int, status: str) -> dict[str, Any]:
    return {
        "id": f"inst-{n}",
        "runner": "docker",
        "namespace": "default",
        "name": f"api-{n}",
        "serviceId": SERVICE["id"],
        "serviceName": "api",
        "nodeId": "local",
        "ip": f"172.17.0.{n + 1}",
        "status": status,
        "statusMessage": "",
        "containerId": f"c0ffee{n}",
        "pid": 0,
        "createdAt": "2025-11-07T10:00:00Z",
        "updatedAt": "2025-11-07T10:00:05Z",
        "resources": None,
        "environment": {},
        "metadata": None,
    }


def expect(
    api: ConformanceMock,
    client: RuneClient,
    rpc: str,
    rest: tuple[str, str],
    *,
    json: Any = None,
    status: int = 200,
) -> None:
    """Register the reply of one ServiceService call on the client's wire."""
    if client.transport == "connect":
        api.post(rpc_url("ServiceService", rpc), json=json, status=status)
    else:
        api.add(rest[0], f"{BASE_URL}{rest[1]}", json=json, status=status)


def check(
    call: Any,
    client: RuneClient,
    body: dict[str, Any],
    *,
    method: str,
    query: dict[str, str] | None = None,
    rest_body: bool = False,
) -> None:
    """One request: Connect POSTs `body`; REST sends `method` with `query` (and `body`)."""
    request = call.request
    assert request.headers["Authorization"] == AUTH
    if client.transport == "connect":
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Connect-Protocol-Version"] == "1"
        assert request.headers["Connect-Timeout-Ms"] == "60000"
        assert urlsplit(request.url).query == ""
        assert json.loads(request.body) == body
    else:
        assert request.method == method
        assert "Connect-Protocol-Version" not in request.headers
        assert dict(parse_qsl(urlsplit(request.url).query)) == (query or {})
        if rest_body:
            assert request.headers["Content-Type"] == "application/json"
            assert json.loads(request.body) == body
        else:
            assert request.body is None


def sent(api: ConformanceMock, client: RuneClient, body: dict[str, Any], **kw: Any) -> None:
    (call,) = api.calls
    check(call, client, body, **kw)


@pytest.fixture
def fake_time(request: pytest.FixtureRequest) -> FakeTime:
    """A fake clock on whichever client the test uses (no test sleeps)."""
    fake = FakeTime(1000.0)
    for name in ("client", "rest", "both"):
        if name in request.fixturenames:
            user: RuneClient = request.getfixturevalue(name)
            user._transport.clock = fake.clock
            user._transport.sleep = fake.sleep
    return fake


# -- create / get / list / update ----------------------------------------------------------


def test_create_service_sends_the_service_and_returns_what_was_stored(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect(
        api,
        both,
        "CreateService",
        ("POST", "/v1/namespaces/default/services"),
        json={"service": {**SERVICE, "status": "SERVICE_STATUS_PENDING"}, "status": STATUS_OK},
    )

    svc = both.create_service(
        Service(name="api", image="nginx:1.27", scale=2, env={"PORT": "8080"})
    )

    sent(
        api,
        both,
        {"service": {"name": "api", "image": "nginx:1.27", "scale": 2, "env": {"PORT": "8080"}}},
        method="POST",
        rest_body=True,
    )
    assert (svc.id, svc.name, svc.status) == (SERVICE["id"], "api", "SERVICE_STATUS_PENDING")
    assert svc.ports is not None and svc.ports[0].target_port == 8080
    assert svc.metadata is not None and svc.metadata.last_non_zero_scale == 2


def test_create_service_in_its_own_namespace_with_options(
    api: ConformanceMock, both: RuneClient
) -> None:
    stored = {**SERVICE, "namespace": "staging"}
    expect(
        api,
        both,
        "CreateService",
        ("POST", "/v1/namespaces/staging/services"),
        json={"service": stored, "status": STATUS_OK},
    )

    svc = both.create_service(
        Service(name="api", namespace="staging", image="nginx:1.27"),
        ensure_namespace=True,
        deployment_tag="v42",
    )

    sent(
        api,
        both,
        {
            "service": {"name": "api", "namespace": "staging", "image": "nginx:1.27"},
            "ensureNamespace": True,
            "deploymentTag": "v42",
        },
        method="POST",
        rest_body=True,
    )
    assert svc.namespace == "staging"


@pytest.mark.parametrize("http_status", [400, 412])
def test_a_failed_precondition_is_precondition_failed_whatever_the_http_status(
    api: ConformanceMock, client: RuneClient, http_status: int
) -> None:
    # Current Connect maps failed_precondition to 400, older mappings to 412 (reference §4).
    api.post(
        rpc_url("ServiceService", "CreateService"),
        json=connect_error("failed_precondition", "namespace staging does not exist"),
        status=http_status,
    )
    with pytest.raises(PreconditionFailedError, match="namespace staging does not exist"):
        client.create_service(Service(name="api", namespace="staging", image="nginx"))


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ({"name": "api"}, "service must be a controldeck.rune.Service, got dict"),
        (Service(image="nginx"), "service.name must be a string"),
        (Service(name=" ", image="nginx"), "service.name must not be empty"),
    ],
)
def test_create_service_refuses_bad_services_before_sending(
    api: ConformanceMock, both: RuneClient, service: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.create_service(service)
    assert len(api.calls) == 0


def test_get_service_decodes_the_service(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "GetService",
        ("GET", "/v1/namespaces/prod/services/api"),
        json={"service": {**SERVICE, "namespace": "prod"}, "status": STATUS_OK},
    )

    svc = both.get_service("api", "prod")

    sent(api, both, {"name": "api", "namespace": "prod"}, method="GET")
    assert (svc.name, svc.namespace, svc.image, svc.scale) == ("api", "prod", "nginx:1.27", 2)
    assert svc.env == {"PORT": "8080"}
    assert svc.restart_policy == "RESTART_POLICY_ALWAYS"


def test_get_service_defaults_to_the_default_namespace(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(rpc_url("ServiceService", "GetService"), json={"service": SERVICE})
    client.get_service("api")
    sent(api, client, {"name": "api", "namespace": "default"}, method="GET")


@pytest.mark.off_spec("a service status newer than the spec's enum")
def test_an_unknown_service_status_decodes_to_unknown(
    api: ConformanceMock, client: RuneClient
) -> None:
    # A status a newer runed may add (the spec's enums are open).
    api.post(
        rpc_url("ServiceService", "GetService"),
        json={"service": {**SERVICE, "status": "SERVICE_STATUS_DRAINING"}},
    )
    status = client.get_service("api").status
    assert status == "SERVICE_STATUS_DRAINING"
    assert status is not None and status.name == "UNKNOWN"


def test_a_missing_service_is_not_found(api: ConformanceMock, both: RuneClient) -> None:
    code: Any = "not_found" if both.transport == "connect" else 5
    expect(
        api,
        both,
        "GetService",
        ("GET", "/v1/namespaces/default/services/nope"),
        json={"code": code, "message": "service not found: nope", "details": []},
        status=404,
    )
    with pytest.raises(NotFoundError, match="service not found: nope"):
        both.get_service("nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [(("",), "name must not be empty"), (("api", ""), "namespace must not be empty")],
)
def test_get_service_refuses_empty_names(
    api: ConformanceMock, both: RuneClient, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.get_service(*args)
    assert len(api.calls) == 0


def test_list_services(api: ConformanceMock, both: RuneClient) -> None:
    worker = {**SERVICE, "id": "w-1", "name": "worker", "scale": 0}
    expect(
        api,
        both,
        "ListServices",
        ("GET", "/v1/namespaces/default/services"),
        json={
            "services": [SERVICE, worker],
            "status": STATUS_OK,
            "paging": {"limit": 2, "offset": 0, "continuationToken": ""},
        },
    )

    services = both.list_services()

    sent(api, both, {"namespace": "default"}, method="GET")
    assert [(s.name, s.scale) for s in services] == [("api", 2), ("worker", 0)]


def test_list_services_sends_selectors_on_connect_and_refuses_them_on_rest(
    api: ConformanceMock, both: RuneClient
) -> None:
    if both.transport == "rest":
        with pytest.raises(InvalidArgumentError, match="REST transport"):
            both.list_services("prod", field_selector={"name": "api"})
        assert len(api.calls) == 0
        return
    api.post(rpc_url("ServiceService", "ListServices"), json={"services": []})
    assert both.list_services("prod", label_selector={"app": "api"}) == []
    sent(api, both, {"namespace": "prod", "labelSelector": {"app": "api"}}, method="GET")


def test_update_service_puts_the_whole_spec(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "UpdateService",
        ("PUT", "/v1/namespaces/prod/services/api"),
        json={"service": {**SERVICE, "namespace": "prod", "image": "nginx:1.28"}},
    )

    svc = both.update_service(
        Service(name="api", namespace="prod", image="nginx:1.28", scale=2),
        force=True,
        deployment_tag="v43",
    )

    sent(
        api,
        both,
        {
            "service": {"name": "api", "namespace": "prod", "image": "nginx:1.28", "scale": 2},
            "force": True,
            "deploymentTag": "v43",
        },
        method="PUT",
        rest_body=True,
    )
    assert svc.image == "nginx:1.28"


def test_update_service_without_options_sends_only_the_service(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(rpc_url("ServiceService", "UpdateService"), json={"service": SERVICE})
    client.update_service(Service(name="api", image="nginx:1.27"))
    sent(api, client, {"service": {"name": "api", "image": "nginx:1.27"}}, method="PUT")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"force": 1}, "force must be True or False"),
        ({"deployment_tag": 5}, "deployment_tag must be a string"),
    ],
)
def test_update_service_refuses_bad_options(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.update_service(Service(name="api"), **kwargs)
    assert len(api.calls) == 0


# -- delete --------------------------------------------------------------------------------


def test_delete_service_sends_only_name_and_namespace_by_default(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect(
        api,
        both,
        "DeleteService",
        ("DELETE", "/v1/namespaces/default/services/api"),
        json={
            "deletionId": DELETION_ID,
            "status": STATUS_OK,
            "warnings": [],
            "errors": [],
            "cleanupOperations": [],
            "partialCleanup": False,
            "finalizers": [
                {
                    "id": "f-1",
                    "name": "",
                    "type": "instance-cleanup",
                    "status": "pending",
                    "error": "",
                    "dependencies": [],
                    "createdAt": "1730937600",
                    "updatedAt": "1730937600",
                    "completedAt": "0",
                }
            ],
        },
    )

    reply = both.delete_service("api")

    sent(api, both, {"name": "api", "namespace": "default"}, method="DELETE")
    assert reply.deletion_id == DELETION_ID
    assert reply.finalizers is not None
    assert (reply.finalizers[0].type, reply.finalizers[0].created_at) == (
        "instance-cleanup",
        1730937600,
    )


def test_delete_service_sends_every_option_given(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "DeleteService",
        ("DELETE", "/v1/namespaces/prod/services/api"),
        json={"deletionId": "", "status": STATUS_OK, "warnings": ["dry run"]},
    )

    reply = both.delete_service(
        "api",
        "prod",
        force=True,
        detach=True,
        dry_run=True,
        ignore_not_found=True,
        no_dependencies=True,
        timeout_seconds=30,
        grace_period=0,
        now=True,
    )

    sent(
        api,
        both,
        {
            "name": "api",
            "namespace": "prod",
            "force": True,
            "detach": True,
            "dryRun": True,
            "ignoreNotFound": True,
            "noDependencies": True,
            "timeoutSeconds": 30,
            "gracePeriod": 0,
            "now": True,
        },
        method="DELETE",
        query={
            "force": "true",
            "detach": "true",
            "dryRun": "true",
            "ignoreNotFound": "true",
            "noDependencies": "true",
            "timeoutSeconds": "30",
            "gracePeriod": "0",
            "now": "true",
        },
    )
    assert reply.warnings == ["dry run"]


def test_delete_service_finalizers_go_in_the_connect_body(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(rpc_url("ServiceService", "DeleteService"), json={"deletionId": DELETION_ID})
    client.delete_service("api", finalizers=["volume-cleanup", "service-deregister"])
    sent(
        api,
        client,
        {
            "name": "api",
            "namespace": "default",
            "finalizers": ["volume-cleanup", "service-deregister"],
        },
        method="DELETE",
    )


def test_delete_service_finalizers_are_refused_on_rest(
    api: ConformanceMock, rest: RuneClient
) -> None:
    with pytest.raises(InvalidArgumentError, match="finalizers= cannot be sent on the REST"):
        rest.delete_service("api", finalizers=["volume-cleanup"])
    assert len(api.calls) == 0


def test_deleting_a_service_others_depend_on_is_precondition_failed(
    api: ConformanceMock, both: RuneClient
) -> None:
    code: Any = "failed_precondition" if both.transport == "connect" else 9
    expect(
        api,
        both,
        "DeleteService",
        ("DELETE", "/v1/namespaces/default/services/db"),
        json={"code": code, "message": "cannot delete default/db; dependents exist: api"},
        status=400,
    )
    with pytest.raises(PreconditionFailedError, match="dependents exist: api"):
        both.delete_service("db")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"force": "yes"}, "force must be True or False"),
        ({"now": None}, "now must be True or False"),
        ({"timeout_seconds": -1}, "timeout_seconds must be between 0 and"),
        ({"grace_period": 1.5}, "grace_period must be an integer"),
        ({"grace_period": True}, "grace_period must be an integer"),
        ({"timeout_seconds": 2**31}, "timeout_seconds must be between"),
        ({"finalizers": "volume-cleanup"}, "finalizers must be a list of strings"),
        ({"finalizers": [""]}, r"finalizers\[0\] must not be empty"),
    ],
)
def test_delete_service_refuses_bad_options(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.delete_service("api", **kwargs)
    assert len(api.calls) == 0


# -- deletion status and list --------------------------------------------------------------


def test_get_deletion_status_returns_the_operation(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "GetDeletionStatus",
        ("GET", f"/v1/namespaces/default/services/{DELETION_ID}/deletion"),
        json={"operation": operation("deleting-instances", deletedInstances=1)},
    )

    op = both.get_deletion_status(DELETION_ID)

    sent(api, both, {"name": DELETION_ID, "namespace": "default"}, method="GET")
    assert (op.id, op.status, op.deleted_instances, op.total_instances) == (
        DELETION_ID,
        "deleting-instances",
        1,
        2,
    )
    assert (op.start_time, op.end_time) == (1730937600, 0)


def test_list_deletion_operations(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "ListDeletionOperations",
        ("GET", "/v1/namespaces/default/deletions"),
        json={"operations": [operation("completed", endTime="1730937660")]},
    )

    ops = both.list_deletion_operations()

    sent(api, both, {"namespace": "default"}, method="GET")
    assert [(o.service_name, o.status, o.end_time) for o in ops] == [
        ("api", "completed", 1730937660)
    ]


def test_list_deletion_operations_filters_by_status_in_every_namespace(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect(
        api,
        both,
        "ListDeletionOperations",
        ("GET", "/v1/namespaces/%2A/deletions"),
        json={"operations": []},
    )

    assert both.list_deletion_operations("*", status="failed") == []

    sent(
        api, both, {"namespace": "*", "status": "failed"}, method="GET", query={"status": "failed"}
    )


# -- wait_for_deletion ---------------------------------------------------------------------


def _deletion_replies(api: ConformanceMock, client: RuneClient, *replies: Any) -> None:
    for reply in replies:
        status = 200
        if isinstance(reply, tuple):
            reply, status = reply
        expect(
            api,
            client,
            "GetDeletionStatus",
            ("GET", f"/v1/namespaces/default/services/{DELETION_ID}/deletion"),
            json=reply,
            status=status,
        )


def test_wait_for_deletion_polls_until_completed(
    api: ConformanceMock,
    both: RuneClient,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _deletion_replies(
        api,
        both,
        {"operation": operation("initializing")},
        {"operation": operation("deleting-instances", deletedInstances=1)},
        {"operation": operation("running-finalizers", deletedInstances=2)},
        {"operation": operation("completed", deletedInstances=2, endTime="1730937660")},
    )

    with caplog.at_level(logging.INFO, logger="controldeck"):
        final = both.wait_for_deletion(DELETION_ID, poll_interval=2, progress=False)

    assert (final.status, final.end_time) == ("completed", 1730937660)
    assert len(api.calls) == 4
    for call in api.calls:
        check(call, both, {"name": DELETION_ID, "namespace": "default"}, method="GET")
    # The first check is immediate, then poll_interval, growing gently.
    assert len(fake_time.sleeps) == 3
    assert fake_time.sleeps[0] == 2
    assert all(2 <= s <= 30 for s in fake_time.sleeps)
    what = f"waiting for deletion default/{DELETION_ID}"
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith(what)] == [
        f"{what}: initializing, 0/2 instances deleted",
        f"{what}: deleting-instances, 1/2 instances deleted",
        f"{what}: running-finalizers, 2/2 instances deleted",
        f"{what}: completed, 2/2 instances deleted",
    ]


def test_a_failed_deletion_is_returned_not_raised(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    _deletion_replies(
        api,
        client,
        {"operation": operation("deleting-instances")},
        {"operation": operation("failed", failureReason="docker: container busy")},
    )
    final = client.wait_for_deletion(DELETION_ID, progress=False)
    assert (final.status, final.failure_reason) == ("failed", "docker: container busy")
    assert len(api.calls) == 2


def test_an_operation_that_vanishes_after_it_was_seen_counts_as_done(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    _deletion_replies(
        api,
        client,
        {"operation": operation("running-finalizers", deletedInstances=2)},
        (connect_error("not_found", f"deletion operation not found: {DELETION_ID}"), 404),
    )
    final = client.wait_for_deletion(DELETION_ID, progress=False)
    # The last state seen, as it was.
    assert (final.status, final.deleted_instances) == ("running-finalizers", 2)
    assert len(api.calls) == 2


def test_an_operation_missing_at_the_first_check_is_not_found(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    _deletion_replies(
        api,
        client,
        (connect_error("not_found", f"deletion operation not found: {DELETION_ID}"), 404),
    )
    with pytest.raises(NotFoundError, match="deletion operation not found"):
        client.wait_for_deletion(DELETION_ID, progress=False)
    assert fake_time.sleeps == []


def test_other_errors_while_waiting_propagate(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    # runed reports an unknown deletion id as `internal` (the store's error, wrapped).
    _deletion_replies(
        api,
        client,
        (connect_error("internal", "failed to get deletion status: resource not found"), 500),
    )
    with pytest.raises(InternalServerError, match="failed to get deletion status"):
        client.wait_for_deletion(DELETION_ID, progress=False)


def test_wait_for_deletion_times_out_with_the_last_operation(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    for _ in range(20):
        _deletion_replies(api, client, {"operation": operation("deleting-instances")})

    with pytest.raises(WaitTimeoutError, match="deleting-instances") as info:
        client.wait_for_deletion(DELETION_ID, timeout=10, poll_interval=2, progress=False)

    assert info.value.last_state.status == "deleting-instances"
    assert sum(fake_time.sleeps) == pytest.approx(10)


def test_wait_for_deletion_passes_poll_options_to_each_request(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    _deletion_replies(api, client, {"operation": operation("completed")})
    client.wait_for_deletion(
        DELETION_ID, progress=False, request_timeout=7, extra_headers={"X-Trace": "t-1"}
    )
    request = api.calls[0].request
    assert request.headers["Connect-Timeout-Ms"] == "7000"
    assert request.headers["X-Trace"] == "t-1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, "timeout must be positive"),
        ({"poll_interval": -1}, "poll_interval must be positive"),
        ({"progress": "yes"}, "progress must be True, False or None"),
        ({"request_timeout": 5, "bogus": 1}, "unexpected keyword arguments: bogus"),
    ],
)
def test_wait_for_deletion_refuses_bad_arguments_before_polling(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.wait_for_deletion(DELETION_ID, **kwargs)
    assert len(api.calls) == 0


# -- scale ---------------------------------------------------------------------------------


def test_scale_service_sends_the_scale(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "ScaleService",
        ("POST", "/v1/namespaces/default/services/api/scale"),
        json={"service": {**SERVICE, "scale": 5}, "status": STATUS_OK},
    )

    svc = both.scale_service("api", 5)

    sent(
        api,
        both,
        {"name": "api", "namespace": "default", "scale": 5},
        method="POST",
        rest_body=True,
    )
    assert svc.scale == 5


@pytest.mark.parametrize(
    "mode", ["gradual", "GRADUAL", "SCALING_MODE_GRADUAL", ScalingMode("SCALING_MODE_GRADUAL")]
)
def test_scale_service_gradually(api: ConformanceMock, both: RuneClient, mode: Any) -> None:
    expect(
        api,
        both,
        "ScaleService",
        ("POST", "/v1/namespaces/prod/services/api/scale"),
        json={"service": {**SERVICE, "scale": 0}},
    )

    both.scale_service("api", 0, "prod", mode=mode, step_size=1, interval_seconds=5)

    sent(
        api,
        both,
        {
            "name": "api",
            "namespace": "prod",
            "scale": 0,
            "mode": "SCALING_MODE_GRADUAL",
            "stepSize": 1,
            "intervalSeconds": 5,
        },
        method="POST",
        rest_body=True,
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("api", -1), {}, "scale must be between 0 and"),
        (("api", "3"), {}, "scale must be an integer"),
        (("api", 3), {"mode": "fast"}, "'fast' is not a valid ScalingMode"),
        (("api", 3), {"mode": 1}, "mode must be a ScalingMode or a string"),
        (("api", 3), {"step_size": 0}, "step_size must be between 1 and"),
        (("api", 3), {"interval_seconds": -5}, "interval_seconds must be between 0 and"),
    ],
)
def test_scale_service_refuses_bad_arguments(
    api: ConformanceMock,
    both: RuneClient,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.scale_service(*args, **kwargs)
    assert len(api.calls) == 0


# -- instances and wait_for_scale ----------------------------------------------------------


def test_list_service_instances(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "ListInstances",
        ("GET", "/v1/namespaces/default/services/api/instances"),
        json={
            "instances": [
                instance(1, "INSTANCE_STATUS_RUNNING"),
                instance(2, "INSTANCE_STATUS_STARTING"),
            ],
            "status": STATUS_OK,
            "paging": {"limit": 2, "offset": 0, "continuationToken": ""},
        },
    )

    instances = both.list_service_instances("api")

    sent(api, both, {"serviceName": "api", "namespace": "default"}, method="GET")
    assert [(i.name, i.status, i.service_name) for i in instances] == [
        ("api-1", "INSTANCE_STATUS_RUNNING", "api"),
        ("api-2", "INSTANCE_STATUS_STARTING", "api"),
    ]


def _instances(api: ConformanceMock, client: RuneClient, *lists: list[dict[str, Any]]) -> None:
    for items in lists:
        expect(
            api,
            client,
            "ListInstances",
            ("GET", "/v1/namespaces/default/services/api/instances"),
            json={"instances": items, "status": STATUS_OK},
        )


def test_wait_for_scale_up_returns_when_the_target_runs(
    api: ConformanceMock,
    both: RuneClient,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, starting = "INSTANCE_STATUS_RUNNING", "INSTANCE_STATUS_STARTING"
    _instances(
        api,
        both,
        [instance(1, running)],
        [instance(1, running), instance(2, starting), instance(3, "INSTANCE_STATUS_PENDING")],
        [instance(1, running), instance(2, running), instance(3, starting)],
        [instance(1, running), instance(2, running), instance(3, running)],
    )

    with caplog.at_level(logging.INFO, logger="controldeck"):
        final = both.wait_for_scale("api", 3, poll_interval=0.5, progress=False)

    assert [i.name for i in final] == ["api-1", "api-2", "api-3"]
    assert len(api.calls) == 4
    for call in api.calls:
        check(call, both, {"serviceName": "api", "namespace": "default"}, method="GET")
    assert fake_time.sleeps[0] == 0.5
    shown = [r.getMessage() for r in caplog.records]
    assert "waiting for default/api at 3 running: 1/3 running, 2 starting" in shown
    assert "waiting for default/api at 3 running: 3/3 running" in shown


def test_wait_for_scale_down_ignores_instances_still_stopping(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    running, stopping = "INSTANCE_STATUS_RUNNING", "INSTANCE_STATUS_STOPPING"
    _instances(
        api,
        client,
        [instance(1, running), instance(2, running), instance(3, running)],
        [instance(1, running), instance(2, stopping), instance(3, stopping)],
    )
    final = client.wait_for_scale("api", 1, progress=False)
    assert [(i.name, i.status) for i in final] == [
        ("api-1", running),
        ("api-2", stopping),
        ("api-3", stopping),
    ]
    assert len(api.calls) == 2


def test_wait_for_scale_to_zero_waits_until_no_instance_is_left(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    _instances(
        api,
        client,
        [instance(1, "INSTANCE_STATUS_STOPPED")],  # stopped, not gone yet
        [instance(1, "INSTANCE_STATUS_DELETED")],  # deleted ones do not count (as in runed)
    )
    final = client.wait_for_scale("api", 0, progress=False)
    assert [i.status for i in final] == ["INSTANCE_STATUS_DELETED"]
    assert len(api.calls) == 2


def test_wait_for_scale_keeps_waiting_through_a_failed_instance_then_times_out(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    for _ in range(20):
        _instances(
            api,
            client,
            [instance(1, "INSTANCE_STATUS_RUNNING"), instance(2, "INSTANCE_STATUS_FAILED")],
        )
    with pytest.raises(WaitTimeoutError, match="1/2 running, 1 other") as info:
        client.wait_for_scale("api", 2, timeout=5, progress=False)
    assert [i.status for i in info.value.last_state] == [
        "INSTANCE_STATUS_RUNNING",
        "INSTANCE_STATUS_FAILED",
    ]


def test_wait_for_scale_on_a_missing_service_raises_at_once(
    api: ConformanceMock, client: RuneClient, fake_time: FakeTime
) -> None:
    api.post(
        rpc_url("ServiceService", "ListInstances"),
        json=connect_error("not_found", "service not found: default/api"),
        status=404,
    )
    with pytest.raises(NotFoundError, match="service not found"):
        client.wait_for_scale("api", 1, progress=False)
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        (-1, {}, "target must be between 0 and"),
        (True, {}, "target must be an integer"),
        (1, {"poll_interval": 0}, "poll_interval must be positive"),
        (1, {"timeout": float("nan")}, "timeout must be positive"),
    ],
)
def test_wait_for_scale_refuses_bad_arguments_before_polling(
    api: ConformanceMock, both: RuneClient, target: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.wait_for_scale("api", target, **kwargs)
    assert len(api.calls) == 0
