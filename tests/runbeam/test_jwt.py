"""validate_jwt_token against a JWKS served by `responses` (no network)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from controldeck.errors import InvalidArgumentError, MissingDependencyError, TokenError
from controldeck.runbeam import _jwt
from controldeck.runbeam._jwt import (
    JwtClaims,
    TeamInfo,
    UserInfo,
    clear_jwks_cache,
    extract_bearer_token,
    validate_jwt_token,
)
from controldeck.testing._server import LoopbackServer, json_reply
from controldeck.testing.runbeam import FakeRunbeam
from tests._conformance import ConformanceMock

ISSUER = "http://issuer.test"
JWKS_URL = f"{ISSUER}/api/.well-known/jwks.json"
USER = {"id": "user123", "name": "Test User", "email": "test@example.com"}
TEAM = {"id": "team456", "name": "Test Team"}
_DROP = object()  # mint(..., claim=_DROP) leaves the claim out


@pytest.fixture(scope="module")
def key_a() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_b() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig", "alg": "RS256", **extra}


def mint(key: Any, *, kid: str | None = "k1", algorithm: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user123",
        "aud": "runbeam-cli",
        "exp": now + 3600,
        "iat": now,
        "user": USER,
        "team": TEAM,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not _DROP}
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_jwks_cache()
    yield
    clear_jwks_cache()


@pytest.fixture
def rsps(request: pytest.FixtureRequest) -> Iterator[responses.RequestsMock]:
    # JWKS fetches are validated against openapi/runbeam.yaml like every other request.
    with ConformanceMock("runbeam", api_prefix="/api") as mock:
        mock.skip_validation = request.node.get_closest_marker("off_spec") is not None
        yield mock
    mock.validate()


def serve(rsps: responses.RequestsMock, *keys: Any, url: str = JWKS_URL) -> None:
    rsps.add(responses.GET, url, json={"keys": list(keys)})


def fetches(rsps: responses.RequestsMock, url: str = JWKS_URL) -> int:
    return sum(1 for call in rsps.calls if call.request.url == url)


def token_error(token: str, **options: Any) -> TokenError:
    with pytest.raises(TokenError) as info:
        validate_jwt_token(token, **options)
    assert token not in str(info.value)
    return info.value


# --- happy path and caching ---------------------------------------------------------------------


def test_valid_token_decodes_exact_claims(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a, exp=4102444800, iat=1767225600)

    claims = validate_jwt_token(token, trusted_issuers=[ISSUER])

    assert claims == JwtClaims(
        iss=ISSUER,
        sub="user123",
        aud="runbeam-cli",
        exp=4102444800,
        iat=1767225600,
        user=UserInfo(id="user123", email="test@example.com", name="Test User"),
        team=TeamInfo(id="team456", name="Test Team"),
    )
    assert fetches(rsps) == 1
    assert rsps.calls[0].request.method == "GET"
    assert "Authorization" not in rsps.calls[0].request.headers


def test_optional_claims_absent(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    claims = validate_jwt_token(
        mint(key_a, aud=_DROP, user=_DROP, team=_DROP), trusted_issuers=[ISSUER]
    )
    assert (claims.aud, claims.user, claims.team) == (None, None, None)


def test_cache_hit_fetches_once(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER])
    validate_jwt_token(mint(key_a, sub="other"), trusted_issuers=[ISSUER])
    assert fetches(rsps) == 1


def test_cache_ttl_expiry_refetches(
    rsps: responses.RequestsMock, key_a: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(_jwt, "_clock", lambda: now[0])
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a)

    validate_jwt_token(token, trusted_issuers=[ISSUER], jwks_cache_ttl=60)
    now[0] += 59
    validate_jwt_token(token, trusted_issuers=[ISSUER], jwks_cache_ttl=60)
    assert fetches(rsps) == 1
    now[0] += 1
    validate_jwt_token(token, trusted_issuers=[ISSUER], jwks_cache_ttl=60)
    assert fetches(rsps) == 2


def test_key_rotation_refetches_unknown_kid(
    rsps: responses.RequestsMock, key_a: Any, key_b: Any
) -> None:
    serve(rsps, jwk(key_a, "k1"))
    serve(rsps, jwk(key_a, "k1"), jwk(key_b, "k2"))
    validate_jwt_token(mint(key_a, kid="k1"), trusted_issuers=[ISSUER])

    claims = validate_jwt_token(mint(key_b, kid="k2"), trusted_issuers=[ISSUER])

    assert claims.sub == "user123"
    assert fetches(rsps) == 2


def test_unknown_kid_refetches_then_fails(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    validate_jwt_token(mint(key_a, kid="k1"), trusted_issuers=[ISSUER])

    exc = token_error(mint(key_a, kid="nope"), trusted_issuers=[ISSUER])

    assert "Key ID 'nope' not found" in str(exc)
    assert JWKS_URL in str(exc)
    assert fetches(rsps) == 2


def test_tampered_token_clears_cache_refetches_once(
    rsps: responses.RequestsMock, key_a: Any
) -> None:
    serve(rsps, jwk(key_a, "k1"))
    header, _, signature = mint(key_a).split(".")
    forged_payload = mint(key_a, sub="admin").split(".")[1]
    tampered = f"{header}.{forged_payload}.{signature}"

    exc = token_error(tampered, trusted_issuers=[ISSUER])

    assert "signature does not verify" in str(exc)
    assert fetches(rsps) == 2


def test_token_signed_by_other_key_with_known_kid(
    rsps: responses.RequestsMock, key_a: Any, key_b: Any
) -> None:
    serve(rsps, jwk(key_a, "k1"))
    exc = token_error(mint(key_b, kid="k1"), trusted_issuers=[ISSUER])
    assert "Token validation failed" in str(exc)


def test_concurrent_validations(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a)
    results: list[str] = []

    def work() -> None:
        results.append(validate_jwt_token(token, trusted_issuers=[ISSUER]).sub)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["user123"] * 8


# --- expiry ------------------------------------------------------------------------------------


def test_expired_beyond_leeway_rejected(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    exc = token_error(mint(key_a, exp=int(time.time()) - 120), trusted_issuers=[ISSUER])
    assert "expired" in str(exc)
    assert fetches(rsps) == 1  # new keys cannot fix an expired token: no refetch


def test_expired_within_leeway_accepted(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a, exp=int(time.time()) - 30)
    assert validate_jwt_token(token, trusted_issuers=[ISSUER]).sub == "user123"
    token_error(token, trusted_issuers=[ISSUER], leeway=0)


@pytest.mark.parametrize("leeway", [-1, 301, 1.5, True])
def test_leeway_out_of_range(rsps: responses.RequestsMock, key_a: Any, leeway: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="leeway"):
        validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER], leeway=leeway)
    assert len(rsps.calls) == 0


def test_leeway_cap_is_accepted(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a, exp=int(time.time()) - 250)
    assert validate_jwt_token(token, trusted_issuers=[ISSUER], leeway=300).sub == "user123"


def test_not_before_is_not_checked(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a, nbf=int(time.time()) + 3000, iat=int(time.time()) + 3000)
    assert validate_jwt_token(token, trusted_issuers=[ISSUER]).sub == "user123"


# --- issuers -----------------------------------------------------------------------------------


def test_untrusted_issuer_rejected_without_fetch(rsps: responses.RequestsMock, key_a: Any) -> None:
    exc = token_error(mint(key_a), trusted_issuers=["http://other.test"])
    assert "'http://issuer.test' is not trusted" in str(exc)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "trusted",
    [
        "http://issuer.test/api/cli/check-login/abc",  # exact
        "http://issuer.test",  # origin
        "http://issuer.test/",  # origin with slash
        "http://issuer.test/api/cli",  # prefix
        "http://issuer.test/api/",  # prefix ending in a slash
    ],
)
def test_trusted_issuer_forms(rsps: responses.RequestsMock, key_a: Any, trusted: str) -> None:
    serve(rsps, jwk(key_a, "k1"))
    token = mint(key_a, iss="http://issuer.test/api/cli/check-login/abc")
    claims = validate_jwt_token(token, trusted_issuers=[trusted])
    assert claims.api_base_url() == ISSUER


@pytest.mark.parametrize(
    "iss",
    ["http://issuer.test.evil.net", "http://issuer.testevil/api", "http://issuer.test:8080/x"],
)
def test_prefix_match_stops_at_url_boundary(
    rsps: responses.RequestsMock, key_a: Any, iss: str
) -> None:
    token_error(mint(key_a, iss=iss), trusted_issuers=[ISSUER])
    assert len(rsps.calls) == 0


def test_no_trusted_issuers_nor_jwks_uri_fails_closed(
    rsps: responses.RequestsMock, key_a: Any
) -> None:
    serve(rsps, jwk(key_a, "k1"))
    with pytest.raises(InvalidArgumentError) as info:
        validate_jwt_token(mint(key_a))
    assert str(info.value) == (
        "validate_jwt_token needs trusted_issuers (e.g. ['https://api.runbeam.cloud']) or "
        "jwks_uri: without either, anyone who publishes their own JWKS could mint a token "
        "that passes"
    )
    assert len(rsps.calls) == 0


def test_token_from_a_foreign_issuer_with_its_own_jwks_is_refused() -> None:
    # Two real loopback servers: ours, and an attacker's that signs with its own key and
    # publishes that key at its own /api/.well-known/jwks.json.
    with FakeRunbeam(seed=False) as ours, FakeRunbeam(seed=False) as attacker:
        attacker.rotate_key()
        forged = attacker.mint_user_token(sub="admin")

        with pytest.raises(InvalidArgumentError, match="trusted_issuers"):
            validate_jwt_token(forged)
        untrusted = token_error(forged, trusted_issuers=[ours.url])
        pinned = token_error(forged, jwks_uri=ours.url)

        assert f"Token issuer '{attacker.url}' is not trusted" in str(untrusted)
        assert "not found in the JWKS" in str(pinned)
        assert attacker.requests == []  # the attacker's JWKS was never even asked
        genuine = ours.mint_user_token(sub="alice")
        assert validate_jwt_token(genuine, jwks_uri=ours.url).sub == "alice"
        assert validate_jwt_token(genuine, trusted_issuers=[ours.url]).sub == "alice"


def test_empty_trusted_issuers_trusts_nothing(rsps: responses.RequestsMock, key_a: Any) -> None:
    token_error(mint(key_a), trusted_issuers=[])


def test_non_url_issuer_needs_jwks_uri(rsps: responses.RequestsMock, key_a: Any) -> None:
    token = mint(key_a, iss="runbeam")
    exc = token_error(token, trusted_issuers=["runbeam"])
    assert "jwks_uri" in str(exc)
    serve(rsps, jwk(key_a, "k1"), url="http://keys.test/api/.well-known/jwks.json")
    claims = validate_jwt_token(token, trusted_issuers=["runbeam"], jwks_uri="http://keys.test")
    assert claims.iss == "runbeam"


@pytest.mark.off_spec("jwks_uri points at a base outside the spec's server")
def test_jwks_uri_is_a_base(rsps: responses.RequestsMock, key_a: Any) -> None:
    url = "http://keys.test/base/api/.well-known/jwks.json"
    serve(rsps, jwk(key_a, "k1"), url=url)
    claims = validate_jwt_token(
        mint(key_a), trusted_issuers=[ISSUER], jwks_uri="http://keys.test/base/"
    )
    assert claims.sub == "user123"
    assert [c.request.url for c in rsps.calls] == [url]


@pytest.mark.off_spec("a mistaken jwks_uri doubles the path")
def test_full_jwks_url_as_jwks_uri_gets_a_hint(rsps: responses.RequestsMock, key_a: Any) -> None:
    rsps.add(responses.GET, JWKS_URL + "/api/.well-known/jwks.json", status=404)
    exc = token_error(mint(key_a), trusted_issuers=[ISSUER], jwks_uri=JWKS_URL)
    assert "HTTP 404" in str(exc)
    assert "jwks_uri is a base URL" in str(exc)


# --- header and claim shape --------------------------------------------------------------------


def test_missing_kid_rejected(rsps: responses.RequestsMock, key_a: Any) -> None:
    exc = token_error(mint(key_a, kid=None), trusted_issuers=[ISSUER])
    assert "'kid'" in str(exc)
    assert len(rsps.calls) == 0


def test_hs256_not_allowed(rsps: responses.RequestsMock) -> None:
    token = mint("0123456789abcdef0123456789abcdef", algorithm="HS256")
    exc = token_error(token, trusted_issuers=[ISSUER])
    assert "'HS256' is not allowed" in str(exc)
    assert len(rsps.calls) == 0


def test_hmac_algorithms_cannot_be_enabled() -> None:
    with pytest.raises(InvalidArgumentError, match="HS256"):
        validate_jwt_token("x.y.z", trusted_issuers=[ISSUER], algorithms=["RS256", "HS256"])


def test_other_allowed_rsa_algorithm(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1", alg="PS256"))
    token = mint(key_a, algorithm="PS256")
    token_error(token, trusted_issuers=[ISSUER])  # RS256 only by default
    claims = validate_jwt_token(token, trusted_issuers=[ISSUER], algorithms=["RS256", "PS256"])
    assert claims.sub == "user123"


def test_key_published_for_another_alg(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1", alg="RS512"))
    exc = token_error(mint(key_a), trusted_issuers=[ISSUER])
    assert "is for RS512" in str(exc)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "Bearer a.b.c", "a.b.c"])
def test_malformed_tokens(rsps: responses.RequestsMock, token: str) -> None:
    with pytest.raises(TokenError):
        validate_jwt_token(token, trusted_issuers=[ISSUER])
    assert len(rsps.calls) == 0


def test_bearer_prefix_hint(rsps: responses.RequestsMock, key_a: Any) -> None:
    exc = token_error("Bearer " + mint(key_a), trusted_issuers=[ISSUER])
    assert "extract_bearer_token" in str(exc)


def test_non_string_token() -> None:
    with pytest.raises(InvalidArgumentError):
        validate_jwt_token(b"a.b.c")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"iss": _DROP}, "'iss'"),
        ({"iss": ""}, "'iss'"),
        ({"sub": _DROP}, "'sub'"),
        ({"sub": 42}, "'sub' must be a string"),
        ({"exp": "soon"}, "'exp' must be a finite number"),
        ({"exp": float("inf")}, "'exp' must be a finite number"),
        ({"iat": _DROP}, "'iat'"),
        ({"aud": ["a", "b"]}, "'aud' must be a string"),
        ({"user": {"id": "u"}}, "'user' lacks the string field 'email'"),
        ({"team": "t"}, "'team' must be an object"),
    ],
)
def test_bad_claims(
    rsps: responses.RequestsMock, key_a: Any, overrides: dict[str, Any], needle: str
) -> None:
    exc = token_error(mint(key_a, **overrides), trusted_issuers=[ISSUER])
    assert needle in str(exc)
    assert len(rsps.calls) == 0


def test_empty_sub_rejected_after_verification(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    exc = token_error(mint(key_a, sub=""), trusted_issuers=[ISSUER])
    assert "'sub' (subject) is empty" in str(exc)


def test_required_claims(rsps: responses.RequestsMock, key_a: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    claims = validate_jwt_token(
        mint(key_a), trusted_issuers=[ISSUER], required_claims=["user", "team", "aud"]
    )
    assert claims.user is not None
    exc = token_error(
        mint(key_a, user=_DROP), trusted_issuers=[ISSUER], required_claims=["iss", "user"]
    )
    assert "required claim 'user'" in str(exc)
    exc = token_error(mint(key_a, aud=None), trusted_issuers=[ISSUER], required_claims=["aud"])
    assert "required claim 'aud'" in str(exc)


def test_unknown_required_claim_is_an_argument_error(
    rsps: responses.RequestsMock, key_a: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="email"):
        validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER], required_claims=["email"])
    assert len(rsps.calls) == 0


# --- JWKS trouble ------------------------------------------------------------------------------


@pytest.mark.off_spec("the JWKS route documents no 500")
def test_jwks_http_500(
    rsps: responses.RequestsMock, key_a: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(_jwt, "_sleep", waits.append)
    rsps.add(responses.GET, JWKS_URL, status=500, json={"message": "boom"})
    exc = token_error(mint(key_a), trusted_issuers=[ISSUER])
    assert "HTTP 500" in str(exc)
    assert JWKS_URL in str(exc)
    # A GET is retried on 500 (twice by default) before the JWKS fetch gives up.
    assert len(waits) == 2
    assert len(rsps.calls) == 3


@pytest.mark.off_spec("a broken JWKS reply (HTML)")
def test_jwks_not_json(rsps: responses.RequestsMock, key_a: Any) -> None:
    rsps.add(responses.GET, JWKS_URL, body="<html>maintenance</html>", content_type="text/html")
    exc = token_error(mint(key_a), trusted_issuers=[ISSUER])
    assert str(exc).startswith(f"Could not fetch the JWKS from {JWKS_URL}: ")


@pytest.mark.off_spec("broken JWKS documents")
@pytest.mark.parametrize("body", [[], {"keys": "nope"}, {"other": []}])
def test_jwks_bad_shape(rsps: responses.RequestsMock, key_a: Any, body: Any) -> None:
    rsps.add(responses.GET, JWKS_URL, json=body)
    exc = token_error(mint(key_a), trusted_issuers=[ISSUER])
    assert "'keys' list" in str(exc)


@pytest.mark.off_spec("JWKS keys without n/e, which the spec requires")
def test_non_rsa_and_broken_keys_skipped(
    rsps: responses.RequestsMock, key_a: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec1"}
    serve(
        rsps,
        ec_jwk,
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        {"kty": "RSA", "kid": "bad-n", "n": "!!", "e": "AQAB"},
        jwk(key_a, "enc", use="enc"),
        "not an object",
        jwk(key_a, "k1"),
    )
    assert validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER]).sub == "user123"
    exc = token_error(mint(key_a, kid="ec1"), trusted_issuers=[ISSUER])
    assert "Key ID 'ec1' not found" in str(exc)


def test_token_never_in_messages(rsps: responses.RequestsMock, key_a: Any, key_b: Any) -> None:
    serve(rsps, jwk(key_a, "k1"))
    # An attacker may put the token text into claims that end up in messages.
    sneaky = mint(key_a, iss="http://evil.test/")
    tokens = [
        mint(key_b),
        mint(key_a, exp=1),
        mint(key_a, kid=sneaky),
        mint(key_a, iss=sneaky),
        mint(key_a, sub=""),
        "Bearer " + mint(key_a),
    ]
    for token in tokens:
        token_error(token, trusted_issuers=[ISSUER])


# --- optional dependency -----------------------------------------------------------------------


def test_missing_pyjwt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(MissingDependencyError) as info:
        validate_jwt_token("a.b.c", trusted_issuers=[ISSUER])
    assert isinstance(info.value, ImportError)
    assert "pip install 'controldeck[runbeam]'" in str(info.value)
    assert "PyJWT" in str(info.value)


def test_module_import_does_not_load_jwt() -> None:
    import subprocess

    code = (
        "import sys, controldeck.runbeam._jwt, controldeck.runbeam._tokens; "
        "bad = [m for m in ('jwt', 'cryptography', 'pyrage') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("  Bearer abc  ", "abc"),
        ("Bearer    abc", "abc"),
        ("Bearer 1|abc123def456", "1|abc123def456"),
    ],
)
def test_extract_bearer_token(header: str, expected: str) -> None:
    assert extract_bearer_token(header) == expected


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Bearer    ", "bearer abc", "BEARER abc", "Token abc", "abc"],
)
def test_extract_bearer_token_rejects(header: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        extract_bearer_token(header)
    assert "abc" not in str(info.value)


def test_extract_bearer_token_non_string() -> None:
    with pytest.raises(InvalidArgumentError):
        extract_bearer_token(None)  # type: ignore[arg-type]


@given(st.text(alphabet=st.characters(blacklist_categories=["Zs", "Cc"]), min_size=1))
def test_extract_bearer_token_round_trip(token: str) -> None:
    if token != token.strip():  # other Unicode whitespace is trimmed too
        return
    assert extract_bearer_token(f"Bearer {token}") == token


@pytest.mark.parametrize(
    ("iss", "expected"),
    [
        ("http://runbeam.lndo.site/api/cli/check-login/xxx", "http://runbeam.lndo.site"),
        ("https://api.runbeam.cloud", "https://api.runbeam.cloud"),
        ("https://API.runbeam.cloud:8443/x?y#z", "https://api.runbeam.cloud:8443"),
        ("https://api.runbeam.cloud:443/x", "https://api.runbeam.cloud"),
        ("http://user:pw@host.test:8080/", "http://host.test:8080"),
        ("http://[::1]:8000/api", "http://[::1]:8000"),
        ("runbeam-issuer", "runbeam-issuer"),
        ("http://host.test:notaport/", "http://host.test:notaport/"),
        ("", ""),
    ],
)
def test_api_base_url(iss: str, expected: str) -> None:
    claims = JwtClaims(iss=iss, sub="s", exp=0, iat=0)
    assert claims.api_base_url() == expected


def test_claims_is_expired() -> None:
    claims = JwtClaims(iss=ISSUER, sub="s", exp=1000, iat=0)
    assert not claims.is_expired(now=1000)
    assert claims.is_expired(now=1001)
    assert claims.is_expired()
    assert not JwtClaims(iss=ISSUER, sub="s", exp=4102444800, iat=0).is_expired()


@pytest.mark.parametrize("bad", [0, -1, "10", True, (1,), (1, 0)])
def test_bad_timeout_is_rejected_before_fetching(
    rsps: responses.RequestsMock, key_a: Any, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="timeout"):
        validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER], timeout=bad)
    assert len(rsps.calls) == 0


def test_timeout_reaches_the_jwks_fetch(key_a: Any, rsps: responses.RequestsMock) -> None:
    serve(rsps, jwk(key_a, "k1"))
    claims = validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER], timeout=(2, 7))
    assert claims.sub == "user123"
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [(2, 7)]


class _JwksProxy(LoopbackServer):
    """A plain HTTP proxy that answers every JWKS request itself (hosts need not resolve)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__()
        self.add_route("GET", "/api/.well-known/jwks.json", lambda req, p: json_reply(200, jwks))


def test_jwks_is_fetched_through_the_callers_session(key_a: Any) -> None:
    # The issuer's host does not resolve: only the session's proxy can reach it.
    token = mint(key_a, iss="http://runbeam.invalid")
    with _JwksProxy({"keys": [jwk(key_a, "k1")]}) as proxy, requests.Session() as session:
        session.trust_env = False  # the developer's own *_proxy variables must not interfere
        session.proxies = {"http": proxy.url}
        session.headers["X-Corp-Tag"] = "jwks"

        claims = validate_jwt_token(
            token, trusted_issuers=["http://runbeam.invalid"], session=session
        )

        assert claims.iss == "http://runbeam.invalid"
        (seen,) = proxy.requests
        assert (seen.method, seen.path) == ("GET", "/api/.well-known/jwks.json")
        assert seen.headers["host"] == "runbeam.invalid"
        assert seen.headers["x-corp-tag"] == "jwks"
        assert "authorization" not in seen.headers
        # The session is the caller's: still open and usable afterwards.
        clear_jwks_cache()
        validate_jwt_token(token, trusted_issuers=["http://runbeam.invalid"], session=session)
        assert len(proxy.requests) == 2


def test_session_must_be_a_requests_session(rsps: responses.RequestsMock, key_a: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"session must be a requests\.Session"):
        validate_jwt_token(mint(key_a), trusted_issuers=[ISSUER], session="proxy")  # type: ignore[arg-type]
    assert len(rsps.calls) == 0
