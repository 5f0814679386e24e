"""Namespaces on both wires: exact requests (Connect path, headers and camelCase body; REST
method, path and query), decoded replies (int64 strings to int), errors and bad arguments."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from controldeck._generated.rune import Status
from controldeck.errors import (
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, BASE_URL, connect_error, rpc_url

NAMESPACE = {
    "id": "4f9c1e2a-0b7d-4c55-9a43-2f1d7c3e8b10",
    "name": "staging",
    "description": "Staging services",
    "labels": {"team": "web"},
    "createdAt": "1730937600",
    "updatedAt": "1730937700",
}
STATUS_OK = {"code": 0, "message": "", "details": []}


def expect(
    api: ConformanceMock,
    client: RuneClient,
    rpc: str,
    rest: tuple[str, str],
    *,
    json: Any = None,
    status: int = 200,
) -> None:
    """Register the reply of one call on the client's wire."""
    if client.transport == "connect":
        api.post(rpc_url("NamespaceService", rpc), json=json, status=status)
    else:
        api.add(rest[0], f"{BASE_URL}{rest[1]}", json=json, status=status)


def sent(
    api: ConformanceMock,
    client: RuneClient,
    body: dict[str, Any],
    *,
    query: dict[str, str] | None = None,
    rest_body: bool = False,
) -> None:
    """The one request sent carried `body` (Connect, or a REST POST/PUT) and `query` (REST)."""
    (call,) = api.calls
    request = call.request
    assert request.headers["Authorization"] == AUTH
    if client.transport == "connect":
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Connect-Protocol-Version"] == "1"
        assert request.headers["Connect-Timeout-Ms"] == "60000"
        assert urlsplit(request.url).query == ""
        assert json.loads(request.body) == body
    else:
        assert "Connect-Protocol-Version" not in request.headers
        assert dict(parse_qsl(urlsplit(request.url).query)) == (query or {})
        if rest_body:
            assert request.headers["Content-Type"] == "application/json"
            assert json.loads(request.body) == body
        else:
            assert request.body is None


# -- create --------------------------------------------------------------------------------


def test_create_namespace_sends_the_given_fields_and_returns_the_namespace(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect(
        api,
        both,
        "CreateNamespace",
        ("POST", "/v1/namespaces"),
        json={"namespace": NAMESPACE, "status": STATUS_OK},
    )

    ns = both.create_namespace("staging", description="Staging services", labels={"team": "web"})

    sent(
        api,
        both,
        {
            "namespace": {
                "name": "staging",
                "description": "Staging services",
                "labels": {"team": "web"},
            }
        },
        rest_body=True,
    )
    assert api.calls[0].request.method == "POST"
    assert (ns.id, ns.name, ns.description, ns.labels) == (
        NAMESPACE["id"],
        "staging",
        "Staging services",
        {"team": "web"},
    )
    # int64 fields arrive as protojson strings and are ints in Python.
    assert (ns.created_at, ns.updated_at) == (1730937600, 1730937700)


def test_create_namespace_with_only_a_name_sends_only_the_name(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(rpc_url("NamespaceService", "CreateNamespace"), json={"namespace": NAMESPACE})
    client.create_namespace("staging")
    sent(api, client, {"namespace": {"name": "staging"}})


def test_a_duplicate_namespace_is_an_error_with_the_servers_message(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(
        rpc_url("NamespaceService", "CreateNamespace"),
        json=connect_error("already_exists", "namespace staging already exists"),
        status=409,
    )
    with pytest.raises(ConflictError, match="namespace staging already exists") as info:
        client.create_namespace("staging")
    assert info.value.status_code == 409


def test_a_reply_without_the_namespace_is_a_response_validation_error(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(rpc_url("NamespaceService", "CreateNamespace"), json={"status": STATUS_OK})
    with pytest.raises(ResponseValidationError, match="no 'namespace'") as info:
        client.create_namespace("staging")
    assert info.value.path == "$.namespace"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "name must not be empty"),
        ({"name": 7}, "name must be a string"),
        ({"name": "a", "labels": {"team": 1}}, "labels must map strings to strings"),
        ({"name": "a", "labels": ["team"]}, "labels must be a mapping"),
        ({"name": "a", "description": 3}, "description must be a string"),
    ],
)
def test_create_namespace_refuses_bad_arguments_before_sending(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        both.create_namespace(**kwargs)
    assert len(api.calls) == 0


# -- get -----------------------------------------------------------------------------------


def test_get_namespace(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "GetNamespace",
        ("GET", "/v1/namespaces/staging"),
        json={"namespace": NAMESPACE, "status": STATUS_OK},
    )

    ns = both.get_namespace("staging")

    sent(api, both, {"name": "staging"})
    assert api.calls[0].request.method == ("POST" if both.transport == "connect" else "GET")
    assert (ns.name, ns.created_at) == ("staging", 1730937600)


def test_get_namespace_encodes_the_name_as_one_rest_path_segment(
    api: ConformanceMock, rest: RuneClient
) -> None:
    api.get(f"{BASE_URL}/v1/namespaces/a%2Fb", json={"namespace": NAMESPACE})
    rest.get_namespace("a/b")
    assert urlsplit(api.calls[0].request.url).path == "/v1/namespaces/a%2Fb"


def test_a_missing_namespace_is_not_found_on_either_wire(
    api: ConformanceMock, both: RuneClient
) -> None:
    # Connect names the code; the grpc-gateway convention sends the number (5 = NotFound).
    code: Any = "not_found" if both.transport == "connect" else 5
    expect(
        api,
        both,
        "GetNamespace",
        ("GET", "/v1/namespaces/nope"),
        json={"code": code, "message": "namespace not found: nope", "details": []},
        status=404,
    )
    with pytest.raises(NotFoundError, match="namespace not found: nope") as info:
        both.get_namespace("nope")
    assert info.value.code == "not_found"


def test_reads_are_retried_although_connect_sends_them_as_post(api: ConformanceMock) -> None:
    api.post(
        rpc_url("NamespaceService", "GetNamespace"),
        json=connect_error("unavailable", "store is starting"),
        status=503,
    )
    api.post(rpc_url("NamespaceService", "GetNamespace"), json={"namespace": NAMESPACE})
    with RuneClient(BASE_URL, token="t0ken-xyz", max_retries=1) as client:
        client._transport.sleep = lambda _seconds: None
        assert client.get_namespace("staging").name == "staging"
    assert len(api.calls) == 2


# -- list ----------------------------------------------------------------------------------


def test_list_namespaces_returns_the_list(api: ConformanceMock, both: RuneClient) -> None:
    other = {**NAMESPACE, "id": "ns-2", "name": "default", "labels": {}, "createdAt": "1"}
    expect(
        api,
        both,
        "ListNamespaces",
        ("GET", "/v1/namespaces"),
        json={
            "namespaces": [other, NAMESPACE],
            "status": STATUS_OK,
            "paging": {"limit": 2, "offset": 0, "continuationToken": ""},
        },
    )

    namespaces = both.list_namespaces()

    sent(api, both, {})
    assert [(n.name, n.created_at) for n in namespaces] == [
        ("default", 1),
        ("staging", 1730937600),
    ]


def test_list_namespaces_sends_selectors_on_connect(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(rpc_url("NamespaceService", "ListNamespaces"), json={"namespaces": []})
    assert (
        client.list_namespaces(label_selector={"team": "web"}, field_selector={"name": "x"}) == []
    )
    sent(api, client, {"labelSelector": {"team": "web"}, "fieldSelector": {"name": "x"}})


def test_an_empty_list_reply_is_an_empty_list(api: ConformanceMock, client: RuneClient) -> None:
    # protojson may leave an empty repeated field out, or (EmitUnpopulated) send [].
    api.post(rpc_url("NamespaceService", "ListNamespaces"), json={"status": STATUS_OK})
    assert client.list_namespaces() == []


def test_selectors_are_refused_on_rest_rather_than_dropped(
    api: ConformanceMock, rest: RuneClient
) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be sent on the REST transport"):
        rest.list_namespaces(label_selector={"team": "web"})
    assert len(api.calls) == 0


def test_list_namespaces_permission_denied(api: ConformanceMock, client: RuneClient) -> None:
    api.post(
        rpc_url("NamespaceService", "ListNamespaces"),
        json=connect_error("permission_denied", "access denied for resource: * verb: *"),
        status=403,
    )
    with pytest.raises(PermissionDeniedError, match="access denied for resource"):
        client.list_namespaces()


# -- delete --------------------------------------------------------------------------------


def test_delete_namespace_sends_no_flags_by_default(api: ConformanceMock, both: RuneClient) -> None:
    expect(
        api,
        both,
        "DeleteNamespace",
        ("DELETE", "/v1/namespaces/staging"),
        json={"status": {"code": 0, "message": "namespace staging deleted", "details": []}},
    )

    status = both.delete_namespace("staging")

    sent(api, both, {"name": "staging"})
    assert status.message == "namespace staging deleted"


def test_delete_namespace_sends_the_flags_given(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, "DeleteNamespace", ("DELETE", "/v1/namespaces/staging"), json={})

    status = both.delete_namespace("staging", ignore_not_found=True, force=True)

    sent(
        api,
        both,
        {"name": "staging", "ignoreNotFound": True, "force": True},
        query={"ignoreNotFound": "true", "force": "true"},
    )
    assert status == Status()  # no status in the reply: an empty one


def test_deleting_a_namespace_that_still_holds_services_is_a_bad_request(
    api: ConformanceMock, client: RuneClient
) -> None:
    api.post(
        rpc_url("NamespaceService", "DeleteNamespace"),
        json=connect_error("invalid_argument", "namespace staging is not empty"),
        status=400,
    )
    with pytest.raises(BadRequestError, match="is not empty"):
        client.delete_namespace("staging")


@pytest.mark.parametrize("flag", ["ignore_not_found", "force"])
def test_delete_namespace_flags_must_be_bools(
    api: ConformanceMock, both: RuneClient, flag: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=f"{flag} must be True or False"):
        both.delete_namespace("staging", **{flag: "yes"})
    assert len(api.calls) == 0
