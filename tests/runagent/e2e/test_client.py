"""`RunAgentClient` against the REAL local server (`runagent serve` 0.1.49).

One server for the session (conftest.py); every test makes its own clients with short
timeouts and no retries, so a broken server fails fast instead of hanging. What the server
did is checked on the server's side where it matters: its invocation history (what reached
the agent, and that a refused call never did) and its log (WebSocket accepted / closed).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from controldeck.runagent import (
    AgentNotFoundError,
    EntrypointError,
    RunAgentClient,
    RunAgentExecutionError,
    RunAgentNotFoundError,
    RunAgentStreamError,
)
from tests.runagent.e2e._harness import AGENT_ID, TAGS, LocalServer, wait_ws_closed, ws_log

MakeClient = Callable[..., RunAgentClient]


@pytest.fixture
def make_client(runagent_server: LocalServer) -> Iterator[MakeClient]:
    """`make_client(tag, agent_id=AGENT_ID, **kw)`: a local client at the server's address."""
    clients: list[RunAgentClient] = []

    def make(tag: str, agent_id: str = AGENT_ID, **kwargs: Any) -> RunAgentClient:
        kwargs.setdefault("timeout", (2, 10))
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("run_timeout", 20)
        kwargs.setdefault("stream_idle_timeout", 10)
        client = RunAgentClient(
            agent_id, tag, local=True, host="127.0.0.1", port=runagent_server.port, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --------------------------------------------------------------------------- server-side views


def raw_get(server: LocalServer, path: str, **params: Any) -> Any:
    """A GET on the server with plain requests (the server's own view, no SDK)."""
    reply = requests.get(f"{server.api}{path}", params=params, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def total_invocations(server: LocalServer) -> int:
    """How many runs and streams the server has recorded."""
    stats = raw_get(server, f"/agents/{AGENT_ID}/invocations/stats")["stats"]
    return int(stats["total_invocations"])


def find_invocation(server: LocalServer, marker: str) -> dict[str, Any]:
    """The invocation (raw) whose `message` kwarg or first positional argument is `marker`."""
    for item in raw_get(server, f"/agents/{AGENT_ID}/invocations", limit=500)["invocations"]:
        data = item["input_data"] or {}
        args, kwargs = data.get("input_args") or [], data.get("input_kwargs") or {}
        if kwargs.get("message") == marker or (args and args[0] == marker):
            return dict(item)
    pytest.fail(f"no invocation with {marker!r}")


def marker() -> str:
    """A value no other test sends."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- run


def test_run_returns_an_object(make_client: MakeClient, runagent_server: LocalServer) -> None:
    message = marker()
    assert make_client("echo").run(message=message, times=2) == {"echo": message, "times": 2}
    # What reached the agent: every kwarg, no positional argument.
    invocation = find_invocation(runagent_server, message)
    assert invocation["input_data"] == {
        "input_args": [],
        "input_kwargs": {"message": message, "times": 2},
    }
    assert (invocation["entrypoint_tag"], invocation["status"]) == ("echo", "completed")


def test_run_with_positional_ints(make_client: MakeClient) -> None:
    client = make_client("add")
    assert client.run(2, 3) == 5
    assert client.run(-7, 10**12) == 10**12 - 7


def test_run_with_none(make_client: MakeClient) -> None:
    client = make_client("echo")
    assert client.run(None) == {"echo": None, "times": 1}  # null inside an object
    assert client.run(None, raw=True) is None  # {"type": "null", ...}: the value itself
    assert client.run("text", raw=True) == "text"
    assert client.run([1, "two", {"three": 3.5}], raw=True) == [1, "two", {"three": 3.5}]


def test_invoke_passes_args_and_kwargs(make_client: MakeClient) -> None:
    client = make_client("echo")
    assert client.invoke(("hey",), {"times": 4}) == {"echo": "hey", "times": 4}


def test_agent_exception_is_an_execution_error(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    before = raw_get(runagent_server, f"/agents/{AGENT_ID}/invocations/stats")["stats"]
    with pytest.raises(RunAgentExecutionError) as caught:
        make_client("boom").run()
    assert caught.value.code == "INTERNAL_ERROR"
    assert "kaboom" in caught.value.message
    assert "kaboom" in str(caught.value)
    after = raw_get(runagent_server, f"/agents/{AGENT_ID}/invocations/stats")["stats"]
    assert after["failed_invocations"] == before["failed_invocations"] + 1


# --------------------------------------------------------------------------- run_stream


def test_run_stream_yields_chunks_in_order_and_closes_the_socket(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    client = make_client("echo_stream")
    client.validate()  # the architecture over HTTP first: only the stream below is a WebSocket
    before = ws_log(runagent_server)
    with client.run_stream("hi", n=3) as chunks:
        assert list(chunks) == ["hi-0", "hi-1", "hi-2"]
        assert chunks.closed
    wait_ws_closed(runagent_server, before, 1)


def test_two_streams_on_one_client(make_client: MakeClient, runagent_server: LocalServer) -> None:
    client = make_client("echo_stream")
    before = ws_log(runagent_server)
    with client.run_stream("a", n=2) as first:
        assert list(first) == ["a-0", "a-1"]
    second = client.run_stream(message="b", n=4)  # no `with`: the end still closes it
    assert list(second) == ["b-0", "b-1", "b-2", "b-3"]
    assert second.closed
    wait_ws_closed(runagent_server, before, 2)


def test_closing_a_stream_early_closes_the_socket(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    client = make_client("echo_stream")
    client.validate()
    before = ws_log(runagent_server)
    with client.run_stream("many", n=500) as chunks:
        assert next(chunks) == "many-0"
        assert next(chunks) == "many-1"
    assert chunks.closed
    wait_ws_closed(runagent_server, before, 1)


def test_stream_runtime_error(make_client: MakeClient, runagent_server: LocalServer) -> None:
    client = make_client("boom_stream")
    client.validate()
    before = ws_log(runagent_server)
    received: list[Any] = []
    with pytest.raises(RunAgentStreamError) as caught, client.run_stream() as chunks:
        received.extend(chunks)
    assert received == ["first"]
    assert "Streaming error: stream kaboom" in caught.value.message
    assert caught.value.code == "STREAM_ERROR"
    assert chunks.closed
    wait_ws_closed(runagent_server, before, 1)


def test_stream_with_every_run_option(make_client: MakeClient) -> None:
    client = make_client("echo_stream", user_id="user-1", persistent_memory=True)
    with client.run_stream("opt", n=2) as chunks:
        assert list(chunks) == ["opt-0", "opt-1"]


# --------------------------------------------------------------------------- health, info, tags


def test_health(make_client: MakeClient) -> None:
    client = make_client("echo")
    assert client.health_check() is True
    health = client.get_health()
    assert health.status == "healthy"
    assert health.agent_id == AGENT_ID


def test_agent_info(make_client: MakeClient, runagent_server: LocalServer) -> None:
    info = make_client("echo").get_agent_info()
    assert AGENT_ID in info.message
    assert (info.host, info.port) == ("127.0.0.1", runagent_server.port)
    assert info.to_dict()["config"]["agent_id"] == AGENT_ID


def test_agent_architecture(make_client: MakeClient) -> None:
    client = make_client("echo")
    architecture = client.get_agent_architecture()
    assert architecture.agent_id == AGENT_ID
    assert tuple(e.tag for e in architecture.entrypoints) == TAGS
    first = architecture.entrypoints[0]
    assert (first.file, first.module) == ("agent.py", "echo")
    assert client.validate().to_dict() == architecture.to_dict()


# --------------------------------------------------------------------------- invocations


def test_list_invocations_limit_and_order(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    client = make_client("echo")
    client.run(marker())
    client.run(marker())
    two = client.list_invocations(limit=2)
    assert two.agent_id == AGENT_ID
    assert len(two.invocations) == 2
    assert two.total_count == 2
    # Newest first, exactly as the server ordered them.
    listed = client.list_invocations(limit=50)
    raw = raw_get(runagent_server, f"/agents/{AGENT_ID}/invocations", limit=50)["invocations"]
    assert [i.invocation_id for i in listed.invocations] == [i["invocation_id"] for i in raw]
    stamps = [i["request_timestamp"] for i in raw]
    assert stamps == sorted(stamps, reverse=True)
    assert [i.invocation_id for i in two.invocations] == [i["invocation_id"] for i in raw[:2]]


def test_list_invocations_status_filter(make_client: MakeClient) -> None:
    client = make_client("echo")
    with pytest.raises(RunAgentExecutionError):
        make_client("boom").run(x=marker())
    client.run(marker())
    failed = client.list_invocations(status="failed")
    assert failed.invocations
    assert {i.status for i in failed.invocations} == {"failed"}
    assert any(i.entrypoint_tag == "boom" for i in failed.invocations)
    completed = client.list_invocations(status="completed", limit=5)
    assert 0 < len(completed.invocations) <= 5
    assert {i.status for i in completed.invocations} == {"completed"}


def test_invocation_stats_count_a_new_run(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    client = make_client("echo")
    before = client.invocation_stats()
    assert before.agent_id == AGENT_ID
    raw = raw_get(runagent_server, f"/agents/{AGENT_ID}/invocations/stats")["stats"]
    assert before.stats.total_invocations == raw["total_invocations"]
    client.run(marker())
    after = client.invocation_stats().stats
    assert after.total_invocations == before.stats.total_invocations + 1
    assert after.completed_invocations == before.stats.completed_invocations + 1
    assert after.total_invocations == (
        after.completed_invocations + after.failed_invocations + after.pending_invocations
    )


def test_get_invocation(make_client: MakeClient, runagent_server: LocalServer) -> None:
    client = make_client("echo")
    message = marker()
    client.run(message, times=5)
    wanted = find_invocation(runagent_server, message)["invocation_id"]
    assert wanted in [i.invocation_id for i in client.list_invocations(limit=500).invocations]
    invocation = client.get_invocation(wanted)
    assert invocation.invocation_id == wanted
    assert invocation.agent_id == AGENT_ID
    assert invocation.status == "completed"
    assert invocation.output_data == {"echo": message, "times": 5}
    assert invocation.input_data == {"input_args": [message], "input_kwargs": {"times": 5}}


def test_get_unknown_invocation(make_client: MakeClient) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(RunAgentNotFoundError) as caught:
        make_client("echo").get_invocation(unknown)
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.status_code == 404
    assert unknown in caught.value.message


# --------------------------------------------------------------------------- refused before sending


def test_run_on_a_stream_tag_is_refused_before_any_request(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    before = (total_invocations(runagent_server), ws_log(runagent_server))
    with pytest.raises(EntrypointError) as caught:
        make_client("echo_stream").run("hi")
    assert caught.value.code == "STREAM_ENTRYPOINT"
    assert (
        caught.value.message == "Entrypoint `echo_stream` is streaming. Use run_stream() instead."
    )
    assert caught.value.suggestion == "Call run_stream() or switch to a non-stream tag."
    assert (total_invocations(runagent_server), ws_log(runagent_server)) == before


def test_run_stream_on_a_plain_tag_is_refused_before_any_request(
    make_client: MakeClient, runagent_server: LocalServer
) -> None:
    before = (total_invocations(runagent_server), ws_log(runagent_server))
    with pytest.raises(EntrypointError) as caught:
        make_client("echo").run_stream("hi")
    assert caught.value.code == "NON_STREAM_ENTRYPOINT"
    assert caught.value.message == "Entrypoint `echo` is not streaming. Use run() instead."
    assert caught.value.suggestion == "Call run() or deploy a `_stream` entrypoint."
    assert (total_invocations(runagent_server), ws_log(runagent_server)) == before


def test_guardrails_do_not_even_connect(stopped_server: LocalServer) -> None:
    """Against a closed port the guardrails still answer: nothing was sent (not even the
    architecture fetch), else the error would be AgentNotRunningError."""
    for tag, call in (("echo_stream", "run"), ("echo", "run_stream")):
        with (
            RunAgentClient(
                AGENT_ID, tag, local=True, host="127.0.0.1", port=stopped_server.port, max_retries=0
            ) as client,
            pytest.raises(EntrypointError),
        ):
            getattr(client, call)()


@pytest.mark.parametrize(("tag", "call"), [("nope", "run"), ("nope_stream", "run_stream")])
def test_unknown_tag_lists_the_real_tags(
    make_client: MakeClient, runagent_server: LocalServer, tag: str, call: str
) -> None:
    before = (total_invocations(runagent_server), ws_log(runagent_server))
    with pytest.raises(EntrypointError) as caught:
        getattr(make_client(tag), call)("hi")
    text = str(caught.value)
    assert tag in text
    for real in TAGS:
        assert real in text
    assert (total_invocations(runagent_server), ws_log(runagent_server)) == before


def test_wrong_agent_id(make_client: MakeClient, runagent_server: LocalServer) -> None:
    wrong = str(uuid.uuid4())
    before = ws_log(runagent_server)
    calls: list[Callable[[], Any]] = [
        make_client("echo", agent_id=wrong).run,
        make_client("echo", agent_id=wrong).get_agent_architecture,
        make_client("echo_stream", agent_id=wrong).run_stream,
    ]
    for call in calls:
        with pytest.raises(AgentNotFoundError) as caught:
            call()
        assert caught.value.code == "AGENT_NOT_FOUND_LOCAL"
        assert wrong in str(caught.value)
    assert ws_log(runagent_server) == before


def test_wrong_agent_websocket_handshake_is_refused(runagent_server: LocalServer) -> None:
    """The run-stream handshake for an unknown agent id is refused with HTTP 403, which the
    core WebSocket source reports as a status error (the client maps it to
    AgentNotFoundError; through the client the architecture fetch refuses the id first)."""
    from controldeck._core._websocket import websocket_stream
    from controldeck.errors import PermissionDeniedError

    url = f"ws://127.0.0.1:{runagent_server.port}/api/v1/agents/{uuid.uuid4()}/run-stream"
    start = {"entrypoint_tag": "echo_stream", "input_args": [], "input_kwargs": {}}
    with pytest.raises(PermissionDeniedError) as caught:
        websocket_stream(url, str, send=json.dumps(start), connect_timeout=5, idle_timeout=5)
    assert caught.value.status_code == 403
