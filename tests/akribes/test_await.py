"""Waiting for executions (`await_execution`, `run_and_await`) and `run_stream`'s delegation.

The client's transport clock and sleep are replaced by a fake clock, so no test sleeps.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controldeck.akribes import AkribesClient
from controldeck.akribes import _events as events_module
from controldeck.akribes._errors import ExecutionFailedError
from controldeck.errors import InternalServerError, InvalidArgumentError, WaitTimeoutError
from tests._clock import FakeTime
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID

EID = "abc-456"
OUTPUT = f"{BASE_URL}/executions/{EID}/output"
RUN = f"{BASE_URL}/projects/{PID}/scripts/triage/run"
NOT_FOUND = {"error": "not found"}


@pytest.fixture
def fake_time(client: AkribesClient) -> FakeTime:
    fake = FakeTime(100.0)
    client._transport.clock = fake.clock
    client._transport.sleep = fake.sleep
    return fake


def test_await_polls_through_not_found_and_running_until_completed(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json=NOT_FOUND, status=404)
    api.get(OUTPUT, json={"status": "running"})
    api.get(OUTPUT, json={"status": "completed", "result": {"answer": 42}})

    output = client.executions.await_execution(EID, poll_interval=0.5, progress=False)

    assert (output.status, output.result) == ("completed", {"answer": 42})
    assert [c.request.path_url for c in api.calls] == [f"/executions/{EID}/output"] * 3
    assert all(c.request.headers["Authorization"] == AUTH for c in api.calls)
    assert len(fake_time.sleeps) == 2
    assert fake_time.sleeps[0] == 0.5
    assert fake_time.sleeps[1] >= 0.5


def test_await_returns_a_suspended_execution(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json={"status": "suspended"})

    assert client.executions.await_execution(EID).status == "suspended"
    assert fake_time.sleeps == []


def test_await_failed_raises_with_kind_and_transience(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json={"status": "failed", "error": "429 from model", "error_kind": "RateLimit"})

    with pytest.raises(ExecutionFailedError) as caught:
        client.executions.await_execution(EID)

    error = caught.value
    assert (error.execution_id, error.status, error.error_kind) == (EID, "failed", "RateLimit")
    assert error.transient is True
    assert error.error == "429 from model"
    assert str(error) == f"execution {EID} failed [RateLimit]: 429 from model"
    assert pickle.loads(pickle.dumps(error)).error_kind == "RateLimit"


def test_await_cancelled_raises_not_transient(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json={"status": "running"})
    api.get(OUTPUT, json={"status": "cancelled"})

    with pytest.raises(ExecutionFailedError) as caught:
        client.executions.await_execution(EID)

    assert (caught.value.status, caught.value.error_kind) == ("cancelled", None)
    assert caught.value.transient is False
    assert len(api.calls) == 2


def test_await_times_out_with_the_last_state(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json={"status": "running"})

    with pytest.raises(WaitTimeoutError) as caught:
        client.executions.await_execution(EID, timeout=2, poll_interval=0.5)

    assert caught.value.last_state is not None
    assert caught.value.last_state.status == "running"
    assert f"execution {EID}" in str(caught.value)
    # Never sleeps past the deadline: the final check happens exactly at it.
    assert sum(fake_time.sleeps) == pytest.approx(2.0)


def test_await_lets_other_errors_through(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json={"error": "db down"}, status=500)

    with pytest.raises(InternalServerError, match="db down"):
        client.executions.await_execution(EID)
    assert len(api.calls) == 1


def test_await_passes_request_options_to_every_poll(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.get(OUTPUT, json=NOT_FOUND, status=404)
    api.get(OUTPUT, json={"status": "completed"})

    client.executions.await_execution(
        EID, request_timeout=3, max_retries=0, extra_headers={"X-Trace": "t-1"}
    )

    assert [c.request.headers["X-Trace"] for c in api.calls] == ["t-1", "t-1"]


def test_await_shows_a_bar_when_asked(
    api: ConformanceMock,
    client: AkribesClient,
    fake_time: FakeTime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api.get(OUTPUT, json={"status": "completed"})

    client.executions.await_execution(EID, progress=True)

    assert f"execution {EID}: completed" in capsys.readouterr().err


def test_await_shows_no_bar_off_a_terminal(
    api: ConformanceMock,
    client: AkribesClient,
    fake_time: FakeTime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api.get(OUTPUT, json={"status": "completed"})

    client.executions.await_execution(EID)

    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs",
    [
        {"execution_id": ""},
        {"execution_id": 5},
        {"execution_id": EID, "poll_interval": 0},
        {"execution_id": EID, "timeout": -1},
        {"execution_id": EID, "progress": "yes"},
        {"execution_id": EID, "request_timeout": None},
        {"execution_id": EID, "timeout_ms": 5},
    ],
)
def test_await_bad_arguments_send_nothing(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.executions.await_execution(**kwargs)
    assert len(api.calls) == 0


# -- run_and_await -----------------------------------------------------------------------


def test_run_and_await_runs_then_polls(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.post(RUN, json={"execution_id": EID})
    api.get(OUTPUT, json=NOT_FOUND, status=404)
    api.get(OUTPUT, json={"status": "completed", "result": "done"})

    run, output = client.project(PID).executions.run_and_await(
        "triage", inputs={"n": 1}, channel="staging", extra_headers={"X-Trace": "t-2"}
    )

    assert run.execution_id == EID
    assert (output.status, output.result) == ("completed", "done")
    first = api.calls[0].request
    assert first.path_url == f"/projects/{PID}/scripts/triage/run?channel=staging"
    assert json.loads(first.body) == {"inputs": {"n": 1}, "triggered_by": "tests"}
    assert "Idempotency-Key" in first.headers
    assert [c.request.path_url for c in api.calls[1:]] == [f"/executions/{EID}/output"] * 2
    assert [c.request.headers["X-Trace"] for c in api.calls] == ["t-2"] * 3


def test_run_and_await_failure_names_the_execution(
    api: ConformanceMock, client: AkribesClient, fake_time: FakeTime
) -> None:
    api.post(RUN, json={"execution_id": EID})
    api.get(OUTPUT, json={"status": "failed", "error_kind": "AuthError"})

    with pytest.raises(ExecutionFailedError) as caught:
        client.project(PID).executions.run_and_await("triage")
    assert (caught.value.execution_id, caught.value.transient) == (EID, False)


@pytest.mark.parametrize(
    "kwargs",
    [{"poll_interval": -1}, {"timeout": 0}, {"progress": 1}, {"inputs": 3}, {"bogus": 1}],
)
def test_run_and_await_checks_wait_arguments_before_running(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.project(PID).executions.run_and_await("triage", **kwargs)
    assert len(api.calls) == 0


# -- run_stream --------------------------------------------------------------------------


def test_run_stream_delegates_to_watch_run_which_starts_the_run(
    api: ConformanceMock, client: AkribesClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    sentinel = object()

    def watch_run(
        got_client: AkribesClient,
        project_id: int,
        script_name: str,
        *,
        start: Callable[[], str],
        **options: Any,
    ) -> Any:
        seen.update(client=got_client, project_id=project_id, script_name=script_name)
        seen["options"] = options
        assert len(api.calls) == 0  # nothing is posted before the stream is attached
        seen["execution_id"] = start()
        return sentinel

    monkeypatch.setattr(events_module, "watch_run", watch_run, raising=False)
    api.post(RUN, json={"execution_id": EID})

    stream = client.project(PID).executions.run_stream(
        "triage",
        channel="staging",
        inputs={"n": 1},
        triggered_by="me",
        breakpoint_lines=[3],
        idempotency_key="k-1",
        extra_headers={"X-Trace": "t-3"},
    )

    assert stream is sentinel
    assert seen == {
        "client": client,
        "project_id": PID,
        "script_name": "triage",
        "options": {"extra_headers": {"X-Trace": "t-3"}},
        "execution_id": EID,
    }
    request = api.calls[0].request
    assert request.path_url == f"/projects/{PID}/scripts/triage/run?channel=staging"
    assert (request.headers["Idempotency-Key"], request.headers["X-Trace"]) == ("k-1", "t-3")
    assert json.loads(request.body) == {
        "inputs": {"n": 1},
        "triggered_by": "me",
        "breakpoint_lines": [3],
    }


def test_run_stream_rejects_an_empty_name_before_subscribing(
    api: ConformanceMock, client: AkribesClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def watch_run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        raise AssertionError("must not subscribe")

    monkeypatch.setattr(events_module, "watch_run", watch_run, raising=False)

    with pytest.raises(InvalidArgumentError):
        client.project(PID).executions.run_stream("")
    assert len(api.calls) == 0
