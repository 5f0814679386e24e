"""`wait_for`: poll until something is done, with a deadline, backoff and an optional bar.

Every platform's `wait_for_<thing>` is one call to `wait_for`. The facade validates its own
arguments first (so a bad id fails before a bar appears), then names what to fetch, when it
is done, and how to describe a state in one short line:

```python
def wait_for_execution(
    self,
    execution_id: str,
    *,
    timeout: float | None = 3600.0,
    poll_interval: float = 5.0,
    progress: bool | None = None,
) -> ExecutionStatus:
    segment = path_segment("execution_id", execution_id)
    return wait_for(
        lambda: self._get(f"/executions/{segment}/status", ExecutionStatus),
        lambda status: status.status in _TERMINAL,
        timeout=timeout,
        poll_interval=poll_interval,
        progress=progress,
        what=f"execution {execution_id}",
        describe=lambda status: status.status,
    )
```

The other cases the platforms need:

- **Not visible yet** (Akribes `await_execution`: a 404 means the output is not written
  yet): pass `not_yet=NotFoundError`; that error counts as "poll again", any other error
  from `fetch` propagates unchanged.
- **A terminal failure** (Akribes `failed|cancelled`): raise the platform's error from
  `is_done`; it propagates unchanged and the bar is closed first.
- **Gone means done** (Rune `wait_for_deletion`): catch the `NotFoundError` inside `fetch`
  and return a value `is_done` accepts.
- **Phase changes** (Beampipe): `describe` returns the phase; the bar and the `controldeck`
  logger (INFO) show every change, and `on_change` receives each state whose description
  differs from the previous one.
- **No deadline** (Akribes waits forever by default): `timeout=None`; Ctrl-C stops it.

`timeout=` is always the caller's total budget in seconds. The last sleep is trimmed so that
the final check happens at the deadline; after it `WaitTimeoutError` carries `.last_state`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import IO, Any, Protocol, TypeVar

from controldeck._core._constants import WAIT_BACKOFF, WAIT_MAX_INTERVAL
from controldeck._core._logging import logger
from controldeck.errors import InvalidArgumentError, WaitTimeoutError

__all__ = ["wait_for"]

T = TypeVar("T")

# A description longer than this is cut: it goes into a one-line message and a bar.
_DESCRIPTION_CHARS = 100
# While a bar is shown, sleeps are split so its elapsed time ticks at least this often.
_BAR_TICK = 1.0


class _Bar(Protocol):
    """The part of a tqdm bar used here (tqdm ships no type hints)."""

    def set_description_str(self, desc: str) -> None: ...
    def refresh(self) -> None: ...
    def close(self) -> None: ...


def wait_for(
    fetch: Callable[[], T],
    is_done: Callable[[T], bool],
    *,
    timeout: float | None,
    poll_interval: float,
    backoff: float = WAIT_BACKOFF,
    max_interval: float | None = None,
    what: str = "the operation",
    describe: Callable[[T], object] = repr,
    not_yet: type[Exception] | tuple[type[Exception], ...] = (),
    on_change: Callable[[T], object] | None = None,
    progress: bool | None = None,
    file: IO[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call `fetch` until `is_done` accepts its result, sleeping in between.

    The first check happens at once. After each unfinished check the wait is `poll_interval`,
    multiplied by `backoff` after every sleep and capped at `max_interval`; the last sleep is
    trimmed to end at the deadline, where one final check is made.

    Args:
        fetch: Gets the current state (usually one API call).
        is_done: True when the state is final. To fail on a terminal failure state, raise
            the platform's error from here.
        timeout: Total seconds to wait, a positive number; None waits without a limit
            (until done, an error, or Ctrl-C).
        poll_interval: Seconds to wait after the first unfinished check, positive.
        backoff: Factor applied to the interval after every sleep, at least 1 (1 keeps the
            interval steady).
        max_interval: Longest wait between checks. None means 30 s, or `poll_interval`
            when that is longer.
        what: What is awaited, for messages, logs and the bar, e.g. `"execution 01JBX"`.
        describe: Turns a state into a short description (e.g. its status); the result is
            shown on one line, cut to 100 characters.
        not_yet: Exception class(es) from `fetch` that mean "not there yet, check again"
            (e.g. `NotFoundError` while a new resource becomes visible).
        on_change: Called with each state whose description differs from the previous one
            (the first state included).
        progress: True or False to force the progress bar on or off; None shows it only on
            an interactive terminal (stderr, or `file`, is a TTY) or in a Jupyter kernel.
        file: Where the bar is written; default stderr.
        clock: Monotonic clock in seconds (injected in tests).
        sleep: Sleeps for the given seconds (injected in tests).

    Returns:
        The first state `is_done` accepted.

    Raises:
        InvalidArgumentError: An argument is invalid; nothing was fetched.
        WaitTimeoutError: The deadline passed; `.last_state` holds the last state fetched
            (None if `fetch` only ever raised a `not_yet` error).
        KeyboardInterrupt: Re-raised after the bar is closed.
        Exception: Whatever `fetch` or `is_done` raised (other than `not_yet`), unchanged.

    Example:
        >>> status = wait_for(
        ...     lambda: client.get_execution_status(eid),
        ...     lambda s: s.status in {"completed", "failed", "cancelled"},
        ...     timeout=600,
        ...     poll_interval=2,
        ...     what=f"execution {eid}",
        ...     describe=lambda s: s.status,
        ... )
        >>> status.status
        'completed'
    """
    waits = _check_arguments(
        fetch=fetch,
        is_done=is_done,
        timeout=timeout,
        poll_interval=poll_interval,
        backoff=backoff,
        max_interval=max_interval,
        what=what,
        describe=describe,
        not_yet=not_yet,
        on_change=on_change,
        progress=progress,
        clock=clock,
        sleep=sleep,
    )
    bar = _open_bar(what, file) if _show_bar(progress, file) else None
    try:
        return _poll(
            fetch,
            is_done,
            timeout=timeout,
            waits=waits,
            what=what,
            describe=describe,
            not_yet=not_yet,
            on_change=on_change,
            bar=bar,
            clock=clock,
            sleep=sleep,
        )
    finally:
        # Also on Ctrl-C and on any error, so the terminal is left on a fresh line.
        if bar is not None:
            bar.close()


def _poll(
    fetch: Callable[[], T],
    is_done: Callable[[T], bool],
    *,
    timeout: float | None,
    waits: _Waits,
    what: str,
    describe: Callable[[T], object],
    not_yet: type[Exception] | tuple[type[Exception], ...],
    on_change: Callable[[T], object] | None,
    bar: _Bar | None,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
) -> T:
    start = clock()
    deadline = None if timeout is None else start + timeout
    last_state: T | None = None
    shown: str | None = None
    final_check = False
    while True:
        try:
            state = fetch()
        except not_yet as exc:
            description = f"not available yet ({type(exc).__name__})"
            changed = description != shown
        else:
            last_state = state
            description = _one_line(describe(state))
            changed = description != shown
            if changed and on_change is not None:
                on_change(state)
            if is_done(state):
                _show(bar, what, description, changed)
                return state
        _show(bar, what, description, changed)
        shown = description

        delay = waits.next()
        if deadline is not None:
            remaining = deadline - clock()
            if final_check or remaining <= 0:
                elapsed = clock() - start
                raise WaitTimeoutError(
                    f"Gave up waiting for {what} after {elapsed:.1f}s (timeout={timeout:g}s);"
                    f" last state: {description}. To wait longer, pass a larger timeout="
                    " or timeout=None for no limit.",
                    last_state=last_state,
                )
            if remaining <= delay:
                # Never sleep past the deadline: wake at it and check one last time.
                delay = remaining
                final_check = True
        _pause(delay, bar, sleep)


class _Waits:
    """The sequence of sleeps: `poll_interval`, times `backoff` each time, capped."""

    def __init__(self, first: float, factor: float, cap: float) -> None:
        self._current = first
        self._factor = factor
        self._cap = cap

    def next(self) -> float:
        delay = self._current
        self._current = min(self._current * self._factor, self._cap)
        return delay


def _pause(seconds: float, bar: _Bar | None, sleep: Callable[[float], object]) -> None:
    if bar is None:
        sleep(seconds)
        return
    # tqdm only redraws when told to; without ticks the elapsed time would freeze for the
    # whole (possibly 30 s) interval.
    while seconds > 0:
        step = min(seconds, _BAR_TICK)
        sleep(step)
        seconds -= step
        bar.refresh()


def _show(bar: _Bar | None, what: str, description: str, changed: bool) -> None:
    if not changed:
        return
    logger.info("waiting for %s: %s", what, description)
    if bar is not None:
        bar.set_description_str(f"{what}: {description}")


def _one_line(description: object) -> str:
    text = " ".join(str(description).split())
    if len(text) > _DESCRIPTION_CHARS:
        return text[: _DESCRIPTION_CHARS - 1] + "…"
    return text


def _show_bar(progress: bool | None, file: IO[str] | None) -> bool:
    if progress is not None:
        return progress
    # A Jupyter kernel's stderr is not a TTY, yet it renders bars; importing IPython just
    # to ask would cost a second of import time, and ipykernel is loaded in every kernel.
    if "ipykernel" in sys.modules:
        return True
    stream = file if file is not None else sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        # No isatty, or a closed stream: not a terminal anyone is watching.
        return False


def _open_bar(what: str, file: IO[str] | None) -> _Bar:
    # Imported here: tqdm (with tqdm.auto's asyncio) is only worth its import time when a
    # bar is actually shown.
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    bar: _Bar = tqdm(
        desc=f"{what}: checking", bar_format="{desc} [{elapsed}]", file=file, leave=True
    )
    return bar


def _check_arguments(
    *,
    fetch: object,
    is_done: object,
    timeout: Any,
    poll_interval: Any,
    backoff: Any,
    max_interval: Any,
    what: object,
    describe: object,
    not_yet: object,
    on_change: object,
    progress: object,
    clock: object,
    sleep: object,
) -> _Waits:
    for name, value in (
        ("fetch", fetch),
        ("is_done", is_done),
        ("describe", describe),
        ("clock", clock),
        ("sleep", sleep),
    ):
        if not callable(value):
            raise InvalidArgumentError(f"{name} must be callable, got {type(value).__name__}")
    if on_change is not None and not callable(on_change):
        raise InvalidArgumentError(
            f"on_change must be callable or None, got {type(on_change).__name__}"
        )
    if timeout is not None and not _is_positive_seconds(timeout):
        raise InvalidArgumentError(
            f"timeout must be positive seconds, or None to wait without a limit; got {timeout!r}"
        )
    if not _is_positive_seconds(poll_interval):
        raise InvalidArgumentError(f"poll_interval must be positive seconds, got {poll_interval!r}")
    if not (_is_number(backoff) and math.isfinite(backoff) and backoff >= 1):
        raise InvalidArgumentError(f"backoff must be a number of at least 1, got {backoff!r}")
    if max_interval is None:
        cap = max(poll_interval, WAIT_MAX_INTERVAL)
    elif _is_positive_seconds(max_interval) and max_interval >= poll_interval:
        cap = max_interval
    else:
        raise InvalidArgumentError(
            f"max_interval must be seconds no shorter than poll_interval ({poll_interval!r}),"
            f" or None; got {max_interval!r}"
        )
    if not isinstance(what, str) or not what.strip():
        raise InvalidArgumentError(f"what must be a non-empty string, got {what!r}")
    classes = not_yet if isinstance(not_yet, tuple) else (not_yet,)
    # Only Exception subclasses: treating KeyboardInterrupt as "not yet" would make Ctrl-C
    # unable to stop a wait.
    if not all(isinstance(c, type) and issubclass(c, Exception) for c in classes):
        raise InvalidArgumentError(
            f"not_yet must be an Exception subclass or a tuple of them, got {not_yet!r}"
        )
    if progress is not None and not isinstance(progress, bool):
        raise InvalidArgumentError(f"progress must be True, False or None, got {progress!r}")
    return _Waits(float(poll_interval), float(backoff), float(cap))


def _is_number(value: object) -> bool:
    # bool is an int subclass, but `timeout=True` is a mistake, not one second.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_positive_seconds(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and value > 0
