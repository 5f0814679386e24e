"""Authentication as a transport hook.

The transport asks the hook for headers on every attempt (so a token set or refreshed
mid-call is used by the next attempt), for the live secrets to mask (a rotated token is
masked too), and, once per call on a 401, whether a refresh makes a replay worthwhile.
Refreshes are serialised under a lock and coalesced: threads whose 401 answered a token
that another thread has already replaced just replay with the new one.

A platform with a plain bearer token uses `BearerAuth`; one with a refresh flow subclasses
`Auth` and implements `refresh()`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import requests

from controldeck.errors import InvalidArgumentError

__all__ = ["Auth", "BearerAuth", "check_token"]


class Auth:
    """Base hook: no credentials. Subclasses override `auth_headers`, `secrets`, `refresh`.

    Attributes:
        generation: Bumped on every successful refresh; the transport records it with each
            attempt so that a 401 to an old token does not trigger a second refresh.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._lock = threading.Lock()

    def auth_headers(self) -> Mapping[str, str]:
        """Headers to add to one attempt. May raise `InvalidArgumentError` (no credentials)."""
        return {}

    def secrets(self) -> tuple[str, ...]:
        """The credential strings in use now, masked wherever traffic is logged or reported."""
        return ()

    def refresh(self, response: requests.Response) -> bool:
        """Try to get new credentials after `response` (a 401). True means replay the request.

        Called under the hook's lock, at most once per call and only by the first thread
        whose 401 answered the current credentials.
        """
        return False

    def handle_unauthorized(self, response: requests.Response, sent_generation: int) -> bool:
        """Coalesced refresh: True when the request should be replayed once."""
        with self._lock:
            if self.generation != sent_generation:
                return True  # another thread already replaced the credentials we sent
            if self.refresh(response):
                self.generation += 1
                return True
            return False


class BearerAuth(Auth):
    """`Authorization: Bearer <token>`; the token may be replaced at any time.

    Args:
        token: The token, or None when the client has none (calls that need one then raise).
        missing: The end of the message raised when a call needs a token and there is none,
            e.g. "pass token= to RunbeamClient or set RUNBEAM_TOKEN".
        header: The header name.
        scheme: The scheme before the token ("" sends the bare token).

    Example:
        >>> auth = BearerAuth("tok-123", missing="pass token=")
        >>> dict(auth.auth_headers())
        {'Authorization': 'Bearer tok-123'}
    """

    def __init__(
        self,
        token: str | None,
        *,
        missing: str = "pass token=",
        header: str = "Authorization",
        scheme: str = "Bearer",
    ) -> None:
        super().__init__()
        self._missing = missing
        self._header = header
        self._scheme = scheme
        self.token = token

    @property
    def token(self) -> str | None:
        """The current token (set it to rotate; the next attempt uses the new one)."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = None if value is None else check_token("token", value)

    def auth_headers(self) -> Mapping[str, str]:
        token = self._token
        if token is None:
            raise InvalidArgumentError(f"This call needs a token: {self._missing}")
        return {self._header: f"{self._scheme} {token}" if self._scheme else token}

    def secrets(self) -> tuple[str, ...]:
        return (self._token,) if self._token else ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={'<redacted>' if self._token else None})"


def check_token(name: str, value: object) -> str:
    """A token that can go in a header: a non-empty printable ASCII string, no whitespace."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(f"{name} must not be empty")
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        # Otherwise requests fails at send time with a message that quotes the header value.
        raise InvalidArgumentError(
            f"{name} contains whitespace, control or non-ASCII characters "
            "(a trailing newline from a file or environment variable?)"
        )
    return value
