"""Masking of secrets in headers, bodies and free text before they reach a log or an error."""

from __future__ import annotations

import json
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


def _mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if _is_secret_key(k) else _mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secret JSON fields (when `text` is JSON) and every known secret value."""
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            text = json.dumps(_mask_json(json.loads(text)), ensure_ascii=False)
        except ValueError:
            pass  # not JSON after all (truncated, HTML); fall back to value masking
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def excerpt(body: bytes | str | None, limit: int, secrets: Iterable[str] = ()) -> str:
    """At most `limit` characters of a body, secrets masked, for errors and logs."""
    if not body:
        return ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = redact_text(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"
