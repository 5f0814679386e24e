"""The plain-Python agent the real `runagent serve` runs in the e2e tests (framework "default").

Each function is one entrypoint; its tag is its name (see runagent.config.json). The file is
copied into a temp directory and imported by the server's own interpreter, never by the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def echo(message: Any = "hi", times: int = 1, raw: bool = False) -> Any:
    """An object `{"echo": message, "times": times}`, or the message itself when raw."""
    if raw:
        return message
    return {"echo": message, "times": times}


def echo_stream(message: str = "hi", n: int = 3) -> Iterator[str]:
    """`message-0` ... `message-{n-1}`, one chunk each."""
    for i in range(n):
        yield f"{message}-{i}"


def boom(x: Any = None) -> None:
    """Fails: the server answers HTTP 200 with success:false, INTERNAL_ERROR."""
    raise RuntimeError("kaboom")


def boom_stream(x: Any = None) -> Iterator[str]:
    """One chunk, then a runtime error frame ("Streaming error: stream kaboom")."""
    yield "first"
    raise RuntimeError("stream kaboom")


def add(a: int, b: int) -> int:
    """The sum of two positional arguments."""
    return a + b
