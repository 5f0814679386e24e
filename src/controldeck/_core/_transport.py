"""Sending requests: sessions, attempts, retries, the deadline, auth, redirects, logging.

One `Transport` per client. `build()` turns a call's arguments into one `RequestOptions`
(validated before anything is sent); `execute()` sends it, retrying what is safe to retry,
and decodes the reply. Sessions come from a small pool: a thread takes one for the length
of an attempt and gives it back, so a client shared by 300 short-lived threads holds as
many sessions as ran at once, not 300, and `close()` closes them all.
"""

from __future__ import annotations

import json as jsonlib
import logging
import math
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from controldeck import __version__
from controldeck._core import _constants as C
from controldeck._core._auth import Auth
from controldeck._core._bodies import JsonBody, RequestBody
from controldeck._core._describe import origin_of, root_cause, short_url
from controldeck._core._logging import logger, setup_logging
from controldeck._core._options import (
    NOT_GIVEN,
    NotGiven,
    ReplyKind,
    RequestOptions,
    Timeout,
)
from controldeck._core._redact import Redactor
from controldeck._core._replies import (
    ErrorParser,
    decode_reply,
    parse_generic_error,
    status_error,
)
from controldeck._core._retry import Budget, backoff_delay, retry_delay
from controldeck.errors import (
    APIConnectionError,
    APITimeoutError,
    ControlDeckError,
    InvalidArgumentError,
)

__all__ = [
    "Transport",
    "check_deadline",
    "check_timeout",
    "default_user_agent",
]

if TYPE_CHECKING:
    import cattrs

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def default_user_agent(platform_name: str) -> str:
    """`controldeck/<version> python/<x.y> <platform>`."""
    py = ".".join(platform.python_version_tuple()[:2])
    return f"controldeck/{__version__} python/{py} {platform_name}"


def _seconds(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check_timeout(timeout: Any) -> tuple[float, float]:
    """Validate a timeout: positive finite seconds, or a `(connect, read)` pair of them.

    Returns:
        The `(connect, read)` pair.

    Raises:
        InvalidArgumentError: Anything else, including None (every call has a timeout;
            `deadline=` bounds a whole call).
    """
    if timeout is None:
        raise InvalidArgumentError(
            "timeout=None is not accepted: every call has a timeout. Pass seconds or a "
            "(connect, read) pair, and deadline= to bound a whole call with its retries"
        )
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(map(_seconds, timeout)):
        return float(timeout[0]), float(timeout[1])
    if _seconds(timeout):
        return float(timeout), float(timeout)
    raise InvalidArgumentError(
        f"timeout must be positive, finite seconds or a (connect, read) pair, got {_echo(timeout)}"
    )


def check_deadline(deadline: Any, name: str = "deadline") -> float | None:
    """Validate a deadline: positive finite seconds, or None for no overall limit.

    `name` is the argument's name in the message (an exec's `timeout=` is a deadline too).
    """
    if deadline is None:
        return None
    if not _seconds(deadline):
        raise InvalidArgumentError(
            f"{name} must be positive, finite seconds or None, got {_echo(deadline)}"
        )
    return float(deadline)


def check_max_retries(value: Any) -> int:
    """Validate a retry count: an int >= 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"max_retries must be an int >= 0, got {_echo(value)}")
    return value


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= C.MAX_ECHO else text[: C.MAX_ECHO - 1] + "…"


def _check_headers(headers: Any) -> dict[str, str]:
    """A copy of per-call headers, or InvalidArgumentError naming (never showing) the bad one."""
    if not isinstance(headers, Mapping):
        raise InvalidArgumentError(
            f"extra_headers must be a mapping of header names to strings, "
            f"got {type(headers).__name__}"
        )
    for name, value in headers.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"header names must be non-empty strings, got {name!r:.40}")
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
    return dict(headers)


class _SessionPool:
    """Sessions lent to one attempt at a time; idle ones are kept for reuse, bounded."""

    def __init__(self, shared: requests.Session | None, owner: str) -> None:
        self._shared = shared
        self._owner = owner
        self._idle: list[requests.Session] = []
        self._lent = 0
        self._closed = False
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[requests.Session]:
        """A session for one attempt, returned to the pool afterwards."""
        if self._shared is not None:
            self._check_open()
            yield self._shared
            return
        with self._lock:
            self._check_open()
            session = self._idle.pop() if self._idle else requests.Session()
            self._lent += 1
        try:
            yield session
        finally:
            with self._lock:
                self._lent -= 1
                keep = not self._closed and len(self._idle) < C.MAX_IDLE_SESSIONS
                if keep:
                    self._idle.append(session)
            if not keep:
                session.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ControlDeckError(
                f"{self._owner} is closed: make a new client (or use it inside its `with` "
                "block) instead of calling a closed one"
            )

    @property
    def counts(self) -> tuple[int, int]:
        """(idle, lent) sessions, for tests and diagnostics."""
        with self._lock:
            return len(self._idle), self._lent

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


class _Failure(Exception):
    """An attempt that got no HTTP reply, classified for the retry decision."""

    def __init__(self, kind: str, cause: Exception, retryable: bool) -> None:
        super().__init__(kind)
        self.kind = kind  # connect-timeout | read-timeout | connect | dropped | other
        self.cause = cause
        self.retryable = retryable


class Transport:
    """Sends requests for one client.

    Args:
        base_url: The API root every relative path is joined to.
        platform: Short platform name, for the user agent and messages.
        auth: The authentication hook (default: none).
        headers: Headers sent on every request (not credentials: those come from `auth`).
        secret_keys: JSON keys masked in logs and errors besides the core's generic ones
            (the platform's `x-controldeck-secret` fields).
        secrets: Extra secret strings masked wherever a body is shown.
        timeout: Default per-attempt timeout, seconds or (connect, read).
        deadline: Default overall budget of a call in seconds, or None.
        max_retries: Default retries after the first attempt.
        session: A `requests.Session` used for every request instead of our own pool.
        user_agent: Replaces the default user agent.
        error_parser: Reads the platform's error body.
        converter: The cattrs converter replies are structured with (default: the core's,
            built on first use so that importing a platform does not load cattrs).
        idempotency_header: The header a platform reads idempotency keys from.
        retry_advice: Reads a retryable-status reply (408/429/5xx) and says whether the
            server allows a retry: True makes even a POST retryable, False makes the reply
            final, None leaves the status rules to decide (Beampipe's `failure.retry`).
        client_name: How messages name the client ("RunbeamClient").
        sleep: Waits between retries (injected by tests).
        clock: Monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        *,
        base_url: str,
        platform: str,
        auth: Auth | None = None,
        headers: Mapping[str, str] | None = None,
        secret_keys: Iterable[str] = (),
        secrets: Iterable[str] = (),
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        error_parser: ErrorParser = parse_generic_error,
        converter: cattrs.Converter | None = None,
        idempotency_header: str | None = None,
        retry_advice: Callable[[requests.Response], bool | None] | None = None,
        client_name: str = "client",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        setup_logging()
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.platform = platform
        self.auth = auth or Auth()
        self.timeout = check_timeout(timeout)
        self.deadline = check_deadline(deadline)
        self.max_retries = check_max_retries(max_retries)
        self.headers = {
            "User-Agent": user_agent or default_user_agent(platform),
            "Accept": "application/json",
            **_check_headers(headers or {}),
        }
        self.redactor = Redactor(secret_keys)
        self.secrets = tuple(s for s in secrets if s)
        self.error_parser = error_parser
        self._converter = converter
        self.idempotency_header = idempotency_header
        self.retry_advice = retry_advice
        self.sleep = sleep
        self.clock = clock
        self._pool = _SessionPool(session, client_name)

    @property
    def converter(self) -> cattrs.Converter:
        """The converter replies are structured with (cattrs loads on first use)."""
        if self._converter is None:
            from controldeck._core._convert import converter

            self._converter = converter
        return self._converter

    def close(self) -> None:
        """Close the sessions this transport opened (a session passed in stays open).

        Every later call raises `ControlDeckError` instead of opening new sessions.
        """
        self._pool.close()

    # -- building a call ----------------------------------------------------------------

    def build(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = NOT_GIVEN,
        body: RequestBody | None = None,
        timeout: Timeout | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | bool | None = None,
        auth: bool | Auth = True,
        reply: ReplyKind = "json",
        cast_to: Any = None,
        unwrap: str | None = None,
        secrets: Iterable[str] = (),
        stream_idle: float | NotGiven | None = NOT_GIVEN,
        follow_redirects: bool = True,
        idempotent: bool = False,
    ) -> RequestOptions:
        """Validate a call's arguments into one `RequestOptions`; nothing is sent.

        Args:
            method: The HTTP method.
            path: Joined to the base URL, unless absolute. An absolute URL on another
                origin is sent without credentials.
            params: Query parameters; None values are left out.
            json: A JSON body (attrs models are sent with their wire names).
            body: Any other body kind (see `_bodies`).
            timeout: Per-attempt timeout (default: the client's). None is an error.
            deadline: Overall budget in seconds, or None (default: the client's).
            max_retries: Retries for this call (default: the client's).
            extra_headers: Added to (and overriding) the client's headers.
            idempotency_key: A key to send in the platform's idempotency header, or True
                to generate one; the same key goes with every retry of the call.
            auth: False sends no credentials; an `Auth` replaces the client's for this call.
            reply: What the 2xx reply becomes.
            cast_to: The type a JSON reply is structured into.
            unwrap: Decode this key of the reply object (e.g. `"data"`).
            secrets: Extra strings to mask for this call.
            stream_idle: For `reply="stream"`: the longest wait for the next bytes
                (None: no limit); the read part of `timeout` otherwise.
            follow_redirects: False returns a 3xx reply as it is (its `Location` is what
                the caller wants, e.g. a storage URL that must not be fetched).
            idempotent: The operation is safe to run twice although its method is not (a
                read RPC sent as POST): it is retried like a GET.
        """
        if json is not NOT_GIVEN and body is not None:
            raise InvalidArgumentError("pass json= or body=, not both")
        method = method.upper()
        absolute = "://" in path
        url = path if absolute else f"{self.base_url}/{path.lstrip('/')}"
        # A relative path is on the client's origin by construction: no URL parse per call.
        same_origin = not absolute or origin_of(url) == self.origin
        connect, read = self.timeout if isinstance(timeout, NotGiven) else check_timeout(timeout)
        read_limit: float | None = read
        if reply == "stream" and not isinstance(stream_idle, NotGiven):
            read_limit = None if stream_idle is None else check_timeout(stream_idle)[1]
        key: str | None = None
        if idempotency_key is True:
            key = str(uuid.uuid4())
        elif isinstance(idempotency_key, str) and idempotency_key:
            key = idempotency_key
        elif idempotency_key not in (None, False):
            raise InvalidArgumentError("idempotency_key must be a non-empty string or True")
        if key is not None and not self.idempotency_header:
            raise InvalidArgumentError(f"{self.platform} does not take idempotency keys")
        return RequestOptions(
            method=method,
            url=url,
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers=_check_headers(extra_headers) if extra_headers is not None else {},
            body=self._json_body(json) if json is not NOT_GIVEN else body,
            timeout=(connect, read_limit),
            deadline=self.deadline if isinstance(deadline, NotGiven) else check_deadline(deadline),
            max_retries=(
                self.max_retries
                if isinstance(max_retries, NotGiven)
                else check_max_retries(max_retries)
            ),
            idempotency_key=key,
            auth=auth,
            same_origin=same_origin,
            reply=reply,
            cast_to=cast_to,
            unwrap=unwrap,
            follow_redirects=follow_redirects,
            idempotent=idempotent,
            secrets=self.secrets + tuple(s for s in secrets if s),
        )

    def _json_body(self, value: Any) -> JsonBody:
        data = self.converter.unstructure(value)
        return JsonBody(jsonlib.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())

    # -- public entry points ------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """`build()` then `execute()`: send a call and return its decoded reply."""
        return self.execute(self.build(method, path, **kwargs))

    def send(
        self, method: str, path: str, *, stream: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send a call and return the 2xx response itself (for streams and downloads).

        With `stream=True` the body is left unread and the caller closes the response;
        otherwise it is already read. Non-2xx replies raise the typed error.
        """
        kwargs["reply"] = "stream" if stream else "bytes"
        return self.send_options(self.build(method, path, **kwargs))

    def execute(self, options: RequestOptions) -> Any:
        """Send `options` with retries and decode the reply as `options.reply` says."""
        response = self.send_options(options)
        if options.reply == "stream":
            return response
        try:
            return decode_reply(
                response, options, self.redactor, self.converter, lambda: self.secrets_for(options)
            )
        finally:
            response.close()

    def secrets_for(self, options: RequestOptions) -> tuple[str, ...]:
        """Every string to mask for this call now: its own, the client's, the live token's."""
        hook = self._hook(options)
        return options.secrets + (hook.secrets() if hook is not None else ())

    def send_options(self, options: RequestOptions) -> requests.Response:
        """Send with retries; return the 2xx response or raise the matching error."""
        budget = Budget(options.deadline, self.clock)
        hook = self._hook(options)
        retries = 0
        replayed = False
        while True:
            generation = hook.generation if hook is not None else 0
            headers, credentials = self._attempt_headers(options, hook)
            try:
                response, moved_from = self._attempt(
                    options, headers, credentials, budget.clip(options.timeout)
                )
            except _Failure as failure:
                delay = backoff_delay(retries)
                if not failure.retryable or retries >= options.max_retries:
                    self._raise_failure(options, failure, retries + 1, budget)
                if not budget.allows_wait(delay):
                    self._raise_failure(options, failure, retries + 1, budget, out_of_time=True)
                self._log_retry(options, delay, retries, str(self._cause(failure, options)))
                self.sleep(delay)
                retries += 1
                continue
            status = response.status_code
            if status < 300 or (status in _REDIRECTS and not options.follow_redirects):
                return response
            if (
                status == 401
                and hook is not None
                and not replayed
                and moved_from is None
                and hook.handle_unauthorized(response, generation)
            ):
                replayed = True  # new credentials: replay once, not counted as a retry
                response.close()
                continue
            maybe = (
                retry_delay(
                    response,
                    retry_safe=options.retry_safe,
                    retry_number=retries,
                    advice=self._advice(response),
                )
                if retries < options.max_retries
                else None
            )
            if maybe is None or not budget.allows_wait(maybe):
                raise self._status_error(response, options, moved_from)
            response.close()
            self._log_retry(options, maybe, retries, f"HTTP {status}")
            self.sleep(maybe)
            retries += 1

    def _advice(self, response: requests.Response) -> bool | None:
        if self.retry_advice is None or response.status_code not in C.ADVISED_STATUSES:
            return None
        try:
            return self.retry_advice(response)
        except Exception:  # advice must never hide the real error
            logger.debug("retry advice failed", exc_info=True)
            return None

    # -- one attempt --------------------------------------------------------------------

    def _hook(self, options: RequestOptions) -> Auth | None:
        if options.auth is False or not options.same_origin:
            return None
        return self.auth if options.auth is True else options.auth

    def _attempt_headers(
        self, options: RequestOptions, hook: Auth | None
    ) -> tuple[dict[str, str], frozenset[str]]:
        """This attempt's headers, and the names of those that carry credentials."""
        headers = dict(self.headers)
        credentials: frozenset[str] = frozenset()
        if hook is not None:
            added = hook.auth_headers()
            headers.update(added)
            credentials = frozenset(k.lower() for k in added)
        elif options.auth is not False and not options.same_origin:
            logger.info(
                "%s %s is not on the client's origin: sent without credentials",
                options.method,
                short_url(options.url),
            )
        body = options.body
        if body is not None and body.content_type:
            headers["Content-Type"] = body.content_type
        if options.idempotency_key is not None and self.idempotency_header:
            headers[self.idempotency_header] = options.idempotency_key
        headers.update(options.headers)
        return headers, credentials

    def _attempt(
        self,
        options: RequestOptions,
        headers: dict[str, str],
        credentials: frozenset[str],
        timeout: tuple[float, float | None],
    ) -> tuple[requests.Response, str | None]:
        """One try, following GET redirects: the reply and the host it was redirected from
        to another origin (None when it was not)."""
        started = self.clock()
        if logger.isEnabledFor(logging.DEBUG):
            self._log_request(options, headers)
        try:
            response, moved_from = self._send_following_redirects(
                options, headers, credentials, timeout
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise _Failure("connect-timeout", exc, retryable=True) from None
        except requests.exceptions.ReadTimeout as exc:
            raise _Failure("read-timeout", exc, retryable=options.retry_safe) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            # requests reports a stall or a drop *while reading the body* as a plain
            # ConnectionError (wrapping urllib3's ReadTimeoutError) or a ChunkedEncodingError.
            if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
                raise _Failure("read-timeout", exc, retryable=options.retry_safe) from None
            reached = not _is_connect_failure(exc)
            kind = "dropped" if reached else "connect"
            raise _Failure(kind, exc, retryable=not reached or options.retry_safe) from None
        except requests.exceptions.RequestException as exc:
            raise _Failure("other", exc, retryable=False) from None
        logger.info(
            "%s %s -> %d (%.0f ms)",
            options.method,
            short_url(response.url),
            response.status_code,
            (self.clock() - started) * 1000,
        )
        if options.reply != "stream" and logger.isEnabledFor(logging.DEBUG):
            # Reading .content here is free: a non-streamed body is already in memory.
            secrets = self.secrets_for(options)
            logger.debug(
                "response headers=%s body=%s",
                self.redactor.headers(response.headers),
                self.redactor.excerpt(response.content, secrets),
            )
        return response, moved_from

    def _log_request(self, options: RequestOptions, headers: Mapping[str, str]) -> None:
        secrets = self.secrets_for(options)
        body = options.body
        logger.debug(
            "request %s %s params=%s headers=%s body=%s",
            options.method,
            options.url,
            # Some platforms send credentials as query parameters (`?token=`).
            self.redactor.text(jsonlib.dumps(options.params, default=str), secrets),
            self.redactor.headers(headers),
            # JSON is shown, masked; any other body only as a description (no file contents).
            self.redactor.excerpt(body.content, secrets)
            if isinstance(body, JsonBody)
            else (body.describe() if body is not None else ""),
        )

    def _send_following_redirects(
        self,
        options: RequestOptions,
        headers: dict[str, str],
        credentials: frozenset[str],
        timeout: tuple[float, float | None],
    ) -> tuple[requests.Response, str | None]:
        method, url, params = options.method, options.url, options.params
        body = options.body
        moved_from: str | None = None
        with self._pool.session() as session:
            for _ in range(C.MAX_REDIRECTS + 1):
                with body.payload() if body is not None else nullcontext() as data:
                    response = session.request(
                        method,
                        url,
                        params=params or None,  # requests merges an empty dict at a cost
                        data=data,
                        headers=headers,
                        timeout=timeout,
                        stream=options.reply == "stream",
                        allow_redirects=False,
                    )
                location = response.headers.get("Location")
                if (
                    response.status_code not in _REDIRECTS
                    or method != "GET"
                    or not location
                    or not options.follow_redirects
                ):
                    return response, moved_from
                response.close()
                target = urljoin(response.url, location)
                params = {}  # the Location carries its own query
                if moved_from is None and origin_of(target) != origin_of(url):
                    # Never hand our credentials to another host.
                    moved_from = urlsplit(url).netloc
                    headers = {
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in C.SECRET_HEADERS and k.lower() not in credentials
                    }
                    logger.info(
                        "redirected from %s to %s: credentials not forwarded",
                        moved_from,
                        urlsplit(target).netloc,
                    )
                url = target
        raise APIConnectionError(
            f"GET {short_url(url)}: more than {C.MAX_REDIRECTS} redirects",
            method=method,
            url=short_url(url),
        )

    # -- failures -----------------------------------------------------------------------

    def _status_error(
        self, response: requests.Response, options: RequestOptions, moved_from: str | None
    ) -> Exception:
        return status_error(
            response,
            options,
            self.redactor,
            self.error_parser,
            self.secrets_for(options),  # the live token too, even if rotated mid-call
            redirected_from=moved_from,
        )

    def _cause(self, failure: _Failure, options: RequestOptions) -> str:
        return root_cause(failure.cause, self.secrets_for(options), self.redactor)

    def _raise_failure(
        self,
        options: RequestOptions,
        failure: _Failure,
        attempts: int,
        budget: Budget,
        *,
        out_of_time: bool = False,
    ) -> NoReturn:
        method, url = options.method, short_url(options.url)
        connect, read = options.timeout
        cause = self._cause(failure, options)
        if failure.kind == "connect-timeout":
            what = f"timed out connecting to {urlsplit(options.url).netloc} after {connect:g}s"
        elif failure.kind == "read-timeout":
            what = f"no reply within {read:g}s (read timeout)"
        elif failure.kind == "connect":
            what = f"could not connect ({cause})"
        elif failure.kind == "dropped":
            what = f"connection dropped ({cause})"
        else:
            what = cause
        tried = f"{attempts} attempt{'s' if attempts > 1 else ''} in {budget.elapsed():.1f}s"
        remaining = budget.remaining()
        if remaining is not None and remaining <= 0.001:
            tried += f"; the {budget.seconds:g}s deadline ran out"
        elif out_of_time:
            tried += f"; the {budget.seconds:g}s deadline leaves no time for another attempt"
        advice = ""
        if failure.kind in ("connect-timeout", "read-timeout"):
            advice = (
                " Pass timeout= to wait longer per attempt, max_retries= to change how often "
                "it retries, or deadline= to bound the whole call."
            )
        elif failure.kind == "connect":
            advice = " Is the server up and the base URL right?"
        if not failure.retryable and failure.kind in ("read-timeout", "dropped"):
            advice += f" Not retried: {method} may have run on the server."
        error = APITimeoutError if failure.kind.endswith("timeout") else APIConnectionError
        raise error(
            f"{method} {url}: {what} ({tried}).{advice}",
            method=method,
            url=url,
            cause=failure.cause,
        ) from None

    def _log_retry(self, options: RequestOptions, delay: float, retries: int, why: str) -> None:
        logger.info(
            "retrying %s %s in %.2fs after %s (retry %d of %d)",
            options.method,
            short_url(options.url),
            delay,
            why,
            retries + 1,
            options.max_retries,
        )


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
