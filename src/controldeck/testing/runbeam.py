"""`FakeRunbeam`: a stateful fake of the Runbeam Cloud API on 127.0.0.1, for tests and demos.

It serves every route the Runbeam SDK calls under `<url>/api` (plus `GET /harmony/base-url`
at the origin), checks bearer tokens, moves changes through their states
(pending → acknowledged → applied | failed), pages lists the way Laravel does, signs user and
mesh JWTs with its own RSA key and publishes that key at `/api/.well-known/jwks.json`.
Only the JWTs need the `runbeam` extra (PyJWT with cryptography); without it everything
else works with the static `user_token` and machine tokens.

Example:
    >>> import requests
    >>> from controldeck.testing.runbeam import FakeRunbeam
    >>> with FakeRunbeam() as fake:
    ...     auth = {"Authorization": f"Bearer {fake.user_token}"}
    ...     page = requests.get(f"{fake.api_url}/harmony/changes/gateway-123", headers=auth)
    ...     [c["type"] for c in page.json()["data"]]
    ['transform', 'pipeline', 'gateway']
    >>> with FakeRunbeam() as fake:
    ...     fake.fail_next(503, headers={"Retry-After": "1"})
    ...     requests.get(f"{fake.api_url}/gateways", headers=auth).status_code
    503
"""

from __future__ import annotations

import base64
import functools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controldeck.errors import MissingDependencyError
from controldeck.testing._runbeam_seed import SEED_TEAM, iso
from controldeck.testing._runbeam_seed import seed as _seed
from controldeck.testing._server import (
    Handler,
    LoopbackServer,
    RecordedRequest,
    Reply,
    json_reply,
    text_reply,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["FakeRunbeam"]

Json = dict[str, Any]
_Errors = dict[str, list[str]]
_RouteHandler = Callable[["_Call"], Reply]

MACHINE_TOKEN_LIFETIME = 30 * 24 * 3600
MESH_TOKEN_LIFETIME = 300

_USER_AUDIENCES = ["runbeam-cli", "runbeam-api"]
_WRONG_GATEWAY = {"error": "Forbidden", "message": "This change does not belong to your gateway"}
_OTHER_TEAM = {"error": "Forbidden", "message": "This gateway does not belong to your team"}
_NEEDS_GATEWAY = {
    "error": "Unauthenticated",
    "message": "This endpoint requires gateway authentication.",
}
_NOT_RUNBEAM = "Mesh provider must be 'runbeam' for API token requests"
_MESH_NOT_FOUND = {"error": "Mesh not found", "message": "The specified mesh does not exist."}
# The server's own reply when signing fails, with a hint, for a fake without the extra.
_CANNOT_SIGN = {
    "error": "Token signing failed",
    "message": "FakeRunbeam signs mesh tokens only with: pip install 'controldeck[runbeam]'",
}
# `harmony/update` type → the dict of resources it updates.
_CONFIG_STORES = {"gateway": "gateways", "pipeline": "pipelines", "transform": "transforms",
                  "mesh": "meshes"}  # fmt: skip


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _has_jwt_support() -> bool:
    try:
        import cryptography.hazmat.primitives.asymmetric.rsa  # noqa: F401
        import jwt  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _first_key() -> tuple[str, RSAPrivateKey]:
    # RSA key generation costs tens of ms; the fakes of one process share their first key.
    return _new_key()


def _new_key() -> tuple[str, RSAPrivateKey]:
    if not _has_jwt_support():
        raise MissingDependencyError("FakeRunbeam's JWT signing", "runbeam", "PyJWT")
    from cryptography.hazmat.primitives.asymmetric import rsa

    return f"fake-{secrets.token_hex(6)}", rsa.generate_private_key(65537, 2048)


@dataclass(frozen=True)
class _Principal:
    kind: str  # "user" or "machine"
    token: str = field(repr=False)
    gateway_id: str | None = None
    claims: Json | None = None


@dataclass(frozen=True)
class _Call:
    """An authenticated request, as every route handler of the fake receives it."""

    request: RecordedRequest
    params: dict[str, str]
    who: _Principal
    body: Json


def _body(request: RecordedRequest) -> Json:
    # Laravel reads a missing or malformed JSON body as empty input; validation then answers.
    try:
        data = request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _invalid(errors: _Errors) -> Reply:
    return json_reply(422, {"message": "The given data was invalid.", "errors": errors})


def _required_str(body: Json, name: str, errors: _Errors, max_len: int = 0) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        errors[name] = [f"The {name} field is required."]
    elif not isinstance(value, str):
        errors[name] = [f"The {name} field must be a string."]
    elif max_len and len(value) > max_len:
        errors[name] = [f"The {name} field must not be greater than {max_len} characters."]
    else:
        return value
    return None


def _optional_str(body: Json, name: str, errors: _Errors) -> None:
    if body.get(name) is not None and not isinstance(body[name], str):
        errors[name] = [f"The {name} field must be a string."]


def _optional_str_list(body: Json, name: str, errors: _Errors) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        errors[name] = [f"The {name} field must be an array."]
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str):
            errors[f"{name}.{i}"] = [f"The {name}.{i} field must be a string."]
    return value


def _model_not_found(model: str, key: str) -> Reply:
    return json_reply(404, {"message": f"No query results for model [App\\Models\\{model}] {key}"})


class FakeRunbeam(LoopbackServer):
    """A stateful Runbeam Cloud API on 127.0.0.1.

    Every route except the JWKS needs `Authorization: Bearer <token>`, where the token is
    in `tokens` (which holds `user_token`), is a JWT from `mint_user_token`, or is a machine
    token from `POST /api/harmony/authorize` (or `issue_machine_token`). State is kept in
    plain dicts keyed by id that tests may read and change: `gateways`, `services`,
    `endpoints`, `backends`, `pipelines`, `transforms`, `changes`, `meshes`, `configs`
    (what `harmony/update` stored), `machine_tokens`, and `resolvable` (reference →
    resolved resource).

    Args:
        port: Port to listen on; 0 picks a free one.
        seed: Start with sample data: team `team-456`; gateways `gateway-123` (code
            `my-gateway`, three pending changes), `gateway-456` and `gateway-bulk` (40
            changes, three pages); services, endpoints, a backend, pipeline `pipeline-123`,
            transform `transform-123`, mesh `01HXYZ123456789ABCDEF` and resolvable refs
            such as `runbeam.acme.ingress.name.patient_api`.
        page_size: Items per page of every list.

    Without the `runbeam` extra the fake holds no signing key: its JWKS is empty,
    `mint_user_token` and `rotate_key` raise `MissingDependencyError`, and the mesh-token
    route answers 500 `Token signing failed`. Everything else works unchanged.

    Attributes:
        user_token: A static user token the fake accepts (`1|fake-runbeam-user-token`).
        tokens: The static user tokens the fake accepts.
        base_url_at_api_root: When False, `GET /api/harmony/base-url` answers 404 so a
            client's fallback to `/harmony/base-url` can be tested.
        base_url_response: When set, the body of both base-url routes.
        requests: Every request received, oldest first.

    Raises:
        ValueError: `page_size` is less than 1.

    Example:
        >>> with FakeRunbeam() as fake:
        ...     token = fake.mint_user_token(sub="alice")
        ...     r = requests.get(fake.api_url + "/gateways/my-gateway",
        ...                      headers={"Authorization": f"Bearer {token}"})
        ...     r.json()["data"]["id"]
        'gateway-123'
    """

    def __init__(self, *, port: int = 0, seed: bool = True, page_size: int = 15) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        super().__init__(port=port)
        self.page_size = page_size
        self.user_token = "1|fake-runbeam-user-token"
        self.tokens: set[str] = {self.user_token}
        self.base_url_at_api_root = True
        self.base_url_response: Json | None = None
        self.gateways: dict[str, Json] = {}
        self.services: dict[str, Json] = {}
        self.endpoints: dict[str, Json] = {}
        self.backends: dict[str, Json] = {}
        self.pipelines: dict[str, Json] = {}
        self.transforms: dict[str, Json] = {}
        self.changes: dict[str, Json] = {}
        self.meshes: dict[str, Json] = {}
        self.configs: dict[str, Json] = {}
        self.machine_tokens: dict[str, Json] = {}
        self.resolvable: dict[str, Json] = {}
        self._counter = 0
        self._kid: str | None = None
        self._keys: dict[str, RSAPrivateKey] = {}
        if _has_jwt_support():
            self._kid, key = _first_key()
            self._keys[self._kid] = key
        self._register_routes()
        if seed:
            _seed(self)

    @property
    def api_url(self) -> str:
        """The API root, `<url>/api`, that the SDK's paths are appended to.

        Example:
            >>> fake.api_url
            'http://127.0.0.1:50123/api'
        """
        return self.url + "/api"

    # -- tokens and keys --------------------------------------------------------------

    def mint_user_token(
        self,
        sub: str = "user123",
        team_id: str = "team456",
        expires_in: int = 3600,
        *,
        name: str = "Test User",
        email: str = "test@example.com",
        team_name: str = "Test Team",
        audience: str = "runbeam-cli",
    ) -> str:
        """Sign a user JWT (RS256, with `kid`) that the fake accepts as a bearer token.

        The issuer is the fake's origin, so a validator finds the key at
        `<iss>/api/.well-known/jwks.json`. A negative `expires_in` gives an expired token.

        Args:
            sub: Subject, also `user.id`.
            team_id: `team.id`.
            expires_in: Seconds from now until `exp`.
            name: `user.name`.
            email: `user.email`.
            team_name: `team.name`.
            audience: `aud`; the fake accepts `runbeam-cli` and `runbeam-api`.

        Returns:
            The encoded JWT.

        Raises:
            RuntimeError: The fake is not running (the issuer needs its port).
            MissingDependencyError: The `runbeam` extra (PyJWT, cryptography) is not installed.

        Example:
            >>> token = fake.mint_user_token(sub="alice", expires_in=60)
        """
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": sub,
            "aud": audience,
            "exp": now + expires_in,
            "iat": now,
            "user": {"id": sub, "name": name, "email": email},
            "team": {"id": team_id, "name": team_name},
        }
        return self._sign(claims)

    def rotate_key(self, *, keep_old: bool = False) -> str:
        """Sign with a new key from now on; the JWKS lists it (and the old ones if kept).

        Tokens signed with a dropped key are rejected from then on.

        Args:
            keep_old: Keep publishing and accepting the previous keys.

        Returns:
            The new key id (`kid`).

        Raises:
            MissingDependencyError: The `runbeam` extra (PyJWT, cryptography) is not installed.

        Example:
            >>> kid = fake.rotate_key()
            >>> [k["kid"] for k in fake.jwks()["keys"]] == [kid]
            True
        """
        kid, key = _new_key()
        with self._lock:
            if not keep_old:
                self._keys.clear()
            self._keys[kid] = key
            self._kid = kid
        return kid

    def jwks(self) -> Json:
        """The JSON Web Key Set served at `/api/.well-known/jwks.json` (no keys without the extra).

        Example:
            >>> fake.jwks()["keys"][0]["alg"]
            'RS256'
        """
        keys = []
        for kid, key in self._keys.items():
            numbers = key.public_key().public_numbers()
            n, e = _b64_uint(numbers.n), _b64_uint(numbers.e)
            keys.append({"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256", "n": n, "e": e})
        return {"keys": keys}

    def issue_machine_token(
        self, gateway_id: str = "gateway-123", *, expires_in: int = MACHINE_TOKEN_LIFETIME
    ) -> str:
        """Create a gateway machine token without going through authorize.

        Args:
            gateway_id: The gateway the token acts for.
            expires_in: Seconds until the fake stops accepting it.

        Returns:
            The token, like `mt_3kq...`.

        Example:
            >>> token = fake.issue_machine_token("gateway-123")
            >>> fake.machine_tokens[token]["gateway_id"]
            'gateway-123'
        """
        token = "mt_" + secrets.token_urlsafe(30)
        with self._lock:
            self.machine_tokens[token] = {
                "gateway_id": gateway_id,
                "expires_at": time.time() + expires_in,
                "abilities": ["harmony:send", "harmony:receive"],
            }
        return token

    def _sign(self, claims: Json) -> str:
        with self._lock:
            kid = self._kid
            if kid is None:
                raise MissingDependencyError("FakeRunbeam's JWT signing", "runbeam", "PyJWT")
            key = self._keys[kid]
        import jwt

        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def _verify_user_jwt(self, token: str) -> Json | None:
        if not self._keys:
            return None  # without the extra no JWT can have been signed by this fake
        import jwt

        try:
            key = self._keys.get(jwt.get_unverified_header(token).get("kid", ""))
            if key is None:
                return None
            claims: Json = jwt.decode(
                token,
                key.public_key(),
                algorithms=["RS256"],
                audience=_USER_AUDIENCES,  # also keeps mesh tokens (aud mesh:...) out
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        return claims

    def _authenticate(self, request: RecordedRequest) -> _Principal | None:
        header = request.headers.get("authorization", "")
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        if not token:
            return None
        if token in self.tokens:
            return _Principal("user", token)
        machine = self.machine_tokens.get(token)
        if machine is not None:
            if machine["expires_at"] <= time.time():
                return None
            return _Principal("machine", token, gateway_id=machine["gateway_id"])
        claims = self._verify_user_jwt(token)
        return _Principal("user", token, claims=claims) if claims is not None else None

    # -- state ------------------------------------------------------------------------

    def add_change(
        self,
        gateway_id: str,
        type: str = "gateway",
        toml_config: str | None = None,
        *,
        metadata: Any = None,
        pipeline_id: str | None = None,
        status: str = "pending",
        created_at: str | None = None,
    ) -> Json:
        """Queue a configuration change for a gateway; lists show it first.

        Args:
            gateway_id: The gateway that should apply it.
            type: The config kind: `gateway`, `pipeline`, `transform`, `mesh`, ...
            toml_config: The TOML text; defaults to a minimal `[proxy]` table.
            metadata: Any JSON value.
            pipeline_id: The pipeline, for pipeline changes.
            status: The initial status.
            created_at: RFC 3339 timestamp; defaults to now.

        Returns:
            The stored change (the same dict as `fake.changes[id]`).

        Example:
            >>> change = fake.add_change("gateway-123", "pipeline", "[pipelines.x]\\n")
            >>> change["status"]
            'pending'
        """
        if toml_config is None:
            toml_config = f'[proxy]\nid = "{gateway_id}"\n'
        with self._lock:
            change: Json = {
                "id": self._new_id(),
                "status": status,
                "type": type,
                "gateway_id": gateway_id,
                "pipeline_id": pipeline_id,
                "toml_config": toml_config,
                "metadata": metadata,
                "created_at": created_at or iso(time.time()),
                "acknowledged_at": None,
                "applied_at": None,
                "failed_at": None,
                "error_message": None,
                "error_details": None,
            }
            self.changes[change["id"]] = change
        return change

    def _new_id(self) -> str:
        # ULID-shaped (26 Crockford base32 characters) and deterministic.
        self._counter += 1
        return f"01JFAKE{self._counter:019d}"

    def _put(self, store: dict[str, Json], item: Json, **fields: Any) -> Json:
        """Store a resource: `type` and `id` first, then its fields, then timestamps."""
        now = iso(time.time())
        item = {"type": item["type"], "id": fields.pop("id", None) or self._new_id(), **item}
        item.update(fields)
        item.setdefault("created_at", now)
        item.setdefault("updated_at", now)
        store[item["id"]] = item
        return item

    def _gateway(self, id_or_code: str) -> Json | None:
        if id_or_code in self.gateways:
            return self.gateways[id_or_code]
        return next((g for g in self.gateways.values() if g["code"] == id_or_code), None)

    def _paginate(self, request: RecordedRequest, items: list[Json]) -> Reply:
        """A Laravel paginator page; URLs use the request's Host so they can be followed."""
        try:
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            page = 1  # Laravel falls back to the first page too
        size, total = self.page_size, len(items)
        last = max(1, math.ceil(total / size))
        start = (page - 1) * size
        chunk = items[start : start + size]
        path = f"http://{request.headers.get('host') or f'127.0.0.1:{self.port}'}{request.path}"
        prev_url = f"{path}?page={page - 1}" if page > 1 else None
        next_url = f"{path}?page={page + 1}" if page < last else None
        meta_links = [
            {"url": prev_url, "label": "&laquo; Previous", "active": False},
            *({"url": f"{path}?page={n}", "label": str(n), "active": n == page}
              for n in range(1, last + 1)),
            {"url": next_url, "label": "Next &raquo;", "active": False},
        ]  # fmt: skip
        links = {"first": f"{path}?page=1", "last": f"{path}?page={last}",
                 "prev": prev_url, "next": next_url}  # fmt: skip
        meta = {
            "current_page": page,
            "from": start + 1 if chunk else None,
            "last_page": last,
            "links": meta_links,
            "path": path,
            "per_page": size,
            "to": start + len(chunk) if chunk else None,
            "total": total,
        }
        return json_reply(200, {"data": chunk, "links": links, "meta": meta})

    # -- routes -----------------------------------------------------------------------

    def _register_routes(self) -> None:
        routes: list[tuple[str, str, _RouteHandler]] = [
            ("POST", "/api/harmony/authorize", self._authorize),
            ("GET", "/api/harmony/changes", self._list_changes),
            ("GET", "/api/harmony/changes/{gateway_id}", self._list_changes),
            ("POST", "/api/harmony/changes/acknowledge", self._acknowledge),
            ("GET", "/api/harmony/change/{id}", self._get_change),
            ("POST", "/api/harmony/change/{id}/applied", self._mark_applied),
            ("POST", "/api/harmony/change/{id}/failed", self._mark_failed),
            ("POST", "/api/harmony/update", self._store_config),
            ("POST", "/api/harmony/mesh/token", self._mesh_token),
            ("GET", "/api/harmony/resources/resolve", self._resolve),
            ("GET", "/api/harmony/base-url", self._base_url),
            ("GET", "/harmony/base-url", self._base_url),
        ]
        for name in ("gateways", "services", "endpoints", "backends", "pipelines"):
            routes.append(("GET", f"/api/{name}", self._list_resources))
        for name in ("gateways", "services", "transforms"):
            routes.append(("GET", f"/api/{name}/{{id}}", self._get_resource))
        for method, template, handler in routes:
            self.add_route(method, template, self._authed(handler))
        jwks_path = "/api/.well-known/jwks.json"
        self.add_route("GET", jwks_path, lambda request, params: json_reply(200, self.jwks()))

    def _authed(self, handler: _RouteHandler) -> Handler:
        def wrapped(request: RecordedRequest, params: dict[str, str]) -> Reply:
            who = self._authenticate(request)
            if who is None:
                return json_reply(401, {"message": "Unauthenticated."})
            return handler(_Call(request, params, who, _body(request)))

        return wrapped

    def _list_resources(self, call: _Call) -> Reply:
        store: dict[str, Json] = getattr(self, call.request.path.split("/")[2])
        return self._paginate(call.request, list(store.values()))

    def _get_resource(self, call: _Call) -> Reply:
        name, key = call.request.path.split("/")[2], call.params["id"]
        item = self._gateway(key) if name == "gateways" else getattr(self, name).get(key)
        model = name[:-1].capitalize()  # gateways → Gateway, the Laravel model's name
        return json_reply(200, {"data": item}) if item else _model_not_found(model, key)

    def _authorize(self, call: _Call) -> Reply:
        if call.who.kind != "user":
            return json_reply(403, {"message": "This action is unauthorized."})
        body, errors = call.body, _Errors()
        token = _required_str(body, "token", errors)
        if token is not None and token != call.who.token:
            errors["token"] = ["The token must match the bearer token."]
        code = _required_str(body, "gateway_code", errors, max_len=255)
        _optional_str(body, "machine_public_key", errors)
        _optional_str_list(body, "metadata", errors)
        if errors or code is None:
            return _invalid(errors)
        gateway = self._gateway(code)
        if gateway is None:  # the server creates unknown gateways on first authorization
            team = (call.who.claims or {}).get("team") or {}
            gateway = self._put(
                self.gateways,
                {"type": "gateway", "code": code, "name": code, "enabled": True},
                team_id=team.get("id", SEED_TEAM),
            )
        machine_token = self.issue_machine_token(gateway["id"])
        entry = self.machine_tokens[machine_token]
        entry.update(
            machine_public_key=body.get("machine_public_key"), metadata=body.get("metadata")
        )
        return json_reply(
            201,
            {
                "machine_token": machine_token,
                "expires_in": float(MACHINE_TOKEN_LIFETIME),
                "expires_at": iso(entry["expires_at"]),
                "gateway": {"id": gateway["id"], "code": gateway["code"], "name": gateway["name"]},
                "abilities": list(entry["abilities"]),
            },
        )

    def _list_changes(self, call: _Call) -> Reply:
        gateway_id = call.params.get("gateway_id")
        if gateway_id is not None:
            gateway_id = (self._gateway(gateway_id) or {"id": gateway_id})["id"]
            if call.who.kind == "machine" and call.who.gateway_id != gateway_id:
                return json_reply(403, _OTHER_TEAM)
        newest_first = reversed(self.changes.values())
        items = [c for c in newest_first if gateway_id in (None, c["gateway_id"])]
        return self._paginate(call.request, items)

    def _own_change(self, call: _Call) -> Json | Reply:
        change = self.changes.get(call.params["id"])
        if change is None:
            return text_reply(404, "Change not found")
        if call.who.kind == "machine" and change["gateway_id"] != call.who.gateway_id:
            return json_reply(403, _WRONG_GATEWAY)
        return change

    def _get_change(self, call: _Call) -> Reply:
        change = self._own_change(call)
        return change if isinstance(change, Reply) else json_reply(200, {"data": change})

    def _acknowledge(self, call: _Call) -> Reply:
        ids, errors = call.body.get("change_ids"), _Errors()
        if not ids:
            errors["change_ids"] = ["The change_ids field is required."]
        else:
            _optional_str_list(call.body, "change_ids", errors)
        if errors or not isinstance(ids, list):
            return _invalid(errors)
        acknowledged, failed, now = [], [], iso(time.time())
        for change_id in ids:
            change = self.changes.get(change_id)
            if (
                change is None
                or change["status"] != "pending"
                or (call.who.kind == "machine" and change["gateway_id"] != call.who.gateway_id)
            ):
                failed.append(change_id)
                continue
            change.update(status="acknowledged", acknowledged_at=now)
            acknowledged.append(change_id)
        return json_reply(200, {"acknowledged": acknowledged, "failed": failed})

    def _mark_applied(self, call: _Call) -> Reply:
        change = self._own_change(call)
        if isinstance(change, Reply):
            return change
        if change["status"] != "acknowledged":
            status = change["status"]
            message = f"Change must be acknowledged before it is applied (status: {status})."
            return json_reply(409, {"message": message})
        change.update(status="applied", applied_at=iso(time.time()))
        return json_reply(200, {"success": True, "message": "Change marked as applied"})

    def _mark_failed(self, call: _Call) -> Reply:
        change = self._own_change(call)
        if isinstance(change, Reply):
            return change
        errors = _Errors()
        error = _required_str(call.body, "error", errors)
        details = _optional_str_list(call.body, "details", errors)
        if errors or error is None:
            return _invalid(errors)
        if change["status"] not in ("pending", "acknowledged"):
            message = f"Change is already {change['status']} and cannot be marked as failed."
            return json_reply(409, {"message": message})
        now = iso(time.time())
        change.update(status="failed", failed_at=now, error_message=error, error_details=details)
        return json_reply(200, {"success": True, "message": "Change marked as failed"})

    def _store_config(self, call: _Call) -> Reply:
        body, errors = call.body, _Errors()
        kind = _required_str(body, "type", errors)
        if kind is not None and kind not in _CONFIG_STORES:
            errors["type"] = ["The selected type is invalid."]
        _optional_str(body, "id", errors)
        config = _required_str(body, "config", errors)
        if errors or kind is None or config is None:
            return _invalid(errors)
        store: dict[str, Json] = getattr(self, _CONFIG_STORES[kind])
        config_id: str | None = body.get("id")
        target = None
        if config_id is not None:
            target = self.configs.get(config_id) or store.get(config_id)
            if target is None:
                return _model_not_found(kind.capitalize(), config_id)
        # The new change goes to the pushing gateway, else to the gateway the config is for.
        if call.who.gateway_id is not None:
            gateway_id = call.who.gateway_id
        elif kind == "gateway":
            config_id = gateway_id = config_id or self._new_id()
        elif target is not None and target.get("gateway_id"):
            gateway_id = target["gateway_id"]
        else:
            return _invalid({"id": ["The id field is required when not using a gateway token."]})
        config_id = config_id or self._new_id()
        now, action = iso(time.time()), "updated" if target else "created"
        record = self.configs.setdefault(config_id, {"id": config_id, "created_at": now})
        record.update(type=kind, gateway_id=gateway_id, config=config, updated_at=now)
        if config_id in store:
            store[config_id]["updated_at"] = now
        self.add_change(
            gateway_id,
            kind,
            config,
            pipeline_id=config_id if kind == "pipeline" else None,
            metadata={"config_id": config_id, "action": action},
        )
        return json_reply(
            200,
            {
                "success": True,
                "message": f"{kind.capitalize()} configuration updated successfully",
                "data": {"id": config_id, "type": kind, "action": action},
            },
        )

    def _mesh_token(self, call: _Call) -> Reply:
        gateway_id = call.who.gateway_id
        if gateway_id is None:
            return json_reply(401, _NEEDS_GATEWAY)
        errors = _Errors()
        mesh_id = _required_str(call.body, "mesh_id", errors)
        destination = _required_str(call.body, "destination_url", errors)
        if errors or mesh_id is None or destination is None:
            return _invalid(errors)
        mesh = self.meshes.get(mesh_id)
        if mesh is None:
            return json_reply(404, _MESH_NOT_FOUND)
        if not mesh["enabled"]:
            return json_reply(400, {"error": "Mesh is disabled"})
        if mesh["provider"] != "runbeam":
            return json_reply(400, {"error": _NOT_RUNBEAM})
        if gateway_id not in mesh["egress_gateway_ids"]:
            return json_reply(403, {"error": "Gateway does not have egress rights in this mesh"})
        if not any(destination.startswith(url) for url in mesh["ingress_urls"]):
            return json_reply(403, {"error": "No ingress matches destination URL"})
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": f"gateway:{gateway_id}",
            "aud": f"mesh:{mesh['name']}",
            "jti": secrets.token_hex(16),
            "mesh_id": mesh_id,
            "dest_url": destination,
            "source_team": self.gateways.get(gateway_id, {}).get("team_id", SEED_TEAM),
            "iat": now,
            "exp": now + MESH_TOKEN_LIFETIME,
        }
        expires_at = iso(now + MESH_TOKEN_LIFETIME)
        if self._kid is None:
            return json_reply(500, _CANNOT_SIGN)
        token = self._sign(claims)
        return json_reply(200, {"token": token, "expires_at": expires_at, "mesh_id": mesh_id})

    def _resolve(self, call: _Call) -> Reply:
        ref = call.request.query.get("ref")
        if not ref:
            return _invalid({"ref": ["The ref field is required."]})
        resource = self.resolvable.get(ref)
        if resource is None:
            return json_reply(404, {"message": "Resource not found"})
        meta = {"provider": "runbeam", "resolved_at": iso(time.time())}
        return json_reply(200, {"data": resource, "meta": meta})

    def _base_url(self, call: _Call) -> Reply:
        if call.request.path.startswith("/api/") and not self.base_url_at_api_root:
            return self.not_found(call.request)
        default = {"base_url": self.api_url, "changes_path": None, "full_url": None}
        return json_reply(200, self.base_url_response or default)
