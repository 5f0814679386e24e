"""The state every `FakeRune` mixin reads, and the helpers they share."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from controldeck.testing._rune_wire import Json, RuneError, Stream

__all__ = [
    "DEFAULT_NAMESPACE",
    "State",
    "first",
    "instance_number",
    "matches",
    "namespace_of",
]

DEFAULT_NAMESPACE = "default"


def namespace_of(value: str) -> str:
    """An empty namespace means `default` (service.go `DefaultNamespace`)."""
    return value or DEFAULT_NAMESPACE


def matches(obj: Json, label_selector: dict[str, str], field_selector: dict[str, str]) -> bool:
    """Whether an object passes a request's selectors: every label equal, and every field
    selector key naming a top-level field whose value (as text) is equal."""
    labels = obj.get("labels") or {}
    if any(labels.get(k) != v for k, v in label_selector.items()):
        return False
    for key, want in field_selector.items():
        value = obj.get(key)
        if value is None or (str(value).lower() if isinstance(value, bool) else str(value)) != want:
            return False
    return True


class State:
    """What the mixins share; `FakeRune` owns and fills it."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    namespaces: dict[str, Json]
    services: dict[tuple[str, str], Json]
    instances: dict[str, Json]
    deletions: dict[str, Json]
    secrets: dict[tuple[str, str], Json]
    configmaps: dict[tuple[str, str], Json]
    users: dict[str, Json]
    policies: dict[str, Json]
    tokens: dict[str, Json]
    registries: dict[str, Json]
    logs: dict[tuple[str, str], list[Json]]
    start_polls: int
    deletion_polls: int
    _starting: dict[str, int]  # instance id → reads left before it is RUNNING
    _deleting: dict[str, int]  # deletion id → status polls left before it completes
    _streams: list[Stream]
    _log_seq: int

    def _now(self) -> float:
        return self._clock()

    @staticmethod
    def _new_id() -> str:
        return str(uuid.uuid4())

    def _notify(self, kind: str, event: str, obj: Json) -> None:
        raise NotImplementedError  # the stream mixin

    def _tick(self, service: Json) -> None:
        raise NotImplementedError  # the workload mixin

    def _scaling_status(self, service: Json, target: int) -> Json:
        raise NotImplementedError  # the workload mixin

    # -- lookups shared by several services ----------------------------------------------------

    def _namespace_or_fail(self, name: str, ensure: bool) -> None:
        """ensureNamespaceExists: the reserved namespaces always pass; a missing one is made
        when `ensure` (labelled `rune/auto-created`), else `failed_precondition`."""
        if name in ("system", "default") or name in self.namespaces:
            return
        if not ensure:
            raise RuneError(
                "failed_precondition",
                f"failed to ensure namespace exists: namespace {name} does not exist "
                "(use --create-namespace to create it)",
            )
        self._add_namespace(name, "", {"rune/auto-created": "true"})

    def _add_namespace(self, name: str, description: str, labels: dict[str, str]) -> Json:
        now = int(self._now())
        row: Json = {
            "id": self._new_id(),
            "name": name,
            "description": description,
            "labels": dict(labels),
            "createdAt": now,
            "updatedAt": now,
        }
        self.namespaces[name] = row
        self._notify("namespaces", "EVENT_TYPE_ADDED", row)
        return row

    def _service(self, namespace: str, name: str) -> Json:
        found = self.services.get((namespace, name))
        if found is None:
            raise RuneError("not_found", f"service not found: {name}")
        return found

    def _service_instances(self, service: Json) -> list[Json]:
        """The service's instances, by their number."""
        rows = [
            i
            for i in self.instances.values()
            if i["namespace"] == service["namespace"] and i["serviceName"] == service["name"]
        ]
        return sorted(rows, key=_instance_number)


def _instance_number(instance: Json) -> int:
    tail = str(instance["name"]).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def instance_number(instance: Json) -> int:
    """`api-3` → 3."""
    return _instance_number(instance)


def first(rows: Iterable[Json], **equal: Any) -> Json | None:
    """The first row whose fields equal `equal`."""
    for row in rows:
        if all(row.get(k) == v for k, v in equal.items()):
            return row
    return None
