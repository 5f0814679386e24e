"""`project(pid).channels`: the exact requests sent and the values decoded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from controldeck.akribes import AkribesClient
from controldeck.akribes._scripts import ChannelsClient
from controldeck.errors import ConflictError, InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import BASE_URL, PID
from tests.akribes.test_scripts import assert_sent, only_request

pytestmark = pytest.mark.usefixtures("api")

CHANNELS = f"{BASE_URL}/projects/{PID}/scripts/triage/channels"
CHANNEL: dict[str, Any] = {
    "id": 5,
    "script_id": 12,
    "name": "production",
    "version_id": 31,
    "updated_at": "2026-02-01T10:00:00Z",
}


@pytest.fixture
def channels(client: AkribesClient) -> ChannelsClient:
    return client.project(PID).channels


def test_list_pages_with_limit_and_offset(api: ConformanceMock, channels: ChannelsClient) -> None:
    fresh = {"id": 6, "script_id": 12, "name": "canary"}
    api.get(CHANNELS, json=[CHANNEL, fresh])

    listed = list(channels.list("triage"))

    assert_sent(only_request(api), "GET", f"{CHANNELS}?limit=200&offset=0")
    assert [(c.name, c.version_id) for c in listed] == [("production", 31), ("canary", None)]
    assert listed[0].updated_at == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert listed[1].updated_at is None


def test_list_of_a_missing_script_is_empty(api: ConformanceMock, channels: ChannelsClient) -> None:
    api.get(CHANNELS, status=404, json={"error": "script not found"})
    assert list(channels.list("triage")) == []


def test_create(api: ConformanceMock, channels: ChannelsClient) -> None:
    api.post(CHANNELS, status=201, json={"id": 6, "script_id": 12, "name": "canary"})

    created = channels.create("triage", "canary")

    assert_sent(only_request(api), "POST", CHANNELS, {"name": "canary"})
    assert (created.id, created.name, created.version_id) == (6, "canary", None)


def test_delete_encodes_the_channel(api: ConformanceMock, channels: ChannelsClient) -> None:
    api.delete(f"{CHANNELS}/blue%2Fgreen", status=204)
    channels.delete("triage", "blue/green")
    assert_sent(only_request(api), "DELETE", f"{CHANNELS}/blue%2Fgreen")


def test_delete_of_a_missing_channel_raises(api: ConformanceMock, channels: ChannelsClient) -> None:
    api.delete(f"{CHANNELS}/gone", status=404, json={"error": "channel not found"})
    with pytest.raises(NotFoundError, match="channel not found"):
        channels.delete("triage", "gone")


def test_move_to_leaves_force_out_unless_true(
    api: ConformanceMock, channels: ChannelsClient
) -> None:
    api.patch(f"{CHANNELS}/production", status=204)

    channels.move_to("triage", "production", 31)

    assert_sent(only_request(api), "PATCH", f"{CHANNELS}/production", {"version_id": 31})


def test_move_to_with_force(api: ConformanceMock, channels: ChannelsClient) -> None:
    api.patch(f"{CHANNELS}/production", status=200)
    channels.move_to("triage", "production", 30, force=True)
    assert_sent(
        only_request(api), "PATCH", f"{CHANNELS}/production", {"version_id": 30, "force": True}
    )


def test_move_to_that_would_break_clients_raises_conflict(
    api: ConformanceMock, channels: ChannelsClient
) -> None:
    api.patch(f"{CHANNELS}/production", status=409, json={"error": "1 client would break"})
    with pytest.raises(ConflictError, match="1 client would break"):
        channels.move_to("triage", "production", 30)


BAD_CALLS: list[tuple[str, Callable[[ChannelsClient], object], str]] = [
    ("list empty", lambda c: c.list(""), "name must not be empty"),
    ("create empty", lambda c: c.create("triage", ""), "channel must not be empty"),
    ("delete empty", lambda c: c.delete("triage", ""), "channel must not be empty"),
    ("move str version", lambda c: c.move_to("triage", "p", "31"), "version_id must be an id"),  # type: ignore[arg-type]
    ("move negative", lambda c: c.move_to("triage", "p", -2), "version_id must be an id"),
    ("move force int", lambda c: c.move_to("triage", "p", 3, force=1), "force must be a bool"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("call", "message"), [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS]
)
def test_bad_arguments_send_nothing(
    api: ConformanceMock,
    channels: ChannelsClient,
    call: Callable[[ChannelsClient], object],
    message: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        call(channels)
    assert len(api.calls) == 0
