"""FakeRunbeam over real loopback sockets, with plain `requests`.

Every response a test receives through the `http` fixture is validated against
`openapi/runbeam.yaml` at teardown (when the spec exists and loads); tests that provoke
replies the spec does not describe carry `@pytest.mark.off_spec(reason)`.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from controldeck.testing import FakeRunbeam, RecordedRequest

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "runbeam.yaml"
CHANGE_FIELDS = {
    "id", "status", "type", "gateway_id", "pipeline_id", "toml_config", "metadata",
    "created_at", "acknowledged_at", "applied_at", "failed_at", "error_message", "error_details",
}  # fmt: skip
UNAUTHENTICATED = {"message": "Unauthenticated."}
INVALID = "The given data was invalid."


@functools.cache
def _spec() -> Any:
    """The committed spec, or None while it is missing or does not load."""
    if not SPEC_PATH.exists():
        return None
    try:
        from openapi_core import OpenAPI

        return OpenAPI.from_file_path(str(SPEC_PATH))
    except Exception:
        return None


def _check_against_spec(responses: list[requests.Response]) -> None:
    spec = _spec()
    if spec is None:
        return
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    problems = []
    for response in responses:
        request = response.request
        try:
            spec.validate_response(
                RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response)
            )
        except Exception as exc:
            causes = []
            cause = exc.__cause__
            while cause is not None:
                for error in getattr(cause, "schema_errors", None) or []:
                    where = ".".join(map(str, error.absolute_path)) or "$"
                    causes.append(f"{where}: {error.message}")
                cause = cause.__cause__
            problems.append(
                f"{response.status_code} to {request.method} {request.path_url}: "
                f"{type(exc).__name__}: {exc} {causes}"
            )
    assert not problems, "fake replies that break openapi/runbeam.yaml:\n" + "\n".join(problems)


@pytest.fixture
def fake() -> Iterator[FakeRunbeam]:
    with FakeRunbeam() as server:
        yield server


@pytest.fixture
def http(request: pytest.FixtureRequest, fake: FakeRunbeam) -> Iterator[requests.Session]:
    """A session whose every response is checked against the spec after the test."""
    seen: list[requests.Response] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *args, **kwargs: seen.append(r))
    with session:
        yield session
    if request.node.get_closest_marker("off_spec") is None:
        _check_against_spec(seen)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user(fake: FakeRunbeam) -> dict[str, str]:
    return bearer(fake.user_token)


def machine(fake: FakeRunbeam, gateway_id: str = "gateway-123") -> dict[str, str]:
    return bearer(fake.issue_machine_token(gateway_id))


def gateway_change_ids(fake: FakeRunbeam, gateway_id: str = "gateway-123") -> list[str]:
    """Ids of a gateway's changes, newest first."""
    return [c["id"] for c in reversed(fake.changes.values()) if c["gateway_id"] == gateway_id]


def parse_time(value: str) -> float:
    assert value.endswith("Z"), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def jwks_key(http: requests.Session, fake: FakeRunbeam, kid: str) -> Any:
    keys = http.get(fake.api_url + "/.well-known/jwks.json").json()["keys"]
    return jwt.PyJWK(next(k for k in keys if k["kid"] == kid)).key


# -- lifecycle ------------------------------------------------------------------------


def test_urls_lifecycle_and_clean_stop() -> None:
    server = FakeRunbeam()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    server.start()
    try:
        url = server.url
        assert url == f"http://127.0.0.1:{server.port}"
        assert server.api_url == server.url + "/api"
        assert server.port > 0
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        # An idle keep-alive connection must not hold stop() up.
        session = requests.Session()
        assert session.get(server.api_url + "/gateways", headers=user(server)).status_code == 200
    finally:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
    server.stop()  # twice is fine
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/api/gateways", timeout=1)
    session.close()


def test_stop_ends_threads() -> None:
    before = threading.active_count()
    with FakeRunbeam() as server, requests.Session() as session:
        for _ in range(3):
            session.get(server.api_url + "/gateways", headers=user(server))
    assert threading.active_count() == before


def test_importing_the_package_is_cheap() -> None:
    code = (
        "import sys, controldeck.testing as t; "
        "assert 'jwt' not in sys.modules and 'cryptography' not in sys.modules; "
        "assert 'controldeck.testing.runbeam' not in sys.modules; "
        "assert t.FakeRunbeam.__name__ == 'FakeRunbeam'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_threads_are_served_concurrently(fake: FakeRunbeam) -> None:
    def get(_: int) -> int:
        return requests.get(fake.api_url + "/gateways", headers=user(fake)).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(get, range(16))) == [200] * 16


# -- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "bearer 1|fake-runbeam-user-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Token 1|fake-runbeam-user-token"},
    ],
)
def test_missing_or_unknown_token_is_401(
    fake: FakeRunbeam, http: requests.Session, headers: dict[str, str]
) -> None:
    response = http.get(fake.api_url + "/harmony/changes", headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == UNAUTHENTICATED


def test_accepted_tokens(fake: FakeRunbeam, http: requests.Session) -> None:
    fake.tokens.add("2|another")
    for token in [fake.user_token, "2|another", fake.mint_user_token(), fake.issue_machine_token()]:
        assert http.get(fake.api_url + "/gateways", headers=bearer(token)).status_code == 200


def test_rejected_jwts(fake: FakeRunbeam, http: requests.Session) -> None:
    expired = fake.mint_user_token(expires_in=-120)
    wrong_audience = fake.mint_user_token(audience="someone-else")
    foreign = jwt.encode({"sub": "x", "exp": 2**31, "iat": 0, "aud": "runbeam-cli"}, "k" * 32)
    for token in [expired, wrong_audience, foreign]:
        response = http.get(fake.api_url + "/gateways", headers=bearer(token))
        assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


def test_expired_machine_token_is_401(fake: FakeRunbeam, http: requests.Session) -> None:
    token = fake.issue_machine_token(expires_in=-1)
    response = http.get(fake.api_url + "/harmony/changes/gateway-123", headers=bearer(token))
    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


def test_jwks_is_public_and_verifies_minted_tokens(
    fake: FakeRunbeam, http: requests.Session
) -> None:
    token = fake.mint_user_token(sub="alice", team_id="team-456", expires_in=600)
    response = http.get(fake.api_url + "/.well-known/jwks.json")  # no Authorization header
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert {k: key[k] for k in ("kty", "use", "alg", "e")} == {
        "kty": "RSA", "use": "sig", "alg": "RS256", "e": "AQAB"
    }  # fmt: skip
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == key["kid"]
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="runbeam-cli")
    assert claims["iss"] == fake.url
    assert claims["sub"] == "alice"
    assert claims["aud"] == "runbeam-cli"
    assert claims["exp"] - claims["iat"] == 600
    assert claims["user"] == {"id": "alice", "name": "Test User", "email": "test@example.com"}
    assert claims["team"] == {"id": "team-456", "name": "Test Team"}


def test_rotate_key(fake: FakeRunbeam, http: requests.Session) -> None:
    old_token = fake.mint_user_token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    kept = fake.rotate_key(keep_old=True)
    kids = [k["kid"] for k in http.get(fake.api_url + "/.well-known/jwks.json").json()["keys"]]
    assert kids == [old_kid, kept]
    assert http.get(fake.api_url + "/gateways", headers=bearer(old_token)).status_code == 200

    new_kid = fake.rotate_key()
    new_token = fake.mint_user_token()
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    kids = [k["kid"] for k in http.get(fake.api_url + "/.well-known/jwks.json").json()["keys"]]
    assert kids == [new_kid]
    assert http.get(fake.api_url + "/gateways", headers=bearer(old_token)).status_code == 401
    assert http.get(fake.api_url + "/gateways", headers=bearer(new_token)).status_code == 200
    jwt.decode(
        new_token, jwks_key(http, fake, new_kid), algorithms=["RS256"], audience="runbeam-cli"
    )


# -- authorize ------------------------------------------------------------------------


def test_authorize_known_gateway(fake: FakeRunbeam, http: requests.Session) -> None:
    body = {
        "token": fake.user_token,
        "gateway_code": "my-gateway",
        "machine_public_key": "pubkey123",
        "metadata": ["version:1.0", "hostname:test-host"],
    }
    response = http.post(fake.api_url + "/harmony/authorize", headers=user(fake), json=body)
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"machine_token", "expires_in", "expires_at", "gateway", "abilities"}
    assert data["machine_token"].startswith("mt_")
    assert data["expires_in"] == 2592000.0 and '"expires_in":2592000.0' in response.text
    assert abs(parse_time(data["expires_at"]) - (time.time() + 2592000)) < 5
    assert data["gateway"] == {"id": "gateway-123", "code": "my-gateway", "name": "My Gateway"}
    assert data["abilities"] == ["harmony:send", "harmony:receive"]
    stored = fake.machine_tokens[data["machine_token"]]
    assert stored["gateway_id"] == "gateway-123"
    assert stored["metadata"] == ["version:1.0", "hostname:test-host"]
    # The machine token works as a bearer token.
    changes = http.get(
        fake.api_url + "/harmony/changes/gateway-123", headers=bearer(data["machine_token"])
    )
    assert changes.status_code == 200


def test_authorize_creates_an_unknown_gateway(fake: FakeRunbeam, http: requests.Session) -> None:
    token = fake.mint_user_token(team_id="team-999")
    body = {"token": token, "gateway_code": "brand-new"}
    response = http.post(fake.api_url + "/harmony/authorize", headers=bearer(token), json=body)
    assert response.status_code == 201
    gateway = response.json()["gateway"]
    assert gateway["code"] == gateway["name"] == "brand-new"
    fetched = http.get(fake.api_url + "/gateways/brand-new", headers=user(fake)).json()["data"]
    assert fetched["id"] == gateway["id"] and fetched["team_id"] == "team-999"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {},
            {
                "token": ["The token field is required."],
                "gateway_code": ["The gateway_code field is required."],
            },
        ),
        (
            {"token": "someone-else", "gateway_code": "gw"},
            {"token": ["The token must match the bearer token."]},
        ),
        (
            {"token": "<bearer>", "gateway_code": "g" * 256},
            {"gateway_code": ["The gateway_code field must not be greater than 255 characters."]},
        ),
        (
            {"token": "<bearer>", "gateway_code": "gw", "metadata": {"a": "b"}},
            {"metadata": ["The metadata field must be an array."]},
        ),
        (
            {"token": "<bearer>", "gateway_code": "gw", "metadata": ["ok", 3]},
            {"metadata.1": ["The metadata.1 field must be a string."]},
        ),
        (
            {"token": "<bearer>", "gateway_code": 5, "machine_public_key": 7},
            {
                "gateway_code": ["The gateway_code field must be a string."],
                "machine_public_key": ["The machine_public_key field must be a string."],
            },
        ),
    ],
)
def test_authorize_validation(
    fake: FakeRunbeam, http: requests.Session, body: dict[str, Any], errors: dict[str, Any]
) -> None:
    if body.get("token") == "<bearer>":
        body["token"] = fake.user_token
    response = http.post(fake.api_url + "/harmony/authorize", headers=user(fake), json=body)
    assert response.status_code == 422
    assert response.json() == {"message": INVALID, "errors": errors}


def test_authorize_with_a_machine_token_is_403(fake: FakeRunbeam, http: requests.Session) -> None:
    token = fake.issue_machine_token()
    body = {"token": token, "gateway_code": "my-gateway"}
    response = http.post(fake.api_url + "/harmony/authorize", headers=bearer(token), json=body)
    assert response.status_code == 403
    assert response.json() == {"message": "This action is unauthorized."}


# -- changes --------------------------------------------------------------------------


def test_list_changes_for_gateway(fake: FakeRunbeam, http: requests.Session) -> None:
    response = http.get(fake.api_url + "/harmony/changes/gateway-123", headers=user(fake))
    assert response.status_code == 200
    page = response.json()
    assert [c["type"] for c in page["data"]] == ["transform", "pipeline", "gateway"]
    assert [c["id"] for c in page["data"]] == gateway_change_ids(fake)
    for change in page["data"]:
        assert set(change) == CHANGE_FIELDS
        assert change["status"] == "pending" and change["gateway_id"] == "gateway-123"
        assert change["toml_config"] and change["created_at"].endswith("Z")
    pipeline = page["data"][1]
    assert pipeline["pipeline_id"] == "pipeline-123"
    assert pipeline["toml_config"].startswith("[pipelines.main-pipeline]\n")
    transform = page["data"][0]
    assert '{"operation":"shift"' in transform["toml_config"]
    # By code, too; an unknown gateway simply has no changes.
    by_code = http.get(fake.api_url + "/harmony/changes/my-gateway", headers=user(fake)).json()
    assert by_code["data"] == page["data"]
    unknown = http.get(fake.api_url + "/harmony/changes/nope", headers=user(fake)).json()
    assert unknown["data"] == [] and unknown["meta"]["total"] == 0


def test_list_all_changes_newest_first(fake: FakeRunbeam, http: requests.Session) -> None:
    page = http.get(fake.api_url + "/harmony/changes", headers=user(fake)).json()
    assert page["meta"]["total"] == 43 and page["meta"]["last_page"] == 3
    assert [c["gateway_id"] for c in page["data"][:4]] == ["gateway-123"] * 3 + ["gateway-bulk"]
    created = [c["created_at"] for c in page["data"]]
    assert created == sorted(created, reverse=True)


def test_machine_token_of_another_gateway(fake: FakeRunbeam, http: requests.Session) -> None:
    other = machine(fake, "gateway-456")
    change_id = gateway_change_ids(fake)[0]
    forbidden = {"error": "Forbidden", "message": "This change does not belong to your gateway"}
    response = http.get(fake.api_url + f"/harmony/change/{change_id}", headers=other)
    assert (response.status_code, response.json()) == (403, forbidden)
    for action, body in [("applied", None), ("failed", {"error": "boom"})]:
        url = fake.api_url + f"/harmony/change/{change_id}/{action}"
        response = http.post(url, headers=other, json=body)
        assert (response.status_code, response.json()) == (403, forbidden)
    response = http.get(fake.api_url + "/harmony/changes/gateway-123", headers=other)
    assert response.status_code == 403
    assert response.json() == {
        "error": "Forbidden", "message": "This gateway does not belong to your team"
    }  # fmt: skip
    ack = http.post(
        fake.api_url + "/harmony/changes/acknowledge",
        headers=other,
        json={"change_ids": [change_id]},
    )
    assert ack.json() == {"acknowledged": [], "failed": [change_id]}
    assert fake.changes[change_id]["status"] == "pending"


def test_get_change(fake: FakeRunbeam, http: requests.Session) -> None:
    change_id = gateway_change_ids(fake)[-1]
    response = http.get(fake.api_url + f"/harmony/change/{change_id}", headers=machine(fake))
    assert response.status_code == 200
    assert response.json() == {"data": fake.changes[change_id]}
    assert response.json()["data"]["toml_config"].startswith('[proxy]\nid = "my-gateway"\n')


def test_unknown_change_is_plain_text_404(fake: FakeRunbeam, http: requests.Session) -> None:
    for method, suffix, body in [
        ("GET", "", None),
        ("POST", "/applied", None),
        ("POST", "/failed", {"error": "x"}),
    ]:
        url = fake.api_url + f"/harmony/change/01JNOSUCHCHANGE{suffix}"
        response = http.request(method, url, headers=user(fake), json=body)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "text/plain; charset=UTF-8"
        assert response.text == "Change not found"


def test_change_state_machine(fake: FakeRunbeam, http: requests.Session) -> None:
    auth = machine(fake)
    first, second, third = gateway_change_ids(fake)
    response = http.post(
        fake.api_url + "/harmony/changes/acknowledge",
        headers=auth,
        json={"change_ids": [first, second, "01JNOSUCHCHANGE"]},
    )
    assert response.status_code == 200
    assert response.json() == {"acknowledged": [first, second], "failed": ["01JNOSUCHCHANGE"]}
    assert fake.changes[first]["status"] == "acknowledged"
    assert fake.changes[first]["acknowledged_at"].endswith("Z")
    # Acknowledging twice fails the second time.
    again = http.post(
        fake.api_url + "/harmony/changes/acknowledge", headers=auth, json={"change_ids": [first]}
    )
    assert again.json() == {"acknowledged": [], "failed": [first]}

    applied = http.post(fake.api_url + f"/harmony/change/{first}/applied", headers=auth)
    assert applied.status_code == 200
    assert applied.json() == {"success": True, "message": "Change marked as applied"}
    assert fake.changes[first]["status"] == "applied"
    assert fake.changes[first]["applied_at"] is not None

    details = ["Invalid JSON at line 42", "Missing required field 'name'"]
    failed = http.post(
        fake.api_url + f"/harmony/change/{second}/failed",
        headers=auth,
        json={"error": "Configuration parse error", "details": details},
    )
    assert failed.status_code == 200
    assert failed.json() == {"success": True, "message": "Change marked as failed"}
    detail = http.get(fake.api_url + f"/harmony/change/{second}", headers=auth).json()["data"]
    assert detail["status"] == "failed"
    assert detail["error_message"] == "Configuration parse error"
    assert detail["error_details"] == details
    assert detail["failed_at"].endswith("Z") and detail["applied_at"] is None

    # A pending change may be marked failed directly; details are optional.
    failed = http.post(
        fake.api_url + f"/harmony/change/{third}/failed", headers=auth, json={"error": "x"}
    )
    assert failed.status_code == 200
    assert fake.changes[third]["error_details"] is None
    page = http.get(fake.api_url + "/harmony/changes/gateway-123", headers=auth).json()
    statuses = [c["status"] for c in page["data"]]
    assert statuses == ["applied", "failed", "failed"]


def test_wrong_status_is_409(fake: FakeRunbeam, http: requests.Session) -> None:
    pending = gateway_change_ids(fake)[0]
    response = http.post(fake.api_url + f"/harmony/change/{pending}/applied", headers=user(fake))
    assert response.status_code == 409
    assert response.json() == {
        "message": "Change must be acknowledged before it is applied (status: pending)."
    }
    fake.changes[pending]["status"] = "applied"
    response = http.post(
        fake.api_url + f"/harmony/change/{pending}/failed", headers=user(fake), json={"error": "x"}
    )
    assert response.status_code == 409
    assert response.json() == {
        "message": "Change is already applied and cannot be marked as failed."
    }


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"change_ids": []}, {"change_ids": ["The change_ids field is required."]}),
        ({}, {"change_ids": ["The change_ids field is required."]}),
        ({"change_ids": "abc"}, {"change_ids": ["The change_ids field must be an array."]}),
        ({"change_ids": ["a", 1]}, {"change_ids.1": ["The change_ids.1 field must be a string."]}),
    ],
)
def test_acknowledge_validation(
    fake: FakeRunbeam, http: requests.Session, body: dict[str, Any], errors: dict[str, Any]
) -> None:
    url = fake.api_url + "/harmony/changes/acknowledge"
    response = http.post(url, headers=user(fake), json=body)
    assert response.status_code == 422
    assert response.json() == {"message": INVALID, "errors": errors}


def test_mark_failed_validation(fake: FakeRunbeam, http: requests.Session) -> None:
    url = fake.api_url + f"/harmony/change/{gateway_change_ids(fake)[0]}/failed"
    for body, errors in [
        ({"error": ""}, {"error": ["The error field is required."]}),
        ({}, {"error": ["The error field is required."]}),
        ({"error": "x", "details": "y"}, {"details": ["The details field must be an array."]}),
    ]:
        response = http.post(url, headers=user(fake), json=body)
        assert response.status_code == 422
        assert response.json() == {"message": INVALID, "errors": errors}
    assert fake.changes[gateway_change_ids(fake)[0]]["status"] == "pending"


def test_add_change(fake: FakeRunbeam, http: requests.Session) -> None:
    change = fake.add_change("gateway-123", "mesh", "[mesh.m]\n", metadata={"k": 1})
    assert fake.changes[change["id"]] is change
    assert len(change["id"]) == 26
    first = http.get(fake.api_url + "/harmony/changes/gateway-123", headers=user(fake)).json()
    assert first["data"][0] == change
    default = fake.add_change("gateway-456")
    assert default["type"] == "gateway"
    assert default["toml_config"] == '[proxy]\nid = "gateway-456"\n'


# -- pagination -----------------------------------------------------------------------


def test_pagination_follows_links(fake: FakeRunbeam, http: requests.Session) -> None:
    path = f"{fake.api_url}/harmony/changes/gateway-bulk"
    page = http.get(path, headers=user(fake)).json()
    assert page["links"] == {
        "first": f"{path}?page=1",
        "last": f"{path}?page=3",
        "prev": None,
        "next": f"{path}?page=2",
    }
    meta = page["meta"]
    assert {k: v for k, v in meta.items() if k != "links"} == {
        "current_page": 1,
        "from": 1,
        "last_page": 3,
        "path": path,
        "per_page": 15,
        "to": 15,
        "total": 40,
    }
    assert meta["links"] == [
        {"url": None, "label": "&laquo; Previous", "active": False},
        {"url": f"{path}?page=1", "label": "1", "active": True},
        {"url": f"{path}?page=2", "label": "2", "active": False},
        {"url": f"{path}?page=3", "label": "3", "active": False},
        {"url": f"{path}?page=2", "label": "Next &raquo;", "active": False},
    ]
    seen = [c["id"] for c in page["data"]]
    pages = [page]
    while page["links"]["next"]:
        page = http.get(page["links"]["next"], headers=user(fake)).json()
        pages.append(page)
        seen += [c["id"] for c in page["data"]]
    assert [len(p["data"]) for p in pages] == [15, 15, 10]
    assert seen == gateway_change_ids(fake, "gateway-bulk")
    last = pages[-1]
    assert (last["meta"]["current_page"], last["meta"]["from"], last["meta"]["to"]) == (3, 31, 40)
    assert last["links"]["prev"] == f"{path}?page=2" and last["links"]["next"] is None
    revisions = [c["metadata"]["revision"] for p in pages for c in p["data"]]
    assert revisions == list(range(40, 0, -1))


def test_pagination_edges(fake: FakeRunbeam, http: requests.Session) -> None:
    path = f"{fake.api_url}/harmony/changes/gateway-bulk"
    beyond = http.get(path, params={"page": 9}, headers=user(fake)).json()
    assert beyond["data"] == []
    assert (beyond["meta"]["from"], beyond["meta"]["to"], beyond["meta"]["current_page"]) == (
        None,
        None,
        9,
    )
    assert beyond["links"]["prev"] == f"{path}?page=8" and beyond["links"]["next"] is None


def test_unreadable_page_is_page_one(fake: FakeRunbeam, http: requests.Session) -> None:
    for page in ["abc", "0", "-3"]:
        body = http.get(
            fake.api_url + "/gateways", params={"page": page}, headers=user(fake)
        ).json()
        assert body["meta"]["current_page"] == 1


def test_empty_list_and_page_size() -> None:
    with FakeRunbeam(seed=False, page_size=2) as empty, requests.Session() as session:
        seen: list[requests.Response] = []
        session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
        body = session.get(empty.api_url + "/gateways", headers=user(empty)).json()
        path = empty.api_url + "/gateways"
        assert body == {
            "data": [],
            "links": {"first": f"{path}?page=1", "last": f"{path}?page=1", "prev": None,
                      "next": None},
            "meta": {
                "current_page": 1, "from": None, "last_page": 1,
                "links": [
                    {"url": None, "label": "&laquo; Previous", "active": False},
                    {"url": f"{path}?page=1", "label": "1", "active": True},
                    {"url": None, "label": "Next &raquo;", "active": False},
                ],
                "path": path, "per_page": 2, "to": None, "total": 0,
            },
        }  # fmt: skip
        assert empty.changes == {} and empty.gateways == {}
        for _ in range(5):
            empty.add_change("gw")
        meta = session.get(empty.api_url + "/harmony/changes", headers=user(empty)).json()["meta"]
        assert (meta["per_page"], meta["last_page"], meta["total"]) == (2, 3, 5)
        _check_against_spec(seen)
    with pytest.raises(ValueError, match="page_size"):
        FakeRunbeam(page_size=0)


# -- store config ---------------------------------------------------------------------


def test_store_config_creates_with_a_machine_token(
    fake: FakeRunbeam, http: requests.Session
) -> None:
    body = {"type": "pipeline", "config": '[pipelines.new]\ndescription = "x"\n'}
    response = http.post(fake.api_url + "/harmony/update", headers=machine(fake), json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["success"] is True
    assert data["message"] == "Pipeline configuration updated successfully"
    new_id = data["data"]["id"]
    assert data["data"] == {"id": new_id, "type": "pipeline", "action": "created"}
    assert fake.configs[new_id]["config"] == body["config"]
    # The push shows up as a new pending change for the pushing gateway.
    newest = http.get(fake.api_url + "/harmony/changes/gateway-123", headers=user(fake)).json()
    change = newest["data"][0]
    assert (change["type"], change["status"], change["toml_config"]) == (
        "pipeline",
        "pending",
        body["config"],
    )
    assert change["pipeline_id"] == new_id
    assert change["metadata"] == {"config_id": new_id, "action": "created"}


def test_store_config_updates_with_a_user_token(fake: FakeRunbeam, http: requests.Session) -> None:
    body = {"type": "gateway", "id": "gateway-123", "config": '[proxy]\nid = "test"\n'}
    response = http.post(fake.api_url + "/harmony/update", headers=user(fake), json=body)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Gateway configuration updated successfully",
        "data": {"id": "gateway-123", "type": "gateway", "action": "updated"},
    }
    assert fake.changes[gateway_change_ids(fake)[0]]["toml_config"] == body["config"]
    # A transform of gateway-123 updated by id lands on gateway-123 too.
    body = {"type": "transform", "id": "transform-123", "config": "[transform.t]\n"}
    response = http.post(fake.api_url + "/harmony/update", headers=user(fake), json=body)
    assert response.json()["data"]["action"] == "updated"
    assert fake.changes[gateway_change_ids(fake)[0]]["type"] == "transform"


def test_store_config_errors(fake: FakeRunbeam, http: requests.Session) -> None:
    url = fake.api_url + "/harmony/update"
    for body, errors in [
        (
            {},
            {"type": ["The type field is required."], "config": ["The config field is required."]},
        ),
        ({"type": "policy", "config": "x"}, {"type": ["The selected type is invalid."]}),
        ({"type": "gateway", "config": 5}, {"config": ["The config field must be a string."]}),
        ({"type": "gateway", "id": 5, "config": "x"}, {"id": ["The id field must be a string."]}),
        (
            {"type": "pipeline", "config": "x"},  # a user token must say which resource
            {"id": ["The id field is required when not using a gateway token."]},
        ),
    ]:
        response = http.post(url, headers=user(fake), json=body)
        assert response.status_code == 422, body
        assert response.json() == {"message": INVALID, "errors": errors}
    missing = {"type": "gateway", "id": "01JNOPE", "config": "x"}
    response = http.post(url, headers=user(fake), json=missing)
    assert response.status_code == 404
    assert response.json() == {
        "message": "No query results for model [App\\Models\\Gateway] 01JNOPE"
    }


# -- mesh token -----------------------------------------------------------------------


def test_mesh_token(fake: FakeRunbeam, http: requests.Session) -> None:
    body = {
        "mesh_id": "01HXYZ123456789ABCDEF",
        "destination_url": "https://partner.example.com/fhir/r4/Patient?_count=10",
    }
    response = http.post(fake.api_url + "/harmony/mesh/token", headers=machine(fake), json=body)
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"token", "expires_at", "mesh_id"}
    assert data["mesh_id"] == "01HXYZ123456789ABCDEF"
    kid = jwt.get_unverified_header(data["token"])["kid"]
    claims = jwt.decode(
        data["token"],
        jwks_key(http, fake, kid),
        algorithms=["RS256"],
        audience="mesh:mesh-healthcare",
    )
    assert claims["exp"] - claims["iat"] == 300
    assert parse_time(data["expires_at"]) == claims["exp"]
    assert claims["sub"] == "gateway:gateway-123"
    assert claims["dest_url"] == body["destination_url"]
    assert claims["mesh_id"] == body["mesh_id"]
    assert claims["source_team"] == "team-456"
    assert claims["iss"] == fake.url and claims["jti"]
    # A mesh token is not a user token.
    response = http.get(fake.api_url + "/gateways", headers=bearer(data["token"]))
    assert response.status_code == 401


def test_mesh_token_errors(fake: FakeRunbeam, http: requests.Session) -> None:
    url = fake.api_url + "/harmony/mesh/token"
    good = {"mesh_id": "01HXYZ123456789ABCDEF", "destination_url": "https://partner.example.com/x"}

    def post(headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        response = http.post(url, headers=headers, json=body)
        return response.status_code, response.json()

    assert post(user(fake), good) == (
        401,
        {"error": "Unauthenticated", "message": "This endpoint requires gateway authentication."},
    )
    assert post(machine(fake), {**good, "mesh_id": "01HNOPE"}) == (
        404,
        {"error": "Mesh not found", "message": "The specified mesh does not exist."},
    )
    assert post(machine(fake), {}) == (
        422,
        {
            "message": INVALID,
            "errors": {
                "mesh_id": ["The mesh_id field is required."],
                "destination_url": ["The destination_url field is required."],
            },
        },
    )
    assert post(machine(fake, "gateway-456"), good) == (
        403,
        {"error": "Gateway does not have egress rights in this mesh"},
    )
    assert post(machine(fake), {**good, "destination_url": "https://evil.example.com/"}) == (
        403,
        {"error": "No ingress matches destination URL"},
    )
    fake.meshes["01HXYZ123456789ABCDEF"]["enabled"] = False
    assert post(machine(fake), good) == (400, {"error": "Mesh is disabled"})


# -- resolve --------------------------------------------------------------------------


def test_resolve(fake: FakeRunbeam, http: requests.Session) -> None:
    url = fake.api_url + "/harmony/resources/resolve"
    for ref in ["runbeam.acme.ingress.name.patient_api", "runbeam.id.01JGXYZ123ABC"]:
        response = http.get(url, params={"ref": ref}, headers=machine(fake))
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == {
            "type": "ingress", "id": "01JGXYZ123ABC", "name": "patient_api",
            "team_id": "team-456", "enabled": True, "gateway_id": "gateway-123",
            "pipeline_id": "pipeline-123", "mesh_id": "01HXYZ123456789ABCDEF",
            "urls": ["https://partner.example.com/fhir/r4"], "protocol": "http", "mode": "mesh",
            "backend_id": None, "service_id": "service-002", "endpoint_id": "endpoint-001",
            "description": "Patient API ingress", "provider": "runbeam", "auth_type": "jwt",
        }  # fmt: skip
        assert body["meta"]["provider"] == "runbeam"
        assert abs(parse_time(body["meta"]["resolved_at"]) - time.time()) < 5
    egress = http.get(
        url, params={"ref": "runbeam.partner_lab.egress.id.01JGXYZ"}, headers=user(fake)
    ).json()
    assert (egress["data"]["type"], egress["data"]["backend_id"]) == ("egress", "backend-001")
    # The SDK percent-encodes the ref; the fake decodes it.
    encoded = http.get(url + "?ref=runbeam%2Eid%2E01JGXYZ123ABC", headers=user(fake))
    assert encoded.json()["data"]["id"] == "01JGXYZ123ABC"

    missing = http.get(url, params={"ref": "runbeam.id.01JNOPE"}, headers=user(fake))
    assert (missing.status_code, missing.json()) == (404, {"message": "Resource not found"})


def test_resolve_without_ref_is_422(fake: FakeRunbeam, http: requests.Session) -> None:
    response = http.get(fake.api_url + "/harmony/resources/resolve", headers=user(fake))
    assert response.status_code == 422
    assert response.json() == {
        "message": INVALID,
        "errors": {"ref": ["The ref field is required."]},
    }


# -- resources ------------------------------------------------------------------------


def test_gateways(fake: FakeRunbeam, http: requests.Session) -> None:
    listed = http.get(fake.api_url + "/gateways", headers=user(fake)).json()
    assert [g["id"] for g in listed["data"]] == ["gateway-123", "gateway-456", "gateway-bulk"]
    gateway = listed["data"][0]
    assert gateway == {
        "type": "gateway", "id": "gateway-123", "code": "my-gateway", "name": "My Gateway",
        "enabled": True, "pipelines_path": "/etc/harmony/pipelines",
        "transforms_path": "/etc/harmony/transforms", "jwks_cache_duration_hours": 24,
        "management_enabled": True, "management_base_path": "/manage",
        "management_network_id": "network-789", "dns": ["8.8.8.8", "1.1.1.1"],
        "settings": {"timeout": 30}, "team_id": "team-456",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
    }  # fmt: skip
    for key in ["gateway-123", "my-gateway"]:
        response = http.get(fake.api_url + f"/gateways/{key}", headers=user(fake))
        assert response.json() == {"data": gateway}
    missing = http.get(fake.api_url + "/gateways/nope", headers=user(fake))
    assert missing.status_code == 404
    assert missing.json() == {"message": "No query results for model [App\\Models\\Gateway] nope"}


def test_services_endpoints_backends_pipelines(fake: FakeRunbeam, http: requests.Session) -> None:
    services = http.get(fake.api_url + "/services", headers=user(fake)).json()["data"]
    assert [s["code"] for s in services] == ["api-service", "fhir-service"]
    service = http.get(fake.api_url + "/services/service-001", headers=user(fake)).json()["data"]
    assert (service["type"], service["gateway_id"], service["description"]) == (
        "service",
        "gateway-123",
        "Main API service",
    )
    missing = http.get(fake.api_url + "/services/nope", headers=user(fake))
    assert missing.status_code == 404
    assert missing.json() == {"message": "No query results for model [App\\Models\\Service] nope"}

    endpoints = http.get(fake.api_url + "/endpoints", headers=user(fake)).json()["data"]
    assert [(e["id"], e["path"], e["methods"]) for e in endpoints] == [
        ("endpoint-001", "/api/users", ["GET"]),
        ("endpoint-002", "/api/users", ["POST"]),
    ]
    backends = http.get(fake.api_url + "/backends", headers=user(fake)).json()["data"]
    assert [(b["url"], b["timeout_seconds"]) for b in backends] == [("https://api.example.com", 30)]
    (pipeline,) = http.get(fake.api_url + "/pipelines", headers=user(fake)).json()["data"]
    assert pipeline["description"] == "Primary request pipeline"
    assert pipeline["networks"] == ["network-1", "network-2"]
    assert pipeline["endpoints"] == {"list": ["endpoint-1", "endpoint-2"]}
    assert pipeline["backends"] == {"primary": "backend-1"}
    assert pipeline["middleware"] == {"auth": {"type": "jwt"}}
    for resource in [*services, *endpoints, *backends, pipeline]:
        assert {"type", "id", "code", "name", "team_id", "created_at", "updated_at"} <= set(
            resource
        )


def test_transform(fake: FakeRunbeam, http: requests.Session) -> None:
    response = http.get(fake.api_url + "/transforms/transform-123", headers=machine(fake))
    transform = response.json()["data"]
    assert (transform["type"], transform["code"], transform["gateway_id"]) == (
        "transform",
        "user-transform",
        "gateway-123",
    )
    instructions = json.loads(transform["options"]["instructions"])
    assert instructions == [{"operation": "shift", "spec": {"user": {"name": "name"}}}]
    missing = http.get(fake.api_url + "/transforms/nope", headers=user(fake))
    assert missing.status_code == 404


# -- base url -------------------------------------------------------------------------


def test_base_url(fake: FakeRunbeam, http: requests.Session) -> None:
    expected = {"base_url": fake.api_url, "changes_path": None, "full_url": None}
    for url in [fake.api_url + "/harmony/base-url", fake.url + "/harmony/base-url"]:
        response = http.get(url, headers=user(fake))
        assert (response.status_code, response.json()) == (200, expected)
        assert http.get(url).status_code == 401
    fake.base_url_response = {
        "base_url": "https://api.runbeam.io",
        "changes_path": "/api/changes",
        "full_url": "https://api.runbeam.io/api/changes",
    }
    response = http.get(fake.api_url + "/harmony/base-url", headers=user(fake))
    assert response.json() == fake.base_url_response


def test_base_url_fallback(fake: FakeRunbeam, http: requests.Session) -> None:
    fake.base_url_at_api_root = False
    response = http.get(fake.api_url + "/harmony/base-url", headers=user(fake))
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})
    response = http.get(fake.url + "/harmony/base-url", headers=user(fake))
    assert response.json()["base_url"] == fake.api_url


# -- test hooks -----------------------------------------------------------------------


@pytest.mark.off_spec("injected 429/502/503 and unknown routes are not in the spec")
def test_fail_next(fake: FakeRunbeam, http: requests.Session) -> None:
    url = fake.api_url + "/gateways"
    fake.fail_next(503, headers={"Retry-After": "1"})
    response = http.get(url)  # served before authentication, like a proxy would
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"message": "Service Unavailable"}
    assert http.get(url, headers=user(fake)).status_code == 200

    fake.fail_next(429, {"message": "Too Many Attempts."}, headers={"Retry-After": "2"}, times=2)
    assert [http.get(url, headers=user(fake)).status_code for _ in range(3)] == [429, 429, 200]

    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    fake.fail_next(502, html, content_type="text/html")
    response = http.get(url, headers=user(fake))
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == html

    fake.fail_next(500, b"\x00raw", method="POST", path=r"/api/harmony/change/[^/]+/applied")
    assert http.get(url, headers=user(fake)).status_code == 200  # not matched: still queued
    change_id = gateway_change_ids(fake)[0]
    response = http.post(fake.api_url + f"/harmony/change/{change_id}/applied", headers=user(fake))
    assert (response.status_code, response.content) == (500, b"\x00raw")
    with pytest.raises(ValueError, match="times"):
        fake.fail_next(500, times=0)


@pytest.mark.off_spec("unknown routes and wrong methods are not in the spec")
def test_unknown_route_and_method(fake: FakeRunbeam, http: requests.Session) -> None:
    response = http.get(fake.api_url + "/nothing/here", headers=user(fake))
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})
    response = http.delete(fake.api_url + "/gateways", headers=user(fake))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_recorded_requests(fake: FakeRunbeam, http: requests.Session) -> None:
    change_id = gateway_change_ids(fake)[0]
    http.get(
        fake.api_url + "/harmony/resources/resolve",
        params={"ref": "runbeam.id.01JGXYZ123ABC"},
        headers={**user(fake), "X-Trace": "abc"},
    )
    http.post(
        fake.api_url + "/harmony/changes/acknowledge",
        headers=user(fake),
        data=json.dumps({"change_ids": [change_id]}, separators=(",", ":")),
    )
    http.post(fake.api_url + f"/harmony/change/{change_id}/applied", headers=user(fake))
    resolve, ack, applied = fake.requests
    assert isinstance(resolve, RecordedRequest)
    assert (resolve.method, resolve.path) == ("GET", "/api/harmony/resources/resolve")
    assert resolve.query == {"ref": "runbeam.id.01JGXYZ123ABC"}
    assert resolve.headers["authorization"] == "Bearer 1|fake-runbeam-user-token"
    assert resolve.headers["x-trace"] == "abc"
    assert resolve.body == b"" and resolve.json() is None
    assert (ack.method, ack.path, ack.query) == ("POST", "/api/harmony/changes/acknowledge", {})
    assert ack.body == f'{{"change_ids":["{change_id}"]}}'.encode()
    assert ack.json() == {"change_ids": [change_id]}
    assert applied.path == f"/api/harmony/change/{change_id}/applied"
    assert applied.body == b"" and "content-type" not in applied.headers


@pytest.mark.off_spec("openapi-core cannot re-read a generator request body")
def test_chunked_request_body(fake: FakeRunbeam, http: requests.Session) -> None:
    change_id = gateway_change_ids(fake)[0]
    payload = json.dumps({"change_ids": [change_id]}).encode()
    chunks = iter([payload[:5], payload[5:]])  # a generator body is sent chunked
    response = http.post(
        fake.api_url + "/harmony/changes/acknowledge",
        headers={**user(fake), "Content-Type": "application/json"},
        data=chunks,
    )
    assert response.json() == {"acknowledged": [change_id], "failed": []}
    assert fake.requests[-1].headers["transfer-encoding"] == "chunked"
    assert fake.requests[-1].body == payload


def test_recorded_request_repr_masks_credentials(fake: FakeRunbeam, http: requests.Session) -> None:
    user_jwt = fake.mint_user_token()
    http.post(
        fake.api_url + "/harmony/authorize",
        headers=bearer(user_jwt),
        json={"token": user_jwt, "gateway_code": "my-gateway"},
    )
    http.get(fake.api_url + "/gateways", params={"token": "q-secret-1"}, headers=user(fake))
    authorize, listing = fake.requests

    assert authorize.headers["authorization"] == f"Bearer {user_jwt}"  # the data stays exact
    assert authorize.json()["token"] == user_jwt
    text = repr(fake.requests)
    assert user_jwt not in text
    assert fake.user_token not in text and "q-secret-1" not in text
    assert "'authorization': '<redacted>'" in text
    assert repr(authorize).endswith(
        """body=b'{"token": "<redacted>", "gateway_code": "my-gateway"}')"""
    )
    assert repr(listing) == (
        "RecordedRequest(method='GET', path='/api/gateways', query={'token': '<redacted>'}, "
        f"headers={ {**listing.headers, 'authorization': '<redacted>'}!r}, body=b'')"
    )
