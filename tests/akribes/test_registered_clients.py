"""`project(pid).registered_clients`: registration, the heartbeat thread, clients and locks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from controldeck._generated.akribes import ClientInterest
from controldeck.akribes import AkribesClient, _clients
from controldeck.akribes._clients import Heartbeat
from controldeck.errors import APIConnectionError, InvalidArgumentError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID, TOKEN

PROJECT = f"{BASE_URL}/projects/{PID}"
CLIENT_ID = "3f0c5a8e-0000-4000-8000-000000000001"
LOCK: dict[str, Any] = {
    "id": 12,
    "client_id": CLIENT_ID,
    "client_name": "tests",
    "script_name": "my script",
    "channel": "production",
    "bound_version_id": 5,
    "lifetime": "session",
    "drifted": False,
    "created_at": "2026-01-01T00:00:00Z",
    "input_schema": "ticket: str",
}
REGISTERED = {
    "interests": [
        {
            "script_name": "triage",
            "channel": "production",
            "bound_version_id": 5,
            "input_schema": [["ticket", "str"]],
        }
    ]
}

pytestmark = pytest.mark.usefixtures("api")


@pytest.fixture
def client() -> Iterator[AkribesClient]:
    with AkribesClient(
        BASE_URL, token=TOKEN, name="tests", client_id=CLIENT_ID, max_retries=0
    ) as c:
        yield c


def beating(client: AkribesClient) -> bool:
    return client in _clients._running


def heartbeat_of(client: AkribesClient) -> Heartbeat:
    return _clients._running[client][0]


class Beats:
    """Counts heartbeats the mock receives and tells when `wanted` have arrived."""

    def __init__(self, wanted: int, *, failures: int = 0) -> None:
        self.wanted = wanted
        self.failures = failures
        self.count = 0
        self.arrived = threading.Event()

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.count += 1
        if self.count >= self.wanted:
            self.arrived.set()
        if self.count <= self.failures:
            return 503, {"Content-Type": "application/json"}, '{"error": "down"}'
        return 200, {"Content-Type": "application/json"}, "{}"


def test_init_registers_and_beats_until_destroy(
    api: ConformanceMock, client: AkribesClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_clients, "HEARTBEAT_INTERVAL", 0.01)
    beats = Beats(3)
    api.post(f"{PROJECT}/clients", json=REGISTERED)
    api.add_callback("POST", f"{BASE_URL}/heartbeat", callback=beats)
    clients = client.project(PID).registered_clients

    reply = clients.init(
        [
            ClientInterest(script_name="triage", inputs={"ticket": "str"}),
            {"script_name": "sum", "inputs": {}, "channel": "staging", "strict": True},
        ]
    )
    assert beats.arrived.wait(5)
    clients.destroy()

    assert not beating(client)
    count = beats.count
    register = api.calls[0].request
    assert register.headers["Authorization"] == AUTH
    assert json.loads(register.body) == {
        "id": CLIENT_ID,
        "name": "tests",
        "interests": [
            {"script_name": "triage", "inputs": {"ticket": "str"}},
            {"script_name": "sum", "inputs": {}, "channel": "staging", "strict": True},
        ],
    }
    assert reply.interests[0].bound_version_id == 5
    assert reply.interests[0].input_schema == [("ticket", "str")]
    pings = [c.request for c in api.calls if c.request.url == f"{BASE_URL}/heartbeat"]
    assert len(pings) == count >= 3
    assert all(json.loads(p.body) == {"client_id": CLIENT_ID} for p in pings)
    assert all(p.headers["Authorization"] == AUTH for p in pings)
    assert beats.count == count  # nothing after destroy()


def test_close_stops_the_heartbeat(api: ConformanceMock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_clients, "HEARTBEAT_INTERVAL", 0.01)
    beats = Beats(2)
    api.post(f"{PROJECT}/clients", json={})
    api.add_callback("POST", f"{BASE_URL}/heartbeat", callback=beats)
    client = AkribesClient(BASE_URL, token=TOKEN, client_id=CLIENT_ID, max_retries=0)

    reply = client.project(PID).registered_clients.init([])
    heartbeat = heartbeat_of(client)
    assert beats.arrived.wait(5)
    client.close()

    assert reply.interests == []
    assert not heartbeat.running
    assert not beating(client)


def test_init_again_replaces_the_heartbeat(
    api: ConformanceMock, client: AkribesClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post(f"{PROJECT}/clients", json={})
    clients = client.project(PID).registered_clients

    clients.init([])
    first = heartbeat_of(client)
    client.project(PID).registered_clients.init([])
    second = heartbeat_of(client)

    assert first is not second
    assert not first.running and second.running
    client.project(PID).registered_clients.destroy()
    assert not second.running
    clients.destroy()  # nothing left to stop: no error


def test_heartbeat_backs_off_on_failure_and_resets_on_success() -> None:
    bounds: list[float] = []
    outcomes = iter([False, False, False, False, False, True, False, True])
    calls = 0

    def jitter(low: float, high: float) -> float:
        bounds.append(high)
        assert low == 0.0
        return 0.0  # full jitter may pick no wait at all; keeps the test instant

    heartbeat = Heartbeat(lambda: None, interval=0.001, base=1.0, cap=10.0, jitter=jitter)

    def beat() -> None:
        nonlocal calls
        calls += 1
        ok = next(outcomes, None)
        if ok is None:
            heartbeat.stop()
        elif not ok:
            raise APIConnectionError("refused", method="POST", url="/heartbeat")

    heartbeat._beat = beat
    heartbeat.run()

    assert bounds == [1.0, 2.0, 4.0, 8.0, 10.0, 1.0]
    assert calls == 9


def test_heartbeat_survives_a_failing_server(
    api: ConformanceMock, client: AkribesClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_clients, "HEARTBEAT_INTERVAL", 0.01)
    monkeypatch.setattr(_clients, "HEARTBEAT_BACKOFF_BASE", 0.001)
    beats = Beats(4, failures=2)
    api.post(f"{PROJECT}/clients", json={})
    api.add_callback("POST", f"{BASE_URL}/heartbeat", callback=beats)

    client.project(PID).registered_clients.init([])
    assert beats.arrived.wait(5)
    client.project(PID).registered_clients.destroy()

    assert beats.count >= 4


def test_list_and_delete_clients(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(
        f"{PROJECT}/clients",
        json=[{"id": CLIENT_ID, "name": "tests", "last_seen": "2026-01-01T00:00:00Z"}],
    )
    api.delete(f"{BASE_URL}/clients/a%2Fb", status=204)
    api.delete(f"{BASE_URL}/clients/a%2Fb", status=404, json={"error": "none"})
    clients = client.project(PID).registered_clients

    listed = list(clients.list())
    clients.delete("a/b")
    clients.delete("a/b")

    assert [(c.id, c.scripts) for c in listed] == [(CLIENT_ID, [])]
    assert api.calls[0].request.url == f"{PROJECT}/clients?limit=200&offset=0"
    assert [c.request.method for c in api.calls[1:]] == ["DELETE", "DELETE"]


def test_list_clients_is_empty_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{PROJECT}/clients", status=404, json={"error": "none"})
    assert list(client.project(PID).registered_clients.list()) == []


def test_locks(api: ConformanceMock, client: AkribesClient) -> None:
    locks = f"{PROJECT}/scripts/my%20script/locks"
    api.get(locks, json=[LOCK])
    api.delete(f"{locks}/12", status=204)
    api.delete(f"{locks}/12", status=404, json={"error": "none"})
    api.patch(f"{locks}/12/rebind", json=LOCK)
    api.patch(f"{locks}/12/rebind", json={**LOCK, "bound_version_id": None})
    clients = client.project(PID).registered_clients

    listed = list(clients.list_locks("my script"))
    clients.revoke_lock("my script", 12)
    clients.revoke_lock("my script", 12)
    bound = clients.rebind_lock("my script", 12, 5)
    unbound = clients.rebind_lock("my script", 12)

    assert [(lock.id, lock.drifted) for lock in listed] == [(12, False)]
    assert api.calls[0].request.url == f"{locks}?limit=200&offset=0"
    assert json.loads(api.calls[3].request.body) == {"version_id": 5}
    assert json.loads(api.calls[4].request.body) == {"version_id": None}
    assert (bound.bound_version_id, unbound.bound_version_id) == (5, None)


def test_list_locks_is_empty_on_404(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{PROJECT}/scripts/s/locks", status=404, json={"error": "none"})
    assert list(client.project(PID).registered_clients.list_locks("s")) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.init("triage"),
        lambda c: c.init([3]),
        lambda c: c.init([{"script_name": "triage"}]),
        lambda c: c.init([{"script_name": "t", "inputs": {}, "colour": "red"}]),
        lambda c: c.delete(""),
        lambda c: c.list_locks(""),
        lambda c: c.revoke_lock("s", "12"),
        lambda c: c.rebind_lock("s", 12, "5"),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client.project(PID).registered_clients)
    assert len(api.calls) == 0
    assert not beating(client)
