"""The default agent `FakeRunAgent` serves: the captures' `agent.py`, entrypoint by entrypoint.

The functions live at module level, like in a real `agent.py`, so Python's own messages
name them exactly as the real server's do (`add() got an unexpected keyword argument
'zzz'`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["DEFAULT_ENTRYPOINTS", "add", "boom", "boom_stream", "echo", "echo_stream", "greet"]


def echo(message: Any, times: Any = 1) -> dict[str, Any]:
    """`{"echo": message, "times": times}`."""
    return {"echo": message, "times": times}


def add(a: Any, b: Any) -> Any:
    """`a + b`."""
    return a + b


def greet(name: Any = "world") -> str:
    """`"hello {name}"`."""
    return f"hello {name}"


def echo_stream(message: Any, n: Any = 3) -> Iterator[str]:
    """Yields `"{message}-0"` … `"{message}-{n-1}"`."""
    yield from (f"{message}-{i}" for i in range(n))


def boom(x: Any = None) -> Any:
    """Raises `RuntimeError("kaboom")`."""
    raise RuntimeError("kaboom")


def boom_stream(x: Any = None) -> Iterator[str]:
    """Yields `"first"`, then raises `RuntimeError("stream kaboom")`."""
    yield "first"
    raise RuntimeError("stream kaboom")


DEFAULT_ENTRYPOINTS: dict[str, Callable[..., Any]] = {
    "echo": echo,
    "add": add,
    "greet": greet,
    "echo_stream": echo_stream,
    "boom": boom,
    "boom_stream": boom_stream,
}
"""The captures' entrypoints, in the order `runagent.config.json` lists them."""
