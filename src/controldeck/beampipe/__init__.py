"""Beampipe: the `/api/v2` processing orchestrator (configs, sources, executions).

Example:
    >>> from controldeck.beampipe import BeampipeClient
    >>> with BeampipeClient("http://127.0.0.1:8080", username="admin",
    ...                     password="...") as client:
    ...     status = client.wait_for_execution("0192f0c4-...", timeout=3600)

A local stateful fake for tests and demos: `controldeck.testing.beampipe.FakeBeampipe`.
See docs/beampipe.md.

Importing this module loads the client only: the generated models are imported on first
use, so `import controldeck.beampipe` costs little more than `import requests`.
"""

from typing import TYPE_CHECKING

from controldeck._core._lazy import lazy_exports
from controldeck._core._pagination import Page
from controldeck.beampipe._auth import TokenPair
from controldeck.beampipe._client import BeampipeClient
from controldeck.beampipe._errors import ProjectConfigValidationError, failure_of

if TYPE_CHECKING:
    from controldeck._generated.beampipe import (
        CurrentUserResponse,
        Failure,
        FailureClass,
        RetryDisposition,
        TokenResponse,
        ValidationDiagnostic,
    )
else:
    __getattr__ = lazy_exports(
        __name__,
        globals(),
        {
            "controldeck._generated.beampipe": [
                "CurrentUserResponse",
                "Failure",
                "FailureClass",
                "RetryDisposition",
                "TokenResponse",
                "ValidationDiagnostic",
            ],
        },
    )

__all__ = [
    "BeampipeClient",
    "CurrentUserResponse",
    "Failure",
    "FailureClass",
    "Page",
    "ProjectConfigValidationError",
    "RetryDisposition",
    "TokenPair",
    "TokenResponse",
    "ValidationDiagnostic",
    "failure_of",
]


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
