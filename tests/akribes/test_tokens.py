"""`client.tokens`: minting (a secret in the reply), listing with filters, revoking."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from controldeck._generated.akribes import TokenRole, TokenScopes
from controldeck.akribes import AkribesClient
from controldeck.errors import InvalidArgumentError, PermissionDeniedError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import AUTH, BASE_URL

MINTED_SECRET = "akribes_tk_minted_9f8e7d6c5b4a"
MINTED = {"token": MINTED_SECRET, "token_id": "tok_1", "expires_at": "2026-02-01T00:00:00Z"}
TOKEN_INFO = {
    "id": "tok_1",
    "label": "web-session",
    "user_email": "alice@acme.com",
    "scopes": {"projects": "*", "role": "admin", "can_mint": False},
    "minted_by": "service:backend",
    "expires_at": "2026-02-01T00:00:00Z",
    "revoked": False,
    "created_at": "2026-01-01T00:00:00Z",
    "last_used_at": None,
}


def only_request(api: ConformanceMock) -> requests.PreparedRequest:
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request: requests.PreparedRequest = api.calls[0].request
    assert request.headers["Authorization"] == AUTH
    return request


def query(request: requests.PreparedRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url or "").query))


def test_mint_sends_the_scopes_without_unset_keys(
    api: ConformanceMock, client: AkribesClient
) -> None:
    api.post(f"{BASE_URL}/tokens", status=201, json=MINTED)
    minted = client.tokens.mint(
        scopes=TokenScopes(projects="*", role=TokenRole.ADMIN, can_mint=False),
        expires_in=28800,
        label="web-session",
        user_email="alice@acme.com",
    )
    request = only_request(api)
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/tokens"
    assert request.body is not None
    assert json.loads(request.body) == {
        "user_email": "alice@acme.com",
        "scopes": {"projects": "*", "role": "admin", "can_mint": False},
        "expires_in": 28800,
        "label": "web-session",
    }
    assert minted.token == MINTED_SECRET
    assert minted.token_id == "tok_1"
    assert minted.expires_at == datetime(2026, 2, 1, tzinfo=UTC)


def test_mint_with_project_ids_and_limits(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/tokens", status=201, json=MINTED)
    scopes = TokenScopes(
        projects=[2, 7],
        role=TokenRole.VIEWER,
        executions=["abc-456"],
        features=["bench"],
        org_id=3,
    )
    client.tokens.mint(scopes=scopes, expires_in=3600, label="share")
    request = only_request(api)
    assert request.body is not None
    assert json.loads(request.body) == {
        "scopes": {
            "projects": [2, 7],
            "role": "viewer",
            "executions": ["abc-456"],
            "features": ["bench"],
            "org_id": 3,
        },
        "expires_in": 3600,
        "label": "share",
    }


def test_a_minted_token_never_shows(
    api: ConformanceMock, client: AkribesClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.post(f"{BASE_URL}/tokens", status=201, json=MINTED)
    with caplog.at_level(logging.DEBUG, logger="controldeck"):
        minted = client.tokens.mint(
            scopes=TokenScopes(projects="*", role=TokenRole.ADMIN), expires_in=60, label="x"
        )
    assert "response headers=" in caplog.text  # the reply was logged, masked
    assert MINTED_SECRET not in caplog.text
    assert MINTED_SECRET not in repr(minted)
    assert MINTED_SECRET not in str(minted)


def test_mint_refused(api: ConformanceMock, client: AkribesClient) -> None:
    api.post(f"{BASE_URL}/tokens", status=403, body="Forbidden")
    with pytest.raises(PermissionDeniedError, match="Forbidden"):
        client.tokens.mint(
            scopes=TokenScopes(projects="*", role=TokenRole.ADMIN), expires_in=60, label="x"
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scopes": {"projects": "*", "role": "admin"}},
        {"scopes": TokenScopes(projects="all", role=TokenRole.ADMIN)},
        {"scopes": TokenScopes(projects=[1, "2"], role=TokenRole.ADMIN)},
        {"expires_in": 0},
        {"expires_in": 1.5},
        {"expires_in": True},
        {"label": ""},
        {"user_email": " "},
    ],
)
def test_mint_bad_arguments_send_nothing(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {
        "scopes": TokenScopes(projects="*", role=TokenRole.ADMIN),
        "expires_in": 60,
        "label": "ok",
        **kwargs,
    }
    with pytest.raises(InvalidArgumentError):
        client.tokens.mint(**args)
    assert len(api.calls) == 0


def test_list_sends_no_filters_by_default(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/tokens", json=[TOKEN_INFO])
    tokens = list(client.tokens.list())
    request = only_request(api)
    assert urlsplit(request.url or "").path == "/tokens"
    assert query(request) == {"limit": "200", "offset": "0"}
    [token] = tokens
    assert (token.id, token.label, token.user_email, token.revoked) == (
        "tok_1",
        "web-session",
        "alice@acme.com",
        False,
    )
    assert token.scopes.projects == "*"
    assert token.scopes.role == TokenRole.ADMIN
    assert token.last_used_at is None


def test_list_filters(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/tokens", json=[{**TOKEN_INFO, "revoked": True}])
    [token] = client.tokens.list(
        user_email="alice@acme.com", include_revoked=True, include_expired=True
    )
    assert query(only_request(api)) == {
        "limit": "200",
        "offset": "0",
        "user_email": "alice@acme.com",
        "include_revoked": "true",
        "include_expired": "true",
    }
    assert token.revoked is True


def test_list_404_is_empty(api: ConformanceMock, client: AkribesClient) -> None:
    api.get(f"{BASE_URL}/tokens", status=404, json={"error": "not found"})
    assert list(client.tokens.list()) == []


@pytest.mark.parametrize(
    "kwargs", [{"user_email": ""}, {"include_revoked": "yes"}, {"include_expired": 1}]
)
def test_list_bad_filters_send_nothing(
    api: ConformanceMock, client: AkribesClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.tokens.list(**kwargs)
    assert len(api.calls) == 0


@pytest.mark.parametrize("status", [204, 404])
def test_revoke_encodes_the_id(api: ConformanceMock, client: AkribesClient, status: int) -> None:
    api.delete(
        f"{BASE_URL}/tokens/tok%2F1",
        status=status,
        json={"error": "not found"} if status == 404 else None,
    )
    assert client.tokens.revoke("tok/1") is None
    request = only_request(api)
    assert request.method == "DELETE"
    assert request.url == f"{BASE_URL}/tokens/tok%2F1"


def test_revoke_by_email(api: ConformanceMock, client: AkribesClient) -> None:
    api.delete(f"{BASE_URL}/tokens", json={"revoked": 3})
    assert client.tokens.revoke_by_email("bob+old@acme.com") == 3
    request = only_request(api)
    assert request.method == "DELETE"
    assert urlsplit(request.url or "").path == "/tokens"
    assert query(request) == {"user_email": "bob+old@acme.com"}
    assert not request.body


@pytest.mark.parametrize("call", [lambda c: c.tokens.revoke(""), lambda c: c.tokens.revoke(None)])
def test_revoke_bad_ids_send_nothing(
    api: ConformanceMock, client: AkribesClient, call: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client)
    with pytest.raises(InvalidArgumentError):
        client.tokens.revoke_by_email("")
    assert len(api.calls) == 0
