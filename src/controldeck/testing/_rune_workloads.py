"""`FakeRune`'s NamespaceService, ServiceService, InstanceService and HealthService, as
runed 413bfe0 answers them (pkg/api/service/*.go; messages and codes are the server's).

Instances follow a service's `scale`: `<service>-0` … `<service>-<scale-1>`, as the
server's reconciler names them. A new instance is `INSTANCE_STATUS_PENDING` and becomes
`RUNNING` after `start_polls` reads that show it (Get/List of its service or of instances,
GetHealth, each WatchScaling step), passing through `STARTING`; a service is `PENDING`
(`UPDATING` after a changing update) until all of its instances run.

Deleting a service is asynchronous: DeleteService answers the operation id
(`delete-<namespace>-<service>-<unix time>`) with `status.message` `in_progress`; the
operation is `initializing`, then one poll of GetDeletionStatus each `deleting-instances`
and `running-finalizers` (`deletion_polls` polls in all), then `completed` — and the
service and its instances are gone. GetDeletionStatus looks the operation up by that id
(what the server's store keys on); the fake also accepts the service name, which is what
the Rune docs call the field.
"""

from __future__ import annotations

import copy
from typing import Any

from controldeck.testing._rune_state import State, instance_number, matches, namespace_of
from controldeck.testing._rune_wire import Call, Json, RuneError, ok, rfc3339

__all__ = ["RESERVED_NAMESPACES", "WorkloadRPCs", "check_spec", "dns1123_problem"]

RESERVED_NAMESPACES = ("system", "default")
_RUNTIMES = ("", "container", "process")
_FINALIZERS = ("instance-cleanup", "service-deregister")  # determineFinalizerTypes
_STARTING = ("INSTANCE_STATUS_PENDING", "INSTANCE_STATUS_STARTING", "INSTANCE_STATUS_CREATED")
_DEFAULT_LOG_LINES = (
    ("stdout", "info", "starting {name}"),
    ("stdout", "info", "listening on :8080"),
    ("stderr", "warn", "config file not found, using defaults"),
)
_INSTANCE_HEALTH = {
    "INSTANCE_STATUS_RUNNING": ("HEALTH_STATUS_HEALTHY", "Instance running"),
    "INSTANCE_STATUS_PENDING": ("HEALTH_STATUS_DEGRADED", "Pending"),
    "INSTANCE_STATUS_CREATED": ("HEALTH_STATUS_DEGRADED", "Created"),
    "INSTANCE_STATUS_STARTING": ("HEALTH_STATUS_DEGRADED", "Starting"),
    "INSTANCE_STATUS_STOPPED": ("HEALTH_STATUS_UNHEALTHY", "Stopped"),
    "INSTANCE_STATUS_EXITED": ("HEALTH_STATUS_UNHEALTHY", "Exited"),
    "INSTANCE_STATUS_FAILED": ("HEALTH_STATUS_UNHEALTHY", "Failed"),
    "INSTANCE_STATUS_DELETED": ("HEALTH_STATUS_UNHEALTHY", "Deleted"),
}


def _paging(items: list[Any]) -> Json:
    """What the server echoes: it ignores paging and returns everything."""
    return {"limit": len(items), "offset": 0, "continuationToken": ""}


def dns1123_problem(name: str) -> str | None:
    """utils.ValidateDNS1123Name's complaint about a namespace name, or None."""
    if not 1 <= len(name) <= 63:
        return "namespace name must be between 1 and 63 characters"
    if name[0] == "-" or name[-1] == "-":
        return "namespace name cannot start or end with a hyphen"
    if any(not (c.isascii() and (c.islower() or c.isdigit() or c == "-")) for c in name):
        return "namespace name can only contain lowercase letters, digits, and hyphens"
    if "--" in name:
        return "namespace name cannot contain consecutive hyphens"
    return None


def check_spec(service: Json) -> None:
    """`Service.Validate` (types/service.go), as `invalid_argument "invalid service: ..."`."""
    problem = None
    runtime = service["runtime"]
    if not service["name"]:
        problem = "service name is required"
    elif runtime not in _RUNTIMES:
        problem = f"unknown runtime: {runtime}"
    elif runtime == "process" and not (service["process"] or {}).get("command"):
        problem = "process configuration is required for process runtime"
    elif runtime != "process" and not service["image"]:
        problem = "service image is required for container runtime"
    elif service["scale"] < 0:
        problem = "service scale cannot be negative"
    else:
        for index, port in enumerate(service["ports"]):
            if not port["name"]:
                problem = f"port name is required for port at index {index}"
            elif not 1 <= port["port"] <= 65535:
                problem = f"port must be between 1 and 65535 for port {port['name']}"
            if problem:
                break
    if problem:
        raise RuneError("invalid_argument", f"invalid service: {problem}")


class WorkloadRPCs(State):
    """Handlers of the workload RPCs; each takes a `Call` and returns the reply message."""

    # -- namespaces ---------------------------------------------------------------------------

    def _create_namespace(self, call: Call) -> Json:
        spec = call.body["namespace"]
        if spec is None:
            raise RuneError("invalid_argument", "namespace is required")
        name = spec["name"]
        problem: str | None
        if not name:
            problem = "invalid namespace: name is required"
        elif name in RESERVED_NAMESPACES:
            problem = f"namespace name '{name}' is reserved and cannot be used"
        elif name in self.namespaces:
            problem = f"resource namespace/system/{name} already exists"
        else:
            problem = dns1123_problem(name)
        if problem:  # the repository's errors surface as Internal
            raise RuneError("internal", f"failed to create namespace: {problem}")
        row = self._add_namespace(name, spec["description"], spec["labels"])
        return {"namespace": row, "status": ok("Namespace created successfully")}

    def _get_namespace(self, call: Call) -> Json:
        name = call.body["name"]
        if not name:
            raise RuneError("invalid_argument", "namespace name is required")
        row = self.namespaces.get(name)
        if row is None:
            raise RuneError("not_found", f"namespace not found: {name}")
        return {"namespace": row, "status": ok("Namespace retrieved successfully")}

    def _list_namespaces(self, call: Call) -> Json:
        labels, fields = call.body["labelSelector"], call.body["fieldSelector"]
        rows = [n for n in self.namespaces.values() if matches(n, labels, fields)]
        return {
            "namespaces": rows,
            "status": ok(f"Found {len(rows)} namespaces"),
            "paging": _paging(rows),
        }

    def _delete_namespace(self, call: Call) -> Json:
        """Only the namespace goes: the server neither checks nor removes what is in it."""
        name = call.body["name"]
        if not name:
            raise RuneError("invalid_argument", "namespace name is required")
        if name not in self.namespaces and not call.body["ignoreNotFound"]:
            raise RuneError("not_found", f"namespace not found: {name}")
        if name in RESERVED_NAMESPACES:
            problem = f"cannot delete reserved namespace: {name}"
        elif name not in self.namespaces:
            problem = f"resource namespace/system/{name} not found"
        else:
            problem = ""
        if problem:
            raise RuneError("internal", f"failed to delete namespace: {problem}")
        row = self.namespaces.pop(name)
        self._notify("namespaces", "EVENT_TYPE_DELETED", row)
        return {"status": ok("Namespace deleted successfully")}

    # -- services -----------------------------------------------------------------------------

    def _create_service(self, call: Call) -> Json:
        """A service that exists already is updated instead, as the server does."""
        spec = call.body["service"]
        if spec is None:
            raise RuneError("invalid_argument", "service is required")
        check_spec(spec)
        ns = namespace_of(spec["namespace"])
        self._namespace_or_fail(ns, call.body["ensureNamespace"])
        if (ns, spec["name"]) in self.services:
            return self._apply_update(spec, force=False)
        service = self._add_service(ns, spec["name"], spec)
        return {"service": service, "status": ok("Service created successfully")}

    def _add_service(self, ns: str, name: str, spec: Json) -> Json:
        now = rfc3339(self._now())
        row = copy.deepcopy(spec)
        row.update(
            id=spec["id"] or self._new_id(),
            name=name,
            namespace=ns,
            status="SERVICE_STATUS_PENDING",
            metadata={
                "generation": 1,
                "createdAt": now,
                "updatedAt": now,
                "lastNonZeroScale": max(spec["scale"], 1),
            },
        )
        self.services[(ns, name)] = row
        self._reconcile(row)
        self._settle(row, notify=False)
        self._notify("services", "EVENT_TYPE_ADDED", row)
        return row

    def _get_service(self, call: Call) -> Json:
        name = call.body["name"]
        if not name:
            raise RuneError("invalid_argument", "service name is required")
        service = self._service(namespace_of(call.body["namespace"]), name)
        self._tick(service)
        return {"service": service, "status": ok("Service retrieved successfully")}

    def _list_services(self, call: Call) -> Json:
        ns = namespace_of(call.body["namespace"])
        labels, fields = call.body["labelSelector"], call.body["fieldSelector"]
        rows = [
            s
            for (n, _), s in self.services.items()
            if (ns == "*" or n == ns) and matches(s, labels, fields)
        ]
        for service in rows:
            self._tick(service)
        return {
            "services": rows,
            "status": ok(f"Found {len(rows)} services"),
            "paging": _paging(rows),
        }

    def _update_service(self, call: Call) -> Json:
        spec = call.body["service"]
        if spec is None:
            raise RuneError("invalid_argument", "service is required")
        self._service(namespace_of(spec["namespace"]), spec["name"])
        check_spec(spec)
        return self._apply_update(spec, force=call.body["force"])

    def _apply_update(self, spec: Json, *, force: bool) -> Json:
        """The generation goes up (and the status to UPDATING) when the spec changed or
        `force`; id, metadata and status are the server's."""
        ns = namespace_of(spec["namespace"])
        service = self._service(ns, spec["name"])
        kept = ("id", "namespace", "status", "metadata")
        new = copy.deepcopy({k: v for k, v in spec.items() if k not in kept})
        changed = force or any(service.get(k) != v for k, v in new.items())
        meta = dict(service["metadata"], updatedAt=rfc3339(self._now()))
        status = service["status"]
        if changed:
            meta["generation"] += 1
            status = "SERVICE_STATUS_UPDATING"
        service.update(new, metadata=meta, status=status)
        self._reconcile(service)
        self._notify("services", "EVENT_TYPE_MODIFIED", service)
        return {"service": service, "status": ok("Service updated successfully")}

    def _scale_service(self, call: Call) -> Json:
        """The reply shows the service as it was (the server's scaling controller changes
        `scale` afterwards); the fake applies the new scale at once."""
        name = call.body["name"]
        if not name:
            raise RuneError("invalid_argument", "service name is required")
        scale = call.body["scale"]
        if scale < 0:
            raise RuneError("invalid_argument", "scale must be a non-negative integer")
        service = self._service(namespace_of(call.body["namespace"]), name)
        meta = service["metadata"]
        if scale > meta["lastNonZeroScale"]:
            meta["lastNonZeroScale"] = scale
        if service["scale"] == scale:
            return {"service": service, "status": ok(f"Service already at scale {scale}")}
        before = copy.deepcopy(service)
        self._set_scale(service, scale)
        return {"service": before, "status": ok(f"Scaling operation initiated to {scale}")}

    def _set_scale(self, service: Json, scale: int) -> None:
        service["scale"] = scale
        service["metadata"]["updatedAt"] = rfc3339(self._now())
        self._reconcile(service)
        self._settle(service, notify=False)
        self._notify("services", "EVENT_TYPE_MODIFIED", service)

    # -- deletion -----------------------------------------------------------------------------

    def _delete_service(self, call: Call) -> Json:
        body = call.body
        name = body["name"]
        if not name:
            raise RuneError("invalid_argument", "service name is required")
        ns = namespace_of(body["namespace"])
        service = self.services.get((ns, name))
        if service is None and not body["ignoreNotFound"]:
            raise RuneError("not_found", f"service not found: {name}")
        if not body["force"]:
            dependents = self._dependents(ns, name)
            if dependents:
                raise RuneError(
                    "failed_precondition",
                    f"cannot delete {ns}/{name}; dependents exist: {', '.join(dependents)} "
                    "(use --no-dependencies to override)",
                )
        if service is None:  # ignoreNotFound only skips the first check
            raise RuneError("internal", f"failed to delete service: service not found: {ns}/{name}")
        now = int(self._now())
        finalizers = [
            {"id": f"{kind}-{now}", "name": "", "type": kind, "status": "pending", "error": "",
             "dependencies": [], "createdAt": now, "updatedAt": now, "completedAt": 0}
            for kind in _FINALIZERS
        ]  # fmt: skip
        running = self._deletion_for(ns, name, active=True)
        problem = (
            f"deletion operation already in progress for service {ns}/{name} (ID: {running['id']})"
            if running
            else ""
        )
        if body["dryRun"]:
            if problem:
                return self._deletion_reply("dry-run", "failed", finalizers, errors=[problem])
            return self._deletion_reply("dry-run", "dry_run", finalizers)
        if problem:
            raise RuneError(
                "internal", f"failed to delete service: deletion validation failed: {problem}"
            )
        deletion_id = f"delete-{ns}-{name}-{now}"
        suffix = 1
        while deletion_id in self.deletions:
            suffix += 1
            deletion_id = f"delete-{ns}-{name}-{now}-{suffix}"
        operation: Json = {
            "id": deletion_id,
            "namespace": ns,
            "serviceName": name,
            "totalInstances": service["scale"],
            "deletedInstances": 0,
            "failedInstances": 0,
            "startTime": now,
            "endTime": 0,
            "status": "initializing",
            "failureReason": "",
            "pendingOperations": [],
            "estimatedCompletion": 0,
            "finalizers": copy.deepcopy(finalizers),
            "finalizerOrder": [],
            "finalizerStatus": "",
        }
        self.deletions[deletion_id] = operation
        self._deleting[deletion_id] = self.deletion_polls
        if self.deletion_polls <= 0:
            self._complete_deletion(operation)
        return self._deletion_reply(deletion_id, "in_progress", finalizers)

    @staticmethod
    def _deletion_reply(
        deletion_id: str, status: str, finalizers: list[Json], *, errors: list[str] | None = None
    ) -> Json:
        return {
            "deletionId": deletion_id,
            "status": ok(status),
            "warnings": [],
            "errors": list(errors or ()),
            "cleanupOperations": [],
            "partialCleanup": False,
            "finalizers": finalizers,
        }

    def _dependents(self, ns: str, name: str) -> list[str]:
        """Services (in any namespace) with a dependency on `ns/name`."""
        return [
            f"{n}/{s['name']}"
            for (n, _), s in self.services.items()
            if any(d["service"] == name and (d["namespace"] or n) == ns for d in s["dependencies"])
        ]

    def _deletion_for(self, ns: str, name: str, *, active: bool = False) -> Json | None:
        """The latest deletion operation of a service (only a running one, if `active`)."""
        found = None
        for op in self.deletions.values():
            same = op["namespace"] == ns and op["serviceName"] == name
            if same and (not active or op["status"] not in ("completed", "failed")):
                found = op
        return found

    def _get_deletion_status(self, call: Call) -> Json:
        name = call.body["name"]
        if not name:
            raise RuneError("invalid_argument", "deletion_id is required")
        ns = namespace_of(call.body["namespace"])
        operation = self.deletions.get(name)
        if operation is None or operation["namespace"] != ns:
            operation = self._deletion_for(ns, name)
        if operation is None:  # the store's not-found error, wrapped as Internal
            raise RuneError(
                "internal",
                "failed to get deletion status: failed to get deletion operation: "
                f"resource deletion_operation/{ns}/{name} not found",
            )
        if operation["status"] not in ("completed", "failed"):
            self._advance_deletion(operation)
        return {"operation": operation}

    def _advance_deletion(self, operation: Json) -> None:
        left = self._deleting.get(operation["id"], 0)
        if left <= 0:
            self._complete_deletion(operation)
            return
        self._deleting[operation["id"]] = left - 1
        step = self.deletion_polls - left + 1
        service = self.services.get((operation["namespace"], operation["serviceName"]))
        total = len(self._service_instances(service)) if service else 0
        if step == 1:
            operation.update(status="deleting-instances", totalInstances=total)
        else:
            operation["status"] = "running-finalizers"
            for finalizer in operation["finalizers"]:
                finalizer.update(status="running", updatedAt=int(self._now()))

    def _complete_deletion(self, operation: Json) -> None:
        now = int(self._now())
        service = self.services.get((operation["namespace"], operation["serviceName"]))
        deleted = 0
        if service is not None:
            deleted = len(self._service_instances(service))
            self._remove_service(service)
        self._deleting.pop(operation["id"], None)
        for finalizer in operation["finalizers"]:
            finalizer.update(status="completed", updatedAt=now, completedAt=now)
        operation.update(
            status="completed",
            endTime=now,
            totalInstances=max(operation["totalInstances"], deleted),
            deletedInstances=deleted,
        )

    def _remove_service(self, service: Json) -> None:
        for instance in self._service_instances(service):
            self._drop_instance(instance)
        del self.services[(service["namespace"], service["name"])]
        self._notify("services", "EVENT_TYPE_DELETED", service)

    def _list_deletion_operations(self, call: Call) -> Json:
        ns, status = call.body["namespace"], call.body["status"]
        rows = [
            op
            for op in self.deletions.values()
            if ns in ("", "*", op["namespace"]) and status in ("", op["status"])
        ]
        return {"operations": rows}

    # -- instances ----------------------------------------------------------------------------

    def _reconcile(self, service: Json) -> None:
        """Make `<service>-0 … <service>-<scale-1>`; drop the ones numbered above."""
        have = {instance_number(i): i for i in self._service_instances(service)}
        for number, instance in have.items():
            if number >= service["scale"]:
                self._drop_instance(instance)
        for number in range(service["scale"]):
            if number not in have:
                self._add_instance(service, number)

    def _add_instance(self, service: Json, number: int) -> Json:
        now = self._now()
        name = f"{service['name']}-{number}"
        instance_id = self._new_id()
        process = service["runtime"] == "process"
        starting = self.start_polls > 0
        row: Json = {
            "id": instance_id,
            "runner": "process" if process else "docker",
            "namespace": service["namespace"],
            "name": name,
            "serviceId": service["id"],
            "serviceName": service["name"],
            "nodeId": "local",
            "ip": f"10.88.0.{(len(self.instances) % 250) + 2}",
            "status": "INSTANCE_STATUS_PENDING" if starting else "INSTANCE_STATUS_RUNNING",
            "statusMessage": "",
            "containerId": "" if process else instance_id.replace("-", "")[:12],
            "pid": 4000 + len(self.instances) if process else 0,
            "createdAt": rfc3339(now),
            "updatedAt": rfc3339(now),
            "resources": copy.deepcopy(service["resources"]),
            "environment": dict(service["env"]),
            "metadata": {
                "generation": service["metadata"]["generation"],
                "deletionTimestamp": "",
                "restartCount": 0,
                "secretMounts": [],
                "configMounts": [],
            },
        }
        self.instances[instance_id] = row
        if starting:
            self._starting[instance_id] = self.start_polls
        lines = self.logs.setdefault((service["namespace"], name), [])
        for stream, level, text in _DEFAULT_LOG_LINES:
            lines.append(self._log_line(row, text.format(name=name), stream, level, now))
        self._notify("instances", "EVENT_TYPE_ADDED", row)
        return row

    def _log_line(
        self, instance: Json | None, content: str, stream: str, level: str, when: float
    ) -> Json:
        """A stored log line: `LogResponse` fields, plus `time` (epoch seconds) and `seq`
        (the order lines were added in)."""
        self._log_seq += 1
        return {
            "seq": self._log_seq,
            "serviceName": instance["serviceName"] if instance else "",
            "instanceId": instance["id"] if instance else "",
            "instanceName": instance["name"] if instance else "",
            "content": content,
            "stream": stream,
            "logLevel": level,
            "time": when,
        }

    def _drop_instance(self, instance: Json) -> None:
        self.instances.pop(instance["id"], None)
        self._starting.pop(instance["id"], None)
        instance["status"] = "INSTANCE_STATUS_DELETED"
        instance["metadata"]["deletionTimestamp"] = rfc3339(self._now())
        self._notify("instances", "EVENT_TYPE_DELETED", instance)

    def _tick(self, service: Json) -> None:
        """One read of a service: its starting instances move one step towards RUNNING."""
        for instance in self._service_instances(service):
            left = self._starting.get(instance["id"])
            if left is None:
                continue
            if left <= 1:
                del self._starting[instance["id"]]
                status = "INSTANCE_STATUS_RUNNING"
            else:
                self._starting[instance["id"]] = left - 1
                status = "INSTANCE_STATUS_STARTING"
            if instance["status"] != status:
                instance.update(status=status, updatedAt=rfc3339(self._now()))
                self._notify("instances", "EVENT_TYPE_MODIFIED", instance)
        self._settle(service, notify=True)

    def _settle(self, service: Json, *, notify: bool) -> None:
        """A service is PENDING while one of its instances is starting, else RUNNING."""
        starting = any(i["id"] in self._starting for i in self._service_instances(service))
        status = "SERVICE_STATUS_PENDING" if starting else "SERVICE_STATUS_RUNNING"
        if service["status"] != status:
            service["status"] = status
            if notify:
                self._notify("services", "EVENT_TYPE_MODIFIED", service)

    def _scaling_status(self, service: Json, target: int) -> Json:
        """`ScalingStatusResponse` (service.go WatchScaling / isScalingComplete): target 0
        is complete when no instance is left, any other when `scale` and the running
        instances both equal it."""
        instances = self._service_instances(service)
        running = sum(i["status"] == "INSTANCE_STATUS_RUNNING" for i in instances)
        pending = sum(i["status"] in _STARTING for i in instances)
        if target == 0:
            complete = not instances
        else:
            complete = service["scale"] == target and running == target
        return {
            "currentScale": service["scale"],
            "targetScale": target,
            "runningInstances": running,
            "pendingInstances": pending,
            "complete": complete,
            "status": ok(f"Service '{service['name']}' scaling progress"),
        }

    def _instance(self, instance_id: str, namespace: str) -> Json:
        if not instance_id:
            raise RuneError("invalid_argument", "instance ID is required")
        instance = self.instances.get(instance_id)
        if instance is None or instance["namespace"] != namespace:
            raise RuneError(
                "internal",
                f"failed to get instance: resource instance/{namespace}/{instance_id} not found",
            )
        return instance

    def _get_instance(self, call: Call) -> Json:
        instance = self._instance(call.body["id"], namespace_of(call.body["namespace"]))
        service = self.services.get((instance["namespace"], instance["serviceName"]))
        if service is not None:
            self._tick(service)
        return {"instance": instance, "status": ok("Instance retrieved successfully")}

    def _list_instances(self, call: Call) -> Json:
        """`serviceName` matches an instance's service name or id (the server compares it
        with the id only)."""
        body = call.body
        ns = namespace_of(body["namespace"])
        wanted = body["serviceName"]
        for (n, _), service in list(self.services.items()):
            if n == ns and wanted in ("", service["name"], service["id"]):
                self._tick(service)
        rows = []
        for instance in self.instances.values():
            service = self.services.get((instance["namespace"], instance["serviceName"])) or {}
            labelled = {**instance, "labels": service.get("labels") or {}}
            if (
                instance["namespace"] == ns
                and wanted in ("", instance["serviceName"], instance["serviceId"])
                and body["nodeId"] in ("", instance["nodeId"])
                and body["status"] in ("INSTANCE_STATUS_UNSPECIFIED", instance["status"])
                and matches(labelled, body["labelSelector"], body["fieldSelector"])
            ):
                rows.append(instance)
        rows.sort(key=lambda i: (i["serviceName"], instance_number(i)))
        return {
            "instances": rows,
            "status": ok(f"Found {len(rows)} instances"),
            "paging": _paging(rows),
        }

    def _instance_action(self, call: Call, action: str) -> Json:
        """The request names no namespace: the server looks in `default` (the REST path's
        namespace, on that wire)."""
        instance = self._instance(call.body["id"], call.path.get("namespace", "default"))
        self._starting.pop(instance["id"], None)
        if action == "stop":
            status = "INSTANCE_STATUS_STOPPED"
        else:
            status = "INSTANCE_STATUS_RUNNING"
            if action == "restart":
                instance["metadata"]["restartCount"] += 1
        instance.update(status=status, updatedAt=rfc3339(self._now()))
        self._notify("instances", "EVENT_TYPE_MODIFIED", instance)
        service = self.services.get((instance["namespace"], instance["serviceName"]))
        if service is not None:
            self._settle(service, notify=True)
        return {"instance": instance, "status": ok("Instance retrieved successfully")}

    def _start_instance(self, call: Call) -> Json:
        return self._instance_action(call, "start")

    def _stop_instance(self, call: Call) -> Json:
        return self._instance_action(call, "stop")

    def _restart_instance(self, call: Call) -> Json:
        return self._instance_action(call, "restart")

    # -- health -------------------------------------------------------------------------------

    def _get_health(self, call: Call) -> Json:
        """health.go: `service`, `instance` (`name` is an instance id), `node`, and
        `api-server` (also for an empty component type)."""
        body = call.body
        kind = body["componentType"] or "api-server"
        now = rfc3339(self._now())
        if kind == "service":
            components = self._service_health(body, now)
            message = f"Retrieved health for {len(components)} services"
        elif kind == "instance":
            components = self._instance_health(body, now)
            message = f"Retrieved health for {len(components)} instances"
        elif kind == "node":
            name = body["name"] or "local"
            components = [_component("node", name, name, "", "HEALTH_STATUS_HEALTHY",
                                     "Single-node", now)]  # fmt: skip
            message = f"Retrieved health for {len(components)} nodes"
        elif kind == "api-server":
            component = _component("api-server", "api-server", "api-server", "",
                                   "HEALTH_STATUS_HEALTHY", "API server is operating normally",
                                   now)  # fmt: skip
            if body["includeChecks"]:
                component["checkResults"] = [
                    _check("LIVENESS", "API server is responding to requests", 100, now),
                    _check("READINESS", "API server is ready to process requests", 100, now),
                ]
            components, message = [component], "API server is healthy"
        else:
            raise RuneError("invalid_argument", f"unknown component type: {kind}")
        return {"components": components, "status": ok(message)}

    def _service_health(self, body: Json, now: str) -> list[Json]:
        ns = namespace_of(body["namespace"])
        if body["name"]:
            services = [self._service(ns, body["name"])]
        else:
            services = [s for (n, _), s in self.services.items() if n == ns]
        components = []
        for service in services:
            self._tick(service)
            instances = self._service_instances(service)
            total = len(instances)
            running = sum(i["status"] == "INSTANCE_STATUS_RUNNING" for i in instances)
            failed = sum(i["status"] == "INSTANCE_STATUS_FAILED" for i in instances)
            if not total:
                status, message = "HEALTH_STATUS_UNKNOWN", "No instances found"
            elif running == total:
                status, message = "HEALTH_STATUS_HEALTHY", f"All {total} instances are running"
            elif failed == total:
                status, message = "HEALTH_STATUS_UNHEALTHY", f"All {total} instances have failed"
            elif running:
                status, message = (
                    "HEALTH_STATUS_DEGRADED",
                    f"{running}/{total} instances are running",
                )
            else:
                status = "HEALTH_STATUS_UNHEALTHY"
                message = f"No instances are running, {failed}/{total} instances have failed"
            component = _component("service", service["id"], service["name"], ns, status,
                                   message, now)  # fmt: skip
            if body["includeChecks"]:  # the server's mock results
                component["checkResults"] = [
                    _check("LIVENESS", "Health check passed", 5, now),
                    _check("READINESS", "Ready to serve traffic", 3, now),
                ]
            components.append(component)
        return components

    def _instance_health(self, body: Json, now: str) -> list[Json]:
        ns = namespace_of(body["namespace"])
        if body["name"]:
            found = self.instances.get(body["name"])
            if found is None or found["namespace"] != ns:
                raise RuneError("not_found", f"instance not found: {body['name']}")
            instances = [found]
        else:
            instances = [i for i in self.instances.values() if i["namespace"] == ns]
        components = []
        for instance in instances:
            status, message = _INSTANCE_HEALTH.get(
                instance["status"], ("HEALTH_STATUS_UNKNOWN", "Unknown")
            )
            component = _component("instance", instance["id"], instance["name"],
                                   instance["namespace"], status, message, now)  # fmt: skip
            if body["includeChecks"]:
                word = instance["status"].removeprefix("INSTANCE_STATUS_").title()
                component["checkResults"] = [
                    dict(_check("LIVENESS", f"status={word}", 1, now), status=status)
                ]
            components.append(component)
        return components


def _component(
    kind: str, ident: str, name: str, namespace: str, status: str, message: str, now: str
) -> Json:
    return {
        "componentType": kind,
        "id": ident,
        "name": name,
        "namespace": namespace,
        "status": status,
        "message": message,
        "timestamp": now,
        "checkResults": [],
    }


def _check(kind: str, message: str, successes: int, now: str) -> Json:
    return {
        "type": f"HEALTH_CHECK_TYPE_{kind}",
        "status": "HEALTH_STATUS_HEALTHY",
        "message": message,
        "timestamp": now,
        "consecutiveSuccesses": successes,
        "consecutiveFailures": 0,
    }
