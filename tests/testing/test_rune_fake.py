"""FakeRune over real loopback sockets, with plain `requests`.

The SDK facade is written in parallel, so these tests pin the wire itself, on both
transports: Connect paths, headers, protojson shapes (every field present, int64 as
strings, enums as names), error bodies and statuses, Connect envelopes and end-of-stream
messages, SSE log events, asynchronous deletion, scaling, and auth/RBAC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from controldeck.testing import FakeRune

SEED: Any = object()  # "use the fake's seed token"
TIMEOUT = 5


# -- helpers ------------------------------------------------------------------------------------


def _auth(fake: FakeRune, token: Any) -> dict[str, str]:
    secret = fake.seed_token if token is SEED else token
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def connect(
    fake: FakeRune,
    rpc: str,
    body: Any = None,
    *,
    token: Any = SEED,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> requests.Response:
    """POST one unary RPC (`Service/Method`) the way the shared brief says a client does."""
    service, method = rpc.split("/")
    sent = {
        "Content-Type": "application/json",
        "Connect-Protocol-Version": "1",
        "Connect-Timeout-Ms": "5000",
        **_auth(fake, token),
        **(headers or {}),
    }
    data = raw if raw is not None else json.dumps({} if body is None else body).encode()
    url = f"{fake.connect_url}.{service}/{method}"
    return requests.post(url, data=data, headers=sent, timeout=TIMEOUT)


def rest(
    fake: FakeRune,
    method: str,
    path: str,
    body: Any = None,
    *,
    params: dict[str, str] | None = None,
    token: Any = SEED,
) -> requests.Response:
    return requests.request(
        method,
        fake.url + path,
        json=body,
        params=params,
        headers=_auth(fake, token),
        timeout=TIMEOUT,
    )


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def envelope(message: Any, flag: int = 0) -> bytes:
    data = json.dumps(message).encode()
    return bytes([flag]) + len(data).to_bytes(4, "big") + data


def watch(
    fake: FakeRune, rpc: str, body: Any = None, *, token: Any = SEED, raw: bytes | None = None
) -> requests.Response:
    """Open a Connect server stream; the reply is read with `next_envelope`."""
    service, method = rpc.split("/")
    headers = {
        "Content-Type": "application/connect+json",
        "Connect-Protocol-Version": "1",
        **_auth(fake, token),
    }
    data = raw if raw is not None else envelope({} if body is None else body)
    url = f"{fake.connect_url}.{service}/{method}"
    return requests.post(url, data=data, headers=headers, stream=True, timeout=TIMEOUT)


def _read_exact(response: requests.Response, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = response.raw.read(size - len(data))
        assert chunk, f"stream ended after {len(data)} of {size} bytes"
        data += chunk
    return data


def next_envelope(response: requests.Response) -> tuple[int, Any]:
    """One envelope: (flag, decoded JSON)."""
    head = _read_exact(response, 5)
    return head[0], json.loads(_read_exact(response, int.from_bytes(head[1:5], "big")))


def events(response: requests.Response, count: int) -> list[tuple[str, str]]:
    """The next `count` watch messages as (eventType, object name)."""
    out = []
    for _ in range(count):
        flag, message = next_envelope(response)
        assert flag == 0, message
        obj = message.get("service") or message.get("instance") or message.get("namespace")
        out.append((message["eventType"], obj["name"]))
    return out


def read_all(response: requests.Response) -> list[tuple[int, Any]]:
    """Every envelope up to and including the end-of-stream one (then EOF)."""
    frames = []
    while True:
        flag, message = next_envelope(response)
        frames.append((flag, message))
        if flag == 2:
            assert response.raw.read(1) == b""
            return frames


def sse(text: str) -> list[dict[str, Any]]:
    """Dispatched SSE events (those with data) as {event, id, data}."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {"event": "message"}
        data = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        if data:
            fields["data"] = json.loads("\n".join(data))
            out.append(fields)
    return out


@pytest.fixture
def fake() -> Iterator[FakeRune]:
    with FakeRune() as server:
        yield server


@pytest.fixture
def clock() -> list[float]:
    return [1_767_225_600.0]  # 2026-01-01T00:00:00Z


# -- every RPC on Connect, and every REST route ---------------------------------------------------


def keys(text: str) -> set[str]:
    return set(text.split())


# Top-level keys of each reply (rune-proto.md), so a missing zero value shows.
KEYS = {
    "AdminBootstrap": "tokenId tokenSecret subjectId",
    "WhoAmI": "subjectId subjectName subjectEmail policies",
    "CreateToken": "id name secret",
    "RevokeToken": "revoked",
    "TokenList": "tokens",
    "UserCreate": "user",
    "UserList": "users",
    "PolicyCreate": "policy",
    "PolicyGet": "policy",
    "PolicyUpdate": "policy",
    "PolicyList": "policies",
    "PolicyAttachToSubject": "attached",
    "PolicyDetachFromSubject": "detached",
    "PolicyDelete": "deleted",
    "AddRegistry": "registry",
    "GetRegistry": "registry",
    "UpdateRegistry": "registry",
    "ListRegistries": "registries",
    "BootstrapAuth": "updated",
    "TestRegistry": "ok message",
    "RegistriesStatus": "registries",
    "RemoveRegistry": "deleted",
    "CreateNamespace": "namespace status",
    "GetNamespace": "namespace status",
    "ListNamespaces": "namespaces status paging",
    "DeleteNamespace": "status",
    "CreateService": "service status",
    "GetService": "service status",
    "ListServices": "services status paging",
    "UpdateService": "service status",
    "ScaleService": "service status",
    "ListInstances": "instances status paging",
    "GetInstance": "instance status",
    "StopInstance": "instance status",
    "StartInstance": "instance status",
    "RestartInstance": "instance status",
    "GetHealth": "components status",
    "CreateSecret": "secret status",
    "GetSecret": "secret status",
    "UpdateSecret": "secret status",
    "ListSecrets": "secrets status",
    "DeleteSecret": "code message details",
    "CreateConfigmap": "configmap status",
    "GetConfigmap": "configmap status",
    "UpdateConfigmap": "configmap status",
    "ListConfigmaps": "configmaps status",
    "DeleteConfigmap": "code message details",
    "DeleteService": "deletionId status warnings errors cleanupOperations partialCleanup "
    "finalizers",
    "GetDeletionStatus": "operation",
    "ListDeletionOperations": "operations",
}
SERVICE_KEYS = keys(
    "id name namespace labels image command args env envFrom scale ports resources health "
    "status runtime process restartPolicy secretMounts configmapMounts metadata "
    "dependencies expose"
)
INSTANCE_KEYS = keys(
    "id runner namespace name serviceId serviceName nodeId ip status statusMessage "
    "containerId pid createdAt updatedAt resources environment metadata"
)
OPERATION_KEYS = keys(
    "id namespace serviceName totalInstances deletedInstances failedInstances startTime "
    "endTime status failureReason pendingOperations estimatedCompletion finalizers "
    "finalizerOrder finalizerStatus"
)
UNARY = {
    "AdminService": "AdminBootstrap PolicyCreate PolicyUpdate PolicyDelete PolicyGet PolicyList "
    "PolicyAttachToSubject PolicyDetachFromSubject UserCreate UserList TokenList ListRegistries "
    "GetRegistry AddRegistry UpdateRegistry RemoveRegistry BootstrapAuth TestRegistry "
    "RegistriesStatus",
    "AuthService": "WhoAmI CreateToken RevokeToken",
    "NamespaceService": "CreateNamespace GetNamespace ListNamespaces DeleteNamespace",
    "ServiceService": "CreateService GetService ListServices UpdateService DeleteService "
    "GetDeletionStatus ListDeletionOperations ScaleService ListInstances",
    "InstanceService": "GetInstance ListInstances StartInstance StopInstance RestartInstance",
    "HealthService": "GetHealth",
    "SecretService": "CreateSecret GetSecret UpdateSecret DeleteSecret ListSecrets",
    "ConfigmapService": "CreateConfigmap GetConfigmap UpdateConfigmap DeleteConfigmap "
    "ListConfigmaps",
}


def test_every_unary_rpc_answers_on_connect_with_every_field() -> None:
    with FakeRune(seed=False, deletion_polls=0, start_polls=1) as fake:
        called: set[str] = set()

        def call(rpc: str, body: Any = None, token: Any = SEED) -> Any:
            reply = ok(connect(fake, rpc, body, token=token))
            method = rpc.split("/")[1]
            assert set(reply) == set(KEYS[method].split()), rpc
            called.add(rpc)
            return reply

        boot = call("AdminService/AdminBootstrap", None, token=None)
        fake.seed_token = boot["tokenSecret"]
        assert call("AuthService/WhoAmI") == {
            "subjectId": boot["subjectId"],
            "subjectName": "root",
            "subjectEmail": "",
            "policies": ["root"],
        }
        minted = call(
            "AuthService/CreateToken", {"name": "ci", "subjectName": "ci-bot", "ttlSeconds": "3600"}
        )
        assert call("AuthService/RevokeToken", {"id": minted["id"]}) == {"revoked": True}
        tokens = call("AdminService/TokenList")["tokens"]
        ci = next(t for t in tokens if t["name"] == "ci")
        assert ci["revoked"] is True and ci["subjectType"] == "user"
        assert int(ci["expiresAt"]) - int(ci["issuedAt"]) == 3600
        assert isinstance(ci["issuedAt"], str)  # int64 as a string
        boot_row = next(t for t in tokens if t["id"] == boot["tokenId"])
        assert boot_row["expiresAt"] == "0" and boot_row["description"] == "bootstrap-admin"
        new_user = {"name": "ada", "email": "ada@example.org", "policies": ["readonly"]}
        user = call("AdminService/UserCreate", new_user)["user"]
        assert user["kind"] == "user" and user["policies"] == ["readonly"]
        names = {u["name"] for u in call("AdminService/UserList")["users"]}
        assert names == {"root", "ci-bot", "ada"}
        rule = {"resource": "services", "verbs": ["get", "scale"], "namespace": "prod"}
        spec = {"name": "deployers", "rules": [rule]}
        created = call("AdminService/PolicyCreate", {"policy": spec})["policy"]
        assert created == {
            "id": "",
            "name": "deployers",
            "description": "",
            "rules": [rule],
            "builtin": False,
        }  # the request, echoed
        policy = call("AdminService/PolicyGet", {"name": "deployers"})["policy"]
        assert policy["id"] and policy["rules"] == [rule]
        updated = call("AdminService/PolicyUpdate", {"policy": {**spec, "description": "ship it"}})[
            "policy"
        ]
        assert updated["description"] == "ship it"
        assert fake.policies["deployers"]["description"] == "ship it"
        names = {p["name"] for p in call("AdminService/PolicyList")["policies"]}
        assert names == {"root", "admin", "readwrite", "readonly", "deployers"}
        pair = {"policyName": "deployers", "subjectName": "ada", "subjectKind": "user"}
        assert call("AdminService/PolicyAttachToSubject", pair) == {"attached": True}
        assert fake.users["ada"]["policies"] == ["readonly", "deployers"]
        assert call("AdminService/PolicyDetachFromSubject", pair) == {"detached": True}
        assert fake.users["ada"]["policies"] == ["readonly"]
        assert call("AdminService/PolicyDelete", {"name": "deployers"}) == {"deleted": True}
        registry = {"name": "ghcr", "registry": "ghcr.io", "auth": {"token": "ghp-secret"}}
        added = call("AdminService/AddRegistry", {"registry": registry})["registry"]
        assert added["auth"]["token"] == "ghp-secret" and added["auth"]["type"] == ""  # echoed
        got = call("AdminService/GetRegistry", {"name": "ghcr"})["registry"]
        assert got["auth"]["type"] == "token"  # normalized when stored
        moved = call(
            "AdminService/UpdateRegistry",
            {"registry": {"name": "ghcr", "registry": "ghcr.example.org"}},
        )
        assert moved["registry"]["auth"] is None  # the request, echoed
        assert fake.registries["ghcr"]["auth"]["token"] == "ghp-secret"  # kept
        (listed,) = call("AdminService/ListRegistries")["registries"]
        assert listed["registry"] == "ghcr.example.org"
        assert call("AdminService/BootstrapAuth", {"name": "ghcr"}) == {"updated": 1}
        tested = call("AdminService/TestRegistry", {"name": "ghcr", "imageRef": "ghcr.io/a:1"})
        assert tested == {"ok": True, "message": "ok"}
        (status,) = call("AdminService/RegistriesStatus")["registries"]
        assert status == {
            "name": "ghcr",
            "registry": "ghcr.example.org",
            "type": "token",
            "authConfigured": True,
            "lastBootstrapAt": "",
            "lastError": "",
        }
        assert call("AdminService/RemoveRegistry", {"name": "ghcr"}) == {"deleted": True}

        made = call(
            "NamespaceService/CreateNamespace",
            {"namespace": {"name": "prod", "labels": {"env": "prod"}}},
        )
        ns = made["namespace"]
        assert made["status"] == {
            "code": 0,
            "message": "Namespace created successfully",
            "details": [],
        }
        assert set(ns) == {"id", "name", "description", "labels", "createdAt", "updatedAt"}
        assert isinstance(ns["createdAt"], str) and ns["createdAt"].isdigit()
        assert call("NamespaceService/GetNamespace", {"name": "prod"})["namespace"] == ns
        listed_ns = call("NamespaceService/ListNamespaces", {"labelSelector": {"env": "prod"}})
        assert [n["name"] for n in listed_ns["namespaces"]] == ["prod"]
        assert listed_ns["paging"] == {"limit": 1, "offset": 0, "continuationToken": ""}
        assert listed_ns["status"]["message"] == "Found 1 namespaces"
        api_spec = {"name": "api", "namespace": "prod", "image": "nginx:alpine", "scale": 2}
        service = call("ServiceService/CreateService", {"service": api_spec})["service"]
        assert set(service) == SERVICE_KEYS
        assert service["resources"] is None and service["restartPolicy"].startswith("RESTART_")
        assert service["status"] == "SERVICE_STATUS_PENDING"
        got_service = call("ServiceService/GetService", {"name": "api", "namespace": "prod"})
        assert got_service["service"]["status"] == "SERVICE_STATUS_RUNNING"  # one read: running
        assert got_service["status"]["message"] == "Service retrieved successfully"
        assert len(call("ServiceService/ListServices", {"namespace": "prod"})["services"]) == 1
        changed = call(
            "ServiceService/UpdateService", {"service": {**api_spec, "image": "nginx:1.27"}}
        )["service"]
        assert changed["image"] == "nginx:1.27" and changed["metadata"]["generation"] == 2
        assert changed["status"] == "SERVICE_STATUS_UPDATING"
        scaled = call(
            "ServiceService/ScaleService", {"name": "api", "namespace": "prod", "scale": 3}
        )
        assert scaled["service"]["scale"] == 2  # as it was: the controller scales afterwards
        assert scaled["status"]["message"] == "Scaling operation initiated to 3"
        by_service = call(
            "ServiceService/ListInstances", {"serviceName": "api", "namespace": "prod"}
        )
        assert [i["name"] for i in by_service["instances"]] == ["api-0", "api-1", "api-2"]
        instances = call("InstanceService/ListInstances", {"namespace": "prod"})["instances"]
        assert set(instances[0]) == INSTANCE_KEYS
        first_id = instances[0]["id"]
        got_instance = call("InstanceService/GetInstance", {"id": first_id, "namespace": "prod"})
        assert got_instance["instance"]["name"] == "api-0"
        fake.add_service("web", scale=1)  # actions look in the default namespace
        web = next(i["id"] for i in fake.instances.values() if i["name"] == "web-0")
        stopped = call("InstanceService/StopInstance", {"id": web})["instance"]
        assert stopped["status"] == "INSTANCE_STATUS_STOPPED"
        started = call("InstanceService/StartInstance", {"id": web})["instance"]
        assert started["status"] == "INSTANCE_STATUS_RUNNING"
        restarted = call("InstanceService/RestartInstance", {"id": web, "force": True})
        assert restarted["instance"]["metadata"]["restartCount"] == 1
        health = call(
            "HealthService/GetHealth",
            {"componentType": "service", "namespace": "prod", "includeChecks": True},
        )
        (component,) = health["components"]
        assert component["status"] == "HEALTH_STATUS_HEALTHY"
        assert component["message"] == "All 3 instances are running"
        assert [c["type"] for c in component["checkResults"]] == [
            "HEALTH_CHECK_TYPE_LIVENESS",
            "HEALTH_CHECK_TYPE_READINESS",
        ]
        for kind, title in (("secret", "Secret"), ("configmap", "Configmap")):
            svc = f"{title}Service"
            item = {"name": "db", "namespace": "prod", "data": {"user": "app"}}
            created_item = call(f"{svc}/Create{title}", {kind: item})
            assert created_item["status"] == {"code": 0, "message": "", "details": []}
            assert created_item[kind]["version"] == 1
            fetched = call(f"{svc}/Get{title}", {"name": "db", "namespace": "prod"})[kind]
            assert fetched == created_item[kind]
            item["data"] = {"user": "app", "password": "hunter2"}
            assert call(f"{svc}/Update{title}", {kind: item})[kind]["version"] == 2
            assert len(call(f"{svc}/List{title}s", {"namespace": "prod"})[f"{kind}s"]) == 1
            gone = call(f"{svc}/Delete{title}", {"name": "db", "namespace": "prod"})
            assert gone == {"code": 0, "message": "", "details": []}
        deleted = call("ServiceService/DeleteService", {"name": "api", "namespace": "prod"})
        assert deleted["deletionId"].startswith("delete-prod-api-")
        assert deleted["status"] == {"code": 0, "message": "in_progress", "details": []}
        operation = call(
            "ServiceService/GetDeletionStatus", {"name": deleted["deletionId"], "namespace": "prod"}
        )
        assert set(operation["operation"]) == OPERATION_KEYS
        assert operation["operation"]["status"] == "completed"
        operations = call("ServiceService/ListDeletionOperations", {"namespace": "prod"})
        assert [o["id"] for o in operations["operations"]] == [deleted["deletionId"]]
        gone_ns = call("NamespaceService/DeleteNamespace", {"name": "prod"})
        assert gone_ns["status"]["message"] == "Namespace deleted successfully"
        assert "prod" not in fake.namespaces

    expected = {f"{s}/{m}" for s, methods in UNARY.items() for m in methods.split()}
    assert len(expected) == 51
    assert called == expected


def test_every_rest_route_answers_from_the_same_state() -> None:
    with FakeRune(deletion_polls=0) as fake:
        routes: set[tuple[str, str]] = set()

        def call(method: str, path: str, body: Any = None, **params: str) -> Any:
            reply = ok(rest(fake, method, path, body, params=params or None))
            template = "/".join(
                "{x}" if i > 2 and part not in WORDS else part
                for i, part in enumerate(path.split("/"))
            )
            routes.add((method, template))
            return reply

        v1 = "/v1/namespaces"
        boot = call("POST", "/v1/admin/bootstrap")
        assert set(boot) == {"tokenId", "tokenSecret", "subjectId"}
        assert call("GET", "/v1/auth/whoami")["subjectName"] == "root"
        minted = call("POST", "/v1/auth/tokens", {"name": "ci", "subjectName": "bot"})
        assert call("DELETE", f"/v1/auth/tokens/{minted['id']}") == {"revoked": True}
        assert call("GET", "/v1/admin/tokens")["tokens"]
        call("POST", "/v1/admin/users", {"name": "ada", "policies": ["readonly"]})
        assert "ada" in {u["name"] for u in call("GET", "/v1/admin/users")["users"]}
        rule = {"resource": "secrets", "verbs": ["get"]}
        call("POST", "/v1/admin/policies", {"policy": {"name": "peek", "rules": [rule]}})
        assert call("GET", "/v1/admin/policies/peek")["policy"]["name"] == "peek"
        put = call(
            "PUT", "/v1/admin/policies/peek", {"policy": {"rules": [rule], "description": "d"}}
        )
        assert put["policy"]["description"] == "d" and put["policy"]["name"] == "peek"
        assert len(call("GET", "/v1/admin/policies")["policies"]) == 5
        pair = {"subjectName": "ada"}
        assert call("POST", "/v1/admin/policies/peek/attach", pair) == {"attached": True}
        assert "peek" in fake.users["ada"]["policies"]
        assert call("POST", "/v1/admin/policies/peek/detach", pair) == {"detached": True}
        assert call("DELETE", "/v1/admin/policies/peek") == {"deleted": True}
        call("POST", "/v1/admin/registries", {"registry": {"name": "hub", "registry": "docker.io"}})
        assert call("GET", "/v1/admin/registries/hub")["registry"]["registry"] == "docker.io"
        call("PUT", "/v1/admin/registries/hub", {"registry": {"registry": "index.docker.io"}})
        assert fake.registries["hub"]["registry"] == "index.docker.io"
        assert len(call("GET", "/v1/admin/registries")["registries"]) == 1
        assert call("POST", "/v1/admin/registries/hub/test", {})["ok"] is True
        assert call("POST", "/v1/admin/registry-auth/bootstrap", {"all": True}) == {"updated": 1}
        assert call("GET", "/v1/admin/registry-status")["registries"][0]["type"] == ""
        assert call("DELETE", "/v1/admin/registries/hub") == {"deleted": True}

        call("POST", v1, {"namespace": {"name": "prod"}})
        assert call("GET", f"{v1}/prod")["namespace"]["name"] == "prod"
        assert {n["name"] for n in call("GET", v1)["namespaces"]} == {"default", "system", "prod"}
        created = call(
            "POST",
            f"{v1}/prod/services",
            {"service": {"name": "api", "image": "nginx", "scale": 1}},
        )
        assert created["service"]["namespace"] == "prod"  # from the path
        assert call("GET", f"{v1}/prod/services/api")["service"]["name"] == "api"
        assert len(call("GET", f"{v1}/prod/services")["services"]) == 1
        put = call("PUT", f"{v1}/prod/services/api", {"service": {"image": "nginx:2", "scale": 1}})
        assert put["service"]["image"] == "nginx:2" and put["service"]["name"] == "api"
        call("POST", f"{v1}/prod/services/api/scale", {"scale": 2})
        instances = call("GET", f"{v1}/prod/services/api/instances")["instances"]
        assert [i["name"] for i in instances] == ["api-0", "api-1"]
        running = call("GET", f"{v1}/prod/instances", status="INSTANCE_STATUS_RUNNING")
        assert len(running["instances"]) == 2
        iid = instances[0]["id"]
        assert call("GET", f"{v1}/prod/instances/{iid}")["instance"]["id"] == iid
        for action in ("stop", "start", "restart"):
            call("POST", f"{v1}/prod/instances/{iid}/{action}", {})
        assert fake.instances[iid]["metadata"]["restartCount"] == 1
        health = call("GET", f"{v1}/prod/health", componentType="instance", name=iid)
        assert [c["name"] for c in health["components"]] == ["api-0"]
        for kind in ("secrets", "configmaps"):
            one = kind[:-1]
            call("POST", f"{v1}/prod/{kind}", {one: {"name": "cfg", "data": {"a": "1"}}})
            assert call("GET", f"{v1}/prod/{kind}/cfg")[one]["namespace"] == "prod"
            updated = call("PUT", f"{v1}/prod/{kind}/cfg", {one: {"data": {"a": "2"}}})
            assert updated[one]["version"] == 2
            assert len(call("GET", f"{v1}/prod/{kind}")[kind]) == 1
            assert call("DELETE", f"{v1}/prod/{kind}/cfg")["code"] == 0
        deleted = call("DELETE", f"{v1}/prod/services/api", force="true", gracePeriod="5")
        status = call("GET", f"{v1}/prod/services/api/deletion")["operation"]  # by service name
        assert status["id"] == deleted["deletionId"] and status["status"] == "completed"
        assert len(call("GET", f"{v1}/prod/deletions", status="completed")["operations"]) == 1
        call("DELETE", f"{v1}/prod")
        assert "prod" not in fake.namespaces

        assert len(REST_ROUTES) == 51
        assert routes == REST_ROUTES


# Path segments that are words of the route table, not parameters.
WORDS = keys(
    "namespaces services instances secrets configmaps deletion deletions scale start stop "
    "restart health attach detach test policies users tokens registries registry-status "
    "registry-auth bootstrap whoami admin auth"
)
# The shared brief's REST table, one route a line.
REST_TABLE = """
GET /v1/namespaces
POST /v1/namespaces
GET /v1/namespaces/{name}
DELETE /v1/namespaces/{name}
GET /v1/namespaces/{namespace}/services
POST /v1/namespaces/{namespace}/services
GET /v1/namespaces/{namespace}/services/{name}
PUT /v1/namespaces/{namespace}/services/{name}
DELETE /v1/namespaces/{namespace}/services/{name}
GET /v1/namespaces/{namespace}/services/{name}/deletion
GET /v1/namespaces/{namespace}/deletions
POST /v1/namespaces/{namespace}/services/{name}/scale
GET /v1/namespaces/{namespace}/services/{name}/instances
GET /v1/namespaces/{namespace}/instances
GET /v1/namespaces/{namespace}/instances/{id}
POST /v1/namespaces/{namespace}/instances/{id}/start
POST /v1/namespaces/{namespace}/instances/{id}/stop
POST /v1/namespaces/{namespace}/instances/{id}/restart
GET /v1/namespaces/{namespace}/health
GET /v1/namespaces/{namespace}/secrets
POST /v1/namespaces/{namespace}/secrets
GET /v1/namespaces/{namespace}/secrets/{name}
PUT /v1/namespaces/{namespace}/secrets/{name}
DELETE /v1/namespaces/{namespace}/secrets/{name}
GET /v1/namespaces/{namespace}/configmaps
POST /v1/namespaces/{namespace}/configmaps
GET /v1/namespaces/{namespace}/configmaps/{name}
PUT /v1/namespaces/{namespace}/configmaps/{name}
DELETE /v1/namespaces/{namespace}/configmaps/{name}
GET /v1/auth/whoami
POST /v1/auth/tokens
DELETE /v1/auth/tokens/{id}
POST /v1/admin/bootstrap
GET /v1/admin/policies
POST /v1/admin/policies
GET /v1/admin/policies/{name}
PUT /v1/admin/policies/{name}
DELETE /v1/admin/policies/{name}
POST /v1/admin/policies/{policyName}/attach
POST /v1/admin/policies/{policyName}/detach
GET /v1/admin/users
POST /v1/admin/users
GET /v1/admin/tokens
GET /v1/admin/registries
POST /v1/admin/registries
GET /v1/admin/registries/{name}
PUT /v1/admin/registries/{name}
DELETE /v1/admin/registries/{name}
POST /v1/admin/registries/{name}/test
POST /v1/admin/registry-auth/bootstrap
GET /v1/admin/registry-status
"""
REST_ROUTES = {
    (method, re.sub(r"\{\w+\}", "{x}", path))
    for method, path in (line.split() for line in REST_TABLE.strip().splitlines())
}


# -- Connect protocol ---------------------------------------------------------------------------


def test_probes_unknown_routes_and_request_ids(fake: FakeRune) -> None:
    health = requests.get(f"{fake.url}/healthz", timeout=TIMEOUT)
    assert (health.status_code, health.text) == (200, "ok")
    assert health.headers["Content-Type"].startswith("text/plain")
    assert requests.get(f"{fake.url}/readyz", timeout=TIMEOUT).text == "ready"
    unknown = requests.get(f"{fake.url}/nope", timeout=TIMEOUT)
    assert (unknown.status_code, unknown.text) == (404, "404 page not found\n")
    gateway = rest(fake, "GET", "/v1/nothing/here")
    assert gateway.status_code == 404
    assert gateway.json() == {"code": 5, "message": "Not Found", "details": []}
    wrong = rest(fake, "PATCH", "/v1/namespaces")
    assert wrong.status_code == 405 and wrong.json()["code"] == 12
    no_method = connect(fake, "ServiceService/Explode")
    assert (no_method.status_code, no_method.text) == (404, "404 page not found\n")
    traced = connect(fake, "AuthService/WhoAmI", headers={"X-Request-Id": "req-42"})
    assert traced.headers["X-Request-Id"] == "req-42"
    assert "X-Request-Id" not in connect(fake, "AuthService/WhoAmI").headers


def test_connect_rejects_what_connect_servers_reject(fake: FakeRune) -> None:
    no_version = connect(fake, "AuthService/WhoAmI", headers={"Connect-Protocol-Version": ""})
    assert no_version.status_code == 400
    assert no_version.json() == {
        "code": "invalid_argument",
        "message": 'missing required header: set Connect-Protocol-Version to "1"',
    }
    wrong_type = connect(fake, "AuthService/WhoAmI", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.headers["Accept-Post"] == "application/json"
    as_get = requests.get(f"{fake.connect_url}.AuthService/WhoAmI", timeout=TIMEOUT)
    assert (as_get.status_code, as_get.headers["Allow"]) == (405, "POST")
    empty = connect(fake, "AuthService/WhoAmI", raw=b"")
    assert empty.status_code == 400
    assert "zero-length payload" in empty.json()["message"]
    garbage = connect(fake, "AuthService/WhoAmI", raw=b"{not json")
    assert garbage.json()["code"] == "invalid_argument"
    bad_timeout = connect(fake, "AuthService/WhoAmI", headers={"Connect-Timeout-Ms": "soon"})
    assert bad_timeout.status_code == 400
    bidi = connect(fake, "LogService/StreamLogs", {"resourceTarget": "api"})
    assert bidi.status_code == 505  # bidi streams need HTTP/2
    assert connect(fake, "AuthService/WhoAmI", headers={"Connect-Timeout-Ms": "250"}).ok


def test_protojson_input_accepts_proto_names_strings_and_enum_numbers(fake: FakeRune) -> None:
    created = connect(
        fake,
        "ServiceService/CreateService",
        {
            "service": {
                "name": "web",
                "namespace": "edge",
                "image": "nginx",
                "scale": "2",
                "restart_policy": 1,
                "unknownField": True,
            },
            "ensure_namespace": True,
        },
    )
    service = ok(created)["service"]
    assert service["scale"] == 2 and service["restartPolicy"] == "RESTART_POLICY_ALWAYS"
    assert "edge" in fake.namespaces
    wrong = connect(fake, "ServiceService/GetService", {"name": 7})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_argument"
    assert "field name" in wrong.json()["message"]
    leaky = connect(
        fake, "SecretService/CreateSecret", {"secret": {"name": "s", "data": {"password": 987654}}}
    )
    assert leaky.status_code == 400
    assert leaky.json()["message"] == (
        "proto: invalid value for map field data of rune.api.Secret: got an object"
    )  # the value is not echoed
    token = connect(fake, "AuthService/CreateToken", {"name": "t", "ttlSeconds": 60})
    assert token.ok  # int64 as a number is accepted too
    out_of_range = connect(
        fake, "ServiceService/ScaleService", {"name": "web", "namespace": "edge", "scale": 2**31}
    )
    assert out_of_range.status_code == 400


def test_connect_prefix_is_configurable() -> None:
    with FakeRune(connect_prefix="") as fake:
        assert fake.connect_url == f"{fake.url}/rune.api"
        assert ok(connect(fake, "AuthService/WhoAmI"))["subjectName"] == "root"
        old = requests.post(
            f"{fake.url}/grpc/rune.api.AuthService/WhoAmI", json={}, timeout=TIMEOUT
        )
        assert old.status_code == 404
    with FakeRune(connect_prefix="/api/connect") as fake:
        assert ok(connect(fake, "AuthService/WhoAmI"))["policies"] == ["root"]
    with pytest.raises(ValueError, match="connect_prefix"):
        FakeRune(connect_prefix="grpc/")


# -- errors, auth and RBAC ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "number"),
    [
        ("not_found", 404, 5),
        ("already_exists", 409, 6),
        ("failed_precondition", 400, 9),
        ("resource_exhausted", 429, 8),
        ("unavailable", 503, 14),
        ("unknown", 500, 2),
        ("permission_denied", 403, 7),
        ("unauthenticated", 401, 16),
    ],
)
def test_injected_errors_take_each_wire_s_shape(
    fake: FakeRune, code: str, status: int, number: int
) -> None:
    fake.fail_rpc("GetSecret", code, "rate limit exceeded", times=2)
    via_connect = connect(fake, "SecretService/GetSecret", {"name": "db"})
    assert via_connect.status_code == status
    assert via_connect.json() == {"code": code, "message": "rate limit exceeded"}
    via_rest = rest(fake, "GET", "/v1/namespaces/default/secrets/db")
    assert via_rest.status_code == status
    assert via_rest.json() == {"code": number, "message": "rate limit exceeded", "details": []}
    assert connect(fake, "SecretService/GetSecret", {"name": "db"}).json()["code"] == "not_found"
    with pytest.raises(ValueError, match="unknown gRPC code"):
        fake.fail_rpc("GetSecret", "teapot")


def test_missing_unknown_revoked_and_expired_tokens_are_unauthenticated(clock: list[float]) -> None:
    with FakeRune(clock=lambda: clock[0]) as fake:
        missing = connect(fake, "AuthService/WhoAmI", token=None)
        assert missing.status_code == 401
        assert missing.json()["code"] == "unauthenticated"
        assert missing.json()["message"].startswith("missing bearer token")
        assert rest(fake, "GET", "/v1/auth/whoami", token=None).json()["code"] == 16
        unknown = connect(fake, "AuthService/WhoAmI", token="rune_not-a-token")
        assert unknown.json() == {"code": "unauthenticated", "message": "invalid bearer token"}
        short = fake.issue_token("temp", policies=["readonly"], ttl_seconds=60)
        assert ok(connect(fake, "AuthService/WhoAmI", token=short))["subjectName"] == "temp"
        clock[0] += 61
        assert connect(fake, "AuthService/WhoAmI", token=short).status_code == 401
        minted = ok(connect(fake, "AuthService/CreateToken", {"name": "ci"}))
        lower = {"Authorization": f"bearer {minted['secret']}"}  # the scheme is case-blind
        assert connect(fake, "AuthService/WhoAmI", token=None, headers=lower).ok
        ok(connect(fake, "AuthService/RevokeToken", {"id": minted["id"]}))
        assert connect(fake, "AuthService/WhoAmI", token=minted["secret"]).status_code == 401
        public = connect(fake, "AdminService/AdminBootstrap", token=None)
        assert public.ok  # the one public RPC; a second call issues another root token
        assert fake.tokens[public.json()["tokenId"]]["name"].startswith("bootstrap-admin-")


def test_policies_decide_who_may_do_what(fake: FakeRune) -> None:
    fake.add_service("api")
    reader = fake.issue_token("viewer", policies=["readonly"])
    writer = fake.issue_token("deployer", policies=["readwrite"])
    assert ok(connect(fake, "ServiceService/ListServices", token=reader))["services"]
    assert ok(rest(fake, "GET", "/v1/namespaces/default/services/api", token=reader))
    assert ok(connect(fake, "AuthService/WhoAmI", token=reader))["policies"] == ["readonly"]
    denied = connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 2}, token=reader)
    assert denied.status_code == 403
    assert denied.json() == {
        "code": "permission_denied",
        "message": "access denied for resource: services verb: scale",
    }
    denied_rest = rest(
        fake, "POST", "/v1/namespaces/default/secrets", {"secret": {"name": "s"}}, token=reader
    )
    assert denied_rest.status_code == 403 and denied_rest.json()["code"] == 7
    scaled = connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 2}, token=writer)
    assert scaled.ok
    namespaced = connect(
        fake, "NamespaceService/CreateNamespace", {"namespace": {"name": "x"}}, token=writer
    )
    assert namespaced.status_code == 403  # NamespaceService needs *:*
    assert "resource: * verb: *" in namespaced.json()["message"]
    assert connect(fake, "AdminService/UserList", token=writer).status_code == 403
    assert rest(fake, "GET", "/v1/namespaces/default/logs/api", token=reader).ok  # logs:get
    nobody = fake.issue_token("nobody", policies=[])
    assert connect(fake, "AuthService/WhoAmI", token=nobody).status_code == 403  # no policy
    fake.policies["scoped"] = {
        "id": "p1",
        "name": "scoped",
        "description": "",
        "builtin": False,
        "rules": [{"resource": "secrets", "verbs": ["get"], "namespace": "prod"}],
    }
    scoped = fake.issue_token("scoped-user", policies=["scoped"])
    body = {"name": "db", "namespace": "prod"}
    assert connect(fake, "SecretService/GetSecret", body, token=scoped).status_code == 404
    other = connect(fake, "SecretService/GetSecret", {**body, "namespace": "dev"}, token=scoped)
    assert other.status_code == 403  # the rule's namespace is matched against the request's
    gone = fake.issue_token("gone", policies=["readonly"])
    del fake.users["gone"]
    assert connect(fake, "AuthService/WhoAmI", token=gone).status_code == 403


def test_token_secrets_are_never_stored_or_shown(fake: FakeRune) -> None:
    minted = ok(
        connect(
            fake,
            "AuthService/CreateToken",
            {"name": "ci", "subjectName": "bot", "policies": ["readwrite"]},
        )
    )
    assert fake.users["bot"]["policies"] == ["readwrite"]  # made on the fly
    listed = ok(connect(fake, "AdminService/TokenList"))
    text = json.dumps(listed) + repr(fake) + repr(fake.tokens) + repr(fake.requests[-1])
    assert minted["secret"] not in text and str(fake.seed_token) not in text
    assert minted["secret"] not in repr(fake.requests)
    no_name = connect(fake, "AuthService/CreateToken", {"name": ""})
    assert no_name.status_code == 500 and no_name.json()["code"] == "unknown"


def test_ui_gate_answers_plain_text_before_connect() -> None:
    with FakeRune(ui_gate=True) as fake:
        missing = connect(
            fake,
            "ServiceService/ListServices",
            token=None,
            headers={"Connect-Protocol-Version": ""},
        )
        assert (missing.status_code, missing.text) == (401, "missing bearer token\n")
        assert missing.headers["Content-Type"].startswith("text/plain")
        unknown_path = requests.post(f"{fake.url}/grpc/anything", timeout=TIMEOUT)
        assert unknown_path.status_code == 401
        bad = connect(fake, "ServiceService/ListServices", token="rune_wrong")
        assert (bad.status_code, bad.text) == (401, "invalid bearer token\n")
        reader = fake.issue_token("viewer", policies=["readonly"])
        gated = connect(fake, "ServiceService/ListServices", token=reader)
        assert (gated.status_code, gated.text) == (403, "ui:access denied\n")
        assert connect(fake, "ServiceService/ListServices").ok  # root may use the dashboard
        assert connect(fake, "AdminService/AdminBootstrap", token=None).ok
        assert rest(fake, "GET", "/v1/namespaces/default/services", token=reader).ok
        assert ok(rest(fake, "GET", "/v1/auth/whoami"))["subjectName"] == "root"  # not gated


# -- namespaces, services, scaling, deletion ------------------------------------------------------


def test_namespaces_as_the_server_keeps_them(fake: FakeRune) -> None:
    assert set(fake.namespaces) == {"default", "system"}
    ok(rest(fake, "POST", "/v1/namespaces", {"namespace": {"name": "prod"}}))
    again = connect(fake, "NamespaceService/CreateNamespace", {"namespace": {"name": "prod"}})
    assert again.status_code == 500  # the store's "already exists" surfaces as Internal
    assert again.json() == {
        "code": "internal",
        "message": "failed to create namespace: resource namespace/system/prod already exists",
    }
    for name, problem in (
        ("default", "namespace name 'default' is reserved and cannot be used"),
        ("Prod_1", "can only contain lowercase letters, digits, and hyphens"),
        ("a--b", "cannot contain consecutive hyphens"),
        ("", "invalid namespace: name is required"),
    ):
        reply = rest(fake, "POST", "/v1/namespaces", {"namespace": {"name": name}})
        assert reply.status_code == 500 and problem in reply.json()["message"], name
        assert reply.json()["code"] == 13
    assert connect(fake, "NamespaceService/CreateNamespace", {}).json() == {
        "code": "invalid_argument",
        "message": "namespace is required",
    }
    missing = rest(fake, "GET", "/v1/namespaces/nope")
    assert missing.status_code == 404
    assert missing.json() == {"code": 5, "message": "namespace not found: nope", "details": []}
    fake.add_service("api", namespace="prod")
    ok(rest(fake, "DELETE", "/v1/namespaces/prod"))  # the server does not look inside
    assert "prod" not in fake.namespaces and ("prod", "api") in fake.services
    assert rest(fake, "DELETE", "/v1/namespaces/prod").json()["code"] == 5
    ignored = rest(fake, "DELETE", "/v1/namespaces/prod", params={"ignoreNotFound": "1"})
    assert ignored.status_code == 500  # ... and then deleting it fails in the store
    reserved = connect(fake, "NamespaceService/DeleteNamespace", {"name": "system"})
    assert reserved.json()["message"] == (
        "failed to delete namespace: cannot delete reserved namespace: system"
    )
    bad_flag = rest(fake, "DELETE", "/v1/namespaces/prod", params={"force": "maybe"})
    assert bad_flag.status_code == 400 and bad_flag.json()["code"] == 3


def test_service_creation_checks_namespace_and_spec(fake: FakeRune) -> None:
    spec = {"name": "api", "namespace": "prod", "image": "nginx"}
    missing_ns = connect(fake, "ServiceService/CreateService", {"service": spec})
    assert missing_ns.status_code == 400
    assert missing_ns.json() == {
        "code": "failed_precondition",
        "message": "failed to ensure namespace exists: namespace prod does not exist "
        "(use --create-namespace to create it)",
    }
    rest_missing = rest(fake, "POST", "/v1/namespaces/prod/services", {"service": spec})
    assert (rest_missing.status_code, rest_missing.json()["code"]) == (400, 9)
    created = ok(
        rest(
            fake, "POST", "/v1/namespaces/prod/services", {"service": spec, "ensureNamespace": True}
        )
    )
    assert created["status"]["message"] == "Service created successfully"
    assert fake.namespaces["prod"]["labels"] == {"rune/auto-created": "true"}
    assert created["service"]["metadata"]["lastNonZeroScale"] == 1  # at least 1
    again = ok(
        connect(fake, "ServiceService/CreateService", {"service": {**spec, "image": "nginx:2"}})
    )
    assert again["status"]["message"] == "Service updated successfully"  # an upsert
    assert again["service"]["metadata"]["generation"] == 2
    assert again["service"]["id"] == created["service"]["id"]
    for bad, message in (
        ({"name": "x", "image": ""}, "service image is required for container runtime"),
        ({"name": "x", "image": "i", "scale": -1}, "service scale cannot be negative"),
        ({"name": "x", "runtime": "process"}, "process configuration is required"),
        ({"name": "x", "image": "i", "runtime": "vm"}, "unknown runtime: vm"),
        ({"name": "", "image": "i"}, "service name is required"),
        ({"name": "x", "image": "i", "ports": [{"port": 80}]}, "port name is required"),
        (
            {"name": "x", "image": "i", "ports": [{"name": "http", "port": 70000}]},
            "between 1 and 65535",
        ),
    ):
        reply = connect(fake, "ServiceService/CreateService", {"service": bad})
        assert reply.status_code == 400, bad
        assert reply.json()["message"] == f"invalid service: {message}" or (
            message in reply.json()["message"]
        )
    assert connect(fake, "ServiceService/CreateService", {}).json()["message"] == (
        "service is required"
    )
    fake.add_service("web", labels={"tier": "front"})
    fake.add_service("db", labels={"tier": "back"})
    front = ok(connect(fake, "ServiceService/ListServices", {"labelSelector": {"tier": "front"}}))
    assert [s["name"] for s in front["services"]] == ["web"]
    by_field = ok(connect(fake, "ServiceService/ListServices", {"fieldSelector": {"name": "db"}}))
    assert [s["name"] for s in by_field["services"]] == ["db"]
    everywhere = ok(connect(fake, "ServiceService/ListServices", {"namespace": "*"}))
    assert len(everywhere["services"]) == 3 and everywhere["status"]["message"] == (
        "Found 3 services"
    )
    missing = connect(fake, "ServiceService/UpdateService", {"service": {"name": "ghost"}})
    assert missing.json() == {"code": "not_found", "message": "service not found: ghost"}
    with pytest.raises(ValueError, match="exists already"):
        fake.add_service("web")
    with pytest.raises(ValueError, match="hyphen"):
        fake.add_service("x", namespace="-bad")
    with pytest.raises(ValueError, match="image is required"):
        fake.add_service("x", image="")


def test_scaled_instances_move_to_running_after_start_polls() -> None:
    with FakeRune(start_polls=2) as fake:
        fake.add_service("api", scale=0)
        scaled = ok(connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 2}))
        assert scaled["service"]["scale"] == 0  # the reply shows it before the change
        assert fake.services[("default", "api")]["status"] == "SERVICE_STATUS_PENDING"
        assert sorted(i["name"] for i in fake.instances.values()) == ["api-0", "api-1"]
        assert {i["status"] for i in fake.instances.values()} == {"INSTANCE_STATUS_PENDING"}
        first = ok(rest(fake, "GET", "/v1/namespaces/default/services/api/instances"))
        assert {i["status"] for i in first["instances"]} == {"INSTANCE_STATUS_STARTING"}
        second = ok(connect(fake, "ServiceService/GetService", {"name": "api"}))
        assert second["service"]["status"] == "SERVICE_STATUS_RUNNING"
        assert {i["status"] for i in fake.instances.values()} == {"INSTANCE_STATUS_RUNNING"}
        same = ok(connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 2}))
        assert same["status"]["message"] == "Service already at scale 2"
        ok(connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 1}))
        assert [i["name"] for i in fake.instances.values()] == ["api-0"]
        assert fake.services[("default", "api")]["metadata"]["lastNonZeroScale"] == 2
        negative = connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": -1})
        assert negative.json()["message"] == "scale must be a non-negative integer"
        missing = connect(fake, "ServiceService/ScaleService", {"name": "nope", "scale": 1})
        assert missing.json() == {"code": "not_found", "message": "service not found: nope"}


def test_deletion_moves_through_the_server_s_phases(fake: FakeRune) -> None:
    fake.add_service("api", scale=2)
    deleted = ok(connect(fake, "ServiceService/DeleteService", {"name": "api"}))
    deletion_id = deleted["deletionId"]
    assert deletion_id.startswith("delete-default-api-")
    assert deleted["status"] == {"code": 0, "message": "in_progress", "details": []}
    assert [(f["type"], f["status"]) for f in deleted["finalizers"]] == [
        ("instance-cleanup", "pending"),
        ("service-deregister", "pending"),
    ]
    assert fake.deletions[deletion_id]["status"] == "initializing"
    assert ok(connect(fake, "ServiceService/GetService", {"name": "api"}))  # still there
    phases = []
    for _ in range(3):
        op = ok(connect(fake, "ServiceService/GetDeletionStatus", {"name": deletion_id}))
        phases.append(op["operation"]["status"])
    assert phases == ["deleting-instances", "running-finalizers", "completed"]
    operation = op["operation"]
    assert operation["id"] == deletion_id
    assert operation["deletedInstances"] == operation["totalInstances"] == 2
    assert operation["endTime"] != "0" and isinstance(operation["startTime"], str)
    assert {f["status"] for f in operation["finalizers"]} == {"completed"}
    assert connect(fake, "ServiceService/GetService", {"name": "api"}).status_code == 404
    assert not fake.instances
    again = ok(connect(fake, "ServiceService/GetDeletionStatus", {"name": deletion_id}))
    assert again["operation"]["status"] == "completed"  # terminal: it stays
    done = ok(connect(fake, "ServiceService/ListDeletionOperations", {"status": "completed"}))
    assert len(done["operations"]) == 1
    none = ok(connect(fake, "ServiceService/ListDeletionOperations", {"status": "initializing"}))
    assert none["operations"] == []
    empty = connect(fake, "ServiceService/GetDeletionStatus", {"name": ""})
    assert empty.json() == {"code": "invalid_argument", "message": "deletion_id is required"}
    unknown = connect(fake, "ServiceService/GetDeletionStatus", {"name": "delete-nope"})
    assert unknown.status_code == 500  # the store's miss, wrapped as Internal
    assert unknown.json()["message"].endswith(
        "resource deletion_operation/default/delete-nope not found"
    )


def test_deletion_checks_dependents_dry_runs_and_a_second_delete(fake: FakeRune) -> None:
    fake.add_service("db")
    fake.add_service("api", dependencies=[{"service": "db"}])
    blocked = rest(fake, "DELETE", "/v1/namespaces/default/services/db")
    assert blocked.status_code == 400 and blocked.json()["code"] == 9
    assert blocked.json()["message"] == (
        "cannot delete default/db; dependents exist: default/api "
        "(use --no-dependencies to override)"
    )
    only_flag = rest(
        fake, "DELETE", "/v1/namespaces/default/services/db", params={"noDependencies": "true"}
    )
    assert only_flag.status_code == 400  # the server only reads `force` (the CLI maps it)
    dry = ok(
        rest(
            fake,
            "DELETE",
            "/v1/namespaces/default/services/db",
            params={"dryRun": "true", "force": "true"},
        )
    )
    assert (dry["deletionId"], dry["status"]["message"]) == ("dry-run", "dry_run")
    assert ("default", "db") in fake.services and not fake.deletions
    first = ok(connect(fake, "ServiceService/DeleteService", {"name": "db", "force": True}))
    second = connect(fake, "ServiceService/DeleteService", {"name": "db", "force": True})
    assert second.status_code == 500
    assert (
        f"already in progress for service default/db (ID: {first['deletionId']})"
        in (second.json()["message"])
    )
    dry_again = ok(
        connect(fake, "ServiceService/DeleteService", {"name": "db", "force": True, "dryRun": True})
    )
    assert dry_again["status"]["message"] == "failed" and dry_again["errors"]
    missing = connect(fake, "ServiceService/DeleteService", {"name": "ghost"})
    assert missing.json() == {"code": "not_found", "message": "service not found: ghost"}
    ignored = connect(
        fake, "ServiceService/DeleteService", {"name": "ghost", "ignoreNotFound": True}
    )
    assert ignored.status_code == 500  # runed 413bfe0 still fails it, in the orchestrator
    assert ignored.json()["message"] == (
        "failed to delete service: service not found: default/ghost"
    )


def test_instances_and_health(fake: FakeRune) -> None:
    fake.add_service("api", scale=2, env={"MODE": "prod"})
    fake.add_service("web", namespace="edge")
    api0 = next(i for i in fake.instances.values() if i["name"] == "api-0")
    assert api0["environment"] == {"MODE": "prod"} and api0["runner"] == "docker"
    assert api0["status"] == "INSTANCE_STATUS_PENDING"
    got = ok(connect(fake, "InstanceService/GetInstance", {"id": api0["id"]}))
    assert got["instance"]["status"] == "INSTANCE_STATUS_RUNNING"  # the read started it
    wrong_ns = connect(fake, "InstanceService/GetInstance", {"id": api0["id"], "namespace": "edge"})
    assert wrong_ns.status_code == 500  # the server's lookup error is Internal
    assert wrong_ns.json()["message"].startswith("failed to get instance: ")
    web0 = next(i["id"] for i in fake.instances.values() if i["name"] == "web-0")
    elsewhere = connect(fake, "InstanceService/StopInstance", {"id": web0})
    assert elsewhere.status_code == 500  # actions look in `default`
    ok(rest(fake, "POST", f"/v1/namespaces/edge/instances/{web0}/stop", {}))
    assert (
        rest(fake, "POST", f"/v1/namespaces/default/instances/{web0}/stop", {}).status_code == 500
    )
    no_id = connect(fake, "InstanceService/StopInstance", {"id": ""})
    assert no_id.json() == {"code": "invalid_argument", "message": "instance ID is required"}
    ok(rest(fake, "POST", f"/v1/namespaces/default/instances/{api0['id']}/stop", {}))
    stopped = ok(
        rest(
            fake,
            "GET",
            "/v1/namespaces/default/instances",
            params={"status": "INSTANCE_STATUS_STOPPED"},
        )
    )
    assert [i["name"] for i in stopped["instances"]] == ["api-0"]
    by_id = ok(
        rest(
            fake,
            "GET",
            "/v1/namespaces/default/instances",
            params={"serviceName": api0["serviceId"]},
        )
    )  # the server matches the id
    assert len(by_id["instances"]) == 2
    health = ok(
        rest(
            fake,
            "GET",
            "/v1/namespaces/default/health",
            params={"componentType": "service", "name": "api"},
        )
    )
    (component,) = health["components"]
    assert (component["status"], component["message"]) == (
        "HEALTH_STATUS_DEGRADED",
        "1/2 instances are running",
    )
    assert component["checkResults"] == []
    assert health["status"]["message"] == "Retrieved health for 1 services"
    instances = ok(
        connect(
            fake, "HealthService/GetHealth", {"componentType": "instance", "includeChecks": True}
        )
    )
    states = {c["name"]: (c["status"], c["message"]) for c in instances["components"]}
    assert states == {
        "api-0": ("HEALTH_STATUS_UNHEALTHY", "Stopped"),
        "api-1": ("HEALTH_STATUS_HEALTHY", "Instance running"),
    }
    checks = {c["name"]: c["checkResults"][0]["message"] for c in instances["components"]}
    assert checks == {"api-0": "status=Stopped", "api-1": "status=Running"}
    one = ok(
        connect(fake, "HealthService/GetHealth", {"componentType": "instance", "name": api0["id"]})
    )
    assert [c["name"] for c in one["components"]] == ["api-0"]
    server = ok(connect(fake, "HealthService/GetHealth", {"includeChecks": True}))
    assert server["components"][0]["componentType"] == "api-server"
    assert len(server["components"][0]["checkResults"]) == 2
    node = ok(connect(fake, "HealthService/GetHealth", {"componentType": "node"}))
    assert node["components"][0]["message"] == "Single-node"
    fake.add_service("idle", scale=0)
    idle = ok(
        connect(fake, "HealthService/GetHealth", {"componentType": "service", "name": "idle"})
    )
    assert idle["components"][0]["status"] == "HEALTH_STATUS_UNKNOWN"
    bad = connect(fake, "HealthService/GetHealth", {"componentType": "cluster"})
    assert bad.json() == {"code": "invalid_argument", "message": "unknown component type: cluster"}
    missing = connect(fake, "HealthService/GetHealth", {"componentType": "service", "name": "x"})
    assert missing.status_code == 404


def test_secrets_and_configmaps_keep_versions(fake: FakeRune) -> None:
    secret = {"name": "db", "type": "static", "data": {"password": "hunter2"}}
    created = ok(rest(fake, "POST", "/v1/namespaces/default/secrets", {"secret": secret}))
    assert created["secret"]["version"] == 1
    same = ok(connect(fake, "SecretService/UpdateSecret", {"secret": secret}))
    assert same["secret"]["version"] == 1  # nothing changed: no new version
    for version in (2, 3):
        changed = {**secret, "data": {"password": str(version)}}
        updated = ok(connect(fake, "SecretService/UpdateSecret", {"secret": changed}))
        assert updated["secret"]["version"] == version
    got = ok(rest(fake, "GET", "/v1/namespaces/default/secrets/db"))["secret"]
    assert got["data"] == {"password": "3"}  # returned in clear, as the server's MVP does
    upsert = ok(connect(fake, "SecretService/CreateSecret", {"secret": secret}))
    assert upsert["secret"]["version"] == 4  # create on an existing one updates it
    elsewhere = connect(
        fake, "ConfigmapService/CreateConfigmap", {"configmap": {"name": "cfg", "namespace": "new"}}
    )
    assert elsewhere.json()["code"] == "failed_precondition"
    ensured = ok(
        connect(
            fake,
            "ConfigmapService/CreateConfigmap",
            {"configmap": {"name": "cfg", "namespace": "new"}, "ensureNamespace": True},
        )
    )
    assert ensured["configmap"]["namespace"] == "new" and "new" in fake.namespaces
    absent = rest(fake, "GET", "/v1/namespaces/new/configmaps/none")
    assert absent.json() == {
        "code": 5,
        "message": "get: resource configmap/new/none not found",
        "details": [],
    }
    missing = connect(
        fake,
        "ConfigmapService/UpdateConfigmap",
        {"configmap": {"name": "none", "namespace": "new"}},
    )
    assert missing.json() == {"code": "not_found", "message": "config not found: new/none"}
    assert connect(fake, "SecretService/UpdateSecret", {}).json()["message"] == (
        "secret is required"
    )
    nameless = connect(fake, "ConfigmapService/CreateConfigmap", {"configmap": {"name": ""}})
    assert nameless.status_code == 500
    assert ok(rest(fake, "DELETE", "/v1/namespaces/default/secrets/db"))["code"] == 0
    twice = rest(fake, "DELETE", "/v1/namespaces/default/secrets/db")
    assert twice.status_code == 500 and twice.json()["code"] == 13
    assert ok(rest(fake, "GET", "/v1/namespaces/default/secrets"))["secrets"] == []


# -- watch streams (Connect) ----------------------------------------------------------------------


def test_watch_replays_then_pushes_changes_and_ends_when_the_fake_stops() -> None:
    fake = FakeRune(start_polls=0, deletion_polls=0).start()
    try:
        fake.add_service("api")
        stream = watch(fake, "ServiceService/WatchServices", {"namespace": "default"})
        assert stream.status_code == 200
        assert stream.headers["Content-Type"] == "application/connect+json"
        assert stream.headers["Transfer-Encoding"] == "chunked"
        head = _read_exact(stream, 5)
        assert head[0] == 0x00
        first = json.loads(_read_exact(stream, int.from_bytes(head[1:5], "big")))
        assert first["eventType"] == "EVENT_TYPE_ADDED"
        assert first["status"] == {"code": 0, "message": "", "details": []}
        assert set(first["service"]) == SERVICE_KEYS
        fake.wait_for_watchers(1)
        ok(
            connect(
                fake,
                "ServiceService/CreateService",
                {"service": {"name": "web", "image": "nginx", "scale": 1}},
            )
        )
        ok(connect(fake, "ServiceService/ScaleService", {"name": "web", "scale": 2}))
        fake.add_service("other", namespace="elsewhere")  # not watched
        ok(connect(fake, "ServiceService/DeleteService", {"name": "api"}))
        assert events(stream, 3) == [
            ("EVENT_TYPE_ADDED", "web"),
            ("EVENT_TYPE_MODIFIED", "web"),
            ("EVENT_TYPE_DELETED", "api"),
        ]
    finally:
        fake.stop()
    assert read_all(stream) == [(2, {})]  # the clean end-of-stream, then EOF


def test_watch_instances_and_namespaces_filter_and_replay(fake: FakeRune) -> None:
    fake.add_service("api", scale=2)
    fake.add_service("db", scale=1)
    api_id = fake.services[("default", "api")]["id"]
    instances = watch(fake, "InstanceService/WatchInstances", {"serviceId": api_id})
    assert events(instances, 2) == [("EVENT_TYPE_ADDED", "api-0"), ("EVENT_TYPE_ADDED", "api-1")]
    namespaces = watch(fake, "NamespaceService/WatchNamespaces", {})
    assert events(namespaces, 2) == [
        ("EVENT_TYPE_ADDED", "system"),
        ("EVENT_TYPE_ADDED", "default"),
    ]
    fake.wait_for_watchers(2)
    ok(connect(fake, "ServiceService/GetService", {"name": "db"}))  # db-0 runs: not watched
    ok(connect(fake, "ServiceService/GetService", {"name": "api"}))
    assert events(instances, 2) == [
        ("EVENT_TYPE_MODIFIED", "api-0"),
        ("EVENT_TYPE_MODIFIED", "api-1"),
    ]
    ok(connect(fake, "NamespaceService/CreateNamespace", {"namespace": {"name": "qa"}}))
    ok(connect(fake, "NamespaceService/DeleteNamespace", {"name": "qa"}))
    assert events(namespaces, 2) == [("EVENT_TYPE_ADDED", "qa"), ("EVENT_TYPE_DELETED", "qa")]
    assert fake.end_watches() == 2
    assert read_all(instances) == [(2, {})] and read_all(namespaces) == [(2, {})]
    assert fake.watchers == 0


def test_watch_errors_arrive_as_end_of_stream_messages(fake: FakeRune) -> None:
    denied = watch(fake, "ServiceService/WatchServices", {}, token=None)
    assert denied.status_code == 200  # Connect streams report errors in the last envelope
    assert read_all(denied) == [
        (
            2,
            {
                "error": {
                    "code": "unauthenticated",
                    "message": "missing bearer token: Request unauthenticated with bearer",
                }
            },
        )
    ]
    reader = fake.issue_token("viewer", policies=["readonly"])
    forbidden = read_all(watch(fake, "ServiceService/WatchServices", {}, token=reader))
    assert forbidden[-1][1]["error"] == {
        "code": "permission_denied",
        "message": "access denied for resource: * verb: *",
    }
    allowed = watch(fake, "InstanceService/WatchInstances", {}, token=reader)
    assert allowed.status_code == 200  # instances:watch is in readonly
    allowed.close()
    torn = read_all(watch(fake, "ServiceService/WatchServices", raw=b"\x00\x00\x00\x00\x09{}"))
    assert torn[-1][1]["error"]["code"] == "invalid_argument"
    no_service = read_all(watch(fake, "ServiceService/WatchScaling", {"serviceName": "nope"}))
    assert no_service == [
        (2, {"error": {"code": "not_found", "message": "service not found: default/nope"}})
    ]
    unary_type = connect(fake, "ServiceService/WatchServices", {})
    assert unary_type.status_code == 415
    fake.fail_rpc("WatchInstances", "unavailable", "try later")
    failed = read_all(watch(fake, "InstanceService/WatchInstances", {}))
    assert failed == [(2, {"error": {"code": "unavailable", "message": "try later"}})]


def test_fail_watch_ends_open_and_new_streams_with_an_error(fake: FakeRune) -> None:
    fake.add_service("api")
    open_stream = watch(fake, "ServiceService/WatchServices", {})
    assert events(open_stream, 1) == [("EVENT_TYPE_ADDED", "api")]
    fake.wait_for_watchers(1)
    fake.fail_watch = ("not_found", "namespace default was deleted")
    error = {"error": {"code": "not_found", "message": "namespace default was deleted"}}
    assert read_all(open_stream) == [(2, error)]
    late = read_all(watch(fake, "ServiceService/WatchServices", {}))
    assert late[0][1]["eventType"] == "EVENT_TYPE_ADDED" and late[-1] == (2, error)
    fake.fail_watch = None
    assert fake.fail_watch is None
    with pytest.raises(ValueError, match="unknown gRPC code"):
        fake.fail_watch = ("bogus", "x")
    again = watch(fake, "ServiceService/WatchServices", {})
    assert events(again, 1) == [("EVENT_TYPE_ADDED", "api")]
    fake.wait_for_watchers(1)
    fake.end_watches(("unavailable", "restarting"))
    assert read_all(again)[-1] == (2, {"error": {"code": "unavailable", "message": "restarting"}})


def test_watchers_detach_when_the_client_goes_away(fake: FakeRune) -> None:
    stream = watch(fake, "NamespaceService/WatchNamespaces", {})
    assert events(stream, 2)[0] == ("EVENT_TYPE_ADDED", "system")
    fake.wait_for_watchers(1)
    stream.close()
    fake.wait_for_watchers(0, timeout=3)
    ok(connect(fake, "NamespaceService/CreateNamespace", {"namespace": {"name": "after"}}))
    with pytest.raises(TimeoutError):
        fake.wait_for_watchers(1, timeout=0.05)


def test_watch_scaling_reports_progress_until_complete() -> None:
    with FakeRune(start_polls=1) as fake:
        fake.add_service("api", scale=1)
        ok(connect(fake, "ServiceService/GetService", {"name": "api"}))
        ok(connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 3}))
        frames = read_all(
            watch(fake, "ServiceService/WatchScaling", {"serviceName": "api", "targetScale": 3})
        )
        progress = [
            (m["runningInstances"], m["pendingInstances"], m["complete"])
            for flag, m in frames
            if flag == 0
        ]
        assert progress == [(1, 2, False), (3, 0, True), (3, 0, True)]  # complete twice
        assert frames[-1] == (2, {})
        assert frames[0][1]["status"]["message"] == "Service 'api' scaling progress"
        assert set(frames[0][1]) == {
            "currentScale",
            "targetScale",
            "runningInstances",
            "pendingInstances",
            "complete",
            "status",
        }
        waiting = watch(
            fake, "ServiceService/WatchScaling", {"serviceName": "api", "targetScale": 4}
        )
        flag, message = next_envelope(waiting)
        assert (flag, message["currentScale"], message["complete"]) == (0, 3, False)
        fake.wait_for_watchers(1)
        ok(connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 4}))
        rest_frames = read_all(waiting)
        assert rest_frames[-2][1]["complete"] is True and rest_frames[-1] == (2, {})
        to_zero = watch(fake, "ServiceService/WatchScaling", {"serviceName": "api"})
        flag, message = next_envelope(to_zero)
        assert (message["targetScale"], message["complete"]) == (0, False)  # 0: scale to zero
        fake.wait_for_watchers(1)
        ok(connect(fake, "ServiceService/ScaleService", {"name": "api", "scale": 0}))
        assert read_all(to_zero)[-2][1]["complete"] is True


def test_scaling_watch_ends_with_not_found_when_the_service_goes() -> None:
    with FakeRune(deletion_polls=0) as fake:
        fake.add_service("api", scale=1)
        stream = watch(
            fake, "ServiceService/WatchScaling", {"serviceName": "api", "targetScale": 5}
        )
        flag, message = next_envelope(stream)
        assert (flag, message["complete"]) == (0, False)
        fake.wait_for_watchers(1)
        ok(connect(fake, "ServiceService/DeleteService", {"name": "api"}))
        assert read_all(stream)[-1] == (
            2,
            {"error": {"code": "not_found", "message": "service not found: default/api"}},
        )
    with FakeRune() as stopping:
        stopping._closing = True  # a watch opened while the fake stops ends at once
        assert read_all(watch(stopping, "NamespaceService/WatchNamespaces", {})) == [(2, {})]


# -- SSE logs (REST) ------------------------------------------------------------------------------


def test_logs_stream_as_server_sent_events_then_end(clock: list[float]) -> None:
    with FakeRune(clock=lambda: clock[0], start_polls=0) as fake:
        fake.add_service("api", scale=2)
        clock[0] += 30
        fake.add_log_lines(
            "api-1",
            ["GET /health 200", {"content": "boom", "stream": "stderr", "logLevel": "error"}],
        )
        fake.add_log_lines("api", ["deploy finished"], event="status")
        reply = rest(fake, "GET", "/v1/namespaces/default/logs/api")
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "text/event-stream"
        assert reply.headers["Transfer-Encoding"] == "chunked"
        got = sse(reply.text)
        assert [e["data"]["content"] for e in got] == [
            "starting api-0",
            "listening on :8080",
            "config file not found, using defaults",
            "starting api-1",
            "listening on :8080",
            "config file not found, using defaults",
            "GET /health 200",
            "boom",
            "deploy finished",
        ]
        assert [e["event"] for e in got] == ["log", "log", "stderr"] * 2 + [
            "log",
            "stderr",
            "status",
        ]
        assert [e["id"] for e in got] == [str(n) for n in range(1, 10)]
        line = got[7]["data"]
        assert set(line) == {
            "serviceName",
            "instanceId",
            "instanceName",
            "timestamp",
            "content",
            "stream",
            "status",
            "logLevel",
        }
        assert (line["serviceName"], line["instanceName"], line["logLevel"]) == (
            "api",
            "api-1",
            "error",
        )
        assert line["timestamp"] == "" and line["status"] is None

        tail = sse(
            rest(
                fake,
                "GET",
                "/v1/namespaces/default/logs/api-1",
                params={"tail": "2", "timestamps": "true"},
            ).text
        )
        assert [e["data"]["content"] for e in tail] == ["GET /health 200", "boom"]
        assert tail[0]["data"]["timestamp"] == "2026-01-01T00:00:30.000000Z"
        since = sse(
            rest(fake, "GET", "/v1/namespaces/default/logs/api", params={"since": "10s"}).text
        )
        assert [e["data"]["content"] for e in since] == [
            "GET /health 200",
            "boom",
            "deploy finished",
        ]
        absolute = rest(
            fake, "GET", "/v1/namespaces/default/logs/api", params={"since": "2026-01-01T00:00:20Z"}
        )
        assert len(sse(absolute.text)) == 3
        followed = rest(fake, "GET", "/v1/namespaces/default/logs/api-0", params={"follow": "true"})
        assert followed.status_code == 200 and len(sse(followed.text)) == 3  # then EOF
        assert "event: heartbeat" in followed.text  # an event without data: not a line
        by_id = next(i["id"] for i in fake.instances.values() if i["name"] == "api-0")
        assert len(sse(rest(fake, "GET", f"/v1/namespaces/default/logs/{by_id}").text)) == 3


def test_log_errors_are_gateway_json(fake: FakeRune) -> None:
    missing = rest(fake, "GET", "/v1/namespaces/default/logs/nothing")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": 5,
        "message": "log target not found: default/nothing",
        "details": [],
    }
    fake.add_log_lines("batch-job", ["done"])  # any target name can hold lines
    assert (
        sse(rest(fake, "GET", "/v1/namespaces/default/logs/batch-job").text)[0]["data"]["content"]
        == "done"
    )
    anonymous = rest(fake, "GET", "/v1/namespaces/default/logs/batch-job", token=None)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 16
    bad = rest(fake, "GET", "/v1/namespaces/default/logs/batch-job", params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == 3
    not_int = rest(fake, "GET", "/v1/namespaces/default/logs/batch-job", params={"tail": "many"})
    assert not_int.status_code == 400
    assert rest(fake, "POST", "/v1/namespaces/default/logs/batch-job").status_code == 405
    over_connect = watch(fake, "LogService/StreamLogs", {"resourceTarget": "batch-job"})
    assert over_connect.status_code == 505


# -- admin and auth error paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpc", "body", "code", "message"),
    [
        ("AdminService/UserCreate", {"name": ""}, "unknown", "user name is required"),
        (
            "AdminService/PolicyGet",
            {"id": "p-404"},
            "unknown",
            "resource policy/system/p-404 not found",
        ),
        (
            "AdminService/PolicyCreate",
            {"policy": {"name": ""}},
            "unknown",
            "policy name validation failed",
        ),
        (
            "AdminService/PolicyUpdate",
            {"policy": {"name": "ghost"}},
            "unknown",
            "resource policy/system/ghost not found",
        ),
        ("AdminService/PolicyDelete", {"name": "ghost"}, "unknown", "not found"),
        (
            "AdminService/PolicyDetachFromSubject",
            {"policyName": "admin", "subjectId": "u-404"},
            "unknown",
            "resource user/system/u-404 not found",
        ),
        ("AdminService/GetRegistry", {"name": ""}, "invalid_argument", "name is required"),
        ("AdminService/GetRegistry", {"name": "hub"}, "not_found", "registry not found"),
        (
            "AdminService/AddRegistry",
            {"registry": {"name": "hub"}},
            "invalid_argument",
            "name and registry are required",
        ),
        (
            "AdminService/UpdateRegistry",
            {"registry": {"name": "hub", "registry": "h"}},
            "not_found",
            "registry not found",
        ),
        ("AdminService/UpdateRegistry", {}, "invalid_argument", "name is required"),
        ("AdminService/RemoveRegistry", {"name": "hub"}, "not_found", "registry not found"),
        ("AdminService/TestRegistry", {"name": "hub"}, "not_found", "registry not found"),
        (
            "AuthService/CreateToken",
            {"name": "t", "subjectType": "service"},
            "unknown",
            "invalid subject-type: service (only 'user' supported for now",
        ),
        (
            "AuthService/CreateToken",
            {},
            "unknown",
            "either subject_name or subject_id must be provided",
        ),
        (
            "AuthService/CreateToken",
            {"subjectId": "u-404"},
            "unknown",
            "either subject_name or name must be provided to create subject",
        ),
        (
            "AuthService/RevokeToken",
            {"id": "t-404"},
            "unknown",
            "resource token/system/t-404 not found",
        ),
        ("NamespaceService/GetNamespace", {}, "invalid_argument", "namespace name is required"),
        ("ServiceService/GetService", {}, "invalid_argument", "service name is required"),
        ("ServiceService/ListServices", {"paging": "all"}, "invalid_argument", "field paging"),
    ],
)
def test_admin_and_auth_errors(
    fake: FakeRune, rpc: str, body: Any, code: str, message: str
) -> None:
    reply = connect(fake, rpc, body)
    assert reply.json()["code"] == code
    assert message in reply.json()["message"]
    statuses = {"invalid_argument": 400, "unknown": 500, "not_found": 404}
    assert reply.status_code == statuses[code]


def test_admin_upserts_users_policies_and_registries(fake: FakeRune) -> None:
    ok(connect(fake, "AdminService/UserCreate", {"name": "ada", "policies": ["readonly"]}))
    again = ok(
        connect(
            fake,
            "AdminService/UserCreate",
            {"name": "ada", "email": "ada@example.org", "policies": ["readwrite", "readonly"]},
        )
    )
    assert again["user"]["policies"] == ["readonly", "readwrite"]  # merged
    assert again["user"]["email"] == "ada@example.org"
    ada = fake.users["ada"]
    attach = {"policyId": "anything", "subjectId": ada["id"]}  # not checked, as the server
    assert ok(connect(fake, "AdminService/PolicyAttachToSubject", attach)) == {"attached": True}
    assert ada["policies"][-1] == "anything"
    assert ok(connect(fake, "AdminService/PolicyDetachFromSubject", attach)) == {"detached": True}
    rule = {"resource": "secrets", "verbs": ["get"], "namespace": ""}
    ok(connect(fake, "AdminService/PolicyCreate", {"policy": {"name": "peek", "rules": [rule]}}))
    ok(
        connect(
            fake,
            "AdminService/PolicyCreate",
            {"policy": {"name": "peek", "description": "v2", "rules": []}},
        )
    )
    assert fake.policies["peek"]["description"] == "v2"  # an upsert
    by_id = ok(connect(fake, "AdminService/PolicyGet", {"id": "peek"}))  # an id is a name
    assert by_id["policy"]["name"] == "peek"
    token = ok(connect(fake, "AuthService/CreateToken", {"name": "t", "subjectId": ada["id"]}))
    assert ok(connect(fake, "AuthService/WhoAmI", token=token["secret"]))["subjectName"] == "ada"
    made = ok(connect(fake, "AuthService/CreateToken", {"name": "ci", "policies": ["readwrite"]}))
    assert fake.users["ci"]["policies"] == ["readwrite"]  # the token's name names the subject
    assert made["secret"].count(".") == 1  # <uuid>.<uuid>
    fake.users["root"]["policies"] = []
    ok(connect(fake, "AdminService/AdminBootstrap", token=None))
    assert fake.users["root"]["policies"] == ["root"]  # bootstrap repairs root
    for name, auth in (
        ("ecr", {"region": "eu-west-1"}),
        ("hub", None),
        ("quay", {"username": "u", "password": "p"}),
    ):
        ok(
            connect(
                fake,
                "AdminService/AddRegistry",
                {"registry": {"name": name, "registry": f"{name}.example", "auth": auth}},
            )
        )
    assert fake.registries["quay"]["auth"]["type"] == "basic"
    assert ok(connect(fake, "AdminService/BootstrapAuth", {"type": "ecr"})) == {"updated": 1}
    assert ok(connect(fake, "AdminService/BootstrapAuth", {})) == {"updated": 0}
    statuses = {
        r["name"]: r for r in ok(connect(fake, "AdminService/RegistriesStatus"))["registries"]
    }
    assert statuses["ecr"]["type"] == "ecr" and statuses["hub"]["authConfigured"] is False
    dup = connect(fake, "AdminService/AddRegistry", {"registry": {"name": "hub", "registry": "x"}})
    assert dup.json() == {"code": "already_exists", "message": "registry name already exists"}
    assert dup.status_code == 409
    fake.issue_token("ada2", policies=["readonly"])
    fake.issue_token("ada2", policies=["readwrite"])
    assert fake.users["ada2"]["policies"] == ["readwrite"]
    with pytest.raises(ValueError, match="no policy"):
        fake.issue_token("x", policies=["superuser"])


def test_stream_envelopes_are_checked_and_handler_bugs_are_500s(fake: FakeRune) -> None:
    short = read_all(watch(fake, "NamespaceService/WatchNamespaces", raw=b"\x00\x00"))
    assert short[-1][1]["error"]["message"] == "protocol error: incomplete envelope"
    compressed = read_all(
        watch(fake, "NamespaceService/WatchNamespaces", raw=b"\x01" + envelope({})[1:])
    )
    assert compressed[-1][1]["error"]["code"] == "internal"
    not_json = read_all(
        watch(fake, "NamespaceService/WatchNamespaces", raw=b"\x00\x00\x00\x00\x01{")
    )
    assert not_json[-1][1]["error"]["code"] == "invalid_argument"
    no_name = read_all(watch(fake, "ServiceService/WatchScaling", {}))
    assert no_name[-1][1]["error"]["message"] == "service name is required"
    fake._whoami = lambda call: 1 // 0
    crash = connect(fake, "AuthService/WhoAmI")
    assert crash.status_code == 500
    assert crash.json()["code"] == "internal" and "ZeroDivisionError" in crash.json()["message"]
    with pytest.raises(ValueError, match="times"):
        fake.fail_rpc("GetService", "internal", times=0)
    with pytest.raises(ValueError, match="unknown gRPC code"):
        fake.end_watches(("nope", "x"))
