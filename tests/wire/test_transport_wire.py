"""Transport behaviour over real loopback sockets: timeouts, resets, retries, redirects.

Every test talks to `tests.wire.server.Server` on 127.0.0.1; retries never wait for real
(the transport's `sleep=` records the delays instead).
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from controldeck import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from controldeck._core import _transport
from controldeck._core._transport import Transport
from tests.wire.server import (
    CLOSE,
    HANG,
    RESET,
    Delay,
    Request,
    Server,
    closed_port,
    full_backlog_port,
    response,
)

TIMEOUT = (0.5, 0.3)
OK = response(200, {"ok": True})


class Sleeps(list[float]):
    """Records the delays the transport asked to sleep, without sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_transport(sleeps: Sleeps) -> Iterator[Callable[..., Transport]]:
    made: list[Transport] = []

    def make(base_url: str, **kwargs: Any) -> Transport:
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("sleep", sleeps)
        transport = Transport(base_url=base_url, platform="test", **kwargs)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


def _body_for(method: str) -> dict[str, Any]:
    """A JSON body for POST; nothing at all (not even `null`) for GET."""
    return {"json": {"a": 1}} if method == "POST" else {}


# -- connecting --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connect_timeout_is_retried_for_every_method_then_raises(
    method: str, make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    # A listener with a full accept queue: Linux drops the SYN, so connect() really times
    # out on loopback (no monkeypatching needed).
    with full_backlog_port() as port:
        transport = make_transport(f"http://127.0.0.1:{port}", timeout=(0.1, 0.3))
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            transport.request(method, "/things", **_body_for(method))
        elapsed = time.monotonic() - started

    err = info.value
    assert type(err) is APITimeoutError
    assert err.method == method
    assert err.url == f"http://127.0.0.1:{port}/things"
    assert "timed out connecting" in str(err)
    assert "(3 attempts in " in str(err)
    # The root cause is kept on the error, not printed as a chained traceback.
    assert isinstance(err.cause, requests.exceptions.ConnectTimeout)
    assert err.__cause__ is None and err.__suppress_context__
    # Nothing reached the server, so POST is retried like GET: 2 retries, backoff delays.
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5
    assert 0.75 <= sleeps[1] <= 1.0
    assert elapsed >= 0.3  # three real 0.1 s connect attempts


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_refused_is_retried_for_every_method_then_raises(
    method: str, make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    port = closed_port()
    transport = make_transport(f"http://127.0.0.1:{port}", max_retries=3)
    with pytest.raises(APIConnectionError) as info:
        transport.request(method, "/x", **_body_for(method))
    err = info.value
    assert type(err) is APIConnectionError
    assert err.method == method
    assert "could not connect" in str(err)
    assert "refused" in str(err).lower()
    assert isinstance(err.cause, requests.exceptions.ConnectionError)
    assert err.__cause__ is None and err.__suppress_context__
    assert len(sleeps) == 3
    for n, delay in enumerate(sleeps):
        base = 0.5 * 2**n
        assert 0.75 * base <= delay <= base


def test_connection_refused_with_no_retries_raises_at_once(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    transport = make_transport(f"http://127.0.0.1:{closed_port()}", max_retries=0)
    with pytest.raises(APIConnectionError):
        transport.request("GET", "/x")
    assert sleeps == []


# -- read timeouts -----------------------------------------------------------------------


def test_read_timeout_get_is_retried_max_retries_times(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([HANG]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(APITimeoutError) as info:
            transport.request("GET", "/slow")
    assert server.paths == ["/slow"] * 3
    assert len(sleeps) == 2
    err = info.value
    assert err.method == "GET"
    assert "no reply within 0.3s" in str(err)
    assert "Not retried" not in str(err)


def test_read_timeout_post_is_not_retried(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([HANG]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(APITimeoutError) as info:
            transport.request("POST", "/jobs", json={"name": "x"})
    assert len(server.requests) == 1
    assert server.requests[0].json() == {"name": "x"}
    assert sleeps == []
    assert "Not retried: POST may have run on the server" in str(info.value)


def test_a_silent_server_is_bounded_by_the_deadline(
    make_transport: Callable[..., Transport], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defect: a server that accepts and never answers held a default GET for ~181 s
    # (3 attempts x 60 s) and the message said only "Pass timeout= to wait longer".
    monkeypatch.setattr("random.uniform", lambda a, b: b)  # backoffs 0.5, 1, 2 s
    with Server([HANG]) as server:
        transport = make_transport(
            server.base_url, timeout=(1.0, 0.15), max_retries=10, sleep=lambda s: None
        )
        with pytest.raises(APITimeoutError) as info:
            transport.request("GET", "/slow", deadline=0.4)
        with pytest.raises(APITimeoutError) as spent:
            transport.request("GET", "/slow", deadline=2.0)
    text = str(info.value)
    assert "no reply within 0.15s (read timeout) (1 attempt in" in text
    # The first backoff (0.5 s) does not fit in what is left of 0.4 s.
    assert "the 0.4s deadline leaves no time for another attempt" in text
    assert "max_retries=" in text and "deadline=" in text and "timeout=" in text
    # 0.15 s attempts with backoffs of 0.5 and 1 s in between: the third backoff
    # (2 s) would pass the 2 s deadline, so 3 attempts instead of 11.
    assert "(3 attempts in" in str(spent.value)
    assert len(server.requests) == 4


def test_per_call_timeout_overrides_the_default(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([HANG]) as server:
        transport = make_transport(server.base_url, timeout=(0.5, 5.0), max_retries=0)
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match=r"within 0\.1s"):
            transport.request("GET", "/slow", timeout=(0.5, 0.1))
        assert time.monotonic() - started < 2.0


def test_stall_after_headers_is_a_timeout_not_a_dropped_connection(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    # requests reports a read timeout while reading the *body* as a ConnectionError.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\n"
    with Server([[head, b'{"a":', HANG]]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(APITimeoutError):
            transport.request("GET", "/x")
        assert len(server.requests) == 3
        with pytest.raises(APITimeoutError, match="Not retried"):
            transport.request("POST", "/x")
        assert len(server.requests) == 4


# -- dropped connections -----------------------------------------------------------------


def _half_body_then(end: Any) -> list[Any]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    return [head + b"Connection: close\r\n\r\n", b'{"data": [1, 2', Delay(0.02), end]


@pytest.mark.parametrize("end", [RESET, CLOSE], ids=["reset", "close"])
def test_drop_mid_body_post_is_not_retried(
    end: Any, make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([_half_body_then(end)]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(APIConnectionError) as info:
            transport.request("POST", "/jobs", json={})
    assert type(info.value) is APIConnectionError
    assert "connection dropped" in str(info.value)
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("end", [RESET, CLOSE], ids=["reset", "close"])
def test_drop_mid_body_get_is_retried_and_can_succeed(
    end: Any, make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([_half_body_then(end), response(200, {"data": [1, 2, 3]})]) as server:
        transport = make_transport(server.base_url)
        assert transport.request("GET", "/items") == {"data": [1, 2, 3]}
    assert server.paths == ["/items", "/items"]
    assert len(sleeps) == 1


def test_drop_mid_body_get_gives_up_after_max_retries(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([_half_body_then(RESET)]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(APIConnectionError, match="connection dropped"):
            transport.request("GET", "/items")
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_reset_before_any_reply_get_retried_post_not(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([RESET]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(APIConnectionError, match="connection dropped"):
            transport.request("GET", "/a")
        assert len(server.requests) == 3
        with pytest.raises(APIConnectionError, match="connection dropped"):
            transport.request("POST", "/b", json={})
        assert len(server.requests) == 4
        assert server.requests[3].method == "POST"


def test_close_without_reply_is_a_connection_error(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([CLOSE]) as server:
        transport = make_transport(server.base_url, max_retries=0)
        with pytest.raises(APIConnectionError) as info:
            transport.request("GET", "/a")
    assert type(info.value) is APIConnectionError
    assert len(server.requests) == 1


# -- retry statuses and Retry-After ------------------------------------------------------


def test_503_with_retry_after_seconds_then_200(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    replies = [response(503, b"", headers={"Retry-After": "1"}), response(200, {"n": 1})]
    with Server(replies) as server:
        transport = make_transport(server.base_url)
        assert transport.request("POST", "/jobs", json={"n": 1}) == {"n": 1}
    assert sleeps == [1.0]
    assert [r.method for r in server.requests] == ["POST", "POST"]
    assert [r.body for r in server.requests] == [b'{"n":1}', b'{"n":1}']


def test_503_with_retry_after_http_date(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    replies = [response(503, b"", headers={"Retry-After": when}), response(200, [])]
    with Server(replies) as server:
        transport = make_transport(server.base_url)
        assert transport.request("GET", "/x") == []
    assert len(sleeps) == 1
    # The date has whole-second resolution and a little time passes before it is read.
    assert 28.0 <= sleeps[0] <= 30.0
    assert len(server.requests) == 2


def test_429_with_retry_after_above_cap_raises_at_once(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    reply = response(
        429,
        {"message": "slow down"},
        headers={"Retry-After": "120", "x-request-id": "req-429"},
    )
    with Server([reply]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(RateLimitError) as info:
            transport.request("GET", "/x")
    err = info.value
    assert err.retry_after == 120.0
    assert err.status_code == 429
    assert err.message == "slow down"
    assert err.request_id == "req-429"
    assert "[retry after 120s]" in str(err)
    assert sleeps == []
    assert len(server.requests) == 1


def test_429_without_retry_after_on_post_is_not_retried(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([response(429, {"message": "busy"})]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(RateLimitError) as info:
            transport.request("POST", "/x", json={})
    assert info.value.retry_after is None
    assert len(server.requests) == 1
    assert sleeps == []


def test_429_with_short_retry_after_on_post_is_retried(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    replies = [response(429, b"", headers={"Retry-After": "2"}), response(201, {"id": "j1"})]
    with Server(replies) as server:
        transport = make_transport(server.base_url)
        assert transport.request("POST", "/x", json={}) == {"id": "j1"}
    assert sleeps == [2.0]
    assert len(server.requests) == 2


def test_503_without_retry_after_on_get_backs_off(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([response(503, b""), response(200, {"ok": 1})]) as server:
        transport = make_transport(server.base_url)
        assert transport.request("GET", "/x") == {"ok": 1}
    assert len(sleeps) == 1
    assert 0.375 <= sleeps[0] <= 0.5
    assert len(server.requests) == 2


def test_503_on_get_every_time_raises_after_retries(
    make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([response(503, {"message": "maintenance"})]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(InternalServerError) as info:
            transport.request("GET", "/x")
    assert info.value.status_code == 503
    assert info.value.message == "maintenance"
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0.75 <= sleeps[1] <= 1.0


def test_500_on_get_is_retried(make_transport: Callable[..., Transport], sleeps: Sleeps) -> None:
    with Server([response(500, b"boom"), response(200, {"ok": True})]) as server:
        transport = make_transport(server.base_url)
        assert transport.request("GET", "/x") == {"ok": True}
    assert len(server.requests) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [500, 502])
def test_5xx_on_post_is_not_retried(
    status: int, make_transport: Callable[..., Transport], sleeps: Sleeps
) -> None:
    with Server([response(status, {"message": "nope"})]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(InternalServerError) as info:
            transport.request("POST", "/x", json={})
    assert info.value.status_code == status
    assert len(server.requests) == 1
    assert sleeps == []


def test_4xx_is_never_retried(make_transport: Callable[..., Transport], sleeps: Sleeps) -> None:
    body = {"message": "The given data was invalid.", "errors": {"name": ["required"]}}
    with Server([response(422, body)]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(UnprocessableEntityError) as info:
            transport.request("PUT", "/x", json={})
    assert info.value.details == {"name": ["required"]}
    assert len(server.requests) == 1
    assert sleeps == []


# -- redirects ---------------------------------------------------------------------------


SECRET_HEADERS = {"Authorization": "Bearer tok-123", "X-Api-Key": "key-456"}


def test_cross_origin_redirect_drops_credentials(
    make_transport: Callable[..., Transport],
) -> None:
    with Server([response(200, {"where": "b"})]) as b:
        redirect = response(302, b"", headers={"Location": b.url("/landing?x=1")})
        with Server([redirect]) as a:
            transport = make_transport(a.base_url, headers=SECRET_HEADERS)
            assert transport.request("GET", "/start", params={"q": "1"}) == {"where": "b"}
    assert a.paths == ["/start?q=1"]
    assert a.requests[0].headers["authorization"] == "Bearer tok-123"
    assert a.requests[0].headers["x-api-key"] == "key-456"
    # Same host, other port: another origin. The Location's own query replaces ours.
    assert b.paths == ["/landing?x=1"]
    assert "authorization" not in b.requests[0].headers
    assert "x-api-key" not in b.requests[0].headers
    assert b.requests[0].headers["user-agent"].startswith("controldeck/")


def test_redirect_to_other_host_name_same_port_drops_credentials(
    make_transport: Callable[..., Transport],
) -> None:
    def handler(request: Request) -> bytes:
        if request.path == "/start":
            location = f"http://localhost:{request.port}/landing"
            return response(301, b"", headers={"Location": location})
        return response(200, {"ok": True})

    with Server(handler) as server:
        transport = make_transport(server.base_url, headers=SECRET_HEADERS)
        assert transport.request("GET", "/start") == {"ok": True}
    first, second = server.requests
    assert first.headers["authorization"] == "Bearer tok-123"
    assert second.path == "/landing"
    assert second.headers["host"] == f"localhost:{server.port}"
    assert "authorization" not in second.headers
    assert "x-api-key" not in second.headers


def test_same_origin_redirect_keeps_credentials(
    make_transport: Callable[..., Transport],
) -> None:
    def handler(request: Request) -> bytes:
        if request.path == "/old":
            return response(308, b"", headers={"Location": "/new"})
        return response(200, {"path": request.path})

    with Server(handler) as server:
        transport = make_transport(server.base_url, headers=SECRET_HEADERS)
        assert transport.request("GET", "/old") == {"path": "/new"}
    assert server.paths == ["/old", "/new"]
    for request in server.requests:
        assert request.headers["authorization"] == "Bearer tok-123"
        assert request.headers["x-api-key"] == "key-456"


def test_post_redirect_is_not_followed(make_transport: Callable[..., Transport]) -> None:
    with Server([response(302, b"", headers={"Location": "/elsewhere"})]) as server:
        transport = make_transport(server.base_url, headers=SECRET_HEADERS)
        with pytest.raises(APIStatusError) as info:
            transport.request("POST", "/jobs", json={"a": 1})
    assert type(info.value) is APIStatusError
    assert info.value.status_code == 302
    assert server.paths == ["/jobs"]


def test_redirect_loop_is_bounded(make_transport: Callable[..., Transport], sleeps: Sleeps) -> None:
    with Server([response(302, b"", headers={"Location": "/loop"})]) as server:
        transport = make_transport(server.base_url, max_retries=0)
        with pytest.raises(APIConnectionError, match="more than 5 redirects"):
            transport.request("GET", "/loop")
    assert len(server.requests) == 6


# -- reply bodies ------------------------------------------------------------------------


def test_html_502_page_gives_a_clean_message(
    make_transport: Callable[..., Transport],
) -> None:
    page = (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
        + "<h1>Bad Gateway</h1><p>upstream exploded</p>" * 40
        + "</body></html>"
    )
    reply = response(502, page, headers={"Content-Type": "text/html", "X-Request-Id": "req-html"})
    with Server([reply]) as server:
        transport = make_transport(server.base_url, max_retries=0)
        with pytest.raises(InternalServerError) as info:
            transport.request("GET", "/x", params={"a": "b"})
    err = info.value
    assert err.status_code == 502
    assert err.message == f"Bad Gateway (GET {server.base_url}/x)"
    assert "<" not in str(err) and ">" not in str(err)
    assert len(page) > 500
    assert len(err.body_excerpt) == 500
    assert err.body_excerpt.startswith("<!DOCTYPE html>")
    assert err.body_excerpt.endswith("…")
    assert err.request_id == "req-html"
    assert "[request id: req-html]" in str(err)


def test_truncated_json_on_200_is_a_validation_error(
    make_transport: Callable[..., Transport],
) -> None:
    reply = response(200, b'{"data": [1, 2', headers={"x-request-id": "req-trunc"})
    with Server([reply]) as server:
        transport = make_transport(server.base_url)
        with pytest.raises(ResponseValidationError) as info:
            transport.request("GET", "/x")
    err = info.value
    assert err.path == "$"
    assert err.status_code == 200
    assert err.request_id == "req-trunc"
    assert err.body_excerpt == '{"data": [1, 2'
    assert "expected a JSON reply" in str(err)
    assert len(server.requests) == 1


def test_empty_reply_decodes_to_none(make_transport: Callable[..., Transport]) -> None:
    with Server([response(204, b"")]) as server:
        transport = make_transport(server.base_url)
        assert transport.request("DELETE", "/x/1") is None
    assert server.requests[0].method == "DELETE"
    assert "content-type" not in server.requests[0].headers


def test_request_bytes_on_the_wire(make_transport: Callable[..., Transport]) -> None:
    with Server([OK]) as server:
        transport = make_transport(server.base_url, headers={"Authorization": "Bearer t"})
        transport.request(
            "PATCH", "/a/b", params={"x": "1", "skip": None}, json={"name": "ü", "n": [1, 2]}
        )
    (req,) = server.requests
    assert req.method == "PATCH"
    assert req.target == "/a/b?x=1"
    assert req.body == '{"name":"ü","n":[1,2]}'.encode()
    assert req.headers["content-type"] == "application/json"
    assert req.headers["content-length"] == str(len(req.body))
    assert req.headers["accept"] == "application/json"
    assert req.headers["authorization"] == "Bearer t"
    assert req.headers["user-agent"] == _transport.default_user_agent("test")


# -- absolute URLs without credentials (JWKS documents) ---------------------------------


def test_a_credential_less_transport_fetches_absolute_urls() -> None:
    jwks = {"keys": [{"kid": "k1", "kty": "OKP"}]}
    transport = Transport(base_url="", platform="controldeck")
    with Server([response(200, jwks)]) as server:
        url = server.url("/.well-known/jwks.json")
        assert transport.request("GET", url, extra_headers={"X-Trace": "1"}) == jwks
    transport.close()
    (req,) = server.requests
    assert req.method == "GET"
    assert req.path == "/.well-known/jwks.json"
    assert req.headers["x-trace"] == "1"
    assert "authorization" not in req.headers
    assert req.headers["user-agent"].endswith(" controldeck")


def test_a_credential_less_transport_raises_typed_errors() -> None:
    transport = Transport(base_url="", platform="controldeck")
    with (
        Server([response(404, {"message": "no such document"})]) as server,
        pytest.raises(NotFoundError) as info,
    ):
        transport.request("GET", server.url("/missing"), timeout=TIMEOUT)
    transport.close()
    assert info.value.status_code == 404
    assert info.value.message == "no such document"


# -- secrets -----------------------------------------------------------------------------

TOKEN = "s3cr3t-token-value"


def test_token_never_appears_in_logs_or_errors(
    make_transport: Callable[..., Transport],
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    echo = {
        "message": f"token {TOKEN} is not valid",
        "token": TOKEN,
        "nested": {"hint": f"you sent Bearer {TOKEN}"},
    }
    replies = [
        response(503, b"", headers={"Retry-After": "0"}),  # a retry logs the attempt again
        response(401, echo, headers={"x-request-id": "req-secret"}),
    ]
    with Server(replies) as server:
        transport = make_transport(
            server.base_url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            secrets=(TOKEN,),
        )
        with pytest.raises(APIStatusError) as info:
            transport.request("POST", "/auth/check", json={"token": TOKEN, "other": TOKEN})
    err = info.value
    # The token did go over the wire, so the test would notice if it were not sent at all.
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN in server.requests[0].body.decode()
    assert len(server.requests) == 2
    assert sleeps == [0.0]

    assert err.status_code == 401
    assert err.request_id == "req-secret"
    assert "request POST" in caplog.text  # the debug lines were really emitted
    assert "<redacted>" in caplog.text
    for shown in (caplog.text, str(err), repr(err), err.body_excerpt, err.message):
        assert TOKEN not in shown
    assert err.message == "token <redacted> is not valid"


# -- threads -----------------------------------------------------------------------------


def test_transport_shared_by_threads_holds_sessions_by_peak_concurrency(
    make_transport: Callable[..., Transport],
) -> None:
    def handler(request: Request) -> bytes:
        return response(200, {"path": request.path})

    with Server(handler) as server:
        transport = make_transport(server.base_url)
        barrier = threading.Barrier(4, timeout=5)
        results: dict[int, list[Any]] = {}
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                barrier.wait()  # all four threads alive at once
                results[n] = [transport.request("GET", f"/t{n}/{i}") for i in range(3)]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        idle, lent = transport._pool.counts

    assert errors == []
    assert lent == 0
    assert 1 <= idle <= 4  # at most one session per thread that ran at the same time
    for n in range(4):
        assert results[n] == [{"path": f"/t{n}/{i}"} for i in range(3)]
    assert sorted(server.paths) == sorted(f"/t{n}/{i}" for n in range(4) for i in range(3))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_short_lived_threads_do_not_leak_sessions(
    make_transport: Callable[..., Transport],
) -> None:
    # Defect: a thread-local session per thread that ever called, never closed — 300
    # short-lived threads left 300 sessions and ~600 open file descriptors.
    with Server(lambda request: response(200, {"ok": True})) as server:
        transport = make_transport(server.base_url)
        before = _open_fds()
        for _ in range(300):
            thread = threading.Thread(target=transport.request, args=("GET", "/x"))
            thread.start()
            thread.join(timeout=10)
        idle, lent = transport._pool.counts
        assert (idle, lent) == (1, 0)
        assert _open_fds() - before <= 4
        transport.close()
        assert transport._pool.counts == (0, 0)
