"""RunAgent errors: one `RunAgentError(code, message, suggestion, details)` tree.

Every error this module raises is a `RunAgentError` (so also a `ControlDeckError`) that
carries the RunAgent error code (reference §4.3), the message, a suggestion of what to do,
and, when the server answered, its HTTP status, request id and a short body excerpt.
`str(error)` is one line: `[CODE] message (HTTP 404) — suggestion [request id: …]`.

```
RunAgentError(ControlDeckError)      .code .message .suggestion .details .status_code .request_id
├── AgentNotFoundError                     AGENT_NOT_FOUND_LOCAL / AGENT_NOT_FOUND_REMOTE (.local)
├── EntrypointError                        the tag: STREAM_ENTRYPOINT, NON_STREAM_ENTRYPOINT,
│                                          NOT_FOUND (server), VALIDATION_ERROR (unknown tag)
├── ArchitectureMissingError               ARCHITECTURE_MISSING
├── RunAgentExecutionError                 the agent ran and failed (HTTP 200, success:false)
├── RunAgentAuthenticationError            AUTHENTICATION_ERROR (401, or no API key for the cloud)
├── RunAgentPermissionError                PERMISSION_ERROR (403)
├── RunAgentNotFoundError                  NOT_FOUND (an invocation, a route)
├── RunAgentValidationError                VALIDATION_ERROR (400, 422)
├── RunAgentServerError                    INTERNAL_ERROR / SERVER_ERROR (5xx)
├── RunAgentConnectionError (+ APIConnectionError)   CONNECTION_ERROR
│   ├── AgentNotRunningError               nothing answers at the agent's address
│   └── RunAgentTimeoutError (+ APITimeoutError)     TIMEOUT
└── RunAgentStreamError (+ StreamError)    STREAM_ERROR: an error frame, or the socket closed early
```

The guardrail errors (`STREAM_ENTRYPOINT`, `NON_STREAM_ENTRYPOINT`), a missing API key and
a missing registry row are raised before any request is sent.
"""

from __future__ import annotations

from typing import Any

from controldeck.errors import (
    APIConnectionError,
    APITimeoutError,
    ControlDeckError,
    StreamError,
)

__all__ = [
    "AGENT_NOT_FOUND_LOCAL",
    "AGENT_NOT_FOUND_REMOTE",
    "ARCHITECTURE_MISSING",
    "AUTHENTICATION_ERROR",
    "CONNECTION_ERROR",
    "INTERNAL_ERROR",
    "NON_STREAM_ENTRYPOINT",
    "NOT_FOUND",
    "PERMISSION_ERROR",
    "SERVER_ERROR",
    "STREAM_ENTRYPOINT",
    "STREAM_ERROR",
    "TIMEOUT",
    "UNKNOWN_ERROR",
    "VALIDATION_ERROR",
    "AgentNotFoundError",
    "AgentNotRunningError",
    "ArchitectureMissingError",
    "EntrypointError",
    "RunAgentAuthenticationError",
    "RunAgentConnectionError",
    "RunAgentError",
    "RunAgentExecutionError",
    "RunAgentNotFoundError",
    "RunAgentPermissionError",
    "RunAgentServerError",
    "RunAgentStreamError",
    "RunAgentTimeoutError",
    "RunAgentValidationError",
]

# The codes of reference §4.3 that this SDK raises.
AGENT_NOT_FOUND_LOCAL = "AGENT_NOT_FOUND_LOCAL"
AGENT_NOT_FOUND_REMOTE = "AGENT_NOT_FOUND_REMOTE"
ARCHITECTURE_MISSING = "ARCHITECTURE_MISSING"
AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
CONNECTION_ERROR = "CONNECTION_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"
NON_STREAM_ENTRYPOINT = "NON_STREAM_ENTRYPOINT"
NOT_FOUND = "NOT_FOUND"
PERMISSION_ERROR = "PERMISSION_ERROR"
SERVER_ERROR = "SERVER_ERROR"
STREAM_ENTRYPOINT = "STREAM_ENTRYPOINT"
STREAM_ERROR = "STREAM_ERROR"
TIMEOUT = "TIMEOUT"
UNKNOWN_ERROR = "UNKNOWN_ERROR"
VALIDATION_ERROR = "VALIDATION_ERROR"


class RunAgentError(ControlDeckError):
    """Base of every RunAgent error.

    Attributes:
        code: The RunAgent error code (`AGENT_NOT_FOUND_LOCAL`, `INTERNAL_ERROR`...).
        message: What went wrong, in one line.
        suggestion: What to do about it, when known.
        details: Structured detail the server sent (its `error.details`, FastAPI's
            per-field list), or None.
        status_code: The HTTP status when the server answered, else None.
        request_id: The envelope's `request_id` (or `x-request-id`), when there was one.
        body_excerpt: At most 500 characters of the reply body, secrets masked.

    Example:
        >>> try:
        ...     agent.run(message="hi")
        ... except RunAgentError as exc:
        ...     print(exc.code, exc.message, exc.suggestion)
    """

    default_code = UNKNOWN_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        suggestion: str | None = None,
        details: Any = None,
        status_code: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
        **extra: Any,
    ) -> None:
        # One __init__ for the whole tree: the second base (APIConnectionError,
        # StreamError) only needs its attributes set, which `extra` carries.
        Exception.__init__(self, message)
        self.code = code or self.default_code
        self.message = message
        self.suggestion = suggestion
        self.details = details
        self.status_code = status_code
        self.request_id = request_id
        self.body_excerpt = body_excerpt
        for name in ("method", "url", "cause"):
            extra.setdefault(name, None)
        self.__dict__.update(extra)

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.status_code is not None:
            text += f" (HTTP {self.status_code})"
        if self.suggestion:
            text += f" — {self.suggestion}"
        if self.request_id:
            text += f" [request id: {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments and a live `cause` would break pickling otherwise.
        return (_rebuild, (type(self), self.message, {**self.__dict__, "cause": None}))


def _rebuild(cls: type[RunAgentError], message: str, state: dict[str, Any]) -> RunAgentError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class AgentNotFoundError(RunAgentError):
    """The agent is not in the local registry, or the server does not know its id.

    `code` is `AGENT_NOT_FOUND_LOCAL` (local mode) or `AGENT_NOT_FOUND_REMOTE` (cloud).

    Attributes:
        local: Whether the agent was looked for locally.
    """

    default_code = AGENT_NOT_FOUND_LOCAL

    @property
    def local(self) -> bool:
        """Whether the agent was looked for locally (registry or local server)."""
        return self.code == AGENT_NOT_FOUND_LOCAL


class EntrypointError(RunAgentError):
    """The entrypoint tag cannot be used this way.

    `STREAM_ENTRYPOINT`: `run()` on a tag ending in `_stream`; `NON_STREAM_ENTRYPOINT`:
    `run_stream()` on any other tag (both raised before any request); `VALIDATION_ERROR`:
    the agent's architecture has no such tag (`details` lists the tags it has);
    `NOT_FOUND`: the server said the entrypoint does not exist.
    """

    default_code = VALIDATION_ERROR


class ArchitectureMissingError(RunAgentError):
    """The architecture reply had no `data` or no `data.entrypoints`."""

    default_code = ARCHITECTURE_MISSING


class RunAgentExecutionError(RunAgentError):
    """The server ran the agent and it failed (HTTP 200 with `success: false`).

    `code` is the server's (`INTERNAL_ERROR` when the agent raised or rejected its
    arguments); `message` is the server's, e.g. "Agent execution failed: … kaboom".
    """

    default_code = INTERNAL_ERROR


class RunAgentAuthenticationError(RunAgentError):
    """No API key for the cloud (raised before sending), or the server answered 401."""

    default_code = AUTHENTICATION_ERROR


class RunAgentPermissionError(RunAgentError):
    """The server answered 403: the key may not use this agent."""

    default_code = PERMISSION_ERROR


class RunAgentNotFoundError(RunAgentError):
    """The server answered 404 `NOT_FOUND` for something other than the agent or the tag
    (an invocation id)."""

    default_code = NOT_FOUND


class RunAgentValidationError(RunAgentError):
    """The server rejected the request (400 `VALIDATION_ERROR`, 422 with FastAPI `detail`)."""

    default_code = VALIDATION_ERROR


class RunAgentServerError(RunAgentError):
    """The server failed (5xx): `INTERNAL_ERROR` from the local server, `SERVER_ERROR`."""

    default_code = SERVER_ERROR


class RunAgentConnectionError(RunAgentError, APIConnectionError):
    """No HTTP reply: refused, DNS, reset, TLS. Also an `APIConnectionError` (with
    `.method`, `.url` and the root `.cause`)."""

    default_code = CONNECTION_ERROR


class AgentNotRunningError(RunAgentConnectionError):
    """Nothing answers at the agent's local address.

    Raised when the connection to the address (given, or read from the local registry,
    whose row still says `serving` after its server stopped) is refused; the suggestion
    says how to start the agent.
    """


class RunAgentTimeoutError(RunAgentConnectionError, APITimeoutError):
    """The server did not answer (or a stream sent no frame) in time."""

    default_code = TIMEOUT


# StreamError types `code` as `str | None`; here it is always a code (a narrower type).
class RunAgentStreamError(RunAgentError, StreamError):  # type: ignore[misc]
    """`run_stream()` received an `error` frame, or the socket closed before
    `stream_completed`. Also a `StreamError`."""

    default_code = STREAM_ERROR
