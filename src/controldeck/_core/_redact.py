"""Masking of secrets in headers, bodies and free text before they reach a log or an error."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from controldeck._core._constants import SECRET_HEADERS, SECRET_KEYS

MASK = "<redacted>"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with every credential-bearing value masked."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


# Keys compared without case, `_` or `-`: `accessToken` and `access-token` are `access_token`.
_SECRET_KEYS = frozenset(k.replace("_", "") for k in SECRET_KEYS)


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "") in _SECRET_KEYS


def redact_data(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of decoded JSON with secret keys masked and known secret values replaced."""
    secrets = tuple(secrets)
    if isinstance(value, dict):
        return {
            k: (MASK if _is_secret_key(k) else redact_data(v, secrets)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_data(v, secrets) for v in value]
    if isinstance(value, str):
        return _mask_values(value, secrets)
    return value


# `"key": "value` in text that is not valid JSON (truncated, or JSON inside HTML).
_KEY_VALUE = re.compile(r'"([A-Za-z0-9_\-]{1,64})"(\s*:\s*)"((?:[^"\\]|\\.)*)')


def _mask_key_values(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        if not _is_secret_key(m.group(1)):
            return m.group(0)
        return f'"{m.group(1)}"{m.group(2)}"{MASK}'

    return _KEY_VALUE.sub(mask, text)


def _mask_values(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secret JSON fields (parsed when `text` is JSON, by pattern when it is not)
    and every known secret value."""
    stripped = text.lstrip()
    parsed = False
    if stripped[:1] in ("{", "["):
        try:
            text = json.dumps(redact_data(json.loads(text)), ensure_ascii=False)
            parsed = True
        except ValueError:
            pass  # truncated or not JSON: the pattern below still finds "token": "..."
    if not parsed:
        text = _mask_key_values(text)
    return _mask_values(text, secrets)


def excerpt(body: bytes | str | None, limit: int, secrets: Iterable[str] = ()) -> str:
    """At most `limit` characters of a body, secrets masked, for errors and logs."""
    if not body:
        return ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = redact_text(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"
