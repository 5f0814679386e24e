"""Akribes event streams over real loopback sockets: resume, reconnect budget, idle limit,
and the race between a run's first events and the reply to its POST.

Reconnect waits never sleep for real: the client's transport records them instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from controldeck._generated import akribes as m
from controldeck.akribes import AkribesClient
from controldeck.akribes._events import watch_run
from controldeck.errors import APITimeoutError, InternalServerError
from tests.akribes.conftest import AUTH, PID, TOKEN
from tests.wire.server import (
    AWAIT_CLOSE,
    HANG,
    LAST_CHUNK,
    RESET,
    Delay,
    Request,
    Script,
    Server,
    Wait,
    chunk,
    response,
    stream_head,
)

SANDBOX = 42


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def batch(id_: int | str, *events: Any) -> bytes:
    return f"id: {id_}\nevent: batch\ndata: {json.dumps(list(events))}\n\n".encode()


def deleted(project_id: int) -> dict[str, Any]:
    return {"type": "Registry", "payload": {"type": "ProjectDeleted", "payload": project_id}}


def hub_deleted(project_id: int) -> Any:
    return m.RegistryHubEvent(payload=m.ProjectDeletedEvent(payload=project_id))


def execution(execution_id: str, event: dict[str, Any]) -> dict[str, Any]:
    payload = {"project_id": SANDBOX, "script_name": "adhoc", "execution_id": execution_id}
    return {"type": "Execution", "payload": {**payload, "event": event}}


def log(text: str) -> dict[str, Any]:
    return {"type": "Log", "payload": text}


WORKFLOW_END = {"type": "WorkflowEnd", "payload": "done"}  # the legacy shape


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def connect(sleeps: Sleeps) -> Iterator[Any]:
    made: list[AkribesClient] = []

    def make(server: Server, **kwargs: Any) -> AkribesClient:
        client = AkribesClient(server.base_url, token=TOKEN, max_retries=0, **kwargs)
        client._transport.sleep = sleeps
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def last_ids(server: Server) -> list[str | None]:
    return [r.headers.get("last-event-id") for r in server.requests]


def test_a_drop_reconnects_with_the_last_numeric_id(connect: Any, sleeps: Sleeps) -> None:
    def handler(request: Request) -> Script:
        if "last-event-id" not in request.headers:
            # `id: abc` is not a cursor (upstream parses ids as integers), and the message
            # with `id: 6` is cut off before it ends: 5 is the last delivered cursor.
            tail = b"id: abc\nevent: ping\ndata: 1\n\nid: 6\nevent: batch\ndata: [{"
            return [stream_head(), chunk(batch(5, deleted(1)) + tail), RESET]
        return [stream_head(), chunk(batch(7, deleted(2))), LAST_CHUNK]

    with Server(handler) as server:
        client = connect(server, on_behalf_of="al@acme.com")
        with client.events(PID, script_name="triage") as stream:
            assert list(stream) == [hub_deleted(1), hub_deleted(2)]
    assert last_ids(server) == [None, "5"]
    for request in server.requests:
        assert request.target == f"/events?project_id={PID}&script_name=triage"
        assert request.headers["accept"] == "text/event-stream"
        assert request.headers["authorization"] == AUTH
        assert request.headers["x-akribes-user"] == "al@acme.com"
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5  # jittered backoff_delay(0)


def test_the_reconnect_budget_resets_after_each_connection_that_delivers(
    connect: Any, sleeps: Sleeps
) -> None:
    # Seven drops in a row, more than the 5 reconnects allowed in a row: each reopened
    # connection delivers before it drops, so the stream never gives up.
    scripts: list[Script] = [
        [stream_head(), chunk(batch(i, deleted(i))), RESET] for i in range(1, 8)
    ]
    scripts.append([stream_head(), chunk(batch(8, deleted(8))), LAST_CHUNK])
    with Server(scripts) as server, connect(server).events(PID) as stream:
        assert list(stream) == [hub_deleted(i) for i in range(1, 9)]
    assert last_ids(server) == [None, *map(str, range(1, 8))]
    assert len(sleeps) == 7 and all(0.375 <= s <= 0.5 for s in sleeps)


def test_five_failed_reopens_in_a_row_raise_the_last_error(connect: Any, sleeps: Sleeps) -> None:
    scripts: list[Script] = [
        [stream_head(), chunk(batch(1, deleted(1))), RESET],
        response(503, {"error": "hub restarting"}),
    ]
    with Server(scripts) as server:
        stream = connect(server).events(PID)
        assert next(stream) == hub_deleted(1)
        with pytest.raises(InternalServerError, match="hub restarting"):
            next(stream)
        assert stream.closed
    assert len(server.requests) == 6 and len(sleeps) == 5
    assert last_ids(server) == [None, "1", "1", "1", "1", "1"]


def test_the_idle_limit_replaces_the_read_timeout(connect: Any) -> None:
    script: Script = [stream_head(), Delay(0.15), chunk(batch(1, deleted(1))), LAST_CHUNK]
    with Server([script]) as server:
        # A 0.05 s read timeout would cut the stream; the 2 s idle limit is what applies.
        client = connect(server, timeout=(1, 0.05))
        with client.events(PID, idle_timeout=2) as stream:
            assert list(stream) == [hub_deleted(1)]


def test_silence_beyond_the_idle_limit_raises(connect: Any, sleeps: Sleeps) -> None:
    with Server([[stream_head(), chunk(batch(1, deleted(1))), HANG]]) as server:
        stream = connect(server).events(PID, idle_timeout=0.1)
        assert next(stream) == hub_deleted(1)
        with pytest.raises(
            APITimeoutError, match=r"no data arrived for [0-9.]+ s \(idle timeout\)"
        ):
            next(stream)
    assert len(server.requests) == 1 and sleeps == []  # raised, not reconnected


def test_run_events_sent_before_the_post_returns_are_not_lost(connect: Any) -> None:
    posted = threading.Event()

    def handler(request: Request) -> Script:
        if request.path == "/me/sandbox":
            return response(200, {"project_id": SANDBOX})
        if request.path == "/events":
            early = batch(1, execution("e8", log("another run")), execution("e9", log("first")))
            rest = batch(2, execution("e9", WORKFLOW_END), execution("e9", log("after")))
            # The run's events go out while the POST is still waiting for its reply.
            return [stream_head(), Wait(posted), chunk(early), chunk(rest), AWAIT_CLOSE]
        posted.set()
        return [Delay(0.15), response(200, {"execution_id": "e9", "project_id": SANDBOX})]

    with Server(handler) as server:
        client = connect(server, name="race")
        with client.run_adhoc_stream("workflow main {}") as stream:
            events = list(stream)
        assert server.client_closed.wait(2)  # the end of the run released the connection
    assert events == [m.LogEvent(payload="first"), m.WorkflowEndEvent(payload="done")]
    assert [r.target for r in server.requests] == [
        "/me/sandbox",
        f"/events?project_id={SANDBOX}&script_name=adhoc",
        "/execute",
    ]
    assert server.requests[2].json() == {"source": "workflow main {}", "triggered_by": "race"}


def test_a_failing_start_closes_the_subscription(connect: Any) -> None:
    attached: list[int] = []

    def start() -> str:
        attached.append(len(server.requests))
        raise RuntimeError("could not post the run")

    with Server([[stream_head(), AWAIT_CLOSE]]) as server:
        with pytest.raises(RuntimeError, match="could not post the run"):
            watch_run(connect(server), PID, "triage", start=start)
        assert server.client_closed.wait(2)
    assert attached == [1]
