"""Validate Runbeam user JWTs (RS256) against the issuer's JWKS.

Mirrors `validate_jwt_token` of the Rust `runbeam-sdk` (reference/runbeam.md §4.3), with a few
deliberate hardenings, each called out where it happens. PyJWT and cryptography come from the
optional `runbeam` extra and are imported only when a token is validated, so importing
`controldeck.runbeam` stays cheap.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import requests

from controldeck._core._convert import structure
from controldeck._core._describe import origin_of
from controldeck._core._options import Timeout
from controldeck._core._transport import Transport, check_timeout
from controldeck._generated.runbeam import JwkKey
from controldeck.errors import (
    APIStatusError,
    ControlDeckError,
    InvalidArgumentError,
    MissingDependencyError,
    ResponseValidationError,
    TokenError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "JwtClaims",
    "TeamInfo",
    "UserInfo",
    "clear_jwks_cache",
    "extract_bearer_token",
    "validate_jwt_token",
]

_logger = logging.getLogger("controldeck")

JWKS_PATH = "/api/.well-known/jwks.json"
MAX_LEEWAY = 300
# Only RSA keys are read from the JWKS, so only RSA signature algorithms can ever verify.
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_CLAIM_NAMES = ("iss", "sub", "aud", "exp", "iat", "user", "team")

# Monotonic clock for the JWKS cache and the wait between JWKS fetch retries; tests replace
# them to expire entries and retry without sleeping.
_clock = time.monotonic
_sleep = time.sleep


@attrs.frozen(kw_only=True)
class UserInfo:
    """The `user` claim of a Runbeam user JWT.

    Attributes:
        id: The user's id.
        email: The user's email address.
        name: The user's display name.

    Example:
        >>> UserInfo(id="user123", email="test@example.com", name="Test User").name
        'Test User'
    """

    id: str
    email: str
    name: str


@attrs.frozen(kw_only=True)
class TeamInfo:
    """The `team` claim of a Runbeam user JWT.

    Attributes:
        id: The team's id.
        name: The team's name.

    Example:
        >>> TeamInfo(id="team456", name="Test Team").id
        'team456'
    """

    id: str
    name: str


@attrs.frozen(kw_only=True)
class JwtClaims:
    """The verified claims of a Runbeam user JWT, as returned by `validate_jwt_token`.

    Attributes:
        iss: Issuer; often a full URL such as `http://host/api/cli/check-login/xxx`.
        sub: Subject (the user id).
        aud: Audience (`runbeam-cli` or `runbeam-api`), if the token has one.
        exp: Expiry, Unix seconds.
        iat: Issued at, Unix seconds.
        user: The user the token belongs to, if the token says.
        team: The user's team, if the token says.

    Example:
        >>> claims = JwtClaims(iss="http://runbeam.lndo.site/api/x", sub="user123", aud=None,
        ...                    exp=4102444800, iat=1767225600, user=None, team=None)
        >>> claims.api_base_url()
        'http://runbeam.lndo.site'
    """

    iss: str
    sub: str
    aud: str | None = None
    exp: int
    iat: int
    user: UserInfo | None = None
    team: TeamInfo | None = None

    def is_expired(self, now: float | None = None) -> bool:
        """Whether `exp` is in the past, with no leeway.

        Args:
            now: Unix seconds to compare with; defaults to the current time.

        Returns:
            True when `exp < now`.

        Example:
            >>> claims.is_expired(now=4102444801)
            True
        """
        return self.exp < (time.time() if now is None else now)

    def api_base_url(self) -> str:
        """The Runbeam API origin that issued the token.

        Returns:
            `scheme://host[:port]` of `iss` (default ports dropped), or `iss` unchanged when it
            is not an absolute http(s)-style URL.

        Example:
            >>> claims.api_base_url()
            'http://runbeam.lndo.site'
        """
        return origin_of(self.iss) or self.iss


def extract_bearer_token(header: str) -> str:
    """Take the token out of an `Authorization: Bearer <token>` header value.

    Args:
        header: The header value. The `Bearer ` prefix is matched exactly (case-sensitive, one
            space), like the upstream SDK; whitespace around the whole value is ignored.

    Returns:
        The token, without surrounding whitespace.

    Raises:
        InvalidArgumentError: `header` is not a string, lacks the exact `Bearer ` prefix, or
            carries an empty token. The message never contains the header value.

    Example:
        >>> extract_bearer_token("Bearer eyJhbGciOi...")
        'eyJhbGciOi...'
    """
    if not isinstance(header, str):
        raise InvalidArgumentError(f"header must be a string, got {type(header).__name__}")
    value = header.strip()
    if not value.startswith("Bearer "):
        raise InvalidArgumentError(
            "Authorization header must start with 'Bearer ' (exact case, one space)"
        )
    token = value[len("Bearer ") :].strip()
    if not token:
        raise InvalidArgumentError("Authorization header has 'Bearer ' but no token")
    return token


def clear_jwks_cache() -> None:
    """Forget every cached JWKS, so the next validation fetches keys again.

    Example:
        >>> clear_jwks_cache()
    """
    with _cache_lock:
        _cache.clear()


def validate_jwt_token(
    token: str,
    *,
    trusted_issuers: Sequence[str] | None = None,
    jwks_uri: str | None = None,
    leeway: int = 60,
    algorithms: Sequence[str] = ("RS256",),
    required_claims: Sequence[str] = (),
    jwks_cache_ttl: float = 24 * 3600,
    timeout: Timeout = 10.0,
    session: requests.Session | None = None,
) -> JwtClaims:
    """Verify a Runbeam user JWT against its issuer's JWKS and return its claims.

    Follows the upstream SDK step by step: the header must carry a `kid` and an allowed `alg`;
    `iss`, `sub`, `exp` and `iat` must be present and typed; the issuer must be trusted; the
    signing key is looked up by `kid` in the JWKS (cached per JWKS base for `jwks_cache_ttl`
    seconds, refetched when the `kid` is unknown or the entry is stale); the signature and `exp`
    (with `leeway`) are verified; `iss` and `sub` must be non-empty and every `required_claims`
    name must be present.

    It fails closed: pass `trusted_issuers` (the JWKS is then fetched from the token's own
    issuer, which must be one of them) or `jwks_uri` (only keys from that JWKS can verify), or
    both. Upstream accepts any issuer when neither is given, with only a logged warning; then a
    token from an attacker's server, signed with the attacker's key and published in the
    attacker's JWKS, would pass. Here that is an `InvalidArgumentError` before anything is
    decoded or fetched.

    Like upstream: `aud` is not checked (upstream configures no audience, so neither do we;
    check `claims.aud` yourself if you need to), `nbf` and `iat` are not checked, and
    `jwks_uri` is a *base*: `/api/.well-known/jwks.json` is appended to it just as to the
    issuer's origin. Deliberate differences: every algorithm in `algorithms` is accepted (upstream
    only honours the first); the cache is cleared and the JWKS refetched once only when the
    signature does not verify (not for, say, an expired token, which new keys cannot fix); a
    prefix in `trusted_issuers` only matches up to a `/`, `?` or `#` boundary, so
    `https://auth.example.com` does not trust `https://auth.example.com.evil.net`; a
    `required_claims` name must be present with a non-null value; JWKS entries that are not
    usable RSA signing keys are skipped (upstream rejects the whole set when one lacks `n`/`e`).

    Args:
        token: The encoded JWT, without the `Bearer ` prefix (see `extract_bearer_token`).
        trusted_issuers: Issuers to accept: an exact `iss`, its origin (`scheme://host[:port]`)
            or a prefix of it. Needed unless `jwks_uri` is given.
        jwks_uri: Base URL to fetch the JWKS from instead of the issuer's origin. Given alone,
            any issuer is accepted whose token verifies with a key from this JWKS.
        leeway: Seconds of clock skew tolerated on `exp`, 0 to 300.
        algorithms: Allowed header `alg` values; RSA algorithms only (RS256/384/512, PS256/384/512).
        required_claims: Names among iss, sub, aud, exp, iat, user, team that must be present.
        jwks_cache_ttl: Seconds a fetched JWKS is reused.
        timeout: Seconds (or a (connect, read) pair) to wait for the JWKS endpoint.
        session: The `requests.Session` to fetch the JWKS with, so its proxies, CA bundle and
            client certificate apply; by default a fresh session that is closed afterwards.

    Returns:
        The verified claims.

    Raises:
        InvalidArgumentError: Neither `trusted_issuers` nor `jwks_uri` is given, an option is
            out of range, or a `required_claims` name is not one of the seven claims above
            (nothing was decoded or fetched).
        MissingDependencyError: PyJWT or cryptography is not installed
            (`pip install 'controldeck[runbeam]'`).
        TokenError: The token is malformed, untrusted, expired, signed by an unknown key, has a
            bad signature or lacks a required claim, or the JWKS could not be fetched. The message
            says which, and never contains the token.

    Example:
        >>> claims = validate_jwt_token(
        ...     token, trusted_issuers=["https://api.runbeam.cloud"], required_claims=["user"]
        ... )
        >>> claims.user.email
        'test@example.com'
    """
    if not isinstance(token, str):
        raise InvalidArgumentError(f"token must be a string, got {type(token).__name__}")
    allowed = _check_options(
        trusted_issuers=trusted_issuers,
        jwks_uri=jwks_uri,
        leeway=leeway,
        algorithms=algorithms,
        required_claims=required_claims,
        jwks_cache_ttl=jwks_cache_ttl,
        timeout=timeout,
        session=session,
    )
    jwt = _import_jwt()
    try:
        return _validate(
            jwt,
            token,
            trusted_issuers=trusted_issuers,
            jwks_uri=jwks_uri,
            leeway=leeway,
            algorithms=allowed,
            required_claims=required_claims,
            jwks_cache_ttl=jwks_cache_ttl,
            timeout=timeout,
            session=session,
        )
    except TokenError as exc:
        # Attacker-controlled claims end up in messages; make sure the token never does.
        message = str(exc)
        if len(token) >= 16 and token in message:
            raise TokenError(message.replace(token, "<token>")) from None
        raise


# --- implementation ---------------------------------------------------------------------------


_Keys = dict[str, tuple[str | None, "RSAPublicKey"]]  # kid -> (JWK "alg", key)


@attrs.define
class _CacheEntry:
    keys: _Keys
    fetched_at: float


_cache: dict[str, _CacheEntry] = {}
_cache_lock = threading.Lock()


def _check_options(
    *,
    trusted_issuers: Sequence[str] | None,
    jwks_uri: str | None,
    leeway: int,
    algorithms: Sequence[str],
    required_claims: Sequence[str],
    jwks_cache_ttl: float,
    timeout: Timeout,
    session: requests.Session | None,
) -> tuple[str, ...]:
    if trusted_issuers is None and jwks_uri is None:
        raise InvalidArgumentError(
            "validate_jwt_token needs trusted_issuers (e.g. ['https://api.runbeam.cloud']) or "
            "jwks_uri: without either, anyone who publishes their own JWKS could mint a token "
            "that passes"
        )
    if trusted_issuers is not None and (
        isinstance(trusted_issuers, str)
        or not all(isinstance(t, str) and t for t in trusted_issuers)
    ):
        raise InvalidArgumentError("trusted_issuers must be a list of non-empty strings")
    if jwks_uri is not None and origin_of(jwks_uri) is None:
        raise InvalidArgumentError("jwks_uri must be an absolute http(s) URL")
    if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= MAX_LEEWAY:
        raise InvalidArgumentError(
            f"leeway must be an integer number of seconds from 0 to {MAX_LEEWAY}"
        )
    if isinstance(algorithms, str) or not algorithms:
        raise InvalidArgumentError("algorithms must be a non-empty list such as ['RS256']")
    bad = [a for a in algorithms if a not in _RSA_ALGORITHMS]
    if bad:
        raise InvalidArgumentError(
            f"algorithms {bad!r} are not supported; the JWKS holds RSA keys, so use "
            f"{sorted(_RSA_ALGORITHMS)}"
        )
    if isinstance(required_claims, str):
        raise InvalidArgumentError("required_claims must be a list of claim names")
    unknown = [c for c in required_claims if c not in _CLAIM_NAMES]
    if unknown:
        raise InvalidArgumentError(
            f"required_claims {unknown!r} can never be satisfied; choose from {list(_CLAIM_NAMES)}"
        )
    if isinstance(jwks_cache_ttl, bool) or not isinstance(jwks_cache_ttl, int | float):
        raise InvalidArgumentError("jwks_cache_ttl must be a number of seconds")
    if jwks_cache_ttl < 0:
        raise InvalidArgumentError("jwks_cache_ttl must not be negative")
    check_timeout(timeout)
    if session is not None and not isinstance(session, requests.Session):
        raise InvalidArgumentError(
            f"session must be a requests.Session, got {type(session).__name__}"
        )
    return tuple(algorithms)


def _import_jwt() -> Any:
    try:
        import jwt
        import jwt.algorithms
        import jwt.utils
    except ImportError:
        raise MissingDependencyError("validate_jwt_token", "runbeam", "PyJWT") from None
    if not jwt.algorithms.has_crypto:
        raise MissingDependencyError("validate_jwt_token", "runbeam", "cryptography")
    return jwt


def _validate(
    jwt: Any,
    token: str,
    *,
    trusted_issuers: Sequence[str] | None,
    jwks_uri: str | None,
    leeway: int,
    algorithms: tuple[str, ...],
    required_claims: Sequence[str],
    jwks_cache_ttl: float,
    timeout: Timeout,
    session: requests.Session | None,
) -> JwtClaims:
    # 1. Header.
    if not token:
        raise TokenError("No token given (empty string)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError(_malformed(token, exc)) from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError(
            "Token header has no 'kid' (key id), so no JWKS key can be chosen to verify it"
        )
    alg = header.get("alg")
    if alg not in algorithms:
        raise TokenError(
            f"Token algorithm {alg!r} is not allowed; allowed algorithms: {list(algorithms)}"
        )

    # 2. Claims, unverified, only to find the issuer and fail early on a bad shape.
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(_malformed(token, exc)) from None
    claims = _claims_from_payload(unverified)
    if not claims.iss:
        raise TokenError("Token claim 'iss' (issuer) is empty")

    # 3. Trusted issuer. Without trusted_issuers, jwks_uri is set (checked up front) and alone
    # decides which keys can sign.
    if trusted_issuers is not None and not any(
        _issuer_trusted(claims.iss, t) for t in trusted_issuers
    ):
        raise TokenError(
            f"Token issuer {_short(claims.iss)!r} is not trusted; trusted issuers: "
            f"{list(trusted_issuers)}"
        )

    # 4. JWKS location. Upstream treats jwks_uri as a base too, so the path is appended to it.
    base = jwks_uri if jwks_uri is not None else origin_of(claims.iss)
    if base is None:
        raise TokenError(
            f"Token issuer {_short(claims.iss)!r} is not an http(s) URL, so its JWKS cannot be "
            "located; pass jwks_uri"
        )
    base = base.rstrip("/")
    url = base + JWKS_PATH

    # 5-7. Key lookup and verification, with one refetch when the signature does not verify.
    fetch = functools.partial(_fetch_jwks, jwt, url, timeout, session)
    key = _signing_key(base, url, kid, alg, jwks_cache_ttl, fetch, force=False)
    try:
        payload = _decode(jwt, token, key, alg, leeway)
    except jwt.InvalidSignatureError:
        with _cache_lock:
            _cache.pop(base, None)
        key = _signing_key(base, url, kid, alg, jwks_cache_ttl, fetch, force=True)
        try:
            payload = _decode(jwt, token, key, alg, leeway)
        except jwt.InvalidSignatureError:
            raise TokenError(
                f"Token validation failed: the signature does not verify with key {kid!r} from "
                f"{url} (checked again after refetching the JWKS); the token was altered or "
                "not issued by this issuer"
            ) from None

    # 8. Post-checks on the verified claims.
    claims = _claims_from_payload(payload)
    if not claims.iss:
        raise TokenError("Token claim 'iss' (issuer) is empty")
    if not claims.sub:
        raise TokenError("Token claim 'sub' (subject) is empty")
    for name in required_claims:
        if payload.get(name) is None:
            raise TokenError(f"Token lacks required claim {name!r}")
    return claims


def _decode(jwt: Any, token: str, key: RSAPublicKey, alg: str, leeway: int) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            leeway=leeway,
            options={
                "require": ["exp"],
                "verify_exp": True,
                # Upstream sets no audience or issuer and checks neither nbf nor iat.
                "verify_aud": False,
                "verify_iss": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_jti": False,
            },
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(
            f"Token has expired (more than {leeway} s of leeway past its 'exp'); get a new token"
        ) from None
    except jwt.InvalidSignatureError:
        raise
    except jwt.PyJWTError as exc:
        raise TokenError(f"Token validation failed: {exc}") from None
    return payload


def _signing_key(
    base: str,
    url: str,
    kid: str,
    alg: str,
    ttl: float,
    fetch: Callable[[], _Keys],
    *,
    force: bool,
) -> RSAPublicKey:
    with _cache_lock:
        entry = _cache.get(base)
    if force or entry is None or kid not in entry.keys or _clock() - entry.fetched_at >= ttl:
        # Fetched outside the lock: a slow JWKS endpoint must not block other issuers.
        entry = _CacheEntry(keys=fetch(), fetched_at=_clock())
        with _cache_lock:
            _cache[base] = entry
    found = entry.keys.get(kid)
    if found is None:
        raise TokenError(
            f"Key ID {kid!r} not found in the JWKS at {url} (fetched just now); the token was "
            "signed with a key this issuer does not publish"
        )
    key_alg, key = found
    if key_alg is not None and key_alg != alg:
        raise TokenError(
            f"Key {kid!r} in the JWKS at {url} is for {key_alg}, but the token uses {alg}"
        )
    return key


def _fetch_jwks(jwt: Any, url: str, timeout: Timeout, session: requests.Session | None) -> _Keys:
    # A transport of its own: no client credentials may reach a JWKS host named by a token, and
    # the caller's session (proxies, CA bundle) applies. Closing it closes only what it opened.
    transport = Transport(
        base_url="", platform="runbeam", timeout=timeout, session=session, sleep=_sleep
    )
    try:
        body = transport.request("GET", url)
    except APIStatusError as exc:
        raise TokenError(
            _jwks_failure(url, f"JWKS endpoint returned HTTP {exc.status_code}")
        ) from None
    except ControlDeckError as exc:  # network trouble, or a reply that is not JSON
        raise TokenError(_jwks_failure(url, str(exc))) from None
    finally:
        transport.close()
    raw_keys = body.get("keys") if isinstance(body, Mapping) else None
    if not isinstance(raw_keys, list):
        raise TokenError(_jwks_failure(url, "the reply is not a JSON object with a 'keys' list"))
    keys: _Keys = {}
    for entry in raw_keys:
        parsed = _rsa_key(jwt, entry)
        if parsed is not None:
            kid, alg, key = parsed
            keys[kid] = (alg, key)
    return keys


def _rsa_key(jwt: Any, entry: Any) -> tuple[str, str | None, RSAPublicKey] | None:
    """One JWKS entry as (kid, alg, key), or None for keys that cannot verify an RSA signature.

    Each entry is read on its own with the spec's `JwkKey` model: upstream rejects the whole
    JWKS when any key lacks `n`/`e` (an EC key, say); skipping such keys instead keeps mixed
    key sets usable.
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    try:
        jwk = structure(entry, JwkKey)
    except ResponseValidationError:
        return None
    if jwk.kty != "RSA" or not jwk.kid or jwk.use not in (None, "sig"):
        return None
    try:
        numbers = RSAPublicNumbers(
            jwt.utils.from_base64url_uint(jwk.e), jwt.utils.from_base64url_uint(jwk.n)
        )
        return jwk.kid, jwk.alg, numbers.public_key()
    except (ValueError, TypeError):
        _logger.warning("Skipping JWKS key %r: its RSA modulus or exponent is invalid", jwk.kid)
        return None


def _claims_from_payload(payload: Any) -> JwtClaims:
    if not isinstance(payload, Mapping):
        raise TokenError("Token payload is not a JSON object")
    return JwtClaims(
        iss=_claim_str(payload, "iss"),
        sub=_claim_str(payload, "sub"),
        aud=_claim_str(payload, "aud", optional=True),
        exp=_claim_int(payload, "exp"),
        iat=_claim_int(payload, "iat"),
        user=_claim_object(payload, "user", UserInfo, ("id", "email", "name")),
        team=_claim_object(payload, "team", TeamInfo, ("id", "name")),
    )


def _claim_str(payload: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = payload.get(name)
    if value is None and optional:
        return None
    if value is None:
        raise TokenError(f"Token lacks the required claim {name!r}")
    if not isinstance(value, str):
        raise TokenError(f"Token claim {name!r} must be a string, got {type(value).__name__}")
    return value


def _claim_int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if value is None:
        raise TokenError(f"Token lacks the required claim {name!r} (Unix seconds)")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenError(f"Token claim {name!r} must be a finite number of Unix seconds")
    return int(value)


def _claim_object(
    payload: Mapping[str, Any], name: str, cls: type[Any], fields: tuple[str, ...]
) -> Any:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TokenError(f"Token claim {name!r} must be an object, got {type(value).__name__}")
    for field in fields:
        if not isinstance(value.get(field), str):
            raise TokenError(f"Token claim {name!r} lacks the string field {field!r}")
    return cls(**{field: value[field] for field in fields})


def _issuer_trusted(iss: str, trusted: str) -> bool:
    if iss == trusted or origin_of(iss) == trusted.rstrip("/"):
        return True
    # Prefix match only at a URL boundary, so "https://a.com" does not trust "https://a.com.evil".
    return iss.startswith(trusted) and (
        trusted.endswith(("/", "?", "#")) or iss[len(trusted)] in "/?#"
    )


def _jwks_failure(url: str, reason: str) -> str:
    message = f"Could not fetch the JWKS from {url}: {reason}"
    if url.endswith("/jwks.json" + JWKS_PATH):
        message += (
            f" (jwks_uri is a base URL and {JWKS_PATH} is appended to it; pass the part before "
            f"{JWKS_PATH})"
        )
    return message


def _malformed(token: str, exc: Exception) -> str:
    message = f"Token is not a well-formed JWT: {exc}"
    if token.startswith("Bearer"):
        message += " (pass the token without the 'Bearer ' prefix; see extract_bearer_token)"
    return message


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
