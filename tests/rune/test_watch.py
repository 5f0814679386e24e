"""The Connect server streams of NamespaceService and ServiceService: the request envelope
byte for byte and its headers, decoded events, a clean end, an end-of-stream error, the
WatchScaling stream ending at `complete`, and the REST transport refusing before sending.

Envelopes split across reads are the core's decoder's job (tests/core); here each reply
body is whole."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controldeck.errors import (
    AuthenticationError,
    InvalidArgumentError,
    ResponseValidationError,
    StreamError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, envelope, rpc_url

CONNECT_JSON = "application/connect+json"
END = envelope({}, flag=2)

NAMESPACE = {
    "id": "ns-1",
    "name": "staging",
    "description": "",
    "labels": {"team": "web"},
    "createdAt": "1730937600",
    "updatedAt": "1730937600",
}
SERVICE: dict[str, Any] = {
    "id": "svc-1",
    "name": "api",
    "namespace": "default",
    "labels": {},
    "image": "nginx:1.27",
    "command": "",
    "args": [],
    "env": {},
    "envFrom": [],
    "scale": 2,
    "ports": [],
    "resources": None,
    "health": None,
    "status": "SERVICE_STATUS_RUNNING",
    "runtime": "container",
    "process": None,
    "restartPolicy": "RESTART_POLICY_UNSPECIFIED",
    "secretMounts": [],
    "configmapMounts": [],
    "metadata": None,
    "dependencies": [],
    "expose": None,
}
OK = {"code": 0, "message": "", "details": []}


def stream_reply(api: ConformanceMock, service: str, method: str, *frames: bytes) -> None:
    api.post(rpc_url(service, method), body=b"".join(frames), content_type=CONNECT_JSON)


def sent_envelope(api: ConformanceMock, message: dict[str, Any]) -> None:
    """The one request was a Connect stream request carrying exactly `message`."""
    (call,) = api.calls
    request = call.request
    assert request.method == "POST"
    assert request.headers["Content-Type"] == CONNECT_JSON
    assert request.headers["Connect-Protocol-Version"] == "1"
    assert request.headers["Authorization"] == AUTH
    payload = json.dumps(message, separators=(",", ":")).encode()
    # Flag 0, a 4-byte big-endian length, compact camelCase JSON: nothing else.
    assert request.body == b"\x00" + len(payload).to_bytes(4, "big") + payload


def event(kind: str, service: dict[str, Any]) -> dict[str, Any]:
    return {"service": service, "eventType": f"EVENT_TYPE_{kind}", "status": OK}


# -- watch_services ------------------------------------------------------------------------


def test_watch_services_decodes_every_event_and_ends_cleanly(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "ServiceService",
        "WatchServices",
        envelope(event("ADDED", SERVICE)),
        envelope(event("MODIFIED", {**SERVICE, "scale": 3})),
        envelope(event("DELETED", SERVICE)),
        END,
    )

    with client.watch_services() as events:
        seen = [(e.event_type, e.service.name, e.service.scale) for e in events if e.service]
        assert events.closed

    assert seen == [
        ("EVENT_TYPE_ADDED", "api", 2),
        ("EVENT_TYPE_MODIFIED", "api", 3),
        ("EVENT_TYPE_DELETED", "api", 2),
    ]
    sent_envelope(api, {"namespace": "default"})


def test_watch_services_in_every_namespace_with_selectors(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(api, "ServiceService", "WatchServices", END)

    with client.watch_services(
        "*", label_selector={"app": "api"}, field_selector={"name": "api"}
    ) as s:
        assert list(s) == []

    sent_envelope(
        api, {"namespace": "*", "labelSelector": {"app": "api"}, "fieldSelector": {"name": "api"}}
    )


def test_an_end_of_stream_with_metadata_only_is_a_clean_end(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "ServiceService",
        "WatchServices",
        envelope(event("ADDED", SERVICE)),
        envelope({"metadata": {"x-request-id": ["r-1"]}}, flag=2),
    )
    assert [e.event_type for e in client.watch_services()] == ["EVENT_TYPE_ADDED"]


def test_an_end_of_stream_error_raises_stream_error_with_the_code_and_message(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "ServiceService",
        "WatchServices",
        envelope(event("ADDED", SERVICE)),
        envelope({"error": {"code": "not_found", "message": "namespace nope not found"}}, flag=2),
    )

    events = client.watch_services("nope")
    first = next(events)
    assert first.service is not None and first.service.name == "api"
    with pytest.raises(StreamError, match="namespace nope not found") as info:
        next(events)

    assert info.value.code == "not_found"
    assert events.closed


def test_an_end_of_stream_error_with_a_numeric_code_is_mapped(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "ServiceService",
        "WatchServices",
        envelope({"error": {"code": 7, "message": "access denied for resource: services"}}, flag=2),
    )
    with pytest.raises(StreamError, match="access denied") as info:
        list(client.watch_services())
    assert info.value.code == "permission_denied"


def test_a_body_cut_before_the_end_of_stream_is_a_stream_error(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(api, "ServiceService", "WatchServices", envelope(event("ADDED", SERVICE)))
    events = client.watch_services()
    next(events)
    with pytest.raises(StreamError):
        next(events)


def test_a_message_that_is_not_an_event_is_a_controldeck_error(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "ServiceService",
        "WatchServices",
        envelope({"service": {"name": 5}, "eventType": "EVENT_TYPE_ADDED"}),
        END,
    )
    with pytest.raises(ResponseValidationError):
        list(client.watch_services())


def test_a_refused_stream_raises_when_opened(api: ConformanceMock, client: RuneClient) -> None:
    # The dashboard's access gate answers before the stream starts, in plain text.
    api.post(
        rpc_url("ServiceService", "WatchServices"),
        body="invalid bearer token",
        status=401,
        content_type="text/plain",
    )
    with pytest.raises(AuthenticationError, match="invalid bearer token"):
        client.watch_services()


# -- watch_namespaces ----------------------------------------------------------------------


def test_watch_namespaces_sends_an_empty_message_and_decodes_events(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "NamespaceService",
        "WatchNamespaces",
        envelope({"namespace": NAMESPACE, "eventType": "EVENT_TYPE_ADDED", "status": OK}),
        envelope({"namespace": {**NAMESPACE, "labels": {}}, "eventType": "EVENT_TYPE_MODIFIED"}),
        END,
    )

    with client.watch_namespaces() as events:
        seen = [(e.event_type, e.namespace) for e in events]

    assert [(kind, ns.name, ns.labels, ns.created_at) for kind, ns in seen if ns] == [
        ("EVENT_TYPE_ADDED", "staging", {"team": "web"}, 1730937600),
        ("EVENT_TYPE_MODIFIED", "staging", {}, 1730937600),
    ]
    (call,) = api.calls
    assert call.request.body == b"\x00\x00\x00\x00\x02{}"
    sent_envelope(api, {})


def test_watch_namespaces_with_a_label_selector(api: ConformanceMock, client: RuneClient) -> None:
    stream_reply(api, "NamespaceService", "WatchNamespaces", END)
    assert list(client.watch_namespaces(label_selector={"team": "web"})) == []
    sent_envelope(api, {"labelSelector": {"team": "web"}})


# -- watch_scaling -------------------------------------------------------------------------


def progress(running: int, pending: int, complete: bool) -> dict[str, Any]:
    return {
        "currentScale": 3,
        "targetScale": 3,
        "runningInstances": running,
        "pendingInstances": pending,
        "complete": complete,
        "status": {"code": 0, "message": "Service 'api' scaling progress", "details": []},
    }


def test_watch_scaling_ends_after_the_complete_message(
    api: ConformanceMock, client: RuneClient
) -> None:
    # runed sends `complete` twice before it ends the stream; the caller needs only one.
    stream_reply(
        api,
        "ServiceService",
        "WatchScaling",
        envelope(progress(1, 2, False)),
        envelope(progress(3, 0, True)),
        envelope(progress(3, 0, True)),
        END,
    )

    with client.watch_scaling("api", 3) as steps:
        seen = [(s.running_instances, s.pending_instances, s.complete) for s in steps]
        assert steps.closed

    assert seen == [(1, 2, False), (3, 0, True)]
    sent_envelope(api, {"serviceName": "api", "namespace": "default", "targetScale": 3})


def test_watch_scaling_of_a_missing_service_raises_not_found(
    api: ConformanceMock, client: RuneClient
) -> None:
    stream_reply(
        api,
        "ServiceService",
        "WatchScaling",
        envelope(
            {"error": {"code": "not_found", "message": "service not found: prod/api"}}, flag=2
        ),
    )
    with pytest.raises(StreamError, match="service not found: prod/api") as info:
        list(client.watch_scaling("api", 0, "prod"))
    assert info.value.code == "not_found"
    sent_envelope(api, {"serviceName": "api", "namespace": "prod", "targetScale": 0})


# -- what is refused before sending --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("watch_services", ()),
        ("watch_namespaces", ()),
        ("watch_scaling", ("api", 3)),
    ],
)
def test_the_rest_transport_has_no_watch_routes(
    api: ConformanceMock, rest: RuneClient, method: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(InvalidArgumentError, match="Connect server stream"):
        getattr(rest, method)(*args)
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.watch_services(""), "namespace must not be empty"),
        (lambda c: c.watch_services(label_selector={"a": 1}), "label_selector must map"),
        (lambda c: c.watch_namespaces(field_selector="name=x"), "field_selector must be a"),
        (lambda c: c.watch_scaling("", 1), "name must not be empty"),
        (lambda c: c.watch_scaling("api", -1), "target_scale must be between 0"),
        (lambda c: c.watch_scaling("api", "3"), "target_scale must be an integer"),
    ],
)
def test_bad_watch_arguments_send_nothing(
    api: ConformanceMock, client: RuneClient, call: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        call(client)
    assert len(api.calls) == 0
