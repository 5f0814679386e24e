"""`FakeAkribes`: a stateful fake of the Akribes workflow server on 127.0.0.1.

It serves the paths of `openapi/akribes.yaml` that a workflow's life needs, from memory:
projects; scripts with drafts, published versions and channels; scoped tokens (mint, list,
revoke; bearer checking); runs, whose engine events (`WorkflowStart`, `TaskStart`,
`TaskEnd`, `WorkflowEnd`, or `Error`) go out on the hub stream `GET /events` to the
subscribers attached at that moment, and whose status moves `pending → running →
completed` (or `failed`) one step per poll of `GET /executions/{id}/output`; ad-hoc runs in
the sandbox project, reruns, runs from a graph node, with uploaded files or S3 objects,
and runs that suspend at a checkpoint until resumed; documents (claim, upload, convert,
content by a storage redirect); benches, cases and bench runs, whose results stream on
`GET /bench-runs/{id}/events`; a project's MCP servers, registered clients and contract
locks; and organizations' MCP configs, secrets, model policy, spend cap and usage.

The fake does not interpret Akribes source. A script declares its inputs with lines like
`input name: string` (runs check them), and its result is `results[script_name]` when
set, else the inputs themselves; a script named in `failures` fails with that message.

Example:
    >>> import requests
    >>> from controldeck.testing.akribes import FakeAkribes
    >>> with FakeAkribes() as fake:
    ...     auth = {"Authorization": f"Bearer {fake.service_token}"}
    ...     url = f"{fake.url}/projects/1/scripts/greet/run?channel=production"
    ...     run = requests.post(url, json={"inputs": {"name": "Ada"}}, headers=auth).json()
    ...     out = f"{fake.url}/executions/{run['execution_id']}/output"
    ...     [requests.get(out, headers=auth).json()["status"] for _ in range(3)]
    ['pending', 'running', 'completed']
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from controldeck.testing._akribes_bench import BenchRoutes
from controldeck.testing._akribes_config import ConfigRoutes
from controldeck.testing._akribes_routes import (
    Call,
    Json,
    StreamReply,
    Subscription,
    error,
    json_body,
    may_see,
    not_found,
    page,
    to_int,
)
from controldeck.testing._akribes_seed import declared_inputs, iso
from controldeck.testing._akribes_seed import seed as _seed
from controldeck.testing._server import (
    Handler,
    LoopbackServer,
    RecordedRequest,
    Reply,
    _RequestHandler,
    json_reply,
    text_reply,
)

__all__ = ["FakeAkribes"]

_RouteHandler = Callable[[Call], Reply]


class _StreamingHandler(_RequestHandler):
    """The base handler, plus open-ended chunked replies for the hub stream."""

    def _handle(self) -> None:
        reply = self._reply()
        if isinstance(reply, StreamReply) and reply.subscription is not None:
            self._stream(reply.subscription)
            return
        self._send(reply)

    def _crash_reply(self, exc: Exception) -> Reply:
        return json_reply(500, {"error": f"fake failed: {exc!r}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _stream(self, subscription: Subscription) -> None:
        owner = self.server.owner
        assert isinstance(owner, FakeAkribes)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while (frame := subscription.frames.get()) is not None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the subscriber went away
        finally:
            owner._detach(subscription)


class FakeAkribes(ConfigRoutes, BenchRoutes, LoopbackServer):
    """A stateful Akribes server on 127.0.0.1.

    Every route needs `Authorization: Bearer <token>`: the service token (all rights) or
    a token minted with `POST /tokens` that is neither revoked nor expired. A minted token
    reaches only the projects in its scopes, and a `viewer` may only read. State lives in
    plain dicts that tests may read and change: `projects`, `scripts`, `drafts` (script
    id → source), `versions`, `channels`, `executions`, `documents`, `tokens` (token id →
    the `TokenInfo` row), `benches`, `cases`, `bench_runs`, `bench_results`, `mcp_configs`
    (project id → alias → row), `registered_clients`, `locks`, `organizations` (org id →
    its settings; created on first use).

    Args:
        port: Port to listen on; 0 picks a free one.
        seed: Start with project 1 `demo` holding script `greet` (input `name: string`)
            published to `production`, with a bench of two cases; and project 2
            `sandbox`, the caller's sandbox for ad-hoc runs.

    Attributes:
        service_token: The token with every right (`fake-akribes-service-token`).
        results: Script name → the result its runs produce (default: the inputs).
        failures: Script name → the error message its runs fail with.
        checkpoints: Script name → the checkpoint its runs suspend at (`Suspended` event
            with a token; `POST /executions/{id}/resume` with it completes the run).
        mcp_tools: MCP server alias → its tools (name → input schema); a new server
            offers `search`.
        sandbox_project_id: The project `GET /me/sandbox` names and ad-hoc runs use.
        requests: Every request received, oldest first; `repr` masks tokens.

    Example:
        >>> with FakeAkribes() as fake:
        ...     fake.failures["greet"] = "model unavailable"
        ...     fake.add_script(1, "echo", "input text: string\\n")["name"]
        'echo'
    """

    handler_class = _StreamingHandler

    def __init__(self, *, port: int = 0, seed: bool = True) -> None:
        super().__init__(port=port)
        self.service_token = "fake-akribes-service-token"
        self.results: dict[str, Any] = {}
        self.failures: dict[str, str] = {}
        self.checkpoints: dict[str, str] = {}
        self.sandbox_project_id = 0
        self.projects: dict[int, Json] = {}
        self.scripts: dict[int, Json] = {}
        self.drafts: dict[int, str] = {}
        self.versions: dict[int, Json] = {}
        self.channels: dict[int, Json] = {}
        self.executions: dict[str, Json] = {}
        self.documents: dict[str, Json] = {}
        self.tokens: dict[str, Json] = {}
        self.benches: dict[int, Json] = {}
        self.cases: dict[str, Json] = {}
        self.bench_runs: dict[int, Json] = {}
        self.bench_results: dict[int, list[Json]] = {}
        self.mcp_configs: dict[int, dict[str, Json]] = {}
        self.mcp_tools: dict[str, dict[str, Any]] = {}
        self.registered_clients: dict[str, Json] = {}
        self.locks: dict[int, Json] = {}
        self.organizations: dict[int, Json] = {}
        self._mcp_secrets: dict[tuple[str, int, str], str] = {}  # (owner, id, alias) → secret
        self._mcp_pins: dict[tuple[int, str], dict[str, Any]] = {}
        self._run_inputs: dict[str, Any] = {}
        self._checkpoint_tokens: dict[str, str] = {}
        self._contents: dict[str, bytes] = {}
        self._secrets: dict[str, str] = {}  # minted secret → token id
        self._outcomes: dict[str, Json] = {}  # execution id → its final fields
        self._engine_events: dict[str, list[Json]] = {}
        self._idempotent: dict[str, str] = {}  # Idempotency-Key → execution id
        self._markdown: dict[str, str] = {}
        self._hub: list[tuple[int, int, str, bytes]] = []  # (seq, project, script, frame)
        self._subscriptions: list[Subscription] = []
        self._closing = False
        self._ids: dict[str, int] = {}
        self._register_routes()
        if seed:
            _seed(self)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeAkribes:
        """Serve in a daemon thread (see `LoopbackServer.start`), with streaming replies.

        Returns:
            The fake itself.

        Example:
            >>> fake = FakeAkribes().start()
            >>> fake.stop()
        """
        super().start()
        self._closing = False
        return self

    def stop(self) -> None:
        """End every open event stream, then stop serving (see `LoopbackServer.stop`).

        Example:
            >>> fake.stop()
        """
        with self._lock:
            self._closing = True
        self.end_streams()
        super().stop()

    def end_streams(self) -> int:
        """End every open `GET /events` stream cleanly (the terminating chunk is sent).

        A client then sees end of stream; one that resumes sends `Last-Event-ID` and gets
        what it missed.

        Returns:
            How many streams were ended.

        Example:
            >>> fake.end_streams()
            1
        """
        with self._lock:
            ended, self._subscriptions = self._subscriptions, []
        for subscription in ended:
            subscription.frames.put(None)
        return len(ended)

    @property
    def subscribers(self) -> int:
        """How many `GET /events` streams are attached now.

        Example:
            >>> fake.subscribers
            0
        """
        with self._lock:
            return len(self._subscriptions)

    def wait_for_subscribers(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Block until at least `count` event streams are attached.

        Args:
            count: Streams to wait for.
            timeout: Seconds before giving up.

        Raises:
            TimeoutError: Fewer streams were attached when the time ran out.

        Example:
            >>> fake.wait_for_subscribers(1, timeout=2)
        """
        deadline = time.monotonic() + timeout
        while self.subscribers < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.subscribers} of {count} event streams attached")
            time.sleep(0.005)

    # -- state helpers (tests and the seed use them) --------------------------------------

    def add_project(self, name: str) -> Json:
        """Create a project as `POST /projects` would.

        Args:
            name: The project's name.

        Returns:
            The `Project` row (id, name, created_at).

        Example:
            >>> fake.add_project("research")["id"]
            3
        """
        with self._lock:
            project: Json = {
                "id": self._next("project"),
                "name": name,
                "created_at": iso(time.time()),
            }
            self.projects[project["id"]] = project
        return project

    def add_script(self, project_id: int, name: str, source: str) -> Json:
        """Create a script whose draft is `source`, as `POST .../scripts?name=` would.

        Args:
            project_id: The project.
            name: The script's name.
            source: Its draft; `input <name>: <type>` lines declare its inputs.

        Returns:
            The `Script` row.

        Example:
            >>> fake.add_script(1, "summarize", "input doc: document\\n")["project_id"]
            1
        """
        with self._lock:
            script: Json = {
                "id": self._next("script"),
                "project_id": project_id,
                "name": name,
                "created_at": iso(time.time()),
            }
            self.scripts[script["id"]] = script
            self.drafts[script["id"]] = source
        return script

    def publish(
        self,
        script_id: int,
        channels: list[str],
        *,
        label: str | None = None,
        published_by: str | None = None,
    ) -> Json:
        """Publish the script's draft as a new version and point `channels` at it.

        Args:
            script_id: The script.
            channels: Channels to create or move to the new version.
            label: The version's label.
            published_by: Who published it.

        Returns:
            The `ScriptVersion` row.

        Example:
            >>> fake.publish(1, ["staging"], label="v2")["script_id"]
            1
        """
        with self._lock:
            now = iso(time.time())
            version: Json = {
                "id": self._next("version"),
                "script_id": script_id,
                "source": self.drafts.get(script_id, ""),
                "label": label,
                "published_by": published_by,
                "created_at": now,
            }
            self.versions[version["id"]] = version
            for name in channels:
                channel = self._channel(script_id, name) or self._add_channel(script_id, name)
                channel.update(version_id=version["id"], updated_at=now)
        return version

    def _add_channel(self, script_id: int, name: str) -> Json:
        channel: Json = {"id": self._next("channel"), "script_id": script_id, "name": name,
                   "version_id": None, "updated_at": None}  # fmt: skip
        self.channels[channel["id"]] = channel
        return channel

    # -- routes ---------------------------------------------------------------------------

    def _register_routes(self) -> None:
        s = "/projects/{project_id}/scripts/{script_name}"
        routes: list[tuple[str, str, _RouteHandler]] = [
            ("GET", "/state", lambda call: json_reply(200, {"env": {"AKRIBES_ENV": "fake"}})),
            ("GET", "/me/sandbox", self._sandbox),
            ("POST", "/execute", self._run_adhoc),
            ("GET", "/events", self._subscribe),
            ("GET", "/projects", lambda call: page(call.request, self._visible_projects(call))),
            ("POST", "/projects", self._create_project),
            ("PUT", "/projects/reorder", self._reorder_projects),
            ("GET", "/projects/{project_id}", self._get_project),
            ("PATCH", "/projects/{project_id}", self._update_project),
            ("DELETE", "/projects/{project_id}", self._delete_project),
            ("POST", "/tokens", self._mint),
            ("GET", "/tokens", self._list_tokens),
            ("DELETE", "/tokens", self._revoke_by_email),
            ("DELETE", "/tokens/{token_id}", self._revoke),
            ("GET", "/projects/{project_id}/scripts", self._list_scripts),
            ("POST", "/projects/{project_id}/scripts", self._create_script),
            ("PUT", "/projects/{project_id}/scripts/reorder", self._reorder_scripts),
            ("POST", "/projects/{project_id}/duplicate", self._duplicate_project),
            ("POST", f"{s}/duplicate", self._duplicate_script),
            ("POST", f"{s}/move", self._move_script),
            ("POST", f"{s}/check", self._check),
            ("GET", s, self._get_script),
            ("PATCH", s, self._rename_script),
            ("DELETE", s, self._delete_script),
            ("GET", f"{s}/draft", self._get_draft),
            ("PUT", f"{s}/draft", self._save_draft),
            ("GET", f"{s}/versions", self._list_versions),
            ("GET", f"{s}/versions/{{version_id}}", self._get_version),
            ("GET", f"{s}/latest", self._get_latest),
            ("POST", f"{s}/publish", self._publish),
            ("GET", f"{s}/channels", self._list_channels),
            ("POST", f"{s}/channels", self._create_channel),
            ("DELETE", f"{s}/channels/{{channel}}", self._delete_channel),
            ("PATCH", f"{s}/channels/{{channel}}", self._move_channel),
            ("POST", f"{s}/run", self._run),
            ("DELETE", f"{s}/run", self._cancel_run),
            ("GET", f"{s}/executions", self._list_executions),
            ("GET", "/projects/{project_id}/executions", self._list_project_executions),
            ("POST", f"{s}/run/from", self._run_from),
            ("POST", f"{s}/run/upload", self._run_upload),
            ("POST", f"{s}/run/s3", self._run_s3),
            ("GET", f"{s}/graph", self._graph),
            ("GET", "/projects/{project_id}/cost", self._project_cost),
            ("GET", f"{s}/cost", self._script_cost),
            ("GET", "/executions/{execution_id}/children", self._children),
            ("GET", "/executions/{execution_id}/tasks", self._tasks),
            ("POST", "/executions/{execution_id}/resume", self._resume),
            ("POST", "/executions/{execution_id}/rerun", self._rerun),
            ("GET", "/executions/{execution_id}", self._get_execution),
            ("DELETE", "/executions/{execution_id}", self._cancel_execution),
            ("GET", "/executions/{execution_id}/output", self._get_output),
            ("GET", "/executions/{execution_id}/events", self._get_events),
            ("POST", "/projects/{project_id}/documents", self._upload),
            ("POST", "/projects/{project_id}/documents/claim", self._claim),
            ("GET", "/projects/{project_id}/documents/by-hash/{content_hash}/progress",
             self._progress),
            ("GET", "/documents/{document_id}", self._get_document),
            ("GET", "/documents/{document_id}/markdown", self._get_markdown),
            ("GET", "/documents/{document_id}/content", self._document_content),
            ("POST", "/documents/{document_id}/convert", self._reconvert),
            ("POST", "/convert", self._convert),
            ("POST", "/projects/{project_id}/convert", self._convert),
        ]  # fmt: skip
        for method, template, handler in [*routes, *self._bench_routes(), *self._config_routes()]:
            self.add_route(method, template, self._authed(handler))
        # Presigned storage URLs need no bearer, as S3's do not.
        storage = lambda request, params: self._storage(Call(request, params, None, None))  # noqa: E731
        self.add_route("GET", "/storage/{document_id}", storage)

    def _sandbox(self, call: Call) -> Reply:
        return json_reply(200, {"project_id": self.sandbox_project_id})

    def not_found(self, request: RecordedRequest) -> Reply:
        """Unknown paths answer 404 `{"error": "not found"}`, as the server's router does.

        Example:
            >>> fake.not_found(request).body
            b'{"error":"not found"}'
        """
        return error(404, "not found")

    def _authed(self, handler: _RouteHandler) -> Handler:
        def wrapped(request: RecordedRequest, params: dict[str, str]) -> Reply:
            header = request.headers.get("authorization", "")
            token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
            who: Json | None = None
            if token != self.service_token:
                row = self.tokens.get(self._secrets.get(token, ""))
                if row is None or row["revoked"] or row["expires_at"] <= iso(time.time()):
                    return text_reply(401, "Unauthorized")
                row["last_used_at"] = iso(time.time())
                who = row
                denied = self._denied(row, request, params)
                if denied is not None:
                    return error(403, denied)
            return handler(Call(request, params, who, json_body(request)))

        return wrapped

    def _denied(self, row: Json, request: RecordedRequest, params: dict[str, str]) -> str | None:
        scopes = row["scopes"]
        if scopes["role"] == "viewer" and request.method != "GET":
            return "a viewer token may only read"
        project_id = to_int(params.get("project_id") or request.query.get("project_id"))
        if project_id is not None and not may_see(scopes, project_id):
            return f"this token has no access to project {project_id}"
        return None

    def _visible_projects(self, call: Call) -> list[Json]:
        projects = list(self.projects.values())
        if call.who is None:
            return projects
        return [p for p in projects if may_see(call.who["scopes"], p["id"])]

    # -- projects -------------------------------------------------------------------------

    def _create_project(self, call: Call) -> Reply:
        name = (call.body or {}).get("name")
        if not isinstance(name, str) or not name:
            return error(400, "name is required")
        with self._lock:
            return json_reply(201, self.add_project(name))

    def _reorder_projects(self, call: Call) -> Reply:
        order = (call.body or {}).get("order") or []
        ranked = {pid: i for i, pid in enumerate(order)}
        self.projects = dict(
            sorted(self.projects.items(), key=lambda kv: ranked.get(kv[0], len(ranked)))
        )
        return Reply(204)

    def _get_project(self, call: Call) -> Reply:
        project = self._project(call)
        return json_reply(200, project) if project else not_found("project")

    def _update_project(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        name = (call.body or {}).get("name")
        if not isinstance(name, str) or not name:
            return error(400, "name is required")
        project["name"] = name
        return json_reply(200, project)

    def _delete_project(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        del self.projects[project["id"]]
        return Reply(204)

    def _duplicate_project(self, call: Call) -> Reply:
        """The copy is named `<name> (copy)` and gets every script with its draft."""
        project = self._project(call)
        if project is None:
            return not_found("project")
        copy = self.add_project(f"{project['name']} (copy)")
        for script in [s for s in self.scripts.values() if s["project_id"] == project["id"]]:
            self.add_script(copy["id"], script["name"], self.drafts.get(script["id"], ""))
        return json_reply(201, copy)

    # -- tokens ---------------------------------------------------------------------------

    def _mint(self, call: Call) -> Reply:
        if call.who is not None and not call.who["scopes"].get("can_mint"):
            return error(403, "this token may not mint tokens")
        body = call.body if isinstance(call.body, dict) else {}
        scopes, expires_in, label = body.get("scopes"), body.get("expires_in"), body.get("label")
        if not isinstance(scopes, dict) or scopes.get("role") not in ("admin", "editor", "viewer"):
            return error(400, "scopes.role must be admin, editor or viewer")
        if not isinstance(expires_in, int) or expires_in < 1 or not isinstance(label, str):
            return error(400, "expires_in (seconds) and label are required")
        now = time.time()
        token_id = f"tok_{self._next('token')}"
        secret = "akribes_tk_" + secrets.token_urlsafe(24)
        row = {"id": token_id, "label": label, "user_email": body.get("user_email"),
               "scopes": scopes, "minted_by": call.caller, "expires_at": iso(now + expires_in),
               "revoked": False, "created_at": iso(now), "last_used_at": None}  # fmt: skip
        self.tokens[token_id] = row
        self._secrets[secret] = token_id
        return json_reply(
            201, {"token": secret, "token_id": token_id, "expires_at": row["expires_at"]}
        )

    def _list_tokens(self, call: Call) -> Reply:
        query, now = call.request.query, iso(time.time())
        rows = [r for r in self.tokens.values() if call.who is None or r is call.who]
        if "user_email" in query:
            rows = [r for r in rows if r["user_email"] == query["user_email"]]
        if query.get("include_revoked") == "false":
            rows = [r for r in rows if not r["revoked"]]
        if query.get("include_expired") == "false":
            rows = [r for r in rows if r["expires_at"] > now]
        return page(call.request, rows)

    def _revoke(self, call: Call) -> Reply:
        row = self.tokens.get(call.params["token_id"])
        if row is None or (call.who is not None and row is not call.who):
            return not_found("token")
        row["revoked"] = True
        return Reply(204)

    def _revoke_by_email(self, call: Call) -> Reply:
        if call.who is not None:
            return error(403, "only a service token may revoke by email")
        email = call.request.query.get("user_email")
        if not email:
            return error(400, "user_email is required")
        rows = [r for r in self.tokens.values() if r["user_email"] == email and not r["revoked"]]
        for row in rows:
            row["revoked"] = True
        return json_reply(200, {"revoked": len(rows)})

    # -- scripts, drafts, versions, channels ----------------------------------------------

    def _list_scripts(self, call: Call) -> Reply:
        if self._project(call) is None:
            return not_found("project")
        pid = to_int(call.params["project_id"])
        return page(call.request, [s for s in self.scripts.values() if s["project_id"] == pid])

    def _create_script(self, call: Call) -> Reply:
        project, name = self._project(call), call.request.query.get("name")
        source = (call.body or {}).get("source")
        if project is None:
            return not_found("project")
        if not name or not isinstance(source, str):
            return error(400, "the name query parameter and source are required")
        if self._script(project["id"], name) is not None:
            return error(409, f"script {name} already exists")
        with self._lock:
            return json_reply(201, self.add_script(project["id"], name, source))

    def _get_script(self, call: Call) -> Reply:
        script = self._found_script(call)
        return script if isinstance(script, Reply) else json_reply(200, script)

    def _rename_script(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        new_name = (call.body or {}).get("new_name")
        if not isinstance(new_name, str) or not new_name:
            return error(400, "new_name is required")
        script["name"] = new_name
        return Reply(204)

    def _delete_script(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        del self.scripts[script["id"]]
        return Reply(204)

    def _reorder_scripts(self, call: Call) -> Reply:
        if self._project(call) is None:
            return not_found("project")
        ranked = {sid: i for i, sid in enumerate((call.body or {}).get("order") or [])}
        self.scripts = dict(
            sorted(self.scripts.items(), key=lambda kv: ranked.get(kv[0], len(ranked)))
        )
        return Reply(204)

    def _duplicate_script(self, call: Call) -> Reply:
        """The copy is named `<name>-copy` (then `-copy-2`...) and gets the draft."""
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        pid, name, n = script["project_id"], f"{script['name']}-copy", 1
        while self._script(pid, name) is not None:
            n += 1
            name = f"{script['name']}-copy-{n}"
        return json_reply(201, self.add_script(pid, name, self.drafts.get(script["id"], "")))

    def _move_script(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        target = (call.body or {}).get("target_project_id")
        if target not in self.projects:
            return not_found("target project")
        if self._script(target, script["name"]) is not None:
            return error(409, f"project {target} already has a script {script['name']}")
        script["project_id"] = target
        return json_reply(200, script)

    def _check(self, call: Call) -> Reply:
        """The fake checks one thing: that braces balance (E001 at the first stray one)."""
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        source = (call.body or {}).get("source")
        if not isinstance(source, str):
            source = self.drafts.get(script["id"], "")
        diagnostics: list[Json] = []
        depth = 0
        for line_no, line in enumerate(source.splitlines(), 1):
            for col, char in enumerate(line, 1):
                depth += {"{": 1, "}": -1}.get(char, 0)
                if depth < 0 and not diagnostics:
                    diagnostics.append(_diagnostic("unexpected }", line_no, col))
        if depth > 0 and not diagnostics:
            lines = source.splitlines() or [""]
            diagnostics.append(_diagnostic("unclosed {", len(lines), len(lines[-1]) + 1))
        return json_reply(200, {"ok": not diagnostics, "diagnostics": diagnostics,
                                "analyzer_version": "fake-1"})  # fmt: skip

    def _get_draft(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        source = self.drafts.get(script["id"])
        if source is None:
            return not_found("draft")
        return json_reply(200, {"source": source, "inputs": declared_inputs(source)})

    def _save_draft(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        source = (call.body or {}).get("source")
        if not isinstance(source, str):
            return error(400, "source is required")
        self.drafts[script["id"]] = source
        return json_reply(
            200, {"schema_warnings": [], "diagnostics": [], "analyzer_version": "fake-1"}
        )

    def _script_versions(self, script_id: int) -> list[Json]:
        return [v for v in self.versions.values() if v["script_id"] == script_id]

    def _list_versions(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        return page(call.request, self._script_versions(script["id"])[::-1])

    def _get_version(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        version = self.versions.get(to_int(call.params["version_id"]) or -1)
        if version is None or version["script_id"] != script["id"]:
            return not_found("version")
        return json_reply(200, version)

    def _get_latest(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        versions = self._script_versions(script["id"])
        if not versions:
            return not_found("version")
        latest = versions[-1]
        return json_reply(200, {**latest, "inputs": declared_inputs(latest["source"])})

    def _publish(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        body = call.body if isinstance(call.body, dict) else {}
        channels = body.get("channels")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            return error(400, "channels must be a list of names")
        if body.get("dry_run"):
            return json_reply(200, {"dry_run": True, "would_break": 0, "breaking_interests": []})
        version = self.publish(
            script["id"], channels, label=body.get("label"), published_by=body.get("published_by")
        )
        return json_reply(201, {"version": version, "rebased": []})

    def _list_channels(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        rows = [c for c in self.channels.values() if c["script_id"] == script["id"]]
        return page(call.request, rows)

    def _create_channel(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        name = (call.body or {}).get("name")
        if not isinstance(name, str) or not name:
            return error(400, "name is required")
        if self._channel(script["id"], name) is not None:
            return error(409, f"channel {name} already exists")
        return json_reply(201, self._add_channel(script["id"], name))

    def _found_channel(self, call: Call) -> Json | Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        channel = self._channel(script["id"], call.params["channel"])
        return channel if channel is not None else not_found("channel")

    def _delete_channel(self, call: Call) -> Reply:
        channel = self._found_channel(call)
        if isinstance(channel, Reply):
            return channel
        del self.channels[channel["id"]]
        return Reply(204)

    def _move_channel(self, call: Call) -> Reply:
        channel = self._found_channel(call)
        if isinstance(channel, Reply):
            return channel
        version = self.versions.get((call.body or {}).get("version_id") or -1)
        if version is None or version["script_id"] != channel["script_id"]:
            return not_found("version")
        channel.update(version_id=version["id"], updated_at=iso(time.time()))
        return Reply(204)


def _diagnostic(message: str, line: int, col: int) -> Json:
    return {"code": "E001", "severity": "error", "message": message, "line": line, "col": col,
            "end_line": line, "end_col": col + 1}  # fmt: skip
