"""Every unary facade method over gRPC does what it does over Connect: the same request
reaches the server (compared as protobuf messages, so `force: false` on Connect and an
absent field on gRPC are the same), and the same decoded model comes back.

Two FakeRunes with the same clock run the same scenario, one over Connect and one over
gRPC, both decoding strictly (a key `openapi/rune.yaml` lacks fails). Ids and token
secrets are random, so they are compared as placeholders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import attrs
import cattrs
import pytest

from controldeck._core._convert import strict_converter
from controldeck.rune import (
    PolicyRule,
    RegistryAuthConfig,
    RegistryConfig,
    RuneClient,
    Service,
    ServicePort,
)
from controldeck.rune._grpc import GrpcWire
from controldeck.testing.rune import FakeRune

NOW = 1_767_000_000.0
UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\b[0-9a-f]{12}\b"  # a container id
)


class StrictRune(RuneClient):
    _converter: ClassVar[cattrs.Converter | None] = strict_converter


def _placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_placeholders(v) for v in value]
    if isinstance(value, str):
        return UUID.sub("<uuid>", value)
    return value


def _plain(value: Any) -> Any:
    """A facade result as JSON-able data (models by their wire names)."""
    if attrs.has(type(value)):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def scenario(rune: RuneClient) -> Iterator[tuple[str, Any]]:
    """Every unary facade method once (plus the two waits), in an order that works."""
    boot = rune.admin_bootstrap()
    yield "admin_bootstrap", boot
    rune.set_token(boot.token_secret)
    yield "whoami", rune.whoami()
    yield "create_namespace", rune.create_namespace("shop", description="d", labels={"t": "1"})
    yield "get_namespace", rune.get_namespace("shop")
    yield "list_namespaces", rune.list_namespaces(label_selector={"t": "1"})
    service = Service(
        name="api",
        namespace="default",
        image="nginx:1.27",
        scale=1,
        env={"MODE": "prod"},
        ports=[ServicePort(name="http", port=80, target_port=8080)],
    )
    yield "create_service", rune.create_service(service, deployment_tag="v1")
    yield "get_service", rune.get_service("api", "default")
    yield "list_services", rune.list_services("default")
    yield "update_service", rune.update_service(attrs.evolve(service, image="nginx:1.28"))
    yield "scale_service", rune.scale_service("api", 2, "default", mode="SCALING_MODE_IMMEDIATE")
    yield "wait_for_scale", rune.wait_for_scale("api", 2, "default", poll_interval=0.01)
    instances = rune.list_service_instances("api", "default")
    yield "list_service_instances", instances
    first = instances[0].id
    yield "get_instance", rune.get_instance(first, "default")
    yield "list_instances", rune.list_instances("default", service_name="api")
    yield "stop_instance", rune.stop_instance(first, "default", timeout_seconds=5)
    yield "start_instance", rune.start_instance(first, "default", force=True)
    yield "restart_instance", rune.restart_instance(first, "default")
    yield "get_health", rune.get_health("service", name="api", namespace="default")
    yield "create_secret", rune.create_secret("db", {"password": "hunter2"}, "shop")
    yield "get_secret", rune.get_secret("db", "shop")
    yield "update_secret", rune.update_secret("db", {"password": "n3w-pass"}, "shop")
    yield "list_secrets", rune.list_secrets("shop")
    yield "delete_secret", rune.delete_secret("db", "shop")
    yield "create_configmap", rune.create_configmap("web", {"LEVEL": "info"}, "shop")
    yield "get_configmap", rune.get_configmap("web", "shop")
    yield "update_configmap", rune.update_configmap("web", {"LEVEL": "debug"}, "shop")
    yield "list_configmaps", rune.list_configmaps("shop")
    yield "delete_configmap", rune.delete_configmap("web", "shop")
    minted = rune.create_token("ci", subject_name="ci-bot", policies=["readonly"])
    yield "create_token", minted
    yield "list_tokens", rune.list_tokens()
    yield "revoke_token", rune.revoke_token(minted.id)
    yield "create_user", rune.create_user("ana", email="ana@example.com", policies=["readonly"])
    yield "list_users", rune.list_users()
    rules = [PolicyRule(resource="services", verbs=["get", "list"], namespace="shop")]
    policy = rune.create_policy("viewer", rules, description="read shop")
    yield "create_policy", policy
    yield "get_policy", rune.get_policy("viewer")
    yield "update_policy", rune.update_policy(attrs.evolve(policy, description="read the shop"))
    yield "list_policies", rune.list_policies()
    yield "attach_policy", rune.attach_policy("viewer", "ana")
    yield "detach_policy", rune.detach_policy("viewer", "ana")
    yield "delete_policy", rune.delete_policy("viewer")
    registry = RegistryConfig(
        name="ghcr",
        registry="ghcr.io",
        auth=RegistryAuthConfig(type="basic", username="bot", password="s3cret-pw"),
    )
    yield "add_registry", rune.add_registry(registry)
    yield "get_registry", rune.get_registry("ghcr")
    yield "update_registry", rune.update_registry(attrs.evolve(registry, registry="ghcr.io/x"))
    yield "list_registries", rune.list_registries()
    yield "bootstrap_registry_auth", rune.bootstrap_registry_auth(name="ghcr")
    yield "test_registry", rune.test_registry("ghcr", image_ref="ghcr.io/x/app:1")
    yield "registries_status", rune.registries_status()
    yield "remove_registry", rune.remove_registry("ghcr")
    yield "delete_service", rune.delete_service("api", "default", timeout_seconds=10)
    yield "get_deletion_status", rune.get_deletion_status("api", "default")
    yield "list_deletion_operations", rune.list_deletion_operations("default")
    yield "wait_for_deletion", rune.wait_for_deletion("api", "default", poll_interval=0.01)
    yield "delete_namespace", rune.delete_namespace("shop", force=True)


def _run(transport: str) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """The scenario's results and the unary requests the fake received."""
    with FakeRune(seed=False, grpc=True, clock=lambda: NOW) as fake:
        rune = StrictRune(
            fake.url,
            transport=transport,  # type: ignore[arg-type]
            grpc_target=fake.grpc_target,
            max_retries=0,
        )
        with rune:
            results = [(name, _plain(value)) for name, value in scenario(rune)]
        received = [
            (r.path.rsplit("rune.api.", 1)[1], json.loads(r.body or b"{}"))
            for r in fake.requests
            if "rune.api." in r.path
        ]
    return results, received


@pytest.fixture(scope="module")
def both() -> dict[str, tuple[list[tuple[str, Any]], list[tuple[str, Any]]]]:
    return {transport: _run(transport) for transport in ("connect", "grpc")}


def _as_message(rpc: str, body: Any) -> Any:
    """A request body as the server decodes it (defaults and absent fields are equal)."""
    service, method = rpc.split("/")
    name = GrpcWire.request_name(service, method)
    wire = GrpcWire(
        "localhost:1",
        tls=False,
        auth=None,  # type: ignore[arg-type]
        user_agent="t",
        timeout=(1, 1),
        deadline=None,
        max_retries=0,
    )
    return wire.to_json(wire.message(name, body))


def test_the_scenario_covers_every_unary_method() -> None:
    public = {
        name
        for name in dir(RuneClient)
        if not name.startswith("_")
        and callable(getattr(RuneClient, name))
        and not name.startswith(("watch_", "wait_"))
    }
    streams = {"logs", "exec", "exec_session"}
    plumbing = {"close", "copy", "set_token", "healthz", "readyz"}
    covered = {name for name, _ in scenario_names()}
    assert public - streams - plumbing - covered == set()


def scenario_names() -> list[tuple[str, None]]:
    import inspect

    source = inspect.getsource(scenario)
    return [(m, None) for m in re.findall(r'yield "(\w+)"', source)]


def test_grpc_sends_the_requests_connect_sends(
    both: dict[str, tuple[list[tuple[str, Any]], list[tuple[str, Any]]]],
) -> None:
    connect, grpc = both["connect"][1], both["grpc"][1]
    assert [rpc for rpc, _ in grpc] == [rpc for rpc, _ in connect]
    assert len(connect) >= 57 - 6 - 1  # every unary RPC but ListInstances' twin, at least
    for (rpc, sent_http), (_, sent_grpc) in zip(connect, grpc, strict=True):
        assert _placeholders(_as_message(rpc, sent_grpc)) == _placeholders(
            _as_message(rpc, sent_http)
        ), rpc


def test_grpc_decodes_what_connect_decodes(
    both: dict[str, tuple[list[tuple[str, Any]], list[tuple[str, Any]]]],
) -> None:
    connect, grpc = both["connect"][0], both["grpc"][0]
    assert [name for name, _ in grpc] == [name for name, _ in connect]
    for (name, over_http), (_, over_grpc) in zip(connect, grpc, strict=True):
        assert _placeholders(over_grpc) == _placeholders(over_http), name


def test_every_unary_rpc_was_called_over_grpc(
    both: dict[str, tuple[list[tuple[str, Any]], list[tuple[str, Any]]]],
) -> None:
    from controldeck._generated.rune_grpc import (
        admin_pb2,
        auth_pb2,
        configmap_pb2,
        health_pb2,
        instance_pb2,
        namespace_pb2,
        secret_pb2,
        service_pb2,
    )

    unary = {
        f"{service.name}/{method.name}"
        for module in (
            admin_pb2,
            auth_pb2,
            configmap_pb2,
            health_pb2,
            instance_pb2,
            namespace_pb2,
            secret_pb2,
            service_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if not method.server_streaming and not method.client_streaming
    }
    called = {rpc for rpc, _ in both["grpc"][1]}
    # InstanceService/ListInstances is the same call as ServiceService/ListInstances'
    # twin; the facade's list_instances() uses one of them.
    assert unary - called <= {"InstanceService/ListInstances", "ServiceService/ListInstances"}
    assert len(unary - called) <= 1


def test_grpc_requests_carry_the_token_as_metadata(grpc_fake: FakeRune) -> None:
    with RuneClient(
        token=grpc_fake.seed_token, transport="grpc", grpc_target=grpc_fake.grpc_target
    ) as rune:
        rune.get_namespace("default", extra_headers={"X-Trace": "abc"})
    sent = grpc_fake.requests[-1]
    assert sent.path == "/rune.api.NamespaceService/GetNamespace"
    assert json.loads(sent.body) == {"name": "default"}
    assert sent.headers["authorization"] == f"Bearer {grpc_fake.seed_token}"
    assert sent.headers["x-trace"] == "abc"
    assert sent.headers["user-agent"].startswith("controldeck/")
