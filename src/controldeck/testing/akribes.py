"""`FakeAkribes`: a stateful fake of the Akribes workflow server on 127.0.0.1.

It serves the paths of `openapi/akribes.yaml` that a workflow's life needs, from memory:
projects; scripts with drafts, published versions and channels; scoped tokens (mint, list,
revoke; bearer checking); runs, whose engine events (`WorkflowStart`, `TaskStart`,
`TaskEnd`, `WorkflowEnd`, or `Error`) go out on the hub stream `GET /events` to the
subscribers attached at that moment, and whose status moves `pending → running →
completed` (or `failed`) one step per poll of `GET /executions/{id}/output`; ad-hoc runs in
the sandbox project; documents (claim, upload, convert); and bench runs, whose results
stream on `GET /bench-runs/{id}/events`.

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

import hashlib
import json
import mimetypes
import queue
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from controldeck.testing._akribes_seed import (
    declared_inputs,
    iso,
    iso_ms,
    multipart_files,
)
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

Json = dict[str, Any]
_RouteHandler = Callable[["_Call"], Reply]

TERMINAL = frozenset({"completed", "failed", "cancelled", "suspended"})
_SERVICE = "service"


def _error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def _not_found(what: str) -> Reply:
    return _error(404, f"{what} not found")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _json_body(request: RecordedRequest) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def _page(request: RecordedRequest, items: list[Json]) -> Reply:
    """Items `offset` to `offset + limit` (all of them when `limit` is absent)."""
    offset = _int(request.query.get("offset")) or 0
    limit = _int(request.query.get("limit"))
    end = None if limit is None else offset + max(limit, 0)
    return json_reply(200, items[offset:end])


@dataclass(frozen=True)
class _Call:
    """An authenticated request, as every route handler receives it."""

    request: RecordedRequest
    params: dict[str, str]
    who: Json | None  # the minted token's row, or None for the service token
    body: Any

    @property
    def caller(self) -> str:
        return _SERVICE if self.who is None else str(self.who["id"])


class _Subscription:
    """One attached `GET /events` stream: the frames queued for it, None ends it."""

    def __init__(self, project_id: int, script_name: str | None) -> None:
        self.project_id = project_id
        self.script_name = script_name
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def wants(self, project_id: int, script_name: str) -> bool:
        return project_id == self.project_id and self.script_name in (None, script_name)


@dataclass(frozen=True)
class _StreamReply(Reply):
    """A reply whose body is the subscription's frames, sent chunked until it ends."""

    subscription: _Subscription | None = None


class _StreamingHandler(_RequestHandler):
    """The base handler, plus open-ended chunked replies for the hub stream."""

    def _handle(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            reply = self.server.owner._dispatch(request)
        except Exception as exc:  # a bug in the fake must reach the test as a reply
            reply = json_reply(500, {"error": f"fake failed: {exc!r}"})
        if isinstance(reply, _StreamReply) and reply.subscription is not None:
            self._stream(reply.subscription)
            return
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _stream(self, subscription: _Subscription) -> None:
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


class FakeAkribes(LoopbackServer):
    """A stateful Akribes server on 127.0.0.1.

    Every route needs `Authorization: Bearer <token>`: the service token (all rights) or
    a token minted with `POST /tokens` that is neither revoked nor expired. A minted token
    reaches only the projects in its scopes, and a `viewer` may only read. State lives in
    plain dicts that tests may read and change: `projects`, `scripts`, `drafts` (script
    id → source), `versions`, `channels`, `executions`, `documents`, `tokens` (token id →
    the `TokenInfo` row), `benches`, `cases`, `bench_runs`, `bench_results`.

    Args:
        port: Port to listen on; 0 picks a free one.
        seed: Start with project 1 `demo` holding script `greet` (input `name: string`)
            published to `production`, with a bench of two cases; and project 2
            `sandbox`, the caller's sandbox for ad-hoc runs.

    Attributes:
        service_token: The token with every right (`fake-akribes-service-token`).
        results: Script name → the result its runs produce (default: the inputs).
        failures: Script name → the error message its runs fail with.
        sandbox_project_id: The project `GET /me/sandbox` names and ad-hoc runs use.
        requests: Every request received, oldest first; `repr` masks tokens.

    Example:
        >>> with FakeAkribes() as fake:
        ...     fake.failures["greet"] = "model unavailable"
        ...     fake.add_script(1, "echo", "input text: string\\n")["name"]
        'echo'
    """

    def __init__(self, *, port: int = 0, seed: bool = True) -> None:
        super().__init__(port=port)
        self.service_token = "fake-akribes-service-token"
        self.results: dict[str, Any] = {}
        self.failures: dict[str, str] = {}
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
        self._secrets: dict[str, str] = {}  # minted secret → token id
        self._outcomes: dict[str, Json] = {}  # execution id → its final fields
        self._engine_events: dict[str, list[Json]] = {}
        self._idempotent: dict[str, str] = {}  # Idempotency-Key → execution id
        self._markdown: dict[str, str] = {}
        self._hub: list[tuple[int, int, str, bytes]] = []  # (seq, project, script, frame)
        self._subscriptions: list[_Subscription] = []
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
        assert self._httpd is not None
        # Set before anyone knows the port, so no request meets the plain handler.
        self._httpd.RequestHandlerClass = _StreamingHandler
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

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

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

    def add_bench(self, script_id: int, *, config: Any = None) -> Json:
        """Give a script a bench, as `POST .../bench` would.

        Example:
            >>> fake.add_bench(1)["judge_channel"]
            'production'
        """
        with self._lock:
            now = iso(time.time())
            bench: Json = {"id": self._next("bench"), "script_id": script_id,
                     "judge_script_id": None,
                     "judge_channel": "production", "config": config if config is not None else {},
                     "created_at": now, "updated_at": now}  # fmt: skip
            self.benches[bench["id"]] = bench
        return bench

    def add_case(
        self, bench_id: int, inputs: Any, *, expected_output: Any = None, name: str | None = None
    ) -> Json:
        """Add a case to a bench, as `POST .../bench/cases` would.

        Example:
            >>> fake.add_case(1, {"name": "Linus"}, expected_output={"name": "Linus"})["kind"]
            'manual'
        """
        with self._lock:
            script = self.scripts[self.benches[bench_id]["script_id"]]
            case = {"id": f"case-{self._next('case')}", "project_id": script["project_id"],
                    "script_name": script["name"], "bench_id": bench_id, "kind": "manual",
                    "frozen": False, "case_name": name, "inputs": inputs,
                    "expected_output": expected_output, "ground_truth": None,
                    "input_hash": None, "created_at": iso(time.time())}  # fmt: skip
            self.cases[case["id"]] = case
        return case

    def _script(self, project_id: int | None, name: str) -> Json | None:
        for script in self.scripts.values():
            if script["project_id"] == project_id and script["name"] == name:
                return script
        return None

    def _channel(self, script_id: int, name: str) -> Json | None:
        for channel in self.channels.values():
            if channel["script_id"] == script_id and channel["name"] == name:
                return channel
        return None

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
            ("POST", "/heartbeat", lambda call: json_reply(200, {})),
            ("GET", "/events", self._subscribe),
            ("GET", "/projects", lambda call: _page(call.request, self._visible_projects(call))),
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
            ("POST", "/convert", self._convert),
            ("POST", "/projects/{project_id}/convert", self._convert),
            ("POST", f"{s}/bench/runs", self._trigger_bench_run),
            ("GET", "/bench-runs/{run_id}", self._get_bench_run),
            ("GET", "/bench-runs/{run_id}/results", self._list_bench_results),
            ("GET", "/bench-runs/{run_id}/events", self._bench_run_events),
        ]  # fmt: skip
        for method, template, handler in routes:
            self.add_route(method, template, self._authed(handler))

    def _sandbox(self, call: _Call) -> Reply:
        return json_reply(200, {"project_id": self.sandbox_project_id})

    def not_found(self, request: RecordedRequest) -> Reply:
        """Unknown paths answer 404 `{"error": "not found"}`, as the server's router does.

        Example:
            >>> fake.not_found(request).body
            b'{"error":"not found"}'
        """
        return _error(404, "not found")

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
                    return _error(403, denied)
            return handler(_Call(request, params, who, _json_body(request)))

        return wrapped

    def _denied(self, row: Json, request: RecordedRequest, params: dict[str, str]) -> str | None:
        scopes = row["scopes"]
        if scopes["role"] == "viewer" and request.method != "GET":
            return "a viewer token may only read"
        project_id = _int(params.get("project_id") or request.query.get("project_id"))
        if project_id is not None and not _may_see(scopes, project_id):
            return f"this token has no access to project {project_id}"
        return None

    def _visible_projects(self, call: _Call) -> list[Json]:
        projects = list(self.projects.values())
        if call.who is None:
            return projects
        return [p for p in projects if _may_see(call.who["scopes"], p["id"])]

    # -- projects -------------------------------------------------------------------------

    def _create_project(self, call: _Call) -> Reply:
        name = (call.body or {}).get("name")
        if not isinstance(name, str) or not name:
            return _error(400, "name is required")
        with self._lock:
            return json_reply(201, self.add_project(name))

    def _reorder_projects(self, call: _Call) -> Reply:
        order = (call.body or {}).get("order") or []
        ranked = {pid: i for i, pid in enumerate(order)}
        self.projects = dict(
            sorted(self.projects.items(), key=lambda kv: ranked.get(kv[0], len(ranked)))
        )
        return Reply(204)

    def _project(self, call: _Call) -> Json | None:
        return self.projects.get(_int(call.params.get("project_id")) or -1)

    def _get_project(self, call: _Call) -> Reply:
        project = self._project(call)
        return json_reply(200, project) if project else _not_found("project")

    def _update_project(self, call: _Call) -> Reply:
        project = self._project(call)
        if project is None:
            return _not_found("project")
        name = (call.body or {}).get("name")
        if not isinstance(name, str) or not name:
            return _error(400, "name is required")
        project["name"] = name
        return json_reply(200, project)

    def _delete_project(self, call: _Call) -> Reply:
        project = self._project(call)
        if project is None:
            return _not_found("project")
        del self.projects[project["id"]]
        return Reply(204)

    # -- tokens ---------------------------------------------------------------------------

    def _mint(self, call: _Call) -> Reply:
        if call.who is not None and not call.who["scopes"].get("can_mint"):
            return _error(403, "this token may not mint tokens")
        body = call.body if isinstance(call.body, dict) else {}
        scopes, expires_in, label = body.get("scopes"), body.get("expires_in"), body.get("label")
        if not isinstance(scopes, dict) or scopes.get("role") not in ("admin", "editor", "viewer"):
            return _error(400, "scopes.role must be admin, editor or viewer")
        if not isinstance(expires_in, int) or expires_in < 1 or not isinstance(label, str):
            return _error(400, "expires_in (seconds) and label are required")
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

    def _list_tokens(self, call: _Call) -> Reply:
        query, now = call.request.query, iso(time.time())
        rows = [r for r in self.tokens.values() if call.who is None or r is call.who]
        if "user_email" in query:
            rows = [r for r in rows if r["user_email"] == query["user_email"]]
        if query.get("include_revoked") == "false":
            rows = [r for r in rows if not r["revoked"]]
        if query.get("include_expired") == "false":
            rows = [r for r in rows if r["expires_at"] > now]
        return _page(call.request, rows)

    def _revoke(self, call: _Call) -> Reply:
        row = self.tokens.get(call.params["token_id"])
        if row is None or (call.who is not None and row is not call.who):
            return _not_found("token")
        row["revoked"] = True
        return Reply(204)

    def _revoke_by_email(self, call: _Call) -> Reply:
        if call.who is not None:
            return _error(403, "only a service token may revoke by email")
        email = call.request.query.get("user_email")
        if not email:
            return _error(400, "user_email is required")
        rows = [r for r in self.tokens.values() if r["user_email"] == email and not r["revoked"]]
        for row in rows:
            row["revoked"] = True
        return json_reply(200, {"revoked": len(rows)})

    # -- scripts, drafts, versions, channels ----------------------------------------------

    def _list_scripts(self, call: _Call) -> Reply:
        if self._project(call) is None:
            return _not_found("project")
        pid = _int(call.params["project_id"])
        return _page(call.request, [s for s in self.scripts.values() if s["project_id"] == pid])

    def _create_script(self, call: _Call) -> Reply:
        project, name = self._project(call), call.request.query.get("name")
        source = (call.body or {}).get("source")
        if project is None:
            return _not_found("project")
        if not name or not isinstance(source, str):
            return _error(400, "the name query parameter and source are required")
        if self._script(project["id"], name) is not None:
            return _error(409, f"script {name} already exists")
        with self._lock:
            return json_reply(201, self.add_script(project["id"], name, source))

    def _found_script(self, call: _Call) -> Json | Reply:
        script = self._script(_int(call.params["project_id"]), call.params["script_name"])
        return script if script is not None else _not_found("script")

    def _get_script(self, call: _Call) -> Reply:
        script = self._found_script(call)
        return script if isinstance(script, Reply) else json_reply(200, script)

    def _rename_script(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        new_name = (call.body or {}).get("new_name")
        if not isinstance(new_name, str) or not new_name:
            return _error(400, "new_name is required")
        script["name"] = new_name
        return Reply(204)

    def _delete_script(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        del self.scripts[script["id"]]
        return Reply(204)

    def _get_draft(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        source = self.drafts.get(script["id"])
        if source is None:
            return _not_found("draft")
        return json_reply(200, {"source": source, "inputs": declared_inputs(source)})

    def _save_draft(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        source = (call.body or {}).get("source")
        if not isinstance(source, str):
            return _error(400, "source is required")
        self.drafts[script["id"]] = source
        return json_reply(
            200, {"schema_warnings": [], "diagnostics": [], "analyzer_version": "fake-1"}
        )

    def _script_versions(self, script_id: int) -> list[Json]:
        return [v for v in self.versions.values() if v["script_id"] == script_id]

    def _list_versions(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        return _page(call.request, self._script_versions(script["id"])[::-1])

    def _get_version(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        version = self.versions.get(_int(call.params["version_id"]) or -1)
        if version is None or version["script_id"] != script["id"]:
            return _not_found("version")
        return json_reply(200, version)

    def _get_latest(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        versions = self._script_versions(script["id"])
        if not versions:
            return _not_found("version")
        latest = versions[-1]
        return json_reply(200, {**latest, "inputs": declared_inputs(latest["source"])})

    def _publish(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        body = call.body if isinstance(call.body, dict) else {}
        channels = body.get("channels")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            return _error(400, "channels must be a list of names")
        if body.get("dry_run"):
            return json_reply(200, {"dry_run": True, "would_break": 0, "breaking_interests": []})
        version = self.publish(
            script["id"], channels, label=body.get("label"), published_by=body.get("published_by")
        )
        return json_reply(201, {"version": version, "rebased": []})

    def _list_channels(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        rows = [c for c in self.channels.values() if c["script_id"] == script["id"]]
        return _page(call.request, rows)

    def _create_channel(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        name = (call.body or {}).get("name")
        if not isinstance(name, str) or not name:
            return _error(400, "name is required")
        if self._channel(script["id"], name) is not None:
            return _error(409, f"channel {name} already exists")
        return json_reply(201, self._add_channel(script["id"], name))

    def _found_channel(self, call: _Call) -> Json | Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        channel = self._channel(script["id"], call.params["channel"])
        return channel if channel is not None else _not_found("channel")

    def _delete_channel(self, call: _Call) -> Reply:
        channel = self._found_channel(call)
        if isinstance(channel, Reply):
            return channel
        del self.channels[channel["id"]]
        return Reply(204)

    def _move_channel(self, call: _Call) -> Reply:
        channel = self._found_channel(call)
        if isinstance(channel, Reply):
            return channel
        version = self.versions.get((call.body or {}).get("version_id") or -1)
        if version is None or version["script_id"] != channel["script_id"]:
            return _not_found("version")
        channel.update(version_id=version["id"], updated_at=iso(time.time()))
        return Reply(204)

    # -- runs and the hub -----------------------------------------------------------------

    def _run(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        key = call.request.headers.get("idempotency-key")
        if key is not None and key in self._idempotent:
            return json_reply(200, {"execution_id": self._idempotent[key]})
        name = call.request.query.get("channel") or "production"
        channel = self._channel(script["id"], name)
        if channel is None or channel["version_id"] is None:
            return _error(404, f"channel {name} has no published version")
        version = self.versions[channel["version_id"]]
        body = call.body if isinstance(call.body, dict) else {}
        inputs = body.get("inputs") or {}
        invalid = _check_inputs(version["source"], inputs)
        if invalid is not None:
            return invalid
        since = self._ids.get("seq", 0)
        who, pid = body.get("triggered_by"), script["project_id"]
        execution = self._start(pid, script["name"], inputs, name, version["id"], who)
        if key is not None:
            self._idempotent[key] = execution["id"]
        return json_reply(200, {"execution_id": execution["id"], "since_id": since})

    def _run_adhoc(self, call: _Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        source, inputs = body.get("source"), body.get("inputs") or {}
        if not isinstance(source, str) or not source.strip():
            return _error(400, "source is required")
        invalid = _check_inputs(source, inputs)
        if invalid is not None:
            return invalid
        pid = self.sandbox_project_id
        who, channel = body.get("triggered_by"), body.get("channel")
        execution = self._start(pid, "adhoc", inputs, channel, None, who)
        return json_reply(200, {"execution_id": execution["id"], "project_id": pid})

    def _start(
        self,
        project_id: int,
        script_name: str,
        inputs: Any,
        channel: str | None,
        version_id: int | None,
        triggered_by: str | None,
    ) -> Json:
        """Record a pending execution and send its engine events to the hub at once."""
        execution_id = f"exec-{self._next('execution'):04d}"
        execution = {"id": execution_id, "project_id": project_id, "script_name": script_name,
                     "status": "pending", "started_at": iso(time.time()), "finished_at": None,
                     "version_id": version_id, "channel": channel, "error": None,
                     "error_kind": None, "result": None, "triggered_by": triggered_by,
                     "input_tokens": 0, "output_tokens": 0, "tool_tokens": 0,
                     "cost_usd": None}  # fmt: skip
        self.executions[execution_id] = execution
        events: list[Json] = [
            {"type": "WorkflowStart", "payload": 1},
            {"type": "TaskStart", "payload": ["main", None]},
        ]
        failure = self.failures.get(script_name)
        if failure is None:
            value = self.results.get(script_name, inputs)
            usage = {"input_tokens": 12, "output_tokens": 5, "model": "fake-model",
                     "provider": "fake", "cached_input_tokens": 0,
                     "stop_reason": "stop"}  # fmt: skip
            events.append({"type": "TaskEnd", "payload": {
                "task": "main", "value": value, "duration": {"secs": 0, "nanos": 10_000_000},
                "attempt": 1, "usage": usage, "variant": "success"}})  # fmt: skip
            events.append({"type": "WorkflowEnd", "payload": {
                "value": value, "total_input_tokens": 12, "total_output_tokens": 5,
                "total_cached_input_tokens": 0, "total_thinking_tokens": 0,
                "total_tool_tokens": 0, "total_cost_usd": 0.0001, "task_count": 1}})  # fmt: skip
            outcome = {"status": "completed", "result": value, "input_tokens": 12,
                       "output_tokens": 5, "cost_usd": 0.0001}  # fmt: skip
        else:
            events.append({"type": "Error", "payload": {
                "message": failure, "kind": "ScriptError", "code": "Other",
                "user_message": failure, "retry_after_ms": None,
                "source": {"task": "main"}}})  # fmt: skip
            outcome = {"status": "failed", "error": failure, "error_kind": "ScriptError"}
        self._outcomes[execution_id] = outcome
        self._engine_events[execution_id] = events
        for event in events:
            self._publish_hub(project_id, script_name, execution_id, event)
        return execution

    def _publish_hub(
        self, project_id: int, script_name: str, execution_id: str, event: Json
    ) -> None:
        seq = self._next("seq")
        hub = {"type": "Execution", "payload": {
            "project_id": project_id, "script_name": script_name, "execution_id": execution_id,
            "event": event, "seq": seq, "at": iso_ms(time.time())}}  # fmt: skip
        data = json.dumps([hub], separators=(",", ":")).encode()
        frame = b"id: %d\nevent: batch\ndata: %s\n\n" % (seq, data)
        self._hub.append((seq, project_id, script_name, frame))
        for subscription in self._subscriptions:
            if subscription.wants(project_id, script_name):
                subscription.frames.put(frame)

    def _subscribe(self, call: _Call) -> Reply:
        project_id = _int(call.request.query.get("project_id"))
        if project_id is None:
            return _error(400, "project_id is required")
        if self._closing:
            return _error(503, "shutting down")
        subscription = _Subscription(project_id, call.request.query.get("script_name"))
        last = _int(call.request.headers.get("last-event-id"))
        if last is not None:  # resume: replay what the subscriber missed, in order
            for seq, pid, name, frame in self._hub:
                if seq > last and subscription.wants(pid, name):
                    subscription.frames.put(frame)
        self._subscriptions.append(subscription)
        return _StreamReply(200, subscription=subscription)

    def _detach(self, subscription: _Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def _found_execution(self, call: _Call) -> Json | Reply:
        execution = self.executions.get(call.params["execution_id"])
        if execution is None:
            return _not_found("execution")
        if call.who is not None and not _may_see(call.who["scopes"], execution["project_id"]):
            return _not_found("execution")
        return execution

    def _get_execution(self, call: _Call) -> Reply:
        execution = self._found_execution(call)
        return execution if isinstance(execution, Reply) else json_reply(200, execution)

    def _get_output(self, call: _Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        keys = ("status", "error", "error_kind", "result")
        reply = json_reply(200, {k: execution[k] for k in keys})
        # Each poll moves a run one step: pending → running → its outcome.
        if execution["status"] == "pending":
            execution["status"] = "running"
        elif execution["status"] == "running":
            execution.update(self._outcomes[execution["id"]], finished_at=iso(time.time()))
        return reply

    def _get_events(self, call: _Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        query = call.request.query
        after, limit = _int(query.get("after_id")) or 0, _int(query.get("limit")) or 100
        types = set(query["types"].split(",")) if query.get("types") else None
        numbered = [(i, e) for i, e in enumerate(self._engine_events[execution["id"]], 1)
                    if i > after and (types is None or e["type"] in types)]  # fmt: skip
        chunk = numbered[:limit]
        return json_reply(200, {
            "execution_id": execution["id"], "status": execution["status"],
            "complete": execution["status"] in TERMINAL, "events": [e for _, e in chunk],
            "next_after_id": chunk[-1][0] if chunk else after,
            "has_more": len(numbered) > limit})  # fmt: skip

    def _cancel_execution(self, call: _Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        if execution["status"] not in TERMINAL:
            execution.update(status="cancelled", finished_at=iso(time.time()))
        return json_reply(200, {"cancelled": True})

    def _cancel_run(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        running = [e for e in self.executions.values()
                   if e["project_id"] == script["project_id"]
                   and e["script_name"] == script["name"]
                   and e["status"] not in TERMINAL]  # fmt: skip
        if not running:
            return _not_found("running execution")
        for execution in running:
            execution.update(status="cancelled", finished_at=iso(time.time()))
        return json_reply(200, {"cancelled": len(running), "status": "cancelled"})

    def _list_executions(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        query = call.request.query
        rows = [e for e in reversed(self.executions.values())
                if e["project_id"] == script["project_id"] and e["script_name"] == script["name"]
                and query.get("status", e["status"]) == e["status"]
                and query.get("channel", e["channel"]) == e["channel"]]  # fmt: skip
        return _page(call.request, rows)

    # -- documents ------------------------------------------------------------------------

    def _by_hash(self, project_id: int | None, content_hash: str) -> Json | None:
        for document in self.documents.values():
            if document["project_id"] == project_id and document["content_hash"] == content_hash:
                return document
        return None

    def _store_document(
        self, project_id: int | None, filename: str, data: bytes, status: str
    ) -> Json:
        document_id = f"doc_{self._next('document'):04d}"
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        document = {"id": document_id, "filename": filename, "content_type": content_type,
                    "size_bytes": len(data), "content_hash": hashlib.sha256(data).hexdigest(),
                    "conversion_status": status, "conversion_error": None,
                    "created_at": iso(time.time()), "project_id": project_id}  # fmt: skip
        self.documents[document_id] = document
        self._markdown[document_id] = f"# {filename}\n\n{data.decode('utf-8', 'replace')}"
        return document

    @staticmethod
    def _meta(document: Json) -> Json:
        return {k: v for k, v in document.items() if k != "project_id"}

    @staticmethod
    def _advance(document: Json) -> str:
        """A read reports the conversion's state, then moves `converting` on to `ready`."""
        status = str(document["conversion_status"])
        if status == "converting":
            document["conversion_status"] = "ready"
        return status

    def _uploaded_file(self, call: _Call) -> tuple[str, bytes] | Reply:
        parts = multipart_files(call.request)
        part = (parts or {}).get("file")
        if part is None or not part[0]:
            return _error(400, "expected a multipart body with a file part named file")
        return part[0] or "", part[1]

    def _upload(self, call: _Call) -> Reply:
        project, upload = self._project(call), self._uploaded_file(call)
        if project is None:
            return _not_found("project")
        if isinstance(upload, Reply):
            return upload
        filename, data = upload
        document = self._store_document(project["id"], filename, data, "converting")
        return json_reply(200, {"document_id": document["id"], "filename": filename,
                                "content_hash": document["content_hash"],
                                "conversion_status": "converting"})  # fmt: skip

    def _claim(self, call: _Call) -> Reply:
        project = self._project(call)
        if project is None:
            return _not_found("project")
        body = call.body if isinstance(call.body, dict) else {}
        content_hash, filename = body.get("content_hash"), body.get("filename")
        if not isinstance(content_hash, str) or not isinstance(filename, str):
            return _error(400, "content_hash and filename are required")
        document = self._by_hash(project["id"], content_hash)
        if document is None:
            return json_reply(200, {"status": "miss"})
        return json_reply(200, {"status": "hit", "document_id": document["id"],
                                "filename": document["filename"], "content_hash": content_hash,
                                "conversion_status": self._advance(document)})  # fmt: skip

    def _progress(self, call: _Call) -> Reply:
        if self._project(call) is None:
            return _not_found("project")
        document = self._by_hash(_int(call.params["project_id"]), call.params["content_hash"])
        if document is None or document["conversion_status"] != "converting":
            return json_reply(200, {"state": "idle"})
        return json_reply(200, {"state": "converting", "done_pages": 0, "total_pages": 1})

    def _get_document(self, call: _Call) -> Reply:
        document = self.documents.get(call.params["document_id"])
        if document is None:
            return _not_found("document")
        meta = self._meta(document)
        meta["conversion_status"] = self._advance(document)
        return json_reply(200, meta)

    def _get_markdown(self, call: _Call) -> Reply:
        document = self.documents.get(call.params["document_id"])
        if document is None or document["conversion_status"] not in ("ready", "text"):
            return _not_found("markdown")
        return json_reply(200, {"markdown": self._markdown[document["id"]]})

    def _convert(self, call: _Call) -> Reply:
        upload = self._uploaded_file(call)
        if isinstance(upload, Reply):
            return upload
        filename, data = upload
        if "project_id" not in call.params:
            markdown = f"# {filename}\n\n{data.decode('utf-8', 'replace')}"
            return json_reply(200, {"markdown": markdown, "document_id": None,
                                    "filename": filename, "cache_hit": False})  # fmt: skip
        project = self._project(call)
        if project is None:
            return _not_found("project")
        document = self._by_hash(project["id"], hashlib.sha256(data).hexdigest())
        hit = document is not None
        if document is None:
            document = self._store_document(project["id"], filename, data, "ready")
        document["conversion_status"] = "ready"
        return json_reply(200, {"markdown": self._markdown[document["id"]],
                                "document_id": document["id"], "filename": filename,
                                "cache_hit": hit})  # fmt: skip

    # -- bench runs -----------------------------------------------------------------------

    def _trigger_bench_run(self, call: _Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        bench = next((b for b in self.benches.values() if b["script_id"] == script["id"]), None)
        if bench is None:
            return _not_found("bench")
        body = call.body if isinstance(call.body, dict) else {}
        channel = self._channel(script["id"], str(body.get("channel")))
        if channel is None or channel["version_id"] is None:
            return _error(404, f"channel {body.get('channel')} has no published version")
        wanted = body.get("case_ids")
        cases = [c for c in self.cases.values() if c["bench_id"] == bench["id"]
                 and (wanted is None or c["id"] in wanted)]  # fmt: skip
        run_id = self._next("bench_run")
        run = {"id": run_id, "bench_id": bench["id"], "channel": channel["name"],
               "workflow_version_id": channel["version_id"],
               "judge_version_id": channel["version_id"], "status": "running",
               "triggered_by": call.caller, "triggered_at": iso(time.time()),
               "completed_at": None, "total_cost_usd": 0.0, "total_cases": len(cases),
               "cache_hit_cases": 0, "notes": body.get("notes"), "mcp_session_id": None,
               "case_filter": wanted, "mode": body.get("mode", "full"),
               "sample_size": body.get("sample_size")}  # fmt: skip
        self.bench_runs[run_id] = run
        results = []
        for case in cases:
            output = self.results.get(script["name"], case["inputs"])
            passed = output == case["expected_output"]
            results.append({"id": self._next("bench_result"), "bench_run_id": run_id,
                            "case_id": case["id"], "workflow_execution_id": None,
                            "judge_execution_id": None, "score": 1.0 if passed else 0.0,
                            "headline_score": 1.0 if passed else 0.0, "status": "completed",
                            "verdict": "pass" if passed else "fail", "cost_usd": 0.0,
                            "case_name": case["case_name"], "duration_ms": 10,
                            "cache_hit": False, "error": None, "created_at": iso(time.time()),
                            "workflow_output": output})  # fmt: skip
        self.bench_results[run_id] = results
        return json_reply(201, run)

    def _found_run(self, call: _Call) -> Json | Reply:
        run = self.bench_runs.get(_int(call.params["run_id"]) or -1)
        return run if run is not None else _not_found("bench run")

    def _get_bench_run(self, call: _Call) -> Reply:
        run = self._found_run(call)
        return run if isinstance(run, Reply) else json_reply(200, run)

    def _list_bench_results(self, call: _Call) -> Reply:
        run = self._found_run(call)
        return run if isinstance(run, Reply) else json_reply(200, self.bench_results[run["id"]])

    def _bench_run_events(self, call: _Call) -> Reply:
        """Every result as an `event: result`, then `event: terminal`; the run completes."""
        run = self._found_run(call)
        if isinstance(run, Reply):
            return run
        results = self.bench_results[run["id"]]
        if run["status"] == "running":
            passed = sum(r["verdict"] == "pass" for r in results)
            scores = [r["headline_score"] for r in results]
            run.update(status="completed", completed_at=iso(time.time()), ok_cases=len(results),
                       passed=passed, failed=len(results) - passed, inconclusive=0,
                       mean_headline_score=sum(scores) / len(scores) if scores else None,
                       )  # fmt: skip
        frames = [b"event: result\ndata: %s\n\n" % json.dumps(r).encode() for r in results]
        frames.append(b'event: terminal\ndata: {"status":"%s"}\n\n' % run["status"].encode())
        return Reply(200, b"".join(frames), "text/event-stream", {"Cache-Control": "no-cache"})


def _may_see(scopes: Json, project_id: int) -> bool:
    projects = scopes.get("projects")
    return projects == "*" or (isinstance(projects, list) and project_id in projects)


def _check_inputs(source: str, inputs: Any) -> Reply | None:
    """400 `input_validation_failed` when inputs miss or add to what the source declares."""
    if not isinstance(inputs, dict):
        return _error(400, "inputs must be an object")
    declared = dict((name, kind) for name, kind in declared_inputs(source))
    errors: list[Json] = [{"input": name, "code": "missing", "expected": kind}
                          for name, kind in declared.items() if name not in inputs]  # fmt: skip
    errors += [{"input": name, "code": "unknown_input"} for name in inputs if name not in declared]
    if not errors:
        return None
    return json_reply(400, {"error": "input_validation_failed", "errors": errors})
