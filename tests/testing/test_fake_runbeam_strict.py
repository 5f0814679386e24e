"""The SDK against FakeRunbeam over real sockets, decoding with the strict converter.

The strict converter (`forbid_extra_keys=True`) fails on any key the spec's models do not
know, so drift between `openapi/runbeam.yaml` and the fake shows up here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from controldeck._core._convert import strict_converter
from controldeck.errors import ConflictError, NotFoundError
from controldeck.runbeam import (
    ChangeStatus,
    StoreConfigAction,
    transform_instructions,
)
from controldeck.runbeam import RunbeamClient as _RunbeamClient
from controldeck.testing.runbeam import FakeRunbeam


@pytest.fixture
def fake() -> Iterator[FakeRunbeam]:
    with FakeRunbeam() as server:
        yield server


class RunbeamClient(_RunbeamClient):
    """Decodes with the strict converter: an unknown key in a reply fails the test."""

    _converter = strict_converter


@pytest.fixture
def user_client(fake: FakeRunbeam) -> Iterator[RunbeamClient]:
    with RunbeamClient(fake.url, token=fake.user_token, max_retries=0) as client:
        yield client


def test_gateway_lifecycle_decodes_strictly(fake: FakeRunbeam, user_client: RunbeamClient) -> None:
    jwt = fake.mint_user_token(sub="user123")
    auth = user_client.authorize_gateway(jwt, "my-gateway", metadata=["version:1.0"])
    assert auth.gateway.id == "gateway-123"
    assert auth.expires_at > datetime.now(UTC)

    with RunbeamClient(fake.api_url, token=auth.machine_token, max_retries=0) as gw:
        changes = list(gw.list_changes_for_gateway("gateway-123"))
        pending = [c for c in changes if c.status == ChangeStatus.PENDING]
        assert len(pending) == 3
        first = gw.get_change(pending[0].id)
        assert first.toml_config
        ack = gw.acknowledge_changes([first.id, "no-such-change"])
        assert ack.acknowledged == [first.id]
        assert ack.failed == ["no-such-change"]
        assert gw.mark_change_applied(first.id).message == "Change marked as applied"
        assert gw.get_change(first.id).status == ChangeStatus.APPLIED

        second = pending[1].id
        gw.acknowledge_changes([second])
        failed = gw.mark_change_failed(second, "Configuration parse error", details=["line 42"])
        assert failed.message == "Change marked as failed"
        detail = gw.get_change(second)
        assert detail.status == ChangeStatus.FAILED
        assert detail.error_message == "Configuration parse error"

        # Applying a change that was never acknowledged is refused.
        with pytest.raises(ConflictError):
            gw.mark_change_applied(pending[2].id)

        stored = gw.store_config("gateway", '[proxy]\nid = "edge"\n')
        assert stored.data.action == StoreConfigAction.CREATED
        newest = next(iter(gw.list_changes_for_gateway("gateway-123")))
        assert newest.status == ChangeStatus.PENDING

        mesh = gw.request_mesh_token("01HXYZ123456789ABCDEF", "https://partner.example.com/x")
        assert mesh.mesh_id == "01HXYZ123456789ABCDEF"


def test_resources_decode_strictly(user_client: RunbeamClient) -> None:
    assert user_client.get_gateway("my-gateway").id == "gateway-123"
    assert {g.code for g in user_client.list_gateways()} >= {"my-gateway"}
    services = list(user_client.list_services())
    assert user_client.get_service(services[0].id or "").name == services[0].name
    assert list(user_client.list_endpoints())
    assert list(user_client.list_backends())
    assert list(user_client.list_pipelines())
    transform = user_client.get_transform("transform-123")
    assert transform_instructions(transform)[0]["operation"] == "shift"
    resolved = user_client.resolve_reference("runbeam.acme.ingress.name.patient_api")
    assert resolved.data.name == "patient_api"
    assert resolved.meta.provider == "runbeam"
    with pytest.raises(NotFoundError):
        user_client.get_change("no-such-change")


def test_all_pages_of_a_long_list(user_client: RunbeamClient) -> None:
    page = user_client.list_changes_for_gateway("gateway-bulk")
    assert page.has_next
    assert page.total == 40
    ids = [c.id for c in page]
    assert len(ids) == len(set(ids)) == 40
    assert list(user_client.list_changes())  # the admin view decodes too


def test_base_url_discovery_falls_back_to_origin(
    fake: FakeRunbeam, user_client: RunbeamClient
) -> None:
    assert user_client.get_base_url().base_url == fake.api_url
    fake.base_url_at_api_root = False
    found = user_client.get_base_url()
    assert found.base_url == fake.api_url
    paths = [r.path for r in fake.requests if r.path.endswith("/harmony/base-url")]
    assert paths[-2:] == ["/api/harmony/base-url", "/harmony/base-url"]
    discovered = user_client.discover_base_url()
    assert discovered.base_url == fake.api_url
    assert discovered.get_gateway("my-gateway").code == "my-gateway"
    discovered.close()
