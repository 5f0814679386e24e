"""Every exception controldeck raises.

```
ControlDeckError
├── InvalidArgumentError (also ValueError)    bad input, nothing was sent
├── MissingDependencyError (also ImportError) an optional extra is not installed
├── APIConnectionError                         DNS, refused, reset, TLS
│   └── APITimeoutError
├── APIStatusError  .status_code .request_id .code .message .body_excerpt .response
│   ├── BadRequestError 400        ├── ConflictError 409
│   ├── AuthenticationError 401    ├── PreconditionFailedError 412
│   ├── PermissionDeniedError 403  ├── UnprocessableEntityError 422
│   ├── NotFoundError 404          ├── RateLimitError 429 (.retry_after)
│   └── InternalServerError 5xx
├── ResponseValidationError  reply was not what the spec promises (.path like $.data[3].status)
├── StreamError              a stream broke or sent an error event
├── WaitTimeoutError         wait_for_* ran out of time (.last_state)
└── TokenError               a local token could not be validated, stored or read
```

Catch `ControlDeckError` to handle anything the SDK raises; no `KeyError`, `TypeError`,
`JSONDecodeError` or raw `requests` exception escapes a public method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ControlDeckError",
    "InternalServerError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "ResponseValidationError",
    "StreamError",
    "TokenError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]


class ControlDeckError(Exception):
    """Base class of every error raised by controldeck."""


class InvalidArgumentError(ControlDeckError, ValueError):
    """An argument was rejected before any request was sent."""


class MissingDependencyError(ControlDeckError, ImportError):
    """A feature needs an optional extra that is not installed.

    The message names the exact `pip install` line that fixes it.
    """

    def __init__(self, feature: str, extra: str, missing: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional dependency {missing!r}, which is not installed. "
            f"Install it with: pip install 'controldeck[{extra}]'",
            name=missing,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # ImportError pickles as cls(message), which this signature cannot take.
        return (type(self), (self.feature, self.extra, self.name))


class TokenError(ControlDeckError):
    """A token could not be validated, decrypted, stored or loaded."""


class APIConnectionError(ControlDeckError):
    """The request did not get an HTTP reply: DNS failure, refused, reset, TLS error.

    The message ends with the root cause in one line; the full exception chain from
    `requests`/`urllib3` is kept on `.cause` instead of being printed with the traceback.

    Attributes:
        method: The HTTP method of the failed request.
        url: The URL (without its query) of the failed request.
        cause: The underlying exception, for debugging.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.cause = cause
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, {**self.__dict__, "cause": None}))


class APITimeoutError(APIConnectionError):
    """The server did not answer within the timeout (connect or read)."""


class APIStatusError(ControlDeckError):
    """The server answered with a non-success HTTP status.

    Attributes:
        status_code: The HTTP status.
        request_id: The server's request id (`x-request-id` / `request-id`), when it sent one.
        code: The platform's own error code, when the body carries one.
        message: The platform's error message, or the reason phrase.
        body_excerpt: At most 500 characters of the body, secrets masked.
        response: The `requests.Response`, for anything else.
        details: Extra structured detail from the body (e.g. Laravel per-field `errors`).
        field_errors: `(field, first message)` pairs when the body lists per-field errors.
        retry_after: Seconds the server asked to wait (Retry-After), when it said.
        hint: What to check, shown only when the server gave no message of its own.

    Example:
        >>> try:
        ...     client.get_change("01JBX...")
        ... except NotFoundError as exc:
        ...     print(exc.status_code, exc.message, exc.request_id)
        404 Change not found req-123
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        code: str | None = None,
        body_excerpt: str = "",
        response: requests.Response | None = None,
        details: Any = None,
        field_errors: Sequence[tuple[str, str]] = (),
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.retry_after = retry_after
        self.request_id = request_id
        self.code = code
        self.message = message
        self.body_excerpt = body_excerpt
        self.response = response
        self.details = details
        self.field_errors = list(field_errors)
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"HTTP {self.status_code}"]
        if self.code:
            parts.append(f"[{self.code}]")
        text = " ".join(parts) + f": {self.message}"
        if self.field_errors:
            shown = "; ".join(f"{field}: {msg}" for field, msg in self.field_errors[:3])
            more = len(self.field_errors) - 3
            text += f" ({shown}{f'; and {more} more' if more > 0 else ''})"
        if self.hint:
            text += f" ({self.hint})"
        if self.retry_after is not None:
            text += f" [retry after {self.retry_after:g}s]"
        if self.request_id:
            text += f" [request id: {self.request_id}]"
        return text

    def __repr__(self) -> str:
        # What a REPL or notebook shows for `err`: the status, code and request id too.
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep pickling (multiprocessing, joblib) working despite keyword-only arguments.
        return (_rebuild, (type(self), (self.message,), {**self.__dict__, "response": None}))


def _rebuild(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the token is missing, expired or not accepted."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the token is valid but may not do this."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class PreconditionFailedError(APIStatusError):
    """HTTP 412."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the server rejected the body (see `.details` for per-field errors)."""


class RateLimitError(APIStatusError):
    """HTTP 429. `.retry_after` holds the seconds the server asked to wait, when it said.

    Raised at once, without retrying, when Retry-After is longer than the SDK waits on its
    own (60 s).
    """


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


class ResponseValidationError(ControlDeckError):
    """A 2xx reply did not have the shape the spec promises.

    Attributes:
        path: JSON path of the first offending value, like `$.data[3].status`.
        problems: Every problem found, each as `"<what> @ <path>"`.
        status_code, request_id, body_excerpt: As on `APIStatusError`.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        problems: list[str] | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
    ) -> None:
        self.path = path
        self.problems = problems or []
        self.status_code = status_code
        self.request_id = request_id
        self.body_excerpt = body_excerpt
        super().__init__(message)


class StreamError(ControlDeckError):
    """A stream broke, or the server sent an error event.

    Attributes:
        code: The error code the server's error event carried, when it had one.
        details: Structured detail from the error event, when it had any.
    """

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        self.code = code
        self.details = details
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class WaitTimeoutError(ControlDeckError):
    """A `wait_for_*` call ran out of time.

    Attributes:
        last_state: The last state seen before giving up.
    """

    def __init__(self, message: str, *, last_state: Any = None) -> None:
        self.last_state = last_state
        super().__init__(message)


STATUS_HINTS = {
    401: "check the token: it is missing, expired or not accepted",
    403: "the token is valid but lacks permission for this",
    404: "check the id and the base URL",
    429: "rate limited; retry later",
}
"""What to check for a status, shown only when the server's reply gave no message."""

STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status."""
    if status >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status, APIStatusError)
