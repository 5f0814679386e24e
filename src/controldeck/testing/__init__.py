"""Loopback fakes of the platforms' APIs, for your tests and demos.

Each fake is a real HTTP server on 127.0.0.1 with state, so an SDK client (or plain
`requests`) talks to it over a socket exactly as it would to the real service. Importing
this package is cheap: a fake's module, and its optional dependencies, load on first use.
`FakeRunAgent` also serves its agent's WebSocket stream and writes the local registry.

Example:
    >>> from controldeck.testing import FakeRunbeam
    >>> with FakeRunbeam() as fake:
    ...     fake.api_url
    'http://127.0.0.1:50123/api'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controldeck.testing._server import RecordedRequest
    from controldeck.testing.akribes import FakeAkribes
    from controldeck.testing.beampipe import FakeBeampipe
    from controldeck.testing.runagent import FakeRunAgent
    from controldeck.testing.runbeam import FakeRunbeam
    from controldeck.testing.rune import FakeRune

__all__ = [
    "FakeAkribes",
    "FakeBeampipe",
    "FakeRunAgent",
    "FakeRunbeam",
    "FakeRune",
    "RecordedRequest",
]

_LAZY = {
    "FakeAkribes": "controldeck.testing.akribes",
    "FakeBeampipe": "controldeck.testing.beampipe",
    "FakeRunAgent": "controldeck.testing.runagent",
    "FakeRunbeam": "controldeck.testing.runbeam",
    "FakeRune": "controldeck.testing.rune",
    "RecordedRequest": "controldeck.testing._server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
