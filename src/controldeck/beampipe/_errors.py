"""Beampipe error bodies and the errors users catch.

Every API error is `{"error": <message>, "code": <code>, "failure": {class, retry, ...}}`
(reference §3); framework rejections (415/400/422) are plain text and unknown routes 404
with an empty body, which the core handles. The parser maps the body onto the core's
`ErrorInfo`: `.message` is `error`, `.code` is `code`, and the typed `Failure` is both
`.failure` and `.details`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import requests

from controldeck._core._lazy import LazyModule
from controldeck._core._replies import ErrorInfo
from controldeck.errors import BadRequestError, ResponseValidationError

if TYPE_CHECKING:
    from controldeck._generated import beampipe as models
    from controldeck._generated.beampipe import Failure, ValidationDiagnostic
else:
    models = LazyModule("controldeck._generated.beampipe")

__all__ = [
    "ProjectConfigValidationError",
    "failure_of",
    "parse_beampipe_error",
    "retry_advice",
]

VALIDATION_CODE = "project_config_validation_failed"


class ProjectConfigValidationError(BadRequestError):
    """400 `project_config_validation_failed`: the uploaded project config is invalid.

    Attributes:
        diagnostics: Each problem (`path`, `code`, `message`, `severity`, `hint`); `str()`
            names the first three.
        failure: The typed failure record.

    Example:
        >>> try:
        ...     client.upload_project_config(Path("wallaby_hires.v2.yaml"))
        ... except ProjectConfigValidationError as exc:
        ...     for d in exc.diagnostics:
        ...         print(d.path, d.message)
    """

    diagnostics: list[ValidationDiagnostic]
    failure: Failure | None


def failure_of(error: BaseException) -> Failure | None:
    """The typed `failure` record of a Beampipe API error (None for plain-text errors).

    Example:
        >>> try:
        ...     client.get_execution("0192f0c4-9a3b-7c1d-8e2f-0123456789ab")
        ... except APIStatusError as exc:
        ...     failure = failure_of(exc)
        ...     print(failure.retry if failure else None)
    """
    value = getattr(error, "failure", None)
    return value if isinstance(value, models.Failure) else None


def parse_beampipe_error(body: Any) -> ErrorInfo:
    """The `ErrorInfo` of a Beampipe JSON error body (plain text is handled by the core).

    Example:
        >>> parse_beampipe_error({"error": "not found", "code": "not_found"}).message
        'not found'
    """
    if not isinstance(body, dict):
        return ErrorInfo()
    message = _text(body.get("error"))
    code = _text(body.get("code"))
    failure = _failure(body.get("failure"))
    if failure is not None:
        message = message or failure.message
        code = code or failure.code
    attributes: dict[str, Any] = {"failure": failure}
    if code == VALIDATION_CODE and failure is not None:
        diagnostics = list(failure.diagnostics or [])
        attributes["diagnostics"] = diagnostics
        return ErrorInfo(
            code=code,
            message=message or "the project config is invalid",
            details=failure,
            field_errors=tuple((d.path, d.message) for d in diagnostics),
            error_class=ProjectConfigValidationError,
            attributes=attributes,
        )
    return ErrorInfo(code=code, message=message, details=failure, attributes=attributes)


def retry_advice(response: requests.Response) -> bool | None:
    """What `failure.retry` says of retrying: `safe`/`automatic` yes, `unsafe` and
    `after_remediation` no, None when the body has no failure record."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    failure = body.get("failure") if isinstance(body, dict) else None
    retry = failure.get("retry") if isinstance(failure, dict) else None
    if retry in ("safe", "automatic"):
        return True
    if retry in ("unsafe", "after_remediation"):
        return False
    return None


def _failure(value: Any) -> Failure | None:
    if not isinstance(value, dict):
        return None
    from controldeck._core._convert import structure

    try:
        return structure(value, models.Failure)
    except ResponseValidationError:
        return None  # a malformed record must not hide the error itself


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
