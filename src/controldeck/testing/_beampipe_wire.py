"""The wire plumbing of `FakeBeampipe`: the server's error body, axum's plain-text
rejections, a serde-like reader of JSON bodies, query and path parameters, timestamps,
UUIDv7 ids and HS256 JWTs.

Handlers raise `ApiError` (the server's `{error, code, failure}` body) or `Rejection` (a
framework rejection: plain text, or an empty body) and the route wrapper turns either into
the reply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controldeck.testing._server import RecordedRequest, Reply, json_reply, text_reply

__all__ = [
    "REDACTED",
    "AnyT",
    "ApiError",
    "Bool",
    "DateTimeT",
    "Enum",
    "Int",
    "Json",
    "ListOf",
    "MapOf",
    "Opt",
    "Rejection",
    "Str",
    "Struct",
    "Tagged",
    "UuidT",
    "b64url",
    "canonical_uuid",
    "iso",
    "jwt_decode",
    "jwt_encode",
    "parse_json_body",
    "parse_iso",
    "path_uuid",
    "query_bool",
    "query_int",
    "query_int_or",
    "query_uuid",
    "redact",
    "secret_key",
    "sha256_hex",
    "uuid7",
]

Json = dict[str, Any]

_PLAIN = "text/plain; charset=utf-8"


def iso(timestamp: float) -> str:
    """RFC 3339 UTC with microseconds and `Z`, as chrono prints a Postgres timestamptz."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float:
    """The epoch seconds of a timestamp written by `iso`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def uuid7(timestamp: float) -> str:
    """A UUIDv7 string: 48 bits of milliseconds, then random bits (as `Uuid::now_v7`)."""
    ms = int(timestamp * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62)
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def canonical_uuid(text: str) -> str | None:
    """The hyphenated lower-case form of a UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


# -- the server's error body ----------------------------------------------------------------

# status, code, component, class, message (None: the caller's), retry, system_action,
# operator_action; taken from the server's `api_failure` table (lib.rs).
_KINDS: dict[str, tuple[int, str, str, str, str | None, str, str, str]] = {
    "not_found": (
        404,
        "not_found",
        "api",
        "not_found",
        "the requested resource was not found",
        "after_remediation",
        "the request was not applied",
        "check the resource identifier and try again",
    ),
    "service_unavailable": (
        503,
        "service_unavailable",
        "beampipe",
        "dependency_unavailable",
        "the service is temporarily unavailable",
        "safe",
        "the request was not applied",
        "run `beampipe doctor` and retry when dependencies are healthy",
    ),
    "bad_request": (
        400,
        "bad_request",
        "api",
        "validation",
        None,
        "after_remediation",
        "the request was rejected before execution",
        "correct the request using the reported message and retry",
    ),
    "unauthorized": (
        401,
        "unauthorized",
        "authentication",
        "authentication",
        "authentication failed",
        "after_remediation",
        "the request was not authorized",
        "authenticate again with valid credentials",
    ),
    "forbidden": (
        403,
        "forbidden",
        "authorization",
        "authorization",
        None,
        "after_remediation",
        "the requested operation was not applied",
        "use an account with the required role",
    ),
    "conflict": (
        409,
        "conflict",
        "api",
        "inconsistent_state",
        None,
        "after_remediation",
        "the request was not applied",
        "refresh the resource state before trying another operation",
    ),
    "database_error": (
        500,
        "database_error",
        "postgres",
        "dependency_unavailable",
        "the database operation failed",
        "safe",
        "the request failed; Beampipe did not report it as successful",
        "check database health with `beampipe doctor` before retrying",
    ),
    "project_config_validation_failed": (
        400,
        "project_config_validation_failed",
        "project_config",
        "validation",
        "project config validation failed",
        "after_remediation",
        "the project configuration was not activated",
        "correct the reported configuration paths and retry",
    ),
    "rate_limit_exceeded": (
        429,
        "rate_limit_exceeded",
        "api",
        "rate_limited",
        "the request rate limit was exceeded",
        "safe",
        "the request was rejected without changing state",
        "wait for the rate-limit window before retrying",
    ),
    "wasm_validation_failed": (
        400,
        "wasm_validation_failed",
        "project_wasm",
        "validation",
        None,
        "after_remediation",
        "the WASM module was not stored or executed",
        "correct or rebuild the module, then validate it again",
    ),
    "retry_rejected": (
        409,
        "",
        "execution_retry",
        "inconsistent_state",
        None,
        "after_remediation",
        "no retry job was created and no external work was repeated",
        "reconcile external state or create a new execution as indicated",
    ),
    "abandon_invalid": (
        400,
        "",
        "submission_abandonment",
        "validation",
        None,
        "after_remediation",
        "the unresolved submission was not abandoned",
        "correct the request and retry only after reviewing orphan risk",
    ),
    "abandon_conflict": (
        409,
        "",
        "submission_abandonment",
        "inconsistent_state",
        None,
        "after_remediation",
        "the unresolved submission was not abandoned",
        "refresh the execution and review its reconciliation evidence",
    ),
}


class ApiError(Exception):
    """A handled error: the server's `ApiError`, rendered as `{error, code, failure}`.

    Example:
        >>> ApiError.bad_request("refresh_token required").reply().status
        400
    """

    def __init__(
        self,
        kind: str,
        message: str | None = None,
        *,
        code: str | None = None,
        diagnostics: Sequence[Json] = (),
    ) -> None:
        status, default_code, component, klass, default_message, retry, system, operator = _KINDS[
            kind
        ]
        self.status = status
        self.failure: Json = {
            "code": code or default_code,
            "component": component,
            "class": klass,
            "message": default_message if default_message is not None else (message or ""),
            "retry": retry,
            "system_action": system,
            "operator_action": operator,
        }
        if kind == "database_error":
            self.failure["log_reference"] = "Beampipe API structured logs for this request"
        if diagnostics:
            self.failure["diagnostics"] = list(diagnostics)
        super().__init__(self.failure["message"])

    def reply(self) -> Reply:
        body = {
            "error": self.failure["message"],
            "code": self.failure["code"],
            "failure": self.failure,
        }
        return json_reply(self.status, body)

    @classmethod
    def not_found(cls) -> ApiError:
        return cls("not_found")

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls("bad_request", message)

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls("unauthorized")

    @classmethod
    def forbidden(cls, message: str = "superuser required") -> ApiError:
        return cls("forbidden", message)

    @classmethod
    def conflict(cls, message: str) -> ApiError:
        return cls("conflict", message)


@dataclass
class Rejection(Exception):
    """A framework rejection (axum's extractors and router): plain text or an empty body."""

    status: int
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def reply(self) -> Reply:
        if not self.text:
            return Reply(self.status, b"", None, dict(self.headers))
        return text_reply(self.status, self.text, content_type=_PLAIN, headers=self.headers)


REDACTED = "[REDACTED]"
_SECRET_WORDS = (
    "password",
    "passphrase",
    "passcode",
    "token",
    "secret",
    "credential",
    "authorization",
    "routing_key",
    "private_key",
    "webhook",
    "api_key",
)


def secret_key(key: str) -> bool:
    lower = key.lower()
    return any(word in lower for word in _SECRET_WORDS)


def redact(value: Any) -> Any:
    """`redact_value`: secret-looking keys masked at every level."""
    if isinstance(value, dict):
        return {k: REDACTED if secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# -- path and query parameters --------------------------------------------------------------


def path_uuid(value: str) -> str:
    """A `Path<Uuid>` parameter, canonical; anything else is axum's 400 rejection."""
    parsed = canonical_uuid(value)
    if parsed is not None:
        return parsed
    bad = next((c for c in value if c not in "0123456789abcdefABCDEF-"), None)
    if bad is not None:
        detail = (
            "invalid character: expected an optional prefix of `urn:uuid:` followed by "
            f"[0-9a-fA-F-], found `{bad}` at {value.index(bad) + 1}"
        )
    else:
        detail = f"invalid length: expected length 32 for simple format, found {len(value)}"
    raise Rejection(400, f"Invalid URL: UUID parsing failed: {detail}")


def _query_error(message: str) -> Rejection:
    return Rejection(400, f"Failed to deserialize query string: {message}")


def query_int(request: RecordedRequest, name: str) -> int | None:
    """An `Option<i64>` query parameter (serde_urlencoded's rules and messages)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw == "":
        raise _query_error("cannot parse integer from empty string")
    if not re.fullmatch(r"[+-]?\d+", raw):
        raise _query_error("invalid digit found in string")
    return int(raw)


def query_int_or(request: RecordedRequest, name: str, default: int) -> int:
    """`query.<name>.unwrap_or(default)` of an `Option<i64>` query parameter."""
    value = query_int(request, name)
    return default if value is None else value


def query_uuid(request: RecordedRequest, name: str) -> str | None:
    """An `Option<Uuid>` query parameter, canonical."""
    raw = request.query.get(name)
    if raw is None:
        return None
    parsed = canonical_uuid(raw)
    if parsed is None:
        raise _query_error(f"UUID parsing failed: invalid UUID {json.dumps(raw)}")
    return parsed


def query_bool(request: RecordedRequest, name: str) -> bool | None:
    """A `bool` / `Option<bool>` query parameter: exactly `true` or `false`."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise _query_error("provided string was not `true` or `false`")
    return raw == "true"


# -- JSON bodies, read the way serde reads them ---------------------------------------------


class _DataError(Exception):
    def __init__(self, path: str, message: str, anchor: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.anchor = anchor  # a raw-text fragment the error position follows


def _describe(value: Any) -> str:
    """serde's `Unexpected` wording for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    return "sequence" if isinstance(value, list) else "map"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _expected_list(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    if not quoted:
        return "there are no fields"
    if len(quoted) == 1:
        return f"expected {quoted[0]}"
    if len(quoted) == 2:
        return f"expected {quoted[0]} or {quoted[1]}"
    return "expected one of " + ", ".join(quoted)


class _Type:
    expecting: str = "a value"

    def read(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def mismatch(self, value: Any, path: str) -> _DataError:
        return _DataError(path, f"invalid type: {_describe(value)}, expected {self.expecting}")


class Str(_Type):
    expecting = "a string"

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path)
        return value


class Bool(_Type):
    expecting = "a boolean"

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise self.mismatch(value, path)
        return value


class Int(_Type):
    def __init__(self, kind: str = "i32") -> None:
        self.kind = kind
        self.expecting = kind
        bits = int(kind[1:])
        self.low = 0 if kind.startswith("u") else -(1 << (bits - 1))
        self.high = (1 << bits) - 1 if kind.startswith("u") else (1 << (bits - 1)) - 1

    def read(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.mismatch(value, path)
        if not self.low <= value <= self.high:
            raise _DataError(
                path, f"invalid value: integer `{value}`, expected {self.kind}", str(value)
            )
        return value


class UuidT(_Type):
    expecting = "UUID"

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path)
        parsed = canonical_uuid(value)
        if parsed is None:
            raise _DataError(path, f"UUID parsing failed: invalid UUID {json.dumps(value)}")
        return parsed


class DateTimeT(_Type):
    expecting = "an RFC 3339 formatted date and time string"

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path)
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _DataError(path, "input contains invalid characters") from None
        if "T" not in value and "t" not in value:
            raise _DataError(path, "input contains invalid characters")
        return value


class AnyT(_Type):
    def read(self, value: Any, path: str) -> Any:
        return value


class Opt(_Type):
    """`Option<T>`: absent or null is None."""

    def __init__(self, inner: _Type) -> None:
        self.inner = inner
        self.expecting = inner.expecting

    def read(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.read(value, path)


class ListOf(_Type):
    expecting = "a sequence"

    def __init__(self, inner: _Type) -> None:
        self.inner = inner

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise self.mismatch(value, path)
        return [self.inner.read(item, _join(path, i)) for i, item in enumerate(value)]


class MapOf(_Type):
    expecting = "a map"

    def __init__(self, inner: _Type) -> None:
        self.inner = inner

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.mismatch(value, path)
        return {k: self.inner.read(v, _join(path, k)) for k, v in value.items()}


class Enum(_Type):
    def __init__(self, *variants: str) -> None:
        self.variants = variants
        self.expecting = "variant identifier"

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise self.mismatch(value, path)
        if value not in self.variants:
            raise _DataError(
                path,
                f"unknown variant `{value}`, {_expected_list(self.variants)}",
                json.dumps(value),
            )
        return value


@dataclass
class _Field:
    kind: _Type
    default: Callable[[], Any] | None = None  # None and not Option: required


class Struct(_Type):
    """A Rust struct: field order, required fields, `#[serde(default)]`, and
    `deny_unknown_fields` (other unknown keys are ignored, as serde does).

    Fields are given as `name=type` or `name=(type, default_factory)`.
    """

    def __init__(self, name: str, /, *, deny_unknown: bool = False, **fields: Any) -> None:
        self.name = name
        self.expecting = f"struct {name}"
        self.deny_unknown = deny_unknown
        self.fields: dict[str, _Field] = {}
        for key, spec in fields.items():
            wire = key.rstrip("_")  # `from_` → `from`
            if isinstance(spec, tuple):
                self.fields[wire] = _Field(spec[0], spec[1])
            else:
                self.fields[wire] = _Field(spec)

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.mismatch(value, path)
        out: Json = {}
        for key, item in value.items():
            spec = self.fields.get(key)
            if spec is None:
                if self.deny_unknown:
                    message = f"unknown field `{key}`, {_expected_list(list(self.fields))}"
                    raise _DataError(path, message, json.dumps(key))
                continue
            out[key] = spec.kind.read(item, _join(path, key))
        for key, spec in self.fields.items():
            if key in out:
                continue
            if spec.default is not None:
                default = spec.default()
                # A struct's default is itself read, so its own defaults fill in.
                out[key] = (
                    spec.kind.read(default, _join(path, key))
                    if isinstance(spec.kind, Struct)
                    else default
                )
            elif isinstance(spec.kind, Opt):
                out[key] = None
            else:
                raise _DataError(path, f"missing field `{key}`")
        return {key: out[key] for key in self.fields}  # declaration order, as serde writes it


class Tagged(_Type):
    """An internally tagged enum (`#[serde(tag = "kind")]`): the tag picks the struct.

    serde buffers the content of such an enum, so an error inside a variant is reported at
    the enum's own path.
    """

    def __init__(self, tag: str, variants: Mapping[str, Struct]) -> None:
        self.tag = tag
        self.variants = dict(variants)
        self.expecting = "internally tagged enum"

    def read(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.mismatch(value, path)
        if self.tag not in value:
            raise _DataError(path, f"missing field `{self.tag}`")
        variant = value[self.tag]
        if not isinstance(variant, str) or variant not in self.variants:
            message = f"unknown variant `{variant}`, {_expected_list(list(self.variants))}"
            raise _DataError(path, message, json.dumps(variant))
        rest = {k: v for k, v in value.items() if k != self.tag}
        try:
            inner = self.variants[variant].read(rest, "")
        except _DataError as exc:
            raise _DataError(path, exc.message, exc.anchor) from None
        return {self.tag: variant, **inner}


def _position(raw: str, anchor: str | None) -> tuple[int, int]:
    """serde_json's `line L column C` for an error after `anchor` (else at the end)."""
    end = len(raw.rstrip())
    if anchor:
        found = raw.find(anchor)
        if found >= 0:
            end = found + len(anchor)
    before = raw[:end]
    line = before.count("\n") + 1
    return line, end - (before.rfind("\n") + 1)


def _is_json_content_type(value: str | None) -> bool:
    if not value:
        return False
    essence = value.split(";", 1)[0].strip().lower()
    kind, _, sub = essence.partition("/")
    return kind == "application" and (sub == "json" or sub.endswith("+json"))


def parse_json_body(request: RecordedRequest, schema: _Type) -> Any:
    """What axum's `Json<T>` extractor makes of the body, or its rejection.

    415 without a JSON content type, 400 for malformed JSON, 422 when the JSON does not
    deserialize into the target type; each as plain text with axum's wording.
    """
    if not _is_json_content_type(request.headers.get("content-type")):
        raise Rejection(415, "Expected request with `Content-Type: application/json`")
    raw = request.body.decode("utf-8", errors="replace")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        message = f"Failed to parse the request body as JSON: {_syntax(raw, exc)}"
        raise Rejection(400, message) from None
    try:
        return schema.read(value, "")
    except _DataError as exc:
        line, column = _position(raw, exc.anchor)
        where = f"{exc.path}: " if exc.path else ""
        raise Rejection(
            422,
            "Failed to deserialize the JSON body into the target type: "
            f"{where}{exc.message} at line {line} column {column}",
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"expected value: {name}")


def _syntax(raw: str, exc: Exception) -> str:
    """serde_json's wording for the syntax error Python's decoder found."""
    text = raw.rstrip()
    lines = text.split("\n")
    if not text:
        return f"EOF while parsing a value at line {len(lines)} column 0"
    if not isinstance(exc, json.JSONDecodeError):
        return "recursion limit exceeded at line 1 column 1"
    if exc.pos >= len(text):
        what = {"{": "an object", "[": "a list"}.get(text.lstrip()[0], "a value")
        return f"EOF while parsing {what} at line {len(lines)} column {len(lines[-1])}"
    if exc.msg.startswith("Extra data"):
        what = "trailing characters"
    elif exc.msg.startswith("Expecting property name"):
        what = "key must be a string"
    elif "delimiter" in exc.msg:
        what = "expected `,` or `}`" if "','" in exc.msg else "expected `:`"
    else:
        what = "expected value"
    return f"{what} at line {exc.lineno} column {exc.colno}"


# -- HS256 JWTs -------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims: Mapping[str, Any], secret: bytes) -> str:
    """A compact HS256 JWT with jsonwebtoken's default header `{"typ":"JWT","alg":"HS256"}`."""
    header = b64url(b'{"typ":"JWT","alg":"HS256"}')
    payload = b64url(json.dumps(dict(claims), separators=(",", ":")).encode("utf-8"))
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def jwt_decode(token: str, secret: bytes) -> Json | None:
    """The claims of a well-formed HS256 JWT signed with `secret`, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256)
    if not hmac.compare_digest(expected.digest(), signature) or not isinstance(claims, dict):
        return None
    return claims
