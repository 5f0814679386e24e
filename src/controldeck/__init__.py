"""controldeck: one synchronous Python SDK for five platforms' HTTP APIs.

`import controldeck` is cheap: it loads the errors only. Each platform is its own module,
imported when you use it:

    from controldeck.runbeam import RunbeamClient
"""

from __future__ import annotations

import importlib
from typing import Any

from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ControlDeckError,
    InternalServerError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    ResponseValidationError,
    StreamError,
    TokenError,
    UnprocessableEntityError,
    WaitTimeoutError,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ControlDeckError",
    "InternalServerError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "ResponseValidationError",
    "StreamError",
    "TokenError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
]

_PLATFORMS = frozenset({"akribes", "beampipe", "runagent", "runbeam", "rune", "testing"})


def __getattr__(name: str) -> Any:
    # `controldeck.runbeam` works after a bare `import controldeck`, loaded on first use.
    if name in _PLATFORMS:
        return importlib.import_module(f"controldeck.{name}")
    raise AttributeError(f"module 'controldeck' has no attribute {name!r}")
