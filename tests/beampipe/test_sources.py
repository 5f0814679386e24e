"""Beampipe sources and discovery: exact requests, decoded replies, paging, the readiness wait."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from controldeck._core._models import UNSET
from controldeck._generated.beampipe import (
    ExecutionRow,
    ProvenanceEventResponse,
    SourceCreate,
    SourceExecutionStatus,
    SourceRegistryRow,
)
from controldeck.beampipe import BeampipeClient
from controldeck.errors import InvalidArgumentError, NotFoundError, WaitTimeoutError
from tests._clock import FakeTime
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, AUTH, EXECUTION_ID, NOW, SOURCE_ID, error_body

MODULE = "wallaby_hires"
SOURCE = "HIPASSJ1318-21"
WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NOT_FOUND = error_body("not_found", "not found", cls="not_found", retry="after_remediation")
NOT_RUN = (
    f"Source {SOURCE}: Discovery has not yet run for this source (last_checked_at is unset)."
    " Run discovery first (POST /api/v2/sources/discover)."
)
ALREADY_EXECUTED = (
    f"Source {SOURCE}: Discovery signature matches last executed run (already executed for"
    " current metadata)."
)


def row(n: int = 0, **fields: Any) -> dict[str, Any]:
    """A `SourceRegistryRow` as the server writes it: every Option key present."""
    data: dict[str, Any] = {
        "uuid": SOURCE_ID if n == 0 else str(uuid.UUID(int=n)),
        "project_module": MODULE,
        "source_identifier": SOURCE if n == 0 else f"SRC-{n}",
        "enabled": True,
        "stale_after_hours": None,
        "last_checked_at": None,
        "last_attempted_at": None,
        "discovery_signature": None,
        "last_executed_discovery_signature": None,
        "discovery_claim_token": None,
        "discovery_claim_expires_at": None,
        "workflow_run_pending": False,
        "workflow_run_pending_at": None,
        "workflow_claim_token": None,
        "workflow_claimed_at": None,
        "workflow_claim_expires_at": None,
        "created_at": NOW,
    }
    data.update(fields)
    return data


def status(*, ready: bool, complete: bool, blockers: list[str]) -> dict[str, Any]:
    return {
        "ready_for_execution": ready,
        "discovery_complete": complete,
        "workflow_run_pending": False,
        "discovery_signature": "sig-1" if complete else None,
        "last_executed_discovery_signature": None,
        "signature_matches_last_execution": False,
        "blockers": blockers,
    }


def execution_row(n: int) -> dict[str, Any]:
    """An `ExecutionRow` as stored: required keys plus Option keys that are null."""
    return {
        "uuid": str(uuid.UUID(int=0xE000 + n)),
        "project_module": MODULE,
        "sources": [{"source_identifier": SOURCE}],
        "archive_name": "casda",
        "deployment_profile_id": None,
        "deployment_profile_revision": None,
        "deployment_profile_snapshot": None,
        "project_config_id": None,
        "discovery_signature": "sig-1",
        "workflow_manifest": None,
        "execution_phase": None,
        "output_verification_required": False,
        "output_verification_policy": {},
        "phase_timestamps": {},
        "last_error": None,
        "status": "completed",
        "retry_count": 0,
        "created_at": NOW,
        "updated_at": None,
        "started_at": NOW,
        "completed_at": None,
    }


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def path(call: Any) -> str:
    return str(urlsplit(call.request.url).path)


def assert_json_request(call: Any, method: str, url_path: str) -> None:
    assert call.request.method == method
    assert path(call) == url_path
    assert call.request.headers["Authorization"] == AUTH
    assert call.request.headers["Content-Type"] == "application/json"


class TestCreate:
    def test_sends_enabled_true_by_default_and_decodes_the_row(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.post(f"{API}/sources", json=row())
        source = client.create_source(MODULE, SOURCE)
        call = api.calls[0]
        assert_json_request(call, "POST", "/api/v2/sources")
        # `enabled` is always on the wire: the server's default `false` would disable an
        # existing source on the upsert.
        sent = {"project_module": MODULE, "source_identifier": SOURCE, "enabled": True}
        assert body(call) == sent
        assert isinstance(source, SourceRegistryRow)
        assert (source.uuid, source.enabled, source.created_at) == (SOURCE_ID, True, WHEN)
        assert source.last_checked_at is None and source.stale_after_hours is None

    def test_enabled_false_is_sent_as_false(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.post(f"{API}/sources", json=row(enabled=False))
        assert client.create_source(MODULE, SOURCE, enabled=False).enabled is False
        assert body(api.calls[0])["enabled"] is False

    @pytest.mark.parametrize(
        ("args", "kwargs", "message"),
        [
            (("", SOURCE), {}, "project_module must not be empty"),
            ((MODULE, 42), {}, "source_identifier must be a string"),
            ((MODULE, SOURCE), {"enabled": None}, "enabled must be True or False"),
            ((MODULE, SOURCE), {"enabled": "false"}, "enabled must be True or False"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        client: BeampipeClient,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            client.create_source(*args, **kwargs)
        assert len(api.calls) == 0


class TestBulkCreate:
    def test_identifiers_of_one_module(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.post(f"{API}/sources/bulk", json={"items": [row(1), row(2)], "total": 2})
        reply = client.bulk_create_sources(MODULE, ("SRC-1", "SRC-2"))
        call = api.calls[0]
        assert_json_request(call, "POST", "/api/v2/sources/bulk")
        assert body(call) == {
            "items": [
                {"project_module": MODULE, "source_identifier": "SRC-1", "enabled": True},
                {"project_module": MODULE, "source_identifier": "SRC-2", "enabled": True},
            ]
        }
        assert reply.total == 2
        assert [s.source_identifier for s in reply.items] == ["SRC-1", "SRC-2"]

    def test_models_keep_their_own_enabled_and_unset_ones_get_the_default(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.post(f"{API}/sources/bulk", json={"items": [row(1), row(2)], "total": 2})
        unset = SourceCreate(project_module=MODULE, source_identifier="SRC-1")
        own = SourceCreate(project_module="other", source_identifier="SRC-2", enabled=True)
        client.bulk_create_sources(items=[unset, own], enabled=False)
        assert body(api.calls[0]) == {
            "items": [
                {"project_module": MODULE, "source_identifier": "SRC-1", "enabled": False},
                {"project_module": "other", "source_identifier": "SRC-2", "enabled": True},
            ]
        }
        assert unset.enabled is UNSET  # the caller's model is not changed

    def test_an_empty_list_is_sent_as_is(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.post(f"{API}/sources/bulk", json={"items": [], "total": 0})
        assert client.bulk_create_sources(MODULE, []).total == 0
        assert body(api.calls[0]) == {"items": []}

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "give project_module and source_identifiers, or items="),
            ({"project_module": MODULE}, "give project_module and source_identifiers"),
            (
                {"project_module": MODULE, "items": []},
                "either project_module and source_identifiers, or items=, not both",
            ),
            ({"project_module": MODULE, "source_identifiers": "SRC-1"}, "must be a list"),
            ({"project_module": MODULE, "source_identifiers": ["ok", ""]}, r"\[1\] must not"),
            ({"project_module": " ", "source_identifiers": ["a"]}, "project_module must not"),
            ({"items": "SRC-1"}, "items must be a list of SourceCreate"),
            ({"items": [{"project_module": MODULE}]}, r"items\[0\] must be a SourceCreate"),
            (
                {"items": [SourceCreate(project_module=MODULE, source_identifier="")]},
                r"items\[0\].source_identifier must not be empty",
            ),
            ({"items": [], "enabled": 1}, "enabled must be True or False"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        client: BeampipeClient,
        kwargs: dict[str, Any],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            client.bulk_create_sources(**kwargs)
        assert len(api.calls) == 0


class TestList:
    def test_pages_without_an_empty_request(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.get(f"{API}/sources", json=[row(1), row(2), row(3)])  # one more than a page
        api.get(f"{API}/sources", json=[row(3), row(4)])  # not more than a page: the end
        page = client.list_sources(MODULE, limit=2)
        assert len(api.calls) == 1  # lazy: only the first page so far
        assert [s.source_identifier for s in page.data] == ["SRC-1", "SRC-2"]
        assert [s.source_identifier for s in page] == ["SRC-1", "SRC-2", "SRC-3", "SRC-4"]
        assert len(api.calls) == 2  # four rows, pages of two: no third, empty request
        first, second = api.calls
        assert first.request.method == "GET" and path(first) == "/api/v2/sources"
        assert first.request.headers["Authorization"] == AUTH
        assert query(first) == {"project_module": [MODULE], "limit": ["3"], "offset": ["0"]}
        assert query(second) == {"project_module": [MODULE], "limit": ["3"], "offset": ["2"]}

    def test_defaults_and_no_module(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.get(f"{API}/sources", json=[row()])
        page = client.list_sources(offset=5)
        assert query(api.calls[0]) == {"limit": ["101"], "offset": ["5"]}
        assert page.has_next is False and next(iter(page)).uuid == SOURCE_ID

    @pytest.mark.parametrize(
        "kwargs",
        [{"limit": 0}, {"limit": 500}, {"limit": True}, {"offset": -1}, {"project_module": ""}],
    )
    def test_bad_arguments_send_nothing(
        self, api: ConformanceMock, client: BeampipeClient, kwargs: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            client.list_sources(**kwargs)
        assert len(api.calls) == 0


class TestOneSource:
    def test_get_canonicalises_the_id(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.get(f"{API}/sources/{SOURCE_ID}", json=row(last_checked_at=NOW))
        source = client.get_source(SOURCE_ID.upper())
        call = api.calls[0]
        assert call.request.method == "GET" and path(call) == f"/api/v2/sources/{SOURCE_ID}"
        assert call.request.headers["Authorization"] == AUTH
        assert source.last_checked_at == WHEN

    def test_get_unknown_raises_not_found(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.get(f"{API}/sources/{SOURCE_ID}", status=404, json=NOT_FOUND)
        with pytest.raises(NotFoundError) as info:
            client.get_source(SOURCE_ID)
        assert info.value.code == "not_found"

    @pytest.mark.parametrize("bad", ["not-a-uuid", "", 12, None])
    def test_bad_ids_send_nothing(
        self, api: ConformanceMock, client: BeampipeClient, bad: Any
    ) -> None:
        for call in (
            client.get_source,
            client.delete_source,
            client.get_source_status,
            client.get_source_metadata,
            client.list_source_events,
            client.list_source_executions,
        ):
            with pytest.raises(InvalidArgumentError, match="source_id must be a UUID"):
                call(bad)
        with pytest.raises(InvalidArgumentError, match="source_id must be a UUID"):
            client.update_source(bad, enabled=True)
        assert len(api.calls) == 0

    def test_delete_returns_none_on_204(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.delete(f"{API}/sources/{SOURCE_ID}", status=204)
        client.delete_source(SOURCE_ID)
        call = api.calls[0]
        assert call.request.method == "DELETE" and path(call) == f"/api/v2/sources/{SOURCE_ID}"
        assert call.request.headers["Authorization"] == AUTH

    def test_delete_unknown_raises_not_found(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.delete(f"{API}/sources/{SOURCE_ID}", status=404, json=NOT_FOUND)
        with pytest.raises(NotFoundError):
            client.delete_source(SOURCE_ID)


class TestUpdate:
    @pytest.mark.parametrize(
        ("kwargs", "sent"),
        [
            ({"enabled": False}, {"enabled": False}),
            ({"stale_after_hours": 12}, {"stale_after_hours": 12}),
            # None is an explicit null: the server clears the value.
            ({"stale_after_hours": None}, {"stale_after_hours": None}),
            ({"enabled": True, "stale_after_hours": 1}, {"enabled": True, "stale_after_hours": 1}),
        ],
    )
    def test_sends_only_what_was_given(
        self,
        api: ConformanceMock,
        client: BeampipeClient,
        kwargs: dict[str, Any],
        sent: dict[str, Any],
    ) -> None:
        api.patch(f"{API}/sources/{SOURCE_ID}", json=row(enabled=False, stale_after_hours=12))
        source = client.update_source(SOURCE_ID, **kwargs)
        call = api.calls[0]
        assert_json_request(call, "PATCH", f"/api/v2/sources/{SOURCE_ID}")
        assert body(call) == sent
        assert (source.enabled, source.stale_after_hours) == (False, 12)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "give enabled= or stale_after_hours="),
            ({"enabled": None}, "enabled must be True or False"),
            ({"stale_after_hours": 0}, "stale_after_hours must be an int from 1"),
            ({"stale_after_hours": 2**31}, "stale_after_hours must be an int from 1"),
            ({"stale_after_hours": True}, "stale_after_hours must be an int from 1"),
            ({"stale_after_hours": "12"}, "stale_after_hours must be an int from 1"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        client: BeampipeClient,
        kwargs: dict[str, Any],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            client.update_source(SOURCE_ID, **kwargs)
        assert len(api.calls) == 0

    def test_unknown_source_raises_not_found(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.patch(f"{API}/sources/{SOURCE_ID}", status=404, json=NOT_FOUND)
        with pytest.raises(NotFoundError):
            client.update_source(SOURCE_ID, enabled=True)


DISCOVERED = {
    "project_module": MODULE,
    "marked_count": 1,
    "source_identifiers": [SOURCE],
    "message": "Sources marked for rediscovery. Discovery runs asynchronously via the"
    " background scheduler.",
}


class TestDiscover:
    @pytest.mark.parametrize(
        ("identifiers", "sent"),
        [
            (SOURCE, {"source_identifier": SOURCE}),
            ([SOURCE], {"source_identifiers": [SOURCE]}),
            ((s for s in [SOURCE, "SRC-2"]), {"source_identifiers": [SOURCE, "SRC-2"]}),
            (None, {}),
        ],
    )
    def test_one_several_or_all(
        self,
        api: ConformanceMock,
        client: BeampipeClient,
        identifiers: Any,
        sent: dict[str, Any],
    ) -> None:
        api.post(f"{API}/sources/discover", json=DISCOVERED)
        reply = client.discover_sources(MODULE, identifiers)
        call = api.calls[0]
        assert_json_request(call, "POST", "/api/v2/sources/discover")
        assert body(call) == {"project_module": MODULE, **sent}
        assert (reply.marked_count, reply.source_identifiers) == (1, [SOURCE])

    @pytest.mark.parametrize(
        ("identifiers", "message"),
        [
            ([], "source_identifiers must not be empty"),  # the server would mark them all
            ("", "source_identifiers must not be empty"),
            ([SOURCE, 3], r"source_identifiers\[1\] must be a string"),
            (7, "source_identifiers must be a list of strings"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self, api: ConformanceMock, client: BeampipeClient, identifiers: Any, message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            client.discover_sources(MODULE, identifiers)
        with pytest.raises(InvalidArgumentError, match="project_module"):
            client.discover_sources(None, SOURCE)  # type: ignore[arg-type]
        assert len(api.calls) == 0


class TestReadViews:
    def test_status(self, api: ConformanceMock, client: BeampipeClient) -> None:
        reply = status(ready=False, complete=True, blockers=[ALREADY_EXECUTED])
        reply.update(
            signature_matches_last_execution=True,
            last_executed_discovery_signature="sig-1",
            workflow_run_pending=True,
            pending_age_seconds=30,
        )
        api.get(f"{API}/sources/{SOURCE_ID}/status", json=reply)
        got = client.get_source_status(SOURCE_ID)
        call = api.calls[0]
        assert path(call) == f"/api/v2/sources/{SOURCE_ID}/status"
        assert call.request.headers["Authorization"] == AUTH
        assert isinstance(got, SourceExecutionStatus)
        assert (got.ready_for_execution, got.discovery_complete) == (False, True)
        assert got.signature_matches_last_execution and got.pending_age_seconds == 30
        assert got.blockers == [ALREADY_EXECUTED]

    def test_metadata(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.get(
            f"{API}/sources/{SOURCE_ID}/metadata",
            json={
                "source": row(discovery_signature="sig-1"),
                "metadata": [
                    {
                        "uuid": str(uuid.UUID(int=7)),
                        "project_module": MODULE,
                        "source_identifier": SOURCE,
                        "sbid": "72962",
                        "metadata_json": {"discovery_flags": {"ra_dec_vsys_complete": True}},
                        "created_at": NOW,
                        "updated_at": None,
                    }
                ],
                "metadata_count": 1,
            },
        )
        meta = client.get_source_metadata(SOURCE_ID)
        assert path(api.calls[0]) == f"/api/v2/sources/{SOURCE_ID}/metadata"
        assert meta.source.discovery_signature == "sig-1" and meta.metadata_count == 1
        only = meta.metadata[0]
        assert (only.sbid, only.created_at, only.updated_at) == ("72962", WHEN, None)
        assert only.metadata_json == {"discovery_flags": {"ra_dec_vsys_complete": True}}

    def test_executions_page_lazily(self, api: ConformanceMock, client: BeampipeClient) -> None:
        url = f"{API}/sources/{SOURCE_ID}/executions"
        api.get(url, json=[execution_row(1), execution_row(2)])
        page = client.list_source_executions(SOURCE_ID, limit=2, offset=4)
        rows = list(page)
        assert len(api.calls) == 1  # two rows when three were asked for: the last page
        assert query(api.calls[0]) == {"limit": ["3"], "offset": ["4"]}
        assert path(api.calls[0]) == f"/api/v2/sources/{SOURCE_ID}/executions"
        assert all(isinstance(r, ExecutionRow) for r in rows)
        assert [r.uuid for r in rows] == [str(uuid.UUID(int=0xE001)), str(uuid.UUID(int=0xE002))]
        assert rows[0].status == "completed" and rows[0].deployment_profile_id is None
        assert rows[0].started_at == WHEN and rows[0].completed_at is None

    def test_executions_of_an_unknown_source(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.get(f"{API}/sources/{SOURCE_ID}/executions", status=404, json=NOT_FOUND)
        with pytest.raises(NotFoundError):
            list(client.list_source_executions(SOURCE_ID))

    def test_events(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.get(
            f"{API}/sources/{SOURCE_ID}/events",
            json=[
                {
                    "id": str(uuid.UUID(int=9)),
                    "occurred_at": NOW,
                    "event_type": "discovery.changed",
                    "project_module": MODULE,
                    "source_identifier": SOURCE,
                    "execution_id": EXECUTION_ID,
                    "actor": "system:discovery",
                    "correlation_id": None,
                    "payload": {"signature": "sig-1", "sbids": 1},
                }
            ],
        )
        events = client.list_source_events(SOURCE_ID)
        call = api.calls[0]
        assert path(call) == f"/api/v2/sources/{SOURCE_ID}/events" and not query(call)
        assert len(events) == 1 and isinstance(events[0], ProvenanceEventResponse)
        assert (events[0].event_type, events[0].execution_id) == ("discovery.changed", EXECUTION_ID)
        assert events[0].payload == {"signature": "sig-1", "sbids": 1}
        assert events[0].occurred_at == WHEN


@pytest.fixture
def fake_time(client: BeampipeClient) -> FakeTime:
    fake = FakeTime(1000.0)
    client._transport.clock = fake.clock
    client._transport.sleep = fake.sleep
    return fake


class TestWaitForSourceReady:
    URL = f"{API}/sources/{SOURCE_ID}/status"

    def test_polls_until_ready(
        self, api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
    ) -> None:
        api.get(self.URL, json=status(ready=False, complete=False, blockers=[NOT_RUN]))
        in_progress = f"Source {SOURCE}: Discovery is still in progress (active lease)."
        api.get(self.URL, json=status(ready=False, complete=False, blockers=[in_progress]))
        api.get(self.URL, json=status(ready=True, complete=True, blockers=[]))
        got = client.wait_for_source_ready(
            SOURCE_ID, poll_interval=2.0, progress=False, extra_headers={"x-request-id": "w-1"}
        )
        assert got.ready_for_execution is True and got.blockers == []
        assert len(api.calls) == 3
        assert fake_time.sleeps == [2.0, 2.0]
        for call in api.calls:
            assert call.request.method == "GET"
            assert path(call) == f"/api/v2/sources/{SOURCE_ID}/status"
            assert call.request.headers["Authorization"] == AUTH
            assert call.request.headers["x-request-id"] == "w-1"

    def test_returns_once_discovery_completes_even_if_blocked(
        self, api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
    ) -> None:
        api.get(self.URL, json=status(ready=False, complete=False, blockers=[NOT_RUN]))
        # E.g. the server's automatic admission already executed the new signature: waiting
        # longer would not clear it.
        api.get(self.URL, json=status(ready=False, complete=True, blockers=[ALREADY_EXECUTED]))
        got = client.wait_for_source_ready(SOURCE_ID, progress=False)
        assert (got.ready_for_execution, got.discovery_complete) == (False, True)
        assert got.blockers == [ALREADY_EXECUTED]
        assert len(api.calls) == 2 and fake_time.sleeps == [2.0]

    def test_timeout_quotes_the_blockers(
        self, api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
    ) -> None:
        api.get(self.URL, json=status(ready=False, complete=False, blockers=[NOT_RUN]))
        with pytest.raises(WaitTimeoutError) as info:
            client.wait_for_source_ready(SOURCE_ID, timeout=5, poll_interval=2, progress=False)
        err = info.value
        # Checks at 0, 2, 4 and a last one at the deadline (5).
        assert len(api.calls) == 4 and fake_time.sleeps == [2.0, 2.0, 1.0]
        assert isinstance(err.last_state, SourceExecutionStatus)
        assert err.last_state.blockers == [NOT_RUN]
        message = str(err)
        assert f"source {SOURCE_ID}" in message and "discovery not complete" in message
        assert message.endswith(f"Blockers: {NOT_RUN}")

    def test_a_deleted_source_fails_at_once(
        self, api: ConformanceMock, client: BeampipeClient, fake_time: FakeTime
    ) -> None:
        api.get(self.URL, status=404, json=NOT_FOUND)
        with pytest.raises(NotFoundError):
            client.wait_for_source_ready(SOURCE_ID, progress=False)
        assert len(api.calls) == 1 and fake_time.sleeps == []

    @pytest.mark.parametrize(
        ("args", "kwargs", "message"),
        [
            (("nope",), {}, "source_id must be a UUID"),
            ((SOURCE_ID,), {"timeout": 0}, "timeout must be positive"),
            ((SOURCE_ID,), {"poll_interval": -1}, "poll_interval must be positive"),
            ((SOURCE_ID,), {"deadline": 3}, "unexpected keyword arguments: deadline"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        client: BeampipeClient,
        fake_time: FakeTime,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            client.wait_for_source_ready(*args, **kwargs)
        assert len(api.calls) == 0
