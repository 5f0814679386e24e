"""AuthService (whoami, create_token, revoke_token) and AdminBootstrap on both wires: the
exact request (method, path, headers, camelCase body) and the decoded reply, secrets kept
out of repr and logs, error mapping, argument errors before sending."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest

from controldeck.errors import (
    AuthenticationError,
    InternalServerError,
    InvalidArgumentError,
    PermissionDeniedError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, BASE_URL, TOKEN, connect_error, rpc_url

# A gRPC code number per Connect code, for the REST gateway's grpc-gateway error bodies.
GRPC_CODES = {
    "unknown": 2,
    "invalid_argument": 3,
    "not_found": 5,
    "already_exists": 6,
    "permission_denied": 7,
    "unauthenticated": 16,
}
HTTP_STATUS = {
    "unknown": 500,
    "invalid_argument": 400,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
}

REMOTE_ADMIN = (
    "admin operations are allowed only from localhost unless auth.allow_remote_admin is true"
)
BOOT_SECRET = "rune_boot_5ecret_0f_the_r00t_t0ken"
TOKEN_SECRET = "rune_ci_5ecret_n3ver_l0gged"


def expect(
    api: ConformanceMock,
    client: RuneClient,
    rpc: tuple[str, str],
    rest: tuple[str, str],
    *,
    json: Any = None,
    status: int = 200,
) -> None:
    """Register the reply of one RPC on the client's wire: Connect (`rpc` = service,
    method) or REST (`rest` = method, path)."""
    if client.transport == "connect":
        api.add("POST", rpc_url(*rpc), json=json, status=status)
    else:
        api.add(rest[0], f"{BASE_URL}{rest[1]}", json=json, status=status)


def expect_error(
    api: ConformanceMock,
    client: RuneClient,
    rpc: tuple[str, str],
    rest: tuple[str, str],
    code: str,
    message: str,
) -> None:
    """An error reply: a Connect error (string code) or a grpc-gateway one (numeric)."""
    body: dict[str, Any] = (
        connect_error(code, message)
        if client.transport == "connect"
        else {"code": GRPC_CODES[code], "message": message, "details": []}
    )
    expect(api, client, rpc, rest, json=body, status=HTTP_STATUS[code])


def sent(
    api: ConformanceMock,
    client: RuneClient,
    rpc: tuple[str, str],
    rest: tuple[str, str],
    body: Any,
    *,
    rest_body: bool = True,
    auth: bool = True,
    timeout_ms: str = "60000",
) -> Any:
    """Check the one request sent, on the client's wire, and return it.

    Connect: POST to the RPC path, the Connect headers, `body` as the JSON body. REST: the
    route's method and path, no Connect headers, `body` as the JSON body when the route
    has one (`rest_body`), else no body and no query.
    """
    assert len(api.calls) == 1, [c.request.url for c in api.calls]
    request = api.calls[0].request
    url = urlsplit(request.url)
    if client.transport == "connect":
        assert request.method == "POST"
        assert url.path == f"/grpc/rune.api.{rpc[0]}/{rpc[1]}"
        assert url.query == ""
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Connect-Protocol-Version"] == "1"
        assert request.headers["Connect-Timeout-Ms"] == timeout_ms
        assert json.loads(request.body or b"") == body
    else:
        assert request.method == rest[0]
        assert url.path == rest[1]
        assert url.query == ""
        assert "Connect-Protocol-Version" not in request.headers
        assert "Connect-Timeout-Ms" not in request.headers
        if rest_body:
            assert request.headers["Content-Type"] == "application/json"
            assert json.loads(request.body or b"") == body
        else:
            assert not request.body
    if auth:
        assert request.headers["Authorization"] == AUTH
    else:
        assert "Authorization" not in request.headers
    return request


# -- admin_bootstrap ---------------------------------------------------------------------------

BOOTSTRAP = (("AdminService", "AdminBootstrap"), ("POST", "/v1/admin/bootstrap"))
BOOT_REPLY = {"tokenId": "tok-root-1", "tokenSecret": BOOT_SECRET, "subjectId": "u-root"}


def test_admin_bootstrap_sends_no_token(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *BOOTSTRAP, json=BOOT_REPLY)
    boot = both.admin_bootstrap()
    assert (boot.token_id, boot.token_secret, boot.subject_id) == (
        "tok-root-1",
        BOOT_SECRET,
        "u-root",
    )
    # The client holds a token, and still sends none: the RPC is public.
    sent(api, both, *BOOTSTRAP, {}, auth=False)


def test_admin_bootstrap_works_without_a_token(api: ConformanceMock) -> None:
    with RuneClient(BASE_URL, max_retries=0) as anonymous:
        expect(api, anonymous, *BOOTSTRAP, json=BOOT_REPLY)
        assert anonymous.admin_bootstrap().token_id == "tok-root-1"
        sent(api, anonymous, *BOOTSTRAP, {}, auth=False)


def test_admin_bootstrap_secret_is_kept_out_of_repr_and_logs(
    api: ConformanceMock, both: RuneClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    expect(api, both, *BOOTSTRAP, json=BOOT_REPLY)
    boot = both.admin_bootstrap()
    assert BOOT_SECRET not in repr(boot) and BOOT_SECRET not in str(boot)
    assert BOOT_SECRET not in json.dumps(boot.to_dict())
    assert boot.to_dict(reveal_secrets=True)["tokenSecret"] == BOOT_SECRET
    assert "/v1/admin/bootstrap" in caplog.text or "AdminBootstrap" in caplog.text
    assert "tok-root-1" in caplog.text  # the reply was logged...
    assert BOOT_SECRET not in caplog.text  # ...without its secret


def test_bootstrap_then_set_token_authenticates_the_next_call(api: ConformanceMock) -> None:
    with RuneClient(BASE_URL, max_retries=0) as rune:
        api.add("POST", rpc_url("AdminService", "AdminBootstrap"), json=BOOT_REPLY)
        api.add("POST", rpc_url("AuthService", "WhoAmI"), json=WHOAMI_REPLY)
        rune.set_token(rune.admin_bootstrap().token_secret)
        assert rune.whoami().subject_name == "root"
    assert api.calls[1].request.headers["Authorization"] == f"Bearer {BOOT_SECRET}"


def test_admin_bootstrap_from_a_remote_peer_is_permission_denied(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect_error(api, both, *BOOTSTRAP, "permission_denied", REMOTE_ADMIN)
    with pytest.raises(PermissionDeniedError) as info:
        both.admin_bootstrap()
    assert info.value.status_code == 403
    assert info.value.code == "permission_denied"
    assert REMOTE_ADMIN in str(info.value)


# -- whoami ------------------------------------------------------------------------------------

WHOAMI = (("AuthService", "WhoAmI"), ("GET", "/v1/auth/whoami"))
WHOAMI_REPLY = {
    "subjectId": "u-root",
    "subjectName": "root",
    "subjectEmail": "",
    "policies": ["root"],
}


def test_whoami(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *WHOAMI, json=WHOAMI_REPLY)
    me = both.whoami()
    assert (me.subject_id, me.subject_name, me.subject_email, me.policies) == (
        "u-root",
        "root",
        "",
        ["root"],
    )
    sent(api, both, *WHOAMI, {}, rest_body=False)


def test_whoami_per_call_timeout_is_the_connect_deadline(
    api: ConformanceMock, client: RuneClient
) -> None:
    expect(api, client, *WHOAMI, json=WHOAMI_REPLY)
    client.whoami(timeout=(1, 2.5))
    sent(api, client, *WHOAMI, {}, timeout_ms="2500")


def test_whoami_with_a_revoked_token(api: ConformanceMock, both: RuneClient) -> None:
    expect_error(api, both, *WHOAMI, "unauthenticated", "invalid bearer token")
    with pytest.raises(AuthenticationError) as info:
        both.whoami()
    assert info.value.status_code == 401
    assert "invalid bearer token" in str(info.value)
    assert TOKEN not in str(info.value)


def test_whoami_refused_by_the_ui_gate(api: ConformanceMock, client: RuneClient) -> None:
    api.add(
        "POST",
        rpc_url("AuthService", "WhoAmI"),
        body="ui:access denied",
        status=403,
        content_type="text/plain; charset=utf-8",
    )
    with pytest.raises(PermissionDeniedError, match="ui:access denied"):
        client.whoami()


def test_whoami_without_a_token_sends_nothing(api: ConformanceMock) -> None:
    with (
        RuneClient(BASE_URL, max_retries=0) as anonymous,
        pytest.raises(InvalidArgumentError, match="RUNE_TOKEN"),
    ):
        anonymous.whoami()
    assert len(api.calls) == 0


# -- create_token ------------------------------------------------------------------------------

CREATE_TOKEN = (("AuthService", "CreateToken"), ("POST", "/v1/auth/tokens"))
TOKEN_REPLY = {"id": "tok-7", "name": "ci", "secret": TOKEN_SECRET}


def test_create_token_sends_every_field_given(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *CREATE_TOKEN, json=TOKEN_REPLY)
    token = both.create_token(
        "ci",
        subject_name="ci-bot",
        policies=("readwrite", "deployer"),
        ttl_seconds=3600,
        description="CI pipeline",
        subject_type="user",
    )
    assert (token.id, token.name, token.secret) == ("tok-7", "ci", TOKEN_SECRET)
    sent(
        api,
        both,
        *CREATE_TOKEN,
        {
            "name": "ci",
            "subjectName": "ci-bot",
            "subjectType": "user",
            "policies": ["readwrite", "deployer"],
            "ttlSeconds": "3600",  # int64: a protojson string
            "description": "CI pipeline",
        },
    )


def test_create_token_sends_only_the_name_by_default(
    api: ConformanceMock, both: RuneClient
) -> None:
    expect(api, both, *CREATE_TOKEN, json=TOKEN_REPLY)
    both.create_token("ci")
    sent(api, both, *CREATE_TOKEN, {"name": "ci"})


def test_create_token_for_a_subject_id_that_never_expires(
    api: ConformanceMock, client: RuneClient
) -> None:
    expect(api, client, *CREATE_TOKEN, json=TOKEN_REPLY)
    client.create_token("ci", subject_id="u-9", ttl_seconds=0, description="")
    sent(
        api,
        client,
        *CREATE_TOKEN,
        {"name": "ci", "subjectId": "u-9", "ttlSeconds": "0", "description": ""},
    )


def test_create_token_secret_is_kept_out_of_repr_and_logs(
    api: ConformanceMock, client: RuneClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    expect(api, client, *CREATE_TOKEN, json=TOKEN_REPLY)
    token = client.create_token("ci")
    assert TOKEN_SECRET not in repr(token)
    assert "tok-7" in caplog.text
    assert TOKEN_SECRET not in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subject_name": "a", "subject_id": "u-1"}, "subject_name= or subject_id="),
        ({"ttl_seconds": -1}, "ttl_seconds"),
        ({"ttl_seconds": 1.5}, "ttl_seconds"),
        ({"ttl_seconds": True}, "ttl_seconds"),
        ({"ttl_seconds": "60"}, "ttl_seconds"),
        ({"ttl_seconds": 2**63}, "out of the int64 range"),
        ({"policies": "readonly"}, "policies must be a list"),
        ({"policies": ["readonly", ""]}, r"policies\[1\] must not be empty"),
        ({"subject_name": ""}, "subject_name must not be empty"),
        ({"subject_type": 1}, "subject_type must be a string"),
        ({"description": None, "subject_id": 7}, "subject_id must be a string"),
    ],
)
def test_create_token_bad_arguments_send_nothing(
    api: ConformanceMock, both: RuneClient, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        both.create_token("ci", **kwargs)
    assert len(api.calls) == 0


def test_create_token_needs_a_name(api: ConformanceMock, client: RuneClient) -> None:
    with pytest.raises(InvalidArgumentError, match="name must not be empty"):
        client.create_token(" ")
    assert len(api.calls) == 0


def test_create_token_refused_by_the_server(api: ConformanceMock, both: RuneClient) -> None:
    # The server reports its validation errors as plain Go errors: `unknown`, HTTP 500.
    message = (
        "invalid subject-type: service (only 'user' supported for now, service support planned)"
    )
    expect_error(api, both, *CREATE_TOKEN, "unknown", message)
    with pytest.raises(InternalServerError) as info:
        both.create_token("ci", subject_type="service")
    assert info.value.code == "unknown"
    assert "only 'user' supported" in str(info.value)


# -- revoke_token ------------------------------------------------------------------------------

REVOKE = (("AuthService", "RevokeToken"), ("DELETE", "/v1/auth/tokens/tok-7"))


def test_revoke_token(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REVOKE, json={"revoked": True})
    assert both.revoke_token("tok-7") is True
    sent(api, both, *REVOKE, {"id": "tok-7"}, rest_body=False)


def test_revoke_token_not_revoked(api: ConformanceMock, both: RuneClient) -> None:
    expect(api, both, *REVOKE, json={"revoked": False})
    assert both.revoke_token("tok-7") is False


def test_revoke_token_reply_without_the_flag_is_false(
    api: ConformanceMock, client: RuneClient
) -> None:
    # protojson without EmitUnpopulated leaves a false bool out.
    expect(api, client, *REVOKE, json={})
    assert client.revoke_token("tok-7") is False


def test_revoke_token_id_is_one_path_segment(api: ConformanceMock, rest: RuneClient) -> None:
    api.add("DELETE", f"{BASE_URL}/v1/auth/tokens/a%2Fb", json={"revoked": True})
    assert rest.revoke_token("a/b") is True
    assert urlsplit(api.calls[0].request.url).path == "/v1/auth/tokens/a%2Fb"


@pytest.mark.parametrize("bad", ["", "  ", None, 7])
def test_revoke_token_bad_id_sends_nothing(
    api: ConformanceMock, both: RuneClient, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="token_id"):
        both.revoke_token(bad)
    assert len(api.calls) == 0
