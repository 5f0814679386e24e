"""FakeAkribes over real sockets with plain `requests`.

Every reply is checked against openapi/akribes.yaml with openapi-core at teardown, and the
tests decode replies with the generated models through the strict converter, so a key the
spec does not know fails here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from controldeck._core._convert import structure
from controldeck._generated import akribes as m
from controldeck.testing.akribes import FakeAkribes

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "akribes.yaml"


@functools.cache
def _spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


def strict(response: requests.Response, cls: Any) -> Any:
    """The reply decoded into `cls` by the strict converter (unknown keys fail)."""
    return structure(response.json(), cls, strict=True)


@pytest.fixture
def fake() -> Iterator[FakeAkribes]:
    with FakeAkribes() as server:
        yield server


class Api:
    """Plain requests against the fake, recording every reply for the spec check."""

    def __init__(self, fake: FakeAkribes, token: str) -> None:
        self.fake = fake
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.replies: list[requests.Response] = []

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.fake.url + path, timeout=5, **kwargs)
        self.replies.append(response)
        return response

    def as_token(self, token: str) -> Api:
        other = Api(self.fake, token)
        other.replies = self.replies
        return other

    def check_spec(self) -> None:
        problems = []
        for response in self.replies:
            if response.headers.get("Content-Type") == "text/event-stream":
                continue  # openapi-core reads the body as bytes; its frames are decoded strictly
            try:
                _spec().validate_response(
                    RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
                )
            except Exception as exc:
                causes = []
                cause = exc.__cause__
                while cause is not None:
                    for err in getattr(cause, "schema_errors", None) or []:
                        causes.append(
                            f"{'.'.join(map(str, err.absolute_path)) or '$'}: {err.message}"
                        )
                    cause = cause.__cause__
                req = response.request
                problems.append(
                    f"{response.status_code} {req.method} {req.path_url}: {exc} {causes}"
                )
        assert not problems, "replies that break openapi/akribes.yaml:\n" + "\n".join(problems)


@pytest.fixture
def api(fake: FakeAkribes) -> Iterator[Api]:
    client = Api(fake, fake.service_token)
    with client.session:
        yield client
        client.check_spec()


def _frames(response: requests.Response, count: int) -> list[dict[str, str]]:
    """The first `count` SSE messages as {field: value}, read off a streamed reply."""
    frames: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line:
            name, _, value = line.partition(": ")
            current[name] = value
            continue
        frames.append(current)
        current = {}
        if len(frames) == count:
            break
    return frames


class Subscriber(threading.Thread):
    """Reads `count` frames of `GET /events` in a thread; attached once `start()` returns.

    With `hold=True` the connection stays open after the frames until `release()`, so the
    fake still counts the stream as attached (it drops a stream whose client has gone).
    """

    def __init__(
        self, fake: FakeAkribes, query: str, count: int, *, hold: bool = False, **headers: str
    ) -> None:
        super().__init__(daemon=True)
        self.fake, self.count = fake, count
        self.url = f"{fake.url}/events?{query}"
        self.headers = {"Authorization": f"Bearer {fake.service_token}", **headers}
        self.frames: list[dict[str, str]] = []
        self.status = 0
        self._attached = fake.subscribers
        self._read = threading.Event()
        self._hold = threading.Event() if hold else None

    def start(self) -> None:
        super().start()
        self.fake.wait_for_subscribers(self._attached + 1)

    def run(self) -> None:
        with requests.get(self.url, headers=self.headers, stream=True, timeout=5) as response:
            self.status = response.status_code
            self.content_type = response.headers["Content-Type"]
            self.frames = _frames(response, self.count)
            self._read.set()
            if self._hold is not None:
                self._hold.wait(5)

    def events(self) -> list[Any]:
        if self._hold is not None:
            assert self._read.wait(5), "the stream did not deliver every frame"
        else:
            self.join(5)
            assert not self.is_alive(), "the stream did not deliver every frame"
        batches = [
            structure(json.loads(f["data"]), m.HubEventBatch, strict=True) for f in self.frames
        ]
        return [event for batch in batches for event in batch]

    def release(self) -> None:
        """Close a held connection and wait for the thread."""
        assert self._hold is not None
        self._hold.set()
        self.join(5)


RUN = "/projects/1/scripts/greet/run"


def _run(api: Api, inputs: dict[str, Any], **kwargs: Any) -> str:
    reply = api("POST", RUN, params={"channel": "production"}, json={"inputs": inputs}, **kwargs)
    assert reply.status_code == 200, reply.text
    return str(strict(reply, m.RunResult).execution_id)


# -- auth and tokens ------------------------------------------------------------------------


def test_requests_without_a_known_bearer_get_401(fake: FakeAkribes) -> None:
    assert requests.get(f"{fake.url}/projects", timeout=5).status_code == 401
    wrong = requests.get(
        f"{fake.url}/projects", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert (wrong.status_code, wrong.text) == (401, "Unauthorized")


def test_minted_tokens_are_scoped_listed_and_revoked(fake: FakeAkribes, api: Api) -> None:
    other = fake.add_project("other")["id"]
    body = {"user_email": "ada@example.com", "scopes": {"projects": [1], "role": "editor"},
            "expires_in": 3600, "label": "ci"}  # fmt: skip
    minted = api("POST", "/tokens", json=body)
    assert minted.status_code == 201
    token = strict(minted, m.MintTokenResponse)
    assert token.token.startswith("akribes_tk_")
    read_only = {**body, "scopes": {"projects": "*", "role": "viewer"}, "label": "ro"}
    viewer = strict(api("POST", "/tokens", json=read_only), m.MintTokenResponse)

    scoped = api.as_token(token.token)
    assert [p.name for p in strict(scoped("GET", "/projects"), list[m.Project])] == ["demo"]
    assert scoped("GET", f"/projects/{other}").status_code == 403
    assert scoped("GET", "/projects/1/scripts/greet").status_code == 200
    assert scoped("POST", "/tokens", json=body).json() == {
        "error": "this token may not mint tokens"
    }
    own = strict(scoped("GET", "/tokens"), list[m.TokenInfo])
    assert [(t.id, t.label, t.minted_by) for t in own] == [(token.token_id, "ci", "service")]
    assert api.as_token(viewer.token)("POST", RUN, json={}).status_code == 403

    listed = strict(api("GET", "/tokens", params={"limit": 1, "offset": 1}), list[m.TokenInfo])
    assert [t.id for t in listed] == [viewer.token_id]
    assert api("DELETE", f"/tokens/{token.token_id}").status_code == 204
    assert scoped("GET", "/projects").status_code == 401
    assert api("DELETE", "/tokens/tok_999").status_code == 404
    revoked = api("DELETE", "/tokens", params={"user_email": "ada@example.com"})
    assert strict(revoked, m.RevokeByEmailResponse).revoked == 1  # the viewer; ci already was
    assert (
        strict(api("GET", "/tokens", params={"include_revoked": "false"}), list[m.TokenInfo]) == []
    )


def test_recorded_requests_mask_the_bearer(fake: FakeAkribes, api: Api) -> None:
    api("GET", "/state")
    assert fake.requests[-1].headers["authorization"] == f"Bearer {fake.service_token}"
    assert fake.service_token not in repr(fake.requests[-1])


# -- projects, scripts, drafts, versions, channels ---------------------------------------


def test_project_and_script_lifecycle(api: Api) -> None:
    created = api("POST", "/projects", json={"name": "research"})
    assert created.status_code == 201
    pid = strict(created, m.Project).id
    assert strict(api("PATCH", f"/projects/{pid}", json={"name": "r2"}), m.Project).name == "r2"
    assert api("PUT", "/projects/reorder", json={"order": [pid, 1]}).status_code == 204
    assert [p.id for p in strict(api("GET", "/projects"), list[m.Project])] == [pid, 1, 2]

    source = "input text: string\ninput n: int\nworkflow main {}\n"
    script = api(
        "POST", f"/projects/{pid}/scripts", params={"name": "sum"}, json={"source": source}
    )
    assert script.status_code == 201
    assert strict(script, m.Script).project_id == pid
    draft = strict(api("GET", f"/projects/{pid}/scripts/sum/draft"), m.Draft)
    assert (draft.source, draft.inputs) == (source, [["text", "string"], ["n", "int"]])
    saved = api(
        "PUT", f"/projects/{pid}/scripts/sum/draft", json={"source": "input text: string\n"}
    )
    assert strict(saved, m.PutDraftResponse).analyzer_version == "fake-1"

    release = {"channels": ["production"], "label": "v1", "published_by": "ada"}
    published = api("POST", f"/projects/{pid}/scripts/sum/publish", json=release)
    assert published.status_code == 201
    version = strict(published, m.PublishResponse).version
    assert (version.label, version.source) == ("v1", "input text: string\n")
    dry = api(
        "POST", f"/projects/{pid}/scripts/sum/publish", json={"channels": ["x"], "dry_run": True}
    )
    assert strict(dry, m.DryRunResult).would_break == 0
    latest = strict(api("GET", f"/projects/{pid}/scripts/sum/latest"), m.LatestVersion)
    assert (latest.id, latest.inputs) == (version.id, [("text", "string")])
    got = api("GET", f"/projects/{pid}/scripts/sum/versions/{version.id}")
    assert strict(got, m.ScriptVersion) == version
    assert [v.id for v in strict(api("GET", f"/projects/{pid}/scripts/sum/versions"),
                                 list[m.ScriptVersion])] == [version.id]  # fmt: skip

    staging = api("POST", f"/projects/{pid}/scripts/sum/channels", json={"name": "staging"})
    assert (staging.status_code, strict(staging, m.ScriptChannel).version_id) == (201, None)
    moved = api(
        "PATCH", f"/projects/{pid}/scripts/sum/channels/staging", json={"version_id": version.id}
    )
    assert moved.status_code == 204
    channels = strict(api("GET", f"/projects/{pid}/scripts/sum/channels"), list[m.ScriptChannel])
    assert [(c.name, c.version_id) for c in channels] == [
        ("production", version.id),
        ("staging", version.id),
    ]
    assert api("DELETE", f"/projects/{pid}/scripts/sum/channels/staging").status_code == 204

    assert (
        api("PATCH", f"/projects/{pid}/scripts/sum", json={"new_name": "total"}).status_code == 204
    )
    assert strict(api("GET", f"/projects/{pid}/scripts/total"), m.Script).name == "total"
    assert [s.name for s in strict(api("GET", f"/projects/{pid}/scripts"), list[m.Script])] == [
        "total"
    ]
    assert api("DELETE", f"/projects/{pid}/scripts/total").status_code == 204
    missing = api("GET", f"/projects/{pid}/scripts/total")
    assert (missing.status_code, missing.json()) == (404, {"error": "script not found"})
    assert api("DELETE", f"/projects/{pid}").status_code == 204
    assert api("GET", f"/projects/{pid}").status_code == 404


# -- runs, the hub stream, executions ------------------------------------------------------


def test_a_run_streams_engine_events_to_attached_subscribers(fake: FakeAkribes, api: Api) -> None:
    early = _run(api, {"name": "Before"})  # nobody is attached: its events go to no one
    subscriber = Subscriber(fake, "project_id=1&script_name=greet", 4)
    subscriber.start()
    execution_id = _run(api, {"name": "Ada"})

    events = subscriber.events()
    assert (subscriber.status, subscriber.content_type) == (200, "text/event-stream")
    assert [f["event"] for f in subscriber.frames] == ["batch"] * 4
    assert (
        [int(f["id"]) for f in subscriber.frames] == [e.payload.seq for e in events] == [5, 6, 7, 8]
    )
    assert {e.payload.execution_id for e in events} == {execution_id} != {early}
    engine = [e.payload.event for e in events]
    assert [type(e).__name__ for e in engine] == [
        "WorkflowStartEvent", "TaskStartEvent", "TaskEndEvent", "WorkflowEndEvent"]  # fmt: skip
    assert engine[2].payload.value == {"name": "Ada"}
    assert engine[2].payload.duration == m.Duration(secs=0, nanos=10_000_000)
    assert engine[3].payload == {"value": {"name": "Ada"}, "total_input_tokens": 12,
        "total_output_tokens": 5, "total_cached_input_tokens": 0, "total_thinking_tokens": 0,
        "total_tool_tokens": 0, "total_cost_usd": 0.0001, "task_count": 1}  # fmt: skip


def test_executions_move_one_step_per_output_poll(api: Api) -> None:
    execution_id = _run(api, {"name": "Ada"})
    first = strict(api("GET", f"/executions/{execution_id}"), m.ExecutionStatus)
    assert (first.status, first.channel, first.script_name) == ("pending", "production", "greet")
    polls = [strict(api("GET", f"/executions/{execution_id}/output"), m.ExecutionOutput)
             for _ in range(4)]  # fmt: skip
    assert [p.status for p in polls] == ["pending", "running", "completed", "completed"]
    assert polls[-1].result == {"name": "Ada"}
    done = strict(api("GET", f"/executions/{execution_id}"), m.ExecutionStatus)
    assert (done.input_tokens, done.output_tokens, done.finished_at is not None) == (12, 5, True)

    cursor = {"after_id": 1, "limit": 2}
    page = strict(
        api("GET", f"/executions/{execution_id}/events", params=cursor), m.ExecutionEvents
    )
    assert ([type(e).__name__ for e in page.events], page.next_after_id, page.has_more) == (
        ["TaskStartEvent", "TaskEndEvent"], 3, True)  # fmt: skip
    only_end = api("GET", f"/executions/{execution_id}/events", params={"types": "WorkflowEnd"})
    assert strict(only_end, m.ExecutionEvents).complete is True
    assert api("GET", "/executions/nope/output").json() == {"error": "execution not found"}


def test_a_failing_script_ends_with_an_error_event(fake: FakeAkribes, api: Api) -> None:
    fake.failures["greet"] = "model unavailable"
    subscriber = Subscriber(fake, "project_id=1", 3)
    subscriber.start()
    execution_id = _run(api, {"name": "Ada"})
    error = subscriber.events()[-1].payload.event
    assert (type(error).__name__, error.payload.message) == ("ErrorEvent", "model unavailable")
    for _ in range(3):
        out = strict(api("GET", f"/executions/{execution_id}/output"), m.ExecutionOutput)
    assert (out.status, out.error, out.error_kind) == ("failed", "model unavailable", "ScriptError")


def test_a_resumed_stream_gets_what_it_missed(fake: FakeAkribes, api: Api) -> None:
    first = Subscriber(fake, "project_id=1", 2, hold=True)
    first.start()
    _run(api, {"name": "Ada"})
    assert [e.payload.seq for e in first.events()] == [1, 2]
    assert fake.end_streams() == 1  # still attached: the reader holds its connection
    first.release()

    resumed = Subscriber(fake, "project_id=1", 2, **{"Last-Event-ID": "2"})
    resumed.start()
    assert [e.payload.seq for e in resumed.events()] == [3, 4]
    other_project = Subscriber(fake, "project_id=2", 1, **{"Last-Event-ID": "0"})
    other_project.start()
    _ = api("POST", "/execute", json={"source": "workflow main {}"})
    assert [e.payload.script_name for e in other_project.events()] == ["adhoc"]


def test_runs_validate_inputs_deduplicate_and_cancel(api: Api) -> None:
    bad = api("POST", RUN, json={"inputs": {"nom": "Ada"}})
    assert bad.status_code == 400
    assert bad.json() == {"error": "input_validation_failed", "errors": [
        {"input": "name", "code": "missing", "expected": "string"},
        {"input": "nom", "code": "unknown_input"}]}  # fmt: skip
    first = _run(api, {"name": "Ada"}, headers={"Idempotency-Key": "k-1"})
    assert _run(api, {"name": "Ada"}, headers={"Idempotency-Key": "k-1"}) == first
    second = _run(api, {"name": "Grace"})
    assert api("POST", RUN, params={"channel": "beta"}, json={}).json() == {
        "error": "channel beta has no published version"}  # fmt: skip

    pending = api("GET", "/projects/1/scripts/greet/executions", params={"status": "pending"})
    listed = strict(pending, list[m.ExecutionStatus])
    assert [e.id for e in listed] == [second, first]
    assert strict(api("DELETE", f"/executions/{first}"), m.CancelRunResponse).cancelled is True
    cancelled = strict(api("DELETE", "/projects/1/scripts/greet/run"), m.CancelRunResponse)
    assert cancelled.cancelled == 1
    assert api("DELETE", "/projects/1/scripts/greet/run").status_code == 404
    assert (
        strict(api("GET", f"/executions/{second}/output"), m.ExecutionOutput).status == "cancelled"
    )


def test_adhoc_runs_go_to_the_sandbox(fake: FakeAkribes, api: Api) -> None:
    sandbox = strict(api("GET", "/me/sandbox"), m.SandboxProject).project_id
    assert sandbox == fake.sandbox_project_id == 2
    subscriber = Subscriber(fake, f"project_id={sandbox}&script_name=adhoc", 4)
    subscriber.start()
    adhoc = {"source": "input x: int\n", "inputs": {"x": 1}, "triggered_by": "cli"}
    run = strict(api("POST", "/execute", json=adhoc), m.AdhocRunResult)
    assert run.project_id == sandbox
    assert {e.payload.execution_id for e in subscriber.events()} == {run.execution_id}
    assert (
        strict(api("GET", f"/executions/{run.execution_id}"), m.ExecutionStatus).triggered_by
        == "cli"
    )
    assert strict(api("GET", "/state"), m.State).env == {"AKRIBES_ENV": "fake"}


# -- documents and bench runs ---------------------------------------------------------------


def test_documents_claim_upload_and_convert(api: Api) -> None:
    data = b"quarterly numbers"
    digest = hashlib.sha256(data).hexdigest()
    claim = {"content_hash": digest, "filename": "q.txt"}
    assert api("POST", "/projects/1/documents/claim", json=claim).json() == {"status": "miss"}
    uploaded = strict(api("POST", "/projects/1/documents", files={"file": ("q.txt", data)}),
                      m.UploadResult)  # fmt: skip
    assert (uploaded.content_hash, uploaded.conversion_status) == (digest, "converting")
    progress = api("GET", f"/projects/1/documents/by-hash/{digest}/progress").json()
    assert progress == {"state": "converting", "done_pages": 0, "total_pages": 1}
    hits = [strict(api("POST", "/projects/1/documents/claim", json=claim), m.ClaimResponse)
            for _ in range(2)]  # fmt: skip
    assert [h.conversion_status for h in hits] == ["converting", "ready"]
    meta = strict(api("GET", f"/documents/{uploaded.document_id}"), m.DocumentMeta)
    assert (meta.size_bytes, meta.content_type, meta.filename) == (len(data), "text/plain", "q.txt")
    markdown = strict(api("GET", f"/documents/{uploaded.document_id}/markdown"), m.DocumentMarkdown)
    assert markdown.markdown == "# q.txt\n\nquarterly numbers"

    converted = [strict(api("POST", "/projects/1/convert", files={"file": ("n.md", b"hi")}),
                        m.ConvertResult) for _ in range(2)]  # fmt: skip
    assert [c.cache_hit for c in converted] == [False, True]
    bare = strict(api("POST", "/convert", files={"file": ("n.md", b"hi")}), m.ConvertResult)
    assert (bare.markdown, bare.document_id) == ("# n.md\n\nhi", None)
    assert api("POST", "/convert", json={}).status_code == 400


def test_bench_runs_stream_their_results(api: Api) -> None:
    triggered = api("POST", "/projects/1/scripts/greet/bench/runs", json={"channel": "production"})
    run = strict(triggered, m.BenchRun)
    assert (triggered.status_code, run.status, run.total_cases) == (201, "running", 2)
    stream = api("GET", f"/bench-runs/{run.id}/events")
    frames = _frames(stream, 3)
    assert [f["event"] for f in frames] == ["result", "result", "terminal"]
    results = [structure(json.loads(f["data"]), m.BenchResult, strict=True) for f in frames[:2]]
    assert [(r.case_name, r.verdict) for r in results] == [("Ada", "pass"), ("Grace", "pass")]
    assert (
        structure(json.loads(frames[2]["data"]), m.BenchRunTerminal, strict=True).status
        == "completed"
    )
    done = strict(api("GET", f"/bench-runs/{run.id}"), m.BenchRun)
    assert (done.status, done.passed, done.mean_headline_score) == ("completed", 2, 1.0)
    assert strict(api("GET", f"/bench-runs/{run.id}/results"), list[m.BenchResult]) == results
    assert api("GET", "/bench-runs/99").status_code == 404


def test_injected_failures_come_before_routing(fake: FakeAkribes, api: Api) -> None:
    fake.fail_next(503, "down", headers={"Retry-After": "1"}, path="/projects")
    down = api("GET", "/projects")
    assert (down.status_code, down.text, down.headers["Retry-After"]) == (503, "down", "1")
    assert api("GET", "/projects").status_code == 200
