"""`wait_for_execution`: polls the status until terminal, reports phase changes, times out
with the last status, and does not wait out a 404.

The client's transport clock and sleep are replaced by a fake clock, so no test sleeps.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from controldeck.beampipe import BeampipeClient
from controldeck.errors import InvalidArgumentError, NotFoundError, WaitTimeoutError
from tests._clock import FakeTime
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, AUTH, EXECUTION_ID, error_body

STATUS = f"{API}/executions/{EXECUTION_ID}/status"


@pytest.fixture
def fake_time(client: BeampipeClient) -> FakeTime:
    fake = FakeTime(1000.0)
    client._transport.clock = fake.clock
    client._transport.sleep = fake.sleep
    return fake


def status(value: str, **fields: Any) -> dict[str, Any]:
    return {"uuid": EXECUTION_ID, "status": value, "retry_count": 0, **fields}


def test_polls_until_completed_and_returns_the_final_status(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
) -> None:
    api.get(STATUS, json=status("pending"))
    api.get(STATUS, json=status("running", execution_phase="stage_and_manifest"))
    api.get(STATUS, json=status("completed", terminal_outcome="succeeded", duration_seconds=9))

    final = client.wait_for_execution(EXECUTION_ID, poll_interval=2, progress=False)

    assert (final.status, final.terminal_outcome, final.duration_seconds) == (
        "completed",
        "succeeded",
        9,
    )
    assert [c.request.url for c in api.calls] == [STATUS] * 3
    assert all(c.request.method == "GET" for c in api.calls)
    assert all(c.request.headers["Authorization"] == AUTH for c in api.calls)
    # The first check is immediate; the interval then grows gently from poll_interval.
    assert len(fake_time.sleeps) == 2
    assert fake_time.sleeps[0] == 2
    assert 2 <= fake_time.sleeps[1] <= 30


@pytest.mark.parametrize("terminal", ["failed", "cancelled", "not_submitted"])
def test_unsuccessful_endings_are_returned_not_raised(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime, terminal: str
) -> None:
    api.get(STATUS, json=status("running"))
    api.get(STATUS, json=status(terminal, last_error="sbatch: invalid account"))

    final = client.wait_for_execution(EXECUTION_ID, progress=False)

    assert (final.status, final.last_error) == (terminal, "sbatch: invalid account")
    assert len(api.calls) == 2


def test_an_already_finished_execution_returns_at_once(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
) -> None:
    api.get(STATUS, json=status("completed"))
    assert client.wait_for_execution(EXECUTION_ID.upper()).status == "completed"
    assert fake_time.sleeps == []
    assert api.calls[0].request.url == STATUS  # the id went out canonical


def test_unknown_statuses_keep_it_waiting(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
) -> None:
    api.get(STATUS, json=status("awaiting_scheduler"))
    api.get(STATUS, json=status("retrying"))
    api.get(STATUS, json=status("paused_by_operator"))  # a status a newer server may add
    api.get(STATUS, json=status("completed"))
    assert client.wait_for_execution(EXECUTION_ID, progress=False).status == "completed"
    assert len(api.calls) == 4


def test_phase_changes_are_reported_once_each(
    api: ConformanceMock,
    client: BeampipeClient,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api.get(STATUS, json=status("pending"))
    api.get(STATUS, json=status("running", execution_phase="stage_and_manifest"))
    api.get(
        STATUS,
        json=status("running", execution_phase="stage_and_manifest", control_phase="admitted"),
    )
    # Same description again (another field changed): not reported twice.
    api.get(
        STATUS,
        json=status(
            "running",
            execution_phase="stage_and_manifest",
            control_phase="admitted",
            scheduler_state="pending",
        ),
    )
    api.get(
        STATUS,
        json=status("awaiting_scheduler", execution_phase="submit", control_phase="submitted"),
    )
    api.get(STATUS, json=status("completed", control_phase="terminal"))

    with caplog.at_level(logging.INFO, logger="controldeck"):
        client.wait_for_execution(EXECUTION_ID, poll_interval=1, progress=False)

    shown = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("waiting for")
    ]
    what = f"waiting for execution {EXECUTION_ID}"
    assert shown == [
        f"{what}: pending",
        f"{what}: running (phase stage_and_manifest)",
        f"{what}: running (phase stage_and_manifest, control admitted)",
        f"{what}: awaiting_scheduler (phase submit, control submitted)",
        f"{what}: completed (control terminal)",
    ]
    assert len(api.calls) == 6


def test_the_bar_shows_the_phases(
    api: ConformanceMock,
    client: BeampipeClient,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.get(STATUS, json=status("running", execution_phase="submit", control_phase="monitoring"))
    api.get(STATUS, json=status("completed", control_phase="terminal"))
    out = io.StringIO()
    # Bar output goes to stderr; wait_for writes the bar where `file` says, default stderr.
    monkeypatch.setattr("sys.stderr", out)

    client.wait_for_execution(EXECUTION_ID, poll_interval=1, progress=True)

    text = out.getvalue()
    assert f"execution {EXECUTION_ID}: running (phase submit, control monitoring)" in text
    assert f"execution {EXECUTION_ID}: completed (control terminal)" in text


def test_timeout_carries_the_last_status(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
) -> None:
    for _ in range(10):
        api.get(STATUS, json=status("running", control_phase="monitoring"))

    with pytest.raises(WaitTimeoutError) as info:
        client.wait_for_execution(EXECUTION_ID, timeout=10, poll_interval=4, progress=False)

    last = info.value.last_state
    assert last is not None
    assert (last.status, last.control_phase) == ("running", "monitoring")
    assert "running (control monitoring)" in str(info.value)
    # Never sleeps past the deadline: the final check happens exactly at it.
    assert sum(fake_time.sleeps) == pytest.approx(10)
    assert len(api.calls) == len(fake_time.sleeps) + 1


def test_a_404_is_raised_not_waited_out(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
) -> None:
    body = error_body(
        "not_found",
        "the requested resource was not found",
        cls="not_found",
        retry="after_remediation",
    )
    api.get(STATUS, json=status("running"))
    api.get(STATUS, status=404, json=body)

    with pytest.raises(NotFoundError):
        client.wait_for_execution(EXECUTION_ID, progress=False)

    assert len(api.calls) == 2
    assert len(fake_time.sleeps) == 1


def test_per_poll_options_reach_each_request(
    api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
) -> None:
    api.get(STATUS, json=status("completed"))
    client.wait_for_execution(
        EXECUTION_ID, request_timeout=3, max_retries=0, extra_headers={"x-request-id": "r-1"}
    )
    assert api.calls[0].request.headers["x-request-id"] == "r-1"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"execution_id": "nope"}, "execution_id must be a UUID"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"timeout": True}, "timeout must be positive"),
        ({"poll_interval": -1}, "poll_interval must be positive"),
        ({"progress": "yes"}, "progress must be True, False or None"),
        ({"deadline": 5}, "unexpected keyword arguments: deadline"),
        ({"request_timeout": 0}, "timeout"),
    ],
)
def test_argument_errors_send_nothing(
    api: ConformanceMock,
    client: BeampipeClient,
    fake_time: FakeTime,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    args: dict[str, Any] = {"execution_id": EXECUTION_ID}
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError) as info:
        client.wait_for_execution(**args)
    assert fragment in str(info.value)
    assert len(api.calls) == 0
