"""Rune instances and health on both wires: exact requests, unwrapped replies, errors."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from controldeck._generated.rune import (
    ComponentHealth,
    EventType,
    HealthStatus,
    Instance,
    InstanceStatus,
)
from controldeck.errors import (
    BadRequestError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
    StreamError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, BASE_URL, REST, TOKEN, connect_error, envelope, rpc_url

INSTANCE_ID = "6f1c0c8e-1d6b-4c55-9d3e-2a1f00000001"
OK = {"code": 0, "message": "Instance retrieved successfully", "details": []}


def instance(n: int = 1, **fields: Any) -> dict[str, Any]:
    """An `Instance` as runed writes it: every field, zero values included."""
    data: dict[str, Any] = {
        "id": INSTANCE_ID if n == 1 else f"6f1c0c8e-1d6b-4c55-9d3e-2a1f0000000{n}",
        "runner": "docker",
        "namespace": "default",
        "name": f"api-{n}",
        "serviceId": "svc-0001",
        "serviceName": "api",
        "nodeId": "local",
        "ip": "172.17.0.2",
        "status": "INSTANCE_STATUS_RUNNING",
        "statusMessage": "",
        "containerId": "c0ffee",
        "pid": 0,
        "createdAt": "2025-11-07T10:00:00Z",
        "updatedAt": "2025-11-07T10:00:05Z",
        "resources": None,
        "environment": {"PORT": "8080"},
        "metadata": {
            "generation": 3,
            "deletionTimestamp": "",
            "restartCount": 2,
            "secretMounts": [],
            "configMounts": [],
        },
    }
    data.update(fields)
    return data


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query, keep_blank_values=True)


def assert_connect(call: Any, service: str, method: str) -> None:
    request = call.request
    assert request.method == "POST"
    assert request.url == rpc_url(service, method)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Connect-Protocol-Version"] == "1"
    assert request.headers["Connect-Timeout-Ms"] == "60000"  # the default read timeout
    assert request.headers["Authorization"] == AUTH


def assert_rest(call: Any, method: str, url: str, *, json_body: bool = False) -> None:
    request = call.request
    assert request.method == method
    assert request.url.split("?", 1)[0] == url
    assert request.headers["Authorization"] == AUTH
    assert "Connect-Protocol-Version" not in request.headers
    if json_body:
        assert request.headers["Content-Type"] == "application/json"
    else:
        assert request.body is None


# -- get_instance -----------------------------------------------------------------------


class TestGetInstance:
    def test_connect(self, api: ConformanceMock, client: RuneClient) -> None:
        api.post(
            rpc_url("InstanceService", "GetInstance"),
            json={"instance": instance(), "status": OK},
        )
        got = client.get_instance(INSTANCE_ID, "prod")
        call = api.calls[0]
        assert_connect(call, "InstanceService", "GetInstance")
        assert body(call) == {"id": INSTANCE_ID, "namespace": "prod"}
        assert isinstance(got, Instance)
        assert got.id == INSTANCE_ID and got.service_name == "api" and got.node_id == "local"
        assert got.status == InstanceStatus.INSTANCE_STATUS_RUNNING
        assert got.environment == {"PORT": "8080"}
        assert got.metadata is not None and got.metadata.restart_count == 2

    def test_rest(self, api: ConformanceMock, rest: RuneClient) -> None:
        api.get(
            f"{REST}/namespaces/prod/instances/{INSTANCE_ID}",
            json={"instance": instance(), "status": OK},
        )
        got = rest.get_instance(INSTANCE_ID, "prod")
        assert_rest(api.calls[0], "GET", f"{REST}/namespaces/prod/instances/{INSTANCE_ID}")
        assert query(api.calls[0]) == {}
        assert got.name == "api-1"

    def test_the_id_is_one_path_segment(self, api: ConformanceMock, rest: RuneClient) -> None:
        api.get(
            f"{REST}/namespaces/default/instances/a%2Fb%20c",
            json={"instance": instance(), "status": OK},
        )
        rest.get_instance("a/b c")
        assert api.calls[0].request.url == f"{REST}/namespaces/default/instances/a%2Fb%20c"

    @pytest.mark.off_spec("an instance status newer than the spec's enum")
    def test_an_unknown_status_decodes_to_unknown(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(
            rpc_url("InstanceService", "GetInstance"),
            json={"instance": instance(status="INSTANCE_STATUS_TERMINATING"), "status": OK},
        )
        got = client.get_instance(INSTANCE_ID)
        assert got.status == InstanceStatus.UNKNOWN
        assert got.status == "INSTANCE_STATUS_TERMINATING"

    def test_not_found_on_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        if both.transport == "connect":
            api.post(
                rpc_url("InstanceService", "GetInstance"),
                json=connect_error("not_found", "instance not found: x"),
                status=404,
            )
        else:
            api.get(
                f"{REST}/namespaces/default/instances/x",
                json={"code": 5, "message": "instance not found: x", "details": []},
                status=404,
            )
        with pytest.raises(NotFoundError, match="instance not found: x") as info:
            both.get_instance("x")
        assert info.value.code == "not_found"

    @pytest.mark.off_spec("a reply without its instance, to show it is an error")
    def test_a_reply_without_the_instance_is_an_error(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(rpc_url("InstanceService", "GetInstance"), json={"instance": None, "status": OK})
        with pytest.raises(ResponseValidationError, match="no 'instance'") as info:
            client.get_instance(INSTANCE_ID)
        assert info.value.path == "$.instance"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("",), "instance_id must not be empty"),
            ((7,), "instance_id must be a string"),
            ((INSTANCE_ID, ""), "namespace must not be empty"),
            ((INSTANCE_ID, None), "namespace must be a string"),
            (("..",), "a URL path step"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self, api: ConformanceMock, both: RuneClient, args: tuple[Any, ...], message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            both.get_instance(*args)
        assert len(api.calls) == 0


# -- list_instances ---------------------------------------------------------------------


class TestListInstances:
    def test_connect_sends_only_the_given_filters(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        reply = {
            "instances": [instance(1), instance(2)],
            "status": {"code": 0, "message": "Found 2 instances", "details": []},
            "paging": {"limit": 2, "offset": 0, "continuationToken": ""},
        }
        api.post(rpc_url("InstanceService", "ListInstances"), json=reply)
        api.post(rpc_url("InstanceService", "ListInstances"), json=reply)
        got = client.list_instances()
        client.list_instances(
            "prod", service_name="api", node_id="n1", status=InstanceStatus.INSTANCE_STATUS_FAILED
        )
        assert_connect(api.calls[0], "InstanceService", "ListInstances")
        assert body(api.calls[0]) == {"namespace": "default"}
        assert body(api.calls[1]) == {
            "namespace": "prod",
            "serviceName": "api",
            "nodeId": "n1",
            "status": "INSTANCE_STATUS_FAILED",
        }
        assert [i.name for i in got] == ["api-1", "api-2"]
        assert all(isinstance(i, Instance) for i in got)

    def test_rest_sends_the_filters_as_the_query(
        self, api: ConformanceMock, rest: RuneClient
    ) -> None:
        url = f"{REST}/namespaces/prod/instances"
        api.get(url, json={"instances": [instance()], "status": OK})
        api.get(url, json={"instances": [], "status": OK})
        got = rest.list_instances(
            "prod", service_name="api", node_id="n1", status="INSTANCE_STATUS_RUNNING"
        )
        assert rest.list_instances("prod") == []
        assert_rest(api.calls[0], "GET", url)
        assert query(api.calls[0]) == {
            "serviceName": ["api"],
            "nodeId": ["n1"],
            "status": ["INSTANCE_STATUS_RUNNING"],
        }
        assert query(api.calls[1]) == {}
        assert len(got) == 1

    def test_a_missing_list_is_empty(self, api: ConformanceMock, client: RuneClient) -> None:
        api.post(rpc_url("InstanceService", "ListInstances"), json={"status": OK})
        assert client.list_instances() == []

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"status": "RUNNING"}, "'RUNNING' is not a valid InstanceStatus"),
            ({"status": 4}, "status must be an InstanceStatus or its name"),
            ({"service_name": ""}, "service_name must not be empty"),
            ({"node_id": 1}, "node_id must be a string"),
        ],
    )
    def test_bad_filters_send_nothing(
        self, api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            both.list_instances(**kwargs)
        assert len(api.calls) == 0


# -- start / stop / restart -------------------------------------------------------------

ACTIONS = [
    ("start_instance", "StartInstance", "start"),
    ("stop_instance", "StopInstance", "stop"),
    ("restart_instance", "RestartInstance", "restart"),
]


class TestInstanceActions:
    @pytest.mark.parametrize(("name", "rpc", "verb"), ACTIONS)
    def test_connect_sends_no_namespace(
        self, api: ConformanceMock, client: RuneClient, name: str, rpc: str, verb: str
    ) -> None:
        api.post(
            rpc_url("InstanceService", rpc),
            json={"instance": instance(status="INSTANCE_STATUS_STOPPED"), "status": OK},
        )
        got = getattr(client, name)(INSTANCE_ID, "prod", timeout_seconds=10, force=True)
        assert_connect(api.calls[0], "InstanceService", rpc)
        # InstanceActionRequest has no namespace field.
        assert body(api.calls[0]) == {"id": INSTANCE_ID, "timeoutSeconds": 10, "force": True}
        assert got.status == InstanceStatus.INSTANCE_STATUS_STOPPED

    @pytest.mark.parametrize(("name", "rpc", "verb"), ACTIONS)
    def test_rest_names_the_namespace_in_the_path(
        self, api: ConformanceMock, rest: RuneClient, name: str, rpc: str, verb: str
    ) -> None:
        url = f"{REST}/namespaces/prod/instances/{INSTANCE_ID}/{verb}"
        api.post(url, json={"instance": instance(), "status": OK})
        got = getattr(rest, name)(INSTANCE_ID, "prod")
        assert_rest(api.calls[0], "POST", url, json_body=True)
        assert body(api.calls[0]) == {"id": INSTANCE_ID}
        assert query(api.calls[0]) == {}
        assert got.id == INSTANCE_ID

    def test_false_force_and_zero_timeout_are_sent(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(
            rpc_url("InstanceService", "StopInstance"), json={"instance": instance(), "status": OK}
        )
        client.stop_instance(INSTANCE_ID, timeout_seconds=0, force=False)
        assert body(api.calls[0]) == {"id": INSTANCE_ID, "timeoutSeconds": 0, "force": False}

    def test_permission_denied(self, api: ConformanceMock, both: RuneClient) -> None:
        message = "access denied for resource: * verb: *"
        if both.transport == "connect":
            api.post(
                rpc_url("InstanceService", "RestartInstance"),
                json=connect_error("permission_denied", message),
                status=403,
            )
        else:
            api.post(
                f"{REST}/namespaces/default/instances/{INSTANCE_ID}/restart",
                json={"code": 7, "message": message, "details": []},
                status=403,
            )
        with pytest.raises(PermissionDeniedError, match="access denied"):
            both.restart_instance(INSTANCE_ID)
        assert len(api.calls) == 1  # a write is not retried

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"timeout_seconds": -1}, "timeout_seconds must be between 0 and 2147483647"),
            ({"timeout_seconds": 2**31}, "timeout_seconds must be between"),
            ({"timeout_seconds": 1.5}, "timeout_seconds must be an int"),
            ({"timeout_seconds": True}, "timeout_seconds must be an int"),
            ({"force": "yes"}, "force must be True or False"),
        ],
    )
    @pytest.mark.parametrize(("name", "rpc", "verb"), ACTIONS)
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        both: RuneClient,
        name: str,
        rpc: str,
        verb: str,
        kwargs: dict[str, Any],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            getattr(both, name)(INSTANCE_ID, **kwargs)
        with pytest.raises(InvalidArgumentError, match="instance_id must not be empty"):
            getattr(both, name)(" ")
        assert len(api.calls) == 0


# -- watch_instances --------------------------------------------------------------------


# The mock re-reads a streamed `application/connect+json` body after the SDK consumed it
# and finds it empty; the request envelope does validate against the spec.
STREAMED = "a consumed connect+json body reads as empty to the conformance mock"


class TestWatchInstances:
    @pytest.mark.off_spec(STREAMED)
    def test_events_then_a_clean_end(self, api: ConformanceMock, client: RuneClient) -> None:
        events = [
            {"instance": instance(1), "eventType": "EVENT_TYPE_ADDED", "status": None},
            {
                "instance": instance(1, status="INSTANCE_STATUS_STOPPED"),
                "eventType": "EVENT_TYPE_MODIFIED",
                "status": OK,
            },
        ]
        api.post(
            rpc_url("InstanceService", "WatchInstances"),
            body=b"".join(envelope(e) for e in events) + envelope({}, flag=2),
            content_type="application/connect+json",
        )
        with client.watch_instances("prod", service_id="svc-0001") as stream:
            got = list(stream)
        request = api.calls[0].request
        assert request.headers["Content-Type"] == "application/connect+json"
        assert request.headers["Connect-Protocol-Version"] == "1"
        assert request.headers["Authorization"] == AUTH
        sent = {"namespace": "prod", "serviceId": "svc-0001"}
        payload = json.dumps(sent, separators=(",", ":")).encode()
        assert request.body == b"\x00" + len(payload).to_bytes(4, "big") + payload
        assert [e.event_type for e in got] == [
            EventType.EVENT_TYPE_ADDED,
            EventType.EVENT_TYPE_MODIFIED,
        ]
        assert got[1].instance is not None
        assert got[1].instance.status == InstanceStatus.INSTANCE_STATUS_STOPPED

    @pytest.mark.off_spec(STREAMED)
    def test_only_the_namespace_by_default(self, api: ConformanceMock, client: RuneClient) -> None:
        api.post(
            rpc_url("InstanceService", "WatchInstances"),
            body=envelope({}, flag=2),
            content_type="application/connect+json",
        )
        with client.watch_instances() as stream:
            assert list(stream) == []
        assert api.calls[0].request.body[5:] == b'{"namespace":"default"}'

    @pytest.mark.off_spec(STREAMED)
    def test_an_error_end_raises_stream_error(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(
            rpc_url("InstanceService", "WatchInstances"),
            body=envelope({"instance": instance(), "eventType": "EVENT_TYPE_ADDED"})
            + envelope({"error": {"code": "unavailable", "message": "store closed"}}, flag=2),
            content_type="application/connect+json",
        )
        with client.watch_instances() as stream:
            first = next(stream)
            with pytest.raises(StreamError, match="store closed") as info:
                next(stream)
        assert first.instance is not None and first.instance.name == "api-1"
        assert "[unavailable]" in str(info.value)

    def test_rest_has_no_watch(self, api: ConformanceMock, rest: RuneClient) -> None:
        with pytest.raises(InvalidArgumentError, match="Connect server stream"):
            rest.watch_instances()
        assert len(api.calls) == 0


# -- get_health -------------------------------------------------------------------------


def component(name: str, status: str, **fields: Any) -> dict[str, Any]:
    data = {
        "componentType": "service",
        "id": f"svc-{name}",
        "name": name,
        "namespace": "default",
        "status": status,
        "message": "All instances running",
        "timestamp": "2025-11-07T10:00:00Z",
        "checkResults": [],
    }
    data.update(fields)
    return data


class TestGetHealth:
    def test_connect(self, api: ConformanceMock, client: RuneClient) -> None:
        check = {
            "type": "HEALTH_CHECK_TYPE_LIVENESS",
            "status": "HEALTH_STATUS_HEALTHY",
            "message": "status=Running",
            "timestamp": "2025-11-07T10:00:00Z",
            "consecutiveSuccesses": 1,
            "consecutiveFailures": 0,
        }
        reply = {
            "components": [
                component("api", "HEALTH_STATUS_HEALTHY", checkResults=[check]),
                component("db", "HEALTH_STATUS_DEGRADED"),
            ],
            "status": {"code": 0, "message": "Retrieved health for 2 services", "details": []},
        }
        api.post(rpc_url("HealthService", "GetHealth"), json=reply)
        got = client.get_health("service", namespace="prod", include_checks=True)
        assert_connect(api.calls[0], "HealthService", "GetHealth")
        assert body(api.calls[0]) == {
            "componentType": "service",
            "namespace": "prod",
            "includeChecks": True,
        }
        assert all(isinstance(c, ComponentHealth) for c in got)
        assert [(c.name, c.status) for c in got] == [
            ("api", HealthStatus.HEALTH_STATUS_HEALTHY),
            ("db", HealthStatus.HEALTH_STATUS_DEGRADED),
        ]
        assert got[0].check_results is not None
        assert got[0].check_results[0].consecutive_successes == 1

    def test_connect_one_component_without_checks(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(
            rpc_url("HealthService", "GetHealth"),
            json={"components": [component("api", "HEALTH_STATUS_HEALTHY")], "status": OK},
        )
        client.get_health("service", name="api")
        assert body(api.calls[0]) == {
            "componentType": "service",
            "name": "api",
            "namespace": "default",
        }

    def test_rest_query(self, api: ConformanceMock, rest: RuneClient) -> None:
        url = f"{REST}/namespaces/prod/health"
        api.get(url, json={"components": [component("i-1", "HEALTH_STATUS_UNHEALTHY")]})
        api.get(url, json={"components": []})
        got = rest.get_health("instance", name="i-1", namespace="prod", include_checks=True)
        rest.get_health("node", namespace="prod")
        assert_rest(api.calls[0], "GET", url)
        assert query(api.calls[0]) == {
            "componentType": ["instance"],
            "name": ["i-1"],
            "includeChecks": ["true"],
        }
        assert query(api.calls[1]) == {"componentType": ["node"]}
        assert got[0].status == HealthStatus.HEALTH_STATUS_UNHEALTHY

    def test_an_unknown_component_type_is_the_servers_bad_request(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(
            rpc_url("HealthService", "GetHealth"),
            json=connect_error("invalid_argument", "unknown component type: disk"),
            status=400,
        )
        with pytest.raises(BadRequestError, match="unknown component type: disk"):
            client.get_health("disk")

    @pytest.mark.parametrize(
        ("args", "kwargs", "message"),
        [
            (("",), {}, "component_type must not be empty"),
            ((None,), {}, "component_type must be a string"),
            (("service",), {"name": ""}, "name must not be empty"),
            (("service",), {"namespace": ""}, "namespace must not be empty"),
            (("service",), {"include_checks": 1}, "include_checks must be True or False"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        both: RuneClient,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            both.get_health(*args, **kwargs)
        assert len(api.calls) == 0


def test_reads_are_retried_on_both_wires(api: ConformanceMock) -> None:
    """Get/List RPCs are POSTs over Connect, yet safe to repeat (`read=True`)."""
    for transport in ("connect", "rest"):
        with RuneClient(BASE_URL, token=TOKEN, transport=transport, max_retries=1) as c:
            c._transport.sleep = lambda _: None
            if transport == "connect":
                url = rpc_url("InstanceService", "ListInstances")
                api.post(url, json=connect_error("unavailable", "busy"), status=503)
                api.post(url, json={"instances": [instance()], "status": OK})
            else:
                url = f"{REST}/namespaces/default/instances"
                api.get(url, json={"code": 14, "message": "busy", "details": []}, status=503)
                api.get(url, json={"instances": [instance()], "status": OK})
            assert len(c.list_instances()) == 1
    assert len(api.calls) == 4
