"""Turning replies into results: 2xx bodies into the expected kind, the rest into errors.

The success path decodes and nothing else. Excerpts, request ids, redaction and messages
are built only when an error is raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import requests

from controldeck._core import _constants as C
from controldeck._core._describe import request_id_of, short_url
from controldeck._core._downloads import read_bytes, read_text
from controldeck._core._logging import logger
from controldeck._core._options import RequestOptions
from controldeck._core._redact import Redactor
from controldeck._core._retry import parse_retry_after
from controldeck.errors import (
    STATUS_HINTS,
    APIStatusError,
    ResponseValidationError,
    error_class_for_status,
)

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "ErrorInfo",
    "ErrorParser",
    "decode_reply",
    "parse_generic_error",
    "status_error",
]


class ErrorInfo(NamedTuple):
    """What a platform's error body says.

    Attributes:
        code: The platform's error code.
        message: Its message.
        details: Structured detail (per-field errors, a failure record...).
        field_errors: `(field, first message)` pairs, shown in `str(error)`.
        error_class: A subclass of the status's error class to raise instead, for codes
            users catch (it must accept the same keyword arguments).
        attributes: Extra attributes set on the error (e.g. `existing_id`).
    """

    code: str | None = None
    message: str | None = None
    details: Any = None
    field_errors: tuple[tuple[str, str], ...] = ()
    error_class: type[APIStatusError] | None = None
    attributes: Mapping[str, Any] = {}


ErrorParser = Callable[[Any], ErrorInfo]
"""Turns a decoded JSON error body into an `ErrorInfo`; platforms supply their own."""


def parse_generic_error(body: Any) -> ErrorInfo:
    """The shapes most platforms use.

    `{message, errors: {field: [msg]}}` (Laravel), `{detail: str | [{loc, msg}]}` (FastAPI),
    `{error: {code, message, details}}`, `{error: "short", message?}`, `{code, message}`.
    """
    if not isinstance(body, dict):
        return ErrorInfo()
    err = body.get("error")
    if isinstance(err, dict):
        return ErrorInfo(
            _str_or_none(err.get("code")), _str_or_none(err.get("message")), err.get("details")
        )
    detail = body.get("detail")
    if isinstance(detail, list):  # FastAPI request validation
        fields = fastapi_field_errors(detail)
        return ErrorInfo(
            _str_or_none(body.get("code")), "Request validation failed", detail, fields
        )
    message = body.get("message") or detail
    code = _str_or_none(body.get("code"))
    errors = body.get("errors")
    fields = laravel_field_errors(errors)
    if isinstance(err, str):
        # {"error": "Mesh not found", "message": "..."}: the short error is the code-like part.
        if message:
            return ErrorInfo(code or err, _str_or_none(message), errors, fields)
        return ErrorInfo(code, err, errors, fields)
    details = errors if "errors" in body else body.get("details")
    return ErrorInfo(code, _str_or_none(message), details, fields)


def laravel_field_errors(errors: Any) -> tuple[tuple[str, str], ...]:
    """`{"field": ["first message", ...]}` as `(field, first message)` pairs."""
    if not isinstance(errors, dict):
        return ()
    out = []
    for field, messages in errors.items():
        first = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(field, str) and isinstance(first, str):
            out.append((field, first))
    return tuple(out)


def fastapi_field_errors(detail: list[Any]) -> tuple[tuple[str, str], ...]:
    """`[{"loc": ["body", "x"], "msg": "..."}]` as `("x", "...")` pairs."""
    out = []
    for item in detail:
        if not isinstance(item, dict) or not isinstance(item.get("msg"), str):
            continue
        loc = [str(p) for p in item.get("loc") or [] if p not in ("body", "query", "path")]
        out.append((".".join(loc) or "request", item["msg"]))
    return tuple(out)


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def decode_reply(
    response: requests.Response,
    options: RequestOptions,
    redactor: Redactor,
    converter: cattrs.Converter,
    secrets: Callable[[], Iterable[str]],
) -> Any:
    """The 2xx reply as `options.reply` asks: JSON (into `cast_to`), text, bytes or None.

    `secrets` is called only when the reply does not fit, to mask the error's excerpt.
    """
    kind = options.reply
    if kind == "none":
        return None
    if kind == "bytes":
        return read_bytes(response)
    if kind == "text":
        return read_text(response)
    content = response.content
    if options.cast_to is None and not content.strip():
        return None
    try:
        data = json.loads(content)
    except ValueError as exc:
        kind_of = response.headers.get("Content-Type", "no content type")
        raise ResponseValidationError(
            f"{options.method} {short_url(response.url)}: expected a JSON reply, "
            f"got {kind_of} ({len(content)} bytes)",
            path="$",
            **_context(response, redactor, secrets()),
        ) from exc
    path = "$"
    if options.unwrap is not None:
        path = f"$.{options.unwrap}"
        if not isinstance(data, dict) or options.unwrap not in data:
            raise ResponseValidationError(
                f"The reply did not match the expected envelope: required field missing @ {path}",
                path=path,
                problems=[f"required field missing @ {path}"],
                **_context(response, redactor, secrets()),
            )
        data = data[options.unwrap]
    if options.cast_to is None:
        return data
    # Here, not at the top: importing a platform must not load cattrs (import time).
    from controldeck._core._convert import structure

    try:
        return structure(
            data,
            options.cast_to,
            converter=converter,
            error_context=lambda: _context(response, redactor, secrets()),
        )
    except ResponseValidationError as exc:
        if path != "$":  # report paths from the top of the reply
            exc.path = (exc.path or "$").replace("$", path, 1)
            exc.problems = [p.replace("@ $", f"@ {path}", 1) for p in exc.problems]
            exc.args = (str(exc.args[0]).replace("@ $", f"@ {path}", 1),)
        raise


def _context(
    response: requests.Response, redactor: Redactor, secrets: Iterable[str]
) -> dict[str, Any]:
    return {
        "status_code": response.status_code,
        "request_id": request_id_of(response),
        "body_excerpt": redactor.excerpt(response.content, secrets),
    }


def status_error(
    response: requests.Response,
    options: RequestOptions,
    redactor: Redactor,
    error_parser: ErrorParser,
    secrets: Iterable[str],
    *,
    redirected_from: str | None = None,
) -> APIStatusError:
    """The typed error for a non-2xx reply, with the platform's code, message and fields.

    Everything taken from the body (message, details, excerpt) is masked. A 401/403 from
    a host we were redirected to says so instead of blaming the token: credentials are
    never forwarded to another host.
    """
    secrets = tuple(secrets)
    status = response.status_code
    body_text = response.content.decode("utf-8", errors="replace")
    info = ErrorInfo()
    try:
        info = error_parser(json.loads(body_text))
    except ValueError:
        # Plain-text error bodies ("Change not found") are the message themselves.
        if body_text.strip() and "<" not in body_text[:100] and len(body_text) <= 200:
            info = ErrorInfo(message=body_text.strip())
    except Exception:  # a parser must never hide the real error
        logger.debug("error parser failed", exc_info=True)
    hint = None if info.message else STATUS_HINTS.get(status)
    message = (
        info.message or f"{response.reason or 'error'} ({options.method} {short_url(response.url)})"
    )
    if redirected_from is not None and status in (401, 403):
        hint = (
            f"the request was redirected from {redirected_from} to another host, and "
            "credentials are never sent to another host; point base_url at the new host "
            "if you trust it"
        )
    error = (info.error_class or error_class_for_status(status))(
        redactor.excerpt(message, secrets),
        status_code=status,
        request_id=request_id_of(response),
        code=info.code,
        body_excerpt=redactor.excerpt(body_text, secrets),
        response=response,
        details=redactor.data(info.details, secrets),
        field_errors=[
            (redactor.excerpt(f, secrets, limit=C.MAX_ECHO), redactor.excerpt(m, secrets))
            for f, m in info.field_errors
        ],
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        hint=hint,
    )
    for name, value in info.attributes.items():
        setattr(error, name, redactor.data(value, secrets))
    return error
