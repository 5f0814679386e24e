"""The routes of `FakeAkribes` that configure rather than run: a project's MCP servers,
registered clients and their contract locks, and an organization's MCP configs, secrets,
model policy, spend cap and usage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from controldeck.testing._akribes_routes import (
    TERMINAL,
    Call,
    Json,
    WorkRoutes,
    error,
    not_found,
    page,
    to_int,
)
from controldeck.testing._akribes_seed import declared_inputs, iso
from controldeck.testing._server import Reply, json_reply

__all__ = ["DEFAULT_TOOLS", "ConfigRoutes"]

Route = tuple[str, str, Callable[[Call], Reply]]

# What an MCP server the fake has not been told about offers: one tool.
DEFAULT_TOOLS: dict[str, Any] = {
    "search": {"type": "object", "properties": {"query": {"type": "string"}}},
}

_CONFIG_FIELDS = ("url", "timeout_secs", "approval_required", "auth_header_name")


class ConfigRoutes(WorkRoutes):
    """Route handlers for MCP servers, registered clients, locks and organizations.

    Mixed into `FakeAkribes`, which owns the state named below.
    """

    mcp_configs: dict[int, dict[str, Json]]
    mcp_tools: dict[str, dict[str, Any]]
    registered_clients: dict[str, Json]
    locks: dict[int, Json]
    organizations: dict[int, Json]
    _mcp_secrets: dict[tuple[str, int, str], str]
    _mcp_pins: dict[tuple[int, str], dict[str, Any]]

    def _config_routes(self) -> list[Route]:
        p, s = "/projects/{project_id}", "/projects/{project_id}/scripts/{script_name}"
        server, org = f"{p}/mcp/servers/{{alias}}", "/organizations/{org_id}"
        return [
            ("GET", f"{p}/mcp/servers", self._mcp_servers),
            ("POST", f"{p}/mcp/servers", self._mcp_create),
            ("GET", f"{p}/mcp/tools", self._mcp_list_tools),
            ("GET", f"{p}/mcp/configs", self._mcp_list_configs),
            ("PATCH", server, self._mcp_update),
            ("DELETE", server, self._mcp_delete),
            ("GET", f"{server}/health", self._mcp_health),
            ("POST", f"{server}/refresh", self._mcp_refresh),
            ("GET", f"{server}/drift", self._mcp_drift),
            ("POST", f"{server}/pin", self._mcp_pin),
            ("GET", f"{server}/schema-diff", self._mcp_schema_diff),
            ("POST", "/heartbeat", self._heartbeat),
            ("POST", f"{p}/clients", self._register_client),
            ("GET", f"{p}/clients", self._list_clients),
            ("DELETE", "/clients/{client_id}", self._delete_client),
            ("GET", f"{s}/locks", self._list_locks),
            ("DELETE", f"{s}/locks/{{lock_id}}", self._revoke_lock),
            ("PATCH", f"{s}/locks/{{lock_id}}/rebind", self._rebind_lock),
            ("GET", f"{org}/mcp/configs", self._org_list_configs),
            ("POST", f"{org}/mcp/configs", self._org_create_config),
            ("PATCH", f"{org}/mcp/configs/{{alias}}", self._org_update_config),
            ("DELETE", f"{org}/mcp/configs/{{alias}}", self._org_delete_config),
            ("GET", f"{org}/secrets", self._list_secrets),
            ("POST", f"{org}/secrets", self._create_secret),
            ("PUT", f"{org}/secrets/{{name}}", self._rotate_secret),
            ("PATCH", f"{org}/secrets/{{name}}", self._secret_usable),
            ("DELETE", f"{org}/secrets/{{name}}", self._delete_secret),
            ("GET", f"{org}/model-policy", lambda call: self._org_get(call, "model_policy")),
            ("PUT", f"{org}/model-policy", self._set_model_policy),
            ("GET", f"{org}/spend-cap", self._get_spend_cap),
            ("PUT", f"{org}/spend-cap", self._set_spend_cap),
            ("GET", f"{org}/usage", self._usage),
            ("GET", f"{org}/users/{{email}}/usage", self._user_usage),
        ]

    # -- MCP configs (shared by projects and organizations) -------------------------------

    def _save_config(
        self, owner: tuple[str, int], configs: dict[str, Json], alias: str | None, body: Json
    ) -> Reply:
        """Create (`alias` None: it is in the body) or update a config row from a body."""
        creating = alias is None
        alias = body.get("alias") if creating else alias
        if not isinstance(alias, str) or not alias:
            return error(400, "alias is required")
        row = configs.get(alias)
        if creating and row is not None:
            return error(409, f"MCP config {alias} already exists")
        if not creating and row is None:
            return not_found("MCP config")
        if row is None:
            row = {"alias": alias, "origin": "db", "url": None, "transport": "http",
                   "timeout_secs": None, "approval_required": None, "auth_kind": "none",
                   "auth_header_name": None, "auth_configured": False}  # fmt: skip
        for field in (*_CONFIG_FIELDS, "origin", "auth_kind"):
            if field in body:
                row[field] = body[field]
        if creating and row["url"] is None and row["origin"] == "db":
            return error(400, "url is required")
        key = (*owner, alias)
        if body.get("clear_secret"):
            self._mcp_secrets.pop(key, None)
        for field in ("auth_secret", "auth_secret_ref"):
            if isinstance(body.get(field), str):
                self._mcp_secrets[key] = body[field]
        row["auth_configured"] = key in self._mcp_secrets
        configs[alias] = row
        self.mcp_tools.setdefault(alias, dict(DEFAULT_TOOLS))
        return json_reply(201 if creating else 200, row)

    def _project_configs(self, call: Call) -> dict[str, Json] | None:
        project = self._project(call)
        return None if project is None else self.mcp_configs.setdefault(project["id"], {})

    def _found_server(self, call: Call) -> Json | Reply:
        configs = self._project_configs(call)
        if configs is None:
            return not_found("project")
        row = configs.get(call.params["alias"])
        return row if row is not None else not_found("MCP server")

    # -- a project's MCP servers ---------------------------------------------------------

    def _mcp_servers(self, call: Call) -> Reply:
        configs = self._project_configs(call)
        if configs is None:
            return not_found("project")
        return json_reply(200, [
            {"alias": row["alias"], "url": row["url"] or "", "origin": "db", "is_registry": False,
             "status": "connected", "tool_count": len(self.mcp_tools.get(row["alias"], {}))}
            for row in configs.values()])  # fmt: skip

    def _mcp_create(self, call: Call) -> Reply:
        configs = self._project_configs(call)
        if configs is None:
            return not_found("project")
        body = call.body if isinstance(call.body, dict) else {}
        return self._save_config(("project", int(call.params["project_id"])), configs, None, body)

    def _mcp_update(self, call: Call) -> Reply:
        configs = self._project_configs(call)
        if configs is None:
            return not_found("project")
        body = call.body if isinstance(call.body, dict) else {}
        pid = int(call.params["project_id"])
        return self._save_config(("project", pid), configs, call.params["alias"], body)

    def _mcp_delete(self, call: Call) -> Reply:
        row = self._found_server(call)
        if isinstance(row, Reply):
            return row
        del self.mcp_configs[int(call.params["project_id"])][row["alias"]]
        return Reply(204)

    def _mcp_list_configs(self, call: Call) -> Reply:
        configs = self._project_configs(call)
        return not_found("project") if configs is None else json_reply(200, [*configs.values()])

    def _mcp_list_tools(self, call: Call) -> Reply:
        configs = self._project_configs(call)
        if configs is None:
            return not_found("project")
        return json_reply(200, [
            {"qualified_name": f"{alias}.{name}", "server_alias": alias,
             "description": f"{name} on {alias}", "input_schema": schema}
            for alias in configs
            for name, schema in self.mcp_tools.get(alias, {}).items()])  # fmt: skip

    def _mcp_health(self, call: Call) -> Reply:
        row = self._found_server(call)
        if isinstance(row, Reply):
            return row
        return json_reply(200, {"status": "connected", "last_error": None,
                                "last_check_at": iso(time.time())})  # fmt: skip

    def _mcp_refresh(self, call: Call) -> Reply:
        row = self._found_server(call)
        if isinstance(row, Reply):
            return row
        count = len(self.mcp_tools.get(row["alias"], {}))
        return json_reply(200, {"refreshed": True, "alias": row["alias"], "tool_count": count})

    def _mcp_pin(self, call: Call) -> Reply:
        row = self._found_server(call)
        if isinstance(row, Reply):
            return row
        tools = dict(self.mcp_tools.get(row["alias"], {}))
        self._mcp_pins[(int(call.params["project_id"]), row["alias"])] = tools
        return json_reply(200, {"pinned": True, "refreshed": True, "alias": row["alias"],
                                "tool_count": len(tools)})  # fmt: skip

    def _diff(self, call: Call) -> tuple[Json, dict[str, Any] | None, dict[str, Any]] | Reply:
        row = self._found_server(call)
        if isinstance(row, Reply):
            return row
        pinned = self._mcp_pins.get((int(call.params["project_id"]), row["alias"]))
        return row, pinned, self.mcp_tools.get(row["alias"], {})

    def _mcp_drift(self, call: Call) -> Reply:
        found = self._diff(call)
        if isinstance(found, Reply):
            return found
        _, pinned, live = found
        if pinned is None:
            return json_reply(200, {"drifted": False, "added": [], "removed": [],
                                    "reason": "no pinned schema"})  # fmt: skip
        added, removed = sorted(live.keys() - pinned), sorted(pinned.keys() - live)
        changed = any(pinned[name] != live[name] for name in pinned.keys() & live)
        return json_reply(200, {"drifted": bool(added or removed or changed), "added": added,
                                "removed": removed, "reason": None})  # fmt: skip

    def _mcp_schema_diff(self, call: Call) -> Reply:
        found = self._diff(call)
        if isinstance(found, Reply):
            return found
        row, pinned, live = found
        base = pinned if pinned is not None else live
        added, removed = sorted(live.keys() - base), sorted(base.keys() - live)
        changed = sorted(name for name in base.keys() & live if base[name] != live[name])
        drifted = bool(added or removed or changed)
        return json_reply(200, {"alias": row["alias"], "pinned": pinned is not None,
                                "reachable": True, "drifted": drifted, "added": added,
                                "removed": removed, "changed": changed})  # fmt: skip

    # -- registered clients and contract locks --------------------------------------------

    def _heartbeat(self, call: Call) -> Reply:
        client_id = (call.body or {}).get("client_id") if isinstance(call.body, dict) else None
        row = self.registered_clients.get(str(client_id))
        if row is None:
            return not_found("client")
        row["last_seen"] = iso(time.time())
        return json_reply(200, {})

    def _register_client(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        body = call.body if isinstance(call.body, dict) else {}
        client_id, name, interests = body.get("id"), body.get("name"), body.get("interests")
        if not isinstance(client_id, str) or not isinstance(name, str):
            return error(400, "id and name are required")
        if not isinstance(interests, list):
            return error(400, "interests must be a list")
        scripts = [self._script(project["id"], str(i.get("script_name"))) for i in interests]
        if None in scripts:
            return not_found("script")
        # Registering again replaces the client's locks, as a restarted client would.
        for lock_id in [k for k, v in self.locks.items() if v["client_id"] == client_id]:
            del self.locks[lock_id]
        now, bound = iso(time.time()), []
        for interest, script in zip(interests, scripts, strict=True):
            assert script is not None
            channel_name = interest.get("channel") or "production"
            channel = self._channel(script["id"], channel_name)
            version_id = None if channel is None else channel["version_id"]
            lock = {"id": self._next("lock"), "client_id": client_id, "client_name": name,
                    "script_name": script["name"], "channel": channel_name,
                    "bound_version_id": version_id,
                    "lifetime": interest.get("lifetime") or "session", "drifted": False,
                    "created_by": name, "created_at": now,
                    "input_schema": json.dumps(interest.get("inputs") or {}, sort_keys=True),
                    "project_id": project["id"]}  # fmt: skip
            self.locks[lock["id"]] = lock
            source = "" if version_id is None else self.versions[version_id]["source"]
            bound.append({"script_name": script["name"], "channel": channel_name,
                          "bound_version_id": version_id,
                          "input_schema": declared_inputs(source)})  # fmt: skip
        self.registered_clients[client_id] = {
            "id": client_id, "name": name, "last_seen": now, "project_id": project["id"],
            "scripts": [s["name"] for s in scripts if s is not None]}  # fmt: skip
        return json_reply(201, {"interests": bound})

    def _list_clients(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        rows = [_without_project(c) for c in self.registered_clients.values()
                if c["project_id"] == project["id"]]  # fmt: skip
        return page(call.request, rows)

    def _delete_client(self, call: Call) -> Reply:
        client_id = call.params["client_id"]
        if self.registered_clients.pop(client_id, None) is None:
            return not_found("client")
        for lock_id in [k for k, v in self.locks.items() if v["client_id"] == client_id]:
            del self.locks[lock_id]
        return Reply(204)

    def _script_locks(self, call: Call) -> list[Json] | Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        return [lock for lock in self.locks.values()
                if lock["project_id"] == script["project_id"]
                and lock["script_name"] == script["name"]]  # fmt: skip

    def _found_lock(self, call: Call) -> Json | Reply:
        locks = self._script_locks(call)
        if isinstance(locks, Reply):
            return locks
        lock_id = to_int(call.params["lock_id"])
        lock = next((lock for lock in locks if lock["id"] == lock_id), None)
        return lock if lock is not None else not_found("lock")

    def _list_locks(self, call: Call) -> Reply:
        locks = self._script_locks(call)
        if isinstance(locks, Reply):
            return locks
        return page(call.request, [_without_project(lock) for lock in locks])

    def _revoke_lock(self, call: Call) -> Reply:
        lock = self._found_lock(call)
        if isinstance(lock, Reply):
            return lock
        del self.locks[lock["id"]]
        return Reply(204)

    def _rebind_lock(self, call: Call) -> Reply:
        lock = self._found_lock(call)
        if isinstance(lock, Reply):
            return lock
        body = call.body if isinstance(call.body, dict) else {}
        if "version_id" not in body:
            return error(400, "version_id is required (null unbinds)")
        version_id = body["version_id"]
        if version_id is not None:
            script = self._script(lock["project_id"], lock["script_name"])
            version = self.versions.get(version_id) if isinstance(version_id, int) else None
            if script is None or version is None or version["script_id"] != script["id"]:
                return not_found("version")
        lock.update(bound_version_id=version_id, drifted=False)
        return json_reply(200, _without_project(lock))

    # -- organizations --------------------------------------------------------------------

    def _org(self, call: Call) -> Json | None:
        """An organization's settings; every numeric id names one (the fake has no list)."""
        org_id = to_int(call.params["org_id"])
        if org_id is None:
            return None
        return self.organizations.setdefault(org_id, {
            "mcp_configs": {}, "secrets": {},
            "model_policy": {"default_model": None, "model_allowlist": []},
            "spend_cap": {"spend_cap_usd": None, "spend_period_start": None}})  # fmt: skip

    def _org_get(self, call: Call, key: str) -> Reply:
        org = self._org(call)
        return not_found("organization") if org is None else json_reply(200, org[key])

    def _org_list_configs(self, call: Call) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        return json_reply(200, [*org["mcp_configs"].values()])

    def _org_save_config(self, call: Call, alias: str | None) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        body = call.body if isinstance(call.body, dict) else {}
        owner = ("organization", int(call.params["org_id"]))
        return self._save_config(owner, org["mcp_configs"], alias, body)

    def _org_create_config(self, call: Call) -> Reply:
        return self._org_save_config(call, None)

    def _org_update_config(self, call: Call) -> Reply:
        return self._org_save_config(call, call.params["alias"])

    def _org_delete_config(self, call: Call) -> Reply:
        org = self._org(call)
        if org is None or org["mcp_configs"].pop(call.params["alias"], None) is None:
            return not_found("MCP config")
        return Reply(204)

    def _list_secrets(self, call: Call) -> Reply:
        org = self._org(call)
        return not_found("organization") if org is None else json_reply(
            200, [*org["secrets"].values()])  # fmt: skip

    def _store_secret(self, call: Call, name: Any, creating: bool) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        body = call.body if isinstance(call.body, dict) else {}
        value, description = body.get("value"), body.get("description")
        if not isinstance(name, str) or not name or not isinstance(value, str) or not value:
            return error(400, "name and value are required")
        row = org["secrets"].get(name)
        if creating and row is not None:
            return error(409, f"secret {name} already exists")
        if not creating and row is None:
            return not_found("secret")
        now = iso(time.time())
        if row is None:
            row = {"name": name, "description": None, "script_usable": False, "created_at": now}
        if isinstance(description, str):
            row["description"] = description
        row["updated_at"] = now
        org["secrets"][name] = row
        return json_reply(201 if creating else 200, {**row, "probe": {"status": "unverified"}})

    def _create_secret(self, call: Call) -> Reply:
        name = call.body.get("name") if isinstance(call.body, dict) else None
        return self._store_secret(call, name, creating=True)

    def _rotate_secret(self, call: Call) -> Reply:
        return self._store_secret(call, call.params["name"], creating=False)

    def _found_secret(self, call: Call) -> Json | Reply:
        org = self._org(call)
        row = None if org is None else org["secrets"].get(call.params["name"])
        return row if row is not None else not_found("secret")

    def _secret_usable(self, call: Call) -> Reply:
        row = self._found_secret(call)
        if isinstance(row, Reply):
            return row
        usable = call.body.get("script_usable") if isinstance(call.body, dict) else None
        if not isinstance(usable, bool):
            return error(400, "script_usable must be true or false")
        row.update(script_usable=usable, updated_at=iso(time.time()))
        return json_reply(200, row)

    def _delete_secret(self, call: Call) -> Reply:
        row = self._found_secret(call)
        if isinstance(row, Reply):
            return row
        del self.organizations[int(call.params["org_id"])]["secrets"][row["name"]]
        return Reply(204)

    def _set_model_policy(self, call: Call) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        body = call.body if isinstance(call.body, dict) else {}
        allowlist, default = body.get("model_allowlist"), body.get("default_model")
        if not isinstance(allowlist, list) or not all(isinstance(m, str) for m in allowlist):
            return error(400, "model_allowlist must be a list of model names")
        if default is not None and allowlist and default not in allowlist:
            return error(400, f"default_model {default} is not in the allowlist")
        org["model_policy"] = {"default_model": default, "model_allowlist": allowlist}
        return json_reply(200, org["model_policy"])

    def _spent(self, since: str | None = None) -> float:
        return sum(e["cost_usd"] or 0.0 for e in self.executions.values()
                   if since is None or e["started_at"] >= since)  # fmt: skip

    def _get_spend_cap(self, call: Call) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        cap = org["spend_cap"]
        return json_reply(200, {**cap, "spent_usd": self._spent(cap["spend_period_start"])})

    def _set_spend_cap(self, call: Call) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        body = call.body if isinstance(call.body, dict) else {}
        cap = body.get("spend_cap_usd")
        if cap is not None and (not isinstance(cap, int | float) or cap < 0):
            return error(400, "spend_cap_usd must be a number >= 0 or null")
        org["spend_cap"] = {"spend_cap_usd": cap,
                            "spend_period_start": body.get("spend_period_start")}  # fmt: skip
        return self._get_spend_cap(call)

    def _in_period(self, call: Call) -> list[Json]:
        start, end = call.request.query.get("from"), call.request.query.get("to")
        return [e for e in self.executions.values()
                if (start is None or e["started_at"][:10] >= start[:10])
                and (end is None or e["started_at"][:10] < end[:10])]  # fmt: skip

    def _usage(self, call: Call) -> Reply:
        org = self._org(call)
        if org is None:
            return not_found("organization")
        runs, query = self._in_period(call), call.request.query
        projects = {pid: p["name"] for pid, p in self.projects.items()}
        by_project = _breakdown(runs, lambda e: (str(e["project_id"]),
                                                 projects.get(e["project_id"], "?")))  # fmt: skip
        by_script = _breakdown(runs, lambda e: (f"{e['project_id']}/{e['script_name']}",
                                                e["script_name"]))  # fmt: skip
        by_user = _breakdown(runs, lambda e: (e["triggered_by"] or "", e["triggered_by"] or "-"))
        days = sorted({e["started_at"][:10] for e in runs})
        daily = [{"date": day, "executions": sum(e["started_at"][:10] == day for e in runs),
                  "total_cost_usd": _cost([e for e in runs if e["started_at"][:10] == day])}
                 for day in days]  # fmt: skip
        cap = org["spend_cap"]
        limits = {"spend_cap_usd": cap["spend_cap_usd"],
                  "period_spend_usd": self._spent(cap["spend_period_start"]),
                  "spend_period_start": cap["spend_period_start"],
                  "quota_remaining": None, "concurrency_limit": 10,
                  "in_flight_executions": sum(e["status"] not in TERMINAL
                                              for e in self.executions.values())}  # fmt: skip
        return json_reply(200, {"from": query.get("from"), "to": query.get("to"),
                                **_totals(runs), "by_project": by_project,
                                "by_script": by_script, "by_user": by_user, "daily": daily,
                                "limits": limits})  # fmt: skip

    def _user_usage(self, call: Call) -> Reply:
        if self._org(call) is None:
            return not_found("organization")
        runs = [e for e in self._in_period(call) if e["triggered_by"] == call.params["email"]]
        totals = _totals(runs)
        return json_reply(200, {"executions": totals["total_executions"],
                                "total_cost_usd": totals["total_cost_usd"],
                                "unknown_cost_executions": totals["unknown_cost_executions"],
                                "last_run_at": max((e["started_at"] for e in runs),
                                                   default=None)})  # fmt: skip


def _without_project(row: Json) -> Json:
    return {k: v for k, v in row.items() if k != "project_id"}


def _cost(runs: list[Json]) -> float:
    return sum(e["cost_usd"] or 0.0 for e in runs)


def _totals(runs: list[Json]) -> Json:
    return {"total_executions": len(runs), "total_cost_usd": _cost(runs),
            "unknown_cost_executions": sum(e["cost_usd"] is None for e in runs)}  # fmt: skip


def _breakdown(runs: list[Json], key: Callable[[Json], tuple[str, str]]) -> list[Json]:
    groups: dict[tuple[str, str], list[Json]] = {}
    for execution in runs:
        groups.setdefault(key(execution), []).append(execution)
    return [{"key": k, "label": label, "executions": len(rows), "total_cost_usd": _cost(rows),
             "unknown_cost_executions": sum(e["cost_usd"] is None for e in rows)}
            for (k, label), rows in groups.items()]  # fmt: skip
