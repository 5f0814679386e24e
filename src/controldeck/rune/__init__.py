"""Rune (runed): namespaces, services, instances, secrets, configmaps, auth and admin over
Connect JSON (what runed serves) or the REST gateway the Rune docs describe.

Example:
    >>> from controldeck.rune import RuneClient
    >>> with RuneClient("http://localhost:7861", token="...") as rune:
    ...     for event in rune.watch_services("default"):
    ...         print(event.event_type, event.service.name)

Logs and exec over runed's gRPC port need the extra: `pip install 'controldeck[grpc]'`.
A local fake serving both wires: `controldeck.testing.rune.FakeRune`. See docs/rune.md.

Importing this module loads the client only: the generated models are imported on first
use, so `import controldeck.rune` costs little more than `import requests`.
"""

from controldeck.rune._client import RuneClient

__all__ = ["RuneClient"]


def __dir__() -> list[str]:
    # Tab completion (IPython, Jupyter) lists the lazily loaded names too.
    return sorted(set(globals()) | set(__all__))
