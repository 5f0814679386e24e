"""The engine pieces on top of the transport: auth hook, per-call options, deadlines,
idempotency keys, reply kinds, origin policy, redirects and error messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import requests
import responses

from controldeck._core._auth import Auth, BearerAuth
from controldeck._core._transport import Transport
from controldeck.errors import (
    APIStatusError,
    AuthenticationError,
    ControlDeckError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
)

BASE = "https://api.example.test/v1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **kwargs: Any) -> Transport:
    kwargs.setdefault("auth", BearerAuth("tok-old-1234"))
    return Transport(base_url=BASE, platform="test", sleep=clock.sleep, clock=clock, **kwargs)


# -- auth hook ---------------------------------------------------------------------------


class RotatingAuth(BearerAuth):
    """Refreshes to a new token on a 401, counting how often it was asked to."""

    def __init__(self) -> None:
        super().__init__("tok-old-1234")
        self.refreshes = 0

    def refresh(self, response: requests.Response) -> bool:
        self.refreshes += 1
        self.token = "tok-new-5678"
        return True


class TestAuthHook:
    def test_bearer_header_per_attempt_and_rotation(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", json={})
        auth = BearerAuth("tok-old-1234")
        t = make(clock, auth=auth)
        t.request("GET", "/x")
        auth.token = "tok-new-5678"
        t.request("GET", "/x")
        assert [c.request.headers["Authorization"] for c in rsps.calls] == [
            "Bearer tok-old-1234",
            "Bearer tok-new-5678",
        ]

    def test_rotated_token_is_masked_in_errors(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        auth = BearerAuth("tok-old-1234")
        t = make(clock, auth=auth, max_retries=0)
        auth.token = "tok-rotated-999"
        rsps.get(f"{BASE}/x", status=400, json={"message": "bad tok-rotated-999"})
        with pytest.raises(APIStatusError) as info:
            t.request("GET", "/x")
        assert "tok-rotated-999" not in str(info.value)
        assert "tok-rotated-999" not in info.value.body_excerpt

    def test_no_token_raises_before_sending(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        t = make(clock, auth=BearerAuth(None, missing="pass token= to TestClient"))
        with pytest.raises(InvalidArgumentError, match="needs a token: pass token= to TestClient"):
            t.request("GET", "/x")
        assert len(rsps.calls) == 0

    def test_auth_false_sends_no_credentials(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", json={})
        make(clock, auth=BearerAuth(None)).request("GET", "/x", auth=False)
        assert "Authorization" not in rsps.calls[0].request.headers

    def test_per_call_auth_replaces_the_clients(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.post(f"{BASE}/x", json={})
        make(clock).request("POST", "/x", auth=BearerAuth("user-jwt-42"))
        assert rsps.calls[0].request.headers["Authorization"] == "Bearer user-jwt-42"

    def test_refresh_once_on_401_then_replay(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", status=401, json={"message": "expired"})
        rsps.get(f"{BASE}/x", json={"ok": 1})
        auth = RotatingAuth()
        assert make(clock, auth=auth).request("GET", "/x") == {"ok": 1}
        assert auth.refreshes == 1
        assert [c.request.headers["Authorization"] for c in rsps.calls] == [
            "Bearer tok-old-1234",
            "Bearer tok-new-5678",
        ]
        assert clock.sleeps == []  # a replay is not a retry: no backoff

    def test_second_401_is_final(self, rsps: responses.RequestsMock, clock: FakeClock) -> None:
        rsps.get(f"{BASE}/x", status=401, json={"message": "no"})
        auth = RotatingAuth()
        with pytest.raises(AuthenticationError):
            make(clock, auth=auth).request("GET", "/x")
        assert auth.refreshes == 1
        assert len(rsps.calls) == 2

    def test_base_auth_does_not_replay(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", status=401, json={})
        with pytest.raises(AuthenticationError) as info:
            make(clock).request("GET", "/x")
        assert len(rsps.calls) == 1
        assert "check the token" in str(info.value)  # no message in the body: hint

    def test_concurrent_401s_refresh_once(self, rsps: responses.RequestsMock) -> None:
        barrier = threading.Barrier(2, timeout=5)

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            if request.headers["Authorization"] == "Bearer tok-old-1234":
                barrier.wait()  # both threads hold a 401 for the old token
                return 401, {}, "{}"
            return 200, {}, '{"ok": true}'

        rsps.add_callback(responses.GET, f"{BASE}/x", callback=callback)
        auth = RotatingAuth()
        t = Transport(base_url=BASE, platform="test", auth=auth)
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(t.request("GET", "/x")))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert results == [{"ok": True}, {"ok": True}]
        assert auth.refreshes == 1  # the second thread replayed with the new token

    def test_generation_coalesces_refreshes(self) -> None:
        auth = RotatingAuth()
        response = requests.Response()
        assert auth.handle_unauthorized(response, 0) is True
        assert auth.handle_unauthorized(response, 0) is True  # already refreshed since gen 0
        assert auth.refreshes == 1
        assert auth.generation == 1

    def test_repr_hides_the_token(self) -> None:
        assert "tok-old-1234" not in repr(BearerAuth("tok-old-1234"))

    @pytest.mark.parametrize("bad", ["", " ", "tok\n", "tök", 5])
    def test_bad_tokens(self, bad: Any) -> None:
        with pytest.raises(InvalidArgumentError):
            BearerAuth(bad)

    def test_base_hook_has_nothing(self) -> None:
        auth = Auth()
        assert (dict(auth.auth_headers()), auth.secrets()) == ({}, ())


# -- origins and redirects ---------------------------------------------------------------


class TestOrigins:
    def test_absolute_url_on_another_origin_gets_no_credentials(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get("https://elsewhere.test/next", json={})
        rsps.get(f"{BASE}/same", json={})
        t = make(clock)
        t.request("GET", "https://elsewhere.test/next")
        t.request("GET", "https://API.example.test/v1/same")  # same origin, other case
        assert "Authorization" not in rsps.calls[0].request.headers
        assert rsps.calls[1].request.headers["Authorization"] == "Bearer tok-old-1234"

    def test_401_after_cross_host_redirect_blames_the_redirect(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", status=302, headers={"Location": "https://other.test/x"})
        rsps.get("https://other.test/x", status=401, json={"message": "Unauthenticated."})
        with pytest.raises(AuthenticationError) as info:
            make(clock).request("GET", "/x")
        text = str(info.value)
        assert "redirected from api.example.test to another host" in text
        assert "credentials are never sent to another host" in text
        assert "check the token" not in text
        assert "Authorization" not in rsps.calls[1].request.headers


# -- per-call options --------------------------------------------------------------------


class TestOptions:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"timeout": float("inf")}, "finite"),
            ({"timeout": None}, "every call has a timeout"),
            ({"deadline": 0}, "deadline must be positive"),
            ({"deadline": float("nan")}, "deadline must be positive"),
            ({"max_retries": -1}, "max_retries must be"),
            ({"extra_headers": "x"}, "extra_headers must be a mapping"),
            ({"extra_headers": {"X": 1}}, "header 'X' must be a string"),
            ({"idempotency_key": 5}, "idempotency_key must be"),
        ],
    )
    def test_bad_options_send_nothing(
        self, kwargs: dict[str, Any], match: str, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            make(clock, idempotency_header="Idempotency-Key").request("GET", "/x", **kwargs)
        assert len(rsps.calls) == 0

    def test_per_call_max_retries(self, rsps: responses.RequestsMock, clock: FakeClock) -> None:
        rsps.get(f"{BASE}/x", status=503)
        with pytest.raises(InternalServerError):
            make(clock).request("GET", "/x", max_retries=0)
        assert len(rsps.calls) == 1


class TestDeadline:
    def test_retry_after_beyond_the_deadline_is_not_waited(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", status=503, headers={"Retry-After": "5"})
        with pytest.raises(InternalServerError) as info:
            make(clock).request("GET", "/x", deadline=3)
        assert clock.sleeps == []
        assert info.value.retry_after == 5
        assert len(rsps.calls) == 1

    def test_backoffs_stop_at_the_deadline(
        self, rsps: responses.RequestsMock, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("random.uniform", lambda a, b: b)  # backoffs 0.5, 1, 2, 4
        rsps.get(f"{BASE}/x", status=502)
        with pytest.raises(InternalServerError):
            make(clock, max_retries=10).request("GET", "/x", deadline=2.0)
        assert clock.sleeps == [0.5, 1.0]  # the next wait (2 s) would end past the deadline
        assert len(rsps.calls) == 3

    def test_client_deadline_is_the_default(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", status=503, headers={"Retry-After": "5"})
        rsps.get(f"{BASE}/x", status=503, headers={"Retry-After": "5"})
        rsps.get(f"{BASE}/x", json=1)
        t = make(clock, deadline=4)
        with pytest.raises(InternalServerError):
            t.request("GET", "/x")
        assert clock.sleeps == []
        t.request("GET", "/x", deadline=None)  # per call: no limit
        assert clock.sleeps == [5.0]

    def test_attempt_timeout_is_clipped_to_what_is_left(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/x", json={})
        make(clock).request("GET", "/x", timeout=(5, 60), deadline=10)
        assert getattr(rsps.calls[0].request, "req_kwargs")["timeout"] == (5.0, 10.0)  # noqa: B009


class TestIdempotency:
    def test_one_key_reused_across_retries_and_500_retried(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.post(f"{BASE}/runs", status=500)
        rsps.post(f"{BASE}/runs", status=503)
        rsps.post(f"{BASE}/runs", json={"id": 1})
        t = make(clock, idempotency_header="Idempotency-Key")
        assert t.request("POST", "/runs", json={}, idempotency_key=True) == {"id": 1}
        keys = {c.request.headers["Idempotency-Key"] for c in rsps.calls}
        assert len(rsps.calls) == 3 and len(keys) == 1
        (key,) = keys
        assert len(key) == 36  # a UUID

    def test_a_given_key_is_sent_as_is(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.post(f"{BASE}/runs", json={})
        t = make(clock, idempotency_header="Idempotency-Key")
        t.request("POST", "/runs", json={}, idempotency_key="my-key-1")
        assert rsps.calls[0].request.headers["Idempotency-Key"] == "my-key-1"

    def test_post_without_key_is_not_retried_on_500(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.post(f"{BASE}/runs", status=500)
        with pytest.raises(InternalServerError):
            make(clock).request("POST", "/runs", json={})
        assert len(rsps.calls) == 1

    def test_a_platform_without_keys_refuses_one(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="does not take idempotency keys"):
            make(clock).request("POST", "/runs", json={}, idempotency_key=True)


# -- replies -----------------------------------------------------------------------------


@attrs.define(kw_only=True)
class Thing:
    id: str


class TestReplies:
    def test_text_bytes_and_none(self, rsps: responses.RequestsMock, clock: FakeClock) -> None:
        rsps.get(f"{BASE}/metrics", body="# HELP up\nup 1\n", content_type="text/plain")
        rsps.get(f"{BASE}/wasm", body=b"\x00asm\x01")
        rsps.delete(f"{BASE}/x", status=204)
        t = make(clock)
        assert t.request("GET", "/metrics", reply="text") == "# HELP up\nup 1\n"
        assert t.request("GET", "/wasm", reply="bytes") == b"\x00asm\x01"
        assert t.request("DELETE", "/x", reply="none") is None

    def test_unwrap_reports_paths_from_the_top(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/t", json={"data": {"id": 5}})
        with pytest.raises(ResponseValidationError) as info:
            make(clock).request("GET", "/t", cast_to=Thing, unwrap="data")
        assert info.value.path == "$.data.id"
        assert "@ $.data.id" in str(info.value)

    def test_unwrap_missing_envelope(self, rsps: responses.RequestsMock, clock: FakeClock) -> None:
        rsps.get(f"{BASE}/t", json={"id": "a"})
        with pytest.raises(ResponseValidationError) as info:
            make(clock).request("GET", "/t", cast_to=Thing, unwrap="data")
        assert info.value.path == "$.data"

    def test_unwrap_decodes_the_inner_value(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/t", json={"data": {"id": "a"}, "meta": {}})
        assert make(clock).request("GET", "/t", cast_to=Thing, unwrap="data") == Thing(id="a")


class TestMessages:
    def test_hint_only_without_a_server_message(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(f"{BASE}/a", status=403, json={"message": "No ingress matches destination URL"})
        rsps.get(f"{BASE}/b", status=403, body="")
        t = make(clock)
        with pytest.raises(PermissionDeniedError) as with_message:
            t.request("GET", "/a")
        with pytest.raises(PermissionDeniedError) as without:
            t.request("GET", "/b")
        assert str(with_message.value) == "HTTP 403: No ingress matches destination URL"
        assert "lacks permission" in str(without.value)

    def test_a_long_id_is_not_echoed_at_length(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        long_id = "x" * 500
        rsps.get(f"{BASE}/things/{long_id}", status=404, body="")
        with pytest.raises(NotFoundError) as info:
            make(clock).request("GET", f"/things/{long_id}")
        assert "x" * 101 not in str(info.value)
        assert "x" * 99 + "…" in str(info.value)


class TestClosing:
    def test_closed_transport_raises(self, rsps: responses.RequestsMock, clock: FakeClock) -> None:
        t = make(clock, client_name="ExampleClient")
        t.close()
        with pytest.raises(ControlDeckError, match="ExampleClient is closed"):
            t.request("GET", "/x")
        assert len(rsps.calls) == 0


class TestOriginOf:
    @pytest.mark.parametrize(
        ("url", "origin"),
        [
            ("HTTPS://API.Example.com:443/v1?x=1", "https://api.example.com"),
            ("http://h:80/", "http://h"),
            ("http://h:8080/a", "http://h:8080"),
            ("http://[::1]:9/x", "http://[::1]:9"),
            ("/relative", None),
            ("ftp://h/x", None),
            ("http://h:notaport/", None),
        ],
    )
    def test_origin_of(self, url: str, origin: str | None) -> None:
        from controldeck._core._describe import origin_of

        assert origin_of(url) == origin

    def test_default_port_counts_as_the_same_origin(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get("https://api.example.test:443/v1/x", json={})
        make(clock).request("GET", "https://api.example.test:443/v1/x")
        assert rsps.calls[0].request.headers["Authorization"] == "Bearer tok-old-1234"


# -- core pieces for the next platforms ------------------------------------------------------


class TestOffsetPager:
    def test_walks_full_pages_and_stops_on_a_short_one(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        from controldeck._core._pagination import offset_pager

        items = list(range(5))

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            from urllib.parse import parse_qs, urlsplit

            query = parse_qs(urlsplit(str(request.url)).query)
            offset, limit = int(query["offset"][0]), int(query["limit"][0])
            return 200, {}, json.dumps(items[offset : offset + limit])

        rsps.add_callback(responses.GET, f"{BASE}/things", callback=callback)
        t = make(clock)
        page = offset_pager(2)(
            lambda params: t.request("GET", "/things", params=params, cast_to=list[int]),
            {"status": "ok"},
        )
        assert page.data == [0, 1] and page.has_next
        assert list(page) == items
        assert [c.request.url for c in rsps.calls] == [
            f"{BASE}/things?status=ok&limit=2&offset=0",
            f"{BASE}/things?status=ok&limit=2&offset=2",
            f"{BASE}/things?status=ok&limit=2&offset=4",
        ]


class TestPlatformErrorClasses:
    def test_a_parser_picks_a_subclass_and_sets_attributes(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        from controldeck._core._replies import ErrorInfo
        from controldeck.errors import ConflictError

        class SuiteExists(ConflictError):
            existing_id: int

        def parser(body: Any) -> ErrorInfo:
            return ErrorInfo(
                code=body["error_type"],
                message=body["error"],
                error_class=SuiteExists,
                attributes={"existing_id": body["existing_suite_id"]},
            )

        rsps.post(
            f"{BASE}/suites",
            status=409,
            json={"error_type": "suite_already_exists", "existing_suite_id": 7, "error": "dup"},
        )
        with pytest.raises(SuiteExists) as info:
            make(clock, error_parser=parser).request("POST", "/suites", json={})
        assert info.value.existing_id == 7
        assert str(info.value) == "HTTP 409 [suite_already_exists]: dup"


class TestRedirectsNotFollowed:
    def test_the_3xx_reply_is_returned_and_nothing_else_is_fetched(
        self, rsps: responses.RequestsMock, clock: FakeClock
    ) -> None:
        rsps.get(
            f"{BASE}/doc/1/content",
            status=302,
            headers={"Location": "https://storage.example/blob?sig=abc"},
        )
        response = make(clock).send("GET", "/doc/1/content", follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["Location"] == "https://storage.example/blob?sig=abc"
        assert len(rsps.calls) == 1  # storage was never contacted
