"""Machine tokens and their encrypted on-disk storage, compatible with the Rust `runbeam-sdk`.

Layout (reference/runbeam.md §4.4): `<base>/<instance_id>/runbeam/<token_type>.json` holds the
token JSON encrypted with age (X25519); `<base>/<instance_id>/encryption.key` holds the base64 of
the `AGE-SECRET-KEY-1...` identity unless `RUNBEAM_ENCRYPTION_KEY` or an explicit key is used.
`<base>` defaults to `~/.runbeam`. pyrage comes from the optional `runbeam` extra and is imported
only when a token is saved or loaded.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from controldeck.errors import InvalidArgumentError, MissingDependencyError, TokenError

if TYPE_CHECKING:
    from controldeck._generated.runbeam import AuthorizeResponse

__all__ = [
    "ENCRYPTION_KEY_ENV",
    "MACHINE_TOKEN_ENV",
    "MachineToken",
    "load_machine_token",
    "load_token",
    "save_machine_token",
    "save_token",
]

MACHINE_TOKEN_ENV = "RUNBEAM_MACHINE_TOKEN"
ENCRYPTION_KEY_ENV = "RUNBEAM_ENCRYPTION_KEY"
MACHINE_TOKEN_TYPE = "auth"
_KEY_FILE = "encryption.key"
_AGE_SECRET_PREFIX = "AGE-SECRET-KEY-1"
_REQUIRED_STR_KEYS = ("machine_token", "expires_at", "gateway_id", "issued_at")
_TIME_KEYS = ("expires_at", "issued_at")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as upstream stores it; fractions only when there are some."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        got = "a naive datetime" if isinstance(value, datetime) else type(value).__name__
        raise InvalidArgumentError(
            f"{attribute.name} must be a timezone-aware datetime such as "
            f"datetime(2099, 1, 1, tzinfo=UTC), got {got}"
        )


@attrs.define(kw_only=True)
class MachineToken:
    """A gateway's machine token, as Runbeam's `/harmony/authorize` issues it.

    The token itself never appears in `repr()` or `str()`.

    Timestamps are timezone-aware `datetime`s, like every timestamp the client returns; in
    JSON (`to_json`, token files, `RUNBEAM_MACHINE_TOKEN`) they are RFC 3339 strings, as the
    upstream SDK writes them.

    Attributes:
        machine_token: The secret bearer token.
        expires_at: Expiry, timezone-aware (machine tokens last 30 days and are never
            refreshed; authorize again to renew).
        gateway_id: The gateway the token belongs to.
        abilities: What the token may do, such as `harmony:send`.
        issued_at: When it was issued, timezone-aware; defaults to now (UTC, whole seconds).

    Raises:
        InvalidArgumentError: `expires_at` or `issued_at` is not a timezone-aware datetime.

    Example:
        >>> token = MachineToken(machine_token="mt_abc", gateway_id="gw-1",
        ...                      expires_at=datetime(2099, 1, 1, tzinfo=UTC))
        >>> token.expires_at.year
        2099
        >>> token.is_valid()
        True
    """

    machine_token: str = attrs.field(repr=lambda _: "<redacted>")
    expires_at: datetime = attrs.field(validator=_aware)
    gateway_id: str
    abilities: list[str] = attrs.field(factory=list)
    issued_at: datetime = attrs.field(factory=_now, validator=_aware)

    def __str__(self) -> str:
        return repr(self)

    def is_expired(self, now: datetime | None = None) -> bool:
        """Whether `expires_at` has passed.

        Args:
            now: A timezone-aware time to compare with; defaults to the current time.

        Returns:
            True when `expires_at` is at or before `now`.

        Raises:
            InvalidArgumentError: `now` is a naive datetime.

        Example:
            >>> token.is_expired(now=datetime(2100, 1, 1, tzinfo=UTC))
            True
        """
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise InvalidArgumentError("now must be timezone-aware, e.g. datetime.now(UTC)")
        return self.expires_at <= now

    def is_valid(self, now: datetime | None = None) -> bool:
        """Whether the token is still usable (the opposite of `is_expired`).

        Args:
            now: A timezone-aware time to compare with; defaults to the current time.

        Returns:
            True when `expires_at` lies after `now`.

        Raises:
            InvalidArgumentError: `now` is a naive datetime.

        Example:
            >>> token.is_valid()
            True
        """
        return not self.is_expired(now)

    def to_json(self) -> str:
        """Serialize in the upstream SDK's JSON layout.

        Returns:
            A JSON object with `machine_token`, `expires_at`, `gateway_id`, `abilities` and
            `issued_at` (timestamps as RFC 3339 in UTC, `2099-01-01T00:00:00Z`). It contains
            the secret token: handle it like a password.

        Example:
            >>> MachineToken.from_json(token.to_json()) == token
            True
        """
        return json.dumps(
            {
                "machine_token": self.machine_token,
                "expires_at": _rfc3339(self.expires_at),
                "gateway_id": self.gateway_id,
                "abilities": list(self.abilities),
                "issued_at": _rfc3339(self.issued_at),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> MachineToken:
        """Parse the upstream SDK's JSON layout (as stored on disk or in `RUNBEAM_MACHINE_TOKEN`).

        Unknown keys (such as `gateway_code`, dropped upstream in 0.11.0) are ignored; a missing
        `abilities` means none. `expires_at` and `issued_at` must be RFC 3339 timestamps with a
        UTC offset (`Z` or `+01:00`; fractions of a second and a lowercase `t`/`z` are fine).

        Args:
            text: The JSON text.

        Returns:
            The token.

        Raises:
            TokenError: The text is not a JSON object, a required key is missing or has the
                wrong type, or a timestamp is not RFC 3339 with an offset (upstream would load
                such a token and call it expired). The message names the key and never
                contains the token.

        Example:
            >>> MachineToken.from_json('{"machine_token": "mt_abc", "expires_at": '
            ...     '"2099-01-01T00:00:00Z", "gateway_id": "gw-1", "issued_at": '
            ...     '"2026-01-01T00:00:00Z"}').gateway_id
            'gw-1'
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TokenError(
                f"MachineToken JSON is not valid JSON: {exc.msg} at line {exc.lineno} "
                f"column {exc.colno}"
            ) from None
        except (TypeError, UnicodeDecodeError):
            raise TokenError("MachineToken JSON must be UTF-8 text") from None
        if not isinstance(data, dict):
            raise TokenError(f"MachineToken JSON must be an object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        for key in _REQUIRED_STR_KEYS:
            if key not in data:
                raise TokenError(f"MachineToken JSON is missing the required key {key!r}")
            if not isinstance(data[key], str):
                raise TokenError(
                    f"MachineToken JSON key {key!r} must be a string, "
                    f"got {type(data[key]).__name__}"
                )
            values[key] = data[key]
        for key in _TIME_KEYS:
            parsed = _parse_rfc3339(values[key])
            if parsed is None:
                raise TokenError(
                    f"MachineToken JSON key {key!r} must be an RFC 3339 timestamp with a UTC "
                    f"offset, like '2099-01-01T00:00:00Z', got {values[key][:40]!r}"
                )
            values[key] = parsed
        abilities = data.get("abilities")
        if abilities is None:
            abilities = []
        if not isinstance(abilities, list) or not all(isinstance(a, str) for a in abilities):
            raise TokenError("MachineToken JSON key 'abilities' must be a list of strings")
        return cls(abilities=list(abilities), **values)

    @classmethod
    def from_authorize(cls, response: AuthorizeResponse) -> MachineToken:
        """The token to keep from an `authorize_gateway` reply, issued now.

        Args:
            response: What `RunbeamClient.authorize_gateway` returned.

        Returns:
            The machine token with its expiry, gateway id and abilities.

        Example:
            >>> auth = client.authorize_gateway(user_jwt, "my-gateway")
            >>> save_machine_token("my-gateway", MachineToken.from_authorize(auth))
        """
        return cls(
            machine_token=response.machine_token,
            expires_at=response.expires_at,
            gateway_id=response.gateway.id,
            abilities=list(response.abilities),
        )

    @classmethod
    def from_env(cls) -> MachineToken | None:
        """Read a token from the `RUNBEAM_MACHINE_TOKEN` environment variable (JSON layout).

        Returns:
            The token, or None when the variable is unset or blank.

        Raises:
            TokenError: The variable is set but does not hold a valid token JSON.

        Example:
            >>> token = MachineToken.from_env()
            >>> token is None or token.is_valid()
            True
        """
        text = os.environ.get(MACHINE_TOKEN_ENV, "")
        if not text.strip():
            return None
        try:
            return cls.from_json(text)
        except TokenError as exc:
            raise TokenError(f"{MACHINE_TOKEN_ENV}: {exc}") from None


def save_token(
    instance_id: str,
    token_type: str,
    value: Any,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    key: str | None = None,
) -> Path:
    """Encrypt a token with age and write it where the upstream SDK keeps it.

    The file is `<base_dir>/<instance_id>/runbeam/<token_type>.json`, written atomically with
    mode 0600 in directories created with mode 0700. The key is, in order: `key`, the
    `RUNBEAM_ENCRYPTION_KEY` environment variable, or `<base_dir>/<instance_id>/encryption.key`,
    which is generated (mode 0600) on first use.

    Args:
        instance_id: Names the directory; no path separators or `..`.
        token_type: Names the file (`auth` for the machine token); no path separators or `..`.
        value: A `MachineToken` (stored as its `to_json`) or any JSON-serializable value
            (stored as `json.dumps(value)`, so a string becomes a JSON string).
        base_dir: Root directory; defaults to `~/.runbeam`.
        key: An age X25519 secret key, raw (`AGE-SECRET-KEY-1...`) or base64 of it.

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: A bad id, token type, key or value; nothing was written.
        MissingDependencyError: pyrage is not installed (`pip install 'controldeck[runbeam]'`).
        TokenError: The key from the environment or key file is unusable, or writing failed.

    Example:
        >>> save_token("gw-prod", "auth", token)
        PosixPath('/home/me/.runbeam/gw-prod/runbeam/auth.json')
    """
    _check_name("instance_id", instance_id)
    _check_name("token_type", token_type)
    text = _json_text(value)
    pyrage = _import_pyrage()
    root = _root(base_dir)
    identity, _ = _identity(pyrage, root, instance_id, key, create=True)
    path = root / instance_id / "runbeam" / f"{token_type}.json"
    _make_private_dirs(root, path.parent)
    data = pyrage.encrypt(text.encode("utf-8"), [identity.to_public()])
    _write_private(path, data, replace=True)
    return path


def load_token(
    instance_id: str,
    token_type: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    key: str | None = None,
) -> str | None:
    """Read and decrypt a token written by `save_token` (or by the upstream SDK).

    Args:
        instance_id: The directory name used when saving.
        token_type: The file name used when saving (`auth` for the machine token).
        base_dir: Root directory; defaults to `~/.runbeam`.
        key: The age secret key, raw or base64; otherwise `RUNBEAM_ENCRYPTION_KEY`, otherwise
            the instance's `encryption.key` file.

    Returns:
        The decrypted JSON text, or None when no token file exists.

    Raises:
        InvalidArgumentError: A bad id, token type or key; nothing was read.
        MissingDependencyError: pyrage is not installed (`pip install 'controldeck[runbeam]'`).
        TokenError: No key is available, the key does not match, or the file is corrupt or
            unreadable. The message never contains a key or the token.

    Example:
        >>> load_token("gw-prod", "auth")
        '{"machine_token": "...", "expires_at": "2099-01-01T00:00:00Z", ...}'
    """
    _check_name("instance_id", instance_id)
    _check_name("token_type", token_type)
    pyrage = _import_pyrage()
    root = _root(base_dir)
    path = root / instance_id / "runbeam" / f"{token_type}.json"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TokenError(f"Could not read {path}: {exc.strerror}") from None
    identity, source = _identity(pyrage, root, instance_id, key, create=False)
    try:
        plain = pyrage.decrypt(data, [identity])
    except pyrage.DecryptError:
        raise TokenError(
            f"Could not decrypt {path}: the key from {source} does not match it, or the file "
            "is corrupt. Use the key it was saved with, or delete the file and save the token "
            "again"
        ) from None
    try:
        text: str = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenError(f"Decrypted {path} is not UTF-8 text; the file is corrupt") from None
    return text


def save_machine_token(
    instance_id: str,
    token: MachineToken,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    key: str | None = None,
) -> Path:
    """Save a machine token as `<base_dir>/<instance_id>/runbeam/auth.json` (see `save_token`).

    Args:
        instance_id: Names the directory; no path separators or `..`.
        token: The token to store.
        base_dir: Root directory; defaults to `~/.runbeam`.
        key: An age X25519 secret key, raw or base64; see `save_token` for the fallbacks.

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: `token` is not a MachineToken, or a bad id or key.
        MissingDependencyError: pyrage is not installed (`pip install 'controldeck[runbeam]'`).
        TokenError: The key is unusable or writing failed.

    Example:
        >>> save_machine_token("gw-prod", MachineToken.from_env())
        PosixPath('/home/me/.runbeam/gw-prod/runbeam/auth.json')
    """
    if not isinstance(token, MachineToken):
        raise InvalidArgumentError(f"token must be a MachineToken, got {type(token).__name__}")
    return save_token(instance_id, MACHINE_TOKEN_TYPE, token, base_dir=base_dir, key=key)


def load_machine_token(
    instance_id: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    key: str | None = None,
) -> MachineToken | None:
    """Load the machine token saved for an instance (the `auth` token type).

    Args:
        instance_id: The directory name used when saving.
        base_dir: Root directory; defaults to `~/.runbeam`.
        key: The age secret key, raw or base64; see `load_token` for the fallbacks.

    Returns:
        The token, or None when none is stored. Check `is_valid()` before using it.

    Raises:
        InvalidArgumentError: A bad id or key.
        MissingDependencyError: pyrage is not installed (`pip install 'controldeck[runbeam]'`).
        TokenError: The file cannot be decrypted or does not hold a machine token.

    Example:
        >>> token = load_machine_token("gw-prod")
        >>> token is not None and token.is_valid()
        True
    """
    text = load_token(instance_id, MACHINE_TOKEN_TYPE, base_dir=base_dir, key=key)
    if text is None:
        return None
    try:
        return MachineToken.from_json(text)
    except TokenError as exc:
        raise TokenError(f"Stored machine token for {instance_id!r}: {exc}") from None


# --- implementation ---------------------------------------------------------------------------


def _parse_rfc3339(text: str) -> datetime | None:
    try:
        # Python 3.11's fromisoformat rejects the lowercase 't'/'z' RFC 3339 allows.
        parsed = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _check_name(label: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{label} must be a non-empty string")
    if ".." in value or value == "." or any(c in value for c in ("/", "\\", "\x00")):
        raise InvalidArgumentError(
            f"{label} must not contain path separators, NUL or '..', got {value!r}"
        )


def _json_text(value: Any) -> str:
    if isinstance(value, MachineToken):
        return value.to_json()
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"value must be a MachineToken or JSON-serializable, got {type(value).__name__}"
        ) from None


def _import_pyrage() -> Any:
    try:
        import pyrage
        import pyrage.x25519
    except ImportError:
        raise MissingDependencyError("token storage", "runbeam", "pyrage") from None
    return pyrage


def _root(base_dir: str | os.PathLike[str] | None) -> Path:
    if base_dir is not None:
        return Path(base_dir)
    try:
        return Path.home() / ".runbeam"
    except RuntimeError:
        raise TokenError("Cannot determine the home directory; pass base_dir") from None


def _parse_identity(pyrage: Any, text: str) -> Any:
    """An age X25519 identity from a raw `AGE-SECRET-KEY-1...` string or base64 of it."""
    secret = text.strip()
    if not secret.upper().startswith(_AGE_SECRET_PREFIX):
        try:
            secret = base64.b64decode(secret, validate=True).decode("ascii").strip()
        except (binascii.Error, ValueError):
            return None
    try:
        return pyrage.x25519.Identity.from_str(secret)
    except (pyrage.IdentityError, ValueError):
        return None


def _identity(
    pyrage: Any, root: Path, instance_id: str, key: str | None, *, create: bool
) -> tuple[Any, str]:
    """The identity to use and a description of where it came from (for error messages)."""
    if key is not None:
        identity = _parse_identity(pyrage, key) if isinstance(key, str) else None
        if identity is None:
            raise InvalidArgumentError(
                "key must be an age X25519 secret key ('AGE-SECRET-KEY-1...') or base64 of one"
            )
        return identity, "the key argument"
    env_key = os.environ.get(ENCRYPTION_KEY_ENV, "")
    if env_key.strip():
        identity = _parse_identity(pyrage, env_key)
        if identity is None:
            raise TokenError(
                f"{ENCRYPTION_KEY_ENV} is set but is neither an age X25519 secret key "
                "('AGE-SECRET-KEY-1...') nor base64 of one"
            )
        return identity, ENCRYPTION_KEY_ENV
    key_path = root / instance_id / _KEY_FILE
    try:
        stored = key_path.read_text("ascii")
    except FileNotFoundError:
        if not create:
            raise TokenError(
                f"No encryption key: {key_path} does not exist and {ENCRYPTION_KEY_ENV} is not "
                "set; provide the key the token was saved with"
            ) from None
        return _create_key_file(pyrage, root, key_path), str(key_path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise TokenError(f"Could not read the encryption key {key_path}: {reason}") from None
    identity = _parse_identity(pyrage, stored)
    if identity is None:
        raise TokenError(f"The encryption key file {key_path} does not hold a valid age key")
    return identity, str(key_path)


def _create_key_file(pyrage: Any, root: Path, key_path: Path) -> Any:
    _make_private_dirs(root, key_path.parent)
    identity = pyrage.x25519.Identity.generate()
    encoded = base64.b64encode(str(identity).encode("ascii"))
    try:
        _write_private(key_path, encoded, replace=False)
    except FileExistsError:
        # Another process created the key first; use theirs so both encrypt alike.
        stored = _parse_identity(pyrage, key_path.read_text("ascii"))
        if stored is None:
            raise TokenError(
                f"The encryption key file {key_path} does not hold a valid age key"
            ) from None
        return stored
    return identity


def _make_private_dirs(root: Path, leaf: Path) -> None:
    """Create `root` and every directory from it down to `leaf` with mode 0700."""
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        current = root
        for part in leaf.relative_to(root).parts:
            current = current / part
            current.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise TokenError(f"Could not create {leaf}: {exc.strerror}") from None


def _write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write `data` atomically to `path` with mode 0600.

    The temporary file is created 0600 from the start (mkstemp uses `os.open(..., 0o600)`), so
    the secret is never readable by others, even briefly. With `replace=False` the file is
    published with a hard link, which fails with FileExistsError instead of overwriting.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise TokenError(f"Could not write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        if replace:
            os.replace(tmp_name, path)
        else:
            os.link(tmp_name, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise TokenError(f"Could not write {path}: {exc.strerror}") from None
    finally:
        # Gone already after os.replace; a second name after os.link.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
