"""Tokens never show up in logs, model reprs or errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from controldeck.errors import (
    APIStatusError,
    AuthenticationError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from controldeck.runbeam import RunbeamClient
from tests._conformance import ConformanceMock
from tests.runbeam.conftest import BASE_URL, TOKEN

USER_TOKEN = "1|sanctumUserTokenQ8v3Zr"
MACHINE_TOKEN = "mt_machineTokenK2p9Wx4"
MESH_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjAxSFhZWjEyMzQ1NiJ9"
    ".eyJzdWIiOiJnYXRld2F5OjAxazhhYmMxMjMiLCJtZXNoX2lkIjoiMDFIWFlaIn0"
    ".bWVzaC1zaWduYXR1cmU"
)
SECRETS = (TOKEN, USER_TOKEN, MACHINE_TOKEN, MESH_TOKEN)


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text[:200]!r}"


def error_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), *map(str, exc.args)]
    if isinstance(exc, APIStatusError):
        texts += [exc.message, exc.body_excerpt, str(exc.code)]
    return texts


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    return caplog


def test_tokens_stay_out_of_logs_reprs_and_errors(
    api: ConformanceMock, client: RunbeamClient, debug_log: pytest.LogCaptureFixture
) -> None:
    api.post(
        f"{BASE_URL}/harmony/authorize",
        status=201,
        json={
            "machine_token": MACHINE_TOKEN,
            "expires_in": 2592000.0,
            "expires_at": "2024-12-01T00:00:00Z",
            "gateway": {"id": "gateway-001", "code": "test-gateway", "name": "Test Gateway"},
            "abilities": ["harmony:send", "harmony:receive"],
        },
    )
    api.post(
        f"{BASE_URL}/harmony/mesh/token",
        json={
            "token": MESH_TOKEN,
            "expires_at": "2025-12-29T00:10:00+00:00",
            "mesh_id": "01HXYZ123456789ABCDEF",
        },
    )
    api.get(
        f"{BASE_URL}/harmony/change/change-001",
        status=401,
        json={"message": f"Token {TOKEN} has expired", "token": TOKEN},
    )

    auth = client.authorize_gateway(
        USER_TOKEN, "test-gateway", machine_public_key="pubkey123", metadata=["version:1.0"]
    )
    mesh = client.request_mesh_token(
        "01HXYZ123456789ABCDEF", "https://partner.example.com/fhir/r4/Patient"
    )
    with pytest.raises(AuthenticationError) as info:
        client.get_change("change-001")

    # The calls really carried the secrets...
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {USER_TOKEN}"
    assert auth.machine_token == MACHINE_TOKEN
    assert mesh.token == MESH_TOKEN
    assert info.value.response is not None
    assert TOKEN in info.value.response.text
    # ...and showed them nowhere.
    assert debug_log.records, "expected debug logging of the requests"
    assert "POST https://runbeam.test/api/harmony/authorize" in debug_log.text
    assert_clean(debug_log.text, repr(auth), repr(auth.gateway), repr(mesh), repr(client))
    assert_clean(*error_texts(info.value))
    assert "<redacted>" in info.value.message
    assert info.value.body_excerpt


@pytest.mark.parametrize(
    "status, body, content_type",
    [
        (401, f"Invalid token: {TOKEN}", "text/plain"),
        (401, {"error": "Unauthenticated", "message": f"Bearer {TOKEN} rejected"}, None),
        (403, {"error": "Forbidden", "message": f"token {TOKEN} lacks harmony:config"}, None),
    ],
)
def test_error_bodies_echoing_the_client_token(
    api: ConformanceMock,
    client: RunbeamClient,
    debug_log: pytest.LogCaptureFixture,
    status: int,
    body: Any,
    content_type: str | None,
) -> None:
    url = f"{BASE_URL}/harmony/update"
    if isinstance(body, dict):
        api.post(url, status=status, json=body)
    else:
        api.post(url, status=status, body=body, content_type=content_type)
    with pytest.raises(APIStatusError) as info:
        client.store_config("gateway", '[proxy]\nid = "test"\n')
    assert info.value.status_code == status
    assert_clean(debug_log.text, *error_texts(info.value))


def test_authorize_error_echoing_the_user_token(
    api: ConformanceMock, client: RunbeamClient, debug_log: pytest.LogCaptureFixture
) -> None:
    api.post(
        f"{BASE_URL}/harmony/authorize",
        status=422,
        json={
            "message": f"The token {USER_TOKEN} is not valid.",
            "errors": {"token": [f"The token {USER_TOKEN} is not valid."]},
        },
    )
    with pytest.raises(UnprocessableEntityError) as info:
        client.authorize_gateway(USER_TOKEN, "test-gateway")
    assert_clean(debug_log.text, *error_texts(info.value), repr(info.value.details))


def test_validation_details_echoing_the_client_token(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.post(
        f"{BASE_URL}/harmony/update",
        status=422,
        json={
            "message": "The given data was invalid.",
            "errors": {"config": [f"Token {TOKEN} may not push gateway configuration."]},
        },
    )
    with pytest.raises(UnprocessableEntityError) as info:
        client.store_config("gateway", '[proxy]\nid = "test"\n')
    assert_clean(*error_texts(info.value))  # message and excerpt are masked
    assert_clean(repr(info.value.details))  # and so are the per-field details


@pytest.mark.off_spec("a 200 authorize reply cut off in the middle of the JSON")
def test_truncated_reply_hides_the_machine_token(
    api: ConformanceMock, client: RunbeamClient
) -> None:
    api.post(
        f"{BASE_URL}/harmony/authorize",
        status=201,
        body=f'{{"machine_token": "{MACHINE_TOKEN}", "expires_in": 25',
        content_type="application/json",
    )
    with pytest.raises(ResponseValidationError) as info:
        client.authorize_gateway(USER_TOKEN, "test-gateway")
    assert_clean(*error_texts(info.value), info.value.body_excerpt)
