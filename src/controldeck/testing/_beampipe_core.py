"""The state and request plumbing every `FakeBeampipe` route shares: the authenticated call,
token issue and revocation, ids, timestamps and provenance events."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controldeck.testing._beampipe_wire import (
    ApiError,
    Json,
    iso,
    jwt_decode,
    jwt_encode,
    parse_json_body,
    path_uuid,
    sha256_hex,
    uuid7,
)
from controldeck.testing._server import RecordedRequest

__all__ = ["TERMINAL", "Call", "State", "Tokens", "user_view"]

_USER_VIEW = ("uuid", "name", "username", "email", "profile_image_url", "is_superuser",
              "created_at", "updated_at")  # fmt: skip


def user_view(row: Json) -> Json:
    """`CurrentUserResponse` of a stored `UserRow` (no id, no password hash)."""
    return {key: row[key] for key in _USER_VIEW}


_RUN_DISCOVERY = "Run discovery first (POST /api/v2/sources/discover)."

TERMINAL = frozenset({"completed", "failed", "cancelled", "not_submitted"})


@dataclass(frozen=True)
class Call:
    """One request as a route handler sees it: who sent it and its correlation id."""

    request: RecordedRequest
    params: dict[str, str]
    user: Json | None  # the `UserRow`; None on routes that need no token
    request_id: str

    @property
    def who(self) -> Json:
        assert self.user is not None, "route registered without auth"
        return self.user

    def require_superuser(self) -> None:
        if not self.who["is_superuser"]:
            raise ApiError.forbidden()

    def uuid(self, name: str = "id") -> str:
        return path_uuid(self.params[name])

    def body(self, schema: Any) -> Any:
        return parse_json_body(self.request, schema)


class Tokens:
    """Issues and checks the server's token pairs: HS256 JWTs with claims `{sub, typ, jti,
    exp, iat}`, or opaque strings with the same claims kept server-side; revocation is a
    blacklist of token hashes, as the server keeps."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        access_ttl: float,
        refresh_ttl: float,
        opaque: bool,
        leeway: float,
    ) -> None:
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.opaque = opaque
        self.leeway = leeway
        self.secret = secrets.token_bytes(32)
        self.blacklist: dict[str, int] = {}  # sha256(token) → the token's exp
        self.revoked_jtis: set[str] = set()
        self._opaque: dict[str, Json] = {}  # opaque token → its claims

    def issue(self, subject: str, typ: str) -> str:
        now = self.clock()
        ttl = self.access_ttl if typ == "access" else self.refresh_ttl
        claims = {
            "sub": subject,
            "typ": typ,
            "jti": uuid7(now),
            "exp": int(now + ttl),
            "iat": int(now),
        }
        if not self.opaque:
            return jwt_encode(claims, self.secret)
        token = f"bp_{'at' if typ == 'access' else 'rt'}_{secrets.token_urlsafe(24)}"
        self._opaque[token] = claims
        return token

    def pair(self, subject: str) -> Json:
        return {
            "access_token": self.issue(subject, "access"),
            "refresh_token": self.issue(subject, "refresh"),
            "token_type": "bearer",
        }

    def claims(self, token: str, typ: str) -> Json | None:
        """The claims of a valid, unexpired token of this type (revocation not checked)."""
        claims = self._opaque.get(token) if self.opaque else jwt_decode(token, self.secret)
        if claims is None or claims.get("typ") != typ:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return None
        if exp < self.clock() - self.leeway:  # jsonwebtoken's default 60 s leeway
            return None
        return claims

    def is_revoked(self, token: str) -> bool:
        return sha256_hex(token) in self.blacklist

    def revoke(self, token: str, claims: Json) -> None:
        self.blacklist[sha256_hex(token)] = int(claims["exp"])
        self.revoked_jtis.add(str(claims["jti"]))

    def forget_expired(self) -> None:
        """`cleanup_expired_blacklisted_tokens`: entries past their exp are dropped."""
        now = self.clock()
        for key in [k for k, exp in self.blacklist.items() if exp < now]:
            del self.blacklist[key]


class State:
    """The state every route mixin reads; `FakeBeampipe` owns and fills it."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    users: dict[str, Json]
    configs: dict[str, list[Json]]
    wasm_modules: dict[tuple[str, str], Json]
    sources: dict[str, Json]
    archive_metadata: dict[tuple[str, str], list[Json]]
    profiles: dict[str, Json]
    executions: dict[str, Json]
    jobs: dict[str, Json]
    events: list[Json]
    observations: dict[str, list[Json]]
    artifacts: dict[str, list[Json]]
    workers: dict[str, Json]
    notification_channels: dict[str, Json]
    alert_rules: dict[str, Json]
    alert_deliveries: list[Json]
    slurm_credentials: dict[str, Json]
    discovery_polls: int
    execution_polls: int
    fail_executions: set[str]
    fail_all_executions: bool
    failure_message: str
    metrics_public: bool
    _discovering: dict[str, int]  # source uuid → status polls left before it completes
    _progress: dict[str, int]  # execution uuid → status polls since it was started

    def _now(self) -> float:
        return self._clock()

    def _id(self) -> str:
        return uuid7(self._clock())

    def _event(
        self,
        event_type: str,
        project_module: str,
        payload: Any,
        *,
        source_identifier: str | None = None,
        execution_id: str | None = None,
        actor: str | None = None,
        correlation_id: str | None = None,
    ) -> Json:
        """Record a provenance event (`ProvenanceEventRow`)."""
        row = {
            "id": self._id(),
            "occurred_at": iso(self._now()),
            "event_type": event_type,
            "project_module": project_module,
            "source_identifier": source_identifier,
            "execution_id": execution_id,
            "actor": actor,
            "correlation_id": correlation_id,
            "payload": payload,
        }
        self.events.append(row)
        return row

    def _active_config(self, project_id: str) -> Json | None:
        for row in self.configs.get(project_id, []):
            if row["active"]:
                return row
        return None

    def _config_by_uuid(self, config_id: str | None) -> Json | None:
        for rows in self.configs.values():
            for row in rows:
                if row["uuid"] == config_id:
                    return row
        return None

    def _source_by_identifier(self, project_module: str, source_identifier: str) -> Json | None:
        for row in self.sources.values():
            if (row["project_module"], row["source_identifier"]) == (
                project_module,
                source_identifier,
            ):
                return row
        return None

    def _readiness_problem(self, row: Json | None, metadata: list[Json], sid: str) -> str | None:
        """`parsed_source_readiness_error`: why a source may not run yet, or None.

        `metadata` is the source's archive metadata (already narrowed to selected SBIDs).
        """
        if row is None:
            return (
                f"Source {sid} is not registered. Register and discover the source before "
                "execution."
            )
        if not row["enabled"]:
            return f"Source {sid} is disabled"
        if row["last_checked_at"] is None:
            return (
                f"Source {sid}: Discovery has not yet run for this source (last_checked_at "
                f"is unset). {_RUN_DISCOVERY}"
            )
        if not row["discovery_signature"]:
            return f"Source {sid}: Discovery signature is missing. {_RUN_DISCOVERY}"
        if row["discovery_claim_token"] is not None:
            return (
                f"Source {sid}: Discovery is still in progress for this source (active "
                "lease). Wait and retry."
            )
        if not metadata:
            return f"Source {sid} has no discovered metadata. {_RUN_DISCOVERY}"
        for item in metadata:
            flags = (item["metadata_json"] or {}).get("discovery_flags")
            if isinstance(flags, dict):
                bad = [k for k, v in flags.items() if not _passes(v)]
                if bad:
                    return (
                        f"Source {sid} metadata has discovery_flags that have not passed "
                        f"(failed keys: {json.dumps(bad)}). Re-run discovery."
                    )
        return None

    def _profile_by_name(self, name: str) -> Json | None:
        return next((p for p in self.profiles.values() if p["name"] == name), None)

    def _default_profile(self, project_module: str) -> Json | None:
        """`get_default_deployment_profile`: the module's default, else the global one."""
        defaults = [p for p in self.profiles.values() if p["is_default"]]
        for scope in (project_module, None):
            found = [p for p in defaults if p["project_module"] == scope]
            if found:
                return found[-1]
        return None


def _passes(value: Any) -> bool:
    """Python's `bool(value)` for a discovery flag, as the server judges it."""
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value)
