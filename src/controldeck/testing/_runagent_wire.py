"""`FakeRunAgent`'s wire: result encoding, envelopes and FastAPI's validation bodies.

Everything here is a pure function over plain values, written from the behaviour of the
real local server (`runagent==0.1.49`: `utils/serializer.py`, `sdk/server/local_server.py`,
`sdk/server/socket_utils.py`, `sdk/db.py`) and checked against the captures in
`shared/reference/runagent-fixtures/`:

- `structured()` is `serialize_object_to_structured`: `{"type": <OpenAPI type>, "payload":
  <JSON text>}` dumped again with `json.dumps`' default separators (`", "` and `": "`), so
  REST `data` and WebSocket `content` are JSON strings holding a JSON string;
- `stream_chunk()` is the WebSocket handler's `_convert_chunk_to_serializable`, applied to
  each chunk before `structured()`;
- `stored_output()` is what the invocation table keeps of a REST result;
- `envelope_error()` is the server's `AgentRunResponseMinimal` error body;
- `run_request()` and `query_int()` give FastAPI's 422 `{"detail": [...]}` lists.
"""

from __future__ import annotations

import dataclasses
import email.message
import json
import math
import re
import uuid
from datetime import date, datetime, time
from typing import Any

__all__ = [
    "Json",
    "RunRequest",
    "ValidationFailed",
    "envelope",
    "envelope_error",
    "query_int",
    "run_request",
    "stored_output",
    "stream_chunk",
    "structured",
]

Json = dict[str, Any]

_INT = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_INT_MESSAGE = "Input should be a valid integer, unable to parse string as an integer"
_MODEL_MESSAGE = "Input should be a valid dictionary or object to extract fields from"


# -- result encoding ------------------------------------------------------------------------


def structured(value: Any) -> str:
    """A result as the server sends it: `{"type", "payload"}` as JSON text.

    `type` is the OpenAPI type of `value` (`null`, `boolean`, `integer`, `number`,
    `string`, `array`, `object`; an object with `to_dict`/`model_dump`/`dict`/`__dict__`
    is an `object`, anything else a `string`). `payload` is `value` as JSON after these
    conversions: NaN → null, ±Inf → `"inf"`/`"-inf"`, datetime/date/time → ISO text,
    set → array, bytes → hex, objects via `to_dict()`/`model_dump()`/`dict()`, lists,
    tuples and dicts recursively; what JSON still cannot take goes through a dataclass's
    fields, `model_dump()`, `dict()`, `__dict__`, else `str()`. A value that still fails
    becomes `{"error": "Serialization Error: ...", "original_type": ...}` (type `object`),
    as the server sends it with `success: true`.

    Example:
        >>> structured({"echo": "hi", "times": 2})
        '{"type": "object", "payload": "{\\\\"echo\\\\": \\\\"hi\\\\", \\\\"times\\\\": 2}"}'
        >>> structured(5)
        '{"type": "integer", "payload": "5"}'
    """
    try:
        kind = _openapi_type(value)
        payload = json.dumps(
            _prepare(value), ensure_ascii=False, allow_nan=False, default=_json_fallback
        )
        return json.dumps({"type": kind, "payload": payload}, ensure_ascii=False)
    except Exception as exc:  # the server turns every failure into this result
        failure = json.dumps(
            {"error": f"Serialization Error: {exc}", "original_type": str(type(value))}
        )
        return json.dumps({"type": "object", "payload": failure}, ensure_ascii=False)


def _openapi_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple, set)):
        return "array"
    if isinstance(value, dict):
        return "object"
    if any(hasattr(value, name) for name in ("to_dict", "model_dump", "dict", "__dict__")):
        return "object"
    return "string"


def _prepare(value: Any) -> Any:
    """The server's `_prepare_for_serialization` (sets are not converted recursively)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(value) if math.isinf(value) else value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, set):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    for method in ("to_dict", "model_dump", "dict"):
        if method == "to_dict" and not callable(getattr(value, method, None)):
            continue
        if hasattr(value, method):
            try:
                return getattr(value, method)()
            except Exception:  # the server logs and tries the next conversion
                pass
    if isinstance(value, (list, tuple)):
        return [_prepare(item) for item in value]
    if isinstance(value, dict):
        return {key: _prepare(item) for key, item in value.items()}
    return value


def _json_fallback(value: Any) -> Any:
    """`json.dumps(default=...)`: what the server does with a value JSON cannot take."""
    try:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if hasattr(value, "model_dump"):
            return value.model_dump()
        if hasattr(value, "dict"):
            return value.dict()
        if hasattr(value, "__dict__"):
            return value.__dict__
        return str(value)
    except Exception:
        return f"<Unserializable {type(value).__name__}>"


def stream_chunk(chunk: Any) -> Any:
    """One streamed chunk made JSON-able, as the WebSocket handler does before encoding it.

    Primitives stay; lists, tuples and dicts are converted item by item; objects go
    through `dict()`, `model_dump()`, or their public `__dict__`; anything else becomes
    `str(chunk)` (a set or bytes too — the server's quirk), or `{"type", "repr"}`.

    Example:
        >>> stream_chunk(("a", {1, 2}))
        ['a', '{1, 2}']
    """
    if chunk is None or isinstance(chunk, (str, int, float, bool)):
        return chunk
    if isinstance(chunk, (list, tuple)):
        return [stream_chunk(item) for item in chunk]
    if isinstance(chunk, dict):
        return {key: stream_chunk(item) for key, item in chunk.items()}
    for method in ("dict", "model_dump"):
        convert = getattr(chunk, method, None)
        if callable(convert):
            try:
                return convert()
            except Exception:
                pass
    if hasattr(chunk, "__dict__"):
        try:
            return {
                key: stream_chunk(item)
                for key, item in vars(chunk).items()
                if not key.startswith("_")
            }
        except Exception:
            pass
    try:
        text = str(chunk)
    except Exception:
        text = ""
    if text:
        return text
    return {"type": type(chunk).__name__, "repr": repr(chunk)[:200]}


def stored_output(value: Any) -> tuple[bool, Any]:
    """What the invocation table keeps of a REST result, as `(stored, output_data)`.

    The server converts the result (`_convert_to_serializable`), then stores
    `json.dumps(output) if output else None` — a falsy result (0, "", [], {}, False) is
    kept as null. When even that fails the invocation is never completed (`stored` is
    False: it stays `pending`).

    Example:
        >>> stored_output({"echo": "hi"}), stored_output(0)
        ((True, {'echo': 'hi'}), (True, None))
    """
    try:
        output = _db_serializable(value)
        if not output:
            return True, None
        return True, json.loads(json.dumps(output))
    except Exception:
        return False, None


def _db_serializable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        pass
    name = type(value).__name__
    if hasattr(value, "__dict__"):
        return {"type": name, "data": {k: _db_serializable(v) for k, v in vars(value).items()}}
    if hasattr(value, "_asdict"):
        return {"type": name, "data": value._asdict()}
    for method in ("dict", "model_dump"):
        if hasattr(value, method):
            try:
                return getattr(value, method)()
            except Exception:
                return {"type": name, "repr": repr(value)[:500]}
    if isinstance(value, (list, tuple)):
        return [_db_serializable(item) for item in value]
    if isinstance(value, dict):
        return {k: _db_serializable(v) for k, v in value.items()}
    return {"type": name, "repr": repr(value)[:500], "str": str(value)[:500]}


# -- envelopes ------------------------------------------------------------------------------


def envelope(
    *, success: bool, data: Any, message: str | None, error: Json | None, timestamp: str
) -> Json:
    """`AgentRunResponseMinimal`: `{success, data, message, error, timestamp, request_id}`.

    Example:
        >>> sorted(envelope(success=True, data=None, message=None, error=None,
        ...                 timestamp="2026-11-23T08:13:20.439083"))
        ['data', 'error', 'message', 'request_id', 'success', 'timestamp']
    """
    return {
        "success": success,
        "data": data,
        "message": message,
        "error": error,
        "timestamp": timestamp,
        "request_id": str(uuid.uuid4()),
    }


def envelope_error(code: str, message: str, *, timestamp: str) -> Json:
    """The server's error envelope: `success: false` with `error{code, message, details,
    field}` (never a `suggestion`).

    Example:
        >>> envelope_error("NOT_FOUND", "Entrypoint nope not found", timestamp="t")["error"]["code"]
        'NOT_FOUND'
    """
    error = {"code": code, "message": message, "details": None, "field": None}
    return envelope(success=False, data=None, message=None, error=error, timestamp=timestamp)


# -- request validation (FastAPI + pydantic v2) ---------------------------------------------


class ValidationFailed(Exception):
    """A request FastAPI rejects: 422 with `detail`, or a 400 the server's handler wraps.

    Attributes:
        detail: The 422 `detail` list (None for a 400).
        message: The 400's message (None for a 422).
    """

    def __init__(self, detail: list[Json] | None = None, message: str | None = None) -> None:
        super().__init__(message or "request validation failed")
        self.detail = detail
        self.message = message


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """A valid `AgentRunRequest` (extra keys are ignored, as pydantic does)."""

    entrypoint_tag: str
    input_args: list[Any]
    input_kwargs: dict[str, Any]


def run_request(body: bytes, content_type: str | None) -> RunRequest:
    """The run body as FastAPI reads it into `AgentRunRequest`.

    JSON is parsed when there is no content type or an `application/json` (or `+json`)
    one; any other content type gives pydantic the raw text (a 422). An empty body is a
    missing body.

    Raises:
        ValidationFailed: With FastAPI's 422 `detail` list, or the 400 "There was an error
            parsing the body" for a body that is not UTF-8 JSON.

    Example:
        >>> run_request(b'{"entrypoint_tag": "add", "input_args": [2, 3]}', None)
        RunRequest(entrypoint_tag='add', input_args=[2, 3], input_kwargs={})
    """
    value: Any = None
    if body:
        if _is_json(content_type):
            try:
                value = json.loads(body)
            except json.JSONDecodeError as exc:
                raise ValidationFailed(
                    [
                        {
                            "type": "json_invalid",
                            "loc": ["body", exc.pos],
                            "msg": "JSON decode error",
                            "input": {},
                            "ctx": {"error": exc.msg},
                        }
                    ]
                ) from None
            except ValueError:  # not UTF-8 (or UTF-16/32) text
                raise ValidationFailed(message="There was an error parsing the body") from None
        else:
            value = body.decode("utf-8", errors="replace")
    if value is None:
        raise ValidationFailed([_error("missing", ["body"], "Field required", None)])
    if not isinstance(value, dict):
        raise ValidationFailed([_error("model_attributes_type", ["body"], _MODEL_MESSAGE, value)])
    errors: list[Json] = []
    tag = value.get("entrypoint_tag")
    if "entrypoint_tag" not in value:
        errors.append(_error("missing", ["body", "entrypoint_tag"], "Field required", value))
    elif not isinstance(tag, str):
        errors.append(
            _error("string_type", ["body", "entrypoint_tag"], "Input should be a valid string", tag)
        )
    args = value.get("input_args", [])
    if not isinstance(args, list):
        errors.append(
            _error("list_type", ["body", "input_args"], "Input should be a valid list", args)
        )
    kwargs = value.get("input_kwargs", {})
    if not isinstance(kwargs, dict):
        errors.append(
            _error(
                "dict_type", ["body", "input_kwargs"], "Input should be a valid dictionary", kwargs
            )
        )
    if errors or not isinstance(tag, str):
        raise ValidationFailed(errors)
    return RunRequest(tag, args, kwargs)


def query_int(query: dict[str, str], name: str, default: int) -> int:
    """An `int` query parameter as pydantic parses it (lax: `" 7 "`, `"+7"`, `"7.0"`).

    Raises:
        ValidationFailed: FastAPI's 422 `int_parsing` detail.

    Example:
        >>> query_int({"limit": "2"}, "limit", 50), query_int({}, "limit", 50)
        (2, 50)
    """
    if name not in query:
        return default
    raw = query[name]
    text = raw.strip()
    if not _INT.fullmatch(text):
        raise ValidationFailed([_error("int_parsing", ["query", name], _INT_MESSAGE, raw)])
    return int(text.split(".")[0])


def _error(kind: str, loc: list[Any], msg: str, value: Any) -> Json:
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")
