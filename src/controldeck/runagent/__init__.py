"""RunAgent: call one entrypoint of a RunAgent agent, local (`runagent serve`) or in
RunAgent Cloud — `run()` over HTTP, `run_stream()` over a WebSocket.

Example:
    >>> from controldeck.runagent import RunAgentClient
    >>> with RunAgentClient("11111111-...", "echo", local=True) as agent:
    ...     print(agent.run(message="hi"))
    >>> with RunAgentClient("11111111-...", "echo_stream", local=True) as agent:
    ...     with agent.run_stream("hi", n=3) as chunks:
    ...         for chunk in chunks:
    ...             print(chunk)

A local agent's address comes from the `runagent` CLI's registry unless `host=` and
`port=` are given; a cloud client needs `RUNAGENT_API_KEY` (or `api_key=`). Every error
is a `RunAgentError` with `.code`, `.message` and `.suggestion`. A local fake serving
the same HTTP and WebSocket wire: `controldeck.testing.runagent.FakeRunAgent`.
See docs/runagent.md.

Importing this module loads the client only: the generated models, cattrs, the
WebSocket library and sqlite3 are imported on first use.
"""

from typing import TYPE_CHECKING

from controldeck._core._lazy import lazy_exports
from controldeck.runagent._client import RunAgentClient
from controldeck.runagent._errors import (
    AGENT_NOT_FOUND_LOCAL,
    AGENT_NOT_FOUND_REMOTE,
    ARCHITECTURE_MISSING,
    AUTHENTICATION_ERROR,
    CONNECTION_ERROR,
    INTERNAL_ERROR,
    NON_STREAM_ENTRYPOINT,
    NOT_FOUND,
    PERMISSION_ERROR,
    SERVER_ERROR,
    STREAM_ENTRYPOINT,
    STREAM_ERROR,
    TIMEOUT,
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
from controldeck.runagent._wire import build_run_payload, decode_result

if TYPE_CHECKING:
    from controldeck._generated.runagent import (
        AgentArchitecture,
        AgentInfo,
        ArchitectureEnvelope,
        Entrypoint,
        ErrorDetail,
        HealthResponse,
        Invocation,
        InvocationList,
        InvocationStats,
        InvocationStatsResponse,
        RunRequest,
        RunResponse,
        StreamDataFrame,
        StreamErrorFrame,
        StreamStatusFrame,
    )
    from controldeck.runagent._config import (
        LocalAgent,
        default_registry_path,
        lookup_local_agent,
    )
else:
    # The models need cattrs-ready attrs classes and the registry needs sqlite3: both are
    # loaded when a name is first used, not by `import controldeck.runagent`.
    __getattr__ = lazy_exports(
        __name__,
        globals(),
        {
            "controldeck._generated.runagent": [
                "AgentArchitecture",
                "AgentInfo",
                "ArchitectureEnvelope",
                "Entrypoint",
                "ErrorDetail",
                "HealthResponse",
                "Invocation",
                "InvocationList",
                "InvocationStats",
                "InvocationStatsResponse",
                "RunRequest",
                "RunResponse",
                "StreamDataFrame",
                "StreamErrorFrame",
                "StreamStatusFrame",
            ],
            "controldeck.runagent._config": [
                "LocalAgent",
                "default_registry_path",
                "lookup_local_agent",
            ],
        },
    )

__all__ = [
    "AGENT_NOT_FOUND_LOCAL",
    "AGENT_NOT_FOUND_REMOTE",
    "ARCHITECTURE_MISSING",
    "AUTHENTICATION_ERROR",
    "AgentArchitecture",
    "AgentInfo",
    "AgentNotFoundError",
    "AgentNotRunningError",
    "ArchitectureEnvelope",
    "ArchitectureMissingError",
    "CONNECTION_ERROR",
    "Entrypoint",
    "EntrypointError",
    "ErrorDetail",
    "HealthResponse",
    "INTERNAL_ERROR",
    "Invocation",
    "InvocationList",
    "InvocationStats",
    "InvocationStatsResponse",
    "LocalAgent",
    "NON_STREAM_ENTRYPOINT",
    "NOT_FOUND",
    "PERMISSION_ERROR",
    "RunAgentAuthenticationError",
    "RunAgentClient",
    "RunAgentConnectionError",
    "RunAgentError",
    "RunAgentExecutionError",
    "RunAgentNotFoundError",
    "RunAgentPermissionError",
    "RunAgentServerError",
    "RunAgentStreamError",
    "RunAgentTimeoutError",
    "RunAgentValidationError",
    "RunRequest",
    "RunResponse",
    "SERVER_ERROR",
    "STREAM_ENTRYPOINT",
    "STREAM_ERROR",
    "StreamDataFrame",
    "StreamErrorFrame",
    "StreamStatusFrame",
    "TIMEOUT",
    "UNKNOWN_ERROR",
    "VALIDATION_ERROR",
    "build_run_payload",
    "decode_result",
    "default_registry_path",
    "lookup_local_agent",
]


def __dir__() -> list[str]:
    # Tab completion (IPython, Jupyter) lists the lazily loaded names too.
    return sorted(set(globals()) | set(__all__))
