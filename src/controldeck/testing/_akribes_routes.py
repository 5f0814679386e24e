"""The routes of `FakeAkribes` that do work: runs and the hub stream, executions,
documents and bench runs; and the request plumbing every route shares."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from controldeck.testing._akribes_seed import declared_inputs, iso, iso_ms, multipart_files
from controldeck.testing._server import RecordedRequest, Reply, json_reply

__all__ = ["TERMINAL", "Call", "Json", "StreamReply", "Subscription", "WorkRoutes", "error",
           "json_body", "may_see", "not_found", "page", "to_int"]  # fmt: skip

Json = dict[str, Any]

TERMINAL = frozenset({"completed", "failed", "cancelled", "suspended"})
_SERVICE = "service"


def error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def not_found(what: str) -> Reply:
    return error(404, f"{what} not found")


def to_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def json_body(request: RecordedRequest) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def page(request: RecordedRequest, items: list[Json]) -> Reply:
    """Items `offset` to `offset + limit` (all of them when `limit` is absent)."""
    offset = to_int(request.query.get("offset")) or 0
    limit = to_int(request.query.get("limit"))
    end = None if limit is None else offset + max(limit, 0)
    return json_reply(200, items[offset:end])


@dataclass(frozen=True)
class Call:
    """An authenticated request, as every route handler receives it."""

    request: RecordedRequest
    params: dict[str, str]
    who: Json | None  # the minted token's row, or None for the service token
    body: Any

    @property
    def caller(self) -> str:
        return _SERVICE if self.who is None else str(self.who["id"])


class Subscription:
    """One attached `GET /events` stream: the frames queued for it, None ends it."""

    def __init__(self, project_id: int, script_name: str | None) -> None:
        self.project_id = project_id
        self.script_name = script_name
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def wants(self, project_id: int, script_name: str) -> bool:
        return project_id == self.project_id and self.script_name in (None, script_name)


@dataclass(frozen=True)
class StreamReply(Reply):
    """A reply whose body is the subscription's frames, sent chunked until it ends."""

    subscription: Subscription | None = None


class WorkRoutes:
    """Route handlers for runs, the hub, executions, documents and bench runs.

    Mixed into `FakeAkribes`, which owns the state named below.
    """

    _lock: threading.RLock
    results: dict[str, Any]
    failures: dict[str, str]
    checkpoints: dict[str, str]
    sandbox_project_id: int
    projects: dict[int, Json]
    scripts: dict[int, Json]
    drafts: dict[int, str]
    versions: dict[int, Json]
    channels: dict[int, Json]
    executions: dict[str, Json]
    documents: dict[str, Json]
    benches: dict[int, Json]
    cases: dict[str, Json]
    bench_runs: dict[int, Json]
    bench_results: dict[int, list[Json]]
    _outcomes: dict[str, Json]
    _engine_events: dict[str, list[Json]]
    _run_inputs: dict[str, Any]
    _checkpoint_tokens: dict[str, str]
    _contents: dict[str, bytes]
    _idempotent: dict[str, str]
    _markdown: dict[str, str]
    _hub: list[tuple[int, int, str, bytes]]
    _subscriptions: list[Subscription]
    _closing: bool
    _ids: dict[str, int]

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _project(self, call: Call) -> Json | None:
        return self.projects.get(to_int(call.params.get("project_id")) or -1)

    def _script(self, project_id: int | None, name: str) -> Json | None:
        for script in self.scripts.values():
            if script["project_id"] == project_id and script["name"] == name:
                return script
        return None

    def _found_script(self, call: Call) -> Json | Reply:
        script = self._script(to_int(call.params["project_id"]), call.params["script_name"])
        return script if script is not None else not_found("script")

    def _channel(self, script_id: int, name: str) -> Json | None:
        for channel in self.channels.values():
            if channel["script_id"] == script_id and channel["name"] == name:
                return channel
        return None

    # -- runs and the hub -----------------------------------------------------------------

    def _run(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        key = call.request.headers.get("idempotency-key")
        if key is not None and key in self._idempotent:
            return json_reply(200, {"execution_id": self._idempotent[key]})
        name = call.request.query.get("channel") or "production"
        channel = self._channel(script["id"], name)
        if channel is None or channel["version_id"] is None:
            return error(404, f"channel {name} has no published version")
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

    def _run_adhoc(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        source, inputs = body.get("source"), body.get("inputs") or {}
        if not isinstance(source, str) or not source.strip():
            return error(400, "source is required")
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
        checkpoint = self.checkpoints.get(script_name)
        if checkpoint is not None and failure is None:
            token = "ckpt_" + secrets.token_urlsafe(12)
            self._checkpoint_tokens[execution_id] = token
            events.append({"type": "Suspended", "payload": {
                "checkpoint_name": checkpoint, "token": token,
                "prompt": f"{checkpoint}: answer to carry on", "schema": {"type": "object"},
                "actor_hint": "Human"}})  # fmt: skip
            outcome: Json = {"status": "suspended"}
        elif failure is None:
            value = self.results.get(script_name, inputs)
            usage = {"input_tokens": 12, "output_tokens": 5, "model": "fake-model",
                     "provider": "fake", "cached_input_tokens": 0,
                     "stop_reason": "stop"}  # fmt: skip
            events.append({"type": "TaskEnd", "payload": {
                "task": "main", "value": value, "duration": {"secs": 0, "nanos": 10_000_000},
                "attempt": 1, "usage": usage, "variant": "success"}})  # fmt: skip
            events.append(_workflow_end(value))
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
        self._run_inputs[execution_id] = inputs
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

    def _subscribe(self, call: Call) -> Reply:
        project_id = to_int(call.request.query.get("project_id"))
        if project_id is None:
            return error(400, "project_id is required")
        if self._closing:
            return error(503, "shutting down")
        subscription = Subscription(project_id, call.request.query.get("script_name"))
        last = to_int(call.request.headers.get("last-event-id"))
        if last is not None:  # resume: replay what the subscriber missed, in order
            for seq, pid, name, frame in self._hub:
                if seq > last and subscription.wants(pid, name):
                    subscription.frames.put(frame)
        self._subscriptions.append(subscription)
        return StreamReply(200, subscription=subscription)

    def _detach(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def _found_execution(self, call: Call) -> Json | Reply:
        execution = self.executions.get(call.params["execution_id"])
        if execution is None:
            return not_found("execution")
        if call.who is not None and not may_see(call.who["scopes"], execution["project_id"]):
            return not_found("execution")
        return execution

    def _get_execution(self, call: Call) -> Reply:
        execution = self._found_execution(call)
        return execution if isinstance(execution, Reply) else json_reply(200, execution)

    def _get_output(self, call: Call) -> Reply:
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

    def _get_events(self, call: Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        query = call.request.query
        after, limit = to_int(query.get("after_id")) or 0, to_int(query.get("limit")) or 100
        types = set(query["types"].split(",")) if query.get("types") else None
        numbered = [(i, e) for i, e in enumerate(self._engine_events[execution["id"]], 1)
                    if i > after and (types is None or e["type"] in types)]  # fmt: skip
        chunk = numbered[:limit]
        return json_reply(200, {
            "execution_id": execution["id"], "status": execution["status"],
            "complete": execution["status"] in TERMINAL, "events": [e for _, e in chunk],
            "next_after_id": chunk[-1][0] if chunk else after,
            "has_more": len(numbered) > limit})  # fmt: skip

    def _cancel_execution(self, call: Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        if execution["status"] not in TERMINAL:
            execution.update(status="cancelled", finished_at=iso(time.time()))
        return json_reply(200, {"cancelled": True})

    def _cancel_run(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        running = [e for e in self.executions.values()
                   if e["project_id"] == script["project_id"]
                   and e["script_name"] == script["name"]
                   and e["status"] not in TERMINAL]  # fmt: skip
        if not running:
            return not_found("running execution")
        for execution in running:
            execution.update(status="cancelled", finished_at=iso(time.time()))
        return json_reply(200, {"cancelled": len(running), "status": "cancelled"})

    def _list_executions(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        query = call.request.query
        rows = [e for e in reversed(self.executions.values())
                if e["project_id"] == script["project_id"] and e["script_name"] == script["name"]
                and query.get("status", e["status"]) == e["status"]
                and query.get("channel", e["channel"]) == e["channel"]]  # fmt: skip
        return page(call.request, rows)

    def _list_project_executions(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        query = call.request.query
        rows = [e for e in reversed(self.executions.values())
                if e["project_id"] == project["id"]
                and all(query.get(k, e[k]) == e[k] for k in ("script_name", "status", "channel"))
                ]  # fmt: skip
        return page(call.request, rows)

    def _children(self, call: Call) -> Reply:
        """The fake's scripts spawn no sub-scripts: every execution has no children."""
        execution = self._found_execution(call)
        return execution if isinstance(execution, Reply) else json_reply(200, [])

    def _tasks(self, call: Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        tasks = []
        if execution["status"] == "completed" and execution["finished_at"] is not None:
            tasks.append({"task_name": "main", "model": "fake-model", "provider": "fake",
                          "input_tokens": execution["input_tokens"],
                          "output_tokens": execution["output_tokens"],
                          "cached_input_tokens": 0, "cache_write_input_tokens": 0,
                          "cost_usd": execution["cost_usd"], "duration_ms": 10, "attempt": 1,
                          "finished_at": execution["finished_at"]})  # fmt: skip
        return json_reply(200, {"execution_id": execution["id"], "tasks": tasks})

    def _resume(self, call: Call) -> Reply:
        """The right checkpoint token completes a suspended run with the answer as result."""
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        body = call.body if isinstance(call.body, dict) else {}
        if execution["status"] != "suspended":
            return error(409, f"execution {execution['id']} is {execution['status']}")
        expected = self._checkpoint_tokens.get(execution["id"])
        if body.get("token") != expected or "data" not in body:
            return error(400, "token does not match the checkpoint (or data is missing)")
        checkpoint = self.checkpoints.get(execution["script_name"], "checkpoint")
        value = body["data"]
        execution.update(status="completed", result=value, finished_at=iso(time.time()),
                         input_tokens=12, output_tokens=5, cost_usd=0.0001)  # fmt: skip
        for event in ({"type": "Resumed", "payload": {"checkpoint_name": checkpoint,
                                                      "token": expected}},
                      _workflow_end(value)):  # fmt: skip
            self._engine_events[execution["id"]].append(event)
            self._publish_hub(execution["project_id"], execution["script_name"],
                              execution["id"], event)  # fmt: skip
        return json_reply(200, {"resumed": True, "execution_id": execution["id"]})

    def _rerun(self, call: Call) -> Reply:
        execution = self._found_execution(call)
        if isinstance(execution, Reply):
            return execution
        since = self._ids.get("seq", 0)
        again = self._start(execution["project_id"], execution["script_name"],
                            self._run_inputs[execution["id"]], execution["channel"],
                            execution["version_id"], execution["triggered_by"])  # fmt: skip
        return json_reply(201, {"execution_id": again["id"], "rerun_of": execution["id"],
                                "since_id": since})  # fmt: skip

    def _runnable(self, call: Call, channel: str) -> tuple[Json, int | None, str] | Reply:
        """The script, and the version (None: the draft) and source that `channel` runs."""
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        if channel == "draft":
            return script, None, self.drafts.get(script["id"], "")
        found = self._channel(script["id"], channel)
        if found is None or found["version_id"] is None:
            return error(404, f"channel {channel} has no published version")
        return script, found["version_id"], self.versions[found["version_id"]]["source"]

    def _started(self, call: Call, inputs: Any, channel: str, who: Any, check: bool) -> Reply:
        runnable = self._runnable(call, channel)
        if isinstance(runnable, Reply):
            return runnable
        script, version_id, source = runnable
        invalid = _check_inputs(source, inputs) if check else None
        if invalid is not None:
            return invalid
        since = self._ids.get("seq", 0)
        who = who if isinstance(who, str) else None
        execution = self._start(script["project_id"], script["name"], inputs, channel,
                                version_id, who)  # fmt: skip
        return json_reply(201, {"execution_id": execution["id"], "since_id": since})

    def _run_from(self, call: Call) -> Reply:
        """Seeded variables join the inputs; the fake runs no graph, so nothing is checked."""
        body = call.body if isinstance(call.body, dict) else {}
        seed_env, skip = body.get("seed_env"), body.get("skip_node_ids")
        if not isinstance(seed_env, dict) or not isinstance(skip, list):
            return error(400, "seed_env and skip_node_ids are required")
        inputs = {**seed_env, **(body.get("inputs") or {})}
        channel = call.request.query.get("channel") or "draft"
        return self._started(call, inputs, channel, body.get("triggered_by"), check=False)

    def _run_upload(self, call: Call) -> Reply:
        """Each file part becomes a document; the run's inputs are their document ids."""
        parts = multipart_files(call.request)
        if not parts or "_meta" not in parts:
            return error(400, "expected a multipart body with a _meta part")
        try:
            meta = json.loads(parts.pop("_meta")[1])
        except ValueError:
            return error(400, "_meta must be JSON")
        project = self._project(call)
        if project is None:
            return not_found("project")
        inputs = {name: self._store_document(project["id"], filename or name, data,
                                             "ready")["id"]
                  for name, (filename, data) in parts.items()}  # fmt: skip
        channel = call.request.query.get("channel") or "production"
        return self._started(call, inputs, channel, meta.get("triggered_by"), check=True)

    def _run_s3(self, call: Call) -> Reply:
        """Inputs name the objects (`s3://bucket/key`, or the URL without its signature)."""
        body = call.body if isinstance(call.body, dict) else {}
        refs = body.get("inputs")
        if not isinstance(refs, dict) or not all(isinstance(r, dict) for r in refs.values()):
            return error(400, "inputs must map names to S3 references")
        inputs = {name: ref["presigned_url"].split("?")[0] if "presigned_url" in ref
                  else f"s3://{ref.get('bucket')}/{ref.get('key')}"
                  for name, ref in refs.items()}  # fmt: skip
        channel = body.get("channel") or "production"
        return self._started(call, inputs, channel, body.get("triggered_by"), check=True)

    def _graph(self, call: Call) -> Reply:
        """One node per declared input and per `task <name>` line; inputs feed every task."""
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        version_id = to_int(call.request.query.get("version"))
        if version_id is None:
            source = self.drafts.get(script["id"], "")
        else:
            version = self.versions.get(version_id)
            if version is None or version["script_id"] != script["id"]:
                return not_found("version")
            source = version["source"]
        nodes: list[Json] = []
        for line_no, line in enumerate(source.splitlines(), 1):
            words = line.replace(":", " ").split()
            if len(words) > 1 and words[0] in ("input", "task"):
                reads = [] if words[0] == "input" else [
                    n["target_var"] for n in nodes if n["op_type"] == "input"]  # fmt: skip
                nodes.append({"id": len(nodes), "op_type": words[0], "op_name": words[1],
                              "target_var": words[1], "reads": reads, "line": line_no,
                              "col": line.index(words[0]) + 1})  # fmt: skip
        edges = [{"from": i["id"], "to": t["id"]} for t in nodes if t["op_type"] == "task"
                 for i in nodes if i["op_type"] == "input"]  # fmt: skip
        return json_reply(200, {"nodes": nodes, "edges": edges})

    def _project_cost(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        since, until = call.request.query.get("since"), call.request.query.get("until")
        runs = [e for e in self.executions.values() if e["project_id"] == project["id"]
                and (since is None or e["started_at"] >= since)
                and (until is None or e["started_at"] < until)]  # fmt: skip
        return json_reply(200, {"project_id": project["id"], **_cost_totals(runs)})

    def _script_cost(self, call: Call) -> Reply:
        script = self._found_script(call)
        if isinstance(script, Reply):
            return script
        runs = [e for e in self.executions.values() if e["project_id"] == script["project_id"]
                and e["script_name"] == script["name"]]  # fmt: skip
        by_version: dict[int | None, list[Json]] = {}
        for execution in runs:
            by_version.setdefault(execution["version_id"], []).append(execution)
        versions = [{"version_id": vid, **{k: v for k, v in _cost_totals(rows).items()
                                            if k.endswith("_usd")},
                     "executions": len(rows)} for vid, rows in by_version.items()]  # fmt: skip
        return json_reply(200, {**_cost_totals(runs), "total_tool_tokens": 0,
                                "by_version": versions})  # fmt: skip

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
        self._contents[document_id] = data
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

    def _uploaded_file(self, call: Call) -> tuple[str, bytes] | Reply:
        parts = multipart_files(call.request)
        part = (parts or {}).get("file")
        if part is None or not part[0]:
            return error(400, "expected a multipart body with a file part named file")
        return part[0] or "", part[1]

    def _upload(self, call: Call) -> Reply:
        project, upload = self._project(call), self._uploaded_file(call)
        if project is None:
            return not_found("project")
        if isinstance(upload, Reply):
            return upload
        filename, data = upload
        document = self._store_document(project["id"], filename, data, "converting")
        return json_reply(200, {"document_id": document["id"], "filename": filename,
                                "content_hash": document["content_hash"],
                                "conversion_status": "converting"})  # fmt: skip

    def _claim(self, call: Call) -> Reply:
        project = self._project(call)
        if project is None:
            return not_found("project")
        body = call.body if isinstance(call.body, dict) else {}
        content_hash, filename = body.get("content_hash"), body.get("filename")
        if not isinstance(content_hash, str) or not isinstance(filename, str):
            return error(400, "content_hash and filename are required")
        document = self._by_hash(project["id"], content_hash)
        if document is None:
            return json_reply(200, {"status": "miss"})
        return json_reply(200, {"status": "hit", "document_id": document["id"],
                                "filename": document["filename"], "content_hash": content_hash,
                                "conversion_status": self._advance(document)})  # fmt: skip

    def _progress(self, call: Call) -> Reply:
        if self._project(call) is None:
            return not_found("project")
        document = self._by_hash(to_int(call.params["project_id"]), call.params["content_hash"])
        if document is None or document["conversion_status"] != "converting":
            return json_reply(200, {"state": "idle"})
        return json_reply(200, {"state": "converting", "done_pages": 0, "total_pages": 1})

    def _get_document(self, call: Call) -> Reply:
        document = self.documents.get(call.params["document_id"])
        if document is None:
            return not_found("document")
        meta = self._meta(document)
        meta["conversion_status"] = self._advance(document)
        return json_reply(200, meta)

    def _get_markdown(self, call: Call) -> Reply:
        document = self.documents.get(call.params["document_id"])
        if document is None or document["conversion_status"] not in ("ready", "text"):
            return not_found("markdown")
        return json_reply(200, {"markdown": self._markdown[document["id"]]})

    def _document_content(self, call: Call) -> Reply:
        """A redirect to the bytes in "storage", as the server answers with a presigned URL."""
        document = self.documents.get(call.params["document_id"])
        if document is None:
            return not_found("document")
        location = f"/storage/{document['id']}?X-Amz-Signature=fake"
        return Reply(302, headers={"Location": location})

    def _storage(self, call: Call) -> Reply:
        """The stored bytes, to anyone holding the URL (it needs no bearer, as S3's)."""
        data = self._contents.get(call.params["document_id"])
        if data is None:
            return not_found("object")
        content_type = self.documents[call.params["document_id"]]["content_type"]
        return Reply(200, data, content_type)

    def _reconvert(self, call: Call) -> Reply:
        document = self.documents.get(call.params["document_id"])
        if document is None:
            return not_found("document")
        document["conversion_status"] = "converting"
        return json_reply(200, {"document_id": document["id"], "conversion_status": "converting"})

    def _convert(self, call: Call) -> Reply:
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
            return not_found("project")
        document = self._by_hash(project["id"], hashlib.sha256(data).hexdigest())
        hit = document is not None
        if document is None:
            document = self._store_document(project["id"], filename, data, "ready")
        document["conversion_status"] = "ready"
        return json_reply(200, {"markdown": self._markdown[document["id"]],
                                "document_id": document["id"], "filename": filename,
                                "cache_hit": hit})  # fmt: skip


def _cost_totals(runs: list[Json]) -> Json:
    cost = sum(e["cost_usd"] or 0.0 for e in runs)
    return {"total_executions": len(runs), "total_cost_usd": cost,
            "avg_cost_usd": cost / len(runs) if runs else 0.0,
            "total_input_tokens": sum(e["input_tokens"] for e in runs),
            "total_output_tokens": sum(e["output_tokens"] for e in runs)}  # fmt: skip


def _workflow_end(value: Any) -> Json:
    return {"type": "WorkflowEnd", "payload": {
        "value": value, "total_input_tokens": 12, "total_output_tokens": 5,
        "total_cached_input_tokens": 0, "total_thinking_tokens": 0, "total_tool_tokens": 0,
        "total_cost_usd": 0.0001, "task_count": 1}}  # fmt: skip


def may_see(scopes: Json, project_id: int) -> bool:
    projects = scopes.get("projects")
    return projects == "*" or (isinstance(projects, list) and project_id in projects)


def _check_inputs(source: str, inputs: Any) -> Reply | None:
    """400 `input_validation_failed` when inputs miss or add to what the source declares."""
    if not isinstance(inputs, dict):
        return error(400, "inputs must be an object")
    declared = dict((name, kind) for name, kind in declared_inputs(source))
    errors: list[Json] = [{"input": name, "code": "missing", "expected": kind}
                          for name, kind in declared.items() if name not in inputs]  # fmt: skip
    errors += [{"input": name, "code": "unknown_input"} for name in inputs if name not in declared]
    if not errors:
        return None
    return json_reply(400, {"error": "input_validation_failed", "errors": errors})
