"""Akribes: the workflow server (projects, scripts, runs, events, documents, benches).

Example:
    >>> from controldeck.akribes import AkribesClient
    >>> with AkribesClient("http://akribes.example", token="akribes_tk_...") as client:
    ...     run = client.project(7).executions.run("triage", inputs={"ticket": "T-1"})
    ...     output = client.executions.await_execution(run.execution_id)

PLACEHOLDER from the skeleton: the lead fills the exports (models through lazy_exports).
"""

from controldeck.akribes._client import AkribesClient
from controldeck.akribes._errors import (
    DocumentConversionError,
    DuplicateSuiteError,
    ExecutionFailedError,
    InvalidInputsError,
)
from controldeck.akribes._scope import ProjectScope

__all__ = [
    "AkribesClient",
    "DocumentConversionError",
    "DuplicateSuiteError",
    "ExecutionFailedError",
    "InvalidInputsError",
    "ProjectScope",
]
