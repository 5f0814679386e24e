"""`FakeBeampipe`: a stateful fake of the Beampipe `/api/v2` orchestrator on 127.0.0.1.

It serves all 76 operations of the upstream server (jbwod/beampipe-core-v2 0.1.6) from
memory, with the server's wire: its status codes, its reply shapes (every `Option` field
present as `null`, timestamps RFC 3339 UTC with `Z`), its error body `{error, code,
failure}` with the server's failure class and retry hint per error, and axum's own
rejections as plain text (415 without a JSON content type, 400 for malformed JSON or a
non-UUID path id, 422 `Failed to deserialize the JSON body into the target type: ...` for a
missing or unknown field) or empty bodies (404 unknown route, 405 wrong method). Every reply
carries `x-request-id` (the request's, or a new UUIDv7).

What it keeps: users and token pairs (HS256 JWTs with claims `{sub, typ, jti, exp, iat}`, or
opaque tokens; refresh rotation revokes the presented token at once); versioned project
configs (YAML read by a small reader: `metadata.id` and the server's structural checks) with
WASM modules; the source registry, whose discovery completes after `discovery_polls` polls
of `GET /sources/{id}/status`; deployment profiles; executions with admission checks,
`Idempotency-Key` replay, and a run that moves `pending → running → completed` (or
`failed`) on polls of `GET /executions/{id}/status`; provenance events, observations and
artifacts; workers, jobs, notification channels, alert rules and deliveries.

Where the server decides by data the fake does not have, it answers what the server does
for the simplest case: TAP archives and Redis are `not_configured`, a Slurm profile's
scheduler is reachable, discovery finds one SBID with one dataset per source. A project
config with `output_verification.required: true` holds a successful run at `running`
(`control_phase` `output_verification`) until `POST /executions/{id}/outputs/verify`, as
the server does.

Example:
    >>> import requests
    >>> from controldeck.testing.beampipe import FakeBeampipe
    >>> with FakeBeampipe() as fake:
    ...     login = {"username": "admin", "password": "admin-password"}
    ...     tokens = requests.post(f"{fake.api_url}/login", json=login).json()
    ...     auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    ...     requests.get(f"{fake.api_url}/user/me", headers=auth).json()["is_superuser"]
    True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable

from controldeck.testing._beampipe_core import Call, Tokens, user_view
from controldeck.testing._beampipe_ops import OPERATIONS, OpsRoutes
from controldeck.testing._beampipe_projects import ProjectRoutes
from controldeck.testing._beampipe_runs import RunRoutes
from controldeck.testing._beampipe_wire import (
    ApiError,
    Json,
    Opt,
    Rejection,
    Str,
    Struct,
    canonical_uuid,
    iso,
    uuid7,
)
from controldeck.testing._server import (
    Handler,
    LoopbackServer,
    RecordedRequest,
    Reply,
    json_reply,
    text_reply,
)

__all__ = ["FakeBeampipe"]

API = "/api/v2"

_LOGIN = Struct("LoginRequest", username=Str(), password=Str())
_REFRESH = Struct("RefreshRequest", refresh_token=Opt(Str()))
_LOGOUT = Struct("LogoutRequest", access_token=Opt(Str()), refresh_token=Opt(Str()))
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

_RouteHandler = Callable[[Call], Reply]


def _hash_password(password: str, salt: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode(), 1000)
    return f"pbkdf2-sha256${salt}${digest.hex()}"


def _route_label(path: str) -> str:
    """The metrics `route` label: UUID segments become `:id`, as the server's middleware does."""
    return "/".join(":id" if canonical_uuid(s) else s for s in path.split("/"))


def _precedence(template: str) -> tuple[int, ...]:
    """Static segments before parameters at each position (axum's router prefers them)."""
    return tuple(1 if part.startswith("{") else 0 for part in template.split("/"))


class FakeBeampipe(ProjectRoutes, RunRoutes, OpsRoutes, LoopbackServer):
    """A stateful Beampipe `/api/v2` server on 127.0.0.1.

    Every route but `GET /health`, `GET /health/tap`, `GET /openapi.json`, `POST /login`,
    `POST /refresh` and `POST /logout` needs `Authorization: Bearer <access token>`
    (`GET /metrics` too, unless `metrics_public`). The superuser-only routes answer 403
    `forbidden` to other users. State lives in plain dicts that tests may read and change:
    `users` (username → row), `configs` (project id → versions, oldest first),
    `wasm_modules`, `sources` (id → `SourceRegistryRow`), `archive_metadata`
    ((module, source) → rows), `profiles` (id → the stored profile; replies mask
    secret-looking keys such as `ssh_credential`, as the server does), `executions`
    (id → `ExecutionRow`), `jobs`, `events` (provenance, oldest first), `observations`,
    `artifacts`, `workers`, `notification_channels`, `alert_rules`, `alert_deliveries`,
    `slurm_credentials`.

    Args:
        port: Port to listen on; 0 picks a free one.
        access_ttl: Seconds an access token lives (the server's default is 30 minutes).
        refresh_ttl: Seconds a refresh token lives (default 7 days).
        opaque_tokens: Issue random opaque tokens instead of JWTs; their expiry is still
            kept (server-side), so only a 401 tells a client that one has expired.
        clock: Returns the time in epoch seconds; every expiry and timestamp reads it, so a
            test moves time without sleeping.
        leeway: Seconds a token is still accepted after its `exp` (jsonwebtoken's default
            validation allows 60).
        discovery_polls: Polls of a source's status that show its discovery in progress
            before it completes (0: discovery completes when triggered).
        execution_polls: Polls of an execution's status per phase once it is started: it
            stays queued for this many, runs for as many, then ends.
        fail_executions: True to make every run fail, or the ids of the executions that
            fail (`fail_executions` is also a public set tests may change).
        metrics_public: Serve `GET /metrics` without a token.
        seed: Start with users `admin` (password `admin-password`, superuser) and
            `viewer` (password `viewer-password`), and a Slurm credential slot `setonix`.

    Attributes:
        refresh_count: Successful `POST /refresh` calls.
        revoked_jtis: The `jti` claims of every revoked token.
        failure_message: The `last_error` of a failed run.
        requests: Every request received, oldest first; `repr` masks tokens and passwords.

    Example:
        >>> with FakeBeampipe(execution_polls=1) as fake:
        ...     fake.add_user("operator", "op-password", superuser=True)["username"]
        ...     sorted(fake.issue_tokens("operator"))
        'operator'
        ['access_token', 'refresh_token', 'token_type']
    """

    def __init__(
        self,
        *,
        port: int = 0,
        access_ttl: float = 1800.0,
        refresh_ttl: float = 7 * 86400.0,
        opaque_tokens: bool = False,
        clock: Callable[[], float] | None = None,
        leeway: float = 60.0,
        discovery_polls: int = 2,
        execution_polls: int = 2,
        fail_executions: bool | Iterable[str] = (),
        metrics_public: bool = False,
        seed: bool = True,
    ) -> None:
        super().__init__(port=port)
        self._clock = clock or time.time
        self._tokens = Tokens(
            self._clock,
            access_ttl=access_ttl,
            refresh_ttl=refresh_ttl,
            opaque=opaque_tokens,
            leeway=leeway,
        )
        self.refresh_count = 0
        self.discovery_polls = discovery_polls
        self.execution_polls = execution_polls
        self.fail_all_executions = fail_executions is True
        ids = () if isinstance(fail_executions, bool) else fail_executions
        self.fail_executions = {ids} if isinstance(ids, str) else set(ids)
        self.failure_message = "staging failed: the archive did not return the visibilities"
        self.metrics_public = metrics_public
        self.users: dict[str, Json] = {}
        self.configs: dict[str, list[Json]] = {}
        self.wasm_modules: dict[tuple[str, str], Json] = {}
        self.sources: dict[str, Json] = {}
        self.archive_metadata: dict[tuple[str, str], list[Json]] = {}
        self.profiles: dict[str, Json] = {}
        self.executions: dict[str, Json] = {}
        self.jobs: dict[str, Json] = {}
        self.events: list[Json] = []
        self.observations: dict[str, list[Json]] = {}
        self.artifacts: dict[str, list[Json]] = {}
        self.workers: dict[str, Json] = {}
        self.notification_channels: dict[str, Json] = {}
        self.alert_rules: dict[str, Json] = {}
        self.alert_deliveries: list[Json] = []
        self.slurm_credentials: dict[str, Json] = {}
        self._discovering: dict[str, int] = {}
        self._progress: dict[str, int] = {}
        self._ordinal = 0
        self._counters: dict[tuple[str, str, str], int] = {}
        self._request_id = ""
        self._register_routes()
        if seed:
            self.add_user("admin", "admin-password", superuser=True)
            self.add_user("viewer", "viewer-password")
            self.slurm_credentials["setonix"] = {
                "name": "setonix",
                "private_key": True,
                "public_key": True,
                "passphrase": False,
                "known_hosts": True,
            }

    # -- addresses ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The origin a client is given, like `http://127.0.0.1:50123` (no `/api/v2`).

        Example:
            >>> fake.base_url == fake.url
            True
        """
        return self.url

    @property
    def api_url(self) -> str:
        """`base_url` + `/api/v2`, for plain `requests` calls.

        Example:
            >>> fake.api_url
            'http://127.0.0.1:50123/api/v2'
        """
        return self.url + API

    # -- users and tokens -----------------------------------------------------------------------

    def add_user(self, username: str, password: str, *, superuser: bool = False) -> Json:
        """Create a user, as `beampipe admin create-user` does.

        Args:
            username: The login name (also the tokens' `sub`).
            password: The password `POST /login` checks; only a salted hash is kept.
            superuser: Whether the user may call the superuser-only routes.

        Returns:
            The user as `GET /user/me` shows it.

        Example:
            >>> fake.add_user("ops", "ops-password")["is_superuser"]
            False
        """
        with self._lock:
            salt = secrets.token_hex(8)
            row = {
                "id": len(self.users) + 1,
                "uuid": uuid7(self._clock()),
                "name": username.title(),
                "username": username,
                "email": f"{username}@beampipe.test",
                "hashed_password": _hash_password(password, salt),
                "profile_image_url": "",
                "is_deleted": False,
                "is_superuser": superuser,
                "created_at": iso(self._clock()),
                "updated_at": None,
                "deleted_at": None,
            }
            self.users[username] = row
            return user_view(row)

    def issue_tokens(self, username: str) -> Json:
        """A fresh token pair for a user, as `POST /login` would answer.

        Raises:
            KeyError: There is no such user.

        Example:
            >>> fake.issue_tokens("admin")["token_type"]
            'bearer'
        """
        with self._lock:
            if username not in self.users:
                raise KeyError(f"FakeBeampipe has no user {username!r}")
            return self._tokens.pair(username)

    def is_revoked(self, token: str) -> bool:
        """Whether a token was revoked (by logout, or by spending it on a refresh).

        Example:
            >>> fake.is_revoked(old_refresh_token)
            True
        """
        with self._lock:
            return self._tokens.is_revoked(token)

    @property
    def revoked_jtis(self) -> set[str]:
        """The `jti` of every revoked token (opaque tokens have one too).

        Example:
            >>> claims["jti"] in fake.revoked_jtis
            True
        """
        return self._tokens.revoked_jtis

    @property
    def jwt_secret(self) -> bytes:
        """The HS256 key the fake signs tokens with (random per fake), for tests that check
        a signature or forge a token.

        Example:
            >>> len(fake.jwt_secret)
            32
        """
        return self._tokens.secret

    # -- state helpers for tests ----------------------------------------------------------------

    def add_source(
        self,
        project_module: str,
        source_identifier: str,
        *,
        enabled: bool = True,
        discovered: bool = False,
    ) -> Json:
        """Register a source (and optionally finish its discovery) without HTTP.

        Returns:
            The `SourceRegistryRow`.

        Example:
            >>> fake.add_source("wallaby_hires", "HIPASSJ1303+07", discovered=True)["enabled"]
            True
        """
        with self._lock:
            row = self._upsert_source(project_module, source_identifier, enabled)
            if discovered:
                self._finish_discovery(row["uuid"])
            return row

    def upload_config(self, yaml_text: str) -> Json:
        """Store a project config as `POST /project-configs` does: a new active version.

        Args:
            yaml_text: The YAML document; its `metadata.id` names the project.

        Returns:
            The `ValidationReport` the route answers.

        Raises:
            ValueError: The config is invalid; the message lists its diagnostics.

        Example:
            >>> fake.upload_config(WALLABY_YAML)["project_id"]
            'wallaby_hires'
        """
        with self._lock:
            try:
                return self._store_config(yaml_text)
            except ApiError as exc:
                problems = [f"{d['path']}: {d['message']}" for d in exc.failure["diagnostics"]]
                raise ValueError("invalid project config: " + "; ".join(problems)) from None

    def complete_discovery(self, source_id: str) -> Json:
        """Finish a source's discovery now, as the background scheduler would: one SBID of
        archive metadata, a discovery signature and `last_checked_at`.

        Returns:
            The `SourceRegistryRow`.

        Raises:
            KeyError: No source has this id.

        Example:
            >>> fake.complete_discovery(source_id)["discovery_claim_token"] is None
            True
        """
        with self._lock:
            return self._finish_discovery(source_id)

    def set_submission_uncertain(self, execution_id: str) -> Json:
        """Put an execution where only `POST .../submission/abandon` can resolve it: a Slurm
        submission whose outcome is unknown (`submission_state` `uncertain`, no job id).

        Returns:
            The row, with the `daliuge_session_id` and `submission_deadline_at` an abandon
            request must name.

        Example:
            >>> fake.set_submission_uncertain(execution_id)["submission_state"]
            'uncertain'
        """
        with self._lock:
            row = self.executions[execution_id]
            self._progress.pop(execution_id, None)
            self._ordinal += 1
            row.update(
                status="awaiting_scheduler",
                scheduler_name="slurm",
                scheduler_job_id=None,
                submission_state="uncertain",
                daliuge_session_id=f"beampipe-{execution_id[:8]}-{self._ordinal}",
                submission_deadline_at=iso(int(self._clock()) + 600.0),
                control_phase="submission_pending",
            )
            return row

    # -- routes ---------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        open_routes: list[tuple[str, str, _RouteHandler]] = [
            ("GET", "/health", self._health),
            ("GET", "/health/tap", self._health_tap),
            ("GET", "/openapi.json", self._openapi),
            ("POST", "/login", self._login),
            ("POST", "/refresh", self._refresh),
            ("POST", "/logout", self._logout),
            ("GET", "/metrics", self._metrics_route),
        ]
        authed = [
            *self._project_routes(),
            *self._execution_routes(),
            *self._run_routes(),
            *self._ops_routes(),
        ]
        table: dict[str, dict[str, Handler]] = {}
        for routes, auth in ((open_routes, False), (authed, True)):
            for method, template, handler in routes:
                table.setdefault(template, {})[method] = self._wrap(handler, auth=auth)
        served = {(m, t) for t, methods in table.items() for m in methods}
        assert served - {("GET", "/openapi.json")} == set(OPERATIONS), "route table drifted"
        for template in sorted(table, key=_precedence):
            dispatch = self._by_method(table[template])
            for method in _METHODS:
                self.add_route(method, API + template, dispatch)

    def _by_method(self, handlers: dict[str, Handler]) -> Handler:
        def dispatch(request: RecordedRequest, params: dict[str, str]) -> Reply:
            handler = handlers.get(request.method)
            if handler is None:
                allowed = list(handlers) + (["HEAD"] if "GET" in handlers else [])
                return Reply(405, b"", None, {"allow": ",".join(allowed)})
            return handler(request, params)

        return dispatch

    def _wrap(self, handler: _RouteHandler, *, auth: bool) -> Handler:
        def wrapped(request: RecordedRequest, params: dict[str, str]) -> Reply:
            try:
                user = self._authenticate(request) if auth else None
                return handler(Call(request, params, user, self._request_id))
            except (ApiError, Rejection) as exc:
                return exc.reply()

        return wrapped

    def _authenticate(self, request: RecordedRequest) -> Json:
        """The `AuthUser` extractor: a valid, unrevoked access token of an existing user."""
        header = request.headers.get("authorization")
        if header is None or not header.startswith("Bearer "):
            raise ApiError.unauthorized()
        token = header[len("Bearer ") :].strip()
        claims = self._tokens.claims(token, "access")
        if claims is None or self._tokens.is_revoked(token):
            raise ApiError.unauthorized()
        user = self.users.get(str(claims["sub"]))
        if user is None or user["is_deleted"]:
            raise ApiError.unauthorized()
        return user

    def not_found(self, request: RecordedRequest) -> Reply:
        """An unknown route: 404 with an empty body, as axum's router answers.

        Example:
            >>> fake.not_found(request).body
            b''
        """
        return Reply(404)

    def _dispatch(self, request: RecordedRequest) -> Reply:
        request_id = request.headers.get("x-request-id") or uuid7(self._clock())
        with self._lock:
            self._request_id = request_id
            try:
                reply = super()._dispatch(request)
            except Exception as exc:  # a fake bug reaches the test as a reply, not a reset
                reply = text_reply(500, f"FakeBeampipe failed: {exc!r}")
            key = (request.method, _route_label(request.path), str(reply.status))
            self._counters[key] = self._counters.get(key, 0) + 1
        return Reply(
            reply.status,
            reply.body,
            reply.content_type,
            {**reply.headers, "x-request-id": request_id},
        )

    # -- auth routes ----------------------------------------------------------------------------

    def _login(self, call: Call) -> Reply:
        body = call.body(_LOGIN)
        user = self.users.get(body["username"])
        if user is None:
            raise ApiError.unauthorized()
        salt = user["hashed_password"].split("$")[1]
        if not hmac.compare_digest(_hash_password(body["password"], salt), user["hashed_password"]):
            raise ApiError.unauthorized()
        return json_reply(200, self._tokens.pair(user["username"]))

    def _refresh(self, call: Call) -> Reply:
        token = call.body(_REFRESH)["refresh_token"]
        self._tokens.forget_expired()
        if token is None:
            raise ApiError.bad_request("refresh_token required")
        if self._tokens.is_revoked(token):
            raise ApiError.bad_request("token revoked")
        claims = self._tokens.claims(token, "refresh")
        if claims is None:
            raise ApiError.unauthorized()
        self._tokens.revoke(token, claims)
        self.refresh_count += 1
        return json_reply(200, self._tokens.pair(str(claims["sub"])))

    def _logout(self, call: Call) -> Reply:
        body = call.body(_LOGOUT)
        self._tokens.forget_expired()
        if body["access_token"] is None and body["refresh_token"] is None:
            raise ApiError.bad_request("access_token or refresh_token required")
        checked: list[tuple[str, Json]] = []
        for key, typ in (("access_token", "access"), ("refresh_token", "refresh")):
            token = body[key]
            if token is None:
                continue
            claims = self._tokens.claims(token, typ)
            if claims is None:
                raise ApiError.unauthorized()
            checked.append((token, claims))
        if len({claims["sub"] for _, claims in checked}) > 1:
            raise ApiError.unauthorized()
        for token, claims in checked:
            self._tokens.revoke(token, claims)
        return Reply(204)

    def _metrics_route(self, call: Call) -> Reply:
        if not self.metrics_public:
            self._authenticate(call.request)
        return self._metrics(call)

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not running"
        return f"<FakeBeampipe {where} users={sorted(self.users)}>"
