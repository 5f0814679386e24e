"""RunbeamClient against canned replies: the exact request sent and the typed values decoded.

Every request and reply is validated against openapi/runbeam.yaml by the `api` fixture,
except in tests marked `off_spec`. Fixture values come from the upstream SDK's tests
(reference/runbeam.md §6).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest
import requests
from responses import matchers

from controldeck._generated.runbeam import TransformOptions
from controldeck.errors import (
    AuthenticationError,
    BadRequestError,
    ControlDeckError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from controldeck.runbeam import (
    ChangeStatus,
    ConfigType,
    Gateway,
    RunbeamClient,
    StoreConfigAction,
    Transform,
    transform_instructions,
)
from tests._conformance import ConformanceMock
from tests.runbeam.conftest import AUTH, BASE_URL, TOKEN

ROOT = "https://runbeam.test"

# --- fixtures (reference/runbeam.md §6) ---------------------------------------------------------

CHANGE_ITEM: dict[str, Any] = {
    "id": "change-001",
    "type": "change",
    "gateway_id": "gateway-123",
    "status": "pending",
    "toml_config": '[endpoint]\nname = "api-endpoint"',
    "metadata": {"operation": "create"},
    "created_at": "2024-10-31T00:00:00Z",
    "acknowledged_at": None,
    "applied_at": None,
    "failed_at": None,
    "error_message": None,
    "error_details": None,
}
CHANGE_ITEM_2: dict[str, Any] = {
    **CHANGE_ITEM,
    "id": "change-002",
    "status": "acknowledged",
    "acknowledged_at": "2024-10-31T11:05:00Z",
}
LINKS_ONE_PAGE = {
    "first": "https://api.runbeam.io/api/changes?page=1",
    "last": "https://api.runbeam.io/api/changes?page=1",
    "prev": None,
    "next": None,
}
META_ONE_PAGE = {
    "current_page": 1,
    "from": 1,
    "last_page": 1,
    "path": "https://api.runbeam.io/api/changes",
    "per_page": 50,
    "to": 2,
    "total": 2,
}
CHANGE_DETAIL: dict[str, Any] = {
    "id": "01JBXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "status": "applied",
    "type": "gateway",
    "gateway_id": "gateway-123",
    "pipeline_id": None,
    "toml_config": '[proxy]\nid = "test"\n',
    "metadata": {"gateway_name": "test-gateway"},
    "created_at": "2025-01-07T01:00:00+00:00",
    "acknowledged_at": "2025-01-07T01:00:05+00:00",
    "applied_at": "2025-01-07T01:00:10+00:00",
    "failed_at": None,
    "error_message": None,
    "error_details": None,
}
AUTHORIZE_REPLY: dict[str, Any] = {
    "machine_token": "machine_token_abc123",
    "expires_in": 2592000.0,
    "expires_at": "2024-12-01T00:00:00Z",
    "gateway": {"id": "gateway-001", "code": "test-gateway", "name": "Test Gateway"},
    "abilities": ["harmony:send", "harmony:receive"],
}
GATEWAY: dict[str, Any] = {
    "type": "gateway",
    "id": "gateway-123",
    "code": "my-gateway",
    "name": "My Gateway",
    "team_id": "team-456",
    "enabled": True,
    "pipelines_path": "/etc/harmony/pipelines",
    "jwks_cache_duration_hours": 24,
    "management_base_path": "/manage",
    "management_network_id": "network-789",
    "dns": ["8.8.8.8", "1.1.1.1"],
    "settings": {"timeout": 30},
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
}
SERVICE: dict[str, Any] = {
    "type": "service",
    "id": "service-001",
    "code": "api-service",
    "name": "API Service",
    "team_id": "team-123",
    "gateway_id": "gateway-456",
    "description": "Main API service",
}
ENDPOINT: dict[str, Any] = {
    "type": "endpoint",
    "id": "endpoint-001",
    "code": "users-list",
    "name": "List Users",
    "team_id": "team-123",
    "gateway_id": "gateway-456",
    "service_id": "service-789",
    "path": "/api/users",
    "methods": ["GET"],
}
BACKEND: dict[str, Any] = {
    "type": "backend",
    "id": "backend-001",
    "code": "api-backend",
    "name": "API Backend",
    "team_id": "team-123",
    "gateway_id": "gateway-456",
    "url": "https://api.example.com",
    "timeout_seconds": 30,
}
PIPELINE: dict[str, Any] = {
    "type": "pipeline",
    "id": "pipeline-123",
    "code": "main-pipeline",
    "name": "Main Pipeline",
    "description": "Primary request pipeline",
    "team_id": "team-123",
    "gateway_id": "gateway-456",
    "networks": ["network-1", "network-2"],
    "endpoints": {"list": ["endpoint-1", "endpoint-2"]},
    "backends": {"primary": "backend-1"},
    "middleware": {"auth": {"type": "jwt"}},
}
JOLT = [{"operation": "shift", "spec": {"id": "user_id", "name": "full_name"}}]
TRANSFORM: dict[str, Any] = {
    "type": "transform",
    "id": "01k81xczrw551e1qj9rgrf0319",
    "code": "user-transform",
    "name": "User Transform",
    "team_id": "team-123",
    "gateway_id": "gateway-456",
    "options": {"instructions": json.dumps(JOLT)},
}
MESH_ID = "01HXYZ123456789ABCDEF"
DESTINATION = "https://partner.example.com/fhir/r4/Patient"
MESH_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjAxSFhZWjEyMzQ1NiJ9"
    ".eyJpc3MiOiJodHRwczovL2FwaS5ydW5iZWFtLmlvIiwic3ViIjoiZ2F0ZXdheTowMWs4YWJjMTIzIn0"
    ".c2lnbmF0dXJlLW5vdC1yZWFs"
)
RESOLVED: dict[str, Any] = {
    "data": {
        "type": "ingress",
        "id": "01JGXYZ123ABC",
        "name": "fhir-api",
        "team_id": "team-456",
        "enabled": True,
        "gateway_id": "gateway-123",
        "pipeline_id": "pipeline-123",
        "mesh_id": MESH_ID,
        "urls": ["https://gw.acme-healthcare.example/fhir"],
        "protocol": "http",
        "mode": "mesh",
        "endpoint_id": "endpoint-001",
        "provider": "runbeam",
    },
    "meta": {"provider": "runbeam", "resolved_at": "2025-12-29T00:05:00+00:00"},
}

pytestmark = pytest.mark.usefixtures("api")


# --- helpers ------------------------------------------------------------------------------------


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    return request


def assert_get(request: requests.PreparedRequest, url: str, *, auth: str = AUTH) -> None:
    assert request.method == "GET"
    assert request.url == url
    assert request.headers["Authorization"] == auth
    assert "Content-Type" not in request.headers
    assert request.body is None


def assert_post(
    request: requests.PreparedRequest, url: str, body: Any, *, auth: str = AUTH
) -> None:
    assert request.method == "POST"
    assert request.url == url
    assert request.headers["Authorization"] == auth
    assert request.headers["Content-Type"] == "application/json"
    assert request.body is not None
    assert json.loads(request.body) == body


def aware(value: datetime | None) -> datetime:
    assert isinstance(value, datetime)
    assert value.tzinfo is not None and value.utcoffset() is not None
    return value


# --- authorize_gateway ----------------------------------------------------------------------------


def test_authorize_gateway_sends_the_user_token_and_no_null_keys(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.post(f"{BASE_URL}/harmony/authorize", status=201, json=AUTHORIZE_REPLY)

    auth = client.authorize_gateway("1|abc123def456", "test-gateway")

    request = only_request(api)
    assert_post(
        request,
        f"{BASE_URL}/harmony/authorize",
        {"token": "1|abc123def456", "gateway_code": "test-gateway"},
        auth="Bearer 1|abc123def456",
    )
    assert TOKEN not in str(request.headers)
    assert auth.machine_token == "machine_token_abc123"
    assert auth.expires_in == 2592000.0
    assert isinstance(auth.expires_in, int)
    assert aware(auth.expires_at) == datetime(2024, 12, 1, tzinfo=UTC)
    assert (auth.gateway.id, auth.gateway.code, auth.gateway.name) == (
        "gateway-001",
        "test-gateway",
        "Test Gateway",
    )
    assert auth.gateway.authorized_by is None
    assert auth.abilities == ["harmony:send", "harmony:receive"]
    assert "machine_token_abc123" not in repr(auth)
    assert "<redacted>" in repr(auth)


def test_authorize_gateway_with_public_key_and_metadata(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    reply = {
        "machine_token": "machine_token_xyz789",
        "expires_in": 2592000.0,
        "expires_at": "2024-12-01T00:00:00+00:00",
        "gateway": {
            "id": "gateway-002",
            "code": "sanctum-gateway",
            "name": "Sanctum Gateway",
            "authorized_by": {"id": "user123", "name": "Test User", "email": "test@example.com"},
        },
    }
    api.post(f"{BASE_URL}/harmony/authorize", status=200, json=reply)

    auth = client.authorize_gateway(
        "test_token",
        "sanctum-gateway",
        machine_public_key="pubkey123",
        metadata=["version:1.0", "hostname:test-host"],
    )

    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/authorize",
        {
            "token": "test_token",
            "gateway_code": "sanctum-gateway",
            "machine_public_key": "pubkey123",
            "metadata": ["version:1.0", "hostname:test-host"],
        },
        auth="Bearer test_token",
    )
    assert auth.abilities == []  # missing in the reply: defaults to empty
    assert auth.gateway.authorized_by is not None
    assert auth.gateway.authorized_by.email == "test@example.com"


def test_authorize_gateway_sends_an_empty_metadata_list(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.post(f"{BASE_URL}/harmony/authorize", status=201, json=AUTHORIZE_REPLY)
    client.authorize_gateway("test_token", "test-gateway", metadata=())
    assert json.loads(only_request(api).body or b"")["metadata"] == []


def test_authorize_gateway_rejects_metadata_given_as_a_mapping(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    with pytest.raises(InvalidArgumentError, match="not a mapping"):
        client.authorize_gateway(
            "test_token",
            "test-gateway",
            metadata={"version": "1.0"},  # type: ignore[arg-type]
        )
    assert len(api.calls) == 0


def test_authorize_gateway_code_length(api: ConformanceMock, client: RunbeamClient) -> None:
    with pytest.raises(InvalidArgumentError, match="255"):
        client.authorize_gateway("test_token", "g" * 256)
    assert len(api.calls) == 0

    api.post(f"{BASE_URL}/harmony/authorize", status=201, json=AUTHORIZE_REPLY)
    client.authorize_gateway("test_token", "g" * 255)
    assert json.loads(only_request(api).body or b"")["gateway_code"] == "g" * 255


@pytest.mark.parametrize(
    "args, kwargs",
    [
        (("", "test-gateway"), {}),
        (("test_token", ""), {}),
        (("test_token", "   "), {}),
        ((None, "test-gateway"), {}),
        (("test_token", 42), {}),
        (("test_token", "test-gateway"), {"machine_public_key": ""}),
        (("test_token", "test-gateway"), {"metadata": "version:1.0"}),
        (("test_token", "test-gateway"), {"metadata": ["version:1.0", 2]}),
        (("test_token", "test-gateway"), {"metadata": [""]}),
    ],
)
def test_authorize_gateway_rejects_bad_arguments(
    api: ConformanceMock, client: RunbeamClient, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.authorize_gateway(*args, **kwargs)
    assert len(api.calls) == 0


def test_authorize_gateway_422_is_unprocessable_with_details(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    errors = {"gateway_code": ["The gateway code field format is invalid."]}
    api.post(
        f"{BASE_URL}/harmony/authorize",
        status=422,
        json={"message": "The gateway code field format is invalid.", "errors": errors},
    )
    with pytest.raises(UnprocessableEntityError) as info:
        client.authorize_gateway("test_token", "bad code!")
    assert info.value.status_code == 422
    assert info.value.message == "The gateway code field format is invalid."
    assert info.value.details == errors
    assert "HTTP 422" in str(info.value)


def test_authorize_gateway_needs_no_client_token(api: ConformanceMock) -> None:
    api.post(f"{BASE_URL}/harmony/authorize", status=201, json=AUTHORIZE_REPLY)
    with RunbeamClient(BASE_URL, max_retries=0) as anonymous:
        auth = anonymous.authorize_gateway("1|abc123def456", "test-gateway")
    assert auth.machine_token == "machine_token_abc123"
    assert only_request(api).headers["Authorization"] == "Bearer 1|abc123def456"


# --- change management ------------------------------------------------------------------------


def test_list_changes(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/changes",
        json={"data": [CHANGE_ITEM, CHANGE_ITEM_2], "links": LINKS_ONE_PAGE, "meta": META_ONE_PAGE},
    )

    page = client.list_changes()

    assert_get(only_request(api), f"{BASE_URL}/harmony/changes")
    assert [c.id for c in page] == ["change-001", "change-002"]
    first, second = page.data
    assert first.status == ChangeStatus.PENDING
    assert isinstance(first.status, ChangeStatus)
    assert second.status == ChangeStatus.ACKNOWLEDGED
    assert first.type == "change"
    assert first.gateway_id == "gateway-123"
    assert first.toml_config == '[endpoint]\nname = "api-endpoint"'
    assert first.metadata == {"operation": "create"}
    assert aware(first.created_at) == datetime(2024, 10, 31, tzinfo=UTC)
    assert first.acknowledged_at is None
    assert aware(second.acknowledged_at) == datetime(2024, 10, 31, 11, 5, tzinfo=UTC)
    assert (page.number, page.last, page.total, page.has_next) == (1, 1, 2, False)
    assert page.next_page() is None
    assert len(api.calls) == 1


def _changes_page(items: list[dict[str, Any]], current: int, last: int) -> dict[str, Any]:
    # links point at another host on purpose: the SDK must keep requesting its own base URL.
    other = "https://other.example/api/harmony/changes/gw-1"
    return {
        "data": items,
        "links": {
            "first": f"{other}?page=1",
            "last": f"{other}?page={last}",
            "prev": f"{other}?page={current - 1}" if current > 1 else None,
            "next": f"{other}?page={current + 1}" if current < last else None,
        },
        "meta": {
            "current_page": current,
            "from": 2 * current - 1,
            "last_page": last,
            "links": [
                {"url": f"{other}?page={n}", "label": str(n), "active": n == current}
                for n in range(1, last + 1)
            ],
            "path": other,
            "per_page": 2,
            "to": 2 * current - 2 + len(items),
            "total": 5,
        },
    }


def _change(n: int) -> dict[str, Any]:
    return {**CHANGE_ITEM, "id": f"change-{n:03d}", "gateway_id": "gw-1"}


def test_list_changes_for_gateway_walks_pages_lazily_on_our_own_host(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    url = f"{BASE_URL}/harmony/changes/gw-1"
    api.get(
        url,
        json=_changes_page([_change(1), _change(2)], 1, 3),
        match=[matchers.query_param_matcher({})],
    )
    api.get(
        url,
        json=_changes_page([_change(3), _change(4)], 2, 3),
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    api.get(
        url,
        json=_changes_page([_change(5)], 3, 3),
        match=[matchers.query_param_matcher({"page": "3"})],
    )

    page = client.list_changes_for_gateway("gw-1")
    assert_get(only_request(api), url)
    assert (page.number, page.last, page.total, page.has_next) == (1, 3, 5, True)

    items = iter(page)
    assert [next(items).id, next(items).id] == ["change-001", "change-002"]
    assert len(api.calls) == 1  # page 2 is fetched only when iteration reaches it
    assert next(items).id == "change-003"
    assert len(api.calls) == 2
    assert_get(api.calls[1].request, f"{url}?page=2")
    assert [c.id for c in items] == ["change-004", "change-005"]
    assert len(api.calls) == 3
    assert_get(api.calls[2].request, f"{url}?page=3")
    assert all("other.example" not in (c.request.url or "") for c in api.calls)


def test_list_changes_for_gateway_starts_at_a_given_page(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    url = f"{BASE_URL}/harmony/changes/gw-1"
    api.get(
        url,
        json=_changes_page([_change(3), _change(4)], 2, 3),
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    page = client.list_changes_for_gateway("gw-1", page=2)
    assert_get(only_request(api), f"{url}?page=2")
    assert page.number == 2
    assert [c.id for c in page.data] == ["change-003", "change-004"]


def test_list_changes_for_gateway_encodes_the_id(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(f"{BASE_URL}/harmony/changes/gw%2F1%20x", json={"data": []})
    assert list(client.list_changes_for_gateway("gw/1 x")) == []
    assert_get(only_request(api), f"{BASE_URL}/harmony/changes/gw%2F1%20x")


def test_a_bare_data_list_is_a_single_page(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/gateways", json={"data": []})
    page = client.list_gateways()
    assert page.data == []
    assert list(page) == []
    assert (page.has_next, page.total, page.number) == (False, None, None)
    assert len(api.calls) == 1


@pytest.mark.parametrize("bad", [0, -1, "2", True, 1.0])
def test_bad_page_argument(api: ConformanceMock, client: RunbeamClient, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="page"):
        client.list_changes_for_gateway("gw-1", page=bad)
    with pytest.raises(InvalidArgumentError, match="page"):
        client.list_changes(page=bad)
    assert len(api.calls) == 0


def test_get_change(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/change/01JBXXXXXXXXXXXXXXXXXXXXXXXXXX", json={"data": CHANGE_DETAIL}
    )

    change = client.get_change("01JBXXXXXXXXXXXXXXXXXXXXXXXXXX")

    assert_get(only_request(api), f"{BASE_URL}/harmony/change/01JBXXXXXXXXXXXXXXXXXXXXXXXXXX")
    assert change.id == "01JBXXXXXXXXXXXXXXXXXXXXXXXXXX"
    assert change.status == ChangeStatus.APPLIED
    assert change.type == "gateway"
    assert change.pipeline_id is None
    assert change.toml_config == '[proxy]\nid = "test"\n'
    assert change.metadata == {"gateway_name": "test-gateway"}
    assert aware(change.created_at) == datetime(2025, 1, 7, 1, 0, tzinfo=UTC)
    assert aware(change.acknowledged_at) == datetime(2025, 1, 7, 1, 0, 5, tzinfo=UTC)
    assert aware(change.applied_at) == datetime(2025, 1, 7, 1, 0, 10, tzinfo=UTC)
    assert change.failed_at is None


def test_get_change_failed_variant(api: ConformanceMock, client: RunbeamClient) -> None:
    failed = {
        **CHANGE_DETAIL,
        "status": "failed",
        "pipeline_id": "pipeline-001",
        "applied_at": None,
        "failed_at": "2025-01-07T03:00:10+02:00",
        "error_message": "Connection timeout after 30 seconds",
        "error_details": {"attempts": 3},
    }
    api.get(f"{BASE_URL}/harmony/change/01JBXXXXXXXXXXXXXXXXXXXXXXXXXX", json={"data": failed})
    change = client.get_change("01JBXXXXXXXXXXXXXXXXXXXXXXXXXX")
    assert change.status == ChangeStatus.FAILED
    assert change.status == "failed"
    assert change.pipeline_id == "pipeline-001"
    assert change.error_message == "Connection timeout after 30 seconds"
    assert change.error_details == {"attempts": 3}
    failed_at = aware(change.failed_at)
    assert failed_at.utcoffset() == timedelta(hours=2)
    assert failed_at == datetime(2025, 1, 7, 1, 0, 10, tzinfo=UTC)


def test_ids_with_a_slash_stay_one_segment(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/harmony/change/a%2Fb", json={"data": {**CHANGE_DETAIL, "id": "a/b"}})
    assert client.get_change("a/b").id == "a/b"
    assert_get(only_request(api), f"{BASE_URL}/harmony/change/a%2Fb")


@pytest.mark.parametrize("bad", ["", "  ", None, 7])
def test_empty_or_non_string_ids_are_rejected(
    api: ConformanceMock, client: RunbeamClient, bad: Any
) -> None:
    for call in (
        client.get_change,
        client.get_gateway,
        client.get_service,
        client.get_transform,
        client.mark_change_applied,
        client.list_changes_for_gateway,
    ):
        with pytest.raises(InvalidArgumentError):
            call(bad)
    with pytest.raises(InvalidArgumentError):
        client.mark_change_failed(bad, "Configuration parse error")
    assert len(api.calls) == 0


def test_acknowledge_changes(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/changes/acknowledge",
        json={"acknowledged": ["change-1", "change-2", "change-3"], "failed": []},
    )
    result = client.acknowledge_changes(["change-1", "change-2", "change-3"])
    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/changes/acknowledge",
        {"change_ids": ["change-1", "change-2", "change-3"]},
    )
    assert result.acknowledged == ["change-1", "change-2", "change-3"]
    assert result.failed == []


def test_acknowledge_changes_partial_success(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/changes/acknowledge",
        json={"acknowledged": ["change-1"], "failed": ["change-2", "change-3"]},
    )
    result = client.acknowledge_changes(("change-1", "change-2", "change-3"))
    assert json.loads(only_request(api).body or b"") == {
        "change_ids": ["change-1", "change-2", "change-3"]
    }
    assert result.acknowledged == ["change-1"]
    assert result.failed == ["change-2", "change-3"]


@pytest.mark.parametrize("bad", [[], (), "change-1", ["change-1", ""], ["change-1", None], None])
def test_acknowledge_changes_rejects_bad_ids(
    api: ConformanceMock, client: RunbeamClient, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="change_ids"):
        client.acknowledge_changes(bad)
    assert len(api.calls) == 0


def test_acknowledge_changes_422(api: ConformanceMock, client: RunbeamClient) -> None:
    errors = {"change_ids.0": ["The selected change_ids.0 is invalid."]}
    api.post(
        f"{BASE_URL}/harmony/changes/acknowledge",
        status=422,
        json={"message": "The selected change_ids.0 is invalid.", "errors": errors},
    )
    with pytest.raises(UnprocessableEntityError) as info:
        client.acknowledge_changes(["no-such-change"])
    assert info.value.details == errors


def test_mark_change_applied_sends_no_body(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/change/change-1/applied",
        json={"success": True, "message": "Change marked as applied"},
    )
    result = client.mark_change_applied("change-1")
    request = only_request(api)
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/harmony/change/change-1/applied"
    assert request.headers["Authorization"] == AUTH
    assert not request.body
    assert "Content-Type" not in request.headers
    assert result.success is True
    assert result.message == "Change marked as applied"


def test_mark_change_applied_forbidden(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/change/change-1/applied",
        status=403,
        json={"error": "Forbidden", "message": "This change does not belong to your gateway"},
    )
    with pytest.raises(PermissionDeniedError) as info:
        client.mark_change_applied("change-1")
    assert info.value.status_code == 403
    assert info.value.code == "Forbidden"
    assert info.value.message == "This change does not belong to your gateway"


def test_mark_change_failed_with_details(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/change/change-1/failed",
        json={"success": True, "message": "Change marked as failed"},
    )
    result = client.mark_change_failed(
        "change-1",
        "Configuration parse error",
        details=["Invalid JSON at line 42", "Missing required field 'name'"],
    )
    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/change/change-1/failed",
        {
            "error": "Configuration parse error",
            "details": ["Invalid JSON at line 42", "Missing required field 'name'"],
        },
    )
    assert (result.success, result.message) == (True, "Change marked as failed")


def test_mark_change_failed_without_details(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/change/change-1/failed",
        json={"success": True, "message": "Change marked as failed"},
    )
    client.mark_change_failed("change-1", "Configuration parse error")
    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/change/change-1/failed",
        {"error": "Configuration parse error"},
    )


@pytest.mark.parametrize(
    "error, details",
    [("", None), ("   ", None), (None, None), ("boom", "one line"), ("boom", ["ok", 3])],
)
def test_mark_change_failed_rejects_bad_arguments(
    api: ConformanceMock, client: RunbeamClient, error: Any, details: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.mark_change_failed("change-1", error, details=details)
    assert len(api.calls) == 0


STORE_REPLY = {
    "success": True,
    "message": "Gateway configuration updated successfully",
    "data": {"id": "01k9npa4tatmwddk66xxpcr2r0", "type": "gateway", "action": "updated"},
}


@pytest.mark.parametrize(
    "config_type, wire",
    [
        ("gateway", "gateway"),
        ("pipeline", "pipeline"),
        ("transform", "transform"),
        ("mesh", "mesh"),
        (ConfigType.GATEWAY, "gateway"),
        (ConfigType.PIPELINE, "pipeline"),
        (ConfigType.TRANSFORM, "transform"),
        (ConfigType.MESH, "mesh"),
    ],
)
def test_store_config_types(
    api: ConformanceMock, client: RunbeamClient, config_type: Any, wire: str
) -> None:
    reply = {
        "success": True,
        "message": "Configuration stored",
        "data": {"id": "01k9npa4tatmwddk66xxpcr2r0", "type": wire, "action": "created"},
    }
    api.post(f"{BASE_URL}/harmony/update", json=reply)
    result = client.store_config(config_type, '[proxy]\nid = "test"\n')
    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/update",
        {"type": wire, "config": '[proxy]\nid = "test"\n'},
    )
    assert result.data.type == ConfigType(wire)
    assert result.data.action == StoreConfigAction.CREATED


def test_store_config_update_sends_the_id(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(f"{BASE_URL}/harmony/update", json=STORE_REPLY)
    result = client.store_config(
        "gateway", '[proxy]\nid = "test"\n', id="01k8ek6h9aahhnrv3benret1nn"
    )
    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/update",
        {
            "type": "gateway",
            "id": "01k8ek6h9aahhnrv3benret1nn",
            "config": '[proxy]\nid = "test"\n',
        },
    )
    assert result.success is True
    assert result.message == "Gateway configuration updated successfully"
    assert result.data.id == "01k9npa4tatmwddk66xxpcr2r0"
    assert result.data.type == ConfigType.GATEWAY
    assert result.data.action == StoreConfigAction.UPDATED


@pytest.mark.parametrize(
    "config_type, config, kwargs",
    [
        ("widget", "[x]", {}),
        ("Gateway", "[x]", {}),
        ("", "[x]", {}),
        (None, "[x]", {}),
        ("gateway", "", {}),
        ("gateway", None, {}),
        ("gateway", "[x]", {"id": ""}),
        ("gateway", "[x]", {"id": 5}),
    ],
)
def test_store_config_rejects_bad_arguments(
    api: ConformanceMock,
    client: RunbeamClient,
    config_type: Any,
    config: Any,
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.store_config(config_type, config, **kwargs)
    assert len(api.calls) == 0


# --- resources ----------------------------------------------------------------------------------


def test_list_gateways(api: ConformanceMock, client: RunbeamClient) -> None:
    # The fewest keys a server reply has: `id` is required since the spec fix (defect 10).
    minimal = {
        "type": "gateway",
        "id": "gw-edge",
        "code": "edge",
        "name": "Edge",
        "team_id": "team-456",
    }
    api.get(f"{BASE_URL}/gateways", json={"data": [GATEWAY, minimal]})
    gateways = list(client.list_gateways())
    assert_get(only_request(api), f"{BASE_URL}/gateways")
    full, bare = gateways
    assert (full.id, full.code, full.name, full.team_id) == (
        "gateway-123",
        "my-gateway",
        "My Gateway",
        "team-456",
    )
    assert full.enabled is True
    assert full.jwks_cache_duration_hours == 24
    assert full.management_network_id == "network-789"
    assert full.dns == ["8.8.8.8", "1.1.1.1"]
    assert full.settings == {"timeout": 30}
    assert aware(full.created_at) == datetime(2024, 1, 1, tzinfo=UTC)
    assert (bare.id, bare.enabled, bare.dns, bare.created_at) == ("gw-edge", None, None, None)


def test_get_gateway_by_code(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/gateways/my-gateway", json={"data": GATEWAY})
    gateway = client.get_gateway("my-gateway")
    assert_get(only_request(api), f"{BASE_URL}/gateways/my-gateway")
    assert gateway.name == "My Gateway"
    assert gateway.pipelines_path == "/etc/harmony/pipelines"


def test_list_services(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/services", json={"data": [SERVICE], "meta": None, "links": None})
    [service] = list(client.list_services())
    assert_get(only_request(api), f"{BASE_URL}/services")
    assert service.name == "API Service"
    assert service.gateway_id == "gateway-456"
    assert service.description == "Main API service"


def test_get_service(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/services/service-001", json={"data": SERVICE})
    service = client.get_service("service-001")
    assert_get(only_request(api), f"{BASE_URL}/services/service-001")
    assert (service.id, service.code, service.team_id) == (
        "service-001",
        "api-service",
        "team-123",
    )


def test_list_endpoints(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/endpoints", json={"data": [ENDPOINT]})
    [endpoint] = list(client.list_endpoints())
    assert_get(only_request(api), f"{BASE_URL}/endpoints")
    assert endpoint.path == "/api/users"
    assert endpoint.methods == ["GET"]
    assert endpoint.service_id == "service-789"
    assert endpoint.connection is None


def test_list_backends(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/backends", json={"data": [BACKEND]})
    [backend] = list(client.list_backends())
    assert_get(only_request(api), f"{BASE_URL}/backends")
    assert backend.url == "https://api.example.com"
    assert backend.timeout_seconds == 30
    assert backend.max_retries is None


def test_list_pipelines(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/pipelines", json={"data": [PIPELINE]})
    [pipeline] = list(client.list_pipelines())
    assert_get(only_request(api), f"{BASE_URL}/pipelines")
    assert pipeline.description == "Primary request pipeline"
    assert pipeline.networks == ["network-1", "network-2"]
    assert pipeline.endpoints == {"list": ["endpoint-1", "endpoint-2"]}
    assert pipeline.middleware == {"auth": {"type": "jwt"}}


def test_get_transform_and_its_instructions(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/transforms/01k81xczrw551e1qj9rgrf0319", json={"data": TRANSFORM})
    transform = client.get_transform("01k81xczrw551e1qj9rgrf0319")
    assert_get(only_request(api), f"{BASE_URL}/transforms/01k81xczrw551e1qj9rgrf0319")
    assert transform.code == "user-transform"
    assert transform.options is not None
    assert transform.options.instructions == json.dumps(JOLT)
    assert transform_instructions(transform) == JOLT


# --- transform_instructions -----------------------------------------------------------------


def _transform(options: Any) -> Transform:
    return Transform(
        type="transform",
        id="transform-123",
        code="user-transform",
        name="User Transform",
        team_id="team-123",
        gateway_id="gateway-456",
        options=options,
    )


def test_transform_instructions_none_without_options() -> None:
    assert transform_instructions(_transform(None)) is None
    assert transform_instructions(_transform(TransformOptions())) is None
    assert transform_instructions(_transform(TransformOptions(instructions="{}"))) == {}


def test_transform_instructions_invalid_json() -> None:
    broken = '[{"operation": "shift", "spec": {'
    with pytest.raises(ResponseValidationError) as info:
        transform_instructions(_transform(TransformOptions(instructions=broken)))
    assert info.value.path == "$.data.options.instructions"
    assert "transform-123" in str(info.value)
    assert info.value.body_excerpt == broken
    assert not isinstance(info.value, json.JSONDecodeError)


# --- discovery -------------------------------------------------------------------------------


def test_get_base_url(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/harmony/base-url", json={"base_url": "https://api.runbeam.io"})
    found = client.get_base_url()
    assert_get(only_request(api), f"{BASE_URL}/harmony/base-url")
    assert found.base_url == "https://api.runbeam.io"
    assert (found.changes_path, found.full_url) == (None, None)


def test_get_base_url_falls_back_to_the_origin_on_404(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(f"{BASE_URL}/harmony/base-url", status=404, body="Not Found")
    api.get(
        f"{ROOT}/harmony/base-url",
        json={
            "base_url": "https://api.runbeam.io",
            "changes_path": "/api/changes",
            "full_url": "https://api.runbeam.io/api/changes",
        },
    )
    found = client.get_base_url()
    assert [c.request.url for c in api.calls] == [
        f"{BASE_URL}/harmony/base-url",
        f"{ROOT}/harmony/base-url",
    ]
    assert_get(api.calls[1].request, f"{ROOT}/harmony/base-url")
    assert found.full_url == "https://api.runbeam.io/api/changes"
    assert found.changes_path == "/api/changes"


@pytest.mark.off_spec("the first candidate answers 200 with an HTML page")
def test_get_base_url_falls_back_on_a_non_json_reply(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(
        f"{BASE_URL}/harmony/base-url",
        body="<!DOCTYPE html><html><body>Runbeam</body></html>",
        content_type="text/html",
    )
    api.get(f"{ROOT}/harmony/base-url", json={"base_url": "https://runbeam.test/api"})
    assert client.get_base_url().base_url == "https://runbeam.test/api"
    assert [c.request.url for c in api.calls] == [
        f"{BASE_URL}/harmony/base-url",
        f"{ROOT}/harmony/base-url",
    ]


def test_get_base_url_does_not_fall_back_on_401(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(f"{BASE_URL}/harmony/base-url", status=401, json={"message": "Unauthenticated."})
    with pytest.raises(AuthenticationError):
        client.get_base_url()
    assert len(api.calls) == 1


def test_discover_base_url_uses_base_url_and_keeps_the_token(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(
        f"{BASE_URL}/harmony/base-url",
        json={"base_url": "https://eu.runbeam.test/api", "changes_path": None, "full_url": None},
    )
    api.get("https://eu.runbeam.test/api/harmony/change/change-001", json={"data": CHANGE_DETAIL})
    with client.discover_base_url(trust_new_host=True) as discovered:
        assert isinstance(discovered, RunbeamClient)
        assert discovered is not client
        assert discovered.base_url == "https://eu.runbeam.test/api"
        discovered.get_change("change-001")
    assert client.base_url == BASE_URL
    assert_get(api.calls[1].request, "https://eu.runbeam.test/api/harmony/change/change-001")


def test_discover_base_url_on_another_host_does_not_carry_the_token(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(
        f"{BASE_URL}/harmony/base-url",
        json={"base_url": "https://evil.example/api", "changes_path": None, "full_url": None},
    )
    with client.discover_base_url() as discovered:
        assert discovered.base_url == "https://evil.example/api"
        with pytest.raises(InvalidArgumentError, match="needs a token"):
            discovered.get_change("change-001")
    assert len(api.calls) == 1  # nothing was sent to the other host


def test_discover_base_url_on_the_same_origin_keeps_the_token(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(
        f"{BASE_URL}/harmony/base-url",
        json={"base_url": f"{ROOT}/api", "changes_path": None, "full_url": None},
    )
    api.get(f"{ROOT}/api/harmony/change/change-001", status=404, json={"message": "nope"})
    with client.discover_base_url() as discovered, pytest.raises(NotFoundError):
        discovered.get_change("change-001")
    assert api.calls[1].request.headers["Authorization"] == AUTH


def test_discover_base_url_prefers_full_url(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/base-url",
        json={
            "base_url": "https://api.runbeam.io",
            "changes_path": "/api/changes",
            "full_url": "https://api.runbeam.io/api/changes",
        },
    )
    with client.discover_base_url() as discovered:
        assert discovered.base_url == "https://api.runbeam.io/api/changes"
        assert TOKEN not in repr(discovered)


def test_discover_base_url_bare_origin_gets_api(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.get(f"{BASE_URL}/harmony/base-url", json={"base_url": "https://api.runbeam.io"})
    with client.discover_base_url() as discovered:
        assert discovered.base_url == "https://api.runbeam.io/api"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"base_url": "ftp://files.example"}, "$.base_url"),
        ({"base_url": "https://ok.example", "full_url": "not a url"}, "$.full_url"),
    ],
)
def test_discover_base_url_rejects_a_url_the_server_got_wrong(
    api: ConformanceMock, client: RunbeamClient, body: dict[str, Any], path: str
) -> None:
    api.get(f"{BASE_URL}/harmony/base-url", json=body)
    with pytest.raises(ResponseValidationError) as info:
        client.discover_base_url()
    assert info.value.path == path
    assert "not an http(s) URL" in str(info.value)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Trace": "caf\u00e9\u20ac"}, "non-Latin-1"),
        ({"X-Trace": "a\r\nInjected: 1"}, "line break"),
        ({"X-Trace": 7}, "must be a string"),
    ],
)
def test_extra_headers_http_cannot_carry_are_rejected_before_sending(
    api: ConformanceMock, client: RunbeamClient, headers: dict[str, Any], why: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=why) as info:
        client.get_change("change-001", extra_headers=headers)
    assert "X-Trace" in str(info.value)
    assert len(api.calls) == 0


# --- mesh -------------------------------------------------------------------------------------


def test_request_mesh_token(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/mesh/token",
        json={"token": MESH_JWT, "expires_at": "2025-12-29T00:10:00+00:00", "mesh_id": MESH_ID},
    )
    result = client.request_mesh_token(MESH_ID, DESTINATION)
    assert_post(
        only_request(api),
        f"{BASE_URL}/harmony/mesh/token",
        {"mesh_id": MESH_ID, "destination_url": DESTINATION},
    )
    assert result.token == MESH_JWT
    assert result.mesh_id == MESH_ID
    assert aware(result.expires_at) == datetime(2025, 12, 29, 0, 10, tzinfo=UTC)
    assert MESH_JWT not in repr(result)
    assert "<redacted>" in repr(result)


def test_request_mesh_token_passes_the_url_unchanged(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    url = "https://partner.example.com:8443/fhir/r4/Patient?identifier=urn:oid:1.2|123&_count=10"
    api.post(
        f"{BASE_URL}/harmony/mesh/token",
        json={"token": MESH_JWT, "expires_at": "2025-12-29T00:10:00+00:00", "mesh_id": MESH_ID},
    )
    client.request_mesh_token(MESH_ID, url)
    assert json.loads(only_request(api).body or b"")["destination_url"] == url


def test_request_mesh_token_no_ingress(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/mesh/token",
        status=403,
        json={"error": "No ingress matches destination URL"},
    )
    with pytest.raises(PermissionDeniedError) as info:
        client.request_mesh_token(MESH_ID, DESTINATION)
    assert info.value.message == "No ingress matches destination URL"
    assert info.value.code is None


def test_request_mesh_token_mesh_not_found(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(
        f"{BASE_URL}/harmony/mesh/token",
        status=404,
        json={"error": "Mesh not found", "message": "The specified mesh does not exist."},
    )
    with pytest.raises(NotFoundError) as info:
        client.request_mesh_token(MESH_ID, DESTINATION)
    assert info.value.code == "Mesh not found"
    assert info.value.message == "The specified mesh does not exist."
    assert str(info.value).startswith(
        "HTTP 404 [Mesh not found]: The specified mesh does not exist."
    )


def test_request_mesh_token_mesh_disabled(api: ConformanceMock, client: RunbeamClient) -> None:
    api.post(f"{BASE_URL}/harmony/mesh/token", status=400, json={"error": "Mesh is disabled"})
    with pytest.raises(BadRequestError) as info:
        client.request_mesh_token(MESH_ID, DESTINATION)
    assert info.value.message == "Mesh is disabled"


@pytest.mark.parametrize("mesh_id, url", [("", DESTINATION), (MESH_ID, ""), (None, DESTINATION)])
def test_request_mesh_token_rejects_empty_arguments(
    api: ConformanceMock, client: RunbeamClient, mesh_id: Any, url: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.request_mesh_token(mesh_id, url)
    assert len(api.calls) == 0


# --- resolve_reference --------------------------------------------------------------------------


def test_resolve_reference(api: ConformanceMock, client: RunbeamClient) -> None:
    ref = "runbeam.acme-healthcare.ingress.name.fhir-api"
    api.get(f"{BASE_URL}/harmony/resources/resolve", json=RESOLVED)
    result = client.resolve_reference(ref)
    assert_get(only_request(api), f"{BASE_URL}/harmony/resources/resolve?ref={ref}")
    assert result.data.type == "ingress"
    assert (result.data.id, result.data.name) == ("01JGXYZ123ABC", "fhir-api")
    assert result.data.urls == ["https://gw.acme-healthcare.example/fhir"]
    assert result.data.mode == "mesh"
    assert result.data.enabled is True
    assert result.meta.provider == "runbeam"
    assert aware(result.meta.resolved_at) == datetime(2025, 12, 29, 0, 5, tzinfo=UTC)


def test_resolve_reference_defaults(api: ConformanceMock, client: RunbeamClient) -> None:
    reply = {
        "data": {"type": "egress", "id": "01JGXYZ", "name": "lab-results"},
        "meta": {"provider": "runbeam", "resolved_at": "2025-12-29T00:05:00Z"},
    }
    api.get(f"{BASE_URL}/harmony/resources/resolve", json=reply)
    result = client.resolve_reference("runbeam.partner_lab.egress.id.01JGXYZ")
    assert_get(
        only_request(api),
        f"{BASE_URL}/harmony/resources/resolve?ref=runbeam.partner_lab.egress.id.01JGXYZ",
    )
    assert result.data.enabled is True
    assert result.data.urls == []
    assert result.data.team_id is None


@pytest.mark.parametrize(
    "ref, encoded",
    [
        ("runbeam.id.01JGXYZ123ABC", "runbeam.id.01JGXYZ123ABC"),
        ("runbeam.acme.id.01JGXYZ123ABC", "runbeam.acme.id.01JGXYZ123ABC"),
        ("runbeam.name.patient api", "runbeam.name.patient%20api"),
        ("runbeam.acme.id.a/b", "runbeam.acme.id.a%2Fb"),
        ("runbeam.name.a+b", "runbeam.name.a%2Bb"),
        ("runbeam.name.a&ref=x", "runbeam.name.a%26ref%3Dx"),
        ("runbeam.name.tilde~under_score", "runbeam.name.tilde~under_score"),
        ("runbeam.name.café", "runbeam.name.caf%C3%A9"),
    ],
)
def test_resolve_reference_encoding(
    api: ConformanceMock, client: RunbeamClient, ref: str, encoded: str
) -> None:
    api.get(
        f"{BASE_URL}/harmony/resources/resolve",
        json=RESOLVED,
        match=[matchers.query_param_matcher({"ref": ref})],
    )
    client.resolve_reference(ref)
    assert_get(only_request(api), f"{BASE_URL}/harmony/resources/resolve?ref={encoded}")


@pytest.mark.parametrize(
    "ref",
    [
        "patient_api",  # a bare name is local.name.name
        "local.name.patient_api",
        "local.id.01JGXYZ",
        "local.acme.ingress.name.patient_api",
        "runbeam.acme",
        "runbeam.acme.ingress.name",
        "runbeam.acme.widget.name.patient_api",
        "runbeam.acme.ingress.code.patient_api",
        "runbeam..id.x",
        "runbeam.a.b.c.d.e",
        "",
        "   ",
    ],
)
def test_resolve_reference_rejects_before_sending(
    api: ConformanceMock, client: RunbeamClient, ref: str
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.resolve_reference(ref)
    assert len(api.calls) == 0


# --- errors -------------------------------------------------------------------------------------


def test_401_plain_text(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/harmony/changes", status=401, body="Unauthorized")
    with pytest.raises(AuthenticationError) as info:
        client.list_changes()
    assert info.value.status_code == 401
    assert info.value.message == "Unauthorized"
    assert info.value.code is None
    assert info.value.body_excerpt == "Unauthorized"
    assert str(info.value).startswith("HTTP 401: Unauthorized")


def test_404_plain_text(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/harmony/change/change-404", status=404, body="Change not found")
    with pytest.raises(NotFoundError) as info:
        client.get_change("change-404")
    assert info.value.status_code == 404
    assert info.value.message == "Change not found"


def test_403_error_and_message(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/gateways/gateway-999",
        status=403,
        json={"error": "Forbidden", "message": "This gateway does not belong to your team"},
    )
    with pytest.raises(PermissionDeniedError) as info:
        client.get_gateway("gateway-999")
    assert info.value.code == "Forbidden"
    assert info.value.message == "This gateway does not belong to your team"


def test_laravel_404_message(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/transforms/transform-404",
        status=404,
        json={"message": "No query results for model [App\\Models\\Transform] transform-404"},
    )
    with pytest.raises(NotFoundError) as info:
        client.get_transform("transform-404")
    assert info.value.message == "No query results for model [App\\Models\\Transform] transform-404"


@pytest.mark.off_spec("a proxy's HTML 502 page")
def test_html_502_is_an_internal_server_error(api: ConformanceMock, client: RunbeamClient) -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    api.get(f"{BASE_URL}/harmony/changes/gw-1", status=502, body=html, content_type="text/html")
    with pytest.raises(InternalServerError) as info:
        client.list_changes_for_gateway("gw-1")
    assert info.value.status_code == 502
    assert "<html" not in info.value.message
    assert "502 Bad Gateway" in info.value.body_excerpt


@pytest.mark.off_spec("a 200 reply cut off in the middle of the JSON")
def test_truncated_json_is_a_validation_error(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/change/change-001",
        body='{"data": {"id": "change-001", "type": "gateway", "gateway_id": "gate',
        content_type="application/json",
    )
    with pytest.raises(ResponseValidationError) as info:
        client.get_change("change-001")
    assert not isinstance(info.value, json.JSONDecodeError)
    assert info.value.path == "$"
    assert info.value.status_code == 200
    assert "change-001" in info.value.body_excerpt


@pytest.mark.off_spec("gateway_id is an integer, not a string")
def test_wrong_type_names_the_json_path(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/change/change-001",
        json={"data": {**CHANGE_DETAIL, "gateway_id": 123}},
    )
    with pytest.raises(ResponseValidationError) as info:
        client.get_change("change-001")
    assert info.value.path == "$.data.gateway_id"
    assert "$.data.gateway_id" in str(info.value)


@pytest.mark.off_spec("a required field is missing")
def test_missing_field_names_the_json_path(api: ConformanceMock, client: RunbeamClient) -> None:
    item = {k: v for k, v in CHANGE_ITEM.items() if k != "created_at"}
    api.get(f"{BASE_URL}/harmony/changes", json={"data": [CHANGE_ITEM, item]})
    with pytest.raises(ResponseValidationError) as info:
        client.list_changes()
    assert info.value.path == "$.data[1].created_at"


@pytest.mark.off_spec("status 'quarantined' is not in the spec's ChangeStatus enum")
def test_unknown_enum_value_is_kept(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/change/change-001",
        json={"data": {**CHANGE_DETAIL, "status": "quarantined"}},
    )
    change = client.get_change("change-001")
    assert isinstance(change.status, ChangeStatus)
    assert change.status == "quarantined"
    assert change.status.name == "UNKNOWN"
    assert change.status.value == "quarantined"
    assert change.status != ChangeStatus.PENDING


def test_unknown_fields_are_ignored(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/change/change-001",
        json={"data": {**CHANGE_DETAIL, "priority": "high", "rollout": {"wave": 2}}, "x": 1},
    )
    change = client.get_change("change-001")
    assert change.id == CHANGE_DETAIL["id"]
    assert not hasattr(change, "priority")


def test_request_id_on_errors(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/gateways/gateway-404",
        status=404,
        json={"message": "Gateway not found."},
        headers={"x-request-id": "req-7f3a9c"},
    )
    with pytest.raises(NotFoundError) as info:
        client.get_gateway("gateway-404")
    assert info.value.request_id == "req-7f3a9c"
    assert "req-7f3a9c" in str(info.value)


def test_missing_token_is_rejected_before_sending(api: ConformanceMock) -> None:
    with RunbeamClient(BASE_URL, max_retries=0) as anonymous:
        with pytest.raises(InvalidArgumentError, match="RUNBEAM_TOKEN"):
            anonymous.get_change("change-001")
        with pytest.raises(InvalidArgumentError, match="token"):
            anonymous.mark_change_applied("change-001")
        with pytest.raises(InvalidArgumentError, match="token"):
            anonymous.list_changes()
        with pytest.raises(InvalidArgumentError, match="token"):
            anonymous.acknowledge_changes(["change-001"])
    assert len(api.calls) == 0


# --- construction -------------------------------------------------------------------------------


def test_base_url_and_token_from_the_environment(
    api: ConformanceMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNBEAM_BASE_URL", "https://env.runbeam.test/api")
    monkeypatch.setenv("RUNBEAM_TOKEN", "mt_env_token_42")
    api.get("https://env.runbeam.test/api/gateways/my-gateway", json={"data": GATEWAY})
    with RunbeamClient(max_retries=0) as env_client:
        assert env_client.base_url == "https://env.runbeam.test/api"
        env_client.get_gateway("my-gateway")
    assert_get(
        only_request(api),
        "https://env.runbeam.test/api/gateways/my-gateway",
        auth="Bearer mt_env_token_42",
    )


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBEAM_BASE_URL", "https://env.runbeam.test/api")
    with RunbeamClient(BASE_URL, token=TOKEN) as c:
        assert c.base_url == BASE_URL


@pytest.mark.parametrize(
    "given, root",
    [
        ("https://runbeam.test", "https://runbeam.test/api"),
        ("https://runbeam.test/", "https://runbeam.test/api"),
        ("https://runbeam.test/api/", "https://runbeam.test/api"),
        ("http://runbeam.lndo.site:8080", "http://runbeam.lndo.site:8080/api"),
        ("https://runbeam.test/custom/root", "https://runbeam.test/custom/root"),
    ],
)
def test_api_root(given: str, root: str) -> None:
    with RunbeamClient(given, token=TOKEN) as c:
        assert c.base_url == root


def test_bare_origin_from_env_gets_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBEAM_BASE_URL", "https://runbeam.test")
    with RunbeamClient(token=TOKEN) as c:
        assert c.base_url == BASE_URL


def test_no_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidArgumentError, match="RUNBEAM_BASE_URL"):
        RunbeamClient(token=TOKEN)
    monkeypatch.setenv("RUNBEAM_BASE_URL", "")
    with pytest.raises(InvalidArgumentError, match="RUNBEAM_BASE_URL"):
        RunbeamClient(token=TOKEN)


@pytest.mark.parametrize(
    "bad", ["ftp://runbeam.test/api", "runbeam.test/api", "https://", "", "file:///etc/passwd"]
)
def test_non_http_base_url_is_rejected(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        RunbeamClient(bad, token=TOKEN)


@pytest.mark.parametrize(
    "bad",
    ["", "   ", 42, "mt_secret_abc123\n", " mt_secret_abc123", "mt_secret abc123", "mt_secr€t"],
)
def test_bad_token_is_rejected_without_echoing_it(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        RunbeamClient(BASE_URL, token=bad)
    assert "secret" not in str(info.value)


def test_token_with_a_newline_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # `export RUNBEAM_TOKEN=$(cat token.txt)` keeps no newline, but env files often do.
    monkeypatch.setenv("RUNBEAM_TOKEN", "mt_secret_abc123\n")
    with pytest.raises(InvalidArgumentError, match="newline") as info:
        RunbeamClient(BASE_URL)
    assert "mt_secret" not in str(info.value)


@pytest.mark.parametrize("bad", ["1|secretUserToken\n", "1|secret UserToken", "1|sécret"])
def test_bad_user_token_is_rejected_before_sending(
    api: ConformanceMock, client: RunbeamClient, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        client.authorize_gateway(bad, "test-gateway")
    assert "secret" not in str(info.value)
    assert len(api.calls) == 0


@pytest.mark.parametrize("bad", [0, -1, "5", (1,), (1, 2, 3), (5, 0), True, float("nan")])
def test_per_call_timeout_is_validated(
    api: ConformanceMock, client: RunbeamClient, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="timeout"):
        client.get_change("change-001", timeout=bad)
    assert len(api.calls) == 0


def test_per_call_timeout_is_used(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/harmony/change/change-001", json={"data": CHANGE_DETAIL})
    api.get(f"{BASE_URL}/gateways/my-gateway", json={"data": GATEWAY})
    client.get_change("change-001", timeout=(1.5, 7))
    client.get_gateway("my-gateway")
    assert api.calls[0].request.req_kwargs["timeout"] == (1.5, 7)
    assert api.calls[1].request.req_kwargs["timeout"] == (5.0, 60.0)


def test_extra_headers_are_sent(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/harmony/change/change-001", json={"data": CHANGE_DETAIL})
    api.post(
        f"{BASE_URL}/harmony/change/change-001/applied",
        json={"success": True, "message": "Change marked as applied"},
    )
    client.get_change("change-001", extra_headers={"X-Harmony-Instance": "edge-01"})
    client.mark_change_applied("change-001", extra_headers={"X-Trace-Id": "trace-123"})
    first, second = (c.request for c in api.calls)
    assert first.headers["X-Harmony-Instance"] == "edge-01"
    assert first.headers["Authorization"] == AUTH
    assert second.headers["X-Trace-Id"] == "trace-123"
    assert "X-Harmony-Instance" not in second.headers


def test_default_headers(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/gateways/my-gateway", json={"data": GATEWAY})
    client.get_gateway("my-gateway")
    headers = only_request(api).headers
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("controldeck/")
    assert headers["User-Agent"].endswith(" runbeam")


def test_context_manager_closes_the_session(api: ConformanceMock) -> None:
    api.get(f"{BASE_URL}/gateways/my-gateway", json={"data": GATEWAY})
    with RunbeamClient(BASE_URL, token=TOKEN, max_retries=0) as c:
        c.get_gateway("my-gateway")
        (session,) = c._transport._pool._idle
        spy = mock.patch.object(session, "close", wraps=session.close)
        closed = spy.start()
    spy.stop()
    closed.assert_called_once_with()
    c.close()  # closing twice is fine


def test_repr_has_no_token(client: RunbeamClient) -> None:
    assert repr(client) == "RunbeamClient(base_url='https://runbeam.test/api')"
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)


def test_offsets_other_than_utc_are_kept(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/harmony/change/change-001",
        json={"data": {**CHANGE_DETAIL, "created_at": "2025-01-07T10:30:00+09:30"}},
    )
    created = aware(client.get_change("change-001").created_at)
    assert created.tzinfo == timezone(timedelta(hours=9, minutes=30))


# --- client conveniences ---------------------------------------------------------------------


def test_a_machine_token_object_is_accepted_as_the_token(api: ConformanceMock) -> None:
    from datetime import UTC, datetime

    from controldeck.runbeam import MachineToken

    saved = MachineToken(
        machine_token="mt_saved_123", expires_at=datetime(2099, 1, 1, tzinfo=UTC), gateway_id="g"
    )
    api.get(f"{BASE_URL}/gateways/my-gateway", json={"data": GATEWAY})
    with RunbeamClient(BASE_URL, token=saved, max_retries=0) as c:
        assert c.get_gateway("my-gateway").code == GATEWAY["code"]
    assert api.calls[0].request.headers["Authorization"] == "Bearer mt_saved_123"


def test_copy_makes_an_independent_sibling(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(f"{BASE_URL}/gateways/my-gateway", json={"data": GATEWAY})
    with client.copy(token="other-token-999") as sibling:
        assert sibling.base_url == client.base_url
        sibling.get_gateway("my-gateway")
    client.get_gateway("my-gateway")  # closing the copy left this client open
    assert [c.request.headers["Authorization"] for c in api.calls] == [
        "Bearer other-token-999",
        AUTH,
    ]
    with pytest.raises(InvalidArgumentError, match="unknown arguments: tokn"):
        client.copy(tokn="x")


def test_a_closed_client_says_so_and_sends_nothing(api: ConformanceMock) -> None:
    with RunbeamClient(BASE_URL, token=TOKEN) as c:
        pass
    with pytest.raises(ControlDeckError, match="RunbeamClient is closed"):
        c.list_gateways()
    assert len(api.calls) == 0


def test_page_slices_are_typed_lists(api: ConformanceMock, client: RunbeamClient) -> None:
    api.get(
        f"{BASE_URL}/gateways",
        json={
            "data": [GATEWAY, {**GATEWAY, "id": "gateway-2"}],
            "links": LINKS_ONE_PAGE,
            "meta": META_ONE_PAGE,
        },
    )
    page = client.list_gateways()
    firsts: list[Gateway] = page[:1]
    assert [g.id for g in firsts] == [GATEWAY["id"]]
