"""Retry policy: which failures are retried, how long to wait, and the overall deadline."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable

import requests

from controldeck._core import _constants as C

__all__ = ["Budget", "backoff_delay", "parse_retry_after", "retry_delay"]


def backoff_delay(retry_number: int) -> float:
    """`min(0.5 * 2**n, 8) * uniform(0.75, 1)` where n counts retries from 0."""
    base: float = min(C.BACKOFF_INITIAL * 2.0**retry_number, C.BACKOFF_MAX)
    return base * random.uniform(*C.BACKOFF_JITTER)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, float(when.timestamp()) - (time.time() if now is None else now))


def retry_delay(
    response: requests.Response,
    *,
    retry_safe: bool,
    retry_number: int,
    advice: bool | None = None,
) -> float | None:
    """Seconds to wait before retrying after a non-2xx reply, or None when it is final.

    A retry-safe call (idempotent method, or one carrying an idempotency key) is retried on
    408/429/502/503/504 and 500; any other call only where the server said to come back
    (429/503 with Retry-After). A Retry-After longer than we wait on a caller's behalf is
    reported at once instead. `advice` is what the server's error body says: True (it is
    safe to retry) makes the call retry-safe, False makes the reply final.
    """
    if advice is False:
        return None
    retry_safe = retry_safe or advice is True
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None and retry_after > C.RETRY_AFTER_MAX:
        return None
    if retry_safe:
        retryable = status in C.RETRY_STATUSES or status == 500
    else:
        retryable = status in C.RETRY_AFTER_STATUSES and retry_after is not None
    if not retryable:
        return None
    return retry_after if retry_after is not None else backoff_delay(retry_number)


class Budget:
    """The time one call may still take (its `deadline=`), read from an injectable clock.

    Args:
        seconds: The whole call's budget, or None for no limit.
        clock: Monotonic seconds.
    """

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return self._clock() - self.started

    def remaining(self) -> float | None:
        """Seconds left, never negative; None without a deadline."""
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - self.elapsed())

    def allows_wait(self, delay: float) -> bool:
        """Whether waiting `delay` seconds still leaves time for another attempt."""
        remaining = self.remaining()
        return remaining is None or delay < remaining

    def clip(self, timeout: tuple[float, float | None]) -> tuple[float, float | None]:
        """The per-attempt timeout, shortened so no single wait outlives the deadline."""
        remaining = self.remaining()
        if remaining is None:
            return timeout
        remaining = max(remaining, 0.001)
        connect, read = timeout
        return min(connect, remaining), remaining if read is None else min(read, remaining)
