"""`FakeRune`'s AuthService and AdminService, bearer tokens and RBAC, as runed 413bfe0
answers them (pkg/api/service/auth.go, admin.go; pkg/api/server/server.go, utils.go).

Tokens are opaque secrets (`<uuid>.<uuid>`); the fake keeps only their SHA-256 (`tokens`
holds the `TokenInfo` rows, never a secret). A token acts as its subject, whose policies
decide: the action of an RPC comes from its name (`ServiceService/Get*` is `services:get`,
`InstanceService/Watch*` `instances:watch`, `AuthService/WhoAmI` `auth:get`, every
`AdminService` RPC `admin:*`, and everything else — namespaces, tokens, instance
start/stop/restart, service watches — `*:*`); a rule's namespace is matched against the
request's top-level `namespace` field (`""` for streams). The built-in policies are `root`
and `admin` (everything), `readwrite` (get, list, watch, create, update, delete, scale,
exec) and `readonly` (get, list, watch).

Most AdminService and AuthService failures are plain Go errors on the server, so they
arrive as `unknown` (HTTP 500); users and policies are upserted.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from typing import Any

from controldeck.testing._rune_state import State, first
from controldeck.testing._rune_wire import Call, Json, RuneError

__all__ = ["BUILTIN_POLICIES", "AccessRPCs", "action_of"]

_ALL = ["*"]
BUILTIN_POLICIES: dict[str, tuple[str, list[str]]] = {  # server/bootstrap.go
    "root": ("Full access", _ALL),
    "admin": ("Full access", _ALL),
    "readwrite": (
        "Read/write typical ops",
        ["get", "list", "watch", "create", "update", "delete", "scale", "exec"],
    ),
    "readonly": ("Read-only", ["get", "list", "watch"]),
}

_RESOURCES = {
    "ServiceService": ("services", ("Get", "List", "Create", "Update", "Delete", "Scale")),
    "InstanceService": ("instances", ("Get", "List", "Watch")),
    "HealthService": ("health", ("Get",)),
    "ConfigmapService": ("configmaps", ("Get", "List", "Create", "Update", "Delete")),
    "SecretService": ("secrets", ("Get", "List", "Create", "Update", "Delete")),
}


def action_of(service: str, method: str) -> tuple[str, str]:
    """The `(resource, verb)` an RPC needs (server utils.go `methodToAction`)."""
    if service == "AdminService":
        return ("admin", "*")
    if service == "AuthService":
        return ("auth", "get") if method == "WhoAmI" else ("*", "*")
    if service == "LogService":
        return ("logs", "get")
    if service == "ExecService":
        return ("exec", "exec")
    resource, prefixes = _RESOURCES.get(service, ("*", ()))
    for prefix in prefixes:
        if method.startswith(prefix):
            return (resource, prefix.lower())
    return ("*", "*")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.strip().encode("utf-8")).hexdigest()


def _not_found(kind: str, name: str) -> RuneError:
    """A store miss surfacing as a plain Go error: `unknown`."""
    return RuneError("unknown", f"resource {kind}/system/{name} not found")


def _normalized_auth(auth: Json | None) -> Json | None:
    """normalizeAuthMap: empty fields dropped, `type` inferred (token, basic, ecr)."""
    if auth is None:
        return None
    out = copy.deepcopy(auth)
    if not out["type"]:
        if out["token"]:
            out["type"] = "token"
        elif out["username"] and out["password"]:
            out["type"] = "basic"
        elif out["region"]:
            out["type"] = "ecr"
    return out


class AccessRPCs(State):
    """Tokens, subjects and policies, and the handlers of AuthService and AdminService."""

    _token_digests: dict[str, str]  # sha256(secret) → token id

    # -- credentials ----------------------------------------------------------------------------

    def _add_builtin_policies(self) -> None:
        for name, (description, verbs) in BUILTIN_POLICIES.items():
            self.policies[name] = {
                "id": self._new_id(),
                "name": name,
                "description": description,
                "rules": [{"resource": "*", "verbs": list(verbs), "namespace": "*"}],
                "builtin": True,
            }

    def _user(self, name_or_id: str) -> Json | None:
        return self.users.get(name_or_id) or first(self.users.values(), id=name_or_id)

    def _add_user(self, name: str, email: str = "", policies: list[str] | None = None) -> Json:
        if name in self.users:
            raise RuneError("unknown", f"resource user/system/{name} already exists")
        row: Json = {
            "id": self._new_id(),
            "kind": "user",
            "name": name,
            "email": email,
            "policies": list(dict.fromkeys(policies or ())),
        }
        self.users[name] = row
        return row

    def _issue(
        self, subject: Json, name: str, ttl: int = 0, description: str = ""
    ) -> tuple[Json, str]:
        """A new token for a subject: its `TokenInfo` row and its secret."""
        secret = f"{uuid.uuid4()}.{uuid.uuid4()}"
        issued = int(self._now())
        row: Json = {
            "id": self._new_id(),
            "name": name,
            "subjectId": subject["id"],
            "subjectType": "user",
            "description": description,
            "issuedAt": issued,
            "expiresAt": issued + ttl if ttl > 0 else 0,
            "revoked": False,
        }
        self.tokens[row["id"]] = row
        self._token_digests[_digest(secret)] = row["id"]
        return row, secret

    def _bootstrap(self) -> tuple[Json, str]:
        """AdminBootstrap: user `root` with policy `root` (made or repaired), a new token."""
        root = self.users.get("root") or self._add_user("root")
        if "root" not in root["policies"]:
            root["policies"].append("root")
        name = f"bootstrap-admin-{int(self._now() * 1e9)}"
        return self._issue(root, name, 0, "bootstrap-admin")

    def _authenticate(self, header: str | None) -> tuple[Json | None, str]:
        """The subject (None if the user is gone) and token id of a bearer header.

        Raises:
            RuneError: `unauthenticated` — no bearer token, or one unknown, revoked or
                expired.
        """
        scheme, _, secret = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise RuneError(
                "unauthenticated", "missing bearer token: Request unauthenticated with bearer"
            )
        token = self.tokens.get(self._token_digests.get(_digest(secret), ""))
        expired = token is not None and 0 < token["expiresAt"] <= self._now()
        if token is None or token["revoked"] or expired:
            raise RuneError("unauthenticated", "invalid bearer token")
        return self._user(token["subjectId"]), token["id"]

    def _allowed(self, subject: Json | None, resource: str, verb: str, namespace: str) -> bool:
        """evaluatePolicies: any rule of any of the subject's policies allows it."""
        for name in subject["policies"] if subject else ():
            policy = self.policies.get(name)
            for rule in policy["rules"] if policy else ():
                if rule["resource"] not in ("*", resource):
                    continue
                if "*" not in rule["verbs"] and verb not in rule["verbs"]:
                    continue
                if rule["namespace"] in ("", "*", namespace):
                    return True
        return False

    def _authorize(self, subject: Json | None, resource: str, verb: str, namespace: str) -> None:
        if not self._allowed(subject, resource, verb, namespace):
            raise RuneError(
                "permission_denied", f"access denied for resource: {resource} verb: {verb}"
            )

    # -- AuthService ------------------------------------------------------------------------------

    def _whoami(self, call: Call) -> Json:
        who = call.subject or {"id": "", "name": "", "email": "", "policies": []}
        return {
            "subjectId": who["id"],
            "subjectName": who["name"],
            "subjectEmail": who["email"],
            "policies": list(who["policies"]),
        }

    def _create_token(self, call: Call) -> Json:
        """The subject is the user named by `subjectId`, `subjectName` or the token's
        `name` (the first given), made on the fly with `policies` (or `readonly`)."""
        body = call.body
        subject_type = body["subjectType"] or "user"
        if subject_type != "user":
            raise RuneError(
                "unknown",
                f"invalid subject-type: {subject_type} (only 'user' supported for now, "
                "service support planned)",
            )
        name_or_id = body["subjectId"] or body["subjectName"] or body["name"]
        if not name_or_id:
            raise RuneError(
                "unknown", "either subject_name or subject_id must be provided to derive subject"
            )
        subject = self._user(name_or_id)
        if subject is None:
            new_name = body["subjectName"] or body["name"]
            if not new_name:
                raise RuneError(
                    "unknown", "either subject_name or name must be provided to create subject"
                )
            policies = [p for p in body["policies"] if p] or ["readonly"]
            subject = self._add_user(new_name, "", policies)
        ttl = max(body["ttlSeconds"], 0)
        row, secret = self._issue(subject, body["name"], ttl, body["description"])
        return {"id": row["id"], "name": row["name"], "secret": secret}

    def _revoke_token(self, call: Call) -> Json:
        row = self.tokens.get(call.body["id"])
        if row is None:
            raise RuneError("unknown", f"resource token/system/{call.body['id']} not found")
        row["revoked"] = True
        return {"revoked": True}

    # -- AdminService: bootstrap, users, tokens ---------------------------------------------------

    def _admin_bootstrap(self, call: Call) -> Json:
        row, secret = self._bootstrap()
        return {"tokenId": row["id"], "tokenSecret": secret, "subjectId": row["subjectId"]}

    def _user_create(self, call: Call) -> Json:
        """An upsert: a new email replaces the old, policies are added (not checked)."""
        body = call.body
        if not body["name"]:
            raise RuneError("unknown", "user name is required")
        user = self.users.get(body["name"]) or self._add_user(body["name"], body["email"])
        if body["email"]:
            user["email"] = body["email"]
        user["policies"] = list(dict.fromkeys([*user["policies"], *body["policies"]]))
        return {"user": user}

    def _user_list(self, call: Call) -> Json:
        return {"users": list(self.users.values())}

    def _token_list(self, call: Call) -> Json:
        return {"tokens": list(self.tokens.values())}

    # -- AdminService: policies ---------------------------------------------------------------

    def _policy_named(self, name: str) -> Json:
        found = self.policies.get(name)
        if found is None:
            raise _not_found("policy", name)
        return found

    def _policy_create(self, call: Call) -> Json:
        """An upsert; the reply echoes the request's policy."""
        spec = call.body["policy"] or {"name": "", "description": "", "rules": []}
        if not spec["name"]:
            raise RuneError("unknown", "policy name validation failed: name is required")
        row = self.policies.setdefault(spec["name"], {"id": self._new_id(), "builtin": False})
        row.update(name=spec["name"], description=spec["description"],
                   rules=copy.deepcopy(spec["rules"]), builtin=False)  # fmt: skip
        return {"policy": call.body["policy"]}

    def _policy_update(self, call: Call) -> Json:
        spec = call.body["policy"] or {"name": ""}
        row = self._policy_named(spec["name"])
        row.update(description=spec["description"], rules=copy.deepcopy(spec["rules"]),
                   builtin=spec["builtin"])  # fmt: skip
        return {"policy": call.body["policy"]}

    def _policy_delete(self, call: Call) -> Json:
        name = call.body["name"] or call.body["id"]  # the server treats an id as a name
        self._policy_named(name)
        del self.policies[name]
        return {"deleted": True}

    def _policy_get(self, call: Call) -> Json:
        return {"policy": self._policy_named(call.body["name"] or call.body["id"])}

    def _policy_list(self, call: Call) -> Json:
        return {"policies": list(self.policies.values())}

    def _policy_subject(self, body: Json) -> tuple[str, Json]:
        key = body["subjectId"] or body["subjectName"]
        subject = self._user(key)
        if subject is None:
            raise _not_found("user", key)
        return body["policyName"] or body["policyId"], subject

    def _policy_attach(self, call: Call) -> Json:
        policy, subject = self._policy_subject(call.body)
        if policy not in subject["policies"]:
            subject["policies"].append(policy)
        return {"attached": True}

    def _policy_detach(self, call: Call) -> Json:
        policy, subject = self._policy_subject(call.body)
        subject["policies"] = [p for p in subject["policies"] if p != policy]
        return {"detached": True}

    # -- AdminService: registries -------------------------------------------------------------

    def _registry(self, name: str) -> Json:
        if not name:
            raise RuneError("invalid_argument", "name is required")
        row = self.registries.get(name)
        if row is None:
            raise RuneError("not_found", "registry not found")
        return row

    def _list_registries(self, call: Call) -> Json:
        return {"registries": list(self.registries.values())}

    def _get_registry(self, call: Call) -> Json:
        return {"registry": self._registry(call.body["name"])}

    def _add_registry(self, call: Call) -> Json:
        spec = call.body["registry"]
        if spec is None or not spec["name"] or not spec["registry"]:
            raise RuneError("invalid_argument", "name and registry are required")
        if spec["name"] in self.registries:
            raise RuneError("already_exists", "registry name already exists")
        self.registries[spec["name"]] = dict(
            copy.deepcopy(spec), auth=_normalized_auth(spec["auth"])
        )
        return {"registry": spec}

    def _update_registry(self, call: Call) -> Json:
        """The host and the auth stay as they were when the request leaves them out."""
        spec = call.body["registry"]
        if spec is None or not spec["name"]:
            raise RuneError("invalid_argument", "name is required")
        row = self._registry(spec["name"])
        row["registry"] = spec["registry"] or row["registry"]
        if spec["auth"] is not None:
            row["auth"] = _normalized_auth(spec["auth"])
        return {"registry": spec}

    def _remove_registry(self, call: Call) -> Json:
        row = self._registry(call.body["name"])
        del self.registries[row["name"]]
        return {"deleted": True}

    def _bootstrap_auth(self, call: Call) -> Json:
        body = call.body
        updated = sum(
            1
            for row in self.registries.values()
            if body["all"]
            or (body["name"] and row["name"] == body["name"])
            or (body["type"] and (row["auth"] or {}).get("type") == body["type"])
        )
        return {"updated": updated}

    def _test_registry(self, call: Call) -> Json:
        self._registry(call.body["name"])
        return {"ok": True, "message": "ok"}

    def _registries_status(self, call: Call) -> Json:
        rows = []
        for name, row in self.registries.items():
            auth: Any = row["auth"] or {}
            kind = auth.get("type") or ""
            rows.append(
                {
                    "name": name,
                    "registry": row["registry"],
                    "type": kind,
                    "authConfigured": bool(kind or auth.get("token") or auth.get("username")),
                    "lastBootstrapAt": "",
                    "lastError": "",
                }
            )
        return {"registries": rows}
