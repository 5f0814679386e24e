"""RunAgent wire rules as pure functions: the run body, result decoding, and every error.

Nothing here sends or receives; the client calls these with what it sent and got back.

- `build_run_payload()`: the run body and WebSocket start message (reference §2.4, §8).
- `decode_result()` / `run_result()`: the double-encoded `{type, payload}` values (§3).
- `parse_runagent_error()`: the transport's error parser (envelope, `[CODE] msg`, FastAPI
  `detail`).
- `error_from_status()`, `error_from_envelope()`, `error_from_connection()`,
  `error_from_frame()`: HTTP statuses, `success: false` replies, refused or failed
  connections and stream frames into the `RunAgentError` tree (§4).
- `check_guardrail()`: `run()` on a `_stream` tag / `run_stream()` on another (§4.1).
"""

from __future__ import annotations

import errno
import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from controldeck._core._redact import excerpt, redact_data, redact_text
from controldeck._core._replies import ErrorInfo, fastapi_field_errors
from controldeck._core._validate import require_bool, require_str
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidArgumentError,
)
from controldeck.runagent._config import LocalAgent, check_id, echo
from controldeck.runagent._errors import (
    AGENT_NOT_FOUND_LOCAL,
    AGENT_NOT_FOUND_REMOTE,
    ARCHITECTURE_MISSING,
    AUTHENTICATION_ERROR,
    INTERNAL_ERROR,
    NON_STREAM_ENTRYPOINT,
    NOT_FOUND,
    PERMISSION_ERROR,
    SERVER_ERROR,
    STREAM_ENTRYPOINT,
    STREAM_ERROR,
    UNKNOWN_ERROR,
    VALIDATION_ERROR,
    AgentNotFoundError,
    AgentNotRunningError,
    ArchitectureMissingError,
    EntrypointError,
    RunAgentAuthenticationError,
    RunAgentConnectionError,
    RunAgentError,
    RunAgentExecutionError,
    RunAgentNotFoundError,
    RunAgentPermissionError,
    RunAgentServerError,
    RunAgentStreamError,
    RunAgentTimeoutError,
    RunAgentValidationError,
)

__all__ = [
    "END_STATUS",
    "FAILED_STATUSES",
    "STREAM_RETRY",
    "SKIPPED_STATUSES",
    "STREAM_SUFFIX",
    "Op",
    "build_run_payload",
    "check_guardrail",
    "decode_result",
    "error_from_connection",
    "error_from_envelope",
    "error_from_frame",
    "error_from_status",
    "is_refused",
    "parse_runagent_error",
    "run_result",
    "split_error_text",
]

Op = Literal["run", "architecture", "invocation", "other"]
"""What the failed call was: the same 404 means a missing agent, tag or invocation."""

STREAM_SUFFIX = "_stream"
# Stream `status` frames (reference §2.6; the TS SDK's extra statuses come from the cloud).
END_STATUS = "stream_completed"
SKIPPED_STATUSES = frozenset({"stream_started", "stream_progress", "stream_update"})
FAILED_STATUSES = frozenset({"stream_error", "stream_failed", "stream_interrupted", "stream_retry"})
STREAM_RETRY = "STREAM_RETRY"  # [TS] code of a `stream_retry` status

AUTH_SUGGESTION = "Check RUNAGENT_API_KEY or pass api_key=."
DASHBOARD = "https://app.run-agent.ai/dashboard/agents/{agent_id}"

# ---------------------------------------------------------------------------------------
# The run body


def build_run_payload(
    entrypoint_tag: str,
    input_args: Sequence[Any] = (),
    input_kwargs: Mapping[str, Any] | None = None,
    *,
    timeout_seconds: int = 300,
    user_id: str | None = None,
    persistent_memory: bool = False,
) -> dict[str, Any]:
    """The body of `POST /agents/{id}/run`, also the WebSocket start message.

    Keys in this order: `entrypoint_tag`, `input_args` (always, a list), `input_kwargs`
    (always, a dict), `timeout_seconds`, `async_execution: false`, then `user_id` only when
    given and `persistent_memory: true` only when true. Never `extra_params`.

    Args:
        entrypoint_tag: The entrypoint to run.
        input_args: Positional arguments for the agent (a list or tuple).
        input_kwargs: Keyword arguments for the agent (string keys).
        timeout_seconds: The server-side execution budget, whole seconds.
        user_id: Isolates persistent memory per user (cloud).
        persistent_memory: Ask the cloud to keep the agent's persistent folders.

    Returns:
        A new dict, ready for `json.dumps`.

    Raises:
        InvalidArgumentError: A bad argument (the values themselves are not checked).

    Example:
        >>> build_run_payload("echo", ("hi",), {"n": 2}, user_id="u1")
        {'entrypoint_tag': 'echo', 'input_args': ['hi'], 'input_kwargs': {'n': 2},
         'timeout_seconds': 300, 'async_execution': False, 'user_id': 'u1'}
    """
    check_id("entrypoint_tag", entrypoint_tag)
    if isinstance(input_args, str | bytes | bytearray | Mapping) or not isinstance(
        input_args, Sequence
    ):
        raise InvalidArgumentError(
            f"input_args must be a list or tuple of positional arguments, "
            f"got {type(input_args).__name__}"
        )
    if input_kwargs is None:
        kwargs: dict[str, Any] = {}
    elif not isinstance(input_kwargs, Mapping):
        raise InvalidArgumentError(
            f"input_kwargs must be a dict of keyword arguments, got {type(input_kwargs).__name__}"
        )
    else:
        kwargs = dict(input_kwargs)
        for key in kwargs:
            if not isinstance(key, str):
                raise InvalidArgumentError(f"input_kwargs keys must be strings, got {key!r:.40}")
    if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int):
        raise InvalidArgumentError(
            f"timeout_seconds must be an int, got {type(timeout_seconds).__name__}"
        )
    if timeout_seconds < 1:
        raise InvalidArgumentError(f"timeout_seconds must be at least 1, got {timeout_seconds}")
    if user_id is not None:
        require_str("user_id", user_id)
    require_bool("persistent_memory", persistent_memory)
    body: dict[str, Any] = {
        "entrypoint_tag": entrypoint_tag,
        "input_args": list(input_args),
        "input_kwargs": kwargs,
        "timeout_seconds": timeout_seconds,
        "async_execution": False,
    }
    if user_id is not None:
        body["user_id"] = user_id
    if persistent_memory:
        body["persistent_memory"] = True
    return body


# ---------------------------------------------------------------------------------------
# Results


def decode_result(value: Any) -> Any:
    """A run reply's `data` or a stream frame's `content` as a Python value (reference §3).

    The server sends `json.dumps({"type": ..., "payload": json.dumps(value)})`: both layers
    are undone. A string that is not JSON is returned as it is; a `{type, payload}` whose
    payload is not JSON gives the payload string; `{strategy, content}` gives `content`;
    None or a blank string gives None. Never raises.

    Example:
        >>> decode_result('{"type": "string", "payload": "\\\\"hi-0\\\\""}')
        'hi-0'
        >>> decode_result('{"type": "integer", "payload": "5"}')
        5
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)  # outer layer
        except (ValueError, RecursionError):
            return value  # not JSON: the raw string
    if isinstance(value, dict) and "type" in value and "payload" in value:
        payload = value["payload"]
        if isinstance(payload, str):
            try:
                return json.loads(payload)  # inner layer: "5" -> 5, "\"hi\"" -> "hi"
            except (ValueError, RecursionError):
                return payload
        return payload
    if isinstance(value, dict) and "strategy" in value and "content" in value:
        return value["content"]  # [RS] reconstruct_nested_json
    return value


_GENERATOR = re.compile(r"generator object|<generator", re.IGNORECASE)


def run_result(data: Any, *, tag: str) -> Any:
    """The value of a `success: true` run reply (reference §3 "Where the value is").

    In order: `data` is a string → decode it (the local server); `data.result_data.data`
    (legacy); any other `data` → decode it; no `data` → top-level `output_data` (very
    old); else None.

    Args:
        data: The whole decoded reply body (the envelope).
        tag: The entrypoint called, for the generator guard's message.

    Raises:
        EntrypointError: The value is the text of a Python generator (`"<generator object
            echo at 0x…>"`): the agent returned a generator through the non-stream route
            ([RS] guard; code `VALIDATION_ERROR`).

    Example:
        >>> run_result({"success": True, "data": '{"type": "integer", "payload": "5"}'}, tag="add")
        5
    """
    if isinstance(data, Mapping):
        inner = data.get("data")
        if inner is None and "output_data" in data:
            value = decode_result(data["output_data"])
        elif isinstance(inner, Mapping) and "result_data" in inner:
            legacy = inner["result_data"]
            value = decode_result(legacy.get("data") if isinstance(legacy, Mapping) else legacy)
        else:
            value = decode_result(inner)
    else:
        value = decode_result(data)
    if isinstance(value, str) and _GENERATOR.search(value):
        raise EntrypointError(
            f"Entrypoint `{echo(tag)}` returned a generator, which only a streaming "
            "entrypoint can deliver.",
            code=VALIDATION_ERROR,
            suggestion=(
                f"Expose it as `{echo(tag)}{STREAM_SUFFIX}` and call run_stream(), or return "
                "a value instead of yielding."
            ),
            details={"value": excerpt(value, 200)},
        )
    return value


# ---------------------------------------------------------------------------------------
# Error bodies

_CODE_TEXT = re.compile(r"^\[(?P<code>[A-Z0-9_]+)]\s*(?P<message>.*)$", re.DOTALL)


def split_error_text(text: str) -> tuple[str | None, str]:
    """`"[CODE] message"` as `(CODE, message)`; other text as `(None, text)` ([PY]
    client.py:318-333).

    Example:
        >>> split_error_text("[NOT_FOUND] Entrypoint nope not found")
        ('NOT_FOUND', 'Entrypoint nope not found')
    """
    match = _CODE_TEXT.match(text.strip())
    if match is None:
        return None, text.strip()
    return match.group("code"), match.group("message").strip()


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def parse_runagent_error(body: Any) -> ErrorInfo:
    """The transport's `error_parser`: what a RunAgent error body says.

    - the envelope `{"success": false, "error": {code, message, details, field,
      suggestion}, "request_id": …}`: `suggestion`, `field` and the envelope's
      `request_id` go into `attributes` (so the raised error's `request_id` is the
      envelope's, else the header's);
    - a string `error` `"[CODE] message"` (split) or plain text;
    - FastAPI `{"detail": "Not Found"}` and `{"detail": [{loc, msg}, …]}` (field errors);
    - anything else: an empty `ErrorInfo()`.

    Example:
        >>> parse_runagent_error({"detail": "Not Found"}).message
        'Not Found'
    """
    if not isinstance(body, Mapping):
        return ErrorInfo()
    attributes: dict[str, Any] = {}
    request_id = body.get("request_id")
    if isinstance(request_id, str) and request_id:
        attributes["request_id"] = request_id
    error = body.get("error")
    if isinstance(error, Mapping):
        for name in ("suggestion", "field"):
            value = _text(error.get(name))
            if value:
                attributes[name] = value
        return ErrorInfo(
            code=_text(error.get("code")),
            message=_text(error.get("message")),
            details=error.get("details"),
            attributes=attributes,
        )
    if isinstance(error, str) and error.strip():
        code, message = split_error_text(error)
        return ErrorInfo(code=code, message=message or None, attributes=attributes)
    detail = body.get("detail")
    if isinstance(detail, list):
        return ErrorInfo(
            message="Request validation failed",
            details=detail,
            field_errors=fastapi_field_errors(detail),
            attributes=attributes,
        )
    text = detail if isinstance(detail, str) and detail else body.get("message")
    return ErrorInfo(message=_text(text), attributes=attributes)


# ---------------------------------------------------------------------------------------
# Errors from replies

# Envelope codes that name the error class whatever the status (NOT_FOUND depends on the
# call: an agent, a tag or an invocation; see error_from_status / error_from_envelope).
_CODE_CLASSES: Mapping[str, type[RunAgentError]] = {
    AUTHENTICATION_ERROR: RunAgentAuthenticationError,
    PERMISSION_ERROR: RunAgentPermissionError,
    AGENT_NOT_FOUND_LOCAL: AgentNotFoundError,
    AGENT_NOT_FOUND_REMOTE: AgentNotFoundError,
    ARCHITECTURE_MISSING: ArchitectureMissingError,
    STREAM_ENTRYPOINT: EntrypointError,
    NON_STREAM_ENTRYPOINT: EntrypointError,
    VALIDATION_ERROR: RunAgentValidationError,
    INTERNAL_ERROR: RunAgentServerError,
    SERVER_ERROR: RunAgentServerError,
}


def _agent_not_found(
    agent_id: str, *, local: bool, message: str | None = None, **fields: Any
) -> AgentNotFoundError:
    if local:
        return AgentNotFoundError(
            message or f"Agent {echo(agent_id)} was not found on the local server.",
            code=AGENT_NOT_FOUND_LOCAL,
            suggestion=(
                "Start the agent locally with `runagent serve`, or pass the host= and port= "
                "it is served at (a local server serves exactly one agent)."
            ),
            **fields,
        )
    return AgentNotFoundError(
        message or f"Agent {echo(agent_id)} was not found in RunAgent Cloud.",
        code=AGENT_NOT_FOUND_REMOTE,
        suggestion=(
            "Confirm the agent ID in the dashboard, or pass local=True with host= and port= "
            "to call a local agent."
        ),
        **fields,
    )


def _suggestion(
    cls: type[RunAgentError],
    code: str,
    message: str,
    *,
    local: bool,
    agent_id: str,
    tag: str,
    op: Op,
) -> str | None:
    """A client-side suggestion (reference §4.3/§4.5) when the server sent none."""
    lower = message.lower()
    dashboard = DASHBOARD.format(agent_id=echo(agent_id))
    if cls is RunAgentAuthenticationError:
        return AUTH_SUGGESTION
    if cls is RunAgentPermissionError:
        where = "." if local else f" ({dashboard})."
        return "Verify the agent ID and ensure your API key has access to this agent" + where
    if cls is EntrypointError and code == NOT_FOUND:
        return (
            f"Check that the entrypoint tag `{echo(tag)}` exists for this agent "
            "(get_agent_architecture() lists its tags)."
        )
    if cls is RunAgentNotFoundError:
        if op == "invocation":
            return "Check the invocation id; list_invocations() shows recent ones."
        return "Check the agent id and that the address serves this agent."
    if "streaming entrypoint" in lower:  # 400 for a `_stream` tag on the run route
        return "Call run_stream() or switch to a non-stream tag."
    if "must be deployed" in lower or "current status" in lower:
        return (
            "Deploy the agent before running it (`runagent deploy`, or `runagent start "
            f"--id {echo(agent_id)}` if already uploaded)."
        )
    if cls is RunAgentExecutionError:
        where = (
            "the output of `runagent serve` has the traceback"
            if local
            else f"see its logs in the dashboard ({dashboard})"
        )
        return f"The agent raised an exception or rejected its arguments; {where}."
    if cls is RunAgentServerError:
        if local:
            return "The local server failed; the output of `runagent serve` has the traceback."
        return "Retry later; if it persists, contact RunAgent support with the request id."
    return None


def _make(
    cls: type[RunAgentError],
    code: str | None,
    message: str | None,
    *,
    suggestion: str | None,
    local: bool,
    agent_id: str,
    tag: str,
    op: Op,
    fields: dict[str, Any],
) -> RunAgentError:
    """One error of class `cls`; the server's suggestion when it sent one."""
    if cls is AgentNotFoundError:
        # The server's own AGENT_NOT_FOUND_* says where; a NOT_FOUND or a bare 404, the mode.
        where_local = local if code in (None, NOT_FOUND) else code == AGENT_NOT_FOUND_LOCAL
        error = _agent_not_found(agent_id, local=where_local, message=message, **fields)
        if suggestion:
            error.suggestion = suggestion
        return error
    code = code or cls.default_code
    message = message or "The server reported a failure without a message."
    suggestion = suggestion or _suggestion(
        cls, code, message, local=local, agent_id=agent_id, tag=tag, op=op
    )
    return cls(message, code=code, suggestion=suggestion, **fields)


def _with_fields(message: str, fields: Sequence[tuple[str, str]], field: str | None) -> str:
    if fields:
        shown = "; ".join(f"{f}: {m}" for f, m in fields[:3])
        more = len(fields) - 3
        message = f"{message} ({shown}{f'; and {more} more' if more > 0 else ''})"
    elif field:
        message = f"{message} (field: {field})"
    return message


def _status_class(status: int) -> type[RunAgentError]:
    if status == 401:
        return RunAgentAuthenticationError
    if status == 403:
        return RunAgentPermissionError
    if status == 404:
        return RunAgentNotFoundError  # with a code we do not know (NOT_FOUND is by call)
    if status in (400, 422):
        return RunAgentValidationError
    if status >= 500:
        return RunAgentServerError
    return RunAgentError


def error_from_status(
    exc: APIStatusError,
    *,
    local: bool,
    agent_id: str,
    tag: str,
    op: Op,
) -> RunAgentError:
    """The `RunAgentError` for a non-2xx reply the transport raised as `APIStatusError`.

    A known envelope `error.code` picks the class; otherwise the status does: 401
    `RunAgentAuthenticationError`, 403 `RunAgentPermissionError`, 404 by call
    (architecture, or run answered by the framework's `{"detail":"Not Found"}`:
    `AgentNotFoundError` LOCAL/REMOTE by mode; run with `NOT_FOUND`: `EntrypointError`;
    an invocation or anything else: `RunAgentNotFoundError`), 400/422
    `RunAgentValidationError` (FastAPI field errors named in the message), 5xx
    `RunAgentServerError` (`SERVER_ERROR` unless the envelope has a code), anything else
    `RunAgentError` (`UNKNOWN_ERROR`).

    `status_code`, `request_id` (the envelope's, else the header's: the parser puts the
    envelope's on `exc`), `body_excerpt` and `details` are kept; `suggestion` is the
    server's `error.suggestion`, else a client-side one.

    Example:
        >>> try:
        ...     client._transport.request("POST", path, json=body)
        ... except APIStatusError as exc:
        ...     raise error_from_status(exc, local=True, agent_id=aid, tag="echo", op="run")
    """
    status, code = exc.status_code, exc.code
    message: str | None = _with_fields(
        exc.message, exc.field_errors, _text(getattr(exc, "field", None))
    )
    cls: type[RunAgentError]
    if code == NOT_FOUND or (code is None and status == 404):
        if op == "architecture" or (op == "run" and code is None):
            # A bare {"detail":"Not Found"}: a local server serves one literal agent id, so
            # any other id is an unknown route. Its "Not Found" says nothing: ours does.
            cls = AgentNotFoundError
            message = message if code is not None else None
        elif op == "run":
            cls = EntrypointError
        else:
            cls = RunAgentNotFoundError
    else:
        cls = _CODE_CLASSES.get(code or "") or _status_class(status)
    return _make(
        cls,
        code,
        message,
        suggestion=_text(getattr(exc, "suggestion", None)),
        local=local,
        agent_id=agent_id,
        tag=tag,
        op=op,
        fields={
            "status_code": status,
            "request_id": exc.request_id,
            "body_excerpt": exc.body_excerpt,
            "details": exc.details,
        },
    )


def _envelope_parts(error: Any) -> tuple[str | None, str | None, str | None, Any, str | None]:
    """`(code, message, suggestion, details, field)` of an envelope's `error` value."""
    if isinstance(error, Mapping):
        return (
            _text(error.get("code")),
            _text(error.get("message")),
            _text(error.get("suggestion")),
            error.get("details"),
            _text(error.get("field")),
        )
    if isinstance(error, str) and error.strip():
        code, message = split_error_text(error)
        return code, message or None, None, None, None
    return None, None, None, None, None


def error_from_envelope(
    error: Any,
    *,
    local: bool,
    agent_id: str,
    status_code: int | None,
    request_id: str | None,
    op: Op,
    tag: str = "",
    body_excerpt: str = "",
    secrets: Iterable[str] = (),
) -> RunAgentError:
    """The error of an HTTP 200 reply with `success: false`; `error` is its `error` value
    (an `{code, message, details, field, suggestion}` object, a `"[CODE] message"` string,
    or null).

    - run: `RunAgentExecutionError` with the server's code (`UNKNOWN_ERROR` when it sent
      none): the agent ran and failed ("Agent execution failed: … kaboom").
    - architecture: `NOT_FOUND` or `AGENT_NOT_FOUND_*` → `AgentNotFoundError`; another
      known code → its class; else `RunAgentError` (as [RS]: code `UNKNOWN_ERROR`,
      "Failed to retrieve agent architecture").
    - anything else: the class of a known code (`NOT_FOUND`: `RunAgentNotFoundError`),
      else `RunAgentError`.

    The message and details are masked with `secrets` (a server may echo a key).

    Example:
        >>> body = reply.json()
        >>> if body.get("success") is False:
        ...     raise error_from_envelope(body.get("error"), local=True, agent_id=aid,
        ...                               status_code=200, request_id=body.get("request_id"),
        ...                               op="run", tag="echo")
    """
    secrets = tuple(secrets)
    code, message, suggestion, details, field = _envelope_parts(error)
    if message is not None:
        message = _with_fields(redact_text(message, secrets), (), field)
    cls: type[RunAgentError]
    if op == "run":
        cls = RunAgentExecutionError
        code = code or UNKNOWN_ERROR
        message = message or "The agent run failed; the server sent no error message."
    elif code == NOT_FOUND:
        cls = AgentNotFoundError if op == "architecture" else RunAgentNotFoundError
    else:
        cls = _CODE_CLASSES.get(code or "", RunAgentError)
        if op == "architecture":
            message = message or "Failed to retrieve agent architecture"
    return _make(
        cls,
        code,
        message,
        suggestion=suggestion,
        local=local,
        agent_id=agent_id,
        tag=tag,
        op=op,
        fields={
            "status_code": status_code,
            "request_id": request_id,
            "body_excerpt": body_excerpt,
            "details": redact_data(details, secrets),
        },
    )


# ---------------------------------------------------------------------------------------
# Connection failures


def _chain(exc: BaseException | None) -> Iterable[BaseException]:
    """`exc` and every exception nested in it: `args`, urllib3's `.reason`, controldeck's
    `.cause`, `__cause__` and `__context__` (breadth first, each once, bounded)."""
    queue: list[BaseException] = [exc] if exc is not None else []
    seen: set[int] = set()
    while queue and len(seen) < 50:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [a for a in current.args if isinstance(a, BaseException)]
        for name in ("reason", "cause"):
            value = getattr(current, name, None)
            if isinstance(value, BaseException):
                nested.append(value)
        nested += [e for e in (current.__cause__, current.__context__) if e is not None]
        queue.extend(nested)


def is_refused(exc: BaseException) -> bool:
    """Whether a connection failure was a refused connection (nothing listens there).

    Looks through the whole chain for a `ConnectionRefusedError` or an error whose
    `errno` is `ECONNREFUSED` (requests → urllib3 `MaxRetryError` → `NewConnectionError`
    → `ConnectionRefusedError`; websocket-client raises the last one directly).

    Example:
        >>> is_refused(ConnectionRefusedError(111, "Connection refused"))
        True
    """
    for item in _chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return True
        if getattr(item, "errno", None) == errno.ECONNREFUSED:
            return True
    return False


def error_from_connection(
    exc: APIConnectionError,
    *,
    agent_id: str,
    local: bool,
    address: str,
    registry_entry: LocalAgent | None,
) -> RunAgentConnectionError:
    """The `RunAgentConnectionError` for a call that got no HTTP reply.

    - a timeout (`APITimeoutError`) → `RunAgentTimeoutError` with the core's message
      (attempts, elapsed time, which timeout);
    - refused at a local address → `AgentNotRunningError`: "agent … is not running at
      http://127.0.0.1:8450" (+ "(the local registry still lists it as 'serving')" when the
      address came from the registry), suggesting `runagent serve <agent path>`;
    - anything else (DNS, reset, TLS, refused in the cloud) → `RunAgentConnectionError`
      with the core's message.

    `method`, `url` (no query) and `cause` are kept from `exc`.

    Args:
        exc: What the transport (or the WebSocket source) raised.
        agent_id: The agent.
        local: Whether the client is in local mode.
        address: Where the agent was expected, e.g. `http://127.0.0.1:8450`.
        registry_entry: The registry row the address came from, if it did.

    Example:
        >>> try:
        ...     client._transport.request("GET", "/health")
        ... except APITimeoutError as exc: ...
        ... except APIConnectionError as exc:
        ...     raise error_from_connection(exc, agent_id=aid, local=True,
        ...                                 address="http://127.0.0.1:8450", registry_entry=None)
    """
    fields: dict[str, Any] = {"method": exc.method, "url": exc.url, "cause": exc.cause}
    if isinstance(exc, APITimeoutError):
        return RunAgentTimeoutError(str(exc), **fields)
    if local and is_refused(exc):
        message = f"agent {echo(agent_id)} is not running at {address}"
        details: dict[str, Any] = {"address": address}
        if registry_entry is not None:
            details["registry_status"] = registry_entry.status
            if registry_entry.status:
                message += f" (the local registry still lists it as {registry_entry.status!r})"
            else:
                message += " (the address came from the local registry)"
        path = registry_entry.agent_path if registry_entry is not None else None
        target = shlex.quote(path) if path else "<agent dir>"
        return AgentNotRunningError(
            message,
            suggestion=f"Start it with `runagent serve {target}`, or pass host= and port=.",
            details=details,
            **fields,
        )
    if local:
        suggestion = (
            f"Check that the agent is served at {address} (`runagent serve`) and that host= "
            "and port= are right."
        )
    else:
        suggestion = (
            "Check your network connection and that the RunAgent service URL is reachable "
            "(RUNAGENT_BASE_URL or base_url=)."
        )
    return RunAgentConnectionError(str(exc), suggestion=suggestion, **fields)


# ---------------------------------------------------------------------------------------
# Stream frames and guardrails


def _frame_suggestion(message: str, code: str) -> str | None:
    lower = message.lower()
    if "not a streaming entrypoint" in lower:
        return "Call run() or deploy a `_stream` entrypoint."
    if "not found" in lower and "entrypoint" in lower:
        return "Check the entrypoint tag; get_agent_architecture() lists the agent's tags."
    if lower.startswith("streaming error"):
        return (
            "The agent raised an exception while streaming (or rejected its arguments); "
            "the agent server's log has the traceback."
        )
    if code == STREAM_RETRY:
        return "The server asked to retry: call run_stream() again."
    return None


def error_from_frame(
    frame: Mapping[str, Any], *, secrets: Iterable[str] = ()
) -> RunAgentStreamError:
    """The `RunAgentStreamError` for an `error` frame or a failing `status` frame.

    `{"type":"error","error":…}` (the agent failed while streaming) or
    `{"type":"error","detail":…}` (the server refused the start message: unknown or
    non-stream tag, missing field; it then closes with 1003); `status` frames
    `stream_error` / `stream_failed` / `stream_interrupted` / `stream_retry` (code
    `STREAM_RETRY`). The message is the server's text (a `"[CODE] text"` is split), the
    frame is kept in `details`, both masked with `secrets`.

    Example:
        >>> error_from_frame({"type": "error", "error": "Streaming error: stream kaboom"}).message
        'Streaming error: stream kaboom'
    """
    secrets = tuple(secrets)
    kind = frame.get("type")
    status = frame.get("status")
    raw: Any
    if kind == "status":
        raw = frame.get("error") or frame.get("message") or frame.get("detail")
        if not raw:
            raw = f"the stream reported status {status!r:.60}"
    else:
        raw = frame.get("error") or frame.get("detail") or frame.get("message")
        if not raw:
            raw = "the server sent an error frame without a message"
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    code, message = split_error_text(text)
    frame_code = frame.get("code")
    if isinstance(frame_code, str) and frame_code:
        code = frame_code
    if code is None:
        code = STREAM_RETRY if status == "stream_retry" else STREAM_ERROR
    message = excerpt(message or text, 500, secrets)
    return RunAgentStreamError(
        message,
        code=code,
        suggestion=_frame_suggestion(message, code),
        details=redact_data(dict(frame), secrets),
    )


def check_guardrail(tag: str, *, streaming: bool) -> None:
    """Refuse `run()` on a streaming tag and `run_stream()` on another, before any request.

    A tag ending in `_stream` is a streaming entrypoint (the server's own rule).

    Raises:
        InvalidArgumentError: `tag` is not a usable tag.
        EntrypointError: `STREAM_ENTRYPOINT` (run() on a `_stream` tag) or
            `NON_STREAM_ENTRYPOINT` (run_stream() on any other tag).

    Example:
        >>> check_guardrail("echo_stream", streaming=True)
        >>> check_guardrail("echo_stream", streaming=False)
        Traceback (most recent call last):
        controldeck.runagent._errors.EntrypointError: [STREAM_ENTRYPOINT] Entrypoint \
`echo_stream` is streaming. Use run_stream() instead. — Call run_stream() or switch to a \
non-stream tag.
    """
    check_id("entrypoint_tag", tag)
    is_stream = tag.endswith(STREAM_SUFFIX)
    if is_stream and not streaming:
        raise EntrypointError(
            f"Entrypoint `{echo(tag)}` is streaming. Use run_stream() instead.",
            code=STREAM_ENTRYPOINT,
            suggestion="Call run_stream() or switch to a non-stream tag.",
        )
    if streaming and not is_stream:
        raise EntrypointError(
            f"Entrypoint `{echo(tag)}` is not streaming. Use run() instead.",
            code=NON_STREAM_ENTRYPOINT,
            suggestion="Call run() or deploy a `_stream` entrypoint.",
        )
