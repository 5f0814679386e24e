"""The REST reads: architecture, health, agent info and invocations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controldeck.errors import InvalidArgumentError, ResponseValidationError
from controldeck.runagent import (
    AgentArchitecture,
    AgentInfo,
    AgentNotFoundError,
    AgentNotRunningError,
    ArchitectureMissingError,
    EntrypointError,
    HealthResponse,
    InvocationList,
    RunAgentClient,
    RunAgentError,
    RunAgentNotFoundError,
    RunAgentPermissionError,
    RunAgentServerError,
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
    architecture,
    closed_port,
    entrypoint,
    failure,
)

HEALTH = {
    "status": "healthy",
    "server": "RunAgent FastAPI Local Server",
    "timestamp": "2026-11-23T08:13:20.409458",
    "uptime_seconds": 10.374157190322876,
    "version": "1.0.0",
    "agent_id": AGENT,
    "agent_name": "Echo Agent",
    "framework": "default",
}
INVOCATION = {
    "invocation_id": "f2eec70d-fde1-4a91-9804-ac5ab7c00aeb",
    "agent_id": AGENT,
    "input_data": {"input_args": [], "input_kwargs": {"message": "hi", "times": 2}},
    "output_data": {"echo": "hi", "times": 2},
    "error_detail": None,
    "request_timestamp": "2026-11-23T18:28:09",
    "response_timestamp": "2026-11-23T18:28:09",
    "execution_time_ms": 1.7349720001220703,
    "status": "completed",
    "entrypoint_tag": "echo",
    "sdk_type": "local_server",
    "client_info": {"server_host": "127.0.0.1", "server_port": 8450},
}
FAILED_INVOCATION = {
    **INVOCATION,
    "invocation_id": "c453e0db-3615-41fb-b25d-6940c23314b7",
    "output_data": None,
    "error_detail": f"Server error running agent {AGENT}: kaboom",
    "status": "failed",
    "entrypoint_tag": "boom",
}
STATS = {
    "agent_id": AGENT,
    "stats": {
        "total_invocations": 7,
        "completed_invocations": 5,
        "failed_invocations": 2,
        "pending_invocations": 0,
        "success_rate": 71.43,
        "avg_execution_time_ms": 1.09,
        "agent_id": AGENT,
    },
}


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    return conformance("runagent")


@pytest.fixture
def local() -> Iterator[RunAgentClient]:
    with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=8450, max_retries=0) as c:
        yield c


@pytest.fixture
def cloud() -> Iterator[RunAgentClient]:
    with RunAgentClient(AGENT, "echo", api_key=KEY, max_retries=0) as c:
        yield c


class TestArchitecture:
    def test_the_envelope_is_unwrapped(self, api: ConformanceMock, local: RunAgentClient) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json=architecture("echo", "echo_stream"))
        arch = local.get_agent_architecture()
        assert isinstance(arch, AgentArchitecture)
        assert arch.agent_id == AGENT
        assert [(e.tag, e.file, e.module, e.extractor) for e in arch.entrypoints] == [
            ("echo", "agent.py", "echo", {}),
            ("echo_stream", "agent.py", "echo_stream", {}),
        ]
        (call,) = api.calls
        assert (call.request.method, call.request.url) == ("GET", LOCAL_ROOT + ARCH_PATH)
        assert "Authorization" not in call.request.headers
        assert call.request.req_kwargs["timeout"] == (5.0, 60.0)

    def test_it_is_fetched_on_every_call_and_validate_caches(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json=architecture("echo"))
        local.get_agent_architecture()
        local.get_agent_architecture()
        first = local.validate()
        assert local.validate() is first
        assert len(api.calls) == 3

    def test_cloud_sends_the_key(self, api: ConformanceMock, cloud: RunAgentClient) -> None:
        api.get(CLOUD_ROOT + ARCH_PATH, json=architecture("echo"))
        cloud.get_agent_architecture(timeout=3, extra_headers={"X-Trace": "t"})
        (call,) = api.calls
        assert call.request.headers["Authorization"] == BEARER
        assert call.request.headers["X-Trace"] == "t"
        assert call.request.req_kwargs["timeout"] == (3, 3)

    @pytest.mark.off_spec("a legacy body (no envelope) and a camelCase agentId")
    def test_a_legacy_body_without_success_is_the_architecture(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        legacy = {"agentId": AGENT, "entrypoints": [entrypoint("echo")]}
        api.get(LOCAL_ROOT + ARCH_PATH, json=legacy)
        arch = local.get_agent_architecture()
        assert (arch.agent_id, [e.tag for e in arch.entrypoints]) == (AGENT, ["echo"])

    @pytest.mark.off_spec("an envelope whose data uses agentId")
    def test_agent_id_is_normalised_inside_the_envelope(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        body = architecture("echo")
        body["data"] = {"agentId": AGENT, "entrypoints": [entrypoint("echo")]}
        api.get(LOCAL_ROOT + ARCH_PATH, json=body)
        assert local.get_agent_architecture().agent_id == AGENT

    @pytest.mark.parametrize(
        "data",
        [None, {"agent_id": AGENT}, {"agent_id": AGENT, "entrypoints": None}],
        ids=["no-data", "no-entrypoints", "null-entrypoints"],
    )
    @pytest.mark.off_spec("an architecture without entrypoints")
    def test_missing_data_or_entrypoints(
        self, api: ConformanceMock, local: RunAgentClient, data: Any
    ) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json={**architecture(), "data": data})
        with pytest.raises(ArchitectureMissingError) as caught:
            local.get_agent_architecture()
        assert caught.value.code == "ARCHITECTURE_MISSING"
        assert caught.value.request_id == REQUEST_ID

    def test_an_empty_entrypoint_list_leaves_every_tag_unknown(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, json=architecture())
        assert local.get_agent_architecture().entrypoints == []
        with pytest.raises(EntrypointError, match=r"its entrypoints are: \(none\)"):
            local.validate()

    def test_success_false_raises_the_servers_error(
        self, api: ConformanceMock, cloud: RunAgentClient
    ) -> None:
        body = failure("PERMISSION_ERROR", "You do not have access to this agent")
        api.get(CLOUD_ROOT + ARCH_PATH, json=body)
        with pytest.raises(RunAgentError) as caught:
            cloud.get_agent_architecture()
        assert caught.value.code == "PERMISSION_ERROR"
        assert caught.value.message == "You do not have access to this agent"
        assert caught.value.request_id == REQUEST_ID

    def test_404_is_agent_not_found(self, api: ConformanceMock, local: RunAgentClient) -> None:
        api.get(LOCAL_ROOT + ARCH_PATH, status=404, json=NOT_FOUND_DETAIL)
        with pytest.raises(AgentNotFoundError) as caught:
            local.get_agent_architecture()
        assert (caught.value.code, caught.value.status_code) == ("AGENT_NOT_FOUND_LOCAL", 404)

    @pytest.mark.off_spec("an entrypoint without its tag")
    def test_a_bad_entrypoint_is_a_response_validation_error(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        body = architecture()
        body["data"]["entrypoints"] = [{"file": "agent.py"}]
        api.get(LOCAL_ROOT + ARCH_PATH, json=body)
        with pytest.raises(ResponseValidationError, match="tag"):
            local.get_agent_architecture()

    def test_the_agent_id_is_one_path_segment(self, api: ConformanceMock) -> None:
        api.get(LOCAL_ROOT + "/agents/a%20b/architecture", json=architecture("echo"))
        with RunAgentClient("a b", "echo", local=True, host=HOST, port=8450) as client:
            client.get_agent_architecture()
        assert api.calls[0].request.url == LOCAL_ROOT + "/agents/a%20b/architecture"


class TestHealth:
    def test_get_health(self, api: ConformanceMock, local: RunAgentClient) -> None:
        api.get(LOCAL_ROOT + "/health", json=HEALTH)
        health = local.get_health()
        assert isinstance(health, HealthResponse)
        assert (health.status, health.agent_id, health.uptime_seconds) == (
            "healthy",
            AGENT,
            10.374157190322876,
        )
        assert api.calls[0].request.url == LOCAL_ROOT + "/health"

    def test_a_minimal_cloud_health_body(self, api: ConformanceMock, cloud: RunAgentClient) -> None:
        api.get(CLOUD_ROOT + "/health", json={"status": "ok"})
        assert cloud.get_health().status == "ok"
        assert cloud.health_check() is True
        assert all(c.request.headers["Authorization"] == BEARER for c in api.calls)

    def test_health_check_is_false_on_an_error_status(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        api.get(LOCAL_ROOT + "/health", status=500, json=failure("INTERNAL_ERROR", "boom"))
        assert local.health_check() is False
        with pytest.raises(RunAgentServerError):
            local.get_health()

    def test_health_check_is_false_when_nothing_listens(self) -> None:
        port = closed_port()
        with RunAgentClient(AGENT, "echo", local=True, host=HOST, port=port, max_retries=0) as c:
            assert c.health_check() is False
            with pytest.raises(AgentNotRunningError):
                c.get_health()

    def test_health_check_is_false_on_a_closed_client(self, local: RunAgentClient) -> None:
        local.close()
        assert local.health_check() is False


class TestAgentInfo:
    def test_info_is_the_api_root_itself(self, api: ConformanceMock, local: RunAgentClient) -> None:
        body = {
            "message": f"RunAgent API - Echo Agent({AGENT})",
            "version": "1.0.0",
            "host": HOST,
            "port": 8450,
            "config": {"agent_name": "Echo Agent", "agent_id": AGENT},
            "endpoints": {"GET /": "Agent info"},
        }
        api.get(LOCAL_ROOT, json=body)
        info = local.get_agent_info()
        assert isinstance(info, AgentInfo)
        assert (info.port, info.config["agent_name"]) == (8450, "Echo Agent")
        assert api.calls[0].request.url == LOCAL_ROOT  # no trailing slash


class TestInvocations:
    def test_list_without_filters_sends_no_query(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        body = {"agent_id": AGENT, "invocations": [INVOCATION, FAILED_INVOCATION], "total_count": 2}
        api.get(LOCAL_ROOT + f"/agents/{AGENT}/invocations", json=body)
        listing = local.list_invocations()
        assert isinstance(listing, InvocationList)
        assert listing.total_count == 2
        first, second = listing.invocations
        assert (first.status, first.output_data) == ("completed", {"echo": "hi", "times": 2})
        assert (second.status, second.error_detail) == ("failed", FAILED_INVOCATION["error_detail"])
        assert api.calls[0].request.url == LOCAL_ROOT + f"/agents/{AGENT}/invocations"

    def test_list_with_limit_and_status(self, api: ConformanceMock, local: RunAgentClient) -> None:
        body = {"agent_id": AGENT, "invocations": [FAILED_INVOCATION], "total_count": 1}
        api.get(LOCAL_ROOT + f"/agents/{AGENT}/invocations", json=body)
        local.list_invocations(limit=5, status="failed")
        local.list_invocations(status="completed")
        assert api.calls[0].request.url.endswith("/invocations?limit=5&status=failed")
        assert api.calls[1].request.url.endswith("/invocations?status=completed")

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"limit": 0}, "limit"),
            ({"limit": True}, "limit"),
            ({"limit": "5"}, "limit"),
            ({"status": ""}, "status"),
            ({"status": 3}, "status"),
        ],
    )
    def test_bad_filters_send_nothing(
        self, api: ConformanceMock, local: RunAgentClient, kwargs: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            local.list_invocations(**kwargs)
        assert len(api.calls) == 0

    def test_stats(self, api: ConformanceMock, local: RunAgentClient) -> None:
        api.get(LOCAL_ROOT + f"/agents/{AGENT}/invocations/stats", json=STATS)
        stats = local.invocation_stats()
        assert stats.agent_id == AGENT
        assert (stats.stats.total_invocations, stats.stats.success_rate) == (7, 71.43)

    def test_get_invocation(self, api: ConformanceMock, local: RunAgentClient) -> None:
        url = LOCAL_ROOT + "/invocations/f2eec70d-fde1-4a91-9804-ac5ab7c00aeb"
        api.get(url, json=INVOCATION)
        invocation = local.get_invocation("f2eec70d-fde1-4a91-9804-ac5ab7c00aeb")
        assert invocation.input_data == INVOCATION["input_data"]
        assert invocation.execution_time_ms == 1.7349720001220703
        assert api.calls[0].request.url == url

    def test_an_unknown_invocation_is_not_found(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        api.get(
            LOCAL_ROOT + "/invocations/nope",
            status=404,
            json=failure("NOT_FOUND", "Invocation nope not found"),
        )
        with pytest.raises(RunAgentNotFoundError) as caught:
            local.get_invocation("nope")
        assert (caught.value.code, caught.value.status_code) == ("NOT_FOUND", 404)
        assert caught.value.request_id == REQUEST_ID

    def test_the_invocation_id_cannot_change_the_path(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        api.get(LOCAL_ROOT + "/invocations/a%2F..%2Fb", json=INVOCATION)
        local.get_invocation("a/../b")
        assert api.calls[0].request.url == LOCAL_ROOT + "/invocations/a%2F..%2Fb"
        with pytest.raises(InvalidArgumentError):
            local.get_invocation("..")

    def test_a_wrong_agent_id_on_the_agent_routes(self, api: ConformanceMock) -> None:
        api.get(LOCAL_ROOT + "/agents/other/invocations", status=404, json=NOT_FOUND_DETAIL)
        with (
            RunAgentClient("other", "echo", local=True, host=HOST, port=8450) as client,
            pytest.raises(AgentNotFoundError),
        ):
            client.list_invocations()

    def test_a_bad_limit_the_server_rejects(
        self, api: ConformanceMock, local: RunAgentClient
    ) -> None:
        detail = [{"type": "int_parsing", "loc": ["query", "limit"], "msg": "not an int"}]
        api.get(LOCAL_ROOT + f"/agents/{AGENT}/invocations", status=422, json={"detail": detail})
        with pytest.raises(RunAgentValidationError) as caught:
            local.list_invocations(limit=10**6)
        assert caught.value.status_code == 422

    def test_a_forbidden_cloud_call(self, api: ConformanceMock, cloud: RunAgentClient) -> None:
        api.get(
            CLOUD_ROOT + f"/agents/{AGENT}/invocations/stats",
            status=403,
            json=failure("PERMISSION_ERROR", "Access denied"),
        )
        with pytest.raises(RunAgentPermissionError) as caught:
            cloud.invocation_stats()
        assert (caught.value.code, caught.value.message) == ("PERMISSION_ERROR", "Access denied")
        assert caught.value.suggestion is not None
        assert f"dashboard/agents/{AGENT}" in caught.value.suggestion
