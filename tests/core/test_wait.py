"""`wait_for`: polling schedule, deadline, timeouts, "not yet" errors, validation, progress bar."""

from __future__ import annotations

import io
import logging
import math
import subprocess
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from controldeck._core._wait import _show_bar, wait_for
from controldeck.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    WaitTimeoutError,
)
from tests._clock import FakeTime


class Fetcher:
    """Returns (or raises) the given items in order, recording the time of each call."""

    def __init__(self, fake: FakeTime, items: Iterable[Any], *, takes: float = 0.0) -> None:
        self.fake = fake
        self.items = list(items)
        self.takes = takes
        self.called_at: list[float] = []

    def __call__(self) -> Any:
        self.called_at.append(self.fake.now)
        self.fake.now += self.takes
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, BaseException):
            raise item
        return item


class TtyIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def is_completed(state: str) -> bool:
    return state == "completed"


def run(
    fake: FakeTime,
    fetch: Callable[[], Any],
    *,
    is_done: Callable[[Any], bool] = is_completed,
    **kwargs: Any,
) -> Any:
    kwargs.setdefault("timeout", None)
    kwargs.setdefault("poll_interval", 1.0)
    kwargs.setdefault("progress", False)
    return wait_for(fetch, is_done, clock=fake.clock, sleep=fake.sleep, **kwargs)


def not_found() -> NotFoundError:
    return NotFoundError("Execution not found", status_code=404)


# --- schedule -------------------------------------------------------------------------------


def test_done_at_once_does_not_sleep() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["completed"])
    assert run(fake, fetch, timeout=10) == "completed"
    assert fetch.called_at == [0.0]
    assert fake.sleeps == []


def test_backoff_grows_until_the_cap() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"] * 6 + ["completed"])
    assert run(fake, fetch, poll_interval=1, backoff=2, max_interval=5) == "completed"
    assert fake.sleeps == [1, 2, 4, 5, 5, 5]
    assert fetch.called_at == [0, 1, 3, 7, 12, 17, 22]


def test_default_backoff_keeps_a_steady_interval() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"] * 3 + ["completed"])
    run(fake, fetch, poll_interval=0.5)
    assert fake.sleeps == [0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    ("poll_interval", "backoff", "expected"),
    [
        (10.0, 3.0, [10.0, 30.0, 30.0, 30.0]),  # default cap: 30 s
        (40.0, 2.0, [40.0, 40.0, 40.0, 40.0]),  # a longer poll_interval is its own cap
    ],
)
def test_default_cap(poll_interval: float, backoff: float, expected: list[float]) -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"] * 4 + ["completed"])
    run(fake, fetch, poll_interval=poll_interval, backoff=backoff)
    assert fake.sleeps == expected


def test_timeout_none_waits_without_limit() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"] * 1000 + ["completed"])
    assert run(fake, fetch, timeout=None, poll_interval=5) == "completed"
    assert fake.now == 5000.0


def test_last_sleep_is_trimmed_to_the_deadline_and_checked_there() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"])
    with pytest.raises(WaitTimeoutError):
        run(fake, fetch, timeout=10, poll_interval=1, backoff=2)
    assert fake.sleeps == [1, 2, 4, 3]
    assert fetch.called_at == [0, 1, 3, 7, 10]


def test_one_final_check_even_if_the_clock_lags_the_sleep() -> None:
    fake = FakeTime()

    def short_sleep(seconds: float) -> None:
        # Real sleeps and monotonic clocks disagree by microseconds either way.
        fake.sleeps.append(seconds)
        fake.now += seconds - 1e-6
        assert len(fake.sleeps) <= 3, "kept polling past the deadline"

    fetch = Fetcher(fake, ["running"])
    with pytest.raises(WaitTimeoutError):
        wait_for(fetch, is_completed, timeout=5, poll_interval=3, clock=fake.clock,
                 sleep=short_sleep, progress=False)  # fmt: skip
    assert fake.sleeps == [3, pytest.approx(2 + 1e-6)]
    assert len(fetch.called_at) == 3


def test_done_at_the_final_check_returns() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"] * 3 + ["completed"])
    assert run(fake, fetch, timeout=10, poll_interval=4) == "completed"
    assert fake.sleeps == [4, 4, 2]


def test_slow_fetch_past_the_deadline_times_out_without_sleeping_again() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running"], takes=6.0)
    with pytest.raises(WaitTimeoutError, match=r"after 13\.0s \(timeout=10s\)"):
        run(fake, fetch, timeout=10, poll_interval=1)
    assert fake.sleeps == [1]
    assert fetch.called_at == [0, 7]


# --- timeout error ----------------------------------------------------------------------------


class Status:
    def __init__(self, status: str) -> None:
        self.status = status


def test_timeout_error_carries_the_last_state_and_a_one_line_message() -> None:
    fake = FakeTime()
    states = [Status("pending"), Status("running")]
    fetch = Fetcher(fake, states)
    with pytest.raises(WaitTimeoutError) as info:
        run(
            fake,
            fetch,
            is_done=lambda s: s.status == "completed",
            timeout=30,
            poll_interval=20,
            what="execution 01JBX",
            describe=lambda s: f"status\n  {s.status}",
        )
    assert info.value.last_state is states[1]
    assert str(info.value) == (
        "Gave up waiting for execution 01JBX after 30.0s (timeout=30s); last state: status"
        " running. To wait longer, pass a larger timeout= or timeout=None for no limit."
    )


def test_long_descriptions_are_cut() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["x" * 300])
    with pytest.raises(WaitTimeoutError) as info:
        run(fake, fetch, timeout=1, describe=str)
    assert "last state: " + "x" * 99 + "…. To wait longer" in str(info.value)


def test_default_description_is_the_repr() -> None:
    fake = FakeTime()
    with pytest.raises(WaitTimeoutError, match="last state: 'running'"):
        run(fake, Fetcher(fake, ["running"]), timeout=1)


# --- not yet, failures, callbacks -------------------------------------------------------------


def test_not_yet_errors_mean_poll_again() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, [not_found(), not_found(), "completed"])
    assert run(fake, fetch, not_yet=NotFoundError, timeout=10) == "completed"
    assert fake.sleeps == [1, 1]


def test_not_yet_accepts_a_tuple() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, [KeyError("k"), not_found(), "completed"])
    assert run(fake, fetch, not_yet=(NotFoundError, KeyError)) == "completed"


def test_only_not_yet_until_the_deadline() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, [not_found()])
    with pytest.raises(WaitTimeoutError) as info:
        run(fake, fetch, not_yet=NotFoundError, timeout=3, what="output of 01JBX")
    assert info.value.last_state is None
    assert "waiting for output of 01JBX after 3.0s" in str(info.value)
    assert "last state: not available yet (NotFoundError)." in str(info.value)


def test_last_state_survives_a_later_not_yet() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running", not_found()])
    with pytest.raises(WaitTimeoutError) as info:
        run(fake, fetch, not_yet=NotFoundError, timeout=3)
    assert info.value.last_state == "running"


def test_other_errors_from_fetch_propagate_unchanged() -> None:
    fake = FakeTime()
    error = ConflictError("busy", status_code=409)
    fetch = Fetcher(fake, ["running", error])
    with pytest.raises(ConflictError) as info:
        run(fake, fetch, not_yet=NotFoundError, timeout=10)
    assert info.value is error
    assert fake.sleeps == [1]


class ExecutionFailed(Exception):
    pass


def test_is_done_can_raise_for_a_terminal_failure() -> None:
    fake = FakeTime()
    seen: list[str] = []

    def is_done(state: str) -> bool:
        if state == "failed":
            raise ExecutionFailed(state)
        return state == "completed"

    fetch = Fetcher(fake, ["running", "failed"])
    with pytest.raises(ExecutionFailed, match="failed"):
        run(fake, fetch, is_done=is_done, on_change=seen.append)
    assert seen == ["running", "failed"]


def test_on_change_sees_each_new_state_once() -> None:
    fake = FakeTime()
    seen: list[str] = []
    fetch = Fetcher(fake, ["pending", "running", "running", not_found(), "completed"])
    run(fake, fetch, not_yet=NotFoundError, on_change=seen.append, describe=str)
    assert seen == ["pending", "running", "completed"]


def test_state_changes_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["pending", "pending", "running", "completed"])
    with caplog.at_level(logging.INFO, logger="controldeck"):
        run(fake, fetch, what="execution e1", describe=str)
    assert [r.getMessage() for r in caplog.records] == [
        "waiting for execution e1: pending",
        "waiting for execution e1: running",
        "waiting for execution e1: completed",
    ]


# --- argument validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": -0.5}, "poll_interval"),
        ({"poll_interval": math.nan}, "poll_interval"),
        ({"poll_interval": math.inf}, "poll_interval"),
        ({"poll_interval": True}, "poll_interval"),
        ({"poll_interval": None}, "poll_interval"),
        ({"backoff": 0.5}, "backoff"),
        ({"backoff": math.nan}, "backoff"),
        ({"backoff": math.inf}, "backoff"),
        ({"backoff": True}, "backoff"),
        ({"max_interval": 0.5}, "max_interval"),  # shorter than poll_interval
        ({"max_interval": math.nan}, "max_interval"),
        ({"max_interval": math.inf}, "max_interval"),
        ({"max_interval": False}, "max_interval"),
        ({"what": ""}, "what"),
        ({"what": 7}, "what"),
        ({"not_yet": KeyboardInterrupt}, "not_yet"),
        ({"not_yet": (NotFoundError, 404)}, "not_yet"),
        ({"not_yet": "NotFoundError"}, "not_yet"),
        ({"progress": "yes"}, "progress"),
        ({"progress": 1}, "progress"),
        ({"describe": "status"}, "describe"),
        ({"on_change": []}, "on_change"),
        ({"sleep": 0.1}, "sleep"),
        ({"clock": None}, "clock"),
    ],
)
def test_bad_arguments_are_rejected_before_any_fetch(overrides: dict[str, Any], names: str) -> None:
    calls: list[None] = []
    kwargs: dict[str, Any] = {"timeout": 10, "poll_interval": 1, **overrides}
    with pytest.raises(InvalidArgumentError, match=rf"^{names} must"):
        wait_for(lambda: calls.append(None), bool, **kwargs)
    assert calls == []


@pytest.mark.parametrize("name", ["fetch", "is_done"])
def test_fetch_and_is_done_must_be_callable(name: str) -> None:
    args: dict[str, Any] = {"fetch": lambda: 1, "is_done": bool, name: "nope"}
    with pytest.raises(InvalidArgumentError, match=rf"^{name} must be callable, got str"):
        wait_for(args["fetch"], args["is_done"], timeout=1, poll_interval=1)


# --- progress bar -----------------------------------------------------------------------------


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)


@pytest.mark.usefixtures("no_kernel")
def test_auto_progress_follows_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _show_bar(None, TtyIO()) is True
    assert _show_bar(None, io.StringIO()) is False
    closed = io.StringIO()
    closed.close()  # isatty() now raises ValueError
    assert _show_bar(None, closed) is False
    monkeypatch.setattr(sys, "stderr", TtyIO())
    assert _show_bar(None, None) is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _show_bar(None, None) is False
    monkeypatch.setattr(sys, "stderr", None)  # pythonw and some services
    assert _show_bar(None, None) is False


def test_auto_progress_in_a_jupyter_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert _show_bar(None, io.StringIO()) is True


@pytest.mark.usefixtures("no_kernel")
def test_forced_progress_overrides_detection() -> None:
    assert _show_bar(True, io.StringIO()) is True
    assert _show_bar(False, TtyIO()) is False


@pytest.mark.usefixtures("no_kernel")
def test_auto_bar_is_drawn_on_a_tty_and_not_elsewhere() -> None:
    for out, drawn in ((TtyIO(), True), (io.StringIO(), False)):
        fake = FakeTime()
        run(fake, Fetcher(fake, ["running", "completed"]), progress=None, file=out, describe=str)
        assert ("completed" in out.getvalue()) is drawn


def test_bar_shows_each_state_and_ends_the_line() -> None:
    fake = FakeTime()
    out = io.StringIO()
    fetch = Fetcher(fake, ["pending", "running", "completed"])
    run(fake, fetch, progress=True, file=out, what="execution e1", describe=str)
    text = out.getvalue()
    assert text.index("execution e1: pending [") < text.index("execution e1: running [")
    assert text.index("execution e1: running [") < text.index("execution e1: completed [")
    assert text.endswith("execution e1: completed [00:00]\n")


def test_bar_ticks_during_long_sleeps() -> None:
    fake = FakeTime()
    fetch = Fetcher(fake, ["running", "completed"])
    run(fake, fetch, progress=True, file=io.StringIO(), poll_interval=2.5)
    assert fake.sleeps == [1.0, 1.0, 0.5]


def interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["fetch", "sleep"])
def test_ctrl_c_closes_the_bar_and_propagates(where: str) -> None:
    fake = FakeTime()
    out = io.StringIO()
    fetch: Callable[[], Any] = Fetcher(fake, ["running"])
    sleep: Callable[[float], object] = fake.sleep
    if where == "fetch":
        fetch = Fetcher(fake, ["running", KeyboardInterrupt()])
    else:
        sleep = interrupt
    with pytest.raises(KeyboardInterrupt):
        wait_for(fetch, is_completed, timeout=None, poll_interval=1, progress=True, file=out,
                 what="job 7", describe=str, clock=fake.clock, sleep=sleep)  # fmt: skip
    assert out.getvalue().endswith("job 7: running [00:00]\n")


def test_errors_and_timeouts_close_the_bar() -> None:
    fake = FakeTime()
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        run(fake, Fetcher(fake, [RuntimeError("boom")]), progress=True, file=out)
    assert out.getvalue().endswith("the operation: checking [00:00]\n")
    out = io.StringIO()
    with pytest.raises(WaitTimeoutError):
        run(fake, Fetcher(fake, ["running"]), timeout=2, progress=True, file=out)
    assert out.getvalue().endswith("the operation: 'running' [00:00]\n")


def test_tqdm_is_imported_only_when_a_bar_is_shown() -> None:
    code = """
import io, sys
from controldeck._core._wait import wait_for
done = dict(timeout=1, poll_interval=1)
wait_for(lambda: 1, bool, progress=False, **done)
wait_for(lambda: 1, bool, **done)  # stderr is a pipe here: no bar
print("tqdm" in sys.modules)
wait_for(lambda: 1, bool, progress=True, file=io.StringIO(), **done)
print("tqdm" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
