"""`BeampipeClient`: the Beampipe `/api/v2` processing orchestrator (openapi/beampipe.yaml)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Self, Unpack

import requests

from controldeck._core import _constants as C
from controldeck._core._client import from_env
from controldeck._core._describe import origin_of
from controldeck._core._lazy import LazyModule
from controldeck._core._models import UNSET
from controldeck._core._options import CallOptions, Timeout
from controldeck._core._validate import require_str
from controldeck.beampipe._auth import BeampipeAuth, TokenPair
from controldeck.beampipe._errors import parse_beampipe_error, retry_advice
from controldeck.beampipe._executions import ExecutionsAPI
from controldeck.beampipe._operators import OperatorsAPI
from controldeck.beampipe._projects import ProjectsAPI
from controldeck.beampipe._sources import SourcesAPI
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._generated import beampipe as models
    from controldeck._generated.beampipe import CurrentUserResponse, TokenResponse
else:
    models = LazyModule("controldeck._generated.beampipe")

__all__ = ["BeampipeClient"]

BASE_URL_ENV = "BEAMPIPE_BASE_URL"
TOKEN_ENV = "BEAMPIPE_TOKEN"
USERNAME_ENV = "BEAMPIPE_USERNAME"
PASSWORD_ENV = "BEAMPIPE_PASSWORD"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
# Keys the server treats as secret inside a notification channel's free-form `config`
# (observability.rs), beyond the core's generic names: masked in logs and errors.
CHANNEL_SECRET_KEYS = (
    "passphrase",
    "passcode",
    "credential",
    "routing_key",
    "webhook",
    "webhook_url",
    "smtp_password",
    "inline_dev",
)
_CREDENTIAL_ARGS = frozenset({"token", "refresh_token", "username", "password"})


class BeampipeClient(ProjectsAPI, SourcesAPI, ExecutionsAPI, OperatorsAPI):
    """Client for a Beampipe server (`/api/v2`).

    Give it a token, or a username and password (it logs in on the first call that needs
    it), or call `login()`. It keeps the access/refresh pair: a 401 refreshes once and
    replays the request once, a JWT access token is renewed shortly before it expires, and
    the rotated refresh token replaces the old one. Safe to share between threads:
    concurrent renewals are coalesced, so a refresh token is never presented twice.

    Every method also takes `timeout=`, `deadline=`, `max_retries=` and `extra_headers=`
    for that one call.

    Args:
        base_url: The server's origin (`/api/v2` is added). Defaults to `BEAMPIPE_BASE_URL`,
            else http://127.0.0.1:8080.
        token: An access token. Defaults to `BEAMPIPE_TOKEN`.
        username: Log in as this user when a token is needed. Defaults to
            `BEAMPIPE_USERNAME`.
        password: The user's password. Defaults to `BEAMPIPE_PASSWORD`.
        refresh_token: A refresh token, used when the access token is missing or rejected.
        timeout: Seconds, or (connect, read) seconds, per attempt. Default (5, 60).
        deadline: Seconds any one call may take across its retries. Default: no limit.
        max_retries: Retries for failures that are safe to retry. Default 2.
        session: A `requests.Session` to use (proxies, TLS settings) instead of our own.
        user_agent: Replaces `controldeck/<version> python/<x.y> beampipe`.

    Raises:
        InvalidArgumentError: A bad base URL or argument (nothing is sent).

    Example:
        >>> with BeampipeClient("http://127.0.0.1:8080", username="admin",
        ...                     password="...") as client:
        ...     print(client.current_user().username)
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
    ) -> None:
        resolved = (from_env(base_url, BASE_URL_ENV) or DEFAULT_BASE_URL).strip()
        # Name where a bad URL came from: the argument, or the environment variable.
        source = "base_url" if base_url is not None else f"base_url (from {BASE_URL_ENV})"
        if origin_of(resolved) is None:
            raise InvalidArgumentError(
                f"{source} must be an http(s) URL, got {resolved[: C.MAX_ECHO]!r}"
            )
        if resolved.rstrip("/").endswith("/api/v2"):
            raise InvalidArgumentError(
                f"{source} is the server's origin (http://host:8080) and the client adds "
                f"/api/v2: got {resolved[: C.MAX_ECHO]!r}"
            )
        copy_args = {
            "base_url": base_url,
            "token": token,
            "username": username,
            "password": password,
            "refresh_token": refresh_token,
            "timeout": timeout,
            "deadline": deadline,
            "max_retries": max_retries,
            "session": session,
            "user_agent": user_agent,
        }
        token = from_env(token, TOKEN_ENV)
        username = from_env(username, USERNAME_ENV)
        password = from_env(password, PASSWORD_ENV)
        if (username is None) != (password is None):
            given, absent = (
                ("username", "password") if password is None else ("password", "username")
            )
            env = PASSWORD_ENV if absent == "password" else USERNAME_ENV
            raise InvalidArgumentError(
                f"{given} given without {absent}: pass {absent}= or set {env}"
            )
        if username is not None:
            require_str("username", username)
        self._auth = BeampipeAuth(
            token,
            refresh_token,
            username=username,
            password=password,
            missing=(
                f"pass token= or username=/password= to BeampipeClient, set {TOKEN_ENV} "
                f"(or {USERNAME_ENV}/{PASSWORD_ENV}), or call client.login()"
            ),
        )
        super().__init__(
            base_url=resolved,
            copy_args=copy_args,
            auth=self._auth,
            secret_keys=(*models.SECRET_FIELDS, *CHANNEL_SECRET_KEYS),
            error_parser=parse_beampipe_error,
            idempotency_header="Idempotency-Key",
            retry_advice=retry_advice,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
        )
        self._auth.refresher = self._refresh_pair
        self._auth.login = self._login_pair
        # The clients sharing this login (copies); weak, so a dropped copy is not kept.
        self._sharers: weakref.WeakSet[BeampipeClient] = weakref.WeakSet([self])

    def copy(self, **overrides: Any) -> Self:
        """A new client like this one, with some constructor arguments replaced.

        Unless `token`, `refresh_token`, `username` or `password` is among the overrides,
        the copy shares this client's login and tokens: a refresh by either renews both,
        and the refresh token is never presented twice. Each has its own sessions.

        Example:
            >>> patient = client.copy(timeout=120, max_retries=5)
        """
        other = super().copy(**overrides)
        if not _CREDENTIAL_ARGS & overrides.keys():
            other._auth = self._auth
            other._transport.auth = self._auth
            other._sharers = self._sharers
            self._sharers.add(other)
        return other

    def close(self) -> None:
        """Close the HTTP sessions this client opened. Safe to call twice.

        Copies sharing its tokens go on working (they renew through their own sessions).
        """
        sharers = self._sharers
        sharers.discard(self)
        heir = next(iter(sharers), None)
        if heir is not None and self._auth.refresher == self._refresh_pair:
            self._auth.refresher = heir._refresh_pair
            self._auth.login = heir._login_pair
        super().close()

    def __repr__(self) -> str:
        who = f", username={self._auth.username!r}" if self._auth.username else ""
        return f"BeampipeClient(base_url={self.base_url!r}{who})"

    # -- auth -----------------------------------------------------------------------------

    @property
    def access_token(self) -> str | None:
        """The access token in use (it changes when the client refreshes)."""
        return self._auth.access_token

    @property
    def refresh_token(self) -> str | None:
        """The refresh token the client will present next (rotated at every refresh)."""
        return self._auth.refresh_token

    def login(self, username: str, password: str, **options: Unpack[CallOptions]) -> TokenResponse:
        """Log in (`POST /api/v2/login`) and use the new access/refresh pair from now on.

        The username and password are kept, so the client can log in again by itself when
        the refresh token expires or is revoked.

        Args:
            username: The user (created server-side with `beampipe admin create-user`).
            password: The password.

        Returns:
            The pair; its tokens are redacted in `repr`.

        Raises:
            AuthenticationError: Wrong username or password (401).

        Example:
            >>> client.login("admin", "admin-password").token_type
            'bearer'
        """
        require_str("username", username)
        require_str("password", password)
        reply = self._token_call(
            "/login",
            models.LoginRequest(username=username, password=password),
            (password,),
            **options,
        )
        self._auth.adopt(TokenPair(reply.access_token, reply.refresh_token), username, password)
        return reply

    def refresh(self, **options: Unpack[CallOptions]) -> TokenPair:
        """Rotate the tokens now (`POST /api/v2/refresh`); the old refresh token is revoked.

        The client does this by itself on a 401 and before a JWT access token expires;
        call it to start a long job with a fresh token.

        Returns:
            The new (access_token, refresh_token) pair.

        Raises:
            InvalidArgumentError: The client has no refresh token (and no login details).
            BadRequestError: The refresh token was already used (revoked) (400).
            AuthenticationError: The refresh token expired (401).

        Example:
            >>> pair = client.refresh()
            >>> pair.refresh_token == client.refresh_token
            True
        """
        return self._auth.rotate(lambda token: self._refresh_pair(token, **options))

    def logout(self, **options: Unpack[CallOptions]) -> None:
        """Revoke the client's tokens (`POST /api/v2/logout`) and forget them and the login
        details; later calls need `login()` or a new token.

        Raises:
            InvalidArgumentError: The client holds no token.

        Example:
            >>> client.logout()
            >>> client.access_token is None
            True
        """
        access, refresh = self._auth.access_token, self._auth.refresh_token
        if access is None and refresh is None:
            raise InvalidArgumentError("logout(): the client holds no token to revoke")
        body = models.LogoutRequest(
            access_token=access if access is not None else UNSET,
            refresh_token=refresh if refresh is not None else UNSET,
        )
        self._no_reply(
            "POST",
            "/api/v2/logout",
            json=body,
            auth=False,
            secrets=tuple(t for t in (access, refresh) if t),
            **options,
        )
        self._auth.forget()

    def current_user(self, **options: Unpack[CallOptions]) -> CurrentUserResponse:
        """The logged-in user (`GET /api/v2/user/me`).

        Example:
            >>> client.current_user().is_superuser
            True
        """
        return self._get("/api/v2/user/me", models.CurrentUserResponse, **options)

    # -- what the auth hook calls (under its lock) ----------------------------------------

    def _refresh_pair(self, refresh_token: str, **options: Unpack[CallOptions]) -> TokenPair:
        reply = self._token_call(
            "/refresh",
            models.RefreshRequest(refresh_token=refresh_token),
            (refresh_token,),
            **options,
        )
        return TokenPair(reply.access_token, reply.refresh_token)

    def _login_pair(self, username: str, password: str) -> TokenPair:
        reply = self._token_call(
            "/login", models.LoginRequest(username=username, password=password), (password,)
        )
        return TokenPair(reply.access_token, reply.refresh_token)

    def _token_call(
        self, path: str, body: object, secrets: tuple[str, ...], **options: Unpack[CallOptions]
    ) -> TokenResponse:
        reply = self._call(
            "POST",
            "/api/v2" + path,
            models.TokenResponse,
            json=body,
            auth=False,
            secrets=secrets,
            **options,
        )
        return reply
