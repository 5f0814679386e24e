"""`client.organization(org_id)`: MCP configs, secrets (masked), model policy, spend, usage."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from controldeck._generated.akribes import (
    McpAuthKind,
    McpConfigOrigin,
    OrgMcpConfigInput,
    OrgMcpConfigUpdate,
    SecretProbeStatus,
)
from controldeck.akribes import AkribesClient
from controldeck.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnprocessableEntityError,
)
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL

ORG = 3
ROOT = f"{BASE_URL}/organizations/{ORG}"
SECRET_VALUE = "sk-live-0123456789abcdef"
NOT_FOUND = {"error": "organization not found"}
CONFIG_ROW = {
    "alias": "github",
    "origin": "db",
    "url": "https://mcp.github.example",
    "transport": "http",
    "timeout_secs": 30,
    "approval_required": None,
    "auth_kind": "bearer",
    "auth_header_name": None,
    "auth_configured": True,
}
SECRET_META = {
    "name": "OPENAI_API_KEY",
    "description": "prod key",
    "script_usable": False,
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-02T03:04:05Z",
}
POLICY = {
    "default_model": "anthropic.claude-opus-4-7",
    "model_allowlist": ["anthropic.claude-opus-4-7"],
}
SPEND = {"spend_cap_usd": 250.0, "spend_period_start": "2026-01-01T00:00:00Z", "spent_usd": 12.5}
ROW = {"key": "7", "label": "support", "executions": 4, "total_cost_usd": 1.5}
USAGE = {
    "from": "2026-01-01",
    "to": "2026-02-01",
    "total_executions": 4,
    "total_cost_usd": 1.5,
    "unknown_cost_executions": 0,
    "by_project": [{**ROW, "unknown_cost_executions": 0}],
    "by_script": [],
    "by_user": [],
    "daily": [{"date": "2026-01-05", "executions": 4, "total_cost_usd": 1.5}],
    "limits": {
        "spend_cap_usd": None,
        "period_spend_usd": 1.5,
        "spend_period_start": None,
        "quota_remaining": None,
        "concurrency_limit": 0,
        "in_flight_executions": 1,
    },
}
USER_USAGE = {
    "executions": 2,
    "total_cost_usd": 0.75,
    "unknown_cost_executions": 1,
    "last_run_at": "2026-01-05T10:00:00Z",
}


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    assert request.headers["Authorization"] == AUTH
    return request


def body(request: requests.PreparedRequest) -> Any:
    assert request.body is not None
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.body)


def query(request: requests.PreparedRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url or "").query))


# --- MCP configs ------------------------------------------------------------------------------


def test_list_mcp_configs(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{ROOT}/mcp/configs", json=[CONFIG_ROW])
    [row] = client.organization(ORG).list_mcp_configs()
    request = only_request(api)
    assert request.method == "GET"
    assert request.url == f"{ROOT}/mcp/configs"  # unpaged: no limit/offset
    assert row.alias == "github"
    assert row.origin == McpConfigOrigin.DB
    assert row.auth_kind == McpAuthKind.BEARER
    assert (row.timeout_secs, row.approval_required, row.auth_configured) == (30, None, True)


def test_lists_of_a_missing_organization_are_empty(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/organizations/9/mcp/configs", status=404, json=NOT_FOUND)
    api.get(f"{BASE_URL}/organizations/9/secrets", status=404, json=NOT_FOUND)
    org = client.organization(9)
    assert org.list_mcp_configs() == []
    assert org.list_secrets() == []


def test_create_mcp_config_masks_the_inline_secret(
    api: ConformanceMock, client: AkribesClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.post(f"{ROOT}/mcp/configs", status=201, json=CONFIG_ROW)
    config = OrgMcpConfigInput(
        alias="github",
        url="https://mcp.github.example",
        auth_kind=McpAuthKind.BEARER,
        auth_secret=SECRET_VALUE,
        timeout_secs=None,
    )
    with caplog.at_level(logging.DEBUG, logger="controldeck"):
        row = client.organization(ORG).create_mcp_config(config)
    request = only_request(api)
    assert request.method == "POST"
    assert body(request) == {
        "alias": "github",
        "url": "https://mcp.github.example",
        "auth_kind": "bearer",
        "auth_secret": SECRET_VALUE,
        "timeout_secs": None,  # asked for: null clears the timeout
    }
    assert "request POST" in caplog.text
    assert SECRET_VALUE not in caplog.text
    assert row.auth_configured is True


def test_create_mcp_config_error_hides_the_secret(
    api: ConformanceMock, client: AkribesClient
) -> None:
    # A server echoing the credential in a plain-text error must not leak it to the message.
    api.post(f"{ROOT}/mcp/configs", status=422, body=f"bad token {SECRET_VALUE}")
    config = OrgMcpConfigInput(alias="github", auth_secret=SECRET_VALUE)
    with pytest.raises(UnprocessableEntityError) as info:
        client.organization(ORG).create_mcp_config(config)
    assert SECRET_VALUE not in str(info.value)
    assert SECRET_VALUE not in repr(info.value.__dict__)


def test_update_mcp_config(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(f"{ROOT}/mcp/configs/git%2Fhub", json={**CONFIG_ROW, "auth_configured": False})
    changes = OrgMcpConfigUpdate(clear_secret=True, auth_secret_ref="GITHUB_TOKEN")
    row = client.organization(ORG).update_mcp_config("git/hub", changes)
    request = only_request(api)
    assert request.method == "PATCH"
    assert request.url == f"{ROOT}/mcp/configs/git%2Fhub"
    assert body(request) == {"clear_secret": True, "auth_secret_ref": "GITHUB_TOKEN"}
    assert row.auth_configured is False


def test_delete_mcp_config(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(f"{ROOT}/mcp/configs/github", status=204)
    client.organization(ORG).delete_mcp_config("github")
    request = only_request(api)
    assert (request.method, request.url) == ("DELETE", f"{ROOT}/mcp/configs/github")


def test_delete_mcp_config_404_raises(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(f"{ROOT}/mcp/configs/gone", status=404, json=NOT_FOUND)
    with pytest.raises(NotFoundError):
        client.organization(ORG).delete_mcp_config("gone")


# --- secrets ----------------------------------------------------------------------------------


def test_list_secrets(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(
        f"{ROOT}/secrets", json=[SECRET_META, {**SECRET_META, "name": "X", "description": None}]
    )
    secrets = client.organization(ORG).list_secrets()
    assert only_request(api).url == f"{ROOT}/secrets"
    assert [(s.name, s.description) for s in secrets] == [
        ("OPENAI_API_KEY", "prod key"),
        ("X", None),
    ]
    assert secrets[0].created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_create_secret_masks_the_value(
    api: ConformanceMock, client: AkribesClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.post(
        f"{ROOT}/secrets",
        status=201,
        json={**SECRET_META, "probe": {"status": "verified"}},
    )
    with caplog.at_level(logging.DEBUG, logger="controldeck"):
        saved = client.organization(ORG).create_secret("OPENAI_API_KEY", SECRET_VALUE)
    request = only_request(api)
    assert request.method == "POST"
    assert body(request) == {"name": "OPENAI_API_KEY", "value": SECRET_VALUE}
    assert "request POST" in caplog.text
    assert SECRET_VALUE not in caplog.text
    assert saved.probe is not None
    assert saved.probe.status == SecretProbeStatus.VERIFIED


def test_create_secret_conflict_hides_the_value(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{ROOT}/secrets", status=409, json={"error": f"exists: {SECRET_VALUE}"})
    with pytest.raises(ConflictError) as info:
        client.organization(ORG).create_secret("K", SECRET_VALUE, description="d")
    assert body(only_request(api)) == {"name": "K", "value": SECRET_VALUE, "description": "d"}
    assert SECRET_VALUE not in str(info.value)


def test_rotate_secret(
    api: ConformanceMock, client: AkribesClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.put(f"{ROOT}/secrets/OPENAI_API_KEY", json=SECRET_META)
    with caplog.at_level(logging.DEBUG, logger="controldeck"):
        saved = client.organization(ORG).rotate_secret(
            "OPENAI_API_KEY", SECRET_VALUE, description="rotated"
        )
    request = only_request(api)
    assert request.method == "PUT"
    assert request.url == f"{ROOT}/secrets/OPENAI_API_KEY"
    assert body(request) == {"value": SECRET_VALUE, "description": "rotated"}
    assert SECRET_VALUE not in caplog.text
    assert saved.probe is None


def test_set_secret_script_usable(api: ConformanceMock, client: AkribesClient) -> None:
    api.patch(f"{ROOT}/secrets/SLACK%20HOOK", json={**SECRET_META, "script_usable": True})
    meta = client.organization(ORG).set_secret_script_usable("SLACK HOOK", True)
    request = only_request(api)
    assert request.method == "PATCH"
    assert request.url == f"{ROOT}/secrets/SLACK%20HOOK"
    assert body(request) == {"script_usable": True}
    assert meta.script_usable is True


def test_delete_secret(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(f"{ROOT}/secrets/OLD", status=204)
    client.organization(ORG).delete_secret("OLD")
    request = only_request(api)
    assert (request.method, request.url) == ("DELETE", f"{ROOT}/secrets/OLD")


# --- model policy and spend cap ---------------------------------------------------------------


def test_get_model_policy(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{ROOT}/model-policy", json=POLICY)
    policy = client.organization(ORG).get_model_policy()
    assert only_request(api).method == "GET"
    assert policy.default_model == "anthropic.claude-opus-4-7"
    assert policy.model_allowlist == ["anthropic.claude-opus-4-7"]


def test_getters_of_a_missing_organization_raise(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.get(f"{BASE_URL}/organizations/9/model-policy", status=404, json=NOT_FOUND)
    api.get(f"{BASE_URL}/organizations/9/spend-cap", status=404, json=NOT_FOUND)
    with pytest.raises(NotFoundError):
        client.organization(9).get_model_policy()
    with pytest.raises(NotFoundError):
        client.organization(9).get_spend_cap()


def test_set_model_policy_always_sends_the_default(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.put(f"{ROOT}/model-policy", json={"default_model": None, "model_allowlist": []})
    policy = client.organization(ORG).set_model_policy([])
    request = only_request(api)
    assert request.method == "PUT"
    assert body(request) == {"model_allowlist": [], "default_model": None}
    assert policy.default_model is None


def test_set_model_policy(api: ConformanceMock, client: AkribesClient) -> None:
    api.put(f"{ROOT}/model-policy", json=POLICY)
    client.organization(ORG).set_model_policy(
        ("anthropic.claude-opus-4-7",), default_model="anthropic.claude-opus-4-7"
    )
    assert body(only_request(api)) == POLICY


def test_get_spend_cap(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{ROOT}/spend-cap", json=SPEND)
    cap = client.organization(ORG).get_spend_cap()
    assert only_request(api).url == f"{ROOT}/spend-cap"
    assert (cap.spend_cap_usd, cap.spent_usd) == (250.0, 12.5)
    assert cap.spend_period_start == datetime(2026, 1, 1, tzinfo=UTC)


def test_set_spend_cap(api: ConformanceMock, client: AkribesClient) -> None:
    api.put(f"{ROOT}/spend-cap", json=SPEND)
    start = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    client.organization(ORG).set_spend_cap(250, period_start=start)
    request = only_request(api)
    assert request.method == "PUT"
    assert body(request) == {
        "spend_cap_usd": 250.0,
        "spend_period_start": "2026-01-01T01:00:00+01:00",
    }


def test_clear_spend_cap_sends_null(api: ConformanceMock, client: AkribesClient) -> None:
    api.put(f"{ROOT}/spend-cap", json={**SPEND, "spend_cap_usd": None})
    cap = client.organization(ORG).set_spend_cap(None)
    assert body(only_request(api)) == {"spend_cap_usd": None}
    assert cap.spend_cap_usd is None


# --- usage ------------------------------------------------------------------------------------


def test_get_usage_all_time(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{ROOT}/usage", json=USAGE)
    usage = client.organization(ORG).get_usage()
    request = only_request(api)
    assert request.url == f"{ROOT}/usage"
    assert (usage.total_executions, usage.total_cost_usd) == (4, 1.5)
    assert usage.by_project[0].label == "support"
    assert usage.daily[0].date == "2026-01-05"
    assert usage.limits.in_flight_executions == 1
    assert usage.limits.quota_remaining is None


def test_get_usage_period(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{ROOT}/usage", json=USAGE)
    client.organization(ORG).get_usage(start=date(2026, 1, 1), end="2026-02-01")
    assert query(only_request(api)) == {"from": "2026-01-01", "to": "2026-02-01"}


def test_get_user_usage(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{ROOT}/users/alice%40acme.com/usage", json=USER_USAGE)
    usage = client.organization(ORG).get_user_usage(
        "alice@acme.com", start=datetime(2026, 1, 1, tzinfo=UTC)
    )
    request = only_request(api)
    assert urlsplit(request.url or "").path == f"/organizations/{ORG}/users/alice%40acme.com/usage"
    assert query(request) == {"from": "2026-01-01T00:00:00+00:00"}
    assert (usage.executions, usage.unknown_cost_executions) == (2, 1)
    assert usage.last_run_at == datetime(2026, 1, 5, 10, tzinfo=UTC)


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ["3", -1, True, None, 3.0])
def test_bad_org_id(client: AkribesClient, org_id: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="org_id"):
        client.organization(org_id)


@pytest.mark.parametrize(
    "call",
    [
        lambda o: o.create_mcp_config({"alias": "github"}),
        lambda o: o.update_mcp_config("github", {"url": "x"}),
        lambda o: o.update_mcp_config("", OrgMcpConfigUpdate()),
        lambda o: o.delete_mcp_config(""),
        lambda o: o.create_secret("", "v"),
        lambda o: o.create_secret("K", ""),
        lambda o: o.create_secret("K", "v", description=3),
        lambda o: o.rotate_secret("K", None),
        lambda o: o.rotate_secret("", "v"),
        lambda o: o.set_secret_script_usable("K", "yes"),
        lambda o: o.delete_secret(None),
        lambda o: o.set_model_policy("anthropic.claude"),
        lambda o: o.set_model_policy([""]),
        lambda o: o.set_model_policy([], default_model=""),
        lambda o: o.set_spend_cap(-1),
        lambda o: o.set_spend_cap("10"),
        lambda o: o.set_spend_cap(float("nan")),
        lambda o: o.set_spend_cap(True),
        lambda o: o.set_spend_cap(10, period_start=datetime(2026, 1, 1)),
        lambda o: o.set_spend_cap(10, period_start="2026-01-01"),
        lambda o: o.get_usage(start=""),
        lambda o: o.get_usage(end=20260101),
        lambda o: o.get_user_usage(""),
    ],
)
def test_bad_arguments_send_nothing(api: ConformanceMock, client: AkribesClient, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client.organization(ORG))
    assert len(api.calls) == 0


def test_repr(client: AkribesClient) -> None:
    assert repr(client.organization(ORG)) == "<OrganizationClient of organization 3>"
