"""The per-call options record: built once per logical call, read by every stage.

A facade method turns its arguments into one `RequestOptions`; the transport sends it
(every attempt reads the same record), the reply decoder reads what reply it expects, and
the error builder reads the secrets to mask. Nothing about a call travels as loose
arguments between stages.

`NOT_GIVEN` tells "use the client's default" apart from an explicit value: `timeout=None`
from a caller is an error (every call has a timeout; `deadline=` bounds a whole call),
while the engine itself may open a stream whose read timeout is its idle limit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

import attrs

from controldeck._core import _constants as C

if TYPE_CHECKING:
    from controldeck._core._auth import Auth
    from controldeck._core._bodies import RequestBody

__all__ = [
    "NOT_GIVEN",
    "CallOptions",
    "NotGiven",
    "PollOptions",
    "ReplyKind",
    "RequestOptions",
    "Timeout",
    "poll_call_options",
]

Timeout = float | tuple[float, float]
"""Seconds, or a `(connect, read)` pair of seconds."""

ReplyKind = Literal["json", "text", "bytes", "none", "stream"]
"""What a 2xx reply is turned into: decoded JSON (into `cast_to` when given), `str`, `bytes`,
nothing (the body is ignored), or the open `requests.Response` for a stream or download."""


class NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`: "the caller did not pass this; use the default"."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


class CallOptions(TypedDict, total=False):
    """Options every public method accepts as keyword arguments.

    Attributes:
        timeout: Seconds, or `(connect, read)` seconds, for each attempt of this call
            (default: the client's). Must be positive and finite.
        deadline: Seconds this whole call may take, across every attempt and every wait
            between attempts (default: the client's, normally none).
        max_retries: Retries after the first attempt for this call (default: the client's).
        extra_headers: Headers sent with this call, on top of (and overriding) the client's.
    """

    timeout: Timeout
    deadline: float | None
    max_retries: int
    extra_headers: Mapping[str, str]


class PollOptions(TypedDict, total=False):
    """Per-request options of a wait (`wait_for_*`, `await_*`), whose own `timeout=` is the
    whole wait's budget.

    Attributes:
        request_timeout: Seconds, or `(connect, read)` seconds, for each request.
        max_retries: Retries of each request.
        extra_headers: Headers added to each request.
    """

    request_timeout: Timeout
    max_retries: int
    extra_headers: Mapping[str, str]


def poll_call_options(options: PollOptions) -> CallOptions:
    """The `CallOptions` of each request of a wait; an unknown keyword fails before
    anything is sent.

    Example:
        >>> poll_call_options({"request_timeout": 5})
        {'timeout': 5}
    """
    from controldeck.errors import InvalidArgumentError

    unknown = set(options) - set(PollOptions.__annotations__)
    if unknown:
        raise InvalidArgumentError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    out: CallOptions = {}
    if "request_timeout" in options:
        out["timeout"] = options["request_timeout"]
    if "max_retries" in options:
        out["max_retries"] = options["max_retries"]
    if "extra_headers" in options:
        out["extra_headers"] = options["extra_headers"]
    return out


@attrs.frozen(kw_only=True)
class RequestOptions:
    """One logical request, as every attempt of it is sent and its reply decoded.

    Attributes:
        method: Upper-case HTTP method.
        url: Absolute URL without the query.
        params: Query parameters (None values already dropped).
        headers: Per-call headers (the client's and the auth hook's are added per attempt).
        body: The request body, or None for no body and no Content-Type.
        timeout: Per-attempt timeout; a read part of None means "no read limit" and is
            only ever set by the engine (streams with no idle limit).
        deadline: Seconds the whole call may take, or None.
        max_retries: Retries after the first attempt.
        idempotency_key: Sent in the platform's idempotency header on every attempt; a call
            carrying one is retried like an idempotent method.
        auth: True for the client's auth hook, False for none, or a per-call hook.
        same_origin: The URL is on the client's own origin (credentials may go there).
        reply: What the 2xx reply is turned into.
        cast_to: The type JSON is structured into (None: plain decoded JSON).
        unwrap: A key of the reply object whose value is decoded instead (`"data"`).
        follow_redirects: False returns a GET's 3xx reply itself (to read its Location).
        idempotent: Safe to repeat although the method is not (a read RPC sent as POST).
        secrets: Extra strings masked wherever this call is logged or reported.
    """

    method: str
    url: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: RequestBody | None = None
    timeout: tuple[float, float | None]
    deadline: float | None = None
    max_retries: int
    idempotency_key: str | None = None
    auth: bool | Auth = True
    same_origin: bool = True
    reply: ReplyKind = "json"
    cast_to: Any = None
    unwrap: str | None = None
    follow_redirects: bool = True
    idempotent: bool = False
    secrets: tuple[str, ...] = ()

    @property
    def retry_safe(self) -> bool:
        """Whether a retry cannot run the operation twice (idempotent or keyed)."""
        return (
            self.idempotent
            or self.method in C.IDEMPOTENT_METHODS
            or self.idempotency_key is not None
        )
