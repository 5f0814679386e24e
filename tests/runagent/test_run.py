"""`RunAgentClient.run()` / `invoke()`: the exact request, decoding, the architecture check,
guardrails and every way a run fails."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from controldeck.errors import APIConnectionError, InvalidArgumentError, ResponseValidationError
from controldeck.runagent import (
    AgentNotFoundError,
    AgentNotRunningError,
    ArchitectureMissingError,
    EntrypointError,
    RunAgentClient,
    RunAgentConnectionError,
    RunAgentExecutionError,
    RunAgentServerError,
    RunAgentTimeoutError,
    RunAgentValidationError,
)
from tests._conformance import ConformanceMock
from tests.runagent._client_support import (
    AGENT,
    ARCH_PATH,
    BEARER,
    CLOUD_ROOT,
    HOST,
    KEY,
    LOCAL_ROOT,
    NOT_FOUND_DETAIL,
    REQUEST_ID,
    RUN_PATH,
    architecture,
    closed_port,
    failure,
    make_registry,
    run_ok,
    structured,
)

ECHO_TAGS = ("echo", "echo_stream", "boom")


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    """A started mock checking every request and canned reply against openapi/runagent.yaml."""
    return conformance("runagent")


@pytest.fixture
def local() -> Iterator[RunAgentClient]:
    with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450, max_retries=0) as c:
        yield c


def serve_architecture(api: responses.RequestsMock, root: str = LOCAL_ROOT) -> None:
    api.get(root + ARCH_PATH, json=architecture(*ECHO_TAGS))


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)


class TestRequest:
    def test_local_run_sends_the_canonical_body_and_decodes_the_value(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok({"echo": "hi", "times": 2}))
        assert local.run(message="hi", times=2) == {"echo": "hi", "times": 2}
        arch, run = api.calls
        assert (arch.request.method, arch.request.url) == ("GET", LOCAL_ROOT + ARCH_PATH)
        assert (run.request.method, run.request.url) == ("POST", LOCAL_ROOT + RUN_PATH)
        assert run.request.body == (
            b'{"entrypoint_tag":"echo","input_args":[],"input_kwargs":{"message":"hi",'
            b'"times":2},"timeout_seconds":300,"async_execution":false}'
        )
        for call in api.calls:
            assert "Authorization" not in call.request.headers
            assert call.request.headers["User-Agent"].endswith(" runagent")
        assert run.request.headers["Content-Type"] == "application/json"

    def test_positional_arguments_and_every_decoded_shape(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        values = [5, "hello bob", None, [1, "a"], 2.5, True, {"echo": None, "times": 1}]
        for value in values:
            api.post(LOCAL_ROOT + RUN_PATH, json=run_ok(value))
        assert [local.run(2, 3) for _ in values] == values
        assert sent_json(api.calls[1])["input_args"] == [2, 3]
        assert sent_json(api.calls[1])["input_kwargs"] == {}

    def test_user_id_and_persistent_memory_are_sent_extra_params_never(
        self, api: ConformanceMock
    ) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok("hello bob"))
        with RunAgentClient(
            AGENT,
            "echo",
            local=True,
            host=HOST,
            port=8450,
            user_id="u1",
            persistent_memory=True,
            extra_params={"trace": "x"},
            run_timeout=30,
        ) as client:
            assert client.run(name="bob") == "hello bob"
        body = api.calls[1].request.body
        assert body == (
            b'{"entrypoint_tag":"echo","input_args":[],"input_kwargs":{"name":"bob"},'
            b'"timeout_seconds":30,"async_execution":false,"user_id":"u1",'
            b'"persistent_memory":true}'
        )
        assert b"trace" not in body
        # run_timeout also sets the read timeout: the agent's 30 s plus 10.
        assert api.calls[1].request.req_kwargs["timeout"] == (5.0, 40.0)
        assert api.calls[0].request.req_kwargs["timeout"] == (5.0, 60.0)

    def test_cloud_run_carries_the_bearer_key(self, api: ConformanceMock) -> None:
        serve_architecture(api, CLOUD_ROOT)
        api.post(CLOUD_ROOT + RUN_PATH, json=run_ok(5))
        with RunAgentClient(AGENT, "echo", api_key=KEY) as client:
            assert client.run(2, 3) == 5
        assert [c.request.url for c in api.calls] == [CLOUD_ROOT + ARCH_PATH, CLOUD_ROOT + RUN_PATH]
        assert all(c.request.headers["Authorization"] == BEARER for c in api.calls)

    def test_a_local_client_never_sends_a_configured_key(
        self, api: ConformanceMock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RUNAGENT_API_KEY", "env-key-123")
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok(1))
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450, api_key=KEY) as c:
            c.run()
            assert not c.api_key_set
        assert all("Authorization" not in call.request.headers for call in api.calls)

    def test_invoke_takes_arguments_and_per_call_options(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok({"echo": "hi", "n": 2}))
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok(None))
        result = local.invoke(("hi",), {"n": 2}, timeout=(1.5, 7), extra_headers={"X-Trace": "t-1"})
        assert result == {"echo": "hi", "n": 2}
        assert local.invoke() is None
        run, bare = api.calls[1], api.calls[2]
        assert run.request.req_kwargs["timeout"] == (1.5, 7)
        assert run.request.headers["X-Trace"] == "t-1"
        assert sent_json(run)["input_args"] == ["hi"]
        assert sent_json(run)["input_kwargs"] == {"n": 2}
        assert bare.request.req_kwargs["timeout"] == (5.0, 310.0)
        assert (sent_json(bare)["input_args"], sent_json(bare)["input_kwargs"]) == ([], {})
        # The implicit architecture fetch got the call's headers, not its timeout.
        assert api.calls[0].request.headers["X-Trace"] == "t-1"
        assert api.calls[0].request.req_kwargs["timeout"] == (5.0, 60.0)

    def test_an_agent_kwarg_named_like_an_option_goes_to_the_agent(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok(1))
        local.run(timeout=3, max_retries=9)
        assert sent_json(api.calls[1])["input_kwargs"] == {"timeout": 3, "max_retries": 9}
        assert api.calls[1].request.req_kwargs["timeout"] == (5.0, 310.0)


class TestArchitectureCheck:
    def test_fetched_once_for_many_runs(self, api: ConformanceMock, local: RunAgentClient) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok(1))
        for _ in range(3):
            local.run()
        assert [c.request.method for c in api.calls] == ["GET", "POST", "POST", "POST"]

    def test_fetched_once_across_eight_threads(self, api: ConformanceMock) -> None:
        fetches = 0
        lock = threading.Lock()

        def slow_architecture(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            nonlocal fetches
            with lock:
                fetches += 1
            time.sleep(0.05)  # every thread reaches the lock while the first one fetches
            return 200, {"Content-Type": "application/json"}, json.dumps(architecture("echo"))

        api.add_callback("GET", LOCAL_ROOT + ARCH_PATH, callback=slow_architecture)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok("ok"))
        results: list[Any] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450) as client:

            def worker() -> None:
                barrier.wait()
                try:
                    results.append(client.run())
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=worker) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not errors
        assert results == ["ok"] * 8
        assert fetches == 1
        assert sum(c.request.method == "POST" for c in api.calls) == 8

    def test_unknown_tag_lists_the_servers_tags_and_sends_no_run(
        self, api: ConformanceMock
    ) -> None:
        serve_architecture(api)
        with RunAgentClient(AGENT, "nope", local=True, host=HOST, port=8450) as client:
            for _ in range(2):  # the second call uses the cached architecture
                with pytest.raises(EntrypointError) as caught:
                    client.run()
        err = caught.value
        assert err.code == "VALIDATION_ERROR"
        assert err.message == (
            f"Entrypoint `nope` not found in agent {AGENT}; its entrypoints are: "
            "echo, echo_stream, boom"
        )
        assert err.details == {"entrypoint_tag": "nope", "available_tags": list(ECHO_TAGS)}
        assert err.suggestion and "entrypoint_tag" in err.suggestion
        assert [c.request.method for c in api.calls] == ["GET"]

    def test_a_failed_fetch_is_not_cached(self, api: ConformanceMock) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, status=500, json=failure("INTERNAL_ERROR", "db down"))
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok(7))
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450, max_retries=0) as c:
            with pytest.raises(RunAgentServerError) as caught:
                c.run()
            assert caught.value.code == "INTERNAL_ERROR"
            assert c.run() == 7  # fetched again, then run
        assert [c.request.method for c in api.calls] == ["GET", "GET", "POST"]

    def test_architecture_without_data_is_architecture_missing(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json={**architecture(), "data": None})
        with pytest.raises(ArchitectureMissingError) as caught:
            local.run()
        assert caught.value.code == "ARCHITECTURE_MISSING"
        assert caught.value.suggestion == "Redeploy the agent or ensure entrypoints are configured."
        assert len(api.calls) == 1

    def test_wrong_agent_id_is_agent_not_found(self, api: ConformanceMock) -> None:
        # The local server registers its routes with its own id: any other id is a 404.
        api.get(LOCAL_ROOT + "/agents/wrong/architecture", status=404, json=NOT_FOUND_DETAIL)
        with (
            RunAgentClient("wrong", "echo", local=True, host=HOST, port=8450) as client,
            pytest.raises(AgentNotFoundError) as caught,
        ):
            client.run()
        assert caught.value.code == "AGENT_NOT_FOUND_LOCAL"
        assert caught.value.status_code == 404
        assert len(api.calls) == 1


class TestGuardrail:
    def test_run_on_a_stream_tag_sends_nothing(self, api: ConformanceMock) -> None:
        with RunAgentClient(AGENT, "echo_stream", local=True, host=HOST, port=8450) as client:
            with pytest.raises(EntrypointError) as caught:
                client.run("hi")
            with pytest.raises(EntrypointError):
                client.invoke(["hi"])
        err = caught.value
        assert err.code == "STREAM_ENTRYPOINT"
        assert err.message == "Entrypoint `echo_stream` is streaming. Use run_stream() instead."
        assert err.suggestion == "Call run_stream() or switch to a non-stream tag."
        assert len(api.calls) == 0

    @pytest.mark.parametrize(
        ("args", "kwargs", "options", "match"),
        [
            ("hi", None, {}, "input_args"),
            ((), ["x"], {}, "input_kwargs"),
            ((object(),), None, {}, "JSON"),
            ((), {"when": {1, 2}}, {}, "JSON"),
            ((), None, {"timeout": None}, "timeout"),
            ((), None, {"retries": 3}, "unexpected keyword arguments: retries"),
            ((), None, {"extra_headers": {"X": 1}}, "header 'X'"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        local: RunAgentClient,
        args: Any,
        kwargs: Any,
        options: dict[str, Any],
        match: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            local.invoke(args, kwargs, **options)
        assert len(api.calls) == 0


class TestFailures:
    def test_agent_failure_is_an_execution_error(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        message = f"Agent execution failed: Server error running agent {AGENT}: kaboom"
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, json=failure("INTERNAL_ERROR", message))
        with pytest.raises(RunAgentExecutionError) as caught:
            local.run()
        err = caught.value
        assert (err.code, err.message) == ("INTERNAL_ERROR", message)
        assert err.status_code == 200
        assert err.request_id == REQUEST_ID
        assert str(err).startswith(f"[INTERNAL_ERROR] {message}")

    def test_unknown_entrypoint_on_the_server_is_an_entrypoint_error(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        api.post(
            LOCAL_ROOT + RUN_PATH,
            status=404,
            json=failure("NOT_FOUND", "Entrypoint echo not found"),
        )
        with pytest.raises(EntrypointError) as caught:
            local.run()
        assert (caught.value.code, caught.value.status_code) == ("NOT_FOUND", 404)

    def test_run_404_without_envelope_is_agent_not_found(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, status=404, json=NOT_FOUND_DETAIL)
        with pytest.raises(AgentNotFoundError) as caught:
            local.run()
        assert caught.value.code == "AGENT_NOT_FOUND_LOCAL"

    def test_cloud_404_is_agent_not_found_remote(self, api: ConformanceMock) -> None:
        api.get(CLOUD_ROOT + ARCH_PATH, status=404, json=NOT_FOUND_DETAIL)
        with (
            RunAgentClient(AGENT, "echo", api_key=KEY) as client,
            pytest.raises(AgentNotFoundError) as caught,
        ):
            client.run()
        assert caught.value.code == "AGENT_NOT_FOUND_REMOTE"
        assert not caught.value.local

    def test_a_422_is_a_validation_error(self, api: ConformanceMock, local: RunAgentClient) -> None:
        serve_architecture(api)
        detail = [{"type": "missing", "loc": ["body", "entrypoint_tag"], "msg": "Field required"}]
        api.post(LOCAL_ROOT + RUN_PATH, status=422, json={"detail": detail})
        with pytest.raises(RunAgentValidationError) as caught:
            local.run()
        assert caught.value.status_code == 422

    def test_a_server_error_is_not_retried(self, api: ConformanceMock) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, status=503, json=failure("INTERNAL_ERROR", "busy"))
        with (
            RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450, max_retries=3) as c,
            pytest.raises(RunAgentServerError),
        ):
            c.run()
        assert [c.request.method for c in api.calls] == ["GET", "POST"]

    def test_a_read_timeout_is_not_retried(self, api: ConformanceMock) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, body=requests.exceptions.ReadTimeout("read timed out"))
        with (
            RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450, max_retries=3) as c,
            pytest.raises(RunAgentTimeoutError) as caught,
        ):
            c.run()
        assert isinstance(caught.value, APIConnectionError)
        assert "read timeout" in str(caught.value)
        assert caught.value.cause is not None
        assert caught.value.__suppress_context__
        assert [c.request.method for c in api.calls] == ["GET", "POST"]

    @pytest.mark.off_spec("a proxy's HTML page and a JSON array instead of the envelope")
    def test_a_reply_that_is_not_an_envelope_is_a_controldeck_error(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        serve_architecture(api)
        api.post(LOCAL_ROOT + RUN_PATH, body="<html>proxy</html>", content_type="text/html")
        api.post(LOCAL_ROOT + RUN_PATH, json=[1, 2])
        with pytest.raises(ResponseValidationError, match="expected a JSON reply, got text/html"):
            local.run()
        with pytest.raises(ResponseValidationError, match="not a JSON object"):
            local.run()


class TestNotRunning:
    def test_a_stale_registry_row_is_agent_not_running(self, tmp_path: Path) -> None:
        port = closed_port()
        registry = make_registry(
            tmp_path / "runagent_local.db", port=port, agent_path="/srv/agents/echo"
        )
        with RunAgentClient(
            AGENT, "echo", local=True, registry_path=registry, max_retries=0
        ) as client:
            assert (client.host, client.port) == (HOST, port)
            assert client.registry_entry is not None
            assert client.registry_entry.status == "serving"
            with pytest.raises(AgentNotRunningError) as caught:
                client.run(message="hi")
        err = caught.value
        assert isinstance(err, RunAgentConnectionError)
        assert err.code == "CONNECTION_ERROR"
        assert f"http://{HOST}:{port}" in err.message
        assert "serving" in err.message
        assert err.suggestion is not None
        assert "runagent serve /srv/agents/echo" in err.suggestion
        assert err.cause is not None
        assert err.__suppress_context__

    def test_a_refused_connection_is_retried_before_giving_up(self) -> None:
        port = closed_port()
        slept: list[float] = []
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=port, max_retries=2) as c:
            c._transport.sleep = slept.append
            with pytest.raises(AgentNotRunningError) as caught:
                c.validate()
        assert len(slept) == 2  # a refused connection is retried
        err = caught.value
        assert err.message == f"agent {AGENT} is not running at http://{HOST}:{port}"
        assert err.suggestion == (
            "Start it with `runagent serve <agent dir>`, or pass host= and port=."
        )
        assert err.details == {"address": f"http://{HOST}:{port}"}


class TestSecrets:
    def test_the_key_is_never_logged(
        self, api: ConformanceMock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="controldeck")
        serve_architecture(api, CLOUD_ROOT)
        api.post(CLOUD_ROOT + RUN_PATH, json=run_ok({"echo": KEY}))
        api.post(CLOUD_ROOT + RUN_PATH, status=401, json={"detail": "Not authenticated"})
        with RunAgentClient(AGENT, "echo", api_key=KEY) as client:
            client.run(key=KEY)
            with pytest.raises(Exception) as caught:
                client.run()
        assert "request POST" in caplog.text  # debug logging was on
        assert KEY not in caplog.text
        assert KEY not in str(caught.value) and KEY not in repr(client)


def test_the_decoded_value_matches_the_capture_strings() -> None:
    # `run_greet_string.http`: the string payload is JSON inside JSON.
    assert structured("hello bob") == '{"type": "string", "payload": "\\"hello bob\\""}'
