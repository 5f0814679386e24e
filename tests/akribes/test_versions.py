"""`project(pid).versions`: the exact requests sent and the values decoded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from controldeck.akribes import AkribesClient
from controldeck.akribes._scripts import VersionsClient
from controldeck.errors import ConflictError, InvalidArgumentError, ResponseValidationError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import BASE_URL, PID
from tests.akribes.test_scripts import assert_sent, only_request

pytestmark = pytest.mark.usefixtures("api")

SCRIPT = f"{BASE_URL}/projects/{PID}/scripts/triage"
VERSION: dict[str, Any] = {
    "id": 31,
    "script_id": 12,
    "source": "workflow main {}",
    "label": "v2",
    "published_by": "alice@acme.com",
    "created_at": "2026-02-01T10:00:00Z",
}
MISMATCH: dict[str, Any] = {"missing": [], "wrong_type": [["n", "int", "string"]], "extra": []}


@pytest.fixture
def versions(client: AkribesClient) -> VersionsClient:
    return client.project(PID).versions


def test_list_pages_with_limit_and_offset(api: ConformanceMock, versions: VersionsClient) -> None:
    api.get(f"{SCRIPT}/versions", json=[VERSION, {**VERSION, "id": 30, "label": None}])

    listed = list(versions.list("triage"))

    assert_sent(only_request(api), "GET", f"{SCRIPT}/versions?limit=200&offset=0")
    assert [(v.id, v.label) for v in listed] == [(31, "v2"), (30, None)]


def test_list_of_a_missing_script_is_empty(api: ConformanceMock, versions: VersionsClient) -> None:
    api.get(f"{SCRIPT}/versions", status=404, json={"error": "script not found"})
    assert versions.list("triage").data == []


def test_get(api: ConformanceMock, versions: VersionsClient) -> None:
    api.get(f"{SCRIPT}/versions/31", json=VERSION)

    version = versions.get("triage", 31)

    assert_sent(only_request(api), "GET", f"{SCRIPT}/versions/31")
    assert version is not None
    assert (version.id, version.script_id, version.source) == (31, 12, "workflow main {}")
    assert version.published_by == "alice@acme.com"
    assert version.created_at == datetime(2026, 2, 1, 10, tzinfo=UTC)


def test_get_returns_none_on_404(api: ConformanceMock, versions: VersionsClient) -> None:
    api.get(f"{SCRIPT}/versions/99", status=404, json={"error": "version not found"})
    assert versions.get("triage", 99) is None


def test_get_latest_decodes_inputs(api: ConformanceMock, versions: VersionsClient) -> None:
    api.get(f"{SCRIPT}/latest", json={**VERSION, "inputs": [["ticket", "string"]]})

    latest = versions.get_latest("triage")

    assert_sent(only_request(api), "GET", f"{SCRIPT}/latest")
    assert latest is not None
    assert latest.id == 31
    assert latest.inputs == [("ticket", "string")]


def test_get_latest_returns_none_on_404(api: ConformanceMock, versions: VersionsClient) -> None:
    api.get(f"{SCRIPT}/latest", status=404, json={"error": "nothing published"})
    assert versions.get_latest("triage") is None


def test_publish_sends_only_channels_by_default(
    api: ConformanceMock, versions: VersionsClient
) -> None:
    api.post(f"{SCRIPT}/publish", status=201, json={"version": VERSION})

    outcome = versions.publish("triage", ["production"])

    assert_sent(only_request(api), "POST", f"{SCRIPT}/publish", {"channels": ["production"]})
    assert outcome.version.id == 31
    assert outcome.rebased is None


def test_publish_with_every_option(api: ConformanceMock, versions: VersionsClient) -> None:
    reply = {"version": VERSION, "rebased": [{"kind": "locks", "count": 2}]}
    api.post(f"{SCRIPT}/publish", status=201, json=reply)
    reason = "hotfix approved by the on-call lead"

    outcome = versions.publish(
        "triage",
        ("production", "staging"),
        label="v2",
        published_by="alice@acme.com",
        force=True,
        reason=reason,
    )

    assert_sent(
        only_request(api),
        "POST",
        f"{SCRIPT}/publish",
        {
            "channels": ["production", "staging"],
            "label": "v2",
            "published_by": "alice@acme.com",
            "force": True,
            "reason": reason,
        },
    )
    assert outcome.rebased is not None
    assert [(r.kind, r.count) for r in outcome.rebased] == [("locks", 2)]


def test_publish_to_no_channel_is_allowed(api: ConformanceMock, versions: VersionsClient) -> None:
    api.post(f"{SCRIPT}/publish", status=201, json={"version": VERSION})
    versions.publish("triage", [])
    assert_sent(only_request(api), "POST", f"{SCRIPT}/publish", {"channels": []})


def test_publish_that_would_break_clients_raises_conflict(
    api: ConformanceMock, versions: VersionsClient
) -> None:
    api.post(f"{SCRIPT}/publish", status=409, json={"error": "2 registered clients would break"})
    with pytest.raises(ConflictError, match="2 registered clients would break"):
        versions.publish("triage", ["production"])


def test_publish_dry_run(api: ConformanceMock, versions: VersionsClient) -> None:
    reply: dict[str, Any] = {
        "dry_run": True,
        "would_break": 1,
        "breaking_interests": [
            {
                "client_id": "c-1",
                "client_name": "billing-worker",
                "channel": "production",
                "lifetime": "session",
                "mismatch": MISMATCH,
            }
        ],
    }
    api.post(f"{SCRIPT}/publish", json=reply)

    result = versions.publish_dry_run("triage", ["production"], label="v3")

    assert_sent(
        only_request(api),
        "POST",
        f"{SCRIPT}/publish",
        {"channels": ["production"], "label": "v3", "dry_run": True},
    )
    assert result.dry_run is True
    assert result.would_break == 1
    interest = result.breaking_interests[0]
    assert (interest.client_name, interest.lifetime) == ("billing-worker", "session")
    assert interest.mismatch.wrong_type == [("n", "int", "string")]


def test_publish_reply_of_the_wrong_shape_is_a_validation_error(
    api: ConformanceMock, versions: VersionsClient
) -> None:
    # A dry-run reply to a real publish (a server ignoring dry_run=false) must not pass.
    reply = {"dry_run": True, "would_break": 0, "breaking_interests": []}
    api.post(f"{SCRIPT}/publish", status=201, json=reply)
    with pytest.raises(ResponseValidationError, match="version"):
        versions.publish("triage", ["production"])


BAD_CALLS: list[tuple[str, Callable[[VersionsClient], object], str]] = [
    ("list empty", lambda v: v.list(""), "name must not be empty"),
    ("get str id", lambda v: v.get("triage", "31"), "version_id must be an id"),  # type: ignore[arg-type]
    ("get bool id", lambda v: v.get("triage", True), "version_id must be an id"),
    ("latest empty", lambda v: v.get_latest(""), "name must not be empty"),
    ("channels str", lambda v: v.publish("triage", "production"), "channels must be a list"),
    ("channel empty", lambda v: v.publish("triage", [""]), r"channels\[0\] must not be empty"),
    ("force str", lambda v: v.publish("triage", [], force="yes"), "force must be a bool"),  # type: ignore[arg-type]
    (
        "reason unforced",
        lambda v: v.publish("triage", [], reason="x" * 30),
        "reason is only sent with force=True",
    ),
    (
        "dry reason unforced",
        lambda v: v.publish_dry_run("triage", [], reason="x" * 30),
        "reason is only sent with force=True",
    ),
    ("label empty", lambda v: v.publish("triage", [], label=""), "label must not be empty"),
    (
        "published_by int",
        lambda v: v.publish_dry_run("triage", [], published_by=3),  # type: ignore[arg-type]
        "published_by must be a string",
    ),
]


@pytest.mark.parametrize(
    ("call", "message"), [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS]
)
def test_bad_arguments_send_nothing(
    api: ConformanceMock,
    versions: VersionsClient,
    call: Callable[[VersionsClient], object],
    message: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        call(versions)
    assert len(api.calls) == 0
