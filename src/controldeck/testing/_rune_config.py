"""`FakeRune`'s SecretService and ConfigmapService: the same five RPCs over two stores, as
runed 413bfe0 answers them (pkg/api/service/secret.go, configmap.go).

Creating one that exists updates it; `version` starts at 1 and goes up by one on an update
that changes something (`data`, or a secret's `type`); a secret's `data` comes back in
clear text (the server's MVP); DeleteSecret and DeleteConfigmap answer the bare `Status`
message; every reply's `status` is `{code: 0}` with no message.
"""

from __future__ import annotations

from controldeck.testing._rune_state import State, matches, namespace_of
from controldeck.testing._rune_wire import Call, Json, RuneError, ok, rfc3339

__all__ = ["ConfigRPCs"]

_MISSING = {"secret": "secret is required", "configmap": "config map is required"}
_UPDATE_MISSING = {"secret": "secret not found", "configmap": "config not found"}
_CREATE_ERROR = {"secret": "create secret", "configmap": "create"}


class ConfigRPCs(State):
    """Handlers of the secret and configmap RPCs."""

    def _store(self, kind: str) -> dict[tuple[str, str], Json]:
        return self.secrets if kind == "secret" else self.configmaps

    def _create_config(self, call: Call, kind: str) -> Json:
        spec = call.body[kind]
        if spec is None:
            raise RuneError("invalid_argument", _MISSING[kind])
        ns = namespace_of(spec["namespace"])
        self._namespace_or_fail(ns, call.body["ensureNamespace"])
        if not spec["name"]:
            raise RuneError("internal", f"{_CREATE_ERROR[kind]}: name is required")
        store = self._store(kind)
        if (ns, spec["name"]) in store:
            return self._update_config(call, kind)
        now = rfc3339(self._now())
        row: Json = {
            "name": spec["name"],
            "namespace": ns,
            "data": dict(spec["data"]),
            "version": 1,
            "createdAt": now,
            "updatedAt": now,
        }
        if kind == "secret":
            row["type"] = spec["type"]
        store[(ns, spec["name"])] = row
        return {kind: row, "status": ok("")}

    def _get_config(self, call: Call, kind: str) -> Json:
        ns, name = namespace_of(call.body["namespace"]), call.body["name"]
        row = self._store(kind).get((ns, name))
        if row is None:
            raise RuneError("not_found", f"get: resource {kind}/{ns}/{name} not found")
        return {kind: row, "status": ok("")}

    def _update_config(self, call: Call, kind: str) -> Json:
        spec = call.body[kind]
        if spec is None:
            raise RuneError("invalid_argument", _MISSING[kind])
        ns = namespace_of(spec["namespace"])
        row = self._store(kind).get((ns, spec["name"]))
        if row is None:
            raise RuneError("not_found", f"{_UPDATE_MISSING[kind]}: {ns}/{spec['name']}")
        changed = row["data"] != spec["data"] or (kind == "secret" and row["type"] != spec["type"])
        if changed:
            row.update(
                data=dict(spec["data"]),
                version=row["version"] + 1,
                updatedAt=rfc3339(self._now()),
            )
            if kind == "secret":
                row["type"] = spec["type"]
        return {kind: row, "status": ok("")}

    def _delete_config(self, call: Call, kind: str) -> Json:
        ns, name = namespace_of(call.body["namespace"]), call.body["name"]
        if self._store(kind).pop((ns, name), None) is None:
            raise RuneError("internal", f"delete: resource {kind}/{ns}/{name} not found")
        return ok("")

    def _list_config(self, call: Call, kind: str) -> Json:
        ns = namespace_of(call.body["namespace"])
        rows = [
            row
            for (n, _), row in self._store(kind).items()
            if n == ns and matches(row, call.body["labelSelector"], call.body["fieldSelector"])
        ]
        return {f"{kind}s": rows, "status": ok("")}

    # The RPC table names one handler per RPC.

    def _create_secret(self, call: Call) -> Json:
        return self._create_config(call, "secret")

    def _get_secret(self, call: Call) -> Json:
        return self._get_config(call, "secret")

    def _update_secret(self, call: Call) -> Json:
        return self._update_config(call, "secret")

    def _delete_secret(self, call: Call) -> Json:
        return self._delete_config(call, "secret")

    def _list_secrets(self, call: Call) -> Json:
        return self._list_config(call, "secret")

    def _create_configmap(self, call: Call) -> Json:
        return self._create_config(call, "configmap")

    def _get_configmap(self, call: Call) -> Json:
        return self._get_config(call, "configmap")

    def _update_configmap(self, call: Call) -> Json:
        return self._update_config(call, "configmap")

    def _delete_configmap(self, call: Call) -> Json:
        return self._delete_config(call, "configmap")

    def _list_configmaps(self, call: Call) -> Json:
        return self._list_config(call, "configmap")
