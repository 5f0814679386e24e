"""Beampipe credentials: an access token, a rotating refresh token, optional login details.

The server issues an HS256 JWT pair at `POST /login` (access 30 min, refresh 7 days by
default) and rotates the refresh token at `POST /refresh`: the presented one is revoked at
once, so two refreshes with the same token leave the second with a 400 (reference §2).

`BeampipeAuth` is the transport's auth hook:

- every attempt gets `Authorization: Bearer <access>`;
- shortly before a JWT access token's `exp` it renews proactively (an opaque token, whose
  expiry cannot be read, is used as-is until a 401);
- on a 401 it renews once and the transport replays the request once;
- renewing uses the refresh token, else the username and password when the client has them;
- every renewal runs under the hook's lock, and a thread that finds the token already
  replaced by another thread uses the new one: a refresh token is presented only once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

import requests

from controldeck._core._auth import Auth, check_token
from controldeck._core._describe import request_id_of
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    InvalidArgumentError,
)

__all__ = ["BeampipeAuth", "TokenPair", "jwt_expiry"]

logger = logging.getLogger("controldeck")

# Renew this many seconds before a JWT access token's `exp` (clock skew, slow requests).
REFRESH_LEEWAY = 60.0

# What the server answers a refresh token or a login it refuses: 400 revoked or missing,
# 401 expired or wrong password. Anything else (429, 5xx) is about the server, not the
# credentials, and is raised as it is.
_REJECTED = frozenset({400, 401})


class TokenPair(NamedTuple):
    """What `/login` and `/refresh` return: a new access token and a new refresh token.

    Its `repr` (what a REPL or a log line shows) hides both; read the fields to use them.

    Example:
        >>> TokenPair("access-secret", "refresh-secret")
        TokenPair(access_token=<redacted>, refresh_token=<redacted>)
    """

    access_token: str
    refresh_token: str

    def __repr__(self) -> str:
        return "TokenPair(access_token=<redacted>, refresh_token=<redacted>)"


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT as epoch seconds (not verified), or None for an opaque token.

    Example:
        >>> jwt_expiry("not-a-jwt") is None
        True
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


class BeampipeAuth(Auth):
    """The Beampipe auth hook (see the module docstring).

    Args:
        access_token: The access token, if the caller has one.
        refresh_token: The refresh token, if the caller has one.
        username: With `password`: log in when there is no token, or when the refresh
            token is gone or rejected.
        password: The password for `username`.
        missing: The end of the message raised when a call needs a token and none can be
            had ("pass token= ... or call login()").
        clock: Epoch seconds (injected by tests).

    Attributes:
        refresher: Set by the client: `POST /refresh` with a refresh token → `TokenPair`.
        login: Set by the client: `POST /login` with username and password → `TokenPair`.
    """

    def __init__(
        self,
        access_token: str | None = None,
        refresh_token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        missing: str = "pass token=",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._missing = missing
        self._clock = clock
        self.username = username
        self._password = password
        self.refresher: Callable[[str], TokenPair] | None = None
        self.login: Callable[[str, str], TokenPair] | None = None
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at: float | None = None
        self.set_tokens(access_token, refresh_token)

    # -- the tokens ---------------------------------------------------------------------

    @property
    def access_token(self) -> str | None:
        """The access token in use."""
        return self._access

    @property
    def refresh_token(self) -> str | None:
        """The refresh token that will be presented next (it changes at every refresh)."""
        return self._refresh

    @property
    def expires_at(self) -> float | None:
        """The access token's `exp` (epoch seconds), when it is a JWT."""
        return self._expires_at

    @property
    def has_credentials(self) -> bool:
        """Whether a username and password are kept for logging in again."""
        return self.username is not None and self._password is not None

    def set_tokens(self, access_token: str | None, refresh_token: str | None) -> None:
        """Replace both tokens (None forgets one)."""
        access = None if access_token is None else check_token("token", access_token)
        refresh = None if refresh_token is None else check_token("refresh_token", refresh_token)
        self._access, self._refresh = access, refresh
        self._expires_at = jwt_expiry(access) if access is not None else None

    def set_credentials(self, username: str | None, password: str | None) -> None:
        """Keep (or forget, with None) the username and password used to log in again."""
        self.username, self._password = username, password

    # -- the hook -----------------------------------------------------------------------

    def auth_headers(self) -> Mapping[str, str]:
        if self._access is None or self._expiring():
            with self._lock:
                if self._access is None or self._expiring():
                    self._renew_before_sending()
        if self._access is None:
            raise InvalidArgumentError(f"This call needs a token: {self._missing}")
        return {"Authorization": f"Bearer {self._access}"}

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._access, self._refresh, self._password) if s)

    def refresh(self, response: requests.Response) -> bool:
        """After a 401: renew once (refresh token, else login); the transport replays."""
        if self._refresh is None and not self._can_login():
            return False
        try:
            self._renew()
        except APIStatusError as exc:
            response.close()
            raise self._renewal_failed(exc, response) from None
        return True

    def rotate(self, refresher: Callable[[str], TokenPair]) -> TokenPair:
        """Under the lock: present the refresh token to `refresher` and keep the new pair
        (the client's public `refresh()`). A rejected refresh token is forgotten."""
        with self._lock:
            token = self._refresh
            if token is None:
                raise InvalidArgumentError(
                    "refresh(): the client holds no refresh token; call login() first"
                )
            try:
                pair = refresher(token)
            except APIStatusError:
                self._refresh = None
                raise
            self.set_tokens(pair.access_token, pair.refresh_token)
            self.generation += 1
            return pair

    def adopt(
        self, pair: TokenPair, username: str | None = None, password: str | None = None
    ) -> None:
        """Under the lock: use a new pair (and login details) from now on (`login()`)."""
        with self._lock:
            self.set_tokens(pair.access_token, pair.refresh_token)
            if username is not None:
                self.set_credentials(username, password)
            self.generation += 1

    def forget(self) -> None:
        """Under the lock: drop the tokens and the login details (`logout()`)."""
        with self._lock:
            self.set_tokens(None, None)
            self.set_credentials(None, None)
            self.generation += 1

    # -- renewal ------------------------------------------------------------------------

    def _expiring(self) -> bool:
        expires = self._expires_at
        return (
            expires is not None
            and self._clock() >= expires - REFRESH_LEEWAY
            and (self._refresh is not None or self._can_login())
        )

    def _can_login(self) -> bool:
        return self.has_credentials and self.login is not None

    def _renew_before_sending(self) -> None:
        """Under the lock: get a token before an attempt (none yet, or about to expire)."""
        had = self._access
        try:
            self._renew()
        except (APIStatusError, APIConnectionError) as exc:
            still_valid = (
                had is not None
                and self._expires_at is not None
                and self._clock() < self._expires_at
            )
            if not still_valid:
                if isinstance(exc, APIStatusError) and exc.status_code in _REJECTED:
                    # The server refused the refresh token or the login: say so about the
                    # call the user made, not as a bare 400 from a /refresh they never sent.
                    problem = "the access token expired" if had is not None else None
                    raise self._renewal_failed(exc, exc.response, problem) from None
                raise
            # The old token still works for a few seconds: send it; a 401 renews again.
            logger.info("proactive token refresh failed (%s); using the current token", exc)
            return
        self.generation += 1

    def _renew(self) -> None:
        """Under the lock: the refresh token if there is one, else log in."""
        refresh = self._refresh
        if refresh is not None and self.refresher is not None:
            try:
                pair = self.refresher(refresh)
            except APIStatusError:
                # 400 "token revoked" / 401 expired: that refresh token is dead either way.
                self._refresh = None
                if not self._can_login():
                    raise
            else:
                self.set_tokens(pair.access_token, pair.refresh_token)
                return
        if self._can_login():
            assert self.login is not None and self.username is not None
            assert self._password is not None
            pair = self.login(self.username, self._password)
            self.set_tokens(pair.access_token, pair.refresh_token)
            return
        raise InvalidArgumentError(f"This call needs a token: {self._missing}")

    def _renewal_failed(
        self,
        exc: APIStatusError,
        response: requests.Response | None,
        problem: str | None = "the access token was rejected",
    ) -> AuthenticationError:
        """The error for a renewal the server refused, after `problem` (what made the
        client renew; None when it simply had no token yet): what it tried, the server's
        answer, and what to do."""
        cause = f"HTTP {exc.status_code}{f' [{exc.code}]' if exc.code else ''}: {exc.message}"
        if self._refresh is None and self._can_login():
            attempt = f"logging in as {self.username!r}"
            advice = "check the username and password"
        else:
            attempt = "refreshing it" if problem else "refreshing the token"
            advice = "log in again with client.login(username, password)"
        what = f"{problem} and {attempt}" if problem else attempt
        return AuthenticationError(
            f"{what} failed ({cause}); {advice}",
            status_code=401,
            request_id=(request_id_of(response) if response is not None else None)
            or exc.request_id,
            code="unauthorized",
            response=response,
        )

    def __repr__(self) -> str:
        def shown(value: str | None) -> str:
            return "'<redacted>'" if value else "None"

        return (
            f"BeampipeAuth(access_token={shown(self._access)}, "
            f"refresh_token={shown(self._refresh)}, username={self.username!r})"
        )
