"""Rune secrets and configmaps on both wires; secret values never reach logs or errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from controldeck._generated.rune import Configmap, Secret, Status
from controldeck.errors import (
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, REST, TOKEN, connect_error, rpc_url

VALUE = "hunter2-very-secret-value"
OTHER = "second-secret-value-42"
OK = {"code": 0, "message": "", "details": []}


def secret(name: str = "db", namespace: str = "default", **fields: Any) -> dict[str, Any]:
    """A `Secret` as runed writes it (values in clear text: proto comment "MVP")."""
    data: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "type": "static",
        "data": {"password": VALUE},
        "version": 1,
        "createdAt": "2025-11-07T10:00:00Z",
        "updatedAt": "2025-11-07T10:00:00Z",
    }
    data.update(fields)
    return data


def configmap(name: str = "settings", namespace: str = "default", **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "data": {"LOG_LEVEL": "info"},
        "version": 1,
        "createdAt": "2025-11-07T10:00:00Z",
        "updatedAt": "2025-11-07T10:00:00Z",
    }
    data.update(fields)
    return data


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def check_request(call: Any, transport: str, method: str, url: str) -> None:
    """The method, URL and headers of one call on either wire."""
    request = call.request
    assert request.headers["Authorization"] == AUTH
    if transport == "connect":
        assert (request.method, request.url) == ("POST", url)
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Connect-Protocol-Version"] == "1"
        assert request.headers["Connect-Timeout-Ms"] == "60000"
    else:
        assert (request.method, request.url) == (method, url)
        assert "Connect-Protocol-Version" not in request.headers


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    return caplog


# -- secrets ----------------------------------------------------------------------------


class TestCreateSecret:
    def test_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"secret": secret(namespace="prod"), "status": OK}
        if both.transport == "connect":
            url = rpc_url("SecretService", "CreateSecret")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/prod/secrets"
            api.post(url, json=reply)
        got = both.create_secret("db", {"password": VALUE}, "prod", ensure_namespace=True)
        check_request(api.calls[0], both.transport, "POST", url)
        assert body(api.calls[0]) == {
            "secret": {
                "name": "db",
                "namespace": "prod",
                "type": "static",
                "data": {"password": VALUE},
            },
            "ensureNamespace": True,
        }
        assert isinstance(got, Secret)
        assert (got.name, got.namespace, got.version) == ("db", "prod", 1)
        assert got.data == {"password": VALUE}
        assert VALUE not in repr(got)

    def test_defaults_leave_ensure_namespace_out(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(rpc_url("SecretService", "CreateSecret"), json={"secret": secret()})
        client.create_secret("db", {}, type="opaque")
        assert body(api.calls[0]) == {
            "secret": {"name": "db", "namespace": "default", "type": "opaque", "data": {}}
        }

    def test_a_missing_namespace_is_a_failed_precondition(
        self, api: ConformanceMock, both: RuneClient
    ) -> None:
        message = "failed to ensure namespace exists: namespace nope not found"
        if both.transport == "connect":
            api.post(
                rpc_url("SecretService", "CreateSecret"),
                json=connect_error("failed_precondition", message),
                status=400,
            )
        else:
            api.post(
                f"{REST}/namespaces/nope/secrets",
                json={"code": 9, "message": message, "details": []},
                status=400,
            )
        with pytest.raises(PreconditionFailedError, match="namespace nope not found"):
            both.create_secret("db", {"password": VALUE}, "nope")

    @pytest.mark.parametrize(
        ("args", "kwargs", "message"),
        [
            (("", {}), {}, "name must not be empty"),
            (("db", [("k", "v")]), {}, "data must be a mapping of strings to strings, got list"),
            (("db", {"": "v"}), {}, "data keys must be non-empty strings"),
            (("db", {1: "v"}), {}, "data keys must be non-empty strings"),
            (("db", {"k": 1}), {}, r"data\['k'\] must be a string, got int"),
            (("db", {}, ""), {}, "namespace must not be empty"),
            (("db", {}), {"type": ""}, "type must not be empty"),
            (("db", {}), {"ensure_namespace": "yes"}, "ensure_namespace must be True or False"),
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
            both.create_secret(*args, **kwargs)
        assert len(api.calls) == 0

    def test_a_bad_value_is_not_echoed(self, api: ConformanceMock, client: RuneClient) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            client.create_secret("db", {"password": b"raw-bytes-secret"})  # type: ignore[dict-item]
        assert "raw-bytes-secret" not in str(info.value)


class TestGetSecret:
    def test_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"secret": secret(version=3), "status": OK}
        if both.transport == "connect":
            url = rpc_url("SecretService", "GetSecret")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/default/secrets/db"
            api.get(url, json=reply)
        got = both.get_secret("db")
        check_request(api.calls[0], both.transport, "GET", url)
        if both.transport == "connect":
            assert body(api.calls[0]) == {"name": "db", "namespace": "default"}
        else:
            assert api.calls[0].request.body is None
        assert got.version == 3 and got.data == {"password": VALUE}

    def test_not_found_and_rate_limit(self, api: ConformanceMock, client: RuneClient) -> None:
        url = rpc_url("SecretService", "GetSecret")
        api.post(url, json=connect_error("not_found", "get: secret not found"), status=404)
        api.post(url, json=connect_error("resource_exhausted", "rate limit exceeded"), status=429)
        with pytest.raises(NotFoundError, match="secret not found"):
            client.get_secret("gone")
        with pytest.raises(RateLimitError, match="rate limit exceeded") as info:
            client.get_secret("db", max_retries=0)
        assert info.value.code == "resource_exhausted"

    def test_bad_arguments_send_nothing(self, api: ConformanceMock, both: RuneClient) -> None:
        with pytest.raises(InvalidArgumentError, match="name must not be empty"):
            both.get_secret("")
        with pytest.raises(InvalidArgumentError, match="namespace must be a string"):
            both.get_secret("db", 3)  # type: ignore[arg-type]
        assert len(api.calls) == 0


class TestUpdateSecret:
    def test_both_wires_send_the_type_too(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"secret": secret(data={"password": OTHER}, version=2), "status": OK}
        if both.transport == "connect":
            url = rpc_url("SecretService", "UpdateSecret")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/default/secrets/db"
            api.put(url, json=reply)
        got = both.update_secret("db", {"password": OTHER})
        check_request(api.calls[0], both.transport, "PUT", url)
        # runed stores the request's type: without it the secret would lose "static".
        assert body(api.calls[0]) == {
            "secret": {
                "name": "db",
                "namespace": "default",
                "type": "static",
                "data": {"password": OTHER},
            }
        }
        assert got.version == 2

    def test_not_found(self, api: ConformanceMock, rest: RuneClient) -> None:
        api.put(
            f"{REST}/namespaces/prod/secrets/db",
            json={"code": 5, "message": "secret not found: prod/db", "details": []},
            status=404,
        )
        with pytest.raises(NotFoundError, match="secret not found: prod/db"):
            rest.update_secret("db", {"password": OTHER}, "prod")


class TestDeleteSecret:
    def test_both_wires_return_the_status(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"code": 0, "message": "deleted", "details": ["db"]}
        if both.transport == "connect":
            url = rpc_url("SecretService", "DeleteSecret")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/prod/secrets/db"
            api.delete(url, json=reply)
        got = both.delete_secret("db", "prod")
        check_request(api.calls[0], both.transport, "DELETE", url)
        if both.transport == "connect":
            assert body(api.calls[0]) == {"name": "db", "namespace": "prod"}
        assert isinstance(got, Status)
        assert (got.code, got.message, got.details) == (0, "deleted", ["db"])

    def test_runed_reports_a_missing_secret_as_internal(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        api.post(
            rpc_url("SecretService", "DeleteSecret"),
            json=connect_error("internal", "delete: not found"),
            status=500,
        )
        with pytest.raises(InternalServerError, match="delete: not found"):
            client.delete_secret("gone")
        assert len(api.calls) == 1  # a delete is not retried


class TestListSecrets:
    def test_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"secrets": [secret("a"), secret("b", data={"k": OTHER})], "status": OK}
        if both.transport == "connect":
            url = rpc_url("SecretService", "ListSecrets")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/default/secrets"
            api.get(url, json=reply)
        got = both.list_secrets()
        check_request(api.calls[0], both.transport, "GET", url)
        if both.transport == "connect":
            assert body(api.calls[0]) == {"namespace": "default"}
        assert [s.name for s in got] == ["a", "b"]
        assert all(isinstance(s, Secret) for s in got)
        assert OTHER not in repr(got)

    def test_a_missing_list_is_empty(self, api: ConformanceMock, client: RuneClient) -> None:
        api.post(rpc_url("SecretService", "ListSecrets"), json={"status": OK})
        assert client.list_secrets("empty") == []


class TestSecretValuesStayHidden:
    def test_debug_logs_show_no_value(
        self, api: ConformanceMock, both: RuneClient, debug_log: pytest.LogCaptureFixture
    ) -> None:
        reply = {"secret": secret(data={"password": VALUE, "token": OTHER}), "status": OK}
        if both.transport == "connect":
            api.post(rpc_url("SecretService", "CreateSecret"), json=reply)
            api.post(rpc_url("SecretService", "UpdateSecret"), json=reply)
            api.post(rpc_url("SecretService", "GetSecret"), json=reply)
        else:
            api.post(f"{REST}/namespaces/default/secrets", json=reply)
            api.put(f"{REST}/namespaces/default/secrets/db", json=reply)
            api.get(f"{REST}/namespaces/default/secrets/db", json=reply)
        both.create_secret("db", {"password": VALUE, "token": OTHER})
        both.update_secret("db", {"password": VALUE, "token": OTHER})
        got = both.get_secret("db")
        assert got.data == {"password": VALUE, "token": OTHER}
        text = debug_log.text
        assert "request" in text and "response" in text  # the bodies were logged...
        assert VALUE not in text and OTHER not in text  # ...masked
        assert TOKEN not in text

    def test_an_error_reply_echoing_a_value_is_masked(
        self, api: ConformanceMock, both: RuneClient, debug_log: pytest.LogCaptureFixture
    ) -> None:
        message = f"invalid secret value {VALUE!r}"
        if both.transport == "connect":
            api.post(
                rpc_url("SecretService", "UpdateSecret"),
                json=connect_error("invalid_argument", message),
                status=400,
            )
        else:
            api.put(
                f"{REST}/namespaces/default/secrets/db",
                json={"code": 3, "message": message, "details": []},
                status=400,
            )
        with pytest.raises(Exception) as info:
            both.update_secret("db", {"password": VALUE})
        error = info.value
        assert "invalid secret value" in str(error)
        assert VALUE not in str(error) and VALUE not in repr(error)
        assert VALUE not in getattr(error, "body_excerpt", "")
        assert VALUE not in debug_log.text


# -- configmaps -------------------------------------------------------------------------


class TestConfigmaps:
    def test_create_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"configmap": configmap(namespace="prod"), "status": OK}
        if both.transport == "connect":
            url = rpc_url("ConfigmapService", "CreateConfigmap")
        else:
            url = f"{REST}/namespaces/prod/configmaps"
        api.post(url, json=reply)
        got = both.create_configmap(
            "settings", {"LOG_LEVEL": "info"}, "prod", ensure_namespace=True
        )
        check_request(api.calls[0], both.transport, "POST", url)
        assert body(api.calls[0]) == {
            "configmap": {"name": "settings", "namespace": "prod", "data": {"LOG_LEVEL": "info"}},
            "ensureNamespace": True,
        }
        assert isinstance(got, Configmap)
        assert (got.name, got.version, got.data) == ("settings", 1, {"LOG_LEVEL": "info"})

    def test_create_defaults(self, api: ConformanceMock, client: RuneClient) -> None:
        api.post(rpc_url("ConfigmapService", "CreateConfigmap"), json={"configmap": configmap()})
        client.create_configmap("settings", {"A": ""})
        assert body(api.calls[0]) == {
            "configmap": {"name": "settings", "namespace": "default", "data": {"A": ""}}
        }

    def test_get_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"configmap": configmap(version=4), "status": OK}
        if both.transport == "connect":
            url = rpc_url("ConfigmapService", "GetConfigmap")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/default/configmaps/settings"
            api.get(url, json=reply)
        got = both.get_configmap("settings")
        check_request(api.calls[0], both.transport, "GET", url)
        if both.transport == "connect":
            assert body(api.calls[0]) == {"name": "settings", "namespace": "default"}
        assert got.version == 4

    def test_update_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"configmap": configmap(data={"LOG_LEVEL": "debug"}, version=2), "status": OK}
        if both.transport == "connect":
            url = rpc_url("ConfigmapService", "UpdateConfigmap")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/prod/configmaps/settings"
            api.put(url, json=reply)
        got = both.update_configmap("settings", {"LOG_LEVEL": "debug"}, "prod")
        check_request(api.calls[0], both.transport, "PUT", url)
        assert body(api.calls[0]) == {
            "configmap": {"name": "settings", "namespace": "prod", "data": {"LOG_LEVEL": "debug"}}
        }
        assert (got.version, got.data) == (2, {"LOG_LEVEL": "debug"})

    def test_delete_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        if both.transport == "connect":
            url = rpc_url("ConfigmapService", "DeleteConfigmap")
            api.post(url, json=OK)
        else:
            url = f"{REST}/namespaces/default/configmaps/settings"
            api.delete(url, json=OK)
        got = both.delete_configmap("settings")
        check_request(api.calls[0], both.transport, "DELETE", url)
        if both.transport == "connect":
            assert body(api.calls[0]) == {"name": "settings", "namespace": "default"}
        assert isinstance(got, Status) and got.code == 0

    def test_list_both_wires(self, api: ConformanceMock, both: RuneClient) -> None:
        reply = {"configmaps": [configmap("a"), configmap("b")], "status": OK}
        if both.transport == "connect":
            url = rpc_url("ConfigmapService", "ListConfigmaps")
            api.post(url, json=reply)
        else:
            url = f"{REST}/namespaces/prod/configmaps"
            api.get(url, json=reply)
        got = both.list_configmaps("prod")
        check_request(api.calls[0], both.transport, "GET", url)
        if both.transport == "connect":
            assert body(api.calls[0]) == {"namespace": "prod"}
        assert [c.name for c in got] == ["a", "b"]

    def test_not_found(self, api: ConformanceMock, both: RuneClient) -> None:
        message = "config not found: default/settings"
        if both.transport == "connect":
            api.post(
                rpc_url("ConfigmapService", "UpdateConfigmap"),
                json=connect_error("not_found", message),
                status=404,
            )
        else:
            api.put(
                f"{REST}/namespaces/default/configmaps/settings",
                json={"code": 5, "message": message, "details": []},
                status=404,
            )
        with pytest.raises(NotFoundError, match="config not found"):
            both.update_configmap("settings", {})

    @pytest.mark.parametrize(
        ("method", "args", "message"),
        [
            ("create_configmap", ("", {}), "name must not be empty"),
            ("create_configmap", ("s", None), "data must be a mapping"),
            ("update_configmap", ("s", {"k": None}), r"data\['k'\] must be a string"),
            ("get_configmap", ("s", ""), "namespace must not be empty"),
            ("delete_configmap", (None,), "name must be a string"),
            ("list_configmaps", ("",), "namespace must not be empty"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        both: RuneClient,
        method: str,
        args: tuple[Any, ...],
        message: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            getattr(both, method)(*args)
        assert len(api.calls) == 0
