"""Akribes event streams against the spec-checking mock: requests, decoding, run streams.

Reconnects, idle limits and the run race over real sockets are in test_events_wire.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import requests
import responses
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.deserializing.media_types.util import plain_loads

from controldeck._generated import akribes as m
from controldeck.akribes import AkribesClient, InvalidInputsError
from controldeck.akribes._events import (
    is_run_end,
    run_adhoc_stream,
    watch_run,
    workflow_end_result,
)
from controldeck.errors import (
    InvalidArgumentError,
    PermissionDeniedError,
    ResponseValidationError,
    StreamError,
)
from tests._conformance import SPEC_DIR, ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL, PID, TOKEN

EVENTS_URL = f"{BASE_URL}/events"
SANDBOX = 42


def execution(execution_id: str | None, event: dict[str, Any], script: str = "triage") -> Any:
    payload: dict[str, Any] = {"project_id": PID, "script_name": script, "event": event}
    if execution_id is not None:
        payload["execution_id"] = execution_id
    return {"type": "Execution", "payload": payload}


def log(text: str) -> dict[str, Any]:
    return {"type": "Log", "payload": text}


WORKFLOW_END = {"type": "WorkflowEnd", "payload": {"value": "done", "total_cost_usd": 0.5}}
ERROR = {"type": "Error", "payload": {"message": "boom", "kind": "ScriptError"}}
PROJECT_DELETED = {"type": "Registry", "payload": {"type": "ProjectDeleted", "payload": 3}}


def batch(id_: int | str | None, *events: Any, name: str | None = "batch") -> str:
    lines = [] if id_ is None else [f"id: {id_}"]
    if name is not None:
        lines.append(f"event: {name}")
    lines.append(f"data: {json.dumps(list(events))}")
    return "\n".join(lines) + "\n\n"


@functools.cache
def sse_aware_spec() -> OpenAPI:
    """openapi/akribes.yaml, with `text/event-stream` bodies read as text (openapi-core
    knows no such media type and would compare bytes with the `type: string` schema)."""
    config = Config(extra_media_type_deserializers={"text/event-stream": plain_loads})
    return OpenAPI.from_file_path(str(SPEC_DIR / "akribes.yaml"), config=config)


class Hub:
    """Canned SSE replies for GET /events, kept so that they can be validated afterwards."""

    def __init__(self, api: ConformanceMock) -> None:
        self.api = api
        self.served: list[bytes] = []

    def reply(self, body: str) -> None:
        def callback(_: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
            self.served.append(body.encode())
            return 200, {"Content-Type": "text/event-stream"}, body.encode()

        self.api.add_callback(responses.GET, EVENTS_URL, callback=callback)

    def requests(self) -> list[requests.PreparedRequest]:
        return [c.request for c in self.api.calls if c.request.url.startswith(EVENTS_URL)]

    def validate(self) -> None:
        """Validate every call like the conformance mock does, SSE replies included."""
        streamed = [c for c in self.api.calls if c.request.url.startswith(EVENTS_URL)]
        for call, body in zip(streamed, self.served, strict=True):
            # The stream read the body through `raw`; give the validator what was served.
            call.response._content = body  # type: ignore[union-attr]
        spec = sse_aware_spec()
        for call in self.api.calls:
            request = RequestsOpenAPIRequest(call.request)
            spec.validate_request(request)
            if isinstance(call.response, requests.Response):
                spec.validate_response(request, RequestsOpenAPIResponse(call.response))
        # The mock still records the operations as exercised; it no longer validates them.
        self.api.skip_validation = True


@pytest.fixture
def hub(request: pytest.FixtureRequest, api: ConformanceMock) -> Iterator[Hub]:
    hub = Hub(api)
    yield hub
    if request.node.get_closest_marker("off_spec") is None:
        hub.validate()


def collect(stream: Any) -> list[Any]:
    with stream:
        return list(stream)


def query(request: requests.PreparedRequest) -> str:
    return request.url.split("?", 1)[1]


# -- event_stream ---------------------------------------------------------------------------


def test_event_stream_request(hub: Hub) -> None:
    hub.reply(batch(1, PROJECT_DELETED))
    with AkribesClient(BASE_URL, token=TOKEN, on_behalf_of="al@acme.com", max_retries=0) as c:
        events = collect(c.project(PID).events.event_stream(script_name="tri age"))
    assert events == [m.RegistryHubEvent(payload=m.ProjectDeletedEvent(payload=3))]
    [request] = hub.requests()
    assert request.method == "GET"
    assert request.url == f"{EVENTS_URL}?project_id={PID}&script_name=tri+age"
    assert TOKEN not in request.url
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Authorization"] == AUTH
    assert request.headers["X-Akribes-User"] == "al@acme.com"
    assert "Last-Event-ID" not in request.headers
    # No read limit by default: a quiet hub is not cut off by the client's 60 s read timeout.
    assert request.req_kwargs["timeout"] == (5.0, None)  # type: ignore[attr-defined]


def test_event_stream_without_script_and_with_idle_limit(hub: Hub, client: AkribesClient) -> None:
    hub.reply(batch(1, PROJECT_DELETED))
    stream = client.events(PID, idle_timeout=30, timeout=(2, 1), extra_headers={"X-Trace": "t-1"})
    assert collect(stream) == [m.RegistryHubEvent(payload=m.ProjectDeletedEvent(payload=3))]
    [request] = hub.requests()
    assert query(request) == f"project_id={PID}"
    assert request.headers["X-Trace"] == "t-1"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.req_kwargs["timeout"] == (2.0, 30.0)  # type: ignore[attr-defined]


def test_batches_are_flattened_and_everything_else_skipped(hub: Hub, client: AkribesClient) -> None:
    body = (
        ": keepalive\n\n"
        + batch(10, execution("e1", log("a")), PROJECT_DELETED)
        + "event: ping\ndata: 1\n\n"
        + "id: 11\n\n"  # an id without data: no event
        + batch(12, execution("e2", {"type": "WorkflowStart", "payload": 2}), name=None)
        + 'event: lagged\ndata: {"dropped": 3}\n\n'
        + batch(13)  # an empty batch
        + batch(14, execution("e1", log("b")))
    )
    hub.reply(body)
    events = collect(client.project(PID).events.event_stream())
    assert events == [
        m.ExecutionHubEvent(
            payload=m.ExecutionHubPayload(
                project_id=PID,
                script_name="triage",
                execution_id="e1",
                event=m.LogEvent(payload="a"),
            )
        ),
        m.RegistryHubEvent(payload=m.ProjectDeletedEvent(payload=3)),
        m.ExecutionHubEvent(
            payload=m.ExecutionHubPayload(
                project_id=PID,
                script_name="triage",
                execution_id="e2",
                event=m.WorkflowStartEvent(payload=2),
            )
        ),
        m.ExecutionHubEvent(
            payload=m.ExecutionHubPayload(
                project_id=PID,
                script_name="triage",
                execution_id="e1",
                event=m.LogEvent(payload="b"),
            )
        ),
    ]
    assert len(hub.requests()) == 1  # the clean end of the body ended the stream


def test_unknown_variants_arrive_as_values(hub: Hub, client: AkribesClient) -> None:
    lagged = {"type": "Lagged", "payload": {"dropped": 3}}
    future = {"type": "Telepathy", "payload": [1, "x"]}
    hub.reply(batch(1, lagged, execution("e1", future)))
    unknown, inner = collect(client.project(PID).events.event_stream())
    assert unknown == m.UnknownHubEvent(tag="Lagged", raw=lagged)
    assert isinstance(inner, m.ExecutionHubEvent)
    assert inner.payload.event == m.UnknownEngineEvent(tag="Telepathy", raw=future)


def test_a_batch_that_is_not_an_array_is_a_stream_error(hub: Hub, client: AkribesClient) -> None:
    hub.reply(batch(1, PROJECT_DELETED) + 'id: 2\nevent: batch\ndata: {"type": "Registry"}\n\n')
    stream = client.project(PID).events.event_stream()
    assert next(stream) == m.RegistryHubEvent(payload=m.ProjectDeletedEvent(payload=3))
    with pytest.raises(StreamError, match=r"hub batch \(id '2'\) is not a JSON array but dict"):
        next(stream)
    assert stream.closed


def test_a_malformed_known_event_is_a_validation_error(hub: Hub, client: AkribesClient) -> None:
    broken = {"type": "Registry", "payload": {"type": "ProjectDeleted", "payload": "three"}}
    hub.reply(batch(5, PROJECT_DELETED, broken))
    stream = client.project(PID).events.event_stream()
    with pytest.raises(ResponseValidationError) as info:
        list(stream)
    assert str(info.value).startswith("hub batch (id '5') did not match HubEvent: ")
    assert info.value.path is not None and info.value.path.startswith("$[1].payload")
    assert stream.closed


def test_refused_subscription_raises_from_the_call(api: ConformanceMock) -> None:
    api.get(EVENTS_URL, status=403, json={"error": "no access to project 7"})
    with (
        AkribesClient(BASE_URL, token=TOKEN, max_retries=0) as client,
        pytest.raises(PermissionDeniedError, match="no access to project 7"),
    ):
        client.project(PID).events.event_stream()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"script_name": ""}, "script_name"),
        ({"script_name": 5}, "script_name"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"idle_timeout": -1.0}, "idle_timeout"),
        ({"idle_timeout": True}, "idle_timeout"),
        ({"idle_timeout": "30"}, "idle_timeout"),
        ({"idle_timeout": float("inf")}, "idle_timeout"),
        ({"extra_headers": ["Accept"]}, "extra_headers"),
    ],
)
def test_event_stream_argument_errors_send_nothing(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        client.project(PID).events.event_stream(**kwargs)
    assert len(api.calls) == 0


# -- execution_stream / adhoc_stream -----------------------------------------------------------


def test_adhoc_stream_yields_execution_id_and_engine_event(hub: Hub, client: AkribesClient) -> None:
    hub.reply(
        batch(
            1,
            execution("e1", log("a"), script="adhoc"),
            PROJECT_DELETED,
            execution(None, log("old server"), script="adhoc"),
            execution("e2", WORKFLOW_END, script="adhoc"),
        )
    )
    pairs = collect(client.adhoc_event_stream(SANDBOX))
    assert pairs == [
        ("e1", m.LogEvent(payload="a")),
        (None, m.LogEvent(payload="old server")),
        ("e2", m.WorkflowEndEvent(payload=WORKFLOW_END["payload"])),
    ]
    [request] = hub.requests()
    assert query(request) == f"project_id={SANDBOX}&script_name=adhoc"
    assert request.headers["Authorization"] == AUTH


def test_execution_stream_close_releases_the_subscription(hub: Hub, client: AkribesClient) -> None:
    hub.reply(batch(1, execution("e1", log("a")), execution("e1", log("b"))))
    stream = client.project(PID).events.execution_stream("triage")
    assert next(stream) == ("e1", m.LogEvent(payload="a"))
    stream.close()
    assert stream.closed and list(stream) == []
    assert query(hub.requests()[0]) == f"project_id={PID}&script_name=triage"


def test_execution_stream_needs_a_script(api: ConformanceMock, client: AkribesClient) -> None:
    with pytest.raises(InvalidArgumentError, match="script_name"):
        client.project(PID).events.execution_stream("")
    assert len(api.calls) == 0


# -- watch_run ------------------------------------------------------------------------------------


def test_watch_run_subscribes_first_and_yields_only_its_execution(
    hub: Hub, client: AkribesClient
) -> None:
    hub.reply(
        batch(1, execution("other", log("not mine")), execution("e1", log("mine")))
        + batch(2, execution(None, log("unattributed")), execution("other", WORKFLOW_END))
        + batch(3, execution("e1", WORKFLOW_END), execution("e1", log("after the end")))
    )
    order: list[int] = []

    def start() -> str:
        order.append(len(hub.requests()))  # the subscription was already sent
        return "e1"

    events = collect(watch_run(client, PID, "triage", start=start))
    assert order == [1]
    assert events == [
        m.LogEvent(payload="mine"),
        m.WorkflowEndEvent(payload=WORKFLOW_END["payload"]),
    ]
    assert query(hub.requests()[0]) == f"project_id={PID}&script_name=triage"


def test_watch_run_ends_after_error(hub: Hub, client: AkribesClient) -> None:
    hub.reply(batch(1, execution("e1", ERROR), execution("e1", log("never"))))
    stream = watch_run(client, PID, "triage", start=lambda: "e1")
    [error] = list(stream)
    assert isinstance(error, m.ErrorEvent)
    assert error.payload.message == "boom" and error.payload.kind == m.ErrorKind.SCRIPT_ERROR
    assert stream.closed


def test_watch_run_reraises_what_start_raised(hub: Hub, client: AkribesClient) -> None:
    hub.reply(batch(1, execution("e1", log("a"))))

    def start() -> str:
        raise RuntimeError("could not post the run")

    with pytest.raises(RuntimeError, match="could not post the run"):
        watch_run(client, PID, "triage", start=start)
    assert len(hub.requests()) == 1


@pytest.mark.parametrize("returned", ["", None, 12])
def test_watch_run_start_must_return_an_id(hub: Hub, client: AkribesClient, returned: Any) -> None:
    hub.reply(batch(1, execution("e1", log("a"))))
    with pytest.raises(
        InvalidArgumentError, match="start\\(\\) must return the run's execution id"
    ):
        watch_run(client, PID, "triage", start=lambda: returned)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((PID, ""), {"start": lambda: "e1"}, "script_name"),
        ((-1, "triage"), {"start": lambda: "e1"}, "project_id"),
        ((PID, "triage"), {"start": "e1"}, "start must be a callable"),
        ((PID, "triage"), {"start": lambda: "e1", "idle_timeout": 0}, "idle_timeout"),
    ],
)
def test_watch_run_argument_errors_send_nothing(
    api: ConformanceMock,
    client: AkribesClient,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        watch_run(client, *args, **kwargs)
    assert len(api.calls) == 0


# -- run_adhoc_stream -----------------------------------------------------------------------------


def test_run_adhoc_stream(hub: Hub, client: AkribesClient) -> None:
    hub.api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    hub.api.post(f"{BASE_URL}/execute", json={"execution_id": "e9", "project_id": SANDBOX})
    hub.reply(
        batch(
            1,
            execution("e8", log("someone else's"), script="adhoc"),
            execution("e9", log("hi"), script="adhoc"),
            execution("e9", WORKFLOW_END, script="adhoc"),
        )
    )
    stream = client.run_adhoc_stream(
        'workflow main { log("hi") }',
        inputs={"n": 1},
        breakpoint_lines=[3],
        channel="draft",
        extra_headers={"X-Trace": "t-2"},
    )
    events = collect(stream)
    assert events == [m.LogEvent(payload="hi"), m.WorkflowEndEvent(payload=WORKFLOW_END["payload"])]
    calls = hub.api.calls
    assert [(c.request.method, c.request.url) for c in calls] == [
        ("GET", f"{BASE_URL}/me/sandbox"),
        ("GET", f"{EVENTS_URL}?project_id={SANDBOX}&script_name=adhoc"),
        ("POST", f"{BASE_URL}/execute"),
    ]
    assert all(c.request.headers["Authorization"] == AUTH for c in calls)
    assert all(c.request.headers["X-Trace"] == "t-2" for c in calls)
    assert json.loads(calls[2].request.body) == {  # type: ignore[arg-type]
        "source": 'workflow main { log("hi") }',
        "inputs": {"n": 1},
        "breakpoint_lines": [3],
        "channel": "draft",
        "triggered_by": "tests",
    }


def test_run_adhoc_stream_leaves_out_unset_fields(hub: Hub, client: AkribesClient) -> None:
    hub.api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    hub.api.post(f"{BASE_URL}/execute", json={"execution_id": "e9", "project_id": SANDBOX})
    hub.reply(batch(1, execution("e9", ERROR, script="adhoc")))
    events = collect(run_adhoc_stream(client, "src", triggered_by="me"))
    assert [type(e) for e in events] == [m.ErrorEvent]
    assert json.loads(hub.api.calls[2].request.body) == {  # type: ignore[arg-type]
        "source": "src",
        "triggered_by": "me",
    }


@pytest.mark.off_spec("the 400 body is the server's input-validation reply, kept minimal")
def test_run_adhoc_stream_rejected_run_closes_the_subscription(
    hub: Hub, client: AkribesClient
) -> None:
    hub.api.get(f"{BASE_URL}/me/sandbox", json={"project_id": SANDBOX})
    hub.api.post(
        f"{BASE_URL}/execute",
        status=400,
        json={"error": "input_validation_failed", "errors": [{"input": "n", "code": "missing"}]},
    )
    hub.reply(batch(1, execution("e9", log("hi"), script="adhoc")))
    with pytest.raises(InvalidInputsError):
        run_adhoc_stream(client, "src")
    assert [c.request.method for c in hub.api.calls] == ["GET", "GET", "POST"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": ""}, "source"),
        ({"source": "s", "inputs": [("n", 1)]}, "inputs must be a mapping"),
        ({"source": "s", "breakpoint_lines": "12"}, "breakpoint_lines"),
        ({"source": "s", "breakpoint_lines": [1, True]}, "breakpoint_lines"),
        ({"source": "s", "channel": ""}, "channel"),
        ({"source": "s", "triggered_by": 3}, "triggered_by"),
        ({"source": "s", "idle_timeout": -2}, "idle_timeout"),
    ],
)
def test_run_adhoc_stream_argument_errors_send_nothing(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        run_adhoc_stream(client, **kwargs)
    assert len(api.calls) == 0


# -- WorkflowEnd ----------------------------------------------------------------------------------


def test_workflow_end_result_current_shape() -> None:
    payload = {
        "value": {"title": "hi"},
        "total_input_tokens": 10,
        "total_output_tokens": 5,
        "total_cached_input_tokens": 1,
        "total_thinking_tokens": 2,
        "total_tool_tokens": 3,
        "total_cost_usd": 0.25,
        "task_count": 4,
    }
    assert workflow_end_result(m.WorkflowEndEvent(payload=payload)) == m.WorkflowEndSummary(
        value={"title": "hi"},
        total_input_tokens=10,
        total_output_tokens=5,
        total_cached_input_tokens=1,
        total_thinking_tokens=2,
        total_tool_tokens=3,
        total_cost_usd=0.25,
        task_count=4,
    )
    only_count = workflow_end_result(m.WorkflowEndEvent(payload={"value": None, "task_count": 1}))
    assert only_count == m.WorkflowEndSummary(value=None, task_count=1)


@pytest.mark.parametrize(
    "legacy",
    [
        "hi",
        None,
        [1, 2],
        {"exit_code": 0, "stdout": "hi"},
        {"value": "no totals beside it"},
        {"total_cost_usd": 1.0, "no": "value"},
    ],
)
def test_workflow_end_result_legacy_shape(legacy: Any) -> None:
    assert workflow_end_result(m.WorkflowEndEvent(payload=legacy)) == m.WorkflowEndSummary(
        value=legacy
    )


def test_workflow_end_result_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="takes a WorkflowEndEvent, got LogEvent"):
        workflow_end_result(m.LogEvent(payload="x"))  # type: ignore[arg-type]
    with pytest.raises(ResponseValidationError):
        workflow_end_result(m.WorkflowEndEvent(payload={"value": 1, "task_count": "many"}))


def test_is_run_end() -> None:
    assert is_run_end(m.WorkflowEndEvent(payload="x"))
    assert is_run_end(m.ErrorEvent(payload=m.ErrorPayload(message="m", kind=m.ErrorKind.PANIC)))
    assert not is_run_end(m.LogEvent(payload="x"))
    assert not is_run_end(m.UnknownEngineEvent(tag="WorkflowEnded", raw={}))
