"""Rune namespaces and services: CRUD, asynchronous deletion, scaling, the `Watch*` streams
of NamespaceService and ServiceService, and the two waits built on them.

Every method builds its request message once and names both wires (see `_base.py`). What a
method returns when the reply is only an envelope around one object:

| reply | returned |
|---|---|
| `{namespace, status}`, `{service, status}` | the `Namespace` / `Service` |
| `{namespaces, ...}`, `{services, ...}`, `{instances, ...}`, `{operations}` | a `list` |
| `{operation}` (GetDeletionStatus) | the `DeletionOperation` |
| `{status}` (DeleteNamespace) | the `Status` (informational; errors are raised) |
| `DeleteServiceResponse` | as is (deletion id, warnings, finalizers...) |

The informational `status` sub-message of a reply (`code` 0 on success) is dropped: errors
arrive as Connect/gateway errors and are raised as controldeck errors.

Choices made from the protos and the server source (runestack/rune@413bfe0):

- Only what the caller gives is sent: flags when True (false is protojson's default),
  numbers and strings when not None, models with their unset fields left out.
- `GetDeletionStatus {namespace, name}`: runed stores an operation under its id
  (`delete-<ns>-<service>-<unix>`, the `deletion_id` of `DeleteServiceResponse`) and looks
  `name` up as that key (service_controller.go `GetDeletionStatus`; the CLI passes the
  deletion id), although the docs call it the service name. A missing operation comes back
  as `internal` (the store's error, wrapped), not `not_found`.
- Deletion statuses (pkg/types/deletion.go): `initializing`, `deleting-instances`,
  `running-finalizers`, then `completed` or `failed`. `wait_for_deletion` returns on those
  two (and `cancelled`); an operation that vanishes after it was seen counts as done.
- `wait_for_scale` polls ServiceService.ListInstances and uses WatchScaling's rule
  (service.go `isScalingComplete`): 0 means no instance left (deleted ones aside), n means
  exactly n running.
- On the REST transport, `label_selector`/`field_selector` (maps) and `finalizers` (a
  list) have no query form on the gateway's GET/DELETE routes; they raise
  `InvalidArgumentError` there instead of being dropped, which would widen a list or
  change a deletion without a word. The `Watch*` streams exist on Connect only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET, Unset
from controldeck._core._options import CallOptions, PollOptions, poll_call_options
from controldeck._core._streams import Stream
from controldeck._core._validate import require_bool, require_str, require_str_list
from controldeck._core._wait import wait_for
from controldeck.errors import InvalidArgumentError, NotFoundError
from controldeck.rune._base import DEFAULT_NAMESPACE, Rest, RuneBase, namespace_of, reply_part, seg

if TYPE_CHECKING:
    from controldeck._generated import rune as models
    from controldeck._generated.rune import (
        DeleteServiceResponse,
        DeletionOperation,
        Instance,
        Namespace,
        ScalingMode,
        ScalingStatusResponse,
        Service,
        Status,
        WatchNamespacesResponse,
        WatchServicesResponse,
    )
else:
    models = LazyModule("controldeck._generated.rune")

__all__ = ["DELETION_TERMINAL", "ServicesAPI"]

DELETION_TERMINAL = frozenset({"completed", "failed", "cancelled"})
"""`DeletionOperation.status` values after which nothing changes any more.

runed's statuses (pkg/types/deletion.go): `initializing`, `deleting-instances`,
`running-finalizers`, then `completed` or `failed`; `cancelled` is named by the type's
comments (an operation's end time is set when "completed/failed/cancelled"), so it ends a
wait too rather than keeping it polling to its timeout."""

INT32_MAX = 2**31 - 1

T = TypeVar("T")

_RUNNING = "INSTANCE_STATUS_RUNNING"
_DELETED = "INSTANCE_STATUS_DELETED"
_STARTING = frozenset(
    {"INSTANCE_STATUS_PENDING", "INSTANCE_STATUS_CREATED", "INSTANCE_STATUS_STARTING"}
)


class ServicesAPI(RuneBase):
    """Rune namespaces, services, deletions, scaling, their watch streams and waits."""

    # -- namespaces ------------------------------------------------------------------------

    def create_namespace(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Namespace:
        """Create a namespace (NamespaceService.CreateNamespace).

        Args:
            name: The namespace's name.
            description: A free-text description.
            labels: Labels to attach.

        Returns:
            The namespace as the server stored it (with its id and `created_at`).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            BadRequestError: The server refused the name (`invalid_argument`).
            APIStatusError: Any other refusal (a duplicate surfaces as `internal`).

        Example:
            >>> ns = rune.create_namespace("staging", labels={"team": "web"})
            >>> ns.name, ns.created_at
            ('staging', 1730937600)
        """
        namespace = models.Namespace(
            name=require_str("name", name),
            description=_optional_str("description", description),
            labels=_string_map("labels", labels),
        )
        reply = self._rpc(
            "NamespaceService",
            "CreateNamespace",
            models.CreateNamespaceRequest(namespace=namespace),
            models.CreateNamespaceResponse,
            rest=Rest("POST", "/v1/namespaces", body=True),
            **options,
        )
        return reply_part(reply.namespace, "CreateNamespace", "namespace")

    def get_namespace(self, name: str, **options: Unpack[CallOptions]) -> Namespace:
        """One namespace by name (NamespaceService.GetNamespace).

        Args:
            name: The namespace's name.

        Returns:
            The namespace.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such namespace.

        Example:
            >>> rune.get_namespace("staging").labels
            {'team': 'web'}
        """
        name = require_str("name", name)
        reply = self._rpc(
            "NamespaceService",
            "GetNamespace",
            models.GetNamespaceRequest(name=name),
            models.GetNamespaceResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(name)}"),
            read=True,
            **options,
        )
        return reply_part(reply.namespace, "GetNamespace", "namespace")

    def list_namespaces(
        self,
        *,
        label_selector: Mapping[str, str] | None = None,
        field_selector: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Namespace]:
        """Every namespace (NamespaceService.ListNamespaces; the server does not page).

        Args:
            label_selector: Only namespaces with these labels (Connect only).
            field_selector: Only namespaces whose fields match (Connect only).

        Returns:
            The namespaces.

        Raises:
            InvalidArgumentError: A bad argument, or a selector on the REST transport (its
                GET route has no way to send a map, and dropping the filter silently would
                return more than asked for); nothing was sent.

        Example:
            >>> [ns.name for ns in rune.list_namespaces()]
            ['default', 'staging']
        """
        request = models.ListNamespacesRequest(
            label_selector=_string_map("label_selector", label_selector),
            field_selector=_string_map("field_selector", field_selector),
        )
        self._no_rest_selectors("list_namespaces", label_selector, field_selector)
        reply = self._rpc(
            "NamespaceService",
            "ListNamespaces",
            request,
            models.ListNamespacesResponse,
            rest=Rest("GET", "/v1/namespaces"),
            read=True,
            **options,
        )
        return list(reply.namespaces or [])

    def delete_namespace(
        self,
        name: str,
        *,
        ignore_not_found: bool = False,
        force: bool = False,
        **options: Unpack[CallOptions],
    ) -> Status:
        """Delete a namespace (NamespaceService.DeleteNamespace).

        Args:
            name: The namespace's name.
            ignore_not_found: Succeed when there is no such namespace.
            force: Delete it although it still holds resources.

        Returns:
            The reply's informational status (empty when the server sent none).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such namespace (unless `ignore_not_found`).

        Example:
            >>> rune.delete_namespace("staging", force=True)
        """
        name = require_str("name", name)
        ignore = require_bool("ignore_not_found", ignore_not_found)
        forced = require_bool("force", force)
        reply = self._rpc(
            "NamespaceService",
            "DeleteNamespace",
            models.DeleteNamespaceRequest(
                name=name,
                ignore_not_found=_true_or_unset(ignore),
                force=_true_or_unset(forced),
            ),
            models.DeleteNamespaceResponse,
            rest=Rest(
                "DELETE",
                f"/v1/namespaces/{seg(name)}",
                query={"ignoreNotFound": ignore or None, "force": forced or None},
            ),
            **options,
        )
        return reply.status if reply.status is not None else models.Status()

    def watch_namespaces(
        self,
        *,
        label_selector: Mapping[str, str] | None = None,
        field_selector: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[WatchNamespacesResponse]:
        """Namespace events as they happen (NamespaceService.WatchNamespaces; Connect only).

        The server first replays every namespace as `EVENT_TYPE_ADDED`, then sends changes;
        the stream has no idle limit and ends only when the server ends it or you close it.

        Args:
            label_selector: Only namespaces with these labels.
            field_selector: Only namespaces whose fields match.

        Returns:
            An open stream of events; use it in a `with` block.

        Raises:
            InvalidArgumentError: A bad argument, or the REST transport (no watch routes);
                nothing was sent.
            StreamError: While iterating: the server ended the stream with an error
                (`.code` is its Connect code), or the stream broke.

        Example:
            >>> with rune.watch_namespaces() as events:
            ...     for event in events:
            ...         print(event.event_type, event.namespace.name)
        """
        request = models.WatchNamespacesRequest(
            **_given(
                label_selector=_string_map("label_selector", label_selector),
                field_selector=_string_map("field_selector", field_selector),
            )
        )
        return self._watch(
            "NamespaceService",
            "WatchNamespaces",
            request,
            models.WatchNamespacesResponse,
            **options,
        )

    # -- services --------------------------------------------------------------------------

    def create_service(
        self,
        service: Service,
        *,
        ensure_namespace: bool = False,
        deployment_tag: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Service:
        """Create a service (ServiceService.CreateService).

        The namespace is `service.namespace`, or `default` when it is not set.

        Args:
            service: The service to create; `name` is required, fields left unset are not
                sent.
            ensure_namespace: Create the namespace too when it does not exist.
            deployment_tag: A tag recorded with this deployment.

        Returns:
            The service as the server stored it (id, status, metadata filled in).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            BadRequestError: The server found the service invalid (`invalid_argument`).
            PreconditionFailedError: The namespace is missing (without `ensure_namespace`)
                or the runtime is not available (`failed_precondition`).

        Example:
            >>> from controldeck.rune import Service
            >>> svc = rune.create_service(Service(name="api", image="nginx:1.27", scale=2))
            >>> svc.status
            <ServiceStatus.SERVICE_STATUS_PENDING: 'SERVICE_STATUS_PENDING'>
        """
        service, _, namespace = _service_arg(service)
        ensure = require_bool("ensure_namespace", ensure_namespace)
        request = models.CreateServiceRequest(
            service=service,
            ensure_namespace=_true_or_unset(ensure),
            deployment_tag=_optional_str("deployment_tag", deployment_tag),
        )
        reply = self._rpc(
            "ServiceService",
            "CreateService",
            request,
            models.ServiceResponse,
            rest=Rest("POST", f"/v1/namespaces/{seg(namespace)}/services", body=True),
            **options,
        )
        return reply_part(reply.service, "CreateService", "service")

    def get_service(
        self, name: str, namespace: str = DEFAULT_NAMESPACE, **options: Unpack[CallOptions]
    ) -> Service:
        """One service (ServiceService.GetService).

        Args:
            name: The service's name.
            namespace: Its namespace.

        Returns:
            The service.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such service.

        Example:
            >>> rune.get_service("api").scale
            2
        """
        name, namespace = _name_ns(name, namespace)
        reply = self._rpc(
            "ServiceService",
            "GetService",
            models.GetServiceRequest(name=name, namespace=namespace),
            models.ServiceResponse,
            rest=Rest("GET", _service_path(namespace, name)),
            read=True,
            **options,
        )
        return reply_part(reply.service, "GetService", "service")

    def list_services(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        label_selector: Mapping[str, str] | None = None,
        field_selector: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Service]:
        """The services of a namespace (ServiceService.ListServices; the server does not page).

        Args:
            namespace: The namespace.
            label_selector: Only services with these labels (Connect only).
            field_selector: Only services whose fields match (Connect only).

        Returns:
            The services.

        Raises:
            InvalidArgumentError: A bad argument, or a selector on the REST transport;
                nothing was sent.

        Example:
            >>> [s.name for s in rune.list_services("default")]
            ['api', 'worker']
        """
        namespace = namespace_of(namespace)
        request = models.ListServicesRequest(
            namespace=namespace,
            label_selector=_string_map("label_selector", label_selector),
            field_selector=_string_map("field_selector", field_selector),
        )
        self._no_rest_selectors("list_services", label_selector, field_selector)
        reply = self._rpc(
            "ServiceService",
            "ListServices",
            request,
            models.ListServicesResponse,
            rest=Rest("GET", f"/v1/namespaces/{seg(namespace)}/services"),
            read=True,
            **options,
        )
        return list(reply.services or [])

    def update_service(
        self,
        service: Service,
        *,
        force: bool = False,
        deployment_tag: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Service:
        """Replace a service's spec (ServiceService.UpdateService).

        The service is identified by `service.name` and `service.namespace` (`default`
        when not set). Send the whole spec: a typical flow is `get_service`, change it with
        `attrs.evolve`, `update_service`.

        Args:
            service: The new spec.
            force: Redeploy even when the spec did not change.
            deployment_tag: A tag recorded with this deployment.

        Returns:
            The updated service.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such service.

        Example:
            >>> import attrs
            >>> svc = rune.get_service("api")
            >>> rune.update_service(attrs.evolve(svc, image="nginx:1.28")).image
            'nginx:1.28'
        """
        service, name, namespace = _service_arg(service)
        forced = require_bool("force", force)
        request = models.UpdateServiceRequest(
            service=service,
            force=_true_or_unset(forced),
            deployment_tag=_optional_str("deployment_tag", deployment_tag),
        )
        reply = self._rpc(
            "ServiceService",
            "UpdateService",
            request,
            models.ServiceResponse,
            rest=Rest("PUT", _service_path(namespace, name), body=True),
            **options,
        )
        return reply_part(reply.service, "UpdateService", "service")

    def delete_service(
        self,
        name: str,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        force: bool = False,
        detach: bool = False,
        dry_run: bool = False,
        ignore_not_found: bool = False,
        no_dependencies: bool = False,
        timeout_seconds: int | None = None,
        grace_period: int | None = None,
        now: bool = False,
        finalizers: list[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> DeleteServiceResponse:
        """Start deleting a service (ServiceService.DeleteService); the deletion runs on the
        server after the reply, see `wait_for_deletion`.

        Only the options you give are sent: flags when True, numbers and `finalizers` when
        not None.

        Args:
            name: The service's name.
            namespace: Its namespace.
            force: Delete without the usual checks.
            detach: Return at once (the server does not wait for the first phase).
            dry_run: Only report what would be deleted (`status` `dry_run`).
            ignore_not_found: Ask the server to succeed when there is no such service
                (runed 413bfe0 still answers `internal` for a missing service).
            no_dependencies: Delete although other services depend on it.
            timeout_seconds: Seconds the server allows for the deletion.
            grace_period: Seconds each instance gets to stop gracefully.
            now: Stop the instances at once, without a graceful shutdown.
            finalizers: The cleanup steps to run (e.g. `volume-cleanup`).

        Returns:
            The reply: `deletion_id` (the key of `get_deletion_status`), `status`,
            `warnings`, `errors` and the finalizers that will run.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such service (unless `ignore_not_found`; runed 413bfe0
                reports it as `internal`, an `InternalServerError`).
            PreconditionFailedError: Other services depend on it (`failed_precondition`).

        Example:
            >>> deletion = rune.delete_service("api", grace_period=10)
            >>> final = rune.wait_for_deletion(deletion.deletion_id)
        """
        name, namespace = _name_ns(name, namespace)
        flags = {
            "force": require_bool("force", force),
            "detach": require_bool("detach", detach),
            "dry_run": require_bool("dry_run", dry_run),
            "ignore_not_found": require_bool("ignore_not_found", ignore_not_found),
            "no_dependencies": require_bool("no_dependencies", no_dependencies),
            "now": require_bool("now", now),
        }
        timeout_s = _optional_int32("timeout_seconds", timeout_seconds, minimum=0)
        grace = _optional_int32("grace_period", grace_period, minimum=0)
        steps = None if finalizers is None else require_str_list("finalizers", finalizers)
        request = models.DeleteServiceRequest(
            name=name,
            namespace=namespace,
            force=_true_or_unset(flags["force"]),
            detach=_true_or_unset(flags["detach"]),
            dry_run=_true_or_unset(flags["dry_run"]),
            ignore_not_found=_true_or_unset(flags["ignore_not_found"]),
            no_dependencies=_true_or_unset(flags["no_dependencies"]),
            now=_true_or_unset(flags["now"]),
            timeout_seconds=UNSET if timeout_s is None else timeout_s,
            grace_period=UNSET if grace is None else grace,
            finalizers=UNSET if steps is None else steps,
        )
        # The REST route takes the flags as query parameters; `finalizers` (a list) has no
        # query form on the gateway's DELETE, so it is refused there rather than dropped.
        if self.transport == "rest" and steps is not None:
            raise InvalidArgumentError(
                "finalizers= cannot be sent on the REST transport (the DELETE route takes no "
                "list); use RuneClient(..., transport='connect')"
            )
        query = {
            "force": flags["force"] or None,
            "detach": flags["detach"] or None,
            "dryRun": flags["dry_run"] or None,
            "gracePeriod": grace,
            "now": flags["now"] or None,
            "ignoreNotFound": flags["ignore_not_found"] or None,
            "noDependencies": flags["no_dependencies"] or None,
            "timeoutSeconds": timeout_s,
        }
        return self._rpc(
            "ServiceService",
            "DeleteService",
            request,
            models.DeleteServiceResponse,
            rest=Rest("DELETE", _service_path(namespace, name), query=query),
            **options,
        )

    def get_deletion_status(
        self, name: str, namespace: str = DEFAULT_NAMESPACE, **options: Unpack[CallOptions]
    ) -> DeletionOperation:
        """Where a service deletion stands (ServiceService.GetDeletionStatus).

        Args:
            name: The operation's key. runed stores an operation under the `deletion_id`
                `delete_service` returned (`delete-<namespace>-<service>-<unix time>`) and
                looks it up by this field, so pass that id; the Rune docs call the field the
                service name.
            namespace: The service's namespace.

        Returns:
            The operation: `status` (`initializing`, `deleting-instances`,
            `running-finalizers`, `completed`, `failed`), instance counts, finalizers.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such operation (runed itself reports a missing one as
                `internal`, an `InternalServerError`).

        Example:
            >>> op = rune.get_deletion_status(deletion.deletion_id)
            >>> op.status, op.deleted_instances, op.total_instances
            ('deleting-instances', 1, 2)
        """
        name, namespace = _name_ns(name, namespace)
        reply = self._rpc(
            "ServiceService",
            "GetDeletionStatus",
            models.GetDeletionStatusRequest(name=name, namespace=namespace),
            models.GetDeletionStatusResponse,
            rest=Rest("GET", f"{_service_path(namespace, name)}/deletion"),
            read=True,
            **options,
        )
        return reply_part(reply.operation, "GetDeletionStatus", "operation")

    def list_deletion_operations(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        status: str | None = None,
        **options: Unpack[CallOptions],
    ) -> list[DeletionOperation]:
        """The deletion operations of a namespace (ServiceService.ListDeletionOperations).

        Args:
            namespace: The namespace; `*` lists every namespace's.
            status: Only operations with this status (e.g. `completed`).

        Returns:
            The operations.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.

        Example:
            >>> [op.service_name for op in rune.list_deletion_operations(status="failed")]
            []
        """
        namespace = namespace_of(namespace)
        wanted = None if status is None else require_str("status", status)
        reply = self._rpc(
            "ServiceService",
            "ListDeletionOperations",
            models.ListDeletionOperationsRequest(
                namespace=namespace, status=UNSET if wanted is None else wanted
            ),
            models.ListDeletionOperationsResponse,
            rest=Rest(
                "GET", f"/v1/namespaces/{seg(namespace)}/deletions", query={"status": wanted}
            ),
            read=True,
            **options,
        )
        return list(reply.operations or [])

    def wait_for_deletion(
        self,
        name: str,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        timeout: float | None = 300.0,
        poll_interval: float = 2.0,
        progress: bool | None = None,
        **options: Unpack[PollOptions],
    ) -> DeletionOperation:
        """Poll `get_deletion_status` until the deletion ends, and return its last state.

        It returns on every terminal status (`completed`, `failed`, `cancelled`) and does
        not raise on `failed`: check `.status` and `.failure_reason`. If the operation
        disappears after it was seen (a server that forgets finished operations), that
        counts as done and the last state seen is returned as it was. A `not_found` on
        the first check is raised: the operation exists as soon as `delete_service`
        returns. The bar (and the `controldeck` logger at INFO) shows every change.

        Args:
            name: The operation's key: the `deletion_id` from `delete_service` (see
                `get_deletion_status`).
            namespace: The service's namespace.
            timeout: Seconds to wait in all; None waits until it ends (or Ctrl-C).
            poll_interval: Seconds between the first checks (the interval then grows
                gently, capped at 30 s).
            progress: Show a progress bar; None shows one only on an interactive terminal
                or in a notebook.
            options: `request_timeout=`, `max_retries=`, `extra_headers=` for each poll.

        Returns:
            The operation in its terminal state (or as last seen, if it vanished).

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such operation at the first check.
            WaitTimeoutError: `timeout` passed first; `.last_state` is the last
                `DeletionOperation` seen.

        Example:
            >>> deletion = rune.delete_service("api")
            >>> final = rune.wait_for_deletion(deletion.deletion_id, timeout=120)
            >>> final.status
            'completed'
        """
        name, namespace = _name_ns(name, namespace)
        call = poll_call_options(options)
        seen: list[DeletionOperation] = []
        vanished = False

        def fetch() -> DeletionOperation:
            nonlocal vanished
            try:
                operation = self.get_deletion_status(name, namespace, **call)
            except NotFoundError:
                if not seen:
                    raise
                vanished = True
                return seen[-1]
            seen[:] = [operation]
            return operation

        def describe(operation: DeletionOperation) -> str:
            if vanished:
                return "gone (the server no longer lists the operation)"
            return _describe_deletion(operation)

        transport = self._transport
        return wait_for(
            fetch,
            lambda operation: vanished or _status_of(operation) in DELETION_TERMINAL,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            what=f"deletion {namespace}/{name}",
            describe=describe,
            # The transport's clock and sleep: one seam for tests, shared with retries.
            clock=transport.clock,
            sleep=transport.sleep,
        )

    # -- scaling and instances -------------------------------------------------------------

    def scale_service(
        self,
        name: str,
        scale: int,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        mode: ScalingMode | str | None = None,
        step_size: int | None = None,
        interval_seconds: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Service:
        """Set a service's number of instances (ServiceService.ScaleService); the instances
        start or stop after the reply, see `wait_for_scale` and `watch_scaling`.

        Args:
            name: The service's name.
            scale: The number of instances wanted, 0 or more.
            namespace: Its namespace.
            mode: `ScalingMode.SCALING_MODE_IMMEDIATE` or `..._GRADUAL`, the full name as a
                string, or `"immediate"` / `"gradual"`. Not sent when None (the server's
                default, immediate).
            step_size: Instances added or removed per step (gradual mode), 1 or more.
            interval_seconds: Seconds between steps (gradual mode).

        Returns:
            The service with its new `scale`.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such service.

        Example:
            >>> rune.scale_service("api", 5, mode="gradual", step_size=1, interval_seconds=5)
        """
        name, namespace = _name_ns(name, namespace)
        wanted = _int32("scale", scale, minimum=0)
        step = _optional_int32("step_size", step_size, minimum=1)
        interval = _optional_int32("interval_seconds", interval_seconds, minimum=0)
        request = models.ScaleServiceRequest(
            name=name,
            namespace=namespace,
            scale=wanted,
            mode=UNSET if mode is None else _scaling_mode(mode),
            step_size=UNSET if step is None else step,
            interval_seconds=UNSET if interval is None else interval,
        )
        reply = self._rpc(
            "ServiceService",
            "ScaleService",
            request,
            models.ServiceResponse,
            rest=Rest("POST", f"{_service_path(namespace, name)}/scale", body=True),
            **options,
        )
        return reply_part(reply.service, "ScaleService", "service")

    def list_service_instances(
        self, name: str, namespace: str = DEFAULT_NAMESPACE, **options: Unpack[CallOptions]
    ) -> list[Instance]:
        """The instances of one service (ServiceService.ListInstances).

        Args:
            name: The service's name.
            namespace: Its namespace.

        Returns:
            The instances, in every state the server still lists.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such service.

        Example:
            >>> [(i.name, i.status) for i in rune.list_service_instances("api")]
        """
        name, namespace = _name_ns(name, namespace)
        reply = self._rpc(
            "ServiceService",
            "ListInstances",
            models.ListInstancesRequest(service_name=name, namespace=namespace),
            models.ListInstancesResponse,
            rest=Rest("GET", f"{_service_path(namespace, name)}/instances"),
            read=True,
            **options,
        )
        return list(reply.instances or [])

    def wait_for_scale(
        self,
        name: str,
        target: int,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        timeout: float | None = 300.0,
        poll_interval: float = 1.0,
        progress: bool | None = None,
        **options: Unpack[PollOptions],
    ) -> list[Instance]:
        """Poll `list_service_instances` until `target` instances run, and return them.

        Done means what runed's own WatchScaling means: for a target of 0, no instance is
        left (instances in `INSTANCE_STATUS_DELETED` do not count); otherwise exactly
        `target` instances are `INSTANCE_STATUS_RUNNING` (others may still be stopping).
        A failed instance does not end the wait (the restart policy may bring it back);
        the timeout does, with the last list in `.last_state`.

        Args:
            name: The service's name.
            target: The number of running instances awaited, 0 or more.
            namespace: Its namespace.
            timeout: Seconds to wait in all; None waits until done (or Ctrl-C).
            poll_interval: Seconds between the first checks (growing gently, capped at
                30 s).
            progress: Show a progress bar; None shows one only on an interactive terminal
                or in a notebook.
            options: `request_timeout=`, `max_retries=`, `extra_headers=` for each poll.

        Returns:
            The instances listed at the check that found the target reached.

        Raises:
            InvalidArgumentError: A bad argument; nothing was sent.
            NotFoundError: No such service.
            WaitTimeoutError: `timeout` passed first; `.last_state` is the last list.

        Example:
            >>> rune.scale_service("api", 3)
            >>> running = rune.wait_for_scale("api", 3, timeout=120)
            >>> len(running)
            3
        """
        name, namespace = _name_ns(name, namespace)
        wanted = _int32("target", target, minimum=0)
        call = poll_call_options(options)
        transport = self._transport
        return wait_for(
            lambda: self.list_service_instances(name, namespace, **call),
            lambda instances: _scale_reached(instances, wanted),
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            what=f"{namespace}/{name} at {wanted} running",
            describe=lambda instances: _describe_instances(instances, wanted),
            clock=transport.clock,
            sleep=transport.sleep,
        )

    # -- watch streams ---------------------------------------------------------------------

    def watch_services(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        label_selector: Mapping[str, str] | None = None,
        field_selector: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Stream[WatchServicesResponse]:
        """Service events as they happen (ServiceService.WatchServices; Connect only).

        The server first replays the current services as `EVENT_TYPE_ADDED`, then sends
        `EVENT_TYPE_MODIFIED` / `EVENT_TYPE_DELETED`; the stream has no idle limit.

        Args:
            namespace: The namespace; `*` watches every namespace.
            label_selector: Only services with these labels.
            field_selector: Only services whose fields match (e.g. `{"name": "api"}`).

        Returns:
            An open stream of events; use it in a `with` block.

        Raises:
            InvalidArgumentError: A bad argument, or the REST transport; nothing was sent.
            StreamError: While iterating: the server ended the stream with an error
                (`.code` is its Connect code), or the stream broke.

        Example:
            >>> with rune.watch_services("*") as events:
            ...     for event in events:
            ...         print(event.event_type, event.service.namespace, event.service.name)
        """
        request = models.WatchServicesRequest(
            namespace=namespace_of(namespace),
            **_given(
                label_selector=_string_map("label_selector", label_selector),
                field_selector=_string_map("field_selector", field_selector),
            ),
        )
        return self._watch(
            "ServiceService", "WatchServices", request, models.WatchServicesResponse, **options
        )

    def watch_scaling(
        self,
        name: str,
        target_scale: int,
        namespace: str = DEFAULT_NAMESPACE,
        **options: Unpack[CallOptions],
    ) -> Stream[ScalingStatusResponse]:
        """Scaling progress of one service, about once a second (ServiceService.WatchScaling;
        Connect only). The stream ends after the first message with `complete` set.

        Args:
            name: The service's name.
            target_scale: The scale being reached, 0 or more.
            namespace: Its namespace.

        Returns:
            An open stream of progress messages (`running_instances`, `pending_instances`,
            `complete`); use it in a `with` block.

        Raises:
            InvalidArgumentError: A bad argument, or the REST transport; nothing was sent.
            StreamError: While iterating: the server ended the stream with an error (e.g.
                `.code == "not_found"` for a missing service), or the stream broke.

        Example:
            >>> rune.scale_service("api", 3)
            >>> with rune.watch_scaling("api", 3) as progress:
            ...     for step in progress:
            ...         print(f"{step.running_instances}/{step.target_scale} running")
        """
        name, namespace = _name_ns(name, namespace)
        request = models.WatchScalingRequest(
            service_name=name,
            namespace=namespace,
            target_scale=_int32("target_scale", target_scale, minimum=0),
        )
        return self._watch(
            "ServiceService",
            "WatchScaling",
            request,
            models.ScalingStatusResponse,
            terminal=lambda message: message.complete is True,
            **options,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _no_rest_selectors(self, method: str, *selectors: Mapping[str, str] | None) -> None:
        if self.transport == "rest" and any(s is not None for s in selectors):
            raise InvalidArgumentError(
                f"{method}: label_selector/field_selector cannot be sent on the REST transport "
                "(its GET route has no map parameters); use RuneClient(..., "
                "transport='connect')"
            )


# -- argument checks and reply parts -------------------------------------------------------


def _name_ns(name: Any, namespace: Any) -> tuple[str, str]:
    return require_str("name", name), namespace_of(namespace)


def _service_path(namespace: str, name: str) -> str:
    return f"/v1/namespaces/{seg(namespace)}/services/{seg(name)}"


def _given(**fields: Any) -> dict[str, Any]:
    """The fields the caller gave (not UNSET), as keyword arguments of a model."""
    return {key: value for key, value in fields.items() if not isinstance(value, Unset)}


def _true_or_unset(value: bool) -> Literal[True] | Unset:
    """A flag is sent only when set (false is protojson's default anyway)."""
    return True if value else UNSET


def _optional_str(name: str, value: Any) -> Any:
    """A string field, or UNSET (left out of the request) for None."""
    if value is None:
        return UNSET
    return require_str(name, value, allow_empty=True)


def _string_map(name: str, value: Any) -> Any:
    """A `map<string,string>` field as a dict, or UNSET for None."""
    if value is None:
        return UNSET
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{name} must be a mapping of strings to strings, got {type(value).__name__}"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidArgumentError(
                f"{name} must map strings to strings, got {key!r:.40}: {item!r:.40}"
            )
    return dict(value)


def _int32(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r:.40}")
    if not minimum <= value <= INT32_MAX:
        raise InvalidArgumentError(f"{name} must be between {minimum} and {INT32_MAX}, got {value}")
    return value


def _optional_int32(name: str, value: Any, *, minimum: int) -> int | None:
    return None if value is None else _int32(name, value, minimum=minimum)


def _scaling_mode(value: Any) -> ScalingMode:
    if isinstance(value, str) and value.lower() in ("immediate", "gradual"):
        value = f"SCALING_MODE_{value.upper()}"
    if not isinstance(value, str):
        raise InvalidArgumentError(f"mode must be a ScalingMode or a string, got {value!r:.40}")
    return models.ScalingMode(value)


def _service_arg(service: Any) -> tuple[Service, str, str]:
    """The service model, its name and the namespace it goes to (its own, else `default`)."""
    if not isinstance(service, models.Service):
        raise InvalidArgumentError(
            "service must be a controldeck.rune.Service, got " + type(service).__name__
        )
    name = require_str("service.name", service.name)
    namespace = service.namespace
    if isinstance(namespace, Unset) or namespace is None or namespace == "":
        return service, name, DEFAULT_NAMESPACE
    return service, name, require_str("service.namespace", namespace)


def _status_of(operation: DeletionOperation) -> str:
    status = operation.status
    return status.strip().lower() if isinstance(status, str) else ""


def _describe_deletion(operation: DeletionOperation) -> str:
    status = _status_of(operation) or "(no status)"
    total = operation.total_instances
    if isinstance(total, int) and total > 0:
        return f"{status}, {operation.deleted_instances or 0}/{total} instances deleted"
    return status


def _live(instances: list[Instance]) -> list[Instance]:
    return [i for i in instances if i.status != _DELETED]


def _scale_reached(instances: list[Instance], target: int) -> bool:
    if target == 0:
        return not _live(instances)
    return sum(1 for i in instances if i.status == _RUNNING) == target


def _describe_instances(instances: list[Instance], target: int) -> str:
    live = _live(instances)
    running = sum(1 for i in live if i.status == _RUNNING)
    starting = sum(1 for i in live if i.status in _STARTING)
    text = f"{running}/{target} running"
    if starting:
        text += f", {starting} starting"
    others = len(live) - running - starting
    if others:
        text += f", {others} other"
    return text
