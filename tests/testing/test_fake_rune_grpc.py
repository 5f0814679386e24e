"""FakeRune's gRPC server, driven with the raw generated stubs over a real loopback channel.

The client transport is written in parallel, so these tests pin the fake's side of the
contract: unary RPCs answer exactly what Connect answers (same handlers, same state) and
are recorded in `fake.requests`; errors are gRPC statuses with the upstream messages;
watches stream; StreamLogs and StreamExec follow the reference protocol, every received
message lands in `fake.grpc_messages`; and stop() never hangs nor leaks threads.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import json_format

from controldeck._generated.rune_grpc import (
    admin_pb2,
    admin_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    configmap_pb2,
    configmap_pb2_grpc,
    exec_pb2,
    exec_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
    instance_pb2,
    instance_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
    namespace_pb2,
    namespace_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    service_pb2,
    service_pb2_grpc,
)
from controldeck.testing.rune import FakeProcess, FakeRune

TIMEOUT = 5.0
SEED: Any = object()  # "the fake's seed token"


# -- helpers ------------------------------------------------------------------------------------


def auth(fake: FakeRune, token: Any = SEED) -> list[tuple[str, str]]:
    secret = fake.seed_token if token is SEED else token
    return [("authorization", f"Bearer {secret}")] if secret else []


class Outbox:
    """A request iterator the test feeds; `close()` half-closes the client side."""

    def __init__(self, *messages: Any) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for message in messages:
            self.put(message)

    def put(self, message: Any) -> None:
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Iterator[Any]:
        while (message := self._queue.get()) is not None:
            yield message


@pytest.fixture
def fake() -> Iterator[FakeRune]:
    with FakeRune(grpc=True, start_polls=0) as running:
        running.add_service("api", scale=1)
        yield running


@pytest.fixture
def channel(fake: FakeRune) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fake.grpc_target) as ch:
        yield ch


@pytest.fixture
def outbox() -> Iterator[Callable[..., Outbox]]:
    """Outboxes that are always half-closed at the end (no client thread left waiting)."""
    made: list[Outbox] = []

    def make(*messages: Any) -> Outbox:
        box = Outbox(*messages)
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


def connect(fake: FakeRune, rpc: str, body: Any) -> Any:
    """The same RPC over Connect, for comparison."""
    response = requests.post(
        f"{fake.connect_url}.{rpc}",
        json=body,
        headers={
            "Authorization": f"Bearer {fake.seed_token}",
            "Connect-Protocol-Version": "1",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    return info.value


def instance(fake: FakeRune, name: str = "api-0") -> dict[str, Any]:
    return next(i for i in fake.instances.values() if i["name"] == name)


def init(command: list[str], **fields: Any) -> Any:
    fields.setdefault("service_name", "api")
    return exec_pb2.ExecRequest(init=exec_pb2.ExecInitRequest(command=command, **fields))


def run_exec(
    channel: grpc.Channel, fake: FakeRune, *messages: Any, close: bool = True
) -> list[dict[str, Any]]:
    """Send the messages (then half-close), read the whole reply as protojson dicts."""
    box = Outbox(*messages)
    if close:
        box.close()
    stub = exec_pb2_grpc.ExecServiceStub(channel)
    try:
        call = stub.StreamExec(iter(box), metadata=auth(fake), timeout=TIMEOUT)
        return [json_format.MessageToDict(r) for r in call]
    finally:
        box.close()


def output(replies: list[dict[str, Any]], stream: str) -> bytes:
    import base64

    return b"".join(base64.b64decode(r[stream]) for r in replies if stream in r)


def logs(
    channel: grpc.Channel, fake: FakeRune, request: Any, *, token: Any = SEED
) -> list[dict[str, Any]]:
    stub = logs_pb2_grpc.LogServiceStub(channel)
    call = stub.StreamLogs(iter([request]), metadata=auth(fake, token), timeout=TIMEOUT)
    return [json_format.MessageToDict(r) for r in call]


# -- lifecycle ----------------------------------------------------------------------------------


def test_grpc_target_needs_grpc_true_and_a_running_fake() -> None:
    with FakeRune() as plain, pytest.raises(RuntimeError, match=r"grpc=True"):
        _ = plain.grpc_target
    fake = FakeRune(grpc=True)
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.grpc_target
    with fake:
        host, port = fake.grpc_target.split(":")
        assert host == "127.0.0.1" and int(port) > 0 and int(port) != fake.port
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.grpc_target


def test_the_fake_without_grpc_never_imports_grpcio() -> None:
    code = (
        "import sys\n"
        "from controldeck.testing.rune import FakeRune\n"
        "with FakeRune() as fake:\n"
        "    fake.add_service('api')\n"
        "bad = sorted(m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', "
        "'google.protobuf', 'controldeck._generated.rune_grpc', "
        "'controldeck.testing._rune_grpc')))\n"
        "print(bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


# -- unary --------------------------------------------------------------------------------------


def test_every_service_s_unary_rpc_answers_what_connect_answers(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    secret = secret_pb2_grpc.SecretServiceStub(channel)
    created = secret.CreateSecret(
        secret_pb2.CreateSecretRequest(
            secret={"name": "db", "type": "static", "data": {"pw": "x"}}
        ),
        metadata=auth(fake),
        timeout=TIMEOUT,
    )
    assert (created.secret.name, created.secret.namespace, dict(created.secret.data)) == (
        "db",
        "default",
        {"pw": "x"},
    )
    assert ("default", "db") in fake.secrets  # the same state the other wires serve
    configmap_pb2_grpc.ConfigmapServiceStub(channel).CreateConfigmap(
        configmap_pb2.CreateConfigmapRequest(configmap={"name": "cfg", "data": {"a": "1"}}),
        metadata=auth(fake),
        timeout=TIMEOUT,
    )
    api = instance(fake)
    cases: list[tuple[Any, str, Any]] = [
        (
            namespace_pb2_grpc.NamespaceServiceStub(channel).GetNamespace,
            "NamespaceService/GetNamespace",
            namespace_pb2.GetNamespaceRequest(name="default"),
        ),
        (
            service_pb2_grpc.ServiceServiceStub(channel).GetService,
            "ServiceService/GetService",
            service_pb2.GetServiceRequest(name="api", namespace="default"),
        ),
        (
            service_pb2_grpc.ServiceServiceStub(channel).ListInstances,
            "ServiceService/ListInstances",
            instance_pb2.ListInstancesRequest(service_name="api"),
        ),
        (
            instance_pb2_grpc.InstanceServiceStub(channel).GetInstance,
            "InstanceService/GetInstance",
            instance_pb2.GetInstanceRequest(id=api["id"]),
        ),
        (
            health_pb2_grpc.HealthServiceStub(channel).GetHealth,
            "HealthService/GetHealth",
            health_pb2.GetHealthRequest(component_type="service", name="api"),
        ),
        (
            secret_pb2_grpc.SecretServiceStub(channel).GetSecret,
            "SecretService/GetSecret",
            secret_pb2.GetSecretRequest(name="db"),
        ),
        (
            configmap_pb2_grpc.ConfigmapServiceStub(channel).ListConfigmaps,
            "ConfigmapService/ListConfigmaps",
            configmap_pb2.ListConfigmapsRequest(namespace="default"),
        ),
        (
            auth_pb2_grpc.AuthServiceStub(channel).WhoAmI,
            "AuthService/WhoAmI",
            auth_pb2.WhoAmIRequest(),
        ),
        (
            admin_pb2_grpc.AdminServiceStub(channel).UserList,
            "AdminService/UserList",
            admin_pb2.UserListRequest(),
        ),
    ]
    for method, rpc, request in cases:
        got = method(request, metadata=auth(fake), timeout=TIMEOUT)
        want = json_format.ParseDict(
            connect(fake, rpc, json_format.MessageToDict(request)),
            type(got)(),
            ignore_unknown_fields=True,
        )
        assert got == want, rpc
        assert got.ByteSize() > 0, rpc
    got_service = service_pb2_grpc.ServiceServiceStub(channel).GetService(
        service_pb2.GetServiceRequest(name="api"), metadata=auth(fake), timeout=TIMEOUT
    )
    assert got_service.service.status == service_pb2.SERVICE_STATUS_RUNNING
    assert got_service.service.scale == 1
    whoami = auth_pb2_grpc.AuthServiceStub(channel).WhoAmI(
        auth_pb2.WhoAmIRequest(), metadata=auth(fake), timeout=TIMEOUT
    )
    assert (whoami.subject_name, list(whoami.policies)) == ("root", ["root"])


def test_a_unary_call_is_recorded_as_a_request(fake: FakeRune, channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.ServiceServiceStub(channel)
    stub.ScaleService(
        service_pb2.ScaleServiceRequest(name="api", namespace="default", scale=2),
        metadata=[*auth(fake), ("x-request-id", "r-1")],
        timeout=TIMEOUT,
    )
    request = fake.requests[-1]
    assert (request.method, request.path, request.query) == (
        "POST",
        "/rune.api.ServiceService/ScaleService",
        {},
    )
    assert request.headers["authorization"] == f"Bearer {fake.seed_token}"
    assert request.headers["content-type"] == "application/grpc"
    assert request.headers["x-request-id"] == "r-1"
    assert request.headers["user-agent"].startswith("grpc-python/")
    # MessageToDict's JSON, compact: default-valued fields (mode 0) left out
    assert request.body == b'{"name":"api","namespace":"default","scale":2}'
    assert fake.seed_token not in repr(request)
    assert fake.services[("default", "api")]["scale"] == 2


def test_errors_are_grpc_statuses_with_the_server_s_messages(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    stub = service_pb2_grpc.ServiceServiceStub(channel)
    get = service_pb2.GetServiceRequest(name="nope")
    missing = rpc_error(lambda: stub.GetService(get, metadata=auth(fake), timeout=TIMEOUT))
    assert (missing.code(), missing.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "service not found: nope",
    )
    bad = rpc_error(
        lambda: stub.ScaleService(
            service_pb2.ScaleServiceRequest(name="api", scale=-1),
            metadata=auth(fake),
            timeout=TIMEOUT,
        )
    )
    assert (bad.code(), bad.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "scale must be a non-negative integer",
    )
    assert bad.details() == connect_error(
        fake, "ServiceService/ScaleService", {"name": "api", "scale": -1}
    )
    nobody = rpc_error(lambda: stub.GetService(get, timeout=TIMEOUT))
    assert (nobody.code(), nobody.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "missing bearer token: Request unauthenticated with bearer",
    )
    stranger = rpc_error(lambda: stub.GetService(get, metadata=auth(fake, "nope"), timeout=5))
    assert (stranger.code(), stranger.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "invalid bearer token",
    )
    viewer = fake.issue_token("viewer", policies=["readonly"])
    denied = rpc_error(
        lambda: secret_pb2_grpc.SecretServiceStub(channel).CreateSecret(
            secret_pb2.CreateSecretRequest(secret={"name": "s", "type": "static"}),
            metadata=auth(fake, viewer),
            timeout=TIMEOUT,
        )
    )
    assert (denied.code(), denied.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "access denied for resource: secrets verb: create",
    )
    assert ("default", "s") not in fake.secrets
    # the one public RPC needs no token
    boot = admin_pb2_grpc.AdminServiceStub(channel).AdminBootstrap(
        admin_pb2.AdminBootstrapRequest(), timeout=TIMEOUT
    )
    assert boot.token_secret and boot.token_id in fake.tokens
    assert "authorization" not in fake.requests[-1].headers


def connect_error(fake: FakeRune, rpc: str, body: Any) -> str:
    """The message Connect answers for the same bad request."""
    response = requests.post(
        f"{fake.connect_url}.{rpc}",
        json=body,
        headers={"Authorization": f"Bearer {fake.seed_token}", "Connect-Protocol-Version": "1"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    return str(response.json()["message"])


def test_fail_rpc_and_delay_rpc_work_over_grpc(fake: FakeRune, channel: grpc.Channel) -> None:
    stub = secret_pb2_grpc.SecretServiceStub(channel)
    fake.fail_rpc("GetSecret", "resource_exhausted", "rate limit exceeded", times=2)
    for _ in range(2):
        error = rpc_error(
            lambda: stub.GetSecret(
                secret_pb2.GetSecretRequest(name="x"), metadata=auth(fake), timeout=TIMEOUT
            )
        )
        assert (error.code(), error.details()) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "rate limit exceeded",
        )
    after = rpc_error(
        lambda: stub.GetSecret(
            secret_pb2.GetSecretRequest(name="x"), metadata=auth(fake), timeout=TIMEOUT
        )
    )
    assert after.code() == grpc.StatusCode.NOT_FOUND  # the failures are used up

    services = service_pb2_grpc.ServiceServiceStub(channel)
    fake.delay_rpc("ServiceService/GetService", 0.5)
    started = time.monotonic()
    late = rpc_error(
        lambda: services.GetService(
            service_pb2.GetServiceRequest(name="api"), metadata=auth(fake), timeout=0.1
        )
    )
    assert late.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 0.45
    # only the next call was delayed
    started = time.monotonic()
    reply = services.GetService(
        service_pb2.GetServiceRequest(name="api"), metadata=auth(fake), timeout=TIMEOUT
    )
    assert reply.service.name == "api"
    assert time.monotonic() - started < 0.45 + 0.5  # (the delayed one may still be sleeping)


def test_delay_rpc_delays_connect_too_and_checks_its_arguments(fake: FakeRune) -> None:
    with pytest.raises(ValueError, match="times"):
        fake.delay_rpc("GetService", 0.1, times=0)
    with pytest.raises(ValueError, match="negative"):
        fake.delay_rpc("GetService", -1)
    fake.delay_rpc("GetService", 0.15)
    started = time.monotonic()
    assert connect(fake, "ServiceService/GetService", {"name": "api"})["service"]["name"] == "api"
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    connect(fake, "ServiceService/GetService", {"name": "api"})
    assert time.monotonic() - started < 0.15


# -- watches ------------------------------------------------------------------------------------


def test_a_watch_replays_pushes_and_ends_with_the_fake_s_error(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    stub = service_pb2_grpc.ServiceServiceStub(channel)
    call = stub.WatchServices(
        service_pb2.WatchServicesRequest(namespace="default"), metadata=auth(fake), timeout=TIMEOUT
    )
    first = next(call)
    assert (first.event_type, first.service.name) == (1, "api")  # EVENT_TYPE_ADDED
    fake.wait_for_watchers(1, timeout=2)
    fake.add_service("web")
    pushed = next(call)
    assert (pushed.event_type, pushed.service.name, pushed.service.image) == (
        1,
        "web",
        "nginx:alpine",
    )
    assert fake.requests[-1].path == "/rune.api.ServiceService/WatchServices"
    assert fake.requests[-1].body == b'{"namespace":"default"}'
    fake.end_watches(("unavailable", "server shutting down"))
    error = rpc_error(lambda: list(call))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.UNAVAILABLE,
        "server shutting down",
    )
    fake.wait_for_watchers(0, timeout=2)


def test_a_cancelled_watch_is_detached(fake: FakeRune, channel: grpc.Channel) -> None:
    stub = namespace_pb2_grpc.NamespaceServiceStub(channel)
    call = stub.WatchNamespaces(
        namespace_pb2.WatchNamespacesRequest(), metadata=auth(fake), timeout=TIMEOUT
    )
    names = {next(call).namespace.name for _ in range(2)}
    assert names == {"default", "system"}
    fake.wait_for_watchers(1, timeout=2)
    call.cancel()
    fake.wait_for_watchers(0, timeout=2)
    denied = rpc_error(
        lambda: stub.WatchNamespaces(
            namespace_pb2.WatchNamespacesRequest(), metadata=auth(fake, "bad"), timeout=TIMEOUT
        )
    )
    assert (denied.code(), denied.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "invalid bearer token",
    )


# -- logs ---------------------------------------------------------------------------------------


def test_logs_without_follow_send_the_selected_lines_and_end(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    api = instance(fake)
    fake.add_log_lines(
        "api-0",
        [
            {"content": "GET / 200", "time": 1_700_000_000.25},
            {"content": "warn: slow", "time": 1_700_000_060.5},
            {"content": "request failed", "time": 1_700_000_120.0, "stream": "stderr"},
        ],
    )
    replies = logs(channel, fake, logs_pb2.LogRequest(resource_target="api-0", tail=2))
    assert replies == [
        {
            "serviceName": "api",
            "instanceId": api["id"],
            "instanceName": "api-0",
            "content": "warn: slow",
            "stream": "stdout",
            "logLevel": "warning",
        },
        {
            "serviceName": "api",
            "instanceId": api["id"],
            "instanceName": "api-0",
            "content": "request failed",
            "stream": "stdout",
            "logLevel": "error",
        },
    ]
    timed = logs(
        channel,
        fake,
        logs_pb2.LogRequest(
            resource_target="service/api",
            since="2023-11-14T22:13:30Z",
            until="2023-11-14T22:15:00Z",
            timestamps=True,
        ),
    )
    assert [(r["content"], r["timestamp"]) for r in timed] == [
        ("warn: slow", "2023-11-14T22:14:20.500000Z")
    ]
    filtered = logs(
        channel, fake, logs_pb2.LogRequest(resource_target="instance/api-0", filter="GET")
    )
    assert [r["content"] for r in filtered] == ["GET / 200"]
    by_id = logs(channel, fake, logs_pb2.LogRequest(resource_target=api["id"], tail=1))
    assert [r["content"] for r in by_id] == ["request failed"]
    assert fake.grpc_messages[-1] == (
        "LogService/StreamLogs",
        {"resourceTarget": api["id"], "tail": 1},
    )
    opened = fake.requests[-1]
    assert (opened.path, opened.body) == ("/rune.api.LogService/StreamLogs", b"")
    assert opened.headers["authorization"] == f"Bearer {fake.seed_token}"


def test_log_requests_are_checked(fake: FakeRune, channel: grpc.Channel) -> None:
    cases = [
        (
            logs_pb2.LogRequest(follow=True),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid log request: must specify either service name or instance ID or "
            "resource type/name",
        ),
        (
            logs_pb2.LogRequest(resource_target="api", since="10m"),
            grpc.StatusCode.INVALID_ARGUMENT,
            'invalid log request: invalid since timestamp: parsing time "10m" as '
            '"2006-01-02T15:04:05Z07:00": cannot parse "10m" as "2006"',
        ),
        (
            logs_pb2.LogRequest(resource_target="api", until="tomorrow"),
            grpc.StatusCode.INVALID_ARGUMENT,
            'invalid log request: invalid until timestamp: parsing time "tomorrow" as '
            '"2006-01-02T15:04:05Z07:00": cannot parse "tomorrow" as "2006"',
        ),
        (
            logs_pb2.LogRequest(resource_target="ghost"),
            grpc.StatusCode.NOT_FOUND,
            "log target not found: default/ghost",
        ),
    ]
    for request, code, message in cases:
        error = rpc_error(lambda request=request: logs(channel, fake, request))
        assert (error.code(), error.details()) == (code, message)
    viewer = fake.issue_token("viewer", policies=[])
    denied = rpc_error(
        lambda: logs(channel, fake, logs_pb2.LogRequest(resource_target="api"), token=viewer)
    )
    assert (denied.code(), denied.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "access denied for resource: logs verb: get",
    )
    fake.fail_rpc("StreamLogs", "unavailable", "try later")
    failed = rpc_error(lambda: logs(channel, fake, logs_pb2.LogRequest(resource_target="api")))
    assert (failed.code(), failed.details()) == (grpc.StatusCode.UNAVAILABLE, "try later")


def test_follow_pushes_new_lines_and_survives_the_client_s_half_close(
    fake: FakeRune, channel: grpc.Channel, outbox: Callable[..., Outbox]
) -> None:
    fake.add_log_lines("other", ["not mine"])
    box = outbox(logs_pb2.LogRequest(resource_target="api", follow=True, tail=1))
    call = logs_pb2_grpc.LogServiceStub(channel).StreamLogs(
        iter(box), metadata=auth(fake), timeout=TIMEOUT
    )
    assert next(call).content == "config file not found, using defaults"  # the last stored
    assert fake.log_followers == 1
    box.close()  # half-close: upstream keeps streaming
    fake.add_log_lines("other", ["still not mine"])
    fake.add_log_lines("api-0", ["pushed 1", "pushed 2"])
    fake.add_log_lines("api", ["service-level line"])
    got = [next(call) for _ in range(3)]
    assert [(r.content, r.instance_name) for r in got] == [
        ("pushed 1", "api-0"),
        ("pushed 2", "api-0"),
        ("service-level line", ""),
    ]
    call.cancel()
    deadline = time.monotonic() + 2
    while fake.log_followers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.log_followers == 0


@pytest.mark.parametrize("mode", ["apply", "restart"])
def test_a_parameter_update_applies_or_ends_the_stream(
    fake: FakeRune, channel: grpc.Channel, outbox: Callable[..., Outbox], mode: str
) -> None:
    fake.log_update_mode = mode  # type: ignore[assignment]
    fake.add_log_lines("api-0", ["GET /a", "POST /b", "GET /c"])
    box = outbox(logs_pb2.LogRequest(resource_target="api", follow=True, tail=1))
    call = logs_pb2_grpc.LogServiceStub(channel).StreamLogs(
        iter(box), metadata=auth(fake), timeout=TIMEOUT
    )
    assert next(call).content == "GET /c"
    box.put(logs_pb2.LogRequest(parameter_update=True, filter="GET", tail=5, follow=True))
    if mode == "restart":
        error = rpc_error(lambda: list(call))
        assert (error.code(), error.details()) == (
            grpc.StatusCode.INTERNAL,
            "log streaming error: parameter update requested",
        )
    else:
        assert [next(call).content for _ in range(2)] == ["GET /a", "GET /c"]
        fake.add_log_lines("api-0", ["POST /d", "GET /e"])
        assert next(call).content == "GET /e"  # the new filter applies to new lines
        call.cancel()
    assert fake.grpc_messages == [
        ("LogService/StreamLogs", {"resourceTarget": "api", "follow": True, "tail": 1}),
        (
            "LogService/StreamLogs",
            {"follow": True, "tail": 5, "filter": "GET", "parameterUpdate": True},
        ),
    ]


# -- exec ---------------------------------------------------------------------------------------


def test_echo_sends_status_stdout_and_exit(fake: FakeRune, channel: grpc.Channel) -> None:
    api = instance(fake)
    replies = run_exec(channel, fake, init(["echo", "hello", "world"], namespace="default"))
    assert replies == [
        {"status": {"message": f"Connected to instance {api['id']}"}},
        {"stdout": "aGVsbG8gd29ybGQK"},  # "hello world\n"
        {"exit": {}},  # code 0, not signaled
    ]
    assert fake.grpc_messages == [
        (
            "ExecService/StreamExec",
            {
                "init": {
                    "serviceName": "api",
                    "namespace": "default",
                    "command": ["echo", "hello", "world"],
                }
            },
        )
    ]


def test_cat_copies_stdin_until_the_client_half_closes(
    fake: FakeRune, channel: grpc.Channel, outbox: Callable[..., Outbox]
) -> None:
    box = outbox(init(["cat"]))
    call = exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
        iter(box), metadata=auth(fake), timeout=TIMEOUT
    )
    assert next(call).WhichOneof("response") == "status"
    box.put(exec_pb2.ExecRequest(stdin=b"line one\n"))
    assert next(call).stdout == b"line one\n"
    box.put(exec_pb2.ExecRequest(stdin=b"x" * 10_000))
    chunks = []
    while sum(len(c) for c in chunks) < 10_000:
        chunks.append(next(call).stdout)
    assert b"".join(chunks) == b"x" * 10_000
    assert max(len(c) for c in chunks) <= 4096
    box.close()
    last = list(call)
    assert [json_format.MessageToDict(r) for r in last] == [{"exit": {}}]
    assert fake.grpc_messages[1:3] == [
        ("ExecService/StreamExec", {"stdin": "bGluZSBvbmUK"}),
        ("ExecService/StreamExec", {"stdin": "eHh4" * 3333 + "eA=="}),
    ]


def test_env_pwd_and_stty_size_see_the_init_request_and_resizes(
    fake: FakeRune, channel: grpc.Channel, outbox: Callable[..., Outbox]
) -> None:
    env = run_exec(channel, fake, init(["env"], env={"B": "2", "A": "1"}))
    assert output(env, "stdout") == b"A=1\nB=2\n"
    assert output(run_exec(channel, fake, init(["pwd"], working_dir="/srv")), "stdout") == (
        b"/srv\n"
    )
    assert output(run_exec(channel, fake, init(["pwd"])), "stdout") == b"/\n"
    assert output(run_exec(channel, fake, init(["stty", "size"])), "stdout") == b"0 0\n"
    sized = run_exec(
        channel,
        fake,
        init(["stty", "size"], tty=True, terminal_size={"width": 80, "height": 24}),
    )
    assert output(sized, "stdout") == b"24 80\n"

    # a resize before the program runs: wait for the status, resize, then run stty via a
    # custom command that waits for stdin first
    def stty_after_input(proc: FakeProcess) -> int:
        proc.read_stdin(timeout=TIMEOUT)
        width, height = proc.terminal_size or (0, 0)
        proc.write_stdout(f"{height} {width} tty={proc.tty}\n")
        return 0

    fake.add_exec_command("stty-later", stty_after_input)
    box = outbox(init(["stty-later"], tty=True, terminal_size={"width": 80, "height": 24}))
    call = exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
        iter(box), metadata=auth(fake), timeout=TIMEOUT
    )
    next(call)
    box.put(exec_pb2.ExecRequest(resize={"width": 132, "height": 43}))
    box.put(exec_pb2.ExecRequest(stdin=b"\n"))
    assert next(call).stdout == b"43 132 tty=True\n"
    assert next(call).exit.code == 0
    box.close()
    assert fake.grpc_messages[-2] == (
        "ExecService/StreamExec",
        {"resize": {"width": 132, "height": 43}},
    )


@pytest.mark.parametrize(
    ("signal", "code"),
    [("SIGINT", 130), ("SIGTERM", 143), ("SIGKILL", 137), ("SIGHUP", 129), ("INT", 130)],
)
def test_a_signal_ends_sleep_with_128_plus_its_number(
    fake: FakeRune,
    channel: grpc.Channel,
    outbox: Callable[..., Outbox],
    signal: str,
    code: int,
) -> None:
    box = outbox(init(["sleep", "30"]))
    started = time.monotonic()
    call = exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
        iter(box), metadata=auth(fake), timeout=TIMEOUT
    )
    next(call)
    box.put(exec_pb2.ExecRequest(signal={"name": signal}))
    replies = [json_format.MessageToDict(r) for r in call]
    name = signal if signal.startswith("SIG") else f"SIG{signal}"
    assert replies == [{"exit": {"code": code, "signaled": True, "signal": name}}]
    assert time.monotonic() - started < 2
    assert fake.grpc_messages[-1] == ("ExecService/StreamExec", {"signal": {"name": signal}})


def test_other_programs_and_exit_codes(fake: FakeRune, channel: grpc.Channel) -> None:
    assert run_exec(channel, fake, init(["true"]))[-1] == {"exit": {}}
    assert run_exec(channel, fake, init(["false"]))[-1] == {"exit": {"code": 1}}
    assert run_exec(channel, fake, init(["sh", "-c", "exit 7"]))[-1] == {"exit": {"code": 7}}
    assert run_exec(channel, fake, init(["sleep", "0.01"]))[-1] == {"exit": {}}
    high = run_exec(channel, fake, init(["sh", "-c", "exit 200"]))[-1]
    assert high == {"exit": {"code": 200, "signaled": True}}  # upstream: signaled = code > 128
    stderr = run_exec(channel, fake, init(["yes-stderr", "oh", "no"]))
    assert (output(stderr, "stderr"), output(stderr, "stdout")) == (b"oh no\n", b"")
    assert stderr[-1] == {"exit": {"code": 3}}
    unknown = run_exec(channel, fake, init(["vim", "x"]))
    assert output(unknown, "stderr") == b'exec: "vim": executable file not found in $PATH\n'
    assert unknown[-1] == {"exit": {"code": 127}}


def test_a_custom_command_gets_the_process_and_a_crash_is_reported(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    seen: list[Any] = []

    def probe(proc: FakeProcess) -> int:
        seen.append((proc.argv, proc.env, proc.working_dir, proc.tty, proc.instance["name"]))
        proc.write_stdout(b"out")
        proc.write_stderr("err")
        return 5

    fake.add_exec_command("probe", probe)
    replies = run_exec(channel, fake, init(["probe", "-v"], env={"K": "V"}, working_dir="/w"))
    assert seen == [(["probe", "-v"], {"K": "V"}, "/w", False, "api-0")]
    assert replies[1:] == [{"stdout": "b3V0"}, {"stderr": "ZXJy"}, {"exit": {"code": 5}}]

    def crash(proc: FakeProcess) -> int:
        raise KeyError("boom")

    fake.add_exec_command("crash", crash)
    crashed = run_exec(channel, fake, init(["crash"]))
    assert output(crashed, "stderr") == b"FakeRune: exec handler failed: KeyError('boom')\n"
    assert crashed[-1] == {"exit": {"code": 1}}
    with pytest.raises(ValueError, match="name"):
        fake.add_exec_command("", probe)


def test_a_half_close_ends_a_running_program_after_the_grace(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    fake.exec_close_grace = 0.05
    started = time.monotonic()
    replies = run_exec(channel, fake, init(["sleep", "30"]))  # half-closes at once
    assert replies[-1] == {"exit": {"code": 129, "signaled": True, "signal": "SIGHUP"}}
    assert time.monotonic() - started < 1.5

    def stubborn(proc: FakeProcess) -> int:
        while not proc.killed:
            proc.wait_signal(0.01)
        return 0

    fake.add_exec_command("stubborn", stubborn)
    replies = run_exec(channel, fake, init(["stubborn"]))
    assert replies[-1] == {"exit": {"code": 137, "signaled": True, "signal": "SIGKILL"}}


def test_exec_requests_are_checked(fake: FakeRune, channel: grpc.Channel) -> None:
    other = fake.add_service("db", scale=1)
    db = next(i for i in fake.instances.values() if i["serviceName"] == "db")
    db["status"] = "INSTANCE_STATUS_STOPPED"
    fake.add_service("empty", scale=0)
    api = instance(fake)
    cases = [
        (exec_pb2.ExecRequest(stdin=b"x"), grpc.StatusCode.INVALID_ARGUMENT,
         "first request must be an init request"),
        (exec_pb2.ExecRequest(init=exec_pb2.ExecInitRequest(command=["ls"])),
         grpc.StatusCode.INVALID_ARGUMENT,
         "invalid exec request: must specify either service_name or instance_id"),
        (init([]), grpc.StatusCode.INVALID_ARGUMENT, "invalid exec request: command is required"),
        (init(["ls"], service_name="empty"), grpc.StatusCode.NOT_FOUND,
         "no running instances found for service: empty in namespace: default"),
        (init(["ls"], service_name="api", namespace="system"), grpc.StatusCode.NOT_FOUND,
         "no running instances found for service: api in namespace: system"),
        (init(["ls"], service_name="db"), grpc.StatusCode.NOT_FOUND,
         "no running instances found for service: db in namespace: default"),
        (exec_pb2.ExecRequest(init=exec_pb2.ExecInitRequest(instance_id="nope", command=["ls"])),
         grpc.StatusCode.NOT_FOUND, "instance not found: nope"),
        (exec_pb2.ExecRequest(init=exec_pb2.ExecInitRequest(instance_id=db["id"],
                                                            command=["ls"])),
         grpc.StatusCode.FAILED_PRECONDITION, "instance is not running, status: Stopped"),
    ]  # fmt: skip
    for message, code, text in cases:
        error = rpc_error(lambda message=message: run_exec(channel, fake, message))
        assert (error.code(), error.details()) == (code, text), text
    nothing = rpc_error(lambda: run_exec(channel, fake))
    assert (nothing.code(), nothing.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "first request must be an init request",
    )
    by_id = run_exec(
        channel,
        fake,
        exec_pb2.ExecRequest(
            init=exec_pb2.ExecInitRequest(instance_id=api["id"], command=["true"])
        ),
    )
    assert by_id[0] == {"status": {"message": f"Connected to instance {api['id']}"}}
    assert other["name"] == "db"
    viewer = fake.issue_token("viewer", policies=["readonly"])
    denied = rpc_error(
        lambda: list(
            exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
                iter([init(["true"])]), metadata=auth(fake, viewer), timeout=TIMEOUT
            )
        )
    )
    assert (denied.code(), denied.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "access denied for resource: exec verb: exec",
    )
    missing = rpc_error(
        lambda: list(
            exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
                iter([init(["true"])]), timeout=TIMEOUT
            )
        )
    )
    assert (missing.code(), missing.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "missing bearer token: Request unauthenticated with bearer",
    )


# -- stopping -----------------------------------------------------------------------------------


def _fake_threads(timeout: float = 1.0) -> list[str]:
    """The fake's per-call threads still running after waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        names = [t.name for t in threading.enumerate() if t.name.startswith("FakeRune-grpc-")]
        if not names or time.monotonic() > deadline:
            return names
        time.sleep(0.01)


def _settle(expected: int, timeout: float = 1.0) -> int:
    deadline = time.monotonic() + timeout
    while threading.active_count() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count()


def test_stop_ends_open_streams_at_once_and_leaves_no_threads() -> None:
    before = threading.active_count()
    fake = FakeRune(grpc=True, start_polls=0).start()
    fake.add_service("api", scale=1)
    channel = grpc.insecure_channel(fake.grpc_target)
    log_box, exec_box = Outbox(), Outbox()
    try:
        log_box.put(logs_pb2.LogRequest(resource_target="api", follow=True))
        logs_call = logs_pb2_grpc.LogServiceStub(channel).StreamLogs(
            iter(log_box), metadata=auth(fake), timeout=TIMEOUT
        )
        next(logs_call)
        exec_box.put(init(["sleep", "30"]))
        exec_call = exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
            iter(exec_box), metadata=auth(fake), timeout=TIMEOUT
        )
        next(exec_call)
        silent = Outbox()  # a bidi call whose first request never comes
        silent_call = exec_pb2_grpc.ExecServiceStub(channel).StreamExec(
            iter(silent), metadata=auth(fake), timeout=TIMEOUT
        )
        watch_call = service_pb2_grpc.ServiceServiceStub(channel).WatchServices(
            service_pb2.WatchServicesRequest(), metadata=auth(fake), timeout=TIMEOUT
        )
        next(watch_call)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2
        for call in (logs_call, exec_call):
            error = rpc_error(lambda call=call: list(call))
            assert (error.code(), error.details()) == (
                grpc.StatusCode.UNAVAILABLE,
                "server shutting down",
            )
        assert list(watch_call) == []  # a watch ends cleanly, as over Connect
        assert rpc_error(lambda: list(silent_call)).code() == grpc.StatusCode.UNAVAILABLE
    finally:
        silent.close()
        log_box.close()
        exec_box.close()
        channel.close()
        fake.stop()
    assert _settle(before) == before


def test_fifty_streams_opened_and_closed_leave_no_threads() -> None:
    before = threading.active_count()
    with (
        FakeRune(grpc=True, start_polls=0) as fake,
        grpc.insecure_channel(fake.grpc_target) as channel,
    ):
        fake.add_service("api", scale=1)
        logs_stub = logs_pb2_grpc.LogServiceStub(channel)
        exec_stub = exec_pb2_grpc.ExecServiceStub(channel)
        for number in range(25):
            box = Outbox(logs_pb2.LogRequest(resource_target="api", follow=True))
            call = logs_stub.StreamLogs(iter(box), metadata=auth(fake), timeout=TIMEOUT)
            next(call)
            call.cancel()
            box.close()
            box = Outbox(init(["echo", str(number)]))  # not half-closed until the end
            replies = [
                json_format.MessageToDict(r)
                for r in exec_stub.StreamExec(iter(box), metadata=auth(fake), timeout=TIMEOUT)
            ]
            assert replies[-1] == {"exit": {}}
            # the fake's threads of a finished call end while the client's side is open
            assert _fake_threads() == []
            box.close()
        assert len(fake.grpc_messages) == 50
    assert _settle(before) == before


def test_watch_scaling_over_grpc_reports_until_complete(
    fake: FakeRune, channel: grpc.Channel
) -> None:
    stub = service_pb2_grpc.ServiceServiceStub(channel)
    replies = list(
        stub.WatchScaling(
            service_pb2.WatchScalingRequest(service_name="api", target_scale=1),
            metadata=auth(fake),
            timeout=TIMEOUT,
        )
    )
    assert [(r.current_scale, r.target_scale, r.running_instances, r.complete)
            for r in replies] == [(1, 1, 1, True), (1, 1, 1, True)]  # fmt: skip
    missing = rpc_error(
        lambda: stub.WatchScaling(
            service_pb2.WatchScalingRequest(service_name="ghost"),
            metadata=auth(fake),
            timeout=TIMEOUT,
        )
    )
    assert (missing.code(), missing.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "service not found: default/ghost",
    )
