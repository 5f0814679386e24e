"""Rune instances, health, secrets, configmaps and logs (reference §7.1, §9).

Choices made from the protos and the server source (runestack/rune `pkg/api/service/`):

- Replies that only wrap one object are unwrapped: `get_instance` returns the `Instance`,
  `list_secrets` the `list[Secret]`, `get_health` the `list[ComponentHealth]`. The
  informational `status` of the envelope (code 0, a message like "Found 2 instances") is
  dropped; errors arrive as Connect/gateway errors, never in it. `delete_secret` and
  `delete_configmap` return the `Status` message itself: it is the whole reply.
- `start_instance`, `stop_instance` and `restart_instance`: the REST route names the
  namespace; the Connect request (`InstanceActionRequest {id, timeoutSeconds, force}`) has no
  namespace field, and runed looks the instance up in `default` (instance.go
  `StartInstance` calls `GetInstance` with the id only).
- `update_secret` sends `type` too (default `static`): runed replaces the stored type with
  the request's, so an update without it would store an empty type.
- Create on an existing secret or configmap is an update on the server (secret.go,
  configmap.go: an existing name falls back to `Update*`), so `create_*` is an upsert.
- Secret values are passed to the engine as per-call secrets: they are masked in debug
  logs and error messages whatever key they appear under (values shorter than 4
  characters are not masked by value). The spec marks `data` secret, so logged bodies
  mask the whole map (a configmap's too), and `repr(Secret)` hides it.
- `logs()` runs over gRPC (`LogService/StreamLogs`, `_grpc_streams.py`) or the REST
  gateway (`GET /v1/namespaces/{ns}/logs/{target}`, Server-Sent Events). runed serves logs
  only as that bidirectional gRPC stream, which HTTP/1.1 cannot carry, so on the Connect
  transport it raises `InvalidArgumentError` pointing to transport="grpc".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import NOT_GIVEN, CallOptions
from controldeck._core._sse import ServerSentEvent
from controldeck._core._streams import Stream, sse_stream
from controldeck._core._validate import require_bool, require_str
from controldeck.errors import InvalidArgumentError
from controldeck.rune._base import Rest, RuneBase, namespace_of, reply_part, seg

if TYPE_CHECKING:
    import requests

    from controldeck._generated import rune as models
    from controldeck._generated.rune import (
        ComponentHealth,
        Configmap,
        Instance,
        InstanceStatus,
        LogResponse,
        Secret,
        Status,
        WatchInstancesResponse,
    )
    from controldeck.rune._grpc_streams import LogStream
else:
    models = LazyModule("controldeck._generated.rune")

__all__ = ["ResourcesAPI"]

_MAX_INT32 = 2**31 - 1

_GRPC_EXTRA_HINT = (
    "runed serves logs only over its bidirectional gRPC stream (LogService/StreamLogs), "
    "which the Connect HTTP transport cannot carry. Use RuneClient(..., transport='grpc', "
    "grpc_target='host:7863') (pip install 'controldeck[grpc]'), or "
    "RuneClient(..., transport='rest') against a REST gateway that serves "
    "/v1/namespaces/{ns}/logs/{target}"
)


# -- argument checks --------------------------------------------------------------------


def _name(what: str, value: Any) -> str:
    return require_str(what, value)


def _optional_int32(what: str, value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= _MAX_INT32:
        raise InvalidArgumentError(f"{what} must be between 0 and {_MAX_INT32}, got {value}")
    return value


def _data(what: str, value: Any) -> dict[str, str]:
    """A `map<string, string>`: string keys (non-empty) to string values."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a mapping of strings to strings, got {type(value).__name__}"
        )
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"{what} keys must be non-empty strings, got {key!r:.40}")
        if not isinstance(item, str):
            # The value itself may be a secret: name its type only.
            raise InvalidArgumentError(
                f"{what}[{key!r:.40}] must be a string, got {type(item).__name__}"
            )
        out[key] = item
    return out


def _instance_status(value: Any) -> InstanceStatus | None:
    if value is None:
        return None
    if isinstance(value, models.InstanceStatus):
        return value
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"status must be an InstanceStatus or its name, got {type(value).__name__}"
        )
    return models.InstanceStatus(value)


def _since(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgumentError("since must be a timezone-aware datetime (or a string)")
        return value.isoformat()
    return require_str("since", value)


# -- replies ----------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    """A repeated reply field: absent or null (older builds) is empty."""
    if value is None or value is UNSET:
        return []
    return list(value)


class ResourcesAPI(RuneBase):
    """Rune instances, health, secrets, configmaps and logs."""

    # -- instances ----------------------------------------------------------------------

    def get_instance(
        self,
        instance_id: str,
        namespace: str = "default",
        **options: Unpack[CallOptions],
    ) -> Instance:
        """One instance by id (`InstanceService/GetInstance`).

        Args:
            instance_id: The instance id.
            namespace: Its namespace.

        Returns:
            The instance (the reply's informational `status` is dropped).

        Raises:
            InvalidArgumentError: An empty id or namespace; nothing is sent.
            NotFoundError: No such instance (some builds answer `internal` instead).

        Example:
            >>> instance = rune.get_instance("9b1d...", "default")
            >>> instance.status, instance.node_id
        """
        instance_id = _name("instance_id", instance_id)
        ns = namespace_of(namespace)
        reply = self._rpc(
            "InstanceService",
            "GetInstance",
            models.GetInstanceRequest(id=instance_id, namespace=ns),
            models.InstanceResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(ns)}/instances/{seg(instance_id)}"),
            read=True,
            **options,
        )
        return reply_part(reply.instance, "GetInstance", "instance")

    def list_instances(
        self,
        namespace: str = "default",
        *,
        service_name: str | None = None,
        node_id: str | None = None,
        status: InstanceStatus | str | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Instance]:
        """The instances of a namespace, optionally filtered (`InstanceService/ListInstances`).

        The server filters; it returns every match at once (no paging).

        Args:
            namespace: The namespace.
            service_name: Only this service's instances (its name, not its id).
            node_id: Only instances on this node.
            status: Only instances in this state: an `InstanceStatus` or its full name
                (`"INSTANCE_STATUS_RUNNING"`).

        Returns:
            The instances.

        Raises:
            InvalidArgumentError: An empty namespace or filter, or an unknown status;
                nothing is sent.

        Example:
            >>> running = rune.list_instances(
            ...     "default", service_name="api", status="INSTANCE_STATUS_RUNNING"
            ... )
        """
        ns = namespace_of(namespace)
        service = None if service_name is None else _name("service_name", service_name)
        node = None if node_id is None else _name("node_id", node_id)
        state = _instance_status(status)
        reply = self._rpc(
            "InstanceService",
            "ListInstances",
            models.ListInstancesRequest(
                namespace=ns,
                service_name=UNSET if service is None else service,
                node_id=UNSET if node is None else node,
                status=UNSET if state is None else state,
            ),
            models.ListInstancesResponse,
            rest=Rest(
                "GET",
                f"/v1/namespaces/{seg(ns)}/instances",
                query={"serviceName": service, "nodeId": node, "status": state},
            ),
            read=True,
            **options,
        )
        return _items(reply.instances)

    def start_instance(
        self,
        instance_id: str,
        namespace: str = "default",
        *,
        timeout_seconds: int | None = None,
        force: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Instance:
        """Start a stopped instance (`InstanceService/StartInstance`).

        Over Connect the request carries no namespace (the proto has none): runed looks
        the instance up in `default`. The REST route names `namespace`.

        Args:
            instance_id: The instance id.
            namespace: Its namespace (REST path only).
            timeout_seconds: How long the server may take (it defaults to 30 s).
            force: Ask the runner to force the action.

        Returns:
            The instance after the action.

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.
            PermissionDeniedError: The token's policy lacks `*:*` (runed's RBAC maps
                instance actions to it).

        Example:
            >>> rune.start_instance("9b1d...").status
        """
        return self._instance_action(
            "StartInstance", "start", instance_id, namespace, timeout_seconds, force, options
        )

    def stop_instance(
        self,
        instance_id: str,
        namespace: str = "default",
        *,
        timeout_seconds: int | None = None,
        force: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Instance:
        """Stop a running instance (`InstanceService/StopInstance`).

        Over Connect the request carries no namespace (see `start_instance`).

        Args:
            instance_id: The instance id.
            namespace: Its namespace (REST path only).
            timeout_seconds: Grace period before the runner kills it (server default 30 s).
            force: Ask the runner to force the stop.

        Returns:
            The instance after the action.

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.

        Example:
            >>> rune.stop_instance("9b1d...", timeout_seconds=10).status
        """
        return self._instance_action(
            "StopInstance", "stop", instance_id, namespace, timeout_seconds, force, options
        )

    def restart_instance(
        self,
        instance_id: str,
        namespace: str = "default",
        *,
        timeout_seconds: int | None = None,
        force: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Instance:
        """Stop, then start an instance (`InstanceService/RestartInstance`).

        Over Connect the request carries no namespace (see `start_instance`).

        Args:
            instance_id: The instance id.
            namespace: Its namespace (REST path only).
            timeout_seconds: Grace period of the stop (server default 30 s).
            force: Ask the runner to force the actions.

        Returns:
            The instance after the restart.

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.

        Example:
            >>> rune.restart_instance("9b1d...").metadata.restart_count
        """
        return self._instance_action(
            "RestartInstance", "restart", instance_id, namespace, timeout_seconds, force, options
        )

    def _instance_action(
        self,
        method: str,
        verb: str,
        instance_id: Any,
        namespace: Any,
        timeout_seconds: Any,
        force: Any,
        options: CallOptions,
    ) -> Instance:
        instance_id = _name("instance_id", instance_id)
        ns = namespace_of(namespace)
        seconds = _optional_int32("timeout_seconds", timeout_seconds)
        forced = None if force is None else require_bool("force", force)
        reply = self._rpc(
            "InstanceService",
            method,
            models.InstanceActionRequest(
                id=instance_id,
                timeout_seconds=UNSET if seconds is None else seconds,
                force=UNSET if forced is None else forced,
            ),
            models.InstanceResponse,
            rest=Rest(
                "POST", f"/v1/namespaces/{seg(ns)}/instances/{seg(instance_id)}/{verb}", body=True
            ),
            **options,
        )
        return reply_part(reply.instance, method, "instance")

    def watch_instances(
        self,
        namespace: str = "default",
        *,
        service_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[WatchInstancesResponse]:
        """Instance events as they happen (`InstanceService/WatchInstances`, Connect only).

        The server first replays the current instances as `EVENT_TYPE_ADDED`, then sends
        changes. The stream has no idle limit; use it in a `with` block.

        Args:
            namespace: The namespace to watch.
            service_id: Only this service's instances (its id, not its name).

        Returns:
            The open stream of `WatchInstancesResponse` (`event_type`, `instance`).

        Raises:
            InvalidArgumentError: A bad argument, or the client uses the REST transport
                (the gateway has no watch routes); nothing is sent.
            StreamError: The stream ended with an error (while iterating; `.code` is the
                mapped Connect code).

        Example:
            >>> with rune.watch_instances("default") as events:
            ...     for event in events:
            ...         print(event.event_type, event.instance.name, event.instance.status)
        """
        ns = namespace_of(namespace)
        service = None if service_id is None else _name("service_id", service_id)
        return self._watch(
            "InstanceService",
            "WatchInstances",
            models.WatchInstancesRequest(
                namespace=ns, service_id=UNSET if service is None else service
            ),
            models.WatchInstancesResponse,
            **options,
        )

    # -- health -------------------------------------------------------------------------

    def get_health(
        self,
        component_type: str,
        *,
        name: str | None = None,
        namespace: str = "default",
        include_checks: bool = False,
        **options: Unpack[CallOptions],
    ) -> list[ComponentHealth]:
        """The health of platform components (`HealthService/GetHealth`).

        Args:
            component_type: `"service"`, `"instance"`, `"node"` or `"api-server"` (the
                types runed knows; another is refused with `invalid_argument`).
            name: One component: a service name, an instance id, a node name. Without it,
                every component of the type in the namespace.
            namespace: The namespace (services and instances).
            include_checks: Add each component's check results (`check_results`).

        Returns:
            One `ComponentHealth` per component.

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.
            BadRequestError: The server does not know `component_type`.
            NotFoundError: No such service or instance.

        Example:
            >>> [(c.name, c.status) for c in rune.get_health("service")]
        """
        kind = _name("component_type", component_type)
        one = None if name is None else _name("name", name)
        ns = namespace_of(namespace)
        checks = require_bool("include_checks", include_checks)
        reply = self._rpc(
            "HealthService",
            "GetHealth",
            models.GetHealthRequest(
                component_type=kind,
                name=UNSET if one is None else one,
                namespace=ns,
                include_checks=True if checks else UNSET,
            ),
            models.GetHealthResponse,
            rest=Rest(
                "GET",
                f"/v1/namespaces/{seg(ns)}/health",
                query={
                    "componentType": kind,
                    "name": one,
                    "includeChecks": True if checks else None,
                },
            ),
            read=True,
            **options,
        )
        return _items(reply.components)

    # -- secrets ------------------------------------------------------------------------

    def create_secret(
        self,
        name: str,
        data: Mapping[str, str],
        namespace: str = "default",
        *,
        type: str = "static",
        ensure_namespace: bool = False,
        **options: Unpack[CallOptions],
    ) -> Secret:
        """Create a secret, or update it when it exists (`SecretService/CreateSecret`).

        The values are masked in debug logs and error messages; `repr()` of the returned
        `Secret` hides them.

        Args:
            name: The secret's name.
            data: Key to value, both strings.
            namespace: Its namespace.
            type: The secret type (`"static"`, the one runed documents).
            ensure_namespace: Create the namespace if it is missing (otherwise a missing
                namespace is `failed_precondition`).

        Returns:
            The stored secret (`version` 1 when new).

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.
            PreconditionFailedError: The namespace does not exist.

        Example:
            >>> secret = rune.create_secret("db", {"password": "s3cr3t-value"})
            >>> secret.version
            1
        """
        name, ns = _name("name", name), namespace_of(namespace)
        values = _data("data", data)
        secret = models.Secret(name=name, namespace=ns, type=_name("type", type), data=values)
        ensure = require_bool("ensure_namespace", ensure_namespace)
        reply = self._rpc(
            "SecretService",
            "CreateSecret",
            models.CreateSecretRequest(secret=secret, ensure_namespace=True if ensure else UNSET),
            models.SecretResponse,
            rest=Rest("POST", f"/v1/namespaces/{seg(ns)}/secrets", body=True),
            secrets=values.values(),
            **options,
        )
        return reply_part(reply.secret, "CreateSecret", "secret")

    def get_secret(
        self, name: str, namespace: str = "default", **options: Unpack[CallOptions]
    ) -> Secret:
        """One secret, values included (`SecretService/GetSecret`).

        Args:
            name: The secret's name.
            namespace: Its namespace.

        Returns:
            The secret; `repr()` hides `data`, read the values from `secret.data`.

        Raises:
            InvalidArgumentError: An empty name or namespace; nothing is sent.
            NotFoundError: No such secret.
            RateLimitError: runed's secret read limit (20/s) was hit.

        Example:
            >>> rune.get_secret("db").data["password"]
        """
        name = _name("name", name)
        ns = namespace_of(namespace)
        reply = self._rpc(
            "SecretService",
            "GetSecret",
            models.GetSecretRequest(name=name, namespace=ns),
            models.SecretResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(ns)}/secrets/{seg(name)}"),
            read=True,
            **options,
        )
        return reply_part(reply.secret, "GetSecret", "secret")

    def update_secret(
        self,
        name: str,
        data: Mapping[str, str],
        namespace: str = "default",
        *,
        type: str = "static",
        **options: Unpack[CallOptions],
    ) -> Secret:
        """Replace a secret's values (`SecretService/UpdateSecret`).

        `data` replaces the stored map whole. `type` is sent too: runed stores the
        request's type, so leaving it out would store an empty one. An update that
        changes nothing keeps the version.

        Args:
            name: The secret's name.
            data: The new key to value map.
            namespace: Its namespace.
            type: The secret type to keep (`"static"`).

        Returns:
            The stored secret (`version` incremented when something changed).

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.
            NotFoundError: No such secret.

        Example:
            >>> rune.update_secret("db", {"password": "n3w-value"}).version
            2
        """
        name, ns = _name("name", name), namespace_of(namespace)
        values = _data("data", data)
        secret = models.Secret(name=name, namespace=ns, type=_name("type", type), data=values)
        reply = self._rpc(
            "SecretService",
            "UpdateSecret",
            models.UpdateSecretRequest(secret=secret),
            models.SecretResponse,
            rest=Rest("PUT", f"/v1/namespaces/{seg(ns)}/secrets/{seg(name)}", body=True),
            secrets=values.values(),
            **options,
        )
        return reply_part(reply.secret, "UpdateSecret", "secret")

    def delete_secret(
        self, name: str, namespace: str = "default", **options: Unpack[CallOptions]
    ) -> Status:
        """Delete a secret (`SecretService/DeleteSecret`).

        Args:
            name: The secret's name.
            namespace: Its namespace.

        Returns:
            The reply, a `Status` (`code` 0 on success).

        Raises:
            InvalidArgumentError: An empty name or namespace; nothing is sent.
            InternalServerError: runed reports a missing secret as `internal`.

        Example:
            >>> rune.delete_secret("db").code
            0
        """
        name = _name("name", name)
        ns = namespace_of(namespace)
        return self._rpc(
            "SecretService",
            "DeleteSecret",
            models.DeleteSecretRequest(name=name, namespace=ns),
            models.Status,
            rest=Rest("DELETE", f"/v1/namespaces/{seg(ns)}/secrets/{seg(name)}"),
            **options,
        )

    def list_secrets(
        self, namespace: str = "default", **options: Unpack[CallOptions]
    ) -> list[Secret]:
        """Every secret of a namespace, values included (`SecretService/ListSecrets`).

        Args:
            namespace: The namespace.

        Returns:
            The secrets (all at once; no paging).

        Raises:
            InvalidArgumentError: An empty namespace; nothing is sent.
            RateLimitError: runed's secret read limit (20/s) was hit.

        Example:
            >>> [s.name for s in rune.list_secrets("default")]
        """
        ns = namespace_of(namespace)
        reply = self._rpc(
            "SecretService",
            "ListSecrets",
            models.ListSecretsRequest(namespace=ns),
            models.ListSecretsResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(ns)}/secrets"),
            read=True,
            **options,
        )
        return _items(reply.secrets)

    # -- configmaps ---------------------------------------------------------------------

    def create_configmap(
        self,
        name: str,
        data: Mapping[str, str],
        namespace: str = "default",
        *,
        ensure_namespace: bool = False,
        **options: Unpack[CallOptions],
    ) -> Configmap:
        """Create a configmap, or update it when it exists
        (`ConfigmapService/CreateConfigmap`).

        Args:
            name: The configmap's name.
            data: Key to value, both strings.
            namespace: Its namespace.
            ensure_namespace: Create the namespace if it is missing (otherwise a missing
                namespace is `failed_precondition`).

        Returns:
            The stored configmap (`version` 1 when new).

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.
            PreconditionFailedError: The namespace does not exist.

        Example:
            >>> rune.create_configmap("settings", {"LOG_LEVEL": "info"}).version
            1
        """
        name, ns = _name("name", name), namespace_of(namespace)
        configmap = models.Configmap(name=name, namespace=ns, data=_data("data", data))
        ensure = require_bool("ensure_namespace", ensure_namespace)
        reply = self._rpc(
            "ConfigmapService",
            "CreateConfigmap",
            models.CreateConfigmapRequest(
                configmap=configmap, ensure_namespace=True if ensure else UNSET
            ),
            models.ConfigmapResponse,
            rest=Rest("POST", f"/v1/namespaces/{seg(ns)}/configmaps", body=True),
            **options,
        )
        return reply_part(reply.configmap, "CreateConfigmap", "configmap")

    def get_configmap(
        self, name: str, namespace: str = "default", **options: Unpack[CallOptions]
    ) -> Configmap:
        """One configmap (`ConfigmapService/GetConfigmap`).

        Args:
            name: The configmap's name.
            namespace: Its namespace.

        Returns:
            The configmap.

        Raises:
            InvalidArgumentError: An empty name or namespace; nothing is sent.
            NotFoundError: No such configmap.

        Example:
            >>> rune.get_configmap("settings").data
            {'LOG_LEVEL': 'info'}
        """
        name = _name("name", name)
        ns = namespace_of(namespace)
        reply = self._rpc(
            "ConfigmapService",
            "GetConfigmap",
            models.GetConfigmapRequest(name=name, namespace=ns),
            models.ConfigmapResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(ns)}/configmaps/{seg(name)}"),
            read=True,
            **options,
        )
        return reply_part(reply.configmap, "GetConfigmap", "configmap")

    def update_configmap(
        self,
        name: str,
        data: Mapping[str, str],
        namespace: str = "default",
        **options: Unpack[CallOptions],
    ) -> Configmap:
        """Replace a configmap's values (`ConfigmapService/UpdateConfigmap`).

        `data` replaces the stored map whole; an update that changes nothing keeps the
        version.

        Args:
            name: The configmap's name.
            data: The new key to value map.
            namespace: Its namespace.

        Returns:
            The stored configmap (`version` incremented when something changed).

        Raises:
            InvalidArgumentError: A bad argument; nothing is sent.
            NotFoundError: No such configmap.

        Example:
            >>> rune.update_configmap("settings", {"LOG_LEVEL": "debug"}).version
            2
        """
        name, ns = _name("name", name), namespace_of(namespace)
        configmap = models.Configmap(name=name, namespace=ns, data=_data("data", data))
        reply = self._rpc(
            "ConfigmapService",
            "UpdateConfigmap",
            models.UpdateConfigmapRequest(configmap=configmap),
            models.ConfigmapResponse,
            rest=Rest("PUT", f"/v1/namespaces/{seg(ns)}/configmaps/{seg(name)}", body=True),
            **options,
        )
        return reply_part(reply.configmap, "UpdateConfigmap", "configmap")

    def delete_configmap(
        self, name: str, namespace: str = "default", **options: Unpack[CallOptions]
    ) -> Status:
        """Delete a configmap (`ConfigmapService/DeleteConfigmap`).

        Args:
            name: The configmap's name.
            namespace: Its namespace.

        Returns:
            The reply, a `Status` (`code` 0 on success).

        Raises:
            InvalidArgumentError: An empty name or namespace; nothing is sent.
            InternalServerError: runed reports a missing configmap as `internal`.

        Example:
            >>> rune.delete_configmap("settings").code
            0
        """
        name = _name("name", name)
        ns = namespace_of(namespace)
        return self._rpc(
            "ConfigmapService",
            "DeleteConfigmap",
            models.DeleteConfigmapRequest(name=name, namespace=ns),
            models.Status,
            rest=Rest("DELETE", f"/v1/namespaces/{seg(ns)}/configmaps/{seg(name)}"),
            **options,
        )

    def list_configmaps(
        self, namespace: str = "default", **options: Unpack[CallOptions]
    ) -> list[Configmap]:
        """Every configmap of a namespace (`ConfigmapService/ListConfigmaps`).

        Args:
            namespace: The namespace.

        Returns:
            The configmaps (all at once; no paging).

        Raises:
            InvalidArgumentError: An empty namespace; nothing is sent.

        Example:
            >>> [c.name for c in rune.list_configmaps()]
        """
        ns = namespace_of(namespace)
        reply = self._rpc(
            "ConfigmapService",
            "ListConfigmaps",
            models.ListConfigmapsRequest(namespace=ns),
            models.ListConfigmapsResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(ns)}/configmaps"),
            read=True,
            **options,
        )
        return _items(reply.configmaps)

    # -- logs ---------------------------------------------------------------------------

    def logs(
        self,
        target: str,
        namespace: str = "default",
        *,
        follow: bool = False,
        tail: int | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        timestamps: bool = False,
        filter: str | None = None,
        **options: Unpack[CallOptions],
    ) -> LogStream:
        """A service's or instance's log lines, over gRPC (`LogService/StreamLogs`) or the
        REST gateway's Server-Sent Events.

        gRPC: the first `LogRequest` carries the target, the namespace and only the
        parameters given (`follow`/`timestamps` when True). runed shows the target's logs,
        events and status lines. Not following, the whole stream is bounded by the read
        timeout (or `deadline=`); following, only `deadline=` bounds it and the stream
        runs until closed. `stream.update_log_params(...)` changes the parameters while
        it runs. Closing the stream cancels the call (from any thread).

        REST: `GET /v1/namespaces/{namespace}/logs/{target}` with the options as query
        parameters (`follow`/`timestamps` only when True). Every event that carries data
        is one `LogResponse`, whatever its `event:` name; events without data (and
        comments) are skipped. A clean end of the body ends the stream, also with
        `follow=True`: it is never reopened, so no line is read twice. While following,
        the stream waits for lines without a read limit; otherwise the call's read
        timeout bounds each wait. `until` and `filter` have no REST route parameter.

        Args:
            target: What to read: a service name (`"api"`), or on gRPC `"service/api"` or
                `"instance/<name>"` to pick the kind (a bare name is tried as a service,
                then as an instance).
            namespace: The namespace.
            follow: Keep streaming new lines until the stream is closed.
            tail: Start with at most this many of the latest lines.
            since: Only lines since then: an RFC 3339 string (`"2025-11-07T10:00:00Z"`) or
                an aware `datetime`; REST also takes the server's durations (`"10m"`).
            until: Only lines until then (gRPC only), as `since`.
            timestamps: Ask the server to fill `timestamp`.
            filter: Only lines containing this text (gRPC only; runed's matching rule is
                INFERRED to be a substring match).

        Returns:
            The open `LogStream` of `LogResponse`; use it in a `with` block.

        Raises:
            InvalidArgumentError: A bad argument, `until`/`filter` on REST, or the Connect
                transport (runed serves logs only over bidirectional gRPC); nothing is sent.
            APIStatusError: The server refused (`NotFoundError`, `AuthenticationError`,
                `PermissionDeniedError`, `BadRequestError`); on gRPC while iterating.
            APITimeoutError: Not following, the stream outlived its deadline (gRPC).
            StreamError: An event's data is not JSON (REST, while iterating).
            ResponseValidationError: A line is not a `LogResponse` (while iterating).

        Example:
            >>> with rune.logs("api", follow=True, tail=10) as lines:
            ...     for line in lines:
            ...         print(line.instance_name, line.content)
        """
        from controldeck.rune._grpc_streams import LogStream

        if self._grpc is not None:
            from controldeck.rune._grpc_streams import log_params, open_logs

            params = log_params(
                target,
                namespace_of(namespace),
                follow=follow,
                tail=tail,
                since=since,
                until=until,
                timestamps=timestamps,
                filter=filter,
            )

            def decode(data: dict[str, Any]) -> LogResponse:
                line: LogResponse = self._structure(data, models.LogResponse)
                return line

            return open_logs(self._grpc, params, decode, options)
        if self.transport != "rest":
            raise InvalidArgumentError(
                f"logs() needs the REST or gRPC transport: {_GRPC_EXTRA_HINT}"
            )
        target = _name("target", target)
        ns = namespace_of(namespace)
        following = require_bool("follow", follow)
        query: dict[str, str] = {}
        if following:
            query["follow"] = "true"
        lines = _optional_int32("tail", tail)
        if lines is not None:
            query["tail"] = str(lines)
        start = _since(since)
        if start is not None:
            query["since"] = start
        if require_bool("timestamps", timestamps):
            query["timestamps"] = "true"
        for name, value in (("until", until), ("filter", filter)):
            if value is not None:
                raise InvalidArgumentError(
                    f"logs({name}=...) needs RuneClient(..., transport='grpc'): the REST "
                    f"gateway's log route has no {name} parameter"
                )
        path = f"/v1/namespaces/{seg(ns)}/logs/{seg(target)}"
        extra = {"Accept": "text/event-stream", **options.pop("extra_headers", {})}
        transport = self._transport

        def opener(headers: Mapping[str, str]) -> requests.Response:
            return transport.send(
                "GET",
                path,
                params=query,
                stream=True,
                # Following: a quiet service is not an error; the caller closes the stream.
                stream_idle=None if following else NOT_GIVEN,
                extra_headers={**extra, **headers},
                **options,
            )

        def parse(event: ServerSentEvent) -> LogResponse | None:
            if not event.data.strip():
                return None  # a keepalive `data:` line with nothing in it
            line: LogResponse = self._structure(event.json(), models.LogResponse)
            return line

        return LogStream(sse_stream(opener, parse, resume=False, secrets=transport.auth.secrets()))
