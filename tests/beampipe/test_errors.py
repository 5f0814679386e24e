"""Beampipe error bodies: `{error, code, failure}`, plain-text rejections, retry advice."""

from __future__ import annotations

import pytest

from controldeck.beampipe import BeampipeClient, failure_of
from controldeck.beampipe._errors import parse_beampipe_error
from controldeck.errors import (
    APIStatusError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, BASE_URL, NOW, TOKEN, error_body

USER = {
    "uuid": "0192f0c4-9a3b-7c1d-8e2f-0000000000a1",
    "name": "Admin",
    "username": "admin",
    "email": "admin@example.org",
    "profile_image_url": "",
    "is_superuser": False,
    "created_at": NOW,
}


@pytest.fixture
def sleeps(client: BeampipeClient) -> list[float]:
    waits: list[float] = []
    client._transport.sleep = waits.append
    return waits


def test_the_failure_record_is_typed(api: ConformanceMock, client: BeampipeClient) -> None:
    body = error_body(
        "not_found", "execution not found", cls="not_found", retry="after_remediation"
    )
    body["failure"]["operator_action"] = "check the id"  # type: ignore[index]
    api.get(f"{API}/user/me", status=404, json=body, headers={"x-request-id": "req-7"})
    with pytest.raises(NotFoundError) as info:
        client.current_user()
    err = info.value
    assert (err.status_code, err.code, err.message, err.request_id) == (
        404,
        "not_found",
        "execution not found",
        "req-7",
    )
    failure = failure_of(err)
    assert failure is not None and failure is err.details
    assert failure.class_ == "not_found" and failure.retry == "after_remediation"
    assert failure.operator_action == "check the id"
    assert str(err) == "HTTP 404 [not_found]: execution not found [request id: req-7]"


def test_validation_diagnostics_are_a_list() -> None:
    body = error_body(
        "project_config_validation_failed",
        "project config is invalid",
        cls="validation",
        retry="after_remediation",
    )
    body["failure"]["diagnostics"] = [  # type: ignore[index]
        {"path": "metadata.id", "code": "required", "message": "missing", "severity": "error"},
        {
            "path": "graph",
            "code": "bad",
            "message": "no graph",
            "severity": "error",
            "hint": "add graph.url",
        },
    ]
    info = parse_beampipe_error(body)
    assert info.code == "project_config_validation_failed"
    assert info.field_errors == (("metadata.id", "missing"), ("graph", "no graph"))
    diagnostics = info.attributes["diagnostics"]
    assert [d.path for d in diagnostics] == ["metadata.id", "graph"]
    assert diagnostics[1].hint == "add graph.url"
    assert info.error_class is not None and issubclass(info.error_class, BadRequestError)


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {"error": 5}, {"failure": {"class": "nope"}}, {"failure": "x"}],
)
def test_odd_bodies_never_raise(body: object) -> None:
    info = parse_beampipe_error(body)
    assert info.error_class is None


def test_a_malformed_failure_keeps_the_message() -> None:
    info = parse_beampipe_error({"error": "boom", "code": "internal", "failure": {"x": 1}})
    assert (info.message, info.code, info.details) == ("boom", "internal", None)


@pytest.mark.off_spec("axum rejects a body it cannot deserialize with plain text")
def test_plain_text_422(api: ConformanceMock, client: BeampipeClient) -> None:
    text = "Failed to deserialize the JSON body into the target type: unknown field `x`"
    api.get(f"{API}/user/me", status=422, body=text, content_type="text/plain; charset=utf-8")
    with pytest.raises(UnprocessableEntityError) as info:
        client.current_user()
    assert info.value.message == text
    assert failure_of(info.value) is None


@pytest.mark.off_spec("an unknown route answers 404 with an empty body")
def test_empty_404(api: ConformanceMock, client: BeampipeClient) -> None:
    api.get(f"{API}/user/me", status=404, body="")
    with pytest.raises(NotFoundError) as info:
        client.current_user()
    assert info.value.code is None
    assert "GET" in info.value.message


class TestRetryAdvice:
    def test_safe_retries_a_post(self, api: ConformanceMock, sleeps: list[float]) -> None:
        limited = error_body("rate_limit_exceeded", "slow down", cls="rate_limited", retry="safe")
        api.post(f"{API}/login", status=429, json=limited)
        api.post(
            f"{API}/login", json={"access_token": "a", "refresh_token": "r", "token_type": "bearer"}
        )
        with BeampipeClient(BASE_URL, max_retries=2) as client:
            client._transport.sleep = sleeps.append
            client.login("admin", "pw")
        assert len(api.calls) == 2 and len(sleeps) == 1

    def test_after_remediation_is_final_even_for_a_get(self, api: ConformanceMock) -> None:
        down = error_body(
            "service_unavailable",
            "database down",
            cls="dependency_unavailable",
            retry="after_remediation",
        )
        api.get(f"{API}/user/me", status=503, json=down)
        with (
            BeampipeClient(BASE_URL, TOKEN, max_retries=2) as client,
            pytest.raises(APIStatusError) as info,
        ):
            client.current_user()
        assert info.value.status_code == 503 and len(api.calls) == 1

    def test_automatic_retries_a_get(self, api: ConformanceMock) -> None:
        down = error_body("database_error", "busy", cls="internal", retry="automatic")
        api.get(f"{API}/user/me", status=500, json=down)
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, TOKEN, max_retries=1) as client:
            waits: list[float] = []
            client._transport.sleep = waits.append
            assert client.current_user().username == "admin"
        assert len(api.calls) == 2

    def test_unsafe_502_is_final(self, api: ConformanceMock) -> None:
        bad = error_body(
            "daliuge_submit_failed",
            "submission state unknown",
            cls="inconsistent_state",
            retry="unsafe",
        )
        api.get(f"{API}/user/me", status=502, json=bad)
        with (
            BeampipeClient(BASE_URL, TOKEN, max_retries=2) as client,
            pytest.raises(InternalServerError),
        ):
            client.current_user()
        assert len(api.calls) == 1

    def test_rate_limit_error_type(self, api: ConformanceMock) -> None:
        limited = error_body(
            "rate_limit_exceeded", "slow down", cls="rate_limited", retry="after_remediation"
        )
        api.get(f"{API}/user/me", status=429, json=limited)
        with BeampipeClient(BASE_URL, TOKEN) as client, pytest.raises(RateLimitError):
            client.current_user()
