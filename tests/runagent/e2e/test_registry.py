"""Registry discovery against the REAL registry `runagent serve` wrote (reference §5).

`local=True` without host/port reads the SQLite registry the CLI maintains. The running
server's row says `serving` at its real port; the stopped server's row still says
`serving`, at a port nothing listens on any more.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from controldeck.runagent import (
    AgentNotFoundError,
    AgentNotRunningError,
    LocalAgent,
    RunAgentClient,
    lookup_local_agent,
)
from tests.runagent.e2e._harness import AGENT_ID, LocalServer

SHORT = {"timeout": (2, 10), "max_retries": 0, "run_timeout": 20, "stream_idle_timeout": 10}


def test_lookup_local_agent_reads_the_serving_row(runagent_server: LocalServer) -> None:
    agent = lookup_local_agent(AGENT_ID, registry_path=runagent_server.registry_path)
    assert isinstance(agent, LocalAgent)
    assert agent.agent_id == AGENT_ID
    assert (agent.host, agent.port, agent.status) == ("127.0.0.1", runagent_server.port, "serving")
    assert Path(agent.agent_path).resolve() == runagent_server.agent_dir.resolve()
    assert agent.framework == "default"


@pytest.mark.parametrize("how", ["registry_path", "RUNAGENT_CACHE_DIR", "HOME"])
def test_discovery_reaches_the_server(
    runagent_server: LocalServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    kwargs = dict(SHORT)
    if how == "registry_path":
        kwargs["registry_path"] = runagent_server.registry_path
    elif how == "RUNAGENT_CACHE_DIR":
        monkeypatch.setenv("RUNAGENT_CACHE_DIR", str(runagent_server.cache_dir))
    else:  # the default ~/.runagent/runagent_local.db, with RUNAGENT_CACHE_DIR unset
        monkeypatch.setenv("HOME", str(runagent_server.home))
    with RunAgentClient(AGENT_ID, "echo", local=True, **kwargs) as client:
        assert (client.host, client.port) == ("127.0.0.1", runagent_server.port)
        assert client.base_url == f"http://127.0.0.1:{runagent_server.port}/api/v1"
        assert client.registry_entry is not None
        assert client.registry_entry.status == "serving"
        assert client.run("found", times=3) == {"echo": "found", "times": 3}
    streamer = RunAgentClient(AGENT_ID, "echo_stream", local=True, **kwargs)
    with streamer, streamer.run_stream("found", n=2) as chunks:
        assert list(chunks) == ["found-0", "found-1"]


def test_an_agent_missing_from_the_registry(runagent_server: LocalServer) -> None:
    other = str(uuid.uuid4())
    with pytest.raises(AgentNotFoundError) as caught:
        RunAgentClient(other, "echo", local=True, registry_path=runagent_server.registry_path)
    assert caught.value.code == "AGENT_NOT_FOUND_LOCAL"
    assert other in str(caught.value)


def test_a_stale_row_is_an_agent_not_running(stopped_server: LocalServer) -> None:
    address = f"http://127.0.0.1:{stopped_server.port}"
    for tag, call in (("echo", "run"), ("echo_stream", "run_stream")):
        with RunAgentClient(
            AGENT_ID, tag, local=True, registry_path=stopped_server.registry_path, **SHORT
        ) as client:
            assert client.port == stopped_server.port  # the registry's (stale) address
            assert client.health_check() is False
            with pytest.raises(AgentNotRunningError) as caught:
                getattr(client, call)("hi")
        error = caught.value
        assert error.message.startswith(f"agent {AGENT_ID} is not running at {address}")
        assert "(the local registry still lists it as 'serving')" in error.message
        assert error.suggestion is not None
        assert f"runagent serve {stopped_server.agent_dir}" in error.suggestion


def test_a_closed_port_without_the_registry_is_an_agent_not_running(
    stopped_server: LocalServer,
) -> None:
    with RunAgentClient(
        AGENT_ID, "echo", local=True, host="127.0.0.1", port=stopped_server.port, **SHORT
    ) as client:
        assert client.registry_entry is None
        with pytest.raises(AgentNotRunningError) as caught:
            client.run("hi")
    assert f"is not running at http://127.0.0.1:{stopped_server.port}" in caught.value.message
    assert "registry" not in caught.value.message
