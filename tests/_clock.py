"""A clock for tests of waits and retries: it only moves when something sleeps."""

from __future__ import annotations

__all__ = ["FakeTime"]


class FakeTime:
    """A monotonic clock that only moves when `sleep` (or a test) moves it.

    Give `clock` and `sleep` to a transport (`client._transport.clock = fake.clock`) or to
    `wait_for(...)`; `sleeps` records every wait asked for.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
