"""`run_stream()` / `invoke_stream()` over real sockets: FakeRunAgent (the local server's
frames) and a scripted server for the frames it never sends."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from controldeck.errors import InvalidArgumentError, StreamError
from controldeck.runagent import (
    AgentNotFoundError,
    AgentNotRunningError,
    EntrypointError,
    RunAgentAuthenticationError,
    RunAgentClient,
    RunAgentError,
    RunAgentServerError,
    RunAgentStreamError,
    RunAgentTimeoutError,
)
from controldeck.testing._server import LoopbackServer, RecordedRequest, Reply, json_reply
from controldeck.testing._websocket import ServerWebSocket
from controldeck.testing.runagent import FakeRunAgent
from tests.runagent._client_support import BEARER, KEY, architecture, closed_port, structured

CONTENT_HI = [structured(f"hi-{i}") for i in range(3)]


@pytest.fixture
def fake() -> Iterator[FakeRunAgent]:
    with FakeRunAgent() as f:
        yield f


def local_client(fake: FakeRunAgent, tag: str = "echo_stream", **kwargs: Any) -> RunAgentClient:
    kwargs.setdefault("stream_idle_timeout", 2.0)
    return RunAgentClient(
        fake.agent_id, tag, local=True, host=fake.host, port=fake.port, max_retries=0, **kwargs
    )


@pytest.fixture
def client(fake: FakeRunAgent) -> Iterator[RunAgentClient]:
    with local_client(fake) as c:
        yield c


def upgrades(fake: LoopbackServer) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.path.endswith("/run-stream")]


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Poll a condition the server thread sets (short sleeps, bounded)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class TestFrames:
    def test_chunks_are_decoded_and_the_end_closes_the_socket(
        self, fake: FakeRunAgent, client: RunAgentClient
    ) -> None:
        with client.run_stream("hi", n=3) as chunks:
            assert list(chunks) == ["hi-0", "hi-1", "hi-2"]  # stream_started skipped
            assert chunks.closed
        assert fake.stream_messages == [
            '{"entrypoint_tag":"echo_stream","input_args":["hi"],"input_kwargs":{"n":3},'
            '"timeout_seconds":300,"async_execution":false}'
        ]
        (ws,) = fake.websockets
        # The server never closes after stream_completed: the client did, cleanly.
        assert wait_for(lambda: ws.close_received)
        assert ws.close_code == 1000
        (upgrade,) = upgrades(fake)
        assert upgrade.path == f"/api/v1/agents/{fake.agent_id}/run-stream"
        assert upgrade.query == {}
        assert "authorization" not in upgrade.headers
        assert upgrade.headers["user-agent"].endswith(" runagent")
        invocation = next(iter(fake.invocations.values()))
        assert invocation["status"] == "completed"

    def test_the_start_message_carries_the_client_settings(self, fake: FakeRunAgent) -> None:
        with (
            local_client(fake, user_id="u1", persistent_memory=True, run_timeout=60) as c,
            c.invoke_stream(["yo"], {"n": 2}) as chunks,
        ):
            assert list(chunks) == ["yo-0", "yo-1"]
        assert json.loads(fake.stream_messages[0]) == {
            "entrypoint_tag": "echo_stream",
            "input_args": ["yo"],
            "input_kwargs": {"n": 2},
            "timeout_seconds": 60,
            "async_execution": False,
            "user_id": "u1",
            "persistent_memory": True,
        }

    def test_every_kind_of_chunk_including_none(
        self, fake: FakeRunAgent, client: RunAgentClient
    ) -> None:
        values: list[Any] = [None, 0, "", [1, None], {"k": {"n": 1.5}}, False, None]
        fake.add_entrypoint("mixed_stream", lambda: iter(values))
        with client.copy(entrypoint_tag="mixed_stream") as mixed, mixed.run_stream() as chunks:
            assert list(chunks) == values

    def test_closing_early_closes_the_socket(
        self, fake: FakeRunAgent, client: RunAgentClient
    ) -> None:
        with client.run_stream("hi", n=1000) as chunks:
            assert next(chunks) == "hi-0"
        assert chunks.closed
        assert wait_for(lambda: fake.websockets[0].close_received)
        assert next(chunks, "done") == "done"


class TestErrors:
    def test_an_error_frame_mid_stream(self, fake: FakeRunAgent) -> None:
        with local_client(fake, "boom_stream") as c, c.run_stream() as chunks:
            assert next(chunks) == "first"
            with pytest.raises(RunAgentStreamError) as caught:
                next(chunks)
            assert chunks.closed
        err = caught.value
        assert isinstance(err, StreamError)
        assert (err.code, err.message) == ("STREAM_ERROR", "Streaming error: stream kaboom")
        assert err.details == {"type": "error", "error": "Streaming error: stream kaboom"}
        # The server leaves the socket open after a runtime error: the client closed it.
        assert wait_for(lambda: fake.websockets[0].close_received)

    def test_bad_kwargs_are_a_stream_error(
        self, fake: FakeRunAgent, client: RunAgentClient
    ) -> None:
        with client.run_stream("hi", zzz=1) as chunks, pytest.raises(RunAgentStreamError) as caught:
            list(chunks)
        assert "unexpected keyword argument 'zzz'" in caught.value.message

    def test_a_pre_start_refusal_error_frame_then_1003(
        self, fake: FakeRunAgent, client: RunAgentClient
    ) -> None:
        client.validate()  # the architecture still lists the tag...
        fake.remove_entrypoint("echo_stream")  # ...the server no longer does
        with client.run_stream("hi") as chunks, pytest.raises(RunAgentStreamError) as caught:
            next(chunks)
        assert caught.value.message == "Entrypoint echo_stream not found"
        assert caught.value.details == {
            "type": "error",
            "detail": "Entrypoint echo_stream not found",
        }

    def test_a_close_1003_before_the_end_names_the_code(
        self, fake: FakeRunAgent, client: RunAgentClient
    ) -> None:
        fake.close_after(2, 1003)  # stream_started, one data frame, then close 1003
        with client.run_stream("hi") as chunks:
            assert next(chunks) == "hi-0"
            with pytest.raises(RunAgentStreamError) as caught:
                next(chunks)
        assert "1003" in caught.value.message
        assert caught.value.details["close_code"] == 1003
        assert caught.value.code == "STREAM_ERROR"
        assert caught.value.suggestion is not None
        assert "`runagent serve`" in caught.value.suggestion

    def test_an_abrupt_drop_mid_stream(self, fake: FakeRunAgent, client: RunAgentClient) -> None:
        fake.close_after(2)  # stream_started, one data frame, then the TCP connection ends
        with client.run_stream("hi") as chunks:
            assert next(chunks) == "hi-0"
            with pytest.raises(RunAgentStreamError) as caught:
                next(chunks)
        assert caught.value.details["close_code"] == 1006

    def test_a_silent_server_hits_the_idle_timeout(self, fake: FakeRunAgent) -> None:
        fake.stall(1)  # stream_started, then nothing
        with local_client(fake, stream_idle_timeout=0.2) as c, c.run_stream("hi") as chunks:
            started = time.monotonic()
            with pytest.raises(RunAgentTimeoutError) as caught:
                next(chunks)
            assert time.monotonic() - started < 1.5
        err = caught.value
        assert err.code == "TIMEOUT"
        assert "0.2" in err.message
        assert err.suggestion is not None and "stream_idle_timeout" in err.suggestion
        assert wait_for(lambda: fake.websockets[0].close_received)  # the client hung up

    def test_invoke_stream_idle_timeout_and_a_view(self, fake: FakeRunAgent) -> None:
        fake.stall(1)
        fake.stall(1)
        with local_client(fake, stream_idle_timeout=30) as c:
            with (
                c.invoke_stream(["hi"], idle_timeout=0.2) as chunks,
                pytest.raises(RunAgentTimeoutError),
            ):
                next(chunks)
            view = c.with_options(stream_idle_timeout=0.2)
            with view.run_stream("hi") as chunks, pytest.raises(RunAgentTimeoutError):
                next(chunks)
        # One architecture fetch for the client and its view.
        assert sum(r.path.endswith("/architecture") for r in fake.requests) == 1

    def test_wrong_agent_id_is_agent_not_found(self, fake: FakeRunAgent) -> None:
        with (
            RunAgentClient("wrong", "echo_stream", local=True, host=fake.host, port=fake.port) as c,
            pytest.raises(AgentNotFoundError) as caught,
        ):
            c.run_stream("hi")
        assert caught.value.code == "AGENT_NOT_FOUND_LOCAL"
        assert upgrades(fake) == []  # the architecture said so: no socket opened

    def test_a_handshake_403_is_agent_not_found(self, fake: FakeRunAgent) -> None:
        with local_client(fake) as c:
            c.validate()
            fake.fail_next(403, b"", path=r".*/run-stream")
            with pytest.raises(AgentNotFoundError) as caught:
                c.run_stream("hi")
        assert (caught.value.code, caught.value.status_code) == ("AGENT_NOT_FOUND_LOCAL", 403)
        assert f"http://{fake.host}:{fake.port}" in caught.value.message

    @pytest.mark.parametrize(
        ("status", "error_class"),
        [(401, RunAgentAuthenticationError), (500, RunAgentServerError), (418, RunAgentError)],
    )
    def test_other_handshake_statuses(
        self, fake: FakeRunAgent, client: RunAgentClient, status: int, error_class: type
    ) -> None:
        client.validate()
        fake.fail_next(status, {"detail": "nope"}, path=r".*/run-stream")
        with pytest.raises(error_class) as caught:
            client.run_stream("hi")
        assert caught.value.status_code == status

    def test_a_stale_registry_row_is_agent_not_running(
        self, fake: FakeRunAgent, tmp_path: Path
    ) -> None:
        registry = fake.register(tmp_path, agent_path="/srv/agents/echo")
        port = fake.port
        with RunAgentClient(
            fake.agent_id, "echo_stream", local=True, registry_path=registry, max_retries=0
        ) as c:
            c.validate()
            fake.stop()  # the row still says `serving`
            with pytest.raises(AgentNotRunningError) as caught:
                c.run_stream("hi")
        err = caught.value
        assert err.message == (
            f"agent {fake.agent_id} is not running at http://{fake.host}:{port} "
            "(the local registry still lists it as 'serving')"
        )
        assert err.suggestion == (
            "Start it with `runagent serve /srv/agents/echo`, or pass host= and port=."
        )
        assert err.cause is not None

    def test_nothing_listening_at_a_given_address(self) -> None:
        with (
            RunAgentClient("a1", "echo_stream", local=True, host="127.0.0.1", port=closed_port(),
                           max_retries=0) as c,
            pytest.raises(AgentNotRunningError),
        ):  # fmt: skip
            c.run_stream()


class TestGuardrail:
    def test_a_non_stream_tag_sends_nothing(self, fake: FakeRunAgent) -> None:
        with local_client(fake, "echo") as c:
            for call in (lambda: c.run_stream("hi"), lambda: c.invoke_stream(["hi"])):
                with pytest.raises(EntrypointError) as caught:
                    call()
                err = caught.value
                assert err.code == "NON_STREAM_ENTRYPOINT"
                assert err.message == "Entrypoint `echo` is not streaming. Use run() instead."
                assert err.suggestion == "Call run() or deploy a `_stream` entrypoint."
        assert fake.requests == []

    def test_an_unknown_tag_opens_no_socket(self, fake: FakeRunAgent) -> None:
        with local_client(fake, "nope_stream") as c, pytest.raises(EntrypointError) as caught:
            c.run_stream()
        assert "echo_stream" in caught.value.message
        assert upgrades(fake) == []

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"input_args": "hi"}, "input_args"),
            ({"input_kwargs": {"x": object()}}, "JSON"),
            ({"idle_timeout": 0}, "idle_timeout"),
            ({"timeout": "5"}, "timeout"),
            ({"extra_headers": {"X": "a\r\nb"}}, "line break"),
            ({"nope": 1}, "unexpected keyword arguments: nope"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self, fake: FakeRunAgent, client: RunAgentClient, kwargs: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            client.invoke_stream(**kwargs)
        assert fake.requests == []


class TestArchitectureOnce:
    def test_eight_threads_share_one_fetch(self, fake: FakeRunAgent) -> None:
        results: list[list[Any]] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)
        with local_client(fake) as c:

            def worker(i: int) -> None:
                barrier.wait()
                try:
                    with c.run_stream(f"t{i}", n=2) as chunks:
                        results.append(list(chunks))
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not errors
        assert sorted(results) == sorted([[f"t{i}-0", f"t{i}-1"] for i in range(8)])
        assert sum(r.path.endswith("/architecture") for r in fake.requests) == 1
        assert len(upgrades(fake)) == 8


class TestCloud:
    def test_token_in_the_query_and_bearer_never_logged(
        self, fake: FakeRunAgent, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="controldeck")
        base = f"http://{fake.host}:{fake.port}"
        with RunAgentClient(fake.agent_id, "echo_stream", api_key=KEY, base_url=base) as c:
            with c.run_stream("hi", n=2) as chunks:
                assert list(chunks) == ["hi-0", "hi-1"]
            fake.close_after(2, 1011)  # the second stream dies: its error must not show the key
            with c.run_stream("hi") as chunks, pytest.raises(RunAgentStreamError) as caught:
                list(chunks)
        first = upgrades(fake)[0]
        # parse_qsl would turn an unencoded '+' into a space: the key arrived intact.
        assert first.query == {"token": KEY}
        assert first.headers["authorization"] == BEARER
        arch = next(r for r in fake.requests if r.path.endswith("/architecture"))
        assert arch.headers["authorization"] == BEARER
        assert caught.value.suggestion is not None
        assert "dashboard" in caught.value.suggestion
        assert caplog.records  # debug logging was on
        for text in (caplog.text, str(caught.value), repr(caught.value), repr(c)):
            assert KEY not in text
            assert "ra-test%2Fkey" not in text


LOGGED_SCRIPT = """
import sys
from controldeck.runagent import RunAgentClient, RunAgentStreamError
from controldeck.testing.runagent import FakeRunAgent

key = sys.argv[1]
with FakeRunAgent() as fake:
    base = f"http://{fake.host}:{fake.port}"
    with RunAgentClient(fake.agent_id, "echo_stream", api_key=key, base_url=base) as c:
        with c.run_stream("hi", n=2) as chunks:
            print(list(chunks))
        fake.close_after(1, 1011)
        try:
            with c.run_stream("hi") as chunks:
                list(chunks)
        except RunAgentStreamError as exc:
            print(repr(exc))
    with c.copy(entrypoint_tag="echo") as rest:
        print(rest.run("x"))
"""


def test_controldeck_log_debug_never_shows_the_key() -> None:
    env = {**os.environ, "CONTROLDECK_LOG": "debug"}
    done = subprocess.run(
        [sys.executable, "-c", LOGGED_SCRIPT, KEY],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "['hi-0', 'hi-1']" in done.stdout
    assert "code 1011" in done.stdout
    assert "{'echo': 'x', 'times': 1}" in done.stdout
    assert "controldeck DEBUG" in done.stderr
    assert "/run-stream" in done.stderr  # the stream's open was logged, without its query
    for text in (done.stdout, done.stderr):
        assert KEY not in text
        assert quote(KEY, safe="") not in text


# -- frames FakeRunAgent never sends: a scripted server ---------------------------------


class Scripted(LoopbackServer):
    """An agent whose run-stream sends `frames` (text) after reading the start message,
    then waits for the client to close."""

    def __init__(self, frames: list[str]) -> None:
        super().__init__()
        self.frames = frames
        self.add_route("GET", "/api/v1/agents/{id}/architecture", self._architecture)
        self.add_websocket_route("/api/v1/agents/{id}/run-stream", self._stream)

    def _architecture(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        return json_reply(200, architecture("x_stream", agent_id=params["id"]))

    def _stream(
        self, ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]
    ) -> None:
        ws.accept()
        ws.recv()
        for frame in self.frames:
            ws.send_text(frame)
        ws.wait_closed(5)


def scripted(*frames: Any) -> list[Any]:
    """Stream from a Scripted server; the chunks, or the error raised."""
    texts = [f if isinstance(f, str) else json.dumps(f) for f in frames]
    with (
        Scripted(texts) as server,
        RunAgentClient(
            "a1", "x_stream", local=True, host="127.0.0.1", port=server.port, stream_idle_timeout=2
        ) as c,
        c.run_stream() as chunks,
    ):
        out: list[Any] = []
        try:
            for chunk in chunks:
                out.append(chunk)
        except RunAgentError as exc:
            out.append(exc)
        assert chunks.closed
        return out


STARTED = {"type": "status", "status": "stream_started", "invocation_id": "i1"}
DONE = {"type": "status", "status": "stream_completed", "total_chunks": 1}


class TestScriptedFrames:
    def test_progress_statuses_and_unknown_types_are_skipped(self) -> None:
        frames = [
            STARTED,
            {"type": "status", "status": "stream_progress"},
            {"type": "status", "status": "stream_update"},
            {"type": "heartbeat"},
            {"type": "data", "content": structured(1)},
            DONE,
        ]
        assert scripted(*frames) == [1]

    def test_a_data_frame_without_content_is_yielded_whole(self) -> None:
        frame = {"type": "data", "delta": "x"}
        assert scripted(STARTED, frame, DONE) == [frame]

    def test_legacy_and_raw_content(self) -> None:
        frames = [
            {"type": "data", "content": "plain text"},
            {"type": "data", "content": json.dumps({"strategy": "direct", "content": [1, 2]})},
            {"type": "data", "content": None},
            DONE,
        ]
        assert scripted(*frames) == ["plain text", [1, 2], None]

    @pytest.mark.parametrize(
        ("status", "code"),
        [("stream_error", "STREAM_ERROR"), ("stream_failed", "STREAM_ERROR"),
         ("stream_interrupted", "STREAM_ERROR"), ("stream_retry", "STREAM_RETRY")],
    )  # fmt: skip
    def test_failing_statuses(self, status: str, code: str) -> None:
        frame = {"type": "status", "status": status, "error": "cloud said no"}
        *chunks, err = scripted(STARTED, {"type": "data", "content": structured("a")}, frame)
        assert chunks == ["a"]
        assert isinstance(err, RunAgentStreamError)
        assert (err.code, err.message) == (code, "cloud said no")

    @pytest.mark.parametrize(
        ("text", "match"),
        [("{not json", "not JSON: {not json"), ('["a"]', "not a JSON object")],
    )
    def test_an_unparsable_frame(self, text: str, match: str) -> None:
        (err,) = scripted(text)
        assert isinstance(err, RunAgentStreamError)
        assert match in err.message
        assert err.details == {"frame": text}

    def test_an_error_frame_with_a_code(self) -> None:
        (err,) = scripted({"type": "error", "error": "[PERMISSION_ERROR] no access"})
        assert isinstance(err, RunAgentStreamError)
        assert (err.code, err.message) == ("PERMISSION_ERROR", "no access")
