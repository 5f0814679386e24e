"""The Rune messages the fake reads and writes, and protojson both ways.

The table below is `../shared/reference/rune-proto.md` (package `rune.api`, runestack/rune
413bfe0) transcribed: one message per line, `jsonName:type` per field, `*` for repeated,
`map` for `map<string,string>`. The exec messages are left out (bidi only;
`LogRequest` stays: it names the REST log route's query parameters).

`parse` reads a request the way the server's codec does (`protojson.Unmarshal` with
`DiscardUnknown`): the camelCase or the proto (snake_case) name, unknown keys ignored,
`null` as unset, int64 as a string or a number, enums by name or number; anything else is
`invalid_argument`. It returns the message with every field present (defaults filled,
int64 as `int`, enums as names, unset sub-messages as None), which is the form the fake
keeps. `emit` writes a message the way the server's codec does (`EmitUnpopulated`): every
field, zero values included, int64 as decimal strings, enums as names, unset sub-messages
as `null`.
"""

from __future__ import annotations

import re
from typing import Any

from controldeck.testing._rune_wire import Json, RuneError

__all__ = ["ENUMS", "MESSAGES", "Field", "emit", "field_of", "parse", "parse_scalar"]


def _values(prefix: str, names: str) -> tuple[str, ...]:
    return tuple(prefix + name for name in names.split())


ENUMS: dict[str, tuple[str, ...]] = {
    "ResourceType": _values("RESOURCE_TYPE_", "UNSPECIFIED SERVICE INSTANCE NODE SECRET CONFIG"),
    "EventType": _values("EVENT_TYPE_", "UNSPECIFIED ADDED MODIFIED DELETED"),
    "RestartPolicy": _values("RESTART_POLICY_", "UNSPECIFIED ALWAYS ON_FAILURE NEVER"),
    "ProbeType": _values("PROBE_TYPE_", "UNSPECIFIED HTTP TCP COMMAND"),
    "ServiceStatus": _values("SERVICE_STATUS_", "UNSPECIFIED PENDING RUNNING UPDATING FAILED"),
    "ScalingMode": _values("SCALING_MODE_", "UNSPECIFIED IMMEDIATE GRADUAL"),
    "InstanceStatus": _values(
        "INSTANCE_STATUS_",
        "UNSPECIFIED PENDING CREATED STARTING RUNNING STOPPING STOPPED FAILED EXITED DELETED",
    ),
    "HealthStatus": _values("HEALTH_STATUS_", "UNSPECIFIED UNKNOWN HEALTHY UNHEALTHY DEGRADED"),
    "HealthCheckType": _values("HEALTH_CHECK_TYPE_", "UNSPECIFIED LIVENESS READINESS STARTUP"),
}

_TABLE = """
Status code:int32 message:string details:*string
PagingParams limit:int32 offset:int32 continuationToken:string
ResourceLimit request:string limit:string
Resources cpu:ResourceLimit memory:ResourceLimit
ProcessSpec command:string args:*string workingDir:string securityContext:ProcessSecurityContext
ProcessSecurityContext user:string group:string readOnlyFs:bool capabilities:*string
    allowedSyscalls:*string deniedSyscalls:*string
ServicePort name:string port:int32 targetPort:int32 protocol:string
ServiceExpose port:string host:string hostPort:uint32 path:string
Probe type:ProbeType path:string port:int32 command:*string initialDelaySeconds:int32
    periodSeconds:int32 timeoutSeconds:int32 successThreshold:int32 failureThreshold:int32
HealthCheck liveness:Probe readiness:Probe
Namespace id:string name:string description:string labels:map createdAt:int64 updatedAt:int64
CreateNamespaceRequest namespace:Namespace
GetNamespaceRequest name:string
GetNamespaceResponse namespace:Namespace status:Status
CreateNamespaceResponse namespace:Namespace status:Status
ListNamespacesRequest labelSelector:map fieldSelector:map
ListNamespacesResponse namespaces:*Namespace status:Status paging:PagingParams
DeleteNamespaceRequest name:string ignoreNotFound:bool force:bool
DeleteNamespaceResponse status:Status
WatchNamespacesRequest labelSelector:map fieldSelector:map
WatchNamespacesResponse namespace:Namespace eventType:EventType status:Status
Service id:string name:string namespace:string labels:map image:string command:string
    args:*string env:map envFrom:*EnvFromSource scale:int32 ports:*ServicePort
    resources:Resources health:HealthCheck status:ServiceStatus runtime:string
    process:ProcessSpec restartPolicy:RestartPolicy secretMounts:*SecretMount
    configmapMounts:*ConfigmapMount metadata:ServiceMetadata dependencies:*DependencyRef
    expose:ServiceExpose
EnvFromSource secretName:string configmapName:string namespace:string prefix:string
ServiceMetadata generation:int32 createdAt:string updatedAt:string lastNonZeroScale:int32
DependencyRef service:string namespace:string secret:string configmap:string
SecretMount name:string mountPath:string secretName:string items:*KeyToPath
ConfigmapMount name:string mountPath:string configmapName:string items:*KeyToPath
CreateServiceRequest service:Service deploymentTag:string ensureNamespace:bool
ServiceResponse service:Service status:Status
GetServiceRequest name:string namespace:string
ListServicesRequest namespace:string labelSelector:map fieldSelector:map paging:PagingParams
ListServicesResponse services:*Service status:Status paging:PagingParams
WatchServicesRequest namespace:string labelSelector:map fieldSelector:map
WatchServicesResponse service:Service eventType:EventType status:Status
UpdateServiceRequest service:Service deploymentTag:string force:bool
DeleteServiceRequest name:string namespace:string force:bool timeoutSeconds:int32 detach:bool
    dryRun:bool gracePeriod:int32 now:bool ignoreNotFound:bool finalizers:*string
    noDependencies:bool
DeleteServiceResponse deletionId:string status:Status warnings:*string errors:*string
    cleanupOperations:*string partialCleanup:bool finalizers:*Finalizer
GetDeletionStatusRequest namespace:string name:string
GetDeletionStatusResponse operation:DeletionOperation
ListDeletionOperationsRequest namespace:string status:string
ListDeletionOperationsResponse operations:*DeletionOperation
DeletionOperation id:string namespace:string serviceName:string totalInstances:int32
    deletedInstances:int32 failedInstances:int32 startTime:int64 endTime:int64 status:string
    failureReason:string pendingOperations:*string estimatedCompletion:int64
    finalizers:*Finalizer finalizerOrder:*string finalizerStatus:string
Finalizer id:string name:string type:string status:string error:string
    dependencies:*FinalizerDependency createdAt:int64 updatedAt:int64 completedAt:int64
FinalizerDependency dependsOn:string required:bool
ScaleServiceRequest name:string namespace:string scale:int32 mode:ScalingMode stepSize:int32
    intervalSeconds:int32
WatchScalingRequest serviceName:string namespace:string targetScale:int32
ScalingStatusResponse currentScale:int32 targetScale:int32 runningInstances:int32
    pendingInstances:int32 complete:bool status:Status
Instance id:string runner:string namespace:string name:string serviceId:string
    serviceName:string nodeId:string ip:string status:InstanceStatus statusMessage:string
    containerId:string pid:int32 createdAt:string updatedAt:string resources:Resources
    environment:map metadata:InstanceMetadata
InstanceMetadata generation:int32 deletionTimestamp:string restartCount:int32
    secretMounts:*ResolvedSecretMount configMounts:*ResolvedConfigMount
ResolvedSecretMount name:string mountPath:string data:map items:*KeyToPath
ResolvedConfigMount name:string mountPath:string data:map items:*KeyToPath
KeyToPath key:string path:string
GetInstanceRequest id:string namespace:string
InstanceResponse instance:Instance status:Status
ListInstancesRequest serviceName:string namespace:string nodeId:string status:InstanceStatus
    paging:PagingParams labelSelector:map fieldSelector:map
ListInstancesResponse instances:*Instance status:Status paging:PagingParams
InstanceActionRequest id:string timeoutSeconds:int32 force:bool
WatchInstancesRequest namespace:string serviceId:string labelSelector:map fieldSelector:map
WatchInstancesResponse instance:Instance eventType:EventType status:Status
LogRequest resourceTarget:string namespace:string follow:bool tail:int32 since:string
    until:string timestamps:bool filter:string parameterUpdate:bool showLogs:bool
    showEvents:bool showStatus:bool
LogResponse serviceName:string instanceId:string instanceName:string timestamp:string
    content:string stream:string status:Status logLevel:string
HealthCheckResult type:HealthCheckType status:HealthStatus message:string timestamp:string
    consecutiveSuccesses:int32 consecutiveFailures:int32
ComponentHealth componentType:string id:string name:string namespace:string status:HealthStatus
    message:string timestamp:string checkResults:*HealthCheckResult
GetHealthRequest componentType:string name:string namespace:string includeChecks:bool
GetHealthResponse components:*ComponentHealth status:Status
Secret name:string namespace:string type:string data:map version:int32 createdAt:string
    updatedAt:string
CreateSecretRequest secret:Secret ensureNamespace:bool
GetSecretRequest name:string namespace:string
UpdateSecretRequest secret:Secret
DeleteSecretRequest name:string namespace:string
ListSecretsRequest namespace:string labelSelector:map fieldSelector:map paging:PagingParams
ListSecretsResponse secrets:*Secret status:Status
SecretResponse secret:Secret status:Status
Configmap name:string namespace:string data:map version:int32 createdAt:string updatedAt:string
CreateConfigmapRequest configmap:Configmap ensureNamespace:bool
GetConfigmapRequest name:string namespace:string
UpdateConfigmapRequest configmap:Configmap
DeleteConfigmapRequest name:string namespace:string
ListConfigmapsRequest namespace:string labelSelector:map fieldSelector:map paging:PagingParams
ConfigmapResponse configmap:Configmap status:Status
ListConfigmapsResponse configmaps:*Configmap status:Status
WhoAmIRequest
WhoAmIResponse subjectId:string subjectName:string subjectEmail:string policies:*string
CreateTokenRequest name:string subjectId:string subjectName:string subjectType:string
    policies:*string ttlSeconds:int64 description:string
CreateTokenResponse id:string name:string secret:string
RevokeTokenRequest id:string
RevokeTokenResponse revoked:bool
Subject id:string kind:string name:string email:string policies:*string
AdminBootstrapRequest
AdminBootstrapResponse tokenId:string tokenSecret:string subjectId:string
PolicyRule resource:string verbs:*string namespace:string
Policy id:string name:string description:string rules:*PolicyRule builtin:bool
PolicyCreateRequest policy:Policy
PolicyCreateResponse policy:Policy
PolicyUpdateRequest policy:Policy
PolicyUpdateResponse policy:Policy
PolicyDeleteRequest id:string name:string
PolicyDeleteResponse deleted:bool
PolicyGetRequest id:string name:string
PolicyGetResponse policy:Policy
PolicyListRequest
PolicyListResponse policies:*Policy
PolicyAttachToSubjectRequest policyId:string policyName:string subjectId:string
    subjectName:string subjectKind:string
PolicyAttachToSubjectResponse attached:bool
PolicyDetachFromSubjectRequest policyId:string policyName:string subjectId:string
    subjectName:string subjectKind:string
PolicyDetachFromSubjectResponse detached:bool
UserCreateRequest name:string email:string policies:*string
UserCreateResponse user:Subject
UserListRequest
UserListResponse users:*Subject
TokenInfo id:string name:string subjectId:string subjectType:string description:string
    issuedAt:int64 expiresAt:int64 revoked:bool
TokenListRequest
TokenListResponse tokens:*TokenInfo
RegistryAuthConfig type:string username:string password:string token:string region:string
    fromSecret:string bootstrap:bool manage:string immutable:bool data:map
RegistryConfig name:string registry:string auth:RegistryAuthConfig
ListRegistriesRequest
ListRegistriesResponse registries:*RegistryConfig
GetRegistryRequest name:string
GetRegistryResponse registry:RegistryConfig
AddRegistryRequest registry:RegistryConfig
AddRegistryResponse registry:RegistryConfig
UpdateRegistryRequest registry:RegistryConfig
UpdateRegistryResponse registry:RegistryConfig
RemoveRegistryRequest name:string
RemoveRegistryResponse deleted:bool
BootstrapAuthRequest name:string type:string all:bool
BootstrapAuthResponse updated:int32
TestRegistryRequest name:string imageRef:string
TestRegistryResponse ok:bool message:string
RegistryRuntimeStatus name:string registry:string type:string authConfigured:bool
    lastBootstrapAt:string lastError:string
RegistriesStatusRequest
RegistriesStatusResponse registries:*RegistryRuntimeStatus
"""

_SCALARS = frozenset({"string", "bool", "int32", "uint32", "int64", "uint64", "map"})
_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_INTEGER = re.compile(r"-?[0-9]+")


class Field:
    """One field of a message: its JSON name, its proto name, its type and whether it is
    repeated."""

    __slots__ = ("json_name", "proto_name", "repeated", "type")

    def __init__(self, spec: str) -> None:
        name, _, typ = spec.partition(":")
        self.json_name = name
        self.proto_name = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        self.repeated = typ.startswith("*")
        self.type = typ.lstrip("*")

    def default(self) -> Any:
        """The field's value when unset, in the fake's form."""
        if self.repeated:
            return []
        if self.type == "map":
            return {}
        if self.type == "string":
            return ""
        if self.type == "bool":
            return False
        if self.type in _RANGES:
            return 0
        if self.type in ENUMS:
            return ENUMS[self.type][0]
        return None  # a message


def _load(table: str) -> dict[str, tuple[Field, ...]]:
    messages: dict[str, tuple[Field, ...]] = {}
    for block in re.split(r"\n(?=\S)", table.strip()):
        name, *fields = block.split()
        messages[name] = tuple(Field(spec) for spec in fields)
    return messages


MESSAGES = _load(_TABLE)
_BY_NAME = {
    name: {key: f for f in fields for key in (f.json_name, f.proto_name)}
    for name, fields in MESSAGES.items()
}


def field_of(message: str, name: str) -> Field | None:
    """The field of `message` called `name` (JSON or proto name), or None."""
    return _BY_NAME[message].get(name)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _bad(message: str, field: Field, value: Any) -> RuneError:
    # The value itself is not echoed: it may be a secret (Secret.data, a registry password).
    kind = "repeated " + field.type if field.repeated else field.type
    return RuneError(
        "invalid_argument",
        f"proto: invalid value for {kind} field {field.json_name} of rune.api.{message}: "
        f"got {_json_type(value)}",
    )


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def parse_scalar(message: str, field: Field, value: Any) -> Any:
    """One non-repeated, non-message value as protojson reads it."""
    typ = field.type
    if typ == "string" and isinstance(value, str):
        return value
    if typ == "bool" and isinstance(value, bool):
        return value
    if typ in _RANGES:
        number = _integer(value)
        low, high = _RANGES[typ]
        if number is not None and low <= number <= high:
            return number
    if typ in ENUMS:
        names = ENUMS[typ]
        if isinstance(value, str) and value in names:
            return value
        index = _integer(value) if not isinstance(value, str) else None
        if index is not None and 0 <= index < len(names):
            return names[index]
    if (
        typ == "map"
        and isinstance(value, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        return dict(value)
    raise _bad(message, field, value)


def parse(message: str, data: Any) -> Json:
    """A request (or stored) message from its JSON form, with every field present.

    Raises:
        RuneError: `invalid_argument`, naming the first bad field.
    """
    if not isinstance(data, dict):
        raise RuneError(
            "invalid_argument", f"proto: syntax error: rune.api.{message} must be a JSON object"
        )
    out: Json = {f.json_name: f.default() for f in MESSAGES[message]}
    for key, value in data.items():
        field = field_of(message, key)
        if field is None or value is None:
            continue  # DiscardUnknown; null is unset
        if field.repeated:
            if not isinstance(value, list):
                raise _bad(message, field, value)
            out[field.json_name] = [_one(message, field, item) for item in value]
        else:
            out[field.json_name] = _one(message, field, value)
    return out


def _one(message: str, field: Field, value: Any) -> Any:
    if field.type in _SCALARS or field.type in ENUMS:
        return parse_scalar(message, field, value)
    if not isinstance(value, dict):
        raise _bad(message, field, value)
    return parse(field.type, value)


def emit(message: str, value: Json | None) -> Json | None:
    """The protojson form of a message the fake keeps (`EmitUnpopulated`); None is `null`."""
    if value is None:
        return None
    out: Json = {}
    for field in MESSAGES[message]:
        raw = value.get(field.json_name)
        if field.repeated:
            out[field.json_name] = [_emit_one(field, item) for item in raw or ()]
        elif raw is None:
            default = field.default()
            out[field.json_name] = _emit_one(field, default) if default is not None else None
        else:
            out[field.json_name] = _emit_one(field, raw)
    return out


def _emit_one(field: Field, value: Any) -> Any:
    typ = field.type
    if typ in ("int64", "uint64"):
        return str(int(value))
    if typ == "map":
        return dict(value)
    if typ in _SCALARS:
        return value
    if typ in ENUMS:
        return value if isinstance(value, str) else ENUMS[typ][int(value)]
    return emit(typ, value)
