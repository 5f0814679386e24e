"""`project(pid).mcp`: the exact requests sent, the values decoded, secrets kept out of sight."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from controldeck._generated.akribes import McpAuthKind, McpConfigOrigin, McpHealthStatus
from controldeck.akribes import AkribesClient
from controldeck.akribes._mcp import McpClient
from controldeck.errors import BadRequestError, InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import BASE_URL, PID
from tests.akribes.test_scripts import assert_sent, only_request

pytestmark = pytest.mark.usefixtures("api")

MCP = f"{BASE_URL}/projects/{PID}/mcp"
SECRET = "sk-live-mcp-0123456789abcdef"
ROW: dict[str, Any] = {
    "alias": "search",
    "origin": "db",
    "url": "https://mcp.example/sse",
    "transport": "sse",
    "timeout_secs": 30,
    "approval_required": False,
    "auth_kind": "bearer",
    "auth_header_name": None,
    "auth_configured": True,
}


@pytest.fixture
def mcp(client: AkribesClient) -> McpClient:
    return client.project(PID).mcp


def sent_json(api: ConformanceMock) -> Any:
    return json.loads(only_request(api).body or b"")


# --- servers and tools ------------------------------------------------------------------------


def test_list_servers_sends_no_paging(api: ConformanceMock, mcp: McpClient) -> None:
    server = {
        "alias": "search",
        "url": "https://mcp.example/sse",
        "origin": "script",
        "is_registry": False,
        "status": "connected",
        "tool_count": 4,
    }
    api.get(f"{MCP}/servers", json=[server])

    servers = mcp.list_servers()

    assert_sent(only_request(api), "GET", f"{MCP}/servers")
    assert len(servers) == 1
    assert (servers[0].alias, servers[0].origin, servers[0].tool_count) == ("search", "script", 4)
    assert servers[0].is_registry is False


def test_list_servers_is_empty_on_404(api: ConformanceMock, mcp: McpClient) -> None:
    api.get(f"{MCP}/servers", status=404, json={"error": "project not found"})
    assert mcp.list_servers() == []


def test_list_tools(api: ConformanceMock, mcp: McpClient) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    tool = {"qualified_name": "search.query", "server_alias": "search", "input_schema": schema}
    api.get(
        f"{MCP}/tools",
        json=[tool, {**tool, "qualified_name": "search.fetch", "description": "Fetch"}],
    )

    tools = mcp.list_tools()

    assert_sent(only_request(api), "GET", f"{MCP}/tools")
    assert [(t.qualified_name, t.description) for t in tools] == [
        ("search.query", None),
        ("search.fetch", "Fetch"),
    ]
    assert tools[0].input_schema == schema


def test_list_tools_is_empty_on_404(api: ConformanceMock, mcp: McpClient) -> None:
    api.get(f"{MCP}/tools", status=404, json={"error": "project not found"})
    assert mcp.list_tools() == []


def test_health_encodes_the_alias(api: ConformanceMock, mcp: McpClient) -> None:
    reply = {"status": "degraded", "last_error": "timeout", "last_check_at": "2026-02-01T10:00:00Z"}
    api.get(f"{MCP}/servers/team%2Fsearch/health", json=reply)

    health = mcp.health("team/search")

    assert_sent(only_request(api), "GET", f"{MCP}/servers/team%2Fsearch/health")
    assert health.status is McpHealthStatus.DEGRADED
    assert health.last_error == "timeout"
    assert health.last_check_at == datetime(2026, 2, 1, 10, tzinfo=UTC)


def test_health_of_an_unknown_server_raises(api: ConformanceMock, mcp: McpClient) -> None:
    # Upstream raises here (HttpStatus 404) rather than returning nothing.
    api.get(f"{MCP}/servers/gone/health", status=404, json={"error": "no such server"})
    with pytest.raises(NotFoundError, match="no such server"):
        mcp.health("gone")


def test_refresh_posts_an_empty_object(api: ConformanceMock, mcp: McpClient) -> None:
    api.post(
        f"{MCP}/servers/search/refresh",
        json={"refreshed": True, "alias": "search", "tool_count": 5},
    )

    result = mcp.refresh("search")

    assert_sent(only_request(api), "POST", f"{MCP}/servers/search/refresh", {})
    assert (result.refreshed, result.alias, result.tool_count) == (True, "search", 5)


def test_drift(api: ConformanceMock, mcp: McpClient) -> None:
    api.get(f"{MCP}/servers/search/drift", json={"drifted": True, "added": ["search.summarise"]})

    drift = mcp.drift("search")

    assert_sent(only_request(api), "GET", f"{MCP}/servers/search/drift")
    assert drift.drifted is True
    assert (drift.added, drift.removed, drift.reason) == (["search.summarise"], [], None)


def test_drift_of_an_unknown_server_raises(api: ConformanceMock, mcp: McpClient) -> None:
    api.get(f"{MCP}/servers/gone/drift", status=404, json={"error": "no such server"})
    with pytest.raises(NotFoundError):
        mcp.drift("gone")


# --- configs, pin, schema diff ----------------------------------------------------------------


def test_list_configs(api: ConformanceMock, mcp: McpClient) -> None:
    api.get(f"{MCP}/configs", json=[ROW])

    rows = mcp.list_configs()

    assert_sent(only_request(api), "GET", f"{MCP}/configs")
    row = rows[0]
    assert (row.alias, row.origin, row.auth_kind) == (
        "search",
        McpConfigOrigin.DB,
        McpAuthKind.BEARER,
    )
    assert (row.transport, row.timeout_secs, row.approval_required) == ("sse", 30, False)
    assert row.auth_header_name is None
    assert row.auth_configured is True


def test_list_configs_is_empty_on_404(api: ConformanceMock, mcp: McpClient) -> None:
    api.get(f"{MCP}/configs", status=404, json={"error": "project not found"})
    assert mcp.list_configs() == []


def test_create_config_sends_only_what_was_given(api: ConformanceMock, mcp: McpClient) -> None:
    api.post(
        f"{MCP}/servers", status=201, json={**ROW, "auth_kind": "none", "auth_configured": False}
    )

    row = mcp.create_config("search")

    assert_sent(only_request(api), "POST", f"{MCP}/servers", {"alias": "search"})
    assert row.auth_configured is False


def test_create_config_with_every_field(api: ConformanceMock, mcp: McpClient) -> None:
    api.post(
        f"{MCP}/servers",
        status=201,
        json={**ROW, "auth_kind": "header", "auth_header_name": "X-Key"},
    )

    row = mcp.create_config(
        "search",
        url="https://mcp.example/sse",
        origin="db",
        timeout_secs=0,
        approval_required=True,
        auth_kind=McpAuthKind.HEADER,
        auth_header_name="X-Key",
        auth_secret=SECRET,
    )

    assert sent_json(api) == {
        "alias": "search",
        "url": "https://mcp.example/sse",
        "origin": "db",
        "timeout_secs": 0,
        "approval_required": True,
        "auth_kind": "header",
        "auth_header_name": "X-Key",
        "auth_secret": SECRET,
    }
    assert row.auth_header_name == "X-Key"


def test_create_config_error_never_shows_the_secret(
    api: ConformanceMock, mcp: McpClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that echoes the body back in its error message.
    api.post(f"{MCP}/servers", status=400, json={"error": f"bad auth_secret {SECRET}"})
    caplog.set_level(logging.DEBUG, logger="controldeck")

    with pytest.raises(BadRequestError) as caught:
        mcp.create_config("search", auth_kind="bearer", auth_secret=SECRET)

    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in (caught.value.body_excerpt or "")
    assert SECRET not in caplog.text
    assert json.loads(only_request(api).body or b"")["auth_secret"] == SECRET


def test_update_config_repeats_the_alias_in_the_body(api: ConformanceMock, mcp: McpClient) -> None:
    api.patch(f"{MCP}/servers/search", json={**ROW, "timeout_secs": 60})

    row = mcp.update_config("search", timeout_secs=60, auth_secret=SECRET)

    assert_sent(
        only_request(api),
        "PATCH",
        f"{MCP}/servers/search",
        {"alias": "search", "timeout_secs": 60, "auth_secret": SECRET},
    )
    assert row.timeout_secs == 60


def test_update_config_clear_secret(api: ConformanceMock, mcp: McpClient) -> None:
    api.patch(f"{MCP}/servers/search", json={**ROW, "auth_configured": False})

    row = mcp.update_config("search", clear_secret=True)

    assert sent_json(api) == {"alias": "search", "clear_secret": True}
    assert row.auth_configured is False


def test_update_config_of_a_missing_alias_raises(api: ConformanceMock, mcp: McpClient) -> None:
    api.patch(f"{MCP}/servers/gone", status=404, json={"error": "no such config"})
    with pytest.raises(NotFoundError):
        mcp.update_config("gone", url="https://x.example")


def test_delete_config(api: ConformanceMock, mcp: McpClient) -> None:
    api.delete(f"{MCP}/servers/search", status=204)
    mcp.delete_config("search")
    assert_sent(only_request(api), "DELETE", f"{MCP}/servers/search")


def test_delete_config_of_a_missing_alias_raises(api: ConformanceMock, mcp: McpClient) -> None:
    api.delete(f"{MCP}/servers/gone", status=404, json={"error": "no such config"})
    with pytest.raises(NotFoundError):
        mcp.delete_config("gone")


def test_pin_posts_no_body(api: ConformanceMock, mcp: McpClient) -> None:
    api.post(f"{MCP}/servers/search/pin", json={"alias": "search", "tool_count": 4, "pinned": True})

    pinned = mcp.pin("search")

    assert_sent(only_request(api), "POST", f"{MCP}/servers/search/pin")
    assert (pinned.alias, pinned.tool_count, pinned.pinned, pinned.refreshed) == (
        "search",
        4,
        True,
        None,
    )


def test_schema_diff(api: ConformanceMock, mcp: McpClient) -> None:
    reply = {
        "alias": "search",
        "pinned": True,
        "reachable": True,
        "drifted": True,
        "added": [],
        "removed": ["search.old"],
        "changed": ["search.query"],
    }
    api.get(f"{MCP}/servers/search/schema-diff", json=reply)

    diff = mcp.schema_diff("search")

    assert_sent(only_request(api), "GET", f"{MCP}/servers/search/schema-diff")
    assert (diff.pinned, diff.reachable, diff.drifted, diff.reason) == (True, True, True, None)
    assert (diff.added, diff.removed, diff.changed) == ([], ["search.old"], ["search.query"])


# --- argument errors: nothing is sent ---------------------------------------------------------

BAD_CALLS: list[tuple[str, Callable[[McpClient], object], str]] = [
    ("health empty", lambda m: m.health(""), "alias must not be empty"),
    ("refresh empty", lambda m: m.refresh(" "), "alias must not be empty"),
    ("drift None", lambda m: m.drift(None), "alias must be a string"),  # type: ignore[arg-type]
    ("pin empty", lambda m: m.pin(""), "alias must not be empty"),
    ("diff empty", lambda m: m.schema_diff(""), "alias must not be empty"),
    ("delete empty", lambda m: m.delete_config(""), "alias must not be empty"),
    ("create empty", lambda m: m.create_config(""), "alias must not be empty"),
    ("create int alias", lambda m: m.create_config(3), "alias must be a string"),  # type: ignore[arg-type]
    (
        "bad origin",
        lambda m: m.create_config("a", origin="env"),
        "origin must be one of db, override",
    ),
    (
        "bad auth kind",
        lambda m: m.create_config("a", auth_kind="basic"),
        "auth_kind must be one of",
    ),
    ("negative timeout", lambda m: m.create_config("a", timeout_secs=-1), "timeout_secs must be"),
    ("bool timeout", lambda m: m.create_config("a", timeout_secs=True), "timeout_secs must be"),
    (
        "str approval",
        lambda m: m.create_config("a", approval_required="no"),  # type: ignore[arg-type]
        "approval_required must be a bool",
    ),
    ("empty url", lambda m: m.create_config("a", url=""), "url must not be empty"),
    (
        "empty secret",
        lambda m: m.create_config("a", auth_secret=""),
        "auth_secret must not be empty",
    ),
    ("update empty", lambda m: m.update_config(""), "alias must not be empty"),
    (
        "secret and clear",
        lambda m: m.update_config("a", auth_secret=SECRET, clear_secret=True),
        "not both",
    ),
    (
        "clear not bool",
        lambda m: m.update_config("a", clear_secret=1),  # type: ignore[arg-type]
        "clear_secret must be a bool",
    ),
]


@pytest.mark.parametrize(
    ("call", "message"), [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS]
)
def test_bad_arguments_send_nothing(
    api: ConformanceMock, mcp: McpClient, call: Callable[[McpClient], object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as caught:
        call(mcp)
    assert SECRET not in str(caught.value)
    assert len(api.calls) == 0
