"""URLs and failures in one safe line: origins, short URLs, root causes, request ids."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import requests

from controldeck._core import _constants as C
from controldeck._core._redact import Redactor

__all__ = ["origin_of", "request_id_of", "root_cause", "short_url", "strip_query"]

_GENERIC = Redactor()


def request_id_of(response: requests.Response) -> str | None:
    """The server's request id header, when it sent one."""
    for name in C.REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


def root_cause(
    exc: BaseException, secrets: Iterable[str] = (), redactor: Redactor | None = None
) -> str:
    """The innermost cause's text on one short line, with secrets masked.

    requests and urllib3 nest the real error both as `__cause__`/`__context__` and inside
    `args` (`ConnectionError(MaxRetryError(... NewConnectionError(...)))`); the message a
    person needs is the innermost one. It can quote headers, so it is masked.
    """
    seen = exc
    for _ in range(20):  # chains are short; never loop on a cycle
        inner = next((a for a in reversed(seen.args) if isinstance(a, BaseException)), None)
        inner = inner or seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    text = " ".join(str(seen).split()) or type(seen).__name__
    text = (redactor or _GENERIC).text(text, secrets)
    return text if len(text) <= 300 else text[:299] + "…"


def strip_query(url: str) -> str:
    """`url` without its query, which may carry credentials."""
    return url.split("?", 1)[0]


def short_url(url: str) -> str:
    """`url` without its query and with any path segment over 100 characters cut short:
    a caller's id is never echoed at length in a message."""
    parts = strip_query(url).split("/")
    return "/".join(p if len(p) <= C.MAX_ECHO else p[: C.MAX_ECHO - 1] + "…" for p in parts)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, the default port dropped, host
    lower-cased; None when it has none. Credentials go only where this equals the client's.

    Example:
        >>> origin_of("HTTPS://API.Example.com:443/v1?x=1")
        'https://api.example.com'
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"
