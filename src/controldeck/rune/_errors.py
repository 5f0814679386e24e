"""Rune errors: Connect `{code, message, details}` bodies (string codes), grpc-gateway bodies
(numeric codes), plain-text replies from the dashboard's access gate, and end-of-stream errors.

The error class follows the gRPC code, not only the HTTP status (reference §4): a
`failed_precondition` is a `PreconditionFailedError` whether it came as HTTP 400 (current
Connect) or 412 (older mapping), `already_exists` a `ConflictError`, `resource_exhausted` a
`RateLimitError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controldeck._core._redact import excerpt
from controldeck._core._replies import ErrorInfo
from controldeck.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    StreamError,
)

__all__ = ["CODE_NAMES", "ERROR_CLASSES", "HTTP_STATUS", "parse_rune_error", "raise_stream_end"]

# gRPC code number -> Connect code name (reference §4).
CODE_NAMES = {
    1: "canceled",
    2: "unknown",
    3: "invalid_argument",
    4: "deadline_exceeded",
    5: "not_found",
    6: "already_exists",
    7: "permission_denied",
    8: "resource_exhausted",
    9: "failed_precondition",
    10: "aborted",
    11: "out_of_range",
    12: "unimplemented",
    13: "internal",
    14: "unavailable",
    15: "data_loss",
    16: "unauthenticated",
}

# Connect code -> its HTTP status on Connect (reference §4): what `.status_code` says for an
# error that came over gRPC, so code that switches on it works on every wire.
HTTP_STATUS: Mapping[str, int] = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}

# Connect code -> the error users catch (the status alone would say BadRequestError for a
# failed precondition, and nothing for an HTTP 499 cancel).
ERROR_CLASSES: Mapping[str, type[APIStatusError]] = {
    "canceled": APIStatusError,
    "unknown": InternalServerError,
    "invalid_argument": BadRequestError,
    "deadline_exceeded": InternalServerError,
    "not_found": NotFoundError,
    "already_exists": ConflictError,
    "permission_denied": PermissionDeniedError,
    "resource_exhausted": RateLimitError,
    "failed_precondition": PreconditionFailedError,
    "aborted": ConflictError,
    "out_of_range": BadRequestError,
    "unimplemented": APIStatusError,
    "internal": InternalServerError,
    "unavailable": InternalServerError,
    "data_loss": InternalServerError,
    "unauthenticated": AuthenticationError,
}


def code_name(value: Any) -> str | None:
    """A Connect code name from a string code or a numeric gRPC code.

    Example:
        >>> code_name(9), code_name("NOT_FOUND"), code_name("bogus")
        ('failed_precondition', 'not_found', None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return CODE_NAMES.get(value)
    if isinstance(value, str):
        name = value.strip().lower()
        if name.isdigit():
            return CODE_NAMES.get(int(name))
        return name if name in ERROR_CLASSES else None
    return None


def parse_rune_error(body: Any) -> ErrorInfo:
    """The `ErrorInfo` of a Connect or grpc-gateway error body (plain text: the core's).

    Example:
        >>> info = parse_rune_error({"code": "failed_precondition", "message": "dependents exist"})
        >>> info.error_class.__name__, info.message
        ('PreconditionFailedError', 'dependents exist')
    """
    if not isinstance(body, Mapping):
        return ErrorInfo()
    code = code_name(body.get("code"))
    message = body.get("message")
    details = body.get("details")
    return ErrorInfo(
        code=code,
        message=message if isinstance(message, str) and message else None,
        details=details if details else None,
        error_class=ERROR_CLASSES.get(code) if code else None,
    )


def raise_stream_end(payload: Mapping[str, Any]) -> None:
    """`on_end` of a Connect watch stream: a clean end (`{}`, metadata only) returns; an
    error raises `StreamError` with the server's message and the mapped `.code`.

    Example:
        >>> raise_stream_end({})
        >>> raise_stream_end({"error": {"code": "not_found", "message": "no such service"}})
        Traceback (most recent call last):
        controldeck.errors.StreamError: watch ended with error [not_found]: no such service
    """
    error = payload.get("error")
    if error is None:
        return
    if not isinstance(error, Mapping):
        raise StreamError(f"watch ended with error: {excerpt(repr(error), 200)}")
    code = code_name(error.get("code")) or "unknown"
    message = error.get("message")
    text = excerpt(str(message), 300) if message else "(no message)"
    raise StreamError(
        f"watch ended with error [{code}]: {text}", code=code, details=error.get("details")
    )
