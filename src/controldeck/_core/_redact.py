"""Masking of secrets in headers, bodies and free text before they reach a log or an error.

A `Redactor` knows the JSON keys to mask: the generic credential names of the core plus the
fields a platform's spec marks `x-controldeck-secret`. Known secret values (the live token,
a per-call password) are masked wherever they appear, whatever the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from controldeck._core import _constants as C

__all__ = ["MASK", "Redactor", "excerpt", "redact_data", "redact_headers", "redact_text"]

MASK = "<redacted>"

# `"key": "value` in text that is not valid JSON (truncated, or JSON inside HTML).
_KEY_VALUE = re.compile(r'"([A-Za-z0-9_\-]{1,64})"(\s*:\s*)"((?:[^"\\]|\\.)*)')


def _norm(key: str) -> str:
    # `accessToken`, `access-token` and `ACCESS_TOKEN` are all `access_token`.
    return key.lower().replace("_", "").replace("-", "")


class Redactor:
    """Masks credentials for one platform.

    Args:
        secret_keys: JSON keys (wire names) to mask besides the core's generic ones.

    Example:
        >>> Redactor({"machine_token"}).text('{"machine_token": "mt_1", "id": 3}')
        '{"machine_token": "<redacted>", "id": 3}'
    """

    def __init__(self, secret_keys: Iterable[str] = ()) -> None:
        self._keys = frozenset(_norm(k) for k in (*C.SECRET_KEYS, *secret_keys))

    def is_secret_key(self, key: object) -> bool:
        """Whether a JSON key names a credential."""
        return isinstance(key, str) and _norm(key) in self._keys

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """A copy of `headers` with every credential-bearing value masked."""
        return {k: (MASK if k.lower() in C.SECRET_HEADERS else v) for k, v in headers.items()}

    def data(self, value: Any, secrets: Iterable[str] = ()) -> Any:
        """A copy of decoded JSON with secret keys masked and known secret values replaced."""
        secrets = tuple(secrets)
        if isinstance(value, dict):
            return {
                k: (MASK if self.is_secret_key(k) else self.data(v, secrets))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.data(v, secrets) for v in value]
        if isinstance(value, str):
            return _mask_values(value, secrets)
        return value

    def text(self, text: str, secrets: Iterable[str] = ()) -> str:
        """Mask secret JSON fields (parsed when `text` is JSON, by pattern when it is not)
        and every known secret value."""
        stripped = text.lstrip()
        parsed = False
        if stripped[:1] in ("{", "["):
            try:
                text = json.dumps(self.data(json.loads(text)), ensure_ascii=False)
                parsed = True
            except ValueError:
                pass  # truncated or not JSON: the pattern below still finds "token": "..."
        if not parsed:
            text = _KEY_VALUE.sub(self._mask_match, text)
        return _mask_values(text, secrets)

    def excerpt(
        self,
        body: bytes | str | None,
        secrets: Iterable[str] = (),
        *,
        limit: int = C.BODY_EXCERPT_CHARS,
    ) -> str:
        """At most `limit` characters of a body, secrets masked, for errors and logs."""
        if not body:
            return ""
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        text = self.text(text, secrets)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _mask_match(self, m: re.Match[str]) -> str:
        if not self.is_secret_key(m.group(1)):
            return m.group(0)
        return f'"{m.group(1)}"{m.group(2)}"{MASK}'


def _mask_values(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


_generic = Redactor()


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`Redactor().headers`, for code that knows no platform."""
    return _generic.headers(headers)


def redact_data(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`Redactor().data`, for code that knows no platform."""
    return _generic.data(value, secrets)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`Redactor().text`, for code that knows no platform."""
    return _generic.text(text, secrets)


def excerpt(body: bytes | str | None, limit: int, secrets: Iterable[str] = ()) -> str:
    """`Redactor().excerpt`, for code that knows no platform."""
    return _generic.excerpt(body, secrets, limit=limit)
