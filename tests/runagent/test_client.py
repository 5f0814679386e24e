"""RunAgentClient itself: construction (nothing sent), getters, repr, views, copies, close."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controldeck.errors import ControlDeckError, InvalidArgumentError
from controldeck.runagent import (
    AgentNotFoundError,
    LocalAgent,
    RunAgentAuthenticationError,
    RunAgentClient,
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
    RUN_PATH,
    architecture,
    make_registry,
    run_ok,
)


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    return conformance("runagent")


class TestConstruction:
    def test_cloud_defaults(self, api: ConformanceMock) -> None:
        with RunAgentClient(AGENT, "echo", api_key=KEY) as client:
            assert client.base_url == CLOUD_ROOT
            assert not client.is_local
            assert (client.host, client.port, client.registry_entry) == (None, None, None)
            assert client.api_key_set
            assert (client.run_timeout, client.stream_idle_timeout) == (300, 60.0)
            assert (client.user_id, client.persistent_memory, client.extra_params) == (
                None,
                False,
                None,
            )
        assert len(api.calls) == 0  # the constructor sends nothing

    def test_environment_fills_key_and_base_url(
        self, api: ConformanceMock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RUNAGENT_API_KEY", KEY)
        monkeypatch.setenv("RUNAGENT_BASE_URL", "https://staging.run-agent.ai/")
        with RunAgentClient.from_env(AGENT, "echo") as client:
            assert client.base_url == "https://staging.run-agent.ai/api/v1"
            assert client.api_key_set
        with RunAgentClient(AGENT, "echo", api_key="arg-key", base_url="http://x.test") as c:
            assert c.base_url == "http://x.test/api/v1"  # arguments win

    def test_cloud_without_a_key_fails_before_sending(self, api: ConformanceMock) -> None:
        with pytest.raises(RunAgentAuthenticationError) as caught:
            RunAgentClient(AGENT, "echo")
        assert caught.value.code == "AUTHENTICATION_ERROR"
        assert caught.value.suggestion is not None
        assert "RUNAGENT_API_KEY" in caught.value.suggestion
        assert len(api.calls) == 0

    def test_local_with_an_address_reads_no_registry(self, tmp_path: Path) -> None:
        missing = tmp_path / "nowhere" / "runagent_local.db"
        with RunAgentClient(
            AGENT, "echo", local=True, host=HOST, port=8451, registry_path=missing
        ) as client:
            assert client.base_url == "http://127.0.0.1:8451/api/v1"
            assert (client.host, client.port, client.registry_entry) == (HOST, 8451, None)
            assert client.is_local and not client.api_key_set
        assert not missing.parent.exists()

    def test_local_without_an_address_reads_the_registry(self, tmp_path: Path) -> None:
        registry = make_registry(tmp_path / "runagent_local.db", port=8452)
        with RunAgentClient(AGENT, "echo", local=True, registry_path=registry) as client:
            assert client.base_url == "http://127.0.0.1:8452/api/v1"
            assert client.registry_entry == LocalAgent(
                AGENT, HOST, 8452, "serving", "/home/me/agents/echo", "default"
            )

    def test_the_registry_under_runagent_cache_dir(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_registry(tmp_path / "runagent_local.db", port=8453)
        monkeypatch.setenv("RUNAGENT_CACHE_DIR", str(tmp_path))
        with RunAgentClient(AGENT, "echo", local=True) as client:
            assert client.port == 8453

    def test_an_unregistered_local_agent(self, tmp_path: Path) -> None:
        with pytest.raises(AgentNotFoundError) as caught:
            RunAgentClient(AGENT, "echo", local=True, registry_path=tmp_path / "none.db")
        assert caught.value.code == "AGENT_NOT_FOUND_LOCAL"
        assert not (tmp_path / "none.db").exists()

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"agent_id": ""}, "agent_id"),
            ({"agent_id": 5}, "agent_id"),
            ({"entrypoint_tag": "a/b"}, "entrypoint_tag"),
            ({"local": "yes"}, "local"),
            ({"port": 0}, "port"),
            ({"user_id": ""}, "user_id"),
            ({"user_id": 7}, "user_id"),
            ({"persistent_memory": "true"}, "persistent_memory"),
            ({"extra_params": ["a"]}, "extra_params"),
            ({"run_timeout": 0}, "run_timeout"),
            ({"run_timeout": 2.5}, "run_timeout"),
            ({"stream_idle_timeout": 0}, "stream_idle_timeout"),
            ({"stream_idle_timeout": float("inf")}, "stream_idle_timeout"),
            ({"timeout": -1}, "timeout"),
            ({"max_retries": -1}, "max_retries"),
            ({"enable_registry": 1}, "enable_registry"),
            ({"api_key": "two words"}, "api_key"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], match: str) -> None:
        args = {"agent_id": AGENT, "entrypoint_tag": "echo", "api_key": KEY, **kwargs}
        with pytest.raises(InvalidArgumentError, match=match):
            RunAgentClient(**args)


class TestGetters:
    def test_every_value_and_its_upstream_getter(self) -> None:
        params = {"trace": {"on": True}}
        with RunAgentClient(
            AGENT,
            "echo",
            local=True,
            host=HOST,
            port=8450,
            user_id="u1",
            persistent_memory=True,
            extra_params=params,
            run_timeout=30,
            stream_idle_timeout=2.5,
        ) as client:
            assert (client.agent_id, client.get_agent_id()) == (AGENT, AGENT)
            assert (client.entrypoint_tag, client.get_entrypoint_tag()) == ("echo", "echo")
            assert (client.user_id, client.get_user_id()) == ("u1", "u1")
            assert client.persistent_memory is client.get_persistent_memory() is True
            assert client.extra_params == client.get_extra_params() == params
            assert (client.run_timeout, client.stream_idle_timeout) == (30, 2.5)
            # extra_params is a copy: changing it changes nothing in the client.
            got = client.extra_params
            assert got is not None
            got["new"] = 1
            assert client.extra_params == params

    def test_repr_shows_where_never_the_key(self) -> None:
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8451) as client:
            assert repr(client) == (
                f"RunAgentClient(agent_id='{AGENT}', entrypoint_tag='echo', local=True, "
                "base_url='http://127.0.0.1:8451/api/v1')"
            )
        with RunAgentClient(AGENT, "echo", api_key=KEY) as client:
            assert KEY not in repr(client) and KEY not in str(vars(client)["_settings"])
            assert "local=False" in repr(client)

    def test_repr_cuts_long_ids(self) -> None:
        with RunAgentClient("a" * 300, "echo", local=True, host=HOST, port=1) as client:
            assert len(repr(client)) < 250


class TestViews:
    def test_a_view_shares_the_cache_and_the_connections(self, api: ConformanceMock) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json=architecture("echo"))
        api.post(LOCAL_ROOT + RUN_PATH, json=run_ok("ok"))
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450) as parent:
            parent.validate()
            alice = parent.with_options(
                user_id="alice",
                persistent_memory=True,
                run_timeout=20,
                timeout=(2, 9),
                extra_headers={"X-Who": "alice"},
            )
            assert alice._transport is parent._transport
            assert alice.run() == "ok"
            assert parent.run() == "ok"
            alice.close()  # a view owns nothing
            assert parent.run() == "ok"
            assert (alice.user_id, alice.run_timeout, parent.user_id) == ("alice", 20, None)
        methods = [c.request.method for c in api.calls]
        assert methods == ["GET", "POST", "POST", "POST"]  # one architecture fetch for both
        view_run, parent_run = api.calls[1].request, api.calls[2].request
        assert view_run.body == (
            b'{"entrypoint_tag":"echo","input_args":[],"input_kwargs":{},"timeout_seconds":20,'
            b'"async_execution":false,"user_id":"alice","persistent_memory":true}'
        )
        assert view_run.req_kwargs["timeout"] == (2, 30)
        assert view_run.headers["X-Who"] == "alice"
        assert "X-Who" not in parent_run.headers
        assert parent_run.req_kwargs["timeout"] == (5.0, 310.0)

    def test_a_view_fills_the_shared_cache(self, api: ConformanceMock) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json=architecture("echo"))
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450) as parent:
            view = parent.with_options(max_retries=0, deadline=5)
            assert view.validate() is parent.validate()
        assert len(api.calls) == 1

    def test_closing_the_parent_closes_the_view(self) -> None:
        parent = RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450)
        view = parent.with_options(timeout=3)
        parent.close()
        with pytest.raises(ControlDeckError, match="closed"):
            view.get_health()

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"timeout": 0}, "timeout"),
            ({"deadline": -1}, "deadline"),
            ({"max_retries": 1.5}, "max_retries"),
            ({"extra_headers": {"X": "a\nb"}}, "line break"),
            ({"run_timeout": -5}, "run_timeout"),
            ({"stream_idle_timeout": "1"}, "stream_idle_timeout"),
            ({"user_id": ""}, "user_id"),
            ({"persistent_memory": 1}, "persistent_memory"),
        ],
    )
    def test_bad_view_options(self, kwargs: dict[str, Any], match: str) -> None:
        with (
            RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450) as client,
            pytest.raises(InvalidArgumentError, match=match),
        ):
            client.with_options(**kwargs)


class TestCopyAndClose:
    def test_copy_is_independent(self, api: ConformanceMock) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json=architecture("echo", "echo_stream"))
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450) as client:
            client.validate()
            streaming = client.copy(entrypoint_tag="echo_stream")
            assert streaming.entrypoint_tag == "echo_stream"
            assert streaming._transport is not client._transport
            streaming.validate()  # its own cache: fetched again
            streaming.close()
            client.get_agent_architecture()  # the original is still open
        assert len(api.calls) == 3
        with pytest.raises(InvalidArgumentError, match="unknown arguments: nope"):
            client.copy(nope=1)

    def test_copy_of_a_view_keeps_its_options(self) -> None:
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450) as client:
            view = client.with_options(run_timeout=12, user_id="u9")
            with view.copy() as copied:
                assert (copied.run_timeout, copied.user_id) == (12, "u9")

    def test_calls_after_close_raise(self, api: ConformanceMock) -> None:
        client = RunAgentClient(AGENT, "echo", api_key=KEY)
        client.close()
        client.close()  # twice is fine
        with pytest.raises(ControlDeckError, match="closed"):
            client.get_agent_architecture()
        assert len(api.calls) == 0

    def test_cloud_headers(self, api: ConformanceMock) -> None:
        api.get(CLOUD_ROOT + "/health", json={"status": "ok"})
        with RunAgentClient(AGENT, "echo", api_key=KEY, user_agent="my-app/1.0") as client:
            client.get_health()
        headers = api.calls[0].request.headers
        assert (headers["Authorization"], headers["User-Agent"]) == (BEARER, "my-app/1.0")


def test_errors_pickle_without_their_cause(tmp_path: Path) -> None:
    with pytest.raises(AgentNotFoundError) as caught:
        RunAgentClient(AGENT, "echo", local=True, registry_path=tmp_path / "none.db")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), copy.code, copy.message) == (
        AgentNotFoundError,
        caught.value.code,
        caught.value.message,
    )
