"""MachineToken and the age-encrypted token files, in tmp_path."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyrage
import pytest

from controldeck._core._convert import structure
from controldeck._generated.runbeam import AuthorizeResponse
from controldeck.errors import InvalidArgumentError, MissingDependencyError, TokenError
from controldeck.runbeam._tokens import (
    ENCRYPTION_KEY_ENV,
    MACHINE_TOKEN_ENV,
    MachineToken,
    load_machine_token,
    load_token,
    save_machine_token,
    save_token,
)

SAMPLE = (
    '{"machine_token":"mt_abc","expires_at":"2099-01-01T00:00:00Z","gateway_id":"gw-1",'
    '"abilities":["harmony:send"],"issued_at":"2026-01-01T00:00:00Z"}'
)
SECRET = "mt_supersecret_value_123"
Y2099 = datetime(2099, 1, 1, tzinfo=UTC)
Y2026 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENCRYPTION_KEY_ENV, raising=False)
    monkeypatch.delenv(MACHINE_TOKEN_ENV, raising=False)


@pytest.fixture
def token() -> MachineToken:
    return MachineToken(
        machine_token=SECRET,
        expires_at=Y2099,
        gateway_id="gw-1",
        abilities=["harmony:send", "harmony:receive"],
        issued_at=Y2026,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def new_secret_key() -> str:
    return str(pyrage.x25519.Identity.generate())


# --- MachineToken ------------------------------------------------------------------------------


def test_from_json_upstream_sample() -> None:
    token = MachineToken.from_json(SAMPLE)
    assert token == MachineToken(
        machine_token="mt_abc",
        expires_at=Y2099,
        gateway_id="gw-1",
        abilities=["harmony:send"],
        issued_at=Y2026,
    )
    assert token.to_json() == json.dumps(json.loads(SAMPLE))  # the upstream strings, unchanged
    assert MachineToken.from_json(token.to_json()) == token
    assert list(json.loads(token.to_json())) == [
        "machine_token",
        "expires_at",
        "gateway_id",
        "abilities",
        "issued_at",
    ]


def test_from_json_ignores_gateway_code_and_defaults_abilities() -> None:
    data = json.loads(SAMPLE)
    data["gateway_code"] = "my-gateway"
    del data["abilities"]
    token = MachineToken.from_json(json.dumps(data))
    assert token.abilities == []
    assert not hasattr(token, "gateway_code")


@pytest.mark.parametrize("key", ["machine_token", "expires_at", "gateway_id", "issued_at"])
def test_from_json_missing_key(key: str) -> None:
    data = json.loads(SAMPLE)
    del data[key]
    with pytest.raises(TokenError, match=f"missing the required key '{key}'") as info:
        MachineToken.from_json(json.dumps(data))
    assert "mt_abc" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("machine_token", 123, "'machine_token' must be a string"),
        ("expires_at", None, "'expires_at' must be a string"),
        ("abilities", "harmony:send", "'abilities' must be a list of strings"),
        ("abilities", [1], "'abilities' must be a list of strings"),
    ],
)
def test_from_json_wrong_types(key: str, value: object, needle: str) -> None:
    data = json.loads(SAMPLE)
    data[key] = value
    with pytest.raises(TokenError, match=needle) as info:
        MachineToken.from_json(json.dumps(data))
    assert "mt_abc" not in str(info.value)


@pytest.mark.parametrize("text", ["", "not json", '["mt_abc"]', '"mt_abc"', b"\xff\xfe{"])
def test_from_json_not_an_object(text: str | bytes) -> None:
    with pytest.raises(TokenError) as info:
        MachineToken.from_json(text)
    assert "mt_abc" not in str(info.value)


def token_expiring(expires_at: datetime) -> MachineToken:
    return MachineToken(machine_token="t", expires_at=expires_at, gateway_id="g")


def test_is_expired() -> None:
    future = token_expiring(Y2099)
    past = token_expiring(datetime(2020, 1, 1, tzinfo=UTC))
    assert not future.is_expired() and future.is_valid()
    assert past.is_expired() and not past.is_valid()

    at = datetime(2030, 1, 1, tzinfo=UTC)
    edge = token_expiring(datetime(2030, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    assert edge.is_expired(now=at)
    assert not edge.is_expired(now=at - timedelta(seconds=1))
    assert edge.is_valid(now=at.astimezone(timezone(timedelta(hours=-5))) - timedelta(seconds=1))


def test_timestamps_are_aware_datetimes_like_the_clients() -> None:
    token = MachineToken.from_json(SAMPLE)
    assert token.expires_at == Y2099
    assert token.expires_at.utcoffset() == timedelta(0)
    assert token.issued_at == Y2026
    # Comparable with what the client returns, e.g. AuthorizeResponse.expires_at.
    assert token.expires_at > datetime.now(UTC)


@pytest.mark.parametrize("field", ["expires_at", "issued_at"])
@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("2099-01-01T00:00:00Z", "str"),
        (datetime(2099, 1, 1), "a naive datetime"),
        (None, "NoneType"),
    ],
)
def test_timestamps_must_be_aware_datetimes(field: str, value: object, got: str) -> None:
    kwargs: dict[str, object] = {"expires_at": Y2099, "issued_at": Y2026, field: value}
    with pytest.raises(InvalidArgumentError) as info:
        MachineToken(machine_token=SECRET, gateway_id="g", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"{field} must be a timezone-aware datetime such as datetime(2099, 1, 1, tzinfo=UTC), "
        f"got {got}"
    )
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("key", ["expires_at", "issued_at"])
@pytest.mark.parametrize(
    "text", ["", "tomorrow", "2099-13-01T00:00:00Z", "2099-01-01", "2099-01-01T00:00:00"]
)
def test_unparseable_or_offsetless_timestamp_is_a_token_error(key: str, text: str) -> None:
    data = json.loads(SAMPLE)
    data[key] = text
    with pytest.raises(TokenError) as info:
        MachineToken.from_json(json.dumps(data))
    assert str(info.value) == (
        f"MachineToken JSON key {key!r} must be an RFC 3339 timestamp with a UTC offset, like "
        f"'2099-01-01T00:00:00Z', got {text!r}"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2099-01-01t00:00:00z", Y2099),
        ("2099-01-01 00:00:00Z", Y2099),
        ("2099-01-01T01:00:00+01:00", Y2099),
        # What Rust's chrono `to_rfc3339()` writes for issued_at: nanoseconds, `+00:00`.
        ("2099-01-01T00:00:00.123456789+00:00", Y2099.replace(microsecond=123456)),
    ],
)
def test_rfc3339_variants_parse(text: str, expected: datetime) -> None:
    data = {**json.loads(SAMPLE), "expires_at": text, "issued_at": text}
    token = MachineToken.from_json(json.dumps(data))
    assert (token.expires_at, token.issued_at) == (expected, expected)


def test_to_json_writes_utc_rfc3339_and_round_trips() -> None:
    plus_one = timezone(timedelta(hours=1))
    token = MachineToken(
        machine_token="t",
        expires_at=datetime(2099, 1, 1, 1, 0, 0, 250000, tzinfo=plus_one),
        gateway_id="g",
        issued_at=datetime(2026, 1, 1, 1, tzinfo=plus_one),
    )
    data = json.loads(token.to_json())
    assert (data["expires_at"], data["issued_at"]) == (
        "2099-01-01T00:00:00.250000Z",
        "2026-01-01T00:00:00Z",
    )
    assert MachineToken.from_json(token.to_json()) == token


def test_is_expired_rejects_naive_now(token: MachineToken) -> None:
    with pytest.raises(InvalidArgumentError):
        token.is_expired(now=datetime(2030, 1, 1))


def test_issued_at_defaults_to_now() -> None:
    token = token_expiring(Y2099)
    assert token.issued_at.utcoffset() == timedelta(0)
    assert token.issued_at.microsecond == 0
    assert abs((datetime.now(UTC) - token.issued_at).total_seconds()) < 5
    assert json.loads(token.to_json())["issued_at"].endswith("Z")


def test_repr_and_str_hide_the_token(token: MachineToken) -> None:
    for text in (repr(token), str(token), f"{token}", f"{[token]}"):
        assert SECRET not in text
        assert "<redacted>" in text
        assert "gw-1" in text


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MachineToken.from_env() is None
    monkeypatch.setenv(MACHINE_TOKEN_ENV, "  ")
    assert MachineToken.from_env() is None
    monkeypatch.setenv(MACHINE_TOKEN_ENV, SAMPLE)
    assert MachineToken.from_env() == MachineToken.from_json(SAMPLE)


def test_from_env_without_issued_at(monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(SAMPLE)
    del data["issued_at"]  # the upstream docs' example env value lacks it
    monkeypatch.setenv(MACHINE_TOKEN_ENV, json.dumps(data))
    with pytest.raises(TokenError, match=f"{MACHINE_TOKEN_ENV}: .*'issued_at'") as info:
        MachineToken.from_env()
    assert "mt_abc" not in str(info.value)


# --- storage -----------------------------------------------------------------------------------


def test_round_trip_and_layout(tmp_path: Path, token: MachineToken) -> None:
    path = save_machine_token("gw-prod", token, base_dir=tmp_path)

    assert path == tmp_path / "gw-prod" / "runbeam" / "auth.json"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "gw-prod",
        "gw-prod/encryption.key",
        "gw-prod/runbeam",
        "gw-prod/runbeam/auth.json",
    ]
    assert load_machine_token("gw-prod", base_dir=tmp_path) == token
    assert json.loads(load_token("gw-prod", "auth", base_dir=tmp_path) or "") == json.loads(
        token.to_json()
    )


def test_file_is_age_encrypted_and_private(tmp_path: Path, token: MachineToken) -> None:
    path = save_machine_token("gw-prod", token, base_dir=tmp_path)
    data = path.read_bytes()
    assert data.startswith(b"age-encryption.org/v1")
    assert SECRET.encode() not in data
    assert b"gw-1" not in data
    assert mode(path) == 0o600
    assert mode(tmp_path / "gw-prod") == 0o700
    assert mode(tmp_path / "gw-prod" / "runbeam") == 0o700


def test_key_file_created_private_with_base64_age_key(tmp_path: Path, token: MachineToken) -> None:
    save_machine_token("gw-prod", token, base_dir=tmp_path)
    key_path = tmp_path / "gw-prod" / "encryption.key"

    assert mode(key_path) == 0o600
    secret = base64.b64decode(key_path.read_text(), validate=True).decode()
    assert secret.startswith("AGE-SECRET-KEY-1")
    identity = pyrage.x25519.Identity.from_str(secret)
    plain = pyrage.decrypt((tmp_path / "gw-prod/runbeam/auth.json").read_bytes(), [identity])
    assert MachineToken.from_json(plain.decode()) == token


def test_key_file_reused_on_second_save(tmp_path: Path, token: MachineToken) -> None:
    save_machine_token("gw-prod", token, base_dir=tmp_path)
    key_before = (tmp_path / "gw-prod" / "encryption.key").read_text()
    save_token("gw-prod", "user", {"token": "u"}, base_dir=tmp_path)
    assert (tmp_path / "gw-prod" / "encryption.key").read_text() == key_before
    assert load_token("gw-prod", "user", base_dir=tmp_path) == '{"token": "u"}'
    assert load_machine_token("gw-prod", base_dir=tmp_path) == token


def test_concurrent_first_saves_share_one_key(tmp_path: Path, token: MachineToken) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            save_token("gw-prod", f"t{i}", i, base_dir=tmp_path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [load_token("gw-prod", f"t{i}", base_dir=tmp_path) for i in range(8)] == [
        str(i) for i in range(8)
    ]
    assert not [p for p in (tmp_path / "gw-prod").rglob("*.tmp")]


@pytest.mark.parametrize("form", ["raw", "base64"])
def test_env_key_forms(
    tmp_path: Path, token: MachineToken, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    secret = new_secret_key()
    value = secret if form == "raw" else base64.b64encode(secret.encode()).decode()
    monkeypatch.setenv(ENCRYPTION_KEY_ENV, value)

    path = save_machine_token("gw-prod", token, base_dir=tmp_path)

    assert not (tmp_path / "gw-prod" / "encryption.key").exists()
    assert load_machine_token("gw-prod", base_dir=tmp_path) == token
    plain = pyrage.decrypt(path.read_bytes(), [pyrage.x25519.Identity.from_str(secret)])
    assert MachineToken.from_json(plain.decode()) == token


def test_explicit_key_wins_over_env(
    tmp_path: Path, token: MachineToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENCRYPTION_KEY_ENV, new_secret_key())
    explicit = new_secret_key()
    save_machine_token("gw-prod", token, base_dir=tmp_path, key=explicit)
    assert not (tmp_path / "gw-prod" / "encryption.key").exists()
    assert load_machine_token("gw-prod", base_dir=tmp_path, key=explicit) == token
    with pytest.raises(TokenError, match=ENCRYPTION_KEY_ENV):
        load_machine_token("gw-prod", base_dir=tmp_path)


def test_wrong_key_is_a_token_error(tmp_path: Path, token: MachineToken) -> None:
    save_machine_token("gw-prod", token, base_dir=tmp_path)
    other = new_secret_key()
    with pytest.raises(TokenError, match="Could not decrypt") as info:
        load_machine_token("gw-prod", base_dir=tmp_path, key=other)
    assert other not in str(info.value)
    assert "the key argument" in str(info.value)


def test_corrupt_file_is_a_token_error(tmp_path: Path, token: MachineToken) -> None:
    path = save_machine_token("gw-prod", token, base_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(TokenError, match="corrupt"):
        load_machine_token("gw-prod", base_dir=tmp_path)
    path.write_bytes(b"plain text")
    with pytest.raises(TokenError, match="corrupt"):
        load_machine_token("gw-prod", base_dir=tmp_path)


def test_missing_key_file_on_load(tmp_path: Path, token: MachineToken) -> None:
    save_machine_token("gw-prod", token, base_dir=tmp_path)
    (tmp_path / "gw-prod" / "encryption.key").unlink()
    with pytest.raises(TokenError, match="No encryption key"):
        load_machine_token("gw-prod", base_dir=tmp_path)
    assert not (tmp_path / "gw-prod" / "encryption.key").exists()


@pytest.mark.parametrize("bad", ["nope", "AGE-SECRET-KEY-1XYZ", base64.b64encode(b"hi").decode()])
def test_bad_keys(
    tmp_path: Path, token: MachineToken, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="key must be"):
        save_machine_token("gw-prod", token, base_dir=tmp_path, key=bad)
    monkeypatch.setenv(ENCRYPTION_KEY_ENV, bad)
    with pytest.raises(TokenError, match=ENCRYPTION_KEY_ENV) as info:
        save_machine_token("gw-prod", token, base_dir=tmp_path)
    assert bad not in str(info.value)
    assert not (tmp_path / "gw-prod").exists()


def test_bad_key_file(tmp_path: Path, token: MachineToken) -> None:
    (tmp_path / "gw-prod").mkdir()
    (tmp_path / "gw-prod" / "encryption.key").write_text("garbage")
    with pytest.raises(TokenError, match="does not hold a valid age key"):
        save_machine_token("gw-prod", token, base_dir=tmp_path)


def test_missing_file_returns_none(tmp_path: Path) -> None:
    assert load_token("gw-prod", "auth", base_dir=tmp_path) is None
    assert load_machine_token("gw-prod", base_dir=tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_default_base_dir_is_home(
    tmp_path: Path, token: MachineToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = save_machine_token("gw-prod", token)
    assert path == tmp_path / ".runbeam" / "gw-prod" / "runbeam" / "auth.json"
    assert mode(tmp_path / ".runbeam") == 0o700
    assert load_machine_token("gw-prod") == token


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "../x", "a/b", "a\\b", "a..b", "/etc", "a\x00b", None, 5]
)
def test_bad_names_rejected_before_touching_disk(
    tmp_path: Path, token: MachineToken, bad: object
) -> None:
    root = tmp_path / "root"
    with pytest.raises(InvalidArgumentError):
        save_machine_token(bad, token, base_dir=root)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        save_token("gw", bad, "v", base_dir=root)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        load_token(bad, "auth", base_dir=root)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        load_machine_token(bad, base_dir=root)  # type: ignore[arg-type]
    assert not root.exists()


def test_generic_values(tmp_path: Path) -> None:
    save_token("gw", "user", "abc", base_dir=tmp_path)
    assert load_token("gw", "user", base_dir=tmp_path) == '"abc"'
    save_token("gw", "user", {"token": "abc", "expires_at": None}, base_dir=tmp_path)
    assert json.loads(load_token("gw", "user", base_dir=tmp_path) or "") == {
        "token": "abc",
        "expires_at": None,
    }


@pytest.mark.parametrize("value", [object(), {"x": float("nan")}, {1: {2}}])
def test_non_json_value_rejected(tmp_path: Path, value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="JSON-serializable"):
        save_token("gw", "user", value, base_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_machine_token_type_check(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="MachineToken"):
        save_machine_token("gw", SAMPLE, base_dir=tmp_path)  # type: ignore[arg-type]


def test_stored_non_machine_token_json(tmp_path: Path) -> None:
    save_token("gw", "auth", {"token": "x"}, base_dir=tmp_path)
    with pytest.raises(TokenError, match=r"Stored machine token for 'gw'.*'machine_token'"):
        load_machine_token("gw", base_dir=tmp_path)


def test_overwrite_is_atomic_and_leaves_no_temp(tmp_path: Path, token: MachineToken) -> None:
    save_machine_token("gw", token, base_dir=tmp_path)
    newer = MachineToken(
        machine_token="mt_new", expires_at=datetime(2100, 1, 1, tzinfo=UTC), gateway_id="g"
    )
    save_machine_token("gw", newer, base_dir=tmp_path)
    assert load_machine_token("gw", base_dir=tmp_path) == newer
    assert sorted(os.listdir(tmp_path / "gw" / "runbeam")) == ["auth.json"]


def test_missing_pyrage(
    tmp_path: Path, token: MachineToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyrage", None)
    with pytest.raises(MissingDependencyError) as info:
        save_machine_token("gw", token, base_dir=tmp_path)
    assert isinstance(info.value, ImportError)
    assert "pip install 'controldeck[runbeam]'" in str(info.value)
    assert "pyrage" in str(info.value)
    with pytest.raises(MissingDependencyError):
        load_token("gw", "auth", base_dir=tmp_path)


def test_from_authorize_keeps_what_the_reply_says() -> None:
    reply = structure(
        {
            "machine_token": "machine_token_abc123",
            "expires_in": 2592000.0,
            "expires_at": "2024-12-01T01:00:00+01:00",
            "gateway": {"id": "gateway-001", "code": "test-gateway", "name": "Test Gateway"},
            "abilities": ["harmony:send", "harmony:receive"],
        },
        AuthorizeResponse,
    )
    token = MachineToken.from_authorize(reply)
    assert token.machine_token == "machine_token_abc123"
    assert token.expires_at == reply.expires_at == datetime(2024, 12, 1, tzinfo=UTC)
    assert json.loads(token.to_json())["expires_at"] == "2024-12-01T00:00:00Z"  # stored in UTC
    assert token.gateway_id == "gateway-001"
    assert token.abilities == ["harmony:send", "harmony:receive"]
    assert abs(datetime.now(UTC) - token.issued_at) < timedelta(minutes=1)
    assert token.is_expired(datetime(2024, 12, 1, 0, 0, 1, tzinfo=UTC))
    assert "machine_token_abc123" not in repr(token)
