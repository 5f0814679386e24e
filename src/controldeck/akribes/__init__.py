"""Akribes: the workflow server (projects, scripts, runs, events, documents, benches).

Example:
    >>> from controldeck.akribes import AkribesClient
    >>> with AkribesClient("http://akribes.example", token="akribes_tk_...") as client:
    ...     run = client.project(7).executions.run("triage", inputs={"ticket": "T-1"})
    ...     output = client.executions.await_execution(run.execution_id)

Importing this module loads the client only; the models load on first use. Every event
variant this version does not know decodes to an `UnknownEvent` (its `type` is `.tag`, the
object `.raw`), never an error.
"""

from typing import TYPE_CHECKING

from controldeck._core._lazy import lazy_exports
from controldeck._core._models import UnknownVariant as UnknownEvent
from controldeck._core._pagination import Page
from controldeck._core._streams import Stream
from controldeck.akribes._client import (
    AkribesClient,
)
from controldeck.akribes._errors import (
    DocumentConversionError,
    DuplicateSuiteError,
    ExecutionFailedError,
    InvalidInputsError,
)
from controldeck.akribes._scope import (
    ProjectScope,
)

if TYPE_CHECKING:
    from controldeck._generated.akribes import (
        AdhocRunResult,
        Bench,
        BenchCase,
        BenchEvent,
        BenchResult,
        BenchRun,
        BenchRunLagged,
        BenchRunTerminal,
        ClaimHit,
        ClaimMiss,
        ClientInterest,
        ConversionStatus,
        ConvertResult,
        DocumentMeta,
        Draft,
        EngineEvent,
        ExecutionEvents,
        ExecutionHubEvent,
        ExecutionOutput,
        ExecutionStatus,
        HubEvent,
        LatestVersion,
        McpAuthKind,
        McpConfigOrigin,
        MintTokenResponse,
        OrgMcpConfigInput,
        OrgMcpConfigUpdate,
        Project,
        RegistryEvent,
        RerunResult,
        RunResult,
        S3CredentialsRef,
        S3PresignedRef,
        Script,
        ScriptChannel,
        ScriptVersion,
        State,
        SuspendedEvent,
        TokenInfo,
        TokenRole,
        TokenScopes,
        UnknownBenchEvent,
        UnknownEngineEvent,
        UnknownHubEvent,
        UnknownRegistryEvent,
        UploadResult,
        WorkflowEndEvent,
        WorkflowEndSummary,
    )
    from controldeck.akribes._documents import (
        DocumentIngestError,
        IngestResult,
    )
    from controldeck.akribes._events import (
        is_run_end,
        workflow_end_result,
    )
else:
    __getattr__ = lazy_exports(
        __name__,
        globals(),
        {
            "controldeck._generated.akribes": [
                "AdhocRunResult",
                "Bench",
                "BenchCase",
                "BenchEvent",
                "BenchResult",
                "BenchRun",
                "BenchRunLagged",
                "BenchRunTerminal",
                "ClaimHit",
                "ClaimMiss",
                "ClientInterest",
                "ConversionStatus",
                "ConvertResult",
                "DocumentMeta",
                "Draft",
                "EngineEvent",
                "ExecutionEvents",
                "ExecutionHubEvent",
                "ExecutionOutput",
                "ExecutionStatus",
                "HubEvent",
                "LatestVersion",
                "McpAuthKind",
                "McpConfigOrigin",
                "MintTokenResponse",
                "OrgMcpConfigInput",
                "OrgMcpConfigUpdate",
                "Project",
                "RegistryEvent",
                "RerunResult",
                "RunResult",
                "S3CredentialsRef",
                "S3PresignedRef",
                "Script",
                "ScriptChannel",
                "ScriptVersion",
                "State",
                "SuspendedEvent",
                "TokenInfo",
                "TokenRole",
                "TokenScopes",
                "UnknownBenchEvent",
                "UnknownEngineEvent",
                "UnknownHubEvent",
                "UnknownRegistryEvent",
                "UploadResult",
                "WorkflowEndEvent",
                "WorkflowEndSummary",
            ],
            "controldeck.akribes._documents": [
                "DocumentIngestError",
                "IngestResult",
            ],
            "controldeck.akribes._events": [
                "is_run_end",
                "workflow_end_result",
            ],
        },
    )

__all__ = [
    "AdhocRunResult",
    "AkribesClient",
    "Bench",
    "BenchCase",
    "BenchEvent",
    "BenchResult",
    "BenchRun",
    "BenchRunLagged",
    "BenchRunTerminal",
    "ClaimHit",
    "ClaimMiss",
    "ClientInterest",
    "ConversionStatus",
    "ConvertResult",
    "DocumentConversionError",
    "DocumentIngestError",
    "DocumentMeta",
    "Draft",
    "DuplicateSuiteError",
    "EngineEvent",
    "ExecutionEvents",
    "ExecutionFailedError",
    "ExecutionHubEvent",
    "ExecutionOutput",
    "ExecutionStatus",
    "HubEvent",
    "IngestResult",
    "InvalidInputsError",
    "LatestVersion",
    "McpAuthKind",
    "McpConfigOrigin",
    "MintTokenResponse",
    "OrgMcpConfigInput",
    "OrgMcpConfigUpdate",
    "Page",
    "Project",
    "ProjectScope",
    "RegistryEvent",
    "RerunResult",
    "RunResult",
    "S3CredentialsRef",
    "S3PresignedRef",
    "Script",
    "ScriptChannel",
    "ScriptVersion",
    "State",
    "Stream",
    "SuspendedEvent",
    "TokenInfo",
    "TokenRole",
    "TokenScopes",
    "UnknownBenchEvent",
    "UnknownEngineEvent",
    "UnknownEvent",
    "UnknownHubEvent",
    "UnknownRegistryEvent",
    "UploadResult",
    "WorkflowEndEvent",
    "WorkflowEndSummary",
    "is_run_end",
    "workflow_end_result",
]


def __dir__() -> list[str]:
    # Tab completion (IPython, Jupyter) lists the lazily loaded names too.
    return sorted(set(globals()) | set(__all__))
