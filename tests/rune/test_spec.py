"""openapi/rune.yaml and its generated models agree with the Rune wire.

The RPC catalogue below is runed's (runestack/rune@413bfe0, the 11 protos of package
`rune.api`: 57 RPCs, of which 51 unary, 4 server streams and 2 bidirectional streams that
HTTP/1.1 cannot carry). The REST routes are the seed's gateway table as the lead fixed it.
Messages are protojson: camelCase keys, every field emitted, int64 as decimal strings.
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import attrs
import pytest
import requests
import yaml
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate

from controldeck._core._convert import structure, to_data, unstructure
from controldeck._core._models import UNSET, Model, OpenStrEnum, Unset
from controldeck._generated import rune as m
from controldeck.errors import InvalidArgumentError, ResponseValidationError
from tests._conformance import METHODS, SPEC_DIR, openapi, operations, spec_document

ORIGIN = "http://localhost:7861"
TOKEN = "rune-tok-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONNECT = {"Connect-Protocol-Version": "1", "Connect-Timeout-Ms": "30000"}

# (service, rpc, kind, request, response) for every RPC of the 11 protos.
RPCS = [
    ("AdminService", "AdminBootstrap", "unary", "AdminBootstrapRequest", "AdminBootstrapResponse"),
    ("AdminService", "PolicyCreate", "unary", "PolicyCreateRequest", "PolicyCreateResponse"),
    ("AdminService", "PolicyUpdate", "unary", "PolicyUpdateRequest", "PolicyUpdateResponse"),
    ("AdminService", "PolicyDelete", "unary", "PolicyDeleteRequest", "PolicyDeleteResponse"),
    ("AdminService", "PolicyGet", "unary", "PolicyGetRequest", "PolicyGetResponse"),
    ("AdminService", "PolicyList", "unary", "PolicyListRequest", "PolicyListResponse"),
    (
        "AdminService",
        "PolicyAttachToSubject",
        "unary",
        "PolicyAttachToSubjectRequest",
        "PolicyAttachToSubjectResponse",
    ),
    (
        "AdminService",
        "PolicyDetachFromSubject",
        "unary",
        "PolicyDetachFromSubjectRequest",
        "PolicyDetachFromSubjectResponse",
    ),
    ("AdminService", "UserCreate", "unary", "UserCreateRequest", "UserCreateResponse"),
    ("AdminService", "UserList", "unary", "UserListRequest", "UserListResponse"),
    ("AdminService", "TokenList", "unary", "TokenListRequest", "TokenListResponse"),
    ("AdminService", "ListRegistries", "unary", "ListRegistriesRequest", "ListRegistriesResponse"),
    ("AdminService", "GetRegistry", "unary", "GetRegistryRequest", "GetRegistryResponse"),
    ("AdminService", "AddRegistry", "unary", "AddRegistryRequest", "AddRegistryResponse"),
    ("AdminService", "UpdateRegistry", "unary", "UpdateRegistryRequest", "UpdateRegistryResponse"),
    ("AdminService", "RemoveRegistry", "unary", "RemoveRegistryRequest", "RemoveRegistryResponse"),
    ("AdminService", "BootstrapAuth", "unary", "BootstrapAuthRequest", "BootstrapAuthResponse"),
    ("AdminService", "TestRegistry", "unary", "TestRegistryRequest", "TestRegistryResponse"),
    (
        "AdminService",
        "RegistriesStatus",
        "unary",
        "RegistriesStatusRequest",
        "RegistriesStatusResponse",
    ),
    ("AuthService", "WhoAmI", "unary", "WhoAmIRequest", "WhoAmIResponse"),
    ("AuthService", "CreateToken", "unary", "CreateTokenRequest", "CreateTokenResponse"),
    ("AuthService", "RevokeToken", "unary", "RevokeTokenRequest", "RevokeTokenResponse"),
    ("ConfigmapService", "CreateConfigmap", "unary", "CreateConfigmapRequest", "ConfigmapResponse"),
    ("ConfigmapService", "GetConfigmap", "unary", "GetConfigmapRequest", "ConfigmapResponse"),
    ("ConfigmapService", "UpdateConfigmap", "unary", "UpdateConfigmapRequest", "ConfigmapResponse"),
    ("ConfigmapService", "DeleteConfigmap", "unary", "DeleteConfigmapRequest", "Status"),
    (
        "ConfigmapService",
        "ListConfigmaps",
        "unary",
        "ListConfigmapsRequest",
        "ListConfigmapsResponse",
    ),
    ("ExecService", "StreamExec", "bidi", "ExecRequest", "ExecResponse"),
    ("HealthService", "GetHealth", "unary", "GetHealthRequest", "GetHealthResponse"),
    ("InstanceService", "GetInstance", "unary", "GetInstanceRequest", "InstanceResponse"),
    ("InstanceService", "ListInstances", "unary", "ListInstancesRequest", "ListInstancesResponse"),
    ("InstanceService", "StartInstance", "unary", "InstanceActionRequest", "InstanceResponse"),
    ("InstanceService", "StopInstance", "unary", "InstanceActionRequest", "InstanceResponse"),
    ("InstanceService", "RestartInstance", "unary", "InstanceActionRequest", "InstanceResponse"),
    (
        "InstanceService",
        "WatchInstances",
        "stream",
        "WatchInstancesRequest",
        "WatchInstancesResponse",
    ),
    ("LogService", "StreamLogs", "bidi", "LogRequest", "LogResponse"),
    (
        "NamespaceService",
        "CreateNamespace",
        "unary",
        "CreateNamespaceRequest",
        "CreateNamespaceResponse",
    ),
    ("NamespaceService", "GetNamespace", "unary", "GetNamespaceRequest", "GetNamespaceResponse"),
    (
        "NamespaceService",
        "ListNamespaces",
        "unary",
        "ListNamespacesRequest",
        "ListNamespacesResponse",
    ),
    (
        "NamespaceService",
        "DeleteNamespace",
        "unary",
        "DeleteNamespaceRequest",
        "DeleteNamespaceResponse",
    ),
    (
        "NamespaceService",
        "WatchNamespaces",
        "stream",
        "WatchNamespacesRequest",
        "WatchNamespacesResponse",
    ),
    ("SecretService", "CreateSecret", "unary", "CreateSecretRequest", "SecretResponse"),
    ("SecretService", "GetSecret", "unary", "GetSecretRequest", "SecretResponse"),
    ("SecretService", "UpdateSecret", "unary", "UpdateSecretRequest", "SecretResponse"),
    ("SecretService", "DeleteSecret", "unary", "DeleteSecretRequest", "Status"),
    ("SecretService", "ListSecrets", "unary", "ListSecretsRequest", "ListSecretsResponse"),
    ("ServiceService", "CreateService", "unary", "CreateServiceRequest", "ServiceResponse"),
    ("ServiceService", "GetService", "unary", "GetServiceRequest", "ServiceResponse"),
    ("ServiceService", "ListServices", "unary", "ListServicesRequest", "ListServicesResponse"),
    ("ServiceService", "WatchServices", "stream", "WatchServicesRequest", "WatchServicesResponse"),
    ("ServiceService", "UpdateService", "unary", "UpdateServiceRequest", "ServiceResponse"),
    ("ServiceService", "DeleteService", "unary", "DeleteServiceRequest", "DeleteServiceResponse"),
    (
        "ServiceService",
        "GetDeletionStatus",
        "unary",
        "GetDeletionStatusRequest",
        "GetDeletionStatusResponse",
    ),
    (
        "ServiceService",
        "ListDeletionOperations",
        "unary",
        "ListDeletionOperationsRequest",
        "ListDeletionOperationsResponse",
    ),
    ("ServiceService", "ScaleService", "unary", "ScaleServiceRequest", "ServiceResponse"),
    ("ServiceService", "WatchScaling", "stream", "WatchScalingRequest", "ScalingStatusResponse"),
    ("ServiceService", "ListInstances", "unary", "ListInstancesRequest", "ListInstancesResponse"),
]

# The SDK method of each RPC (reference §9 and the facade briefs).
METHOD_NAMES = {
    "AdminService.AdminBootstrap": "admin_bootstrap",
    "AdminService.PolicyCreate": "create_policy",
    "AdminService.PolicyUpdate": "update_policy",
    "AdminService.PolicyDelete": "delete_policy",
    "AdminService.PolicyGet": "get_policy",
    "AdminService.PolicyList": "list_policies",
    "AdminService.PolicyAttachToSubject": "attach_policy",
    "AdminService.PolicyDetachFromSubject": "detach_policy",
    "AdminService.UserCreate": "create_user",
    "AdminService.UserList": "list_users",
    "AdminService.TokenList": "list_tokens",
    "AdminService.ListRegistries": "list_registries",
    "AdminService.GetRegistry": "get_registry",
    "AdminService.AddRegistry": "add_registry",
    "AdminService.UpdateRegistry": "update_registry",
    "AdminService.RemoveRegistry": "remove_registry",
    "AdminService.BootstrapAuth": "bootstrap_registry_auth",
    "AdminService.TestRegistry": "test_registry",
    "AdminService.RegistriesStatus": "registries_status",
    "AuthService.WhoAmI": "whoami",
    "AuthService.CreateToken": "create_token",
    "AuthService.RevokeToken": "revoke_token",
    "ConfigmapService.CreateConfigmap": "create_configmap",
    "ConfigmapService.GetConfigmap": "get_configmap",
    "ConfigmapService.UpdateConfigmap": "update_configmap",
    "ConfigmapService.DeleteConfigmap": "delete_configmap",
    "ConfigmapService.ListConfigmaps": "list_configmaps",
    "HealthService.GetHealth": "get_health",
    "InstanceService.GetInstance": "get_instance",
    "InstanceService.ListInstances": "list_instances",
    "InstanceService.StartInstance": "start_instance",
    "InstanceService.StopInstance": "stop_instance",
    "InstanceService.RestartInstance": "restart_instance",
    "InstanceService.WatchInstances": "watch_instances",
    "NamespaceService.CreateNamespace": "create_namespace",
    "NamespaceService.GetNamespace": "get_namespace",
    "NamespaceService.ListNamespaces": "list_namespaces",
    "NamespaceService.DeleteNamespace": "delete_namespace",
    "NamespaceService.WatchNamespaces": "watch_namespaces",
    "SecretService.CreateSecret": "create_secret",
    "SecretService.GetSecret": "get_secret",
    "SecretService.UpdateSecret": "update_secret",
    "SecretService.DeleteSecret": "delete_secret",
    "SecretService.ListSecrets": "list_secrets",
    "ServiceService.CreateService": "create_service",
    "ServiceService.GetService": "get_service",
    "ServiceService.ListServices": "list_services",
    "ServiceService.WatchServices": "watch_services",
    "ServiceService.UpdateService": "update_service",
    "ServiceService.DeleteService": "delete_service",
    "ServiceService.GetDeletionStatus": "get_deletion_status",
    "ServiceService.ListDeletionOperations": "list_deletion_operations",
    "ServiceService.ScaleService": "scale_service",
    "ServiceService.WatchScaling": "watch_scaling",
    "ServiceService.ListInstances": "list_service_instances",
    "LogService.StreamLogs": "logs",
}

# The seed's REST gateway (rune-common.md): (METHOD, path) -> "<Service>.<Rpc>".
REST = {
    ("GET", "/v1/namespaces"): "NamespaceService.ListNamespaces",
    ("POST", "/v1/namespaces"): "NamespaceService.CreateNamespace",
    ("GET", "/v1/namespaces/{name}"): "NamespaceService.GetNamespace",
    ("DELETE", "/v1/namespaces/{name}"): "NamespaceService.DeleteNamespace",
    ("GET", "/v1/namespaces/{namespace}/services"): "ServiceService.ListServices",
    ("POST", "/v1/namespaces/{namespace}/services"): "ServiceService.CreateService",
    ("GET", "/v1/namespaces/{namespace}/services/{name}"): "ServiceService.GetService",
    ("PUT", "/v1/namespaces/{namespace}/services/{name}"): "ServiceService.UpdateService",
    ("DELETE", "/v1/namespaces/{namespace}/services/{name}"): "ServiceService.DeleteService",
    (
        "GET",
        "/v1/namespaces/{namespace}/services/{name}/deletion",
    ): "ServiceService.GetDeletionStatus",
    ("GET", "/v1/namespaces/{namespace}/deletions"): "ServiceService.ListDeletionOperations",
    ("POST", "/v1/namespaces/{namespace}/services/{name}/scale"): "ServiceService.ScaleService",
    (
        "GET",
        "/v1/namespaces/{namespace}/services/{name}/instances",
    ): "ServiceService.ListInstances",
    ("GET", "/v1/namespaces/{namespace}/instances"): "InstanceService.ListInstances",
    ("GET", "/v1/namespaces/{namespace}/instances/{id}"): "InstanceService.GetInstance",
    ("POST", "/v1/namespaces/{namespace}/instances/{id}/start"): "InstanceService.StartInstance",
    ("POST", "/v1/namespaces/{namespace}/instances/{id}/stop"): "InstanceService.StopInstance",
    (
        "POST",
        "/v1/namespaces/{namespace}/instances/{id}/restart",
    ): "InstanceService.RestartInstance",
    ("GET", "/v1/namespaces/{namespace}/health"): "HealthService.GetHealth",
    ("GET", "/v1/namespaces/{namespace}/secrets"): "SecretService.ListSecrets",
    ("POST", "/v1/namespaces/{namespace}/secrets"): "SecretService.CreateSecret",
    ("GET", "/v1/namespaces/{namespace}/secrets/{name}"): "SecretService.GetSecret",
    ("PUT", "/v1/namespaces/{namespace}/secrets/{name}"): "SecretService.UpdateSecret",
    ("DELETE", "/v1/namespaces/{namespace}/secrets/{name}"): "SecretService.DeleteSecret",
    ("GET", "/v1/namespaces/{namespace}/configmaps"): "ConfigmapService.ListConfigmaps",
    ("POST", "/v1/namespaces/{namespace}/configmaps"): "ConfigmapService.CreateConfigmap",
    ("GET", "/v1/namespaces/{namespace}/configmaps/{name}"): "ConfigmapService.GetConfigmap",
    ("PUT", "/v1/namespaces/{namespace}/configmaps/{name}"): "ConfigmapService.UpdateConfigmap",
    ("DELETE", "/v1/namespaces/{namespace}/configmaps/{name}"): "ConfigmapService.DeleteConfigmap",
    ("GET", "/v1/auth/whoami"): "AuthService.WhoAmI",
    ("POST", "/v1/auth/tokens"): "AuthService.CreateToken",
    ("DELETE", "/v1/auth/tokens/{id}"): "AuthService.RevokeToken",
    ("POST", "/v1/admin/bootstrap"): "AdminService.AdminBootstrap",
    ("GET", "/v1/admin/policies"): "AdminService.PolicyList",
    ("POST", "/v1/admin/policies"): "AdminService.PolicyCreate",
    ("GET", "/v1/admin/policies/{name}"): "AdminService.PolicyGet",
    ("PUT", "/v1/admin/policies/{name}"): "AdminService.PolicyUpdate",
    ("DELETE", "/v1/admin/policies/{name}"): "AdminService.PolicyDelete",
    ("POST", "/v1/admin/policies/{policyName}/attach"): "AdminService.PolicyAttachToSubject",
    ("POST", "/v1/admin/policies/{policyName}/detach"): "AdminService.PolicyDetachFromSubject",
    ("GET", "/v1/admin/users"): "AdminService.UserList",
    ("POST", "/v1/admin/users"): "AdminService.UserCreate",
    ("GET", "/v1/admin/tokens"): "AdminService.TokenList",
    ("GET", "/v1/admin/registries"): "AdminService.ListRegistries",
    ("POST", "/v1/admin/registries"): "AdminService.AddRegistry",
    ("GET", "/v1/admin/registries/{name}"): "AdminService.GetRegistry",
    ("PUT", "/v1/admin/registries/{name}"): "AdminService.UpdateRegistry",
    ("DELETE", "/v1/admin/registries/{name}"): "AdminService.RemoveRegistry",
    ("POST", "/v1/admin/registries/{name}/test"): "AdminService.TestRegistry",
    ("POST", "/v1/admin/registry-auth/bootstrap"): "AdminService.BootstrapAuth",
    ("GET", "/v1/admin/registry-status"): "AdminService.RegistriesStatus",
    ("GET", "/v1/namespaces/{namespace}/logs/{target}"): "LogService.StreamLogs",
}
PROBES = {("GET", "/healthz"): "ok", ("GET", "/readyz"): "ready"}

# Every message and enum of the 11 protos, plus the Connect error shapes.
MESSAGES = [
    *sorted({name for rpc in RPCS for name in rpc[3:]}),
    "ComponentHealth",
    "Configmap",
    "ConfigmapMount",
    "DeletionOperation",
    "DependencyRef",
    "Empty",
    "EnvFromSource",
    "ExecInitRequest",
    "ExitInfo",
    "Finalizer",
    "FinalizerDependency",
    "HealthCheck",
    "HealthCheckResult",
    "Instance",
    "InstanceMetadata",
    "KeyToPath",
    "Namespace",
    "PagingParams",
    "Policy",
    "PolicyRule",
    "Probe",
    "ProcessSecurityContext",
    "ProcessSpec",
    "RegistryAuthConfig",
    "RegistryConfig",
    "RegistryRuntimeStatus",
    "ResolvedConfigMount",
    "ResolvedSecretMount",
    "ResourceLimit",
    "Resources",
    "Secret",
    "SecretMount",
    "Service",
    "ServiceExpose",
    "ServiceMetadata",
    "ServicePort",
    "Signal",
    "Subject",
    "TerminalSize",
    "TokenInfo",
]
ENUMS = {
    "EventType": 4,
    "HealthCheckType": 4,
    "HealthStatus": 5,
    "InstanceStatus": 10,
    "ProbeType": 4,
    "ResourceType": 6,
    "RestartPolicy": 4,
    "ScalingMode": 3,
    "ServiceStatus": 5,
}
CONNECT_SHAPES = ["ConnectError", "ConnectErrorDetail", "ConnectEndStream"]

SECRETS = {
    ("AdminBootstrapResponse", "tokenSecret"),
    ("CreateTokenResponse", "secret"),
    ("Secret", "data"),
    ("RegistryAuthConfig", "password"),
    ("RegistryAuthConfig", "token"),
    ("RegistryAuthConfig", "data"),
    ("ResolvedSecretMount", "data"),
    ("Instance", "environment"),
}

# A full protojson ServiceResponse as runed emits it (EmitUnpopulated: zero values present,
# unset sub-messages null).
SERVICE_REPLY: dict[str, Any] = {
    "service": {
        "id": "svc-1",
        "name": "api",
        "namespace": "default",
        "labels": {"tier": "web"},
        "image": "nginx:1.27",
        "command": "",
        "args": [],
        "env": {"MODE": "prod"},
        "envFrom": [{"secretName": "db", "configmapName": "", "namespace": "", "prefix": "DB_"}],
        "scale": 3,
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "tcp"}],
        "resources": {"cpu": {"request": "100m", "limit": "1"}, "memory": None},
        "health": None,
        "status": "SERVICE_STATUS_RUNNING",
        "runtime": "container",
        "process": None,
        "restartPolicy": "RESTART_POLICY_ALWAYS",
        "secretMounts": [],
        "configmapMounts": [],
        "metadata": {
            "generation": 2,
            "createdAt": "2025-11-07T10:00:00Z",
            "updatedAt": "2025-11-07T10:05:00Z",
            "lastNonZeroScale": 3,
        },
        "dependencies": [],
        "expose": None,
    },
    "status": {"code": 0, "message": "Service retrieved successfully", "details": []},
}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec_document("rune")["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _by_id() -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {op["operationId"]: (method, path, op) for method, path, op in _operations()}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = spec_document("rune")["components"]["schemas"]
    return schemas


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _request(
    method: str,
    path: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    auth: bool = True,
) -> requests.PreparedRequest:
    return requests.Request(
        method,
        ORIGIN + path,
        headers={**(AUTH if auth else {}), **(headers or {})},
        json=json_body,
        data=data,
        params=params,
    ).prepare()


def _check_request(request: requests.PreparedRequest) -> None:
    openapi("rune").validate_request(RequestsOpenAPIRequest(request))


def _check_reply(
    request: requests.PreparedRequest,
    status: int,
    body: Any,
    content_type: str = "application/json",
) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers["Content-Type"] = content_type
    openapi("rune").validate_response(
        RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response)
    )


def _envelope(message: Any, flag: int = 0) -> bytes:
    data = json.dumps(message).encode()
    return bytes([flag]) + len(data).to_bytes(4, "big") + data


# -- the document ----------------------------------------------------------------------


def test_the_spec_is_valid_openapi_and_parses() -> None:
    document = yaml.safe_load((SPEC_DIR / "rune.yaml").read_text(encoding="utf-8"))
    validate(document)
    openapi("rune")  # resolves with openapi-core
    assert document["openapi"] == "3.1.0"
    servers = document["servers"]
    assert [s["url"] for s in servers] == ["{origin}"]
    assert servers[0]["variables"]["origin"]["default"] == "http://localhost:7861"
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_catalogue_has_57_rpcs() -> None:
    kinds = [kind for _, _, kind, _, _ in RPCS]
    assert (len(RPCS), kinds.count("unary"), kinds.count("stream"), kinds.count("bidi")) == (
        57,
        51,
        4,
        2,
    )


def test_every_unary_rpc_is_one_connect_post() -> None:
    ops = _by_id()
    for service, rpc, kind, request, response in RPCS:
        if kind != "unary":
            continue
        where = f"{service}.{rpc}"
        method, path, op = ops.pop(where)
        assert (method, path) == ("POST", f"/grpc/rune.api.{service}/{rpc}"), where
        assert op["requestBody"]["required"] is True, where
        assert op["requestBody"]["content"] == {"application/json": {"schema": _ref(request)}}
        reply = op["responses"]["200"]["content"]
        assert reply == {"application/json": {"schema": _ref(response)}}, where
        assert [p["$ref"].rsplit("/", 1)[1] for p in op["parameters"]] == [
            "ConnectProtocolVersion",
            "ConnectTimeoutMs",
        ], where
        assert "x-controldeck-assumed" not in op, where


def test_the_four_watch_rpcs_are_connect_server_streams() -> None:
    ops = _by_id()
    watches = [r for r in RPCS if r[2] == "stream"]
    assert len(watches) == 4
    for service, rpc, _, request, response in watches:
        method, path, op = ops[f"{service}.{rpc}"]
        assert (method, path) == ("POST", f"/grpc/rune.api.{service}/{rpc}")
        assert op["x-controldeck-stream"] == response
        media = op["requestBody"]["content"]
        assert list(media) == ["application/connect+json"]
        assert media["application/connect+json"]["x-controldeck-envelope"] == request
        assert list(op["responses"]["200"]["content"]) == ["application/connect+json"]
    # The generator takes the envelope's message for a request model.
    assert m.WatchServicesRequest().namespace is UNSET
    assert m.WatchScalingRequest(service_name="api").target_scale is UNSET


def test_the_bidirectional_rpcs_have_no_connect_path() -> None:
    paths = spec_document("rune")["paths"]
    assert "/grpc/rune.api.LogService/StreamLogs" not in paths
    assert "/grpc/rune.api.ExecService/StreamExec" not in paths
    # Their messages are described all the same.
    for name in ("LogRequest", "LogResponse", "ExecRequest", "ExecResponse", "ExecInitRequest"):
        assert name in _schemas()


def test_path_parameters_are_the_shared_components() -> None:
    components = spec_document("rune")["components"]["parameters"]
    for method, path, op in _operations():
        names = [p["$ref"].rsplit("/", 1)[1] for p in op.get("parameters", []) if "$ref" in p]
        path_names = [components[n]["name"] for n in names if components[n]["in"] == "path"]
        assert path_names == re.findall(r"\{(\w+)\}", path), f"{method} {path}"


def test_every_rest_route_of_the_table_and_nothing_else() -> None:
    connect = {("POST", f"/grpc/rune.api.{s}/{r}") for s, r, kind, _, _ in RPCS if kind != "bidi"}
    assert operations("rune") == connect | set(REST) | set(PROBES)
    assert len(operations("rune")) == 55 + 52 + 2
    ops = _by_id()
    for (method, path), rpc in REST.items():
        got_method, got_path, op = ops[f"rest.{rpc}"]
        assert (got_method, got_path) == (method, path), rpc
        assert op["x-controldeck-assumed"] is True, rpc
        assert "seed" in op["description"], rpc


def test_rest_routes_carry_the_same_messages_as_connect() -> None:
    ops = _by_id()
    for (method, _), rpc in REST.items():
        if rpc == "LogService.StreamLogs":
            continue
        _, _, rest = ops[f"rest.{rpc}"]
        _, _, connect = ops[rpc]
        assert rest["responses"]["200"] == connect["responses"]["200"], rpc
        assert rest["x-controldeck-method"] == connect["x-controldeck-method"], rpc
        if method in ("POST", "PUT"):
            body = rest["requestBody"]["content"]["application/json"]
            assert body == connect["requestBody"]["content"]["application/json"], rpc
            assert rest["requestBody"]["required"] is (rpc != "AdminService.AdminBootstrap"), rpc
        else:
            assert "requestBody" not in rest, rpc


def test_rest_query_parameters_are_the_camel_case_fields() -> None:
    ops = _by_id()

    def query(rpc: str) -> list[str]:
        params = ops[f"rest.{rpc}"][2].get("parameters", [])
        # Path parameters are shared components; query parameters are written inline.
        assert all(p["in"] == "query" for p in params if "$ref" not in p), rpc
        return [p["name"] for p in params if "$ref" not in p]

    assert query("NamespaceService.DeleteNamespace") == ["ignoreNotFound", "force"]
    assert query("ServiceService.DeleteService") == [
        "force",
        "detach",
        "dryRun",
        "gracePeriod",
        "now",
        "ignoreNotFound",
        "noDependencies",
        "timeoutSeconds",
    ]
    assert query("ServiceService.ListDeletionOperations") == ["status"]
    assert query("InstanceService.ListInstances") == ["serviceName", "nodeId", "status"]
    assert query("HealthService.GetHealth") == ["componentType", "name", "includeChecks"]
    assert query("LogService.StreamLogs") == ["follow", "tail", "since", "timestamps"]
    # Every query name is a field of the RPC's request message.
    requests_of = {f"{s}.{r}": req for s, r, _, req, _ in RPCS}
    for (_, _), rpc in REST.items():
        fields = _schemas()[requests_of[rpc]].get("properties", {})
        for name in query(rpc):
            assert name in fields, (rpc, name)


def test_every_operation_has_a_unique_id_a_method_and_the_shared_error() -> None:
    ids = [op["operationId"] for _, _, op in _operations()]
    assert len(ids) == len(set(ids)) == 109
    for method, path, op in _operations():
        where = f"{method} {path}"
        assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}, where
        assert [c for c in op["responses"] if c != "default"] == ["200"], where
        opid = op["operationId"]
        if opid in PROBES.values() or opid in ("healthz", "readyz"):
            assert op["x-controldeck-method"] == opid
            continue
        rpc = opid.removeprefix("rest.")
        assert op["x-controldeck-method"] == METHOD_NAMES[rpc], where
        assert op["tags"] == [rpc.split(".")[0]], where
    methods = {op["x-controldeck-method"] for _, _, op in _operations()}
    assert methods == {*METHOD_NAMES.values(), "healthz", "readyz"}


def test_the_error_response_is_json_or_text() -> None:
    error = spec_document("rune")["components"]["responses"]["Error"]
    assert error["content"] == {
        "application/json": {"schema": _ref("ConnectError")},
        "text/plain": {"schema": {"type": "string"}},
    }
    code = _schemas()["ConnectError"]["properties"]["code"]
    assert code["type"] == ["string", "integer"]


def test_bearer_everywhere_but_bootstrap_and_the_probes() -> None:
    public = {
        op["operationId"] for _, _, op in _operations() if op.get("security", [{"x": 1}]) == []
    }
    assert public == {
        "AdminService.AdminBootstrap",
        "rest.AdminService.AdminBootstrap",
        "healthz",
        "readyz",
    }


# -- requests and replies through openapi-core -----------------------------------------


def test_a_connect_call_needs_the_protocol_header() -> None:
    body = {"name": "api", "namespace": "default"}
    path = "/grpc/rune.api.ServiceService/GetService"
    request = _request("POST", path, json_body=body, headers=CONNECT)
    _check_request(request)
    _check_reply(request, 200, SERVICE_REPLY)
    with pytest.raises(Exception, match="Connect-Protocol-Version"):
        _check_request(_request("POST", path, json_body=body))
    with pytest.raises(Exception, match="Connect-Protocol-Version"):
        _check_request(
            _request("POST", path, json_body=body, headers={"Connect-Protocol-Version": "2"})
        )


def test_admin_bootstrap_sends_no_token() -> None:
    request = _request(
        "POST",
        "/grpc/rune.api.AdminService/AdminBootstrap",
        json_body={},
        headers=CONNECT,
        auth=False,
    )
    _check_request(request)
    _check_reply(request, 200, {"tokenId": "t1", "tokenSecret": "s3cr3t", "subjectId": "u1"})
    rest = _request("POST", "/v1/admin/bootstrap", auth=False)
    _check_request(rest)
    # Everything else needs the token.
    with pytest.raises(Exception, match=r"[Ss]ecurity"):
        _check_request(
            _request(
                "POST",
                "/grpc/rune.api.AuthService/WhoAmI",
                json_body={},
                headers=CONNECT,
                auth=False,
            )
        )


def test_int64_requests_are_strings_on_the_wire() -> None:
    path = "/grpc/rune.api.AuthService/CreateToken"
    body = unstructure(m.CreateTokenRequest(name="ci", ttl_seconds=3600))
    assert body == {"name": "ci", "ttlSeconds": "3600"}
    _check_request(_request("POST", path, json_body=body, headers=CONNECT))
    for bad in (3600, "1h"):
        with pytest.raises(Exception, match=r"does not match|is not of type"):
            _check_request(_request("POST", path, json_body={"ttlSeconds": bad}, headers=CONNECT))


def test_connect_errors_and_the_ui_gate() -> None:
    request = _request(
        "POST", "/grpc/rune.api.ServiceService/GetService", json_body={}, headers=CONNECT
    )
    _check_reply(request, 404, {"code": "not_found", "message": "service not found: api"})
    _check_reply(request, 404, {"code": 5, "message": "not found", "details": []})
    _check_reply(request, 401, b"missing bearer token", "text/plain")
    with pytest.raises(Exception, match="code"):
        _check_reply(request, 500, {"message": "no code"})


def test_a_watch_request_is_one_envelope() -> None:
    request = _request(
        "POST",
        "/grpc/rune.api.ServiceService/WatchServices",
        data=_envelope({"namespace": "*"}),
        headers={**CONNECT, "Content-Type": "application/connect+json"},
    )
    _check_request(request)
    frames = _envelope({"eventType": "EVENT_TYPE_ADDED"}) + _envelope({}, flag=2)
    _check_reply(request, 200, frames, "application/connect+json")


def test_rest_queries_and_bodies() -> None:
    delete = _request(
        "DELETE",
        "/v1/namespaces/default/services/api",
        params={"force": "true", "gracePeriod": "30", "dryRun": "false"},
    )
    _check_request(delete)
    _check_reply(delete, 200, {"deletionId": "del-1", "status": None, "partialCleanup": False})
    listing = _request(
        "GET", "/v1/namespaces/default/instances", params={"status": "INSTANCE_STATUS_RUNNING"}
    )
    _check_request(listing)
    with pytest.raises(Exception, match="status"):
        _check_request(_request("GET", "/v1/namespaces/default/instances", params={"status": "up"}))
    scale = _request(
        "POST",
        "/v1/namespaces/default/services/api/scale",
        json_body=unstructure(m.ScaleServiceRequest(name="api", namespace="default", scale=3)),
    )
    _check_request(scale)
    _check_reply(scale, 200, SERVICE_REPLY)
    _check_reply(scale, 400, {"code": 9, "message": "cannot scale", "details": []})


def test_sse_logs_and_probes() -> None:
    logs = _request(
        "GET",
        "/v1/namespaces/default/logs/api",
        params={"follow": "true", "tail": "10", "since": "5m", "timestamps": "true"},
    )
    _check_request(logs)
    # The conformance mock leaves event-stream bodies to the stream tests (no SSE decoder).
    op = _by_id()["rest.LogService.StreamLogs"][2]
    assert op["x-controldeck-stream"] == "LogResponse"
    assert list(op["responses"]["200"]["content"]) == ["text/event-stream"]
    for (method, path), word in PROBES.items():
        probe = _request(method, path, auth=False)
        _check_request(probe)
        _check_reply(probe, 200, word.encode(), "text/plain")


# -- the generated models ----------------------------------------------------------------


def test_the_generated_module_exposes_every_message_and_enum() -> None:
    names = [*MESSAGES, *ENUMS, *CONNECT_SHAPES]
    assert set(_schemas()) == set(names)
    assert len(_schemas()) == 139 + 9 + 3
    for name in MESSAGES + CONNECT_SHAPES:
        cls = getattr(m, name)
        assert attrs.has(cls) and issubclass(cls, Model), name
    for name, size in ENUMS.items():
        enum_cls = getattr(m, name)
        assert issubclass(enum_cls, OpenStrEnum), name
        assert len(list(enum_cls)) == size, name
        assert next(iter(enum_cls)).value.endswith("_UNSPECIFIED"), name


def test_attributes_are_snake_case_and_wire_names_camel_case() -> None:
    wire = {a.name: a.metadata.get("wire", a.name) for a in attrs.fields(m.Instance)}
    assert wire["service_name"] == "serviceName"
    assert wire["status_message"] == "statusMessage"
    assert wire["created_at"] == "createdAt"
    for name in MESSAGES:
        props = _schemas()[name].get("properties", {})
        fields = attrs.fields(getattr(m, name))
        assert [a.metadata.get("wire", a.name) for a in fields] == list(props), name


def test_request_models_leave_unset_fields_out() -> None:
    request = m.DeleteServiceRequest(name="api", namespace="default", force=True)
    assert unstructure(request) == {"name": "api", "namespace": "default", "force": True}
    assert unstructure(m.PolicyListRequest()) == {}
    with pytest.raises(InvalidArgumentError, match=r"DeleteServiceRequest\.force may not be None"):
        m.DeleteServiceRequest(force=None)  # type: ignore[arg-type]
    # A sub-message may be sent as null (protojson: unset).
    assert unstructure(m.CreateNamespaceRequest(namespace=None)) == {"namespace": None}


def test_int64_round_trips_as_int() -> None:
    reply = {
        "namespace": {
            "id": "ns-1",
            "name": "prod",
            "description": "",
            "labels": {},
            "createdAt": "1730937600",
            "updatedAt": "1730937700",
        },
        "status": {"code": 0, "message": "", "details": []},
    }
    decoded = structure(reply, m.GetNamespaceResponse, strict=True)
    assert decoded.namespace is not None
    assert decoded.namespace.created_at == 1730937600
    assert isinstance(decoded.namespace.created_at, int)
    assert unstructure(decoded) == reply
    tokens = structure(
        {"tokens": [{"id": "t", "issuedAt": 1730937600, "expiresAt": "0", "revoked": False}]},
        m.TokenListResponse,
    )
    assert (tokens.tokens[0].issued_at, tokens.tokens[0].expires_at) == (1730937600, 0)
    int64_fields = {
        (name, a.metadata.get("wire", a.name))
        for name in MESSAGES
        for a in attrs.fields(getattr(m, name))
        if "int64" in a.metadata
    }
    assert int64_fields == {
        ("Namespace", "createdAt"),
        ("Namespace", "updatedAt"),
        ("DeletionOperation", "startTime"),
        ("DeletionOperation", "endTime"),
        ("DeletionOperation", "estimatedCompletion"),
        ("Finalizer", "createdAt"),
        ("Finalizer", "updatedAt"),
        ("Finalizer", "completedAt"),
        ("CreateTokenRequest", "ttlSeconds"),
        ("TokenInfo", "issuedAt"),
        ("TokenInfo", "expiresAt"),
    }


def test_a_bad_int64_in_a_reply_names_its_path() -> None:
    reply = {"operations": [{"id": "d1", "startTime": "1730937600"}, {"startTime": "soon"}]}
    with pytest.raises(ResponseValidationError) as info:
        structure(reply, m.ListDeletionOperationsResponse)
    assert info.value.path == "$.operations[1].startTime"
    assert "expected an int64 decimal string" in str(info.value)


def test_an_emit_unpopulated_reply_decodes_strictly() -> None:
    reply = structure(SERVICE_REPLY, m.ServiceResponse, strict=True)
    service = reply.service
    assert service is not None
    assert (service.name, service.scale, service.status) == (
        "api",
        3,
        m.ServiceStatus.SERVICE_STATUS_RUNNING,
    )
    assert service.resources is not None and service.resources.memory is None
    assert service.health is None
    assert service.ports == [m.ServicePort(name="http", port=80, target_port=8080, protocol="tcp")]
    assert reply.status == m.Status(code=0, message="Service retrieved successfully", details=[])


def test_an_older_build_leaving_zero_values_out_decodes_to_proto3_defaults() -> None:
    instance = structure({"instance": {"id": "i-1"}}, m.InstanceResponse).instance
    assert instance is not None
    assert (instance.name, instance.pid, instance.status, instance.environment) == (
        "",
        0,
        m.InstanceStatus.INSTANCE_STATUS_UNSPECIFIED,
        {},
    )
    assert instance.metadata is None
    listing = structure({}, m.ListInstancesResponse)
    assert (listing.instances, listing.status, listing.paging) == ([], None, None)
    # null where a zero value belongs reads as the zero value too.
    assert structure({"instances": None}, m.ListInstancesResponse).instances == []
    field = attrs.fields_dict(attrs.resolve_types(m.Instance))["pid"]
    assert field.type is int and Unset not in get_args(field.type)


def test_an_unknown_enum_value_decodes_to_unknown() -> None:
    event = structure(
        {"eventType": "EVENT_TYPE_BOOKMARK", "service": None, "status": None},
        m.WatchServicesResponse,
        strict=True,
    )
    assert event.event_type == m.EventType.UNKNOWN
    assert event.event_type == "EVENT_TYPE_BOOKMARK"
    status = structure({"status": "INSTANCE_STATUS_EVICTED"}, m.Instance).status
    assert status == m.InstanceStatus.UNKNOWN
    assert m.InstanceStatus("INSTANCE_STATUS_RUNNING") is m.InstanceStatus.INSTANCE_STATUS_RUNNING
    with pytest.raises(InvalidArgumentError):
        m.InstanceStatus("RUNNING")


def test_secret_values_never_show() -> None:
    secret = structure(
        {"secret": {"name": "db", "namespace": "default", "data": {"password": "hunter2"}}},
        m.SecretResponse,
    ).secret
    assert secret is not None
    assert "hunter2" not in repr(secret)
    assert "data=<redacted>" in repr(secret)
    assert secret.data == {"password": "hunter2"}
    assert to_data(secret)["data"] == "<redacted>"
    assert to_data(secret, reveal_secrets=True)["data"] == {"password": "hunter2"}
    assert unstructure(m.CreateSecretRequest(secret=secret))["secret"]["data"] == {
        "password": "hunter2"
    }
    token = m.CreateTokenResponse(id="t", name="ci", secret="rune_s3cr3t")
    assert "rune_s3cr3t" not in repr(token)
    boot = m.AdminBootstrapResponse(token_id="t", token_secret="rune_b00t", subject_id="u")
    assert "rune_b00t" not in repr(boot)
    auth = m.RegistryAuthConfig(type="basic", username="me", password="pw1", token="tk1")
    assert "pw1" not in repr(auth) and "tk1" not in repr(auth) and "me" in repr(auth)


def test_secret_fields_follow_the_spec() -> None:
    marked = {
        (schema_name, prop)
        for schema_name, schema in _schemas().items()
        for prop, sub in schema.get("properties", {}).items()
        if sub.get("x-controldeck-secret")
    }
    assert marked == SECRETS
    assert {prop for _, prop in SECRETS} == m.SECRET_FIELDS
    for schema_name, prop in SECRETS:
        field = next(
            a
            for a in attrs.fields(getattr(m, schema_name))
            if a.metadata.get("wire", a.name) == prop
        )
        assert field.metadata.get("secret") is True, (schema_name, prop)


def test_the_connect_error_shapes_decode() -> None:
    assert structure({"code": "not_found", "message": "x"}, m.ConnectError).code == "not_found"
    assert structure({"code": 5, "details": []}, m.ConnectError).code == 5
    end = structure(
        {"error": {"code": "unavailable", "message": "bye"}, "metadata": {"a": ["1"]}},
        m.ConnectEndStream,
    )
    assert end.error == m.ConnectError(code="unavailable", message="bye")
    assert structure({}, m.ConnectEndStream) == m.ConnectEndStream()
