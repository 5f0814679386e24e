"""`FakeRune`'s two route tables: every RPC (for Connect), and the REST gateway rows that
map onto them (shared brief's table), with how a REST request becomes the RPC's message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controldeck.testing._rune_proto import ENUMS, field_of, parse, parse_scalar
from controldeck.testing._rune_wire import Json, RuneError

__all__ = ["REST", "RPCS", "Rest", "Rpc", "rest_message"]


@dataclass(frozen=True)
class Rpc:
    """One RPC: its messages, the handler method of `FakeRune`, and how it streams."""

    service: str
    method: str
    request: str
    response: str
    handler: str
    stream: bool = False  # a server stream (Connect only)
    bidi: bool = False  # bidi (not reachable over HTTP/1.1)
    public: bool = False  # no token needed

    @property
    def key(self) -> str:
        return f"{self.service}/{self.method}"


def _rpcs() -> dict[str, Rpc]:
    rows: list[Rpc] = []

    def add(service: str, method: str, request: str, response: str, handler: str,
            **flags: bool) -> None:  # fmt: skip
        rows.append(Rpc(service, method, request, response, handler, **flags))

    ns = "NamespaceService"
    add(ns, "CreateNamespace", "CreateNamespaceRequest", "CreateNamespaceResponse",
        "_create_namespace")  # fmt: skip
    add(ns, "GetNamespace", "GetNamespaceRequest", "GetNamespaceResponse", "_get_namespace")
    add(ns, "ListNamespaces", "ListNamespacesRequest", "ListNamespacesResponse",
        "_list_namespaces")  # fmt: skip
    add(ns, "DeleteNamespace", "DeleteNamespaceRequest", "DeleteNamespaceResponse",
        "_delete_namespace")  # fmt: skip
    add(ns, "WatchNamespaces", "WatchNamespacesRequest", "WatchNamespacesResponse",
        "namespaces", stream=True)  # fmt: skip
    svc = "ServiceService"
    add(svc, "CreateService", "CreateServiceRequest", "ServiceResponse", "_create_service")
    add(svc, "GetService", "GetServiceRequest", "ServiceResponse", "_get_service")
    add(svc, "ListServices", "ListServicesRequest", "ListServicesResponse", "_list_services")
    add(svc, "WatchServices", "WatchServicesRequest", "WatchServicesResponse", "services",
        stream=True)  # fmt: skip
    add(svc, "UpdateService", "UpdateServiceRequest", "ServiceResponse", "_update_service")
    add(svc, "DeleteService", "DeleteServiceRequest", "DeleteServiceResponse",
        "_delete_service")  # fmt: skip
    add(svc, "GetDeletionStatus", "GetDeletionStatusRequest", "GetDeletionStatusResponse",
        "_get_deletion_status")  # fmt: skip
    add(svc, "ListDeletionOperations", "ListDeletionOperationsRequest",
        "ListDeletionOperationsResponse", "_list_deletion_operations")  # fmt: skip
    add(svc, "ScaleService", "ScaleServiceRequest", "ServiceResponse", "_scale_service")
    add(svc, "WatchScaling", "WatchScalingRequest", "ScalingStatusResponse", "scaling",
        stream=True)  # fmt: skip
    add(svc, "ListInstances", "ListInstancesRequest", "ListInstancesResponse", "_list_instances")
    ins = "InstanceService"
    add(ins, "GetInstance", "GetInstanceRequest", "InstanceResponse", "_get_instance")
    add(ins, "ListInstances", "ListInstancesRequest", "ListInstancesResponse", "_list_instances")
    add(ins, "StartInstance", "InstanceActionRequest", "InstanceResponse", "_start_instance")
    add(ins, "StopInstance", "InstanceActionRequest", "InstanceResponse", "_stop_instance")
    add(ins, "RestartInstance", "InstanceActionRequest", "InstanceResponse", "_restart_instance")
    add(ins, "WatchInstances", "WatchInstancesRequest", "WatchInstancesResponse", "instances",
        stream=True)  # fmt: skip
    add("HealthService", "GetHealth", "GetHealthRequest", "GetHealthResponse", "_get_health")
    for service, kind, title in (
        ("SecretService", "secret", "Secret"),
        ("ConfigmapService", "configmap", "Configmap"),
    ):
        response = f"{title}Response"
        add(service, f"Create{title}", f"Create{title}Request", response, f"_create_{kind}")
        add(service, f"Get{title}", f"Get{title}Request", response, f"_get_{kind}")
        add(service, f"Update{title}", f"Update{title}Request", response, f"_update_{kind}")
        add(service, f"Delete{title}", f"Delete{title}Request", "Status", f"_delete_{kind}")
        add(service, f"List{title}s", f"List{title}sRequest", f"List{title}sResponse",
            f"_list_{kind}s")  # fmt: skip
    auth = "AuthService"
    add(auth, "WhoAmI", "WhoAmIRequest", "WhoAmIResponse", "_whoami")
    add(auth, "CreateToken", "CreateTokenRequest", "CreateTokenResponse", "_create_token")
    add(auth, "RevokeToken", "RevokeTokenRequest", "RevokeTokenResponse", "_revoke_token")
    admin = "AdminService"
    add(admin, "AdminBootstrap", "AdminBootstrapRequest", "AdminBootstrapResponse",
        "_admin_bootstrap", public=True)  # fmt: skip
    for method, handler in (
        ("PolicyCreate", "_policy_create"),
        ("PolicyUpdate", "_policy_update"),
        ("PolicyDelete", "_policy_delete"),
        ("PolicyGet", "_policy_get"),
        ("PolicyList", "_policy_list"),
        ("PolicyAttachToSubject", "_policy_attach"),
        ("PolicyDetachFromSubject", "_policy_detach"),
        ("UserCreate", "_user_create"),
        ("UserList", "_user_list"),
        ("TokenList", "_token_list"),
        ("ListRegistries", "_list_registries"),
        ("GetRegistry", "_get_registry"),
        ("AddRegistry", "_add_registry"),
        ("UpdateRegistry", "_update_registry"),
        ("RemoveRegistry", "_remove_registry"),
        ("BootstrapAuth", "_bootstrap_auth"),
        ("TestRegistry", "_test_registry"),
        ("RegistriesStatus", "_registries_status"),
    ):
        add(admin, method, f"{method}Request", f"{method}Response", handler)
    add("LogService", "StreamLogs", "", "", "", bidi=True)
    add("ExecService", "StreamExec", "", "", "", bidi=True)
    return {rpc.key: rpc for rpc in rows}


RPCS = _rpcs()


@dataclass(frozen=True)
class Rest:
    """One REST gateway route.

    Attributes:
        method: The HTTP method.
        template: The path, `{param}` one segment each.
        rpc: `Service/Method` it calls.
        body: The JSON body is the request message (else query parameters fill it).
        fields: Path parameter → the field it sets (dotted for a sub-message), or None
            for a parameter the message has no field for (checked by the handler).
    """

    method: str
    template: str
    rpc: str
    body: bool = False
    fields: Mapping[str, str | None] = field(default_factory=dict)


def _rest() -> list[Rest]:
    ns = "/v1/namespaces/{namespace}"
    where = {"namespace": "namespace", "name": "name"}
    rows = [
        Rest("GET", "/v1/namespaces", "NamespaceService/ListNamespaces"),
        Rest("POST", "/v1/namespaces", "NamespaceService/CreateNamespace", True),
        Rest("GET", "/v1/namespaces/{name}", "NamespaceService/GetNamespace", False,
             {"name": "name"}),
        Rest("DELETE", "/v1/namespaces/{name}", "NamespaceService/DeleteNamespace", False,
             {"name": "name"}),
        Rest("GET", f"{ns}/services", "ServiceService/ListServices", False,
             {"namespace": "namespace"}),
        Rest("POST", f"{ns}/services", "ServiceService/CreateService", True,
             {"namespace": "service.namespace"}),
        Rest("GET", f"{ns}/services/{{name}}", "ServiceService/GetService", False, where),
        Rest("PUT", f"{ns}/services/{{name}}", "ServiceService/UpdateService", True,
             {"namespace": "service.namespace", "name": "service.name"}),
        Rest("DELETE", f"{ns}/services/{{name}}", "ServiceService/DeleteService", False, where),
        Rest("GET", f"{ns}/services/{{name}}/deletion", "ServiceService/GetDeletionStatus",
             False, where),
        Rest("GET", f"{ns}/deletions", "ServiceService/ListDeletionOperations", False,
             {"namespace": "namespace"}),
        Rest("POST", f"{ns}/services/{{name}}/scale", "ServiceService/ScaleService", True, where),
        Rest("GET", f"{ns}/services/{{name}}/instances", "ServiceService/ListInstances", False,
             {"namespace": "namespace", "name": "serviceName"}),
        Rest("GET", f"{ns}/instances", "InstanceService/ListInstances", False,
             {"namespace": "namespace"}),
        Rest("GET", f"{ns}/instances/{{id}}", "InstanceService/GetInstance", False,
             {"namespace": "namespace", "id": "id"}),
    ]  # fmt: skip
    for action in ("start", "stop", "restart"):
        rows.append(
            Rest("POST", f"{ns}/instances/{{id}}/{action}",
                 f"InstanceService/{action.title()}Instance", True,
                 {"namespace": None, "id": "id"})
        )  # fmt: skip
    rows.append(Rest("GET", f"{ns}/health", "HealthService/GetHealth", False,
                     {"namespace": "namespace"}))  # fmt: skip
    for kind, title in (("secret", "Secret"), ("configmap", "Configmap")):
        service = f"{title}Service"
        rows += [
            Rest("GET", f"{ns}/{kind}s", f"{service}/List{title}s", False,
                 {"namespace": "namespace"}),
            Rest("POST", f"{ns}/{kind}s", f"{service}/Create{title}", True,
                 {"namespace": f"{kind}.namespace"}),
            Rest("GET", f"{ns}/{kind}s/{{name}}", f"{service}/Get{title}", False, where),
            Rest("PUT", f"{ns}/{kind}s/{{name}}", f"{service}/Update{title}", True,
                 {"namespace": f"{kind}.namespace", "name": f"{kind}.name"}),
            Rest("DELETE", f"{ns}/{kind}s/{{name}}", f"{service}/Delete{title}", False, where),
        ]  # fmt: skip
    admin = "AdminService"
    rows += [
        Rest("GET", "/v1/auth/whoami", "AuthService/WhoAmI"),
        Rest("POST", "/v1/auth/tokens", "AuthService/CreateToken", True),
        Rest("DELETE", "/v1/auth/tokens/{id}", "AuthService/RevokeToken", False, {"id": "id"}),
        Rest("POST", "/v1/admin/bootstrap", f"{admin}/AdminBootstrap", True),
        Rest("GET", "/v1/admin/policies", f"{admin}/PolicyList"),
        Rest("POST", "/v1/admin/policies", f"{admin}/PolicyCreate", True),
        Rest("GET", "/v1/admin/policies/{name}", f"{admin}/PolicyGet", False, {"name": "name"}),
        Rest("PUT", "/v1/admin/policies/{name}", f"{admin}/PolicyUpdate", True,
             {"name": "policy.name"}),
        Rest("DELETE", "/v1/admin/policies/{name}", f"{admin}/PolicyDelete", False,
             {"name": "name"}),
        Rest("POST", "/v1/admin/policies/{policyName}/attach", f"{admin}/PolicyAttachToSubject",
             True, {"policyName": "policyName"}),
        Rest("POST", "/v1/admin/policies/{policyName}/detach",
             f"{admin}/PolicyDetachFromSubject", True, {"policyName": "policyName"}),
        Rest("GET", "/v1/admin/users", f"{admin}/UserList"),
        Rest("POST", "/v1/admin/users", f"{admin}/UserCreate", True),
        Rest("GET", "/v1/admin/tokens", f"{admin}/TokenList"),
        Rest("GET", "/v1/admin/registries", f"{admin}/ListRegistries"),
        Rest("POST", "/v1/admin/registries", f"{admin}/AddRegistry", True),
        Rest("GET", "/v1/admin/registries/{name}", f"{admin}/GetRegistry", False,
             {"name": "name"}),
        Rest("PUT", "/v1/admin/registries/{name}", f"{admin}/UpdateRegistry", True,
             {"name": "registry.name"}),
        Rest("DELETE", "/v1/admin/registries/{name}", f"{admin}/RemoveRegistry", False,
             {"name": "name"}),
        Rest("POST", "/v1/admin/registries/{name}/test", f"{admin}/TestRegistry", True,
             {"name": "name"}),
        Rest("POST", "/v1/admin/registry-auth/bootstrap", f"{admin}/BootstrapAuth", True),
        Rest("GET", "/v1/admin/registry-status", f"{admin}/RegistriesStatus"),
    ]  # fmt: skip
    return rows


REST = _rest()

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def query_value(message: str, name: str, text: str) -> tuple[str, Any] | None:
    """A query parameter as the value of the request field it names (JSON or proto name;
    Go's ParseBool for bools), or None for a name the message has no scalar field for."""
    found = field_of(message, name)
    if found is None or found.repeated or found.type == "map":
        return None
    if found.type == "bool":
        if text not in _TRUE + _FALSE:
            raise RuneError(
                "invalid_argument", f"parsing field {found.json_name!r}: invalid bool {text!r}"
            )
        return found.json_name, text in _TRUE
    if found.type == "string":
        return found.json_name, text
    if found.type in ENUMS or found.type in ("int32", "uint32", "int64", "uint64"):
        value: Any = int(text) if text.lstrip("-").isdigit() else text
        return found.json_name, parse_scalar(message, found, value)
    return None  # a sub-message: not settable from the query


def rest_message(
    route: Rest, request_type: str, params: dict[str, str], query: dict[str, str], raw: bytes
) -> tuple[Json, dict[str, str]]:
    """The RPC request message of a REST call, and the path parameters it has no field for.

    A body route reads the JSON body (an empty body is `{}`, as grpc-gateway allows);
    other routes read the query. Path parameters then override what they name.

    Raises:
        RuneError: `invalid_argument` — a body that is not a JSON object, or a bad value.
    """
    data: Json = {}
    if route.body:
        if raw.strip():
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise RuneError("invalid_argument", f"invalid JSON body: {exc}") from None
            if not isinstance(data, dict):
                raise RuneError("invalid_argument", "the request body must be a JSON object")
    else:
        for name, text in query.items():
            value = query_value(request_type, name, text)
            if value is not None:
                data[value[0]] = value[1]
    extra: dict[str, str] = {}
    for param, target in route.fields.items():
        if target is None:
            extra[param] = params[param]
            continue
        holder = data
        *parents, leaf = target.split(".")
        for parent in parents:
            child = holder.get(parent)
            if not isinstance(child, dict):
                child = {}
                holder[parent] = child
            holder = child
        holder[leaf] = params[param]
    return parse(request_type, data), extra
