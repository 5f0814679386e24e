"""Sending requests: sessions, timeouts, retries, Retry-After, redirects, redaction, logging.

One `Transport` per client. It owns one `requests.Session` per thread (requests sessions are
not documented as thread-safe), so a client can be shared between threads.
"""

from __future__ import annotations

import email.utils
import json
import logging
import platform
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar, overload
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from controldeck import __version__
from controldeck._core import _constants as C
from controldeck._core._convert import structure, unstructure
from controldeck._core._logging import logger, setup_logging
from controldeck._core._redact import excerpt, redact_data, redact_headers, redact_text
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidArgumentError,
    ResponseValidationError,
    error_class_for_status,
)

__all__ = ["ErrorInfo", "Timeout", "Transport", "get_json"]

T = TypeVar("T")
Timeout = float | tuple[float, float]
_NO_BODY: Any = object()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Call(NamedTuple):
    """One logical request, as every attempt of it is sent."""

    method: str
    url: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes | None
    timeout: Timeout
    stream: bool
    secrets: tuple[str, ...]


class ErrorInfo(NamedTuple):
    """What a platform's error body says: its code, message and extra details."""

    code: str | None = None
    message: str | None = None
    details: Any = None


ErrorParser = Callable[[Any], ErrorInfo]
"""Turns a decoded JSON error body into an `ErrorInfo`; platforms supply their own."""


def parse_generic_error(body: Any) -> ErrorInfo:
    """The shapes most platforms use: `{message}`, `{error}`, `{detail}`, `{error: {...}}`."""
    if not isinstance(body, dict):
        return ErrorInfo()
    err = body.get("error")
    if isinstance(err, dict):
        return ErrorInfo(
            _str_or_none(err.get("code")), _str_or_none(err.get("message")), err.get("details")
        )
    message = body.get("message") or body.get("detail")
    code = _str_or_none(body.get("code"))
    if isinstance(err, str):
        # {"error": "Mesh not found", "message": "..."}: the short error is the code-like part.
        if message:
            return ErrorInfo(code or err, _str_or_none(message), body.get("errors"))
        return ErrorInfo(code, err, body.get("errors"))
    details = body.get("errors") if "errors" in body else body.get("details")
    return ErrorInfo(code, _str_or_none(message), details)


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def default_user_agent(platform_name: str) -> str:
    """`controldeck/<version> python/<x.y> <platform>`."""
    py = ".".join(platform.python_version_tuple()[:2])
    return f"controldeck/{__version__} python/{py} {platform_name}"


def check_timeout(timeout: Any) -> Timeout:
    """Validate a timeout argument: seconds, or (connect, read) seconds, all positive."""
    values = timeout if isinstance(timeout, tuple) else (timeout,)
    # A 1-tuple is not a timeout requests accepts: it would fail only at send time.
    if (isinstance(timeout, tuple) and len(values) != 2) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise InvalidArgumentError(
            f"timeout must be positive seconds or a (connect, read) pair, got {timeout!r}"
        )
    return timeout  # type: ignore[no-any-return]


def backoff_delay(retry_number: int) -> float:
    """`min(0.5 * 2**n, 8) * uniform(0.75, 1)` where n counts retries from 0."""
    base: float = min(C.BACKOFF_INITIAL * 2.0**retry_number, C.BACKOFF_MAX)
    return base * random.uniform(*C.BACKOFF_JITTER)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, float(when.timestamp()) - (time.time() if now is None else now))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def request_id_of(response: requests.Response) -> str | None:
    """The server's request id header, when it sent one."""
    for name in C.REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


class Transport:
    """Sends requests for one client.

    Args:
        base_url: The API root every relative path is joined to.
        platform: Short platform name, for the user agent and messages.
        headers: Headers sent on every request (credentials included; they are redacted
            in logs and dropped on cross-host redirects).
        secrets: Extra secret strings masked wherever a body is shown.
        timeout: Default timeout, seconds or (connect, read).
        max_retries: Retries after the first attempt.
        session: A `requests.Session` to use for every thread instead of our own.
        user_agent: Replaces the default user agent.
        error_parser: Reads the platform's error body.
        sleep: Waits between retries (injected by tests).
    """

    def __init__(
        self,
        *,
        base_url: str,
        platform: str,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        error_parser: ErrorParser = parse_generic_error,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise InvalidArgumentError(f"max_retries must be an int >= 0, got {max_retries!r}")
        setup_logging()
        self.base_url = base_url.rstrip("/")
        self.platform = platform
        self.timeout = check_timeout(timeout)
        self.max_retries = max_retries
        self.headers = {
            "User-Agent": user_agent or default_user_agent(platform),
            "Accept": "application/json",
            **(headers or {}),
        }
        self.secrets = tuple(s for s in secrets if s)
        self.error_parser = error_parser
        self.sleep = sleep
        self._shared_session = session
        self._local = threading.local()
        self._own_sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    # -- sessions ---------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """This thread's session."""
        if self._shared_session is not None:
            return self._shared_session
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._own_sessions.append(session)
        return session

    def close(self) -> None:
        """Close the sessions this transport created (a session passed in stays open)."""
        with self._lock:
            sessions, self._own_sessions = self._own_sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    # -- public entry points ----------------------------------------------------------

    @overload
    def request(
        self,
        method: str,
        path: str,
        *,
        cast_to: type[T],
        params: Mapping[str, Any] | None = ...,
        json: Any = ...,
        timeout: Timeout | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        secrets: Iterable[str] = ...,
    ) -> T: ...

    @overload
    def request(
        self,
        method: str,
        path: str,
        *,
        cast_to: None = ...,
        params: Mapping[str, Any] | None = ...,
        json: Any = ...,
        timeout: Timeout | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        secrets: Iterable[str] = ...,
    ) -> Any: ...

    def request(
        self,
        method: str,
        path: str,
        *,
        cast_to: type[T] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = _NO_BODY,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> T | Any:
        """Send a request and decode the JSON reply into `cast_to` (or plain JSON).

        `path` is joined to the base URL unless it is absolute. `json` may hold attrs
        models; they are sent with their wire names and without unset optional fields.
        Omit `json` to send no body and no Content-Type. `secrets` are masked, like the
        client's own credentials, wherever this call's traffic is logged or reported.
        """
        extra = tuple(secrets)  # used twice below, so not left a one-shot iterator
        response = self.send(
            method, path, params=params, json=json, timeout=timeout,
            extra_headers=extra_headers, secrets=extra,
        )  # fmt: skip
        return self.decode(response, cast_to, secrets=extra)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = _NO_BODY,
        timeout: Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        stream: bool = False,
        secrets: Iterable[str] = (),
    ) -> requests.Response:
        """Send with retries; return the 2xx response or raise the matching error."""
        method = method.upper()
        headers = dict(self.headers)
        if extra_headers:
            headers.update(extra_headers)
        _check_headers(headers)
        extra = tuple(s for s in secrets if s)
        body: bytes | None = None
        if json is not _NO_BODY:
            body = _json_dumps(unstructure(json))
            headers["Content-Type"] = "application/json"
        call = _Call(
            method=method,
            url=path if "://" in path else f"{self.base_url}/{path.lstrip('/')}",
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers=headers,
            body=body,
            timeout=self.timeout if timeout is None else check_timeout(timeout),
            stream=stream,
            secrets=self.secrets + extra,
        )

        attempt = 0
        while True:
            response = self._attempt(call, attempt)
            if response is not None and response.status_code < 300:
                return response
            # `response` is None when the attempt failed but may be retried.
            delay = self._retry_delay(method, response, attempt)
            if delay is None:
                assert response is not None  # connection errors raise inside _attempt
                raise self.status_error(response, secrets=extra)
            if response is not None:
                response.close()
            logger.info(
                "retrying %s %s in %.2fs (retry %d of %d)",
                method, call.url, delay, attempt + 1, self.max_retries,
            )  # fmt: skip
            self.sleep(delay)
            attempt += 1

    # -- one attempt ------------------------------------------------------------------

    def _attempt(self, call: _Call, attempt: int) -> requests.Response | None:
        """One try, following GET redirects. None means "failed, retry allowed"."""
        method, url, timeout, secrets = call.method, call.url, call.timeout, call.secrets
        retries_left = attempt < self.max_retries
        started = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "request %s %s params=%s headers=%s body=%s",
                method, url,
                # Some platforms send credentials as query parameters (`?token=`).
                redact_text(json.dumps(call.params, default=str), secrets),
                redact_headers(call.headers),
                excerpt(call.body, C.BODY_EXCERPT_CHARS, secrets),
            )  # fmt: skip
        try:
            response = self._send_following_redirects(call)
        except requests.exceptions.ConnectTimeout as exc:
            # The request surely did not reach the server: safe to retry for any method.
            if retries_left:
                self._log_retryable(call, exc)
                return None
            raise APITimeoutError(
                f"Timed out connecting to {_host(url)} after {_part(timeout, 0)}s "
                f"({method} {url}). Is the server up and the base URL right?",
                method=method,
                url=url,
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            self._read_timed_out(call, retries_left, exc)
            return None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            # requests reports a stall or a drop *while reading the body* as a plain
            # ConnectionError (wrapping urllib3's ReadTimeoutError) or a ChunkedEncodingError.
            if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
                self._read_timed_out(call, retries_left, exc)
                return None
            reached = not _is_connect_failure(exc)
            if retries_left and (not reached or method in C.IDEMPOTENT_METHODS):
                self._log_retryable(call, exc)
                return None
            what = "connection dropped" if reached else "could not connect"
            raise APIConnectionError(
                f"{method} {url}: {what} ({_root_cause(exc, secrets)})", method=method, url=url
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise APIConnectionError(
                f"{method} {url}: {_root_cause(exc, secrets)}", method=method, url=url
            ) from exc
        logger.info(
            "%s %s -> %d (%.0f ms)",
            method, url, response.status_code, (time.monotonic() - started) * 1000,
        )  # fmt: skip
        if not call.stream and logger.isEnabledFor(logging.DEBUG):
            # Reading .content here is free: a non-streamed body is already in memory.
            logger.debug(
                "response headers=%s body=%s",
                redact_headers(response.headers),
                excerpt(response.content, C.BODY_EXCERPT_CHARS, secrets),
            )
        return response

    def _read_timed_out(self, call: _Call, retries_left: bool, exc: Exception) -> None:
        """Return when the read timeout may be retried (idempotent method), else raise."""
        method, url, timeout = call.method, call.url, call.timeout
        if retries_left and method in C.IDEMPOTENT_METHODS:
            self._log_retryable(call, exc)
            return
        raise APITimeoutError(
            f"{method} {url}: no reply within {_part(timeout, 1)}s (read timeout). "
            "Pass timeout= to wait longer."
            + ("" if method in C.IDEMPOTENT_METHODS else " Not retried: it may have run."),
            method=method,
            url=url,
        ) from exc

    def _log_retryable(self, call: _Call, exc: Exception) -> None:
        logger.info("%s %s failed: %s", call.method, call.url, _root_cause(exc, call.secrets))

    def _send_following_redirects(self, call: _Call) -> requests.Response:
        session = self.session
        method, url, params, headers = call.method, call.url, call.params, call.headers
        first_origin = _origin(url)
        for _ in range(C.MAX_REDIRECTS + 1):
            response = session.request(
                method,
                url,
                params=params,
                data=call.body,
                headers=headers,
                timeout=call.timeout,
                stream=call.stream,
                allow_redirects=False,
            )
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or method != "GET" or not location:
                return response
            response.close()
            url = urljoin(response.url, location)
            params = {}  # the Location carries its own query
            if _origin(url) != first_origin:
                # Never hand our credentials to another host.
                headers = {k: v for k, v in headers.items() if k.lower() not in C.SECRET_HEADERS}
                logger.info("redirected to another host; credentials not forwarded")
        raise APIConnectionError(f"GET {url}: more than {C.MAX_REDIRECTS} redirects")

    # -- retry policy -----------------------------------------------------------------

    def _retry_delay(
        self, method: str, response: requests.Response | None, attempt: int
    ) -> float | None:
        """Seconds to wait before the next try, or None when the error is final."""
        if attempt >= self.max_retries:
            return None
        if response is None:
            return backoff_delay(attempt)
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > C.RETRY_AFTER_MAX:
            return None  # longer than we wait on a caller's behalf: report it instead
        idempotent = method in C.IDEMPOTENT_METHODS
        if idempotent:
            retryable = status in C.RETRY_STATUSES or status == 500
        else:
            # The server saw the request; retry only where it said to come back.
            retryable = status in C.RETRY_AFTER_STATUSES and retry_after is not None
        if not retryable:
            return None
        return retry_after if retry_after is not None else backoff_delay(attempt)

    # -- replies ----------------------------------------------------------------------

    def decode(
        self, response: requests.Response, cast_to: type[T] | None, *, secrets: Iterable[str] = ()
    ) -> T | Any:
        """Decode a 2xx reply's JSON into `cast_to`; a non-JSON reply is a validation error.

        Excerpts in errors have the client's secrets and this call's `secrets` masked.
        """
        secrets = self.secrets + tuple(secrets)
        content = response.content
        if cast_to is None and not content.strip():
            return None
        try:
            data = json.loads(content)
        except ValueError as exc:
            kind = response.headers.get("Content-Type", "no content type")
            raise ResponseValidationError(
                f"{response.request.method} {_strip_query(response.url)}: expected a JSON reply, "
                f"got {kind} ({len(content)} bytes)",
                path="$",
                status_code=response.status_code,
                request_id=request_id_of(response),
                body_excerpt=excerpt(content, C.BODY_EXCERPT_CHARS, secrets),
            ) from exc
        if cast_to is None:
            return data
        return structure(
            data,
            cast_to,
            error_context=lambda: {
                "status_code": response.status_code,
                "request_id": request_id_of(response),
                "body_excerpt": excerpt(content, C.BODY_EXCERPT_CHARS, secrets),
            },
        )

    def status_error(
        self, response: requests.Response, *, secrets: Iterable[str] = ()
    ) -> APIStatusError:
        """The typed error for a non-2xx reply, with the platform's code and message.

        Everything taken from the body (message, details, excerpt) has the client's
        secrets and this call's `secrets` masked.
        """
        secrets = self.secrets + tuple(secrets)
        status = response.status_code
        body_text = response.content.decode("utf-8", errors="replace")
        info = ErrorInfo()
        try:
            info = self.error_parser(json.loads(body_text))
        except ValueError:
            # Plain-text error bodies ("Change not found") are the message themselves.
            if body_text.strip() and "<" not in body_text[:100] and len(body_text) <= 200:
                info = ErrorInfo(message=body_text.strip())
        except Exception:  # a parser must never hide the real error
            logger.debug("error parser failed", exc_info=True)
        method = response.request.method if response.request is not None else "?"
        reason = response.reason or "error"
        message = info.message or f"{reason} ({method} {_strip_query(response.url)})"
        message = excerpt(message, C.BODY_EXCERPT_CHARS, secrets)
        kwargs: dict[str, Any] = {
            "status_code": status,
            "request_id": request_id_of(response),
            "code": info.code,
            "body_excerpt": excerpt(body_text, C.BODY_EXCERPT_CHARS, secrets),
            "response": response,
            "details": redact_data(info.details, secrets),
            "retry_after": parse_retry_after(response.headers.get("Retry-After")),
        }
        return error_class_for_status(status)(message, **kwargs)


def _json_dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _part(timeout: Timeout, index: int) -> float:
    return timeout[index] if isinstance(timeout, tuple) else timeout


def _is_connect_failure(exc: requests.exceptions.RequestException) -> bool:
    """True when the connection was never made (refused, DNS), so nothing was sent."""
    text = repr(exc)
    return any(
        marker in text
        for marker in (
            "NewConnectionError",
            "NameResolutionError",
            "Connection refused",
            "Failed to resolve",
            "ConnectTimeout",
        )
    )


def _root_cause(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The innermost cause's text, short, with secrets masked (it can quote headers)."""
    seen: BaseException = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        seen = nxt
    text = redact_text(str(seen) or type(seen).__name__, secrets)
    return text if len(text) <= 300 else text[:299] + "…"


def _check_headers(headers: Mapping[str, str]) -> None:
    """Reject header values requests cannot send, naming the header but not its value."""
    for name, value in headers.items():
        if not isinstance(value, str):
            raise InvalidArgumentError(
                f"header {name!r} must be a string, got {type(value).__name__}"
            )
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidArgumentError(
                f"header {name!r} holds characters HTTP headers cannot carry (non-Latin-1)"
            ) from None
        if "\n" in value or "\r" in value:
            raise InvalidArgumentError(f"header {name!r} holds a line break")


_default_transport: Transport | None = None


def get_json(
    url: str,
    *,
    timeout: Timeout = 10.0,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET an absolute URL without credentials and return its decoded JSON.

    Used for public documents such as a JWKS. Retries and errors as for any request.

    Raises:
        APIStatusError: a non-2xx reply (the subclass matches the status).
        APIConnectionError: the request failed on the network (`APITimeoutError` on timeout).
        ResponseValidationError: the body is not JSON.
    """
    global _default_transport
    if _default_transport is None:
        _default_transport = Transport(base_url="", platform="controldeck")
    return _default_transport.request("GET", url, timeout=timeout, extra_headers=headers)
