"""RuneClient itself: construction, the Connect headers, the error-code table, the probes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from controldeck.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    StreamError,
)
from controldeck.rune import RuneClient
from controldeck.rune._errors import code_name, parse_rune_error, raise_stream_end
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, BASE_URL, REST, TOKEN, connect_error, rpc_url

SERVICE_REPLY: dict[str, Any] = {
    "service": {"name": "api", "namespace": "default", "image": "nginx:1.27", "scale": 2},
    "status": {"code": 0, "message": "", "details": []},
}


class TestConstruction:
    def test_defaults(self) -> None:
        with RuneClient() as rune:
            assert rune.base_url == "http://localhost:7861"
            assert (rune.transport, rune.connect_prefix) == ("connect", "/grpc")
            assert repr(rune) == "RuneClient(base_url='http://localhost:7861', transport='connect')"

    def test_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNE_BASE_URL", "http://rune.example:7861")
        monkeypatch.setenv("RUNE_TOKEN", "env-token")
        with RuneClient() as rune:
            assert rune.base_url == "http://rune.example:7861"
            assert rune._auth.token == "env-token"
            assert "env-token" not in repr(rune)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"base_url": "localhost:7861"}, "http"),
            ({"transport": "grpc2"}, "transport must be"),
            ({"transport": "grpc", "grpc_target": "http://x:1"}, "grpc_target"),
            ({"connect_prefix": "grpc"}, "connect_prefix"),
            ({"connect_prefix": "/grpc/"}, "connect_prefix"),
            ({"token": "two words"}, "whitespace"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            RuneClient(**kwargs)

    def test_a_call_without_a_token_fails_before_sending(self, api: ConformanceMock) -> None:
        with RuneClient(BASE_URL) as rune, pytest.raises(InvalidArgumentError, match="RUNE_TOKEN"):
            rune.get_service("api")
        assert len(api.calls) == 0


class TestConnectHeaders:
    def test_unary_headers_and_timeout(self, api: ConformanceMock) -> None:
        api.post(rpc_url("ServiceService", "GetService"), json=SERVICE_REPLY)
        with RuneClient(BASE_URL, TOKEN, timeout=(3, 12.5)) as rune:
            rune.get_service("api")
            rune.get_service("api", timeout=2)
            rune.get_service("api", deadline=0.75)
        first, per_call, deadline = (c.request for c in api.calls)
        assert first.headers["Connect-Protocol-Version"] == "1"
        assert first.headers["Content-Type"] == "application/json"
        assert first.headers["Authorization"] == AUTH
        assert first.headers["Connect-Timeout-Ms"] == "12500"
        assert per_call.headers["Connect-Timeout-Ms"] == "2000"
        assert deadline.headers["Connect-Timeout-Ms"] == "750"
        assert json.loads(first.body or b"") == {"name": "api", "namespace": "default"}

    def test_a_custom_prefix(self, api: ConformanceMock) -> None:
        # A gateway build serving the RPCs at the root: `connect_prefix=""`.
        url = f"{BASE_URL}/rune.api.ServiceService/GetService"
        with responses.RequestsMock() as mock:
            mock.post(url, json=SERVICE_REPLY)
            with RuneClient(BASE_URL, TOKEN, connect_prefix="") as rune:
                assert rune.get_service("api").name == "api"
            assert mock.calls[0].request.url == url

    def test_caller_headers_are_kept(self, api: ConformanceMock, client: RuneClient) -> None:
        api.post(rpc_url("ServiceService", "GetService"), json=SERVICE_REPLY)
        client.get_service("api", extra_headers={"X-Trace": "t-1"})
        sent = api.calls[0].request.headers
        assert sent["X-Trace"] == "t-1" and sent["Connect-Protocol-Version"] == "1"

    def test_reads_are_retried_like_gets(self, api: ConformanceMock) -> None:
        api.post(rpc_url("ServiceService", "GetService"), status=503,
                 json=connect_error("unavailable", "try again"))  # fmt: skip
        api.post(rpc_url("ServiceService", "GetService"), json=SERVICE_REPLY)
        with RuneClient(BASE_URL, TOKEN, max_retries=1) as rune:
            rune._transport.sleep = lambda _s: None
            assert rune.get_service("api").name == "api"
        assert len(api.calls) == 2


CODE_TABLE = [
    ("invalid_argument", 400, BadRequestError),
    ("failed_precondition", 400, PreconditionFailedError),
    ("failed_precondition", 412, PreconditionFailedError),
    ("out_of_range", 400, BadRequestError),
    ("unauthenticated", 401, AuthenticationError),
    ("permission_denied", 403, PermissionDeniedError),
    ("not_found", 404, NotFoundError),
    ("already_exists", 409, ConflictError),
    ("aborted", 409, ConflictError),
    ("resource_exhausted", 429, RateLimitError),
    ("canceled", 499, APIStatusError),
    ("unknown", 500, InternalServerError),
    ("internal", 500, InternalServerError),
    ("data_loss", 500, InternalServerError),
    ("unimplemented", 501, APIStatusError),
    ("unavailable", 503, InternalServerError),
    ("deadline_exceeded", 504, InternalServerError),
]


@pytest.mark.parametrize(("code", "status", "error"), CODE_TABLE)
def test_connect_codes_map_to_errors(
    api: ConformanceMock, client: RuneClient, code: str, status: int, error: type[Exception]
) -> None:
    api.post(rpc_url("ServiceService", "GetService"), status=status,
             json=connect_error(code, "boom"))  # fmt: skip
    with pytest.raises(error) as info:
        client.get_service("api", max_retries=0)
    assert type(info.value) is error
    assert getattr(info.value, "code", None) == code
    assert getattr(info.value, "status_code", None) == status
    assert f"[{code}]: boom" in str(info.value)


@pytest.mark.parametrize(("number", "code", "status", "error"),
                         [(5, "not_found", 404, NotFoundError),
                          (9, "failed_precondition", 400, PreconditionFailedError),
                          (6, "already_exists", 409, ConflictError),
                          (16, "unauthenticated", 401, AuthenticationError)])  # fmt: skip
def test_rest_numeric_codes_map_to_errors(
    api: ConformanceMock,
    rest: RuneClient,
    number: int,
    code: str,
    status: int,
    error: type[Exception],
) -> None:
    api.get(f"{REST}/namespaces/default/services/api", status=status,
            json={"code": number, "message": "nope", "details": []})  # fmt: skip
    with pytest.raises(error) as info:
        rest.get_service("api")
    assert getattr(info.value, "code", None) == code


@pytest.mark.parametrize(
    ("body", "error"),
    [("missing bearer token", AuthenticationError), ("ui:access denied", PermissionDeniedError)],
)
def test_the_ui_gate_answers_in_plain_text(
    api: ConformanceMock, client: RuneClient, body: str, error: type[Exception]
) -> None:
    status = 401 if error is AuthenticationError else 403
    api.post(rpc_url("ServiceService", "GetService"), status=status, body=body,
             content_type="text/plain; charset=utf-8")  # fmt: skip
    with pytest.raises(error) as info:
        client.get_service("api")
    assert body in str(info.value)


@pytest.mark.parametrize(
    ("value", "name"),
    [(3, "invalid_argument"), ("3", "invalid_argument"), ("NOT_FOUND", "not_found"),
     (0, None), (99, None), (True, None), ("nope", None), (None, None)],
)  # fmt: skip
def test_code_names(value: Any, name: str | None) -> None:
    assert code_name(value) == name


def test_odd_error_bodies_are_harmless() -> None:
    for body in (None, [], "x", {"code": {}}, {"message": 5}):
        info = parse_rune_error(body)
        assert info.error_class is None and info.message is None


class TestStreamEnd:
    def test_clean_ends(self) -> None:
        raise_stream_end({})
        raise_stream_end({"metadata": {"x": ["1"]}})

    def test_an_error_end_carries_the_code(self) -> None:
        with pytest.raises(StreamError) as info:
            raise_stream_end({"error": {"code": "permission_denied", "message": "no watch",
                                        "details": [{"type": "t"}]}})  # fmt: skip
        assert info.value.code == "permission_denied"
        assert info.value.details == [{"type": "t"}]
        assert str(info.value) == "watch ended with error [permission_denied]: no watch"

    def test_a_numeric_or_unknown_code(self) -> None:
        with pytest.raises(StreamError) as info:
            raise_stream_end({"error": {"code": 5}})
        assert info.value.code == "not_found" and "(no message)" in str(info.value)
        with pytest.raises(StreamError, match=r"\[unknown\]"):
            raise_stream_end({"error": {"code": "weird", "message": "m"}})
        with pytest.raises(StreamError, match="watch ended with error"):
            raise_stream_end({"error": "text"})


class TestProbes:
    def test_healthz_and_readyz(self, api: ConformanceMock, both: RuneClient) -> None:
        api.get(f"{BASE_URL}/healthz", body="ok", content_type="text/plain")
        api.get(f"{BASE_URL}/readyz", body="ready\n", content_type="text/plain")
        assert both.healthz() is True
        assert both.readyz() is True
        for call in api.calls:
            assert "Authorization" not in call.request.headers
            assert call.request.method == "GET"

    def test_an_unexpected_body_is_false(self, api: ConformanceMock, client: RuneClient) -> None:
        api.get(f"{BASE_URL}/healthz", body="starting", content_type="text/plain")
        assert client.healthz() is False


def test_set_token(api: ConformanceMock) -> None:
    api.post(rpc_url("ServiceService", "GetService"), json=SERVICE_REPLY)
    with RuneClient(BASE_URL) as rune:
        rune.set_token("fresh-token")
        rune.get_service("api")
    assert api.calls[0].request.headers["Authorization"] == "Bearer fresh-token"
