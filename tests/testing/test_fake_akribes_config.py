"""FakeAkribes' configuration routes (MCP servers, registered clients and locks,
organizations) over real sockets, each reply decoded strictly and checked against
openapi/akribes.yaml (the fixtures of test_fake_akribes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controldeck._generated import akribes as m
from controldeck.testing.akribes import FakeAkribes
from tests.testing.test_fake_akribes import Api, strict


@pytest.fixture
def fake() -> Iterator[FakeAkribes]:
    with FakeAkribes() as server:
        yield server


@pytest.fixture
def api(fake: FakeAkribes) -> Iterator[Api]:
    client = Api(fake, fake.service_token)
    with client.session:
        yield client
        client.check_spec()


MCP = "/projects/1/mcp"


def test_project_mcp_servers_pin_and_drift(fake: FakeAkribes, api: Api) -> None:
    body = {"alias": "crm", "url": "http://crm.local/mcp", "auth_kind": "bearer",
            "auth_secret": "s3cret", "timeout_secs": 30}  # fmt: skip
    created = api("POST", f"{MCP}/servers", json=body)
    row = strict(created, m.McpConfigRow)
    assert (created.status_code, row.alias, row.auth_configured) == (201, "crm", True)
    assert "s3cret" not in created.text
    assert api("POST", f"{MCP}/servers", json=body).status_code == 409
    assert api("POST", f"{MCP}/servers", json={"alias": "x"}).json() == {
        "error": "url is required"}  # fmt: skip

    servers = strict(api("GET", f"{MCP}/servers"), list[m.McpServerSummary])
    assert [(s.alias, s.status, s.tool_count) for s in servers] == [("crm", "connected", 1)]
    tools = strict(api("GET", f"{MCP}/tools"), list[m.McpToolSummary])
    assert [t.qualified_name for t in tools] == ["crm.search"]
    assert strict(api("GET", f"{MCP}/servers/crm/health"), m.McpHealth).status == "connected"
    assert (
        strict(api("POST", f"{MCP}/servers/crm/refresh", json={}), m.McpRefreshResult).tool_count
        == 1
    )

    unpinned = strict(api("GET", f"{MCP}/servers/crm/drift"), m.McpDriftResult)
    assert (unpinned.drifted, unpinned.reason) == (False, "no pinned schema")
    assert strict(api("POST", f"{MCP}/servers/crm/pin"), m.McpPinResult).pinned is True
    fake.mcp_tools["crm"] = {"search": {"type": "object"}, "create_lead": {}}
    drift = strict(api("GET", f"{MCP}/servers/crm/drift"), m.McpDriftResult)
    assert (drift.drifted, drift.added, drift.removed) == (True, ["create_lead"], [])
    diff = strict(api("GET", f"{MCP}/servers/crm/schema-diff"), m.McpSchemaDiff)
    assert (diff.pinned, diff.added, diff.changed) == (True, ["create_lead"], ["search"])

    patch = {"alias": "crm", "timeout_secs": 5, "clear_secret": True}
    updated = strict(api("PATCH", f"{MCP}/servers/crm", json=patch), m.McpConfigRow)
    assert (updated.timeout_secs, updated.auth_configured, updated.url) == (
        5, False, "http://crm.local/mcp")  # fmt: skip
    assert [c.alias for c in strict(api("GET", f"{MCP}/configs"), list[m.McpConfigRow])] == ["crm"]
    assert api("DELETE", f"{MCP}/servers/crm").status_code == 204
    assert api("GET", f"{MCP}/servers/crm/health").status_code == 404
    assert api("GET", "/projects/99/mcp/servers").status_code == 404


def test_registered_clients_heartbeat_and_locks(fake: FakeAkribes, api: Api) -> None:
    interest = {"script_name": "greet", "inputs": {"name": "string"}}
    body = {"id": "cli-1", "name": "worker", "interests": [interest]}
    registered = api("POST", "/projects/1/clients", json=body)
    bound = strict(registered, m.RegisterClientResponse).interests
    assert registered.status_code == 201
    assert [(i.script_name, i.channel, i.bound_version_id) for i in bound] == [
        ("greet", "production", 1)]  # fmt: skip
    assert bound[0].input_schema == [("name", "string")]
    unknown = {**body, "interests": [{"script_name": "nope", "inputs": {}}]}
    assert api("POST", "/projects/1/clients", json=unknown).status_code == 404

    seen = fake.registered_clients["cli-1"]["last_seen"]
    fake.registered_clients["cli-1"]["last_seen"] = "2000-01-01T00:00:00Z"
    assert api("POST", "/heartbeat", json={"client_id": "cli-1"}).status_code == 200
    assert fake.registered_clients["cli-1"]["last_seen"] >= seen
    assert api("POST", "/heartbeat", json={"client_id": "ghost"}).status_code == 404
    clients = strict(api("GET", "/projects/1/clients"), list[m.ClientInfo])
    assert [(c.id, c.name, c.scripts) for c in clients] == [("cli-1", "worker", ["greet"])]

    locks = strict(api("GET", "/projects/1/scripts/greet/locks"), list[m.ContractLockInfo])
    assert [(lk.client_id, lk.bound_version_id, lk.input_schema) for lk in locks] == [
        ("cli-1", 1, '{"name": "string"}')]  # fmt: skip
    lock = locks[0].id
    rebind = f"/projects/1/scripts/greet/locks/{lock}/rebind"
    unbound = strict(api("PATCH", rebind, json={"version_id": None}), m.ContractLockInfo)
    assert unbound.bound_version_id is None
    assert api("PATCH", rebind, json={"version_id": 99}).status_code == 404
    assert api("DELETE", f"/projects/1/scripts/greet/locks/{lock}").status_code == 204
    assert api("DELETE", f"/projects/1/scripts/greet/locks/{lock}").status_code == 404

    api("POST", "/projects/1/clients", json=body)
    assert api("DELETE", "/clients/cli-1").status_code == 204
    assert (fake.registered_clients, fake.locks) == ({}, {})
    assert api("DELETE", "/clients/cli-1").status_code == 404


def test_organization_settings(api: Api) -> None:
    org = "/organizations/7"
    config = {"alias": "search", "url": "http://search.local", "auth_secret_ref": "SEARCH_KEY"}
    row = strict(api("POST", f"{org}/mcp/configs", json=config), m.McpConfigRow)
    assert (row.origin, row.auth_configured) == ("db", True)
    changed = api("PATCH", f"{org}/mcp/configs/search", json={"approval_required": True})
    assert strict(changed, m.McpConfigRow).approval_required is True
    assert [c.alias for c in strict(api("GET", f"{org}/mcp/configs"), list[m.McpConfigRow])] == [
        "search"]  # fmt: skip
    assert api("GET", "/organizations/8/mcp/configs").json() == []
    assert api("DELETE", f"{org}/mcp/configs/search").status_code == 204
    assert api("DELETE", f"{org}/mcp/configs/search").status_code == 404

    secret = {"name": "OPENAI_KEY", "value": "sk-123", "description": "prod"}
    saved = api("POST", f"{org}/secrets", json=secret)
    result = strict(saved, m.OrgSecretSaveResult)
    assert (saved.status_code, result.description, result.probe.status) == (
        201, "prod", "unverified")  # fmt: skip
    assert "sk-123" not in saved.text
    assert api("POST", f"{org}/secrets", json=secret).status_code == 409
    rotated = api("PUT", f"{org}/secrets/OPENAI_KEY", json={"value": "sk-456"})
    assert strict(rotated, m.OrgSecretSaveResult).description == "prod"
    usable = api("PATCH", f"{org}/secrets/OPENAI_KEY", json={"script_usable": True})
    assert strict(usable, m.OrgSecretMeta).script_usable is True
    listed = strict(api("GET", f"{org}/secrets"), list[m.OrgSecretMeta])
    assert [(s.name, s.script_usable) for s in listed] == [("OPENAI_KEY", True)]
    assert api("DELETE", f"{org}/secrets/OPENAI_KEY").status_code == 204
    assert api("PUT", f"{org}/secrets/OPENAI_KEY", json={"value": "x"}).status_code == 404

    policy = {"default_model": "gpt-x", "model_allowlist": ["gpt-x", "claude-y"]}
    assert strict(api("PUT", f"{org}/model-policy", json=policy), m.OrgModelPolicy) == (
        m.OrgModelPolicy(default_model="gpt-x", model_allowlist=["gpt-x", "claude-y"]))  # fmt: skip
    bad = {"default_model": "other", "model_allowlist": ["gpt-x"]}
    assert api("PUT", f"{org}/model-policy", json=bad).status_code == 400
    assert strict(api("GET", f"{org}/model-policy"), m.OrgModelPolicy).default_model == "gpt-x"


def test_spend_and_usage_come_from_the_executions(fake: FakeAkribes, api: Api) -> None:
    org = "/organizations/7"
    body = {"inputs": {"name": "Ada"}, "triggered_by": "ada@example.com"}
    run = api("POST", "/projects/1/scripts/greet/run", json=body).json()
    for _ in range(2):  # pending → running → completed: the cost is known from then on
        api("GET", f"/executions/{run['execution_id']}/output")
    api("POST", "/execute", json={"source": "workflow main {}"})

    cap = strict(api("PUT", f"{org}/spend-cap", json={"spend_cap_usd": 50}), m.OrgSpendCap)
    assert (cap.spend_cap_usd, cap.spent_usd) == (50, 0.0001)
    assert api("PUT", f"{org}/spend-cap", json={"spend_cap_usd": -1}).status_code == 400
    usage = strict(api("GET", f"{org}/usage", params={"from": "2000-01-01"}), m.OrgUsage)
    assert (usage.total_executions, usage.unknown_cost_executions) == (2, 1)
    assert [(r.label, r.executions) for r in usage.by_project] == [("demo", 1), ("sandbox", 1)]
    assert [r.key for r in usage.by_user] == ["ada@example.com", ""]
    assert (usage.limits.spend_cap_usd, usage.limits.in_flight_executions) == (50, 1)
    assert sum(d.executions for d in usage.daily) == 2
    empty = strict(api("GET", f"{org}/usage", params={"to": "2000-01-01"}), m.OrgUsage)
    assert (empty.total_executions, empty.by_script) == (0, [])

    mine = api("GET", f"{org}/users/ada@example.com/usage")
    assert (strict(mine, m.OrgUserUsage).executions, mine.json()["total_cost_usd"]) == (1, 0.0001)
    assert mine.json()["last_run_at"] == fake.executions[run["execution_id"]]["started_at"]
