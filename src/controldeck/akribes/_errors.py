"""Akribes error bodies and the errors users catch.

The server answers `{"error": "..."}` (sometimes with `error_type`), a structured body for a
few cases, or plain text (reference §1, §8.2). The parser turns each into the core's
`ErrorInfo`; the subclasses below are raised for the codes worth catching on their own.
"""

from __future__ import annotations

from typing import Any

from controldeck._core._replies import ErrorInfo
from controldeck.errors import (
    BadRequestError,
    ConflictError,
    ControlDeckError,
    InternalServerError,
)

__all__ = [
    "DocumentConversionError",
    "DuplicateSuiteError",
    "ExecutionFailedError",
    "InvalidInputsError",
    "parse_akribes_error",
]

# error_kind values the upstream SDKs treat as transient (R/sub/executions.rs:307-341).
TRANSIENT_KINDS = frozenset(
    {
        "RateLimit",
        "ServerError",
        "ServerError500",
        "BadGateway502",
        "ServiceUnavailable503",
        "GatewayTimeout504",
        "NetworkError",
    }
)


class DuplicateSuiteError(ConflictError):
    """409 `suite_already_exists`: `.existing_id` is the bench suite that already exists.

    Example:
        >>> try:
        ...     scope.bench.create_or_update("triage")
        ... except DuplicateSuiteError as exc:
        ...     suite = exc.existing_id
    """

    existing_id: int


class InvalidInputsError(BadRequestError):
    """400 `input_validation_failed`: `.input_errors` lists each bad input.

    Each item is a dict with `input`, `code` (`missing`, `wrong_type`, `unknown_field`,
    `unknown_input`, `disallowed_type`) and, when the server says, `expected` and `got`.
    `str(error)` names the first ones.
    """

    input_errors: list[dict[str, Any]]


class DocumentConversionError(InternalServerError):
    """502 `conversion_failed`: a document could not be converted (`.reason` says why)."""

    reason: str | None


class ExecutionFailedError(ControlDeckError):
    """An awaited execution ended `failed` or `cancelled`.

    Attributes:
        execution_id: The execution.
        status: `failed` or `cancelled`.
        error_kind: The server's classification (`RateLimit`, `AuthError`, ...), if any.
        transient: True when `error_kind` says retrying the run may succeed.
        error: The server's error message, if any.
    """

    def __init__(
        self,
        execution_id: str,
        status: str,
        *,
        error_kind: str | None = None,
        error: str | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.status = status
        self.error_kind = error_kind
        self.transient = error_kind in TRANSIENT_KINDS
        self.error = error
        kind = f" [{error_kind}]" if error_kind else ""
        why = f": {error[:300]}" if error else ""
        super().__init__(f"execution {execution_id} {status}{kind}{why}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_failed,
            (self.execution_id, self.status, self.error_kind, self.error),
        )


def _rebuild_failed(
    execution_id: str, status: str, error_kind: str | None, error: str | None
) -> ExecutionFailedError:
    return ExecutionFailedError(execution_id, status, error_kind=error_kind, error=error)


def parse_akribes_error(body: Any) -> ErrorInfo:
    """The `ErrorInfo` of an Akribes JSON error body (plain text is handled by the core).

    Example:
        >>> parse_akribes_error({"error_type": "suite_already_exists", "existing_suite_id": 7,
        ...                      "error": "exists"}).attributes
        {'existing_id': 7}
    """
    if not isinstance(body, dict):
        return ErrorInfo()
    message = _text(body.get("error")) or _text(body.get("message"))
    kind = _text(body.get("error_type"))
    if kind == "suite_already_exists" and isinstance(body.get("existing_suite_id"), int):
        existing = body["existing_suite_id"]
        return ErrorInfo(
            code=kind,
            message=message or f"bench suite {existing} already exists",
            details={"existing_id": existing},
            error_class=DuplicateSuiteError,
            attributes={"existing_id": existing},
        )
    if body.get("error") == "input_validation_failed" and isinstance(body.get("errors"), list):
        issues = [e for e in body["errors"] if isinstance(e, dict)]
        return ErrorInfo(
            code="input_validation_failed",
            message="The run's inputs do not match the script",
            details=issues,
            field_errors=tuple(_describe(e) for e in issues),
            error_class=InvalidInputsError,
            attributes={"input_errors": issues},
        )
    if kind == "conversion_failed":
        reason = _text(body.get("reason"))
        return ErrorInfo(
            code=kind,
            message=message or "document conversion failed",
            details={k: body[k] for k in ("reason", "attempts") if k in body},
            error_class=DocumentConversionError,
            attributes={"reason": reason},
        )
    return ErrorInfo(code=kind, message=message)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _describe(issue: dict[str, Any]) -> tuple[str, str]:
    what = str(issue.get("code", "invalid"))
    if issue.get("expected") is not None:
        what += f", expected {issue['expected']}"
    if issue.get("got") is not None:
        what += f", got {issue['got']}"
    return str(issue.get("input", "?")), what
