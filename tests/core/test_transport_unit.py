"""Transport without sockets: exact requests (via `responses`), argument checks and helpers."""

from __future__ import annotations

import email.utils
import json
import platform
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import requests
import responses

from controldeck import __version__
from controldeck._core._models import UNSET, Unset
from controldeck._core._replies import ErrorInfo, parse_generic_error
from controldeck._core._retry import backoff_delay, parse_retry_after
from controldeck._core._transport import Transport, check_timeout, default_user_agent
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    ControlDeckError,
    InvalidArgumentError,
    NotFoundError,
    ResponseValidationError,
)

BASE = "https://api.example.test/v1"
PY = ".".join(platform.python_version_tuple()[:2])


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def transport(sleeps: list[float]) -> Iterator[Transport]:
    t = Transport(base_url=BASE + "/", platform="test", sleep=sleeps.append)
    yield t
    t.close()


@attrs.define(kw_only=True)
class Widget:
    name: str
    created_at: datetime | Unset = attrs.field(default=UNSET, metadata={"wire": "createdAt"})
    note: str | Unset | None = UNSET


# -- what goes on the wire ---------------------------------------------------------------


class TestRequestShape:
    def test_default_headers_on_get(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get(f"{BASE}/things", json={"ok": True})
        assert transport.request("GET", "things") == {"ok": True}
        (call,) = rsps.calls
        headers = call.request.headers
        assert headers["User-Agent"] == f"controldeck/0.1.0 python/{PY} test"
        assert __version__ == "0.1.0"
        assert headers["Accept"] == "application/json"
        assert "Content-Type" not in headers
        assert call.request.body is None
        assert call.request.method == "GET"
        assert call.request.url == f"{BASE}/things"

    def test_json_body_is_compact_and_typed(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.post(f"{BASE}/things", json={"id": 1}, status=201)
        transport.request("post", "/things", json={"name": "ü", "tags": ["a", "b"], "n": None})
        (call,) = rsps.calls
        assert call.request.method == "POST"
        assert call.request.body == '{"name":"ü","tags":["a","b"],"n":null}'.encode()
        assert call.request.headers["Content-Type"] == "application/json"

    def test_attrs_body_uses_wire_names_and_drops_unset(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.put(f"{BASE}/w/1", json={})
        widget = Widget(name="w", created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
        transport.request("PUT", "/w/1", json=widget)
        body = rsps.calls[0].request.body
        assert isinstance(body, bytes)
        assert json.loads(body) == {
            "name": "w",
            "createdAt": "2024-01-02T03:04:05+00:00",
        }

    def test_empty_json_body_is_still_sent(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.post(f"{BASE}/x", json={})
        transport.request("POST", "/x", json={})
        assert rsps.calls[0].request.body == b"{}"
        assert rsps.calls[0].request.headers["Content-Type"] == "application/json"

    def test_params_none_dropped(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        rsps.get(f"{BASE}/things", json=[])
        transport.request(
            "GET", "/things", params={"a": "1", "skip": None, "b": 0, "d": "", "e": ["x", "y"]}
        )
        assert rsps.calls[0].request.url == f"{BASE}/things?a=1&b=0&d=&e=x&e=y"

    def test_extra_headers_merge_and_override(
        self, rsps: responses.RequestsMock, sleeps: list[float]
    ) -> None:
        rsps.get(f"{BASE}/x", json={})
        t = Transport(
            base_url=BASE,
            platform="test",
            headers={"Authorization": "Bearer a", "X-Team": "t"},
            user_agent="custom/1",
        )
        try:
            t.request("GET", "/x", extra_headers={"Authorization": "Bearer b", "X-Extra": "1"})
        finally:
            t.close()
        headers = rsps.calls[0].request.headers
        assert headers["Authorization"] == "Bearer b"
        assert headers["X-Team"] == "t"
        assert headers["X-Extra"] == "1"
        assert headers["User-Agent"] == "custom/1"
        assert t.headers["Authorization"] == "Bearer a"  # a per-call header does not stick

    def test_absolute_url_is_used_as_is(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get("https://other.example/doc.json", json={"k": 1})
        assert transport.request("GET", "https://other.example/doc.json") == {"k": 1}

    def test_default_and_per_call_timeout_passed_to_requests(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get(f"{BASE}/x", json={})
        transport.request("GET", "/x")
        transport.request("GET", "/x", timeout=7)
        transport.request("GET", "/x", timeout=(1, 2.5))
        # responses keeps the keyword arguments requests passed to the adapter.
        timeouts = [getattr(call.request, "req_kwargs")["timeout"] for call in rsps.calls]  # noqa: B009
        assert timeouts == [(5.0, 60.0), (7.0, 7.0), (1.0, 2.5)]

    def test_decodes_into_cast_to(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        rsps.get(f"{BASE}/w", json={"name": "w", "createdAt": "2024-01-01T00:00:00Z", "new": 1})
        assert transport.request("GET", "/w", cast_to=Widget) == Widget(
            name="w", created_at=datetime(2024, 1, 1, tzinfo=UTC)
        )

    def test_decode_error_carries_context(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get(f"{BASE}/w", json={"name": 5}, headers={"request-id": "r-7"})
        with pytest.raises(ResponseValidationError) as info:
            transport.request("GET", "/w", cast_to=Widget)
        err = info.value
        assert err.path == "$.name"
        assert err.status_code == 200
        assert err.request_id == "r-7"
        assert err.body_excerpt == '{"name": 5}'

    def test_non_json_reply(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        rsps.get(f"{BASE}/w", body="<html>hi</html>", content_type="text/html")
        with pytest.raises(ResponseValidationError, match=r"got text/html \(15 bytes\)"):
            transport.request("GET", "/w")


# -- validation before sending -----------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        "bad",
        [
            0, -1, "5", True, (1,), (1, 2, 3), (1, 0), (1, "2"), [1, 2], float("nan"),
            float("inf"), (1, float("inf")),
        ],
    )  # fmt: skip
    def test_check_timeout_rejects(self, bad: Any) -> None:
        with pytest.raises(InvalidArgumentError, match="timeout must be positive, finite"):
            check_timeout(bad)

    def test_none_is_not_a_timeout(self) -> None:
        with pytest.raises(InvalidArgumentError, match="every call has a timeout"):
            check_timeout(None)

    @pytest.mark.parametrize(
        ("good", "pair"), [(1, (1.0, 1.0)), (0.5, (0.5, 0.5)), ((1, 2), (1.0, 2.0))]
    )
    def test_check_timeout_accepts(self, good: Any, pair: tuple[float, float]) -> None:
        assert check_timeout(good) == pair

    @pytest.mark.parametrize("bad", [0, -2, (1,), "10"])
    def test_bad_per_call_timeout_sends_nothing(
        self, bad: Any, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            transport.request("GET", "/x", timeout=bad)
        assert len(rsps.calls) == 0

    def test_bad_constructor_timeout(self) -> None:
        with pytest.raises(InvalidArgumentError):
            Transport(base_url=BASE, platform="test", timeout=-1)

    @pytest.mark.parametrize("bad", [-1, True, "2", 1.5, None])
    def test_max_retries_validated(self, bad: Any) -> None:
        with pytest.raises(InvalidArgumentError, match="max_retries must be an int >= 0"):
            Transport(base_url=BASE, platform="test", max_retries=bad)

    def test_invalid_argument_is_a_value_error(self) -> None:
        with pytest.raises(ValueError):
            Transport(base_url=BASE, platform="test", max_retries=-1)


# -- sessions ----------------------------------------------------------------------------


class TestSessions:
    def test_close_closes_own_sessions(self, rsps: responses.RequestsMock) -> None:
        rsps.get(f"{BASE}/x", json={})
        t = Transport(base_url=BASE, platform="test", client_name="TestClient")
        t.request("GET", "/x")
        t.request("GET", "/x")
        (session,) = t._pool._idle  # one session, reused
        closed: list[requests.Session] = []
        original = session.close

        def close() -> None:
            closed.append(session)
            original()

        session.close = close  # type: ignore[method-assign]
        t.close()
        assert closed == [session]
        t.close()  # twice is fine
        with pytest.raises(ControlDeckError, match="TestClient is closed"):
            t.request("GET", "/x")
        assert len(rsps.calls) == 2  # a closed transport sends nothing

    def test_shared_session_is_not_closed(self, rsps: responses.RequestsMock) -> None:
        rsps.get(f"{BASE}/x", json={})
        shared = requests.Session()
        closed: list[bool] = []
        shared.close = lambda: closed.append(True)  # type: ignore[method-assign]
        t = Transport(base_url=BASE, platform="test", session=shared)
        t.request("GET", "/x")
        assert t._pool._idle == []  # the caller's session is used, not pooled
        t.close()
        assert closed == []
        requests.Session.close(shared)

    def test_user_session_is_used(self, rsps: responses.RequestsMock) -> None:
        shared = requests.Session()
        shared.headers["X-From-Session"] = "yes"
        rsps.get(f"{BASE}/x", json={})
        with shared:
            t = Transport(base_url=BASE, platform="test", session=shared)
            t.request("GET", "/x")
        assert rsps.calls[0].request.headers["X-From-Session"] == "yes"


# -- retries with responses (the wire tests cover real sockets) --------------------------


class TestRetries:
    def test_retry_after_then_success(
        self, rsps: responses.RequestsMock, transport: Transport, sleeps: list[float]
    ) -> None:
        rsps.get(f"{BASE}/x", status=503, headers={"Retry-After": "3"})
        rsps.get(f"{BASE}/x", json={"ok": 1})
        assert transport.request("GET", "/x") == {"ok": 1}
        assert sleeps == [3.0]

    def test_408_and_504_retried_for_get(
        self, rsps: responses.RequestsMock, transport: Transport, sleeps: list[float]
    ) -> None:
        rsps.get(f"{BASE}/x", status=408)
        rsps.get(f"{BASE}/x", status=504)
        rsps.get(f"{BASE}/x", json=1)
        assert transport.request("GET", "/x") == 1
        assert len(sleeps) == 2

    def test_connection_error_from_responses_is_wrapped(
        self, rsps: responses.RequestsMock, transport: Transport, sleeps: list[float]
    ) -> None:
        rsps.get(f"{BASE}/x", body=requests.exceptions.ConnectionError("Connection refused"))
        with pytest.raises(APIConnectionError, match="could not connect"):
            transport.request("GET", "/x")
        assert len(rsps.calls) == 3
        assert len(sleeps) == 2

    def test_max_retries_zero(self, rsps: responses.RequestsMock, sleeps: list[float]) -> None:
        rsps.get(f"{BASE}/x", status=503)
        t = Transport(base_url=BASE, platform="test", max_retries=0, sleep=sleeps.append)
        with pytest.raises(APIStatusError) as info:
            t.request("GET", "/x")
        t.close()
        assert info.value.status_code == 503
        assert sleeps == []
        assert len(rsps.calls) == 1


class TestIdempotentPost:
    def test_a_read_sent_as_post_is_retried_like_a_get(
        self, rsps: responses.RequestsMock, transport: Transport, sleeps: list[float]
    ) -> None:
        rsps.post(f"{BASE}/rpc/Get", status=503)
        rsps.post(f"{BASE}/rpc/Get", json={"ok": 1})
        assert transport.request("POST", "/rpc/Get", json={}, idempotent=True) == {"ok": 1}
        assert len(rsps.calls) == 2 and len(sleeps) == 1

    def test_a_plain_post_is_not(
        self, rsps: responses.RequestsMock, transport: Transport, sleeps: list[float]
    ) -> None:
        rsps.post(f"{BASE}/rpc/Create", status=503)
        with pytest.raises(APIStatusError):
            transport.request("POST", "/rpc/Create", json={})
        assert len(rsps.calls) == 1 and sleeps == []


class TestRetryAdvice:
    """A platform's error body may allow or forbid a retry (Beampipe `failure.retry`)."""

    @staticmethod
    def advised(sleeps: list[float]) -> Transport:
        def advice(response: requests.Response) -> bool | None:
            verdict = response.json().get("retry")
            return {"safe": True, "unsafe": False}.get(verdict)

        return Transport(base_url=BASE, platform="test", sleep=sleeps.append, retry_advice=advice)

    def test_safe_makes_a_post_retryable(
        self, rsps: responses.RequestsMock, sleeps: list[float]
    ) -> None:
        rsps.post(f"{BASE}/x", status=429, json={"retry": "safe"})
        rsps.post(f"{BASE}/x", json={"ok": 1})
        t = self.advised(sleeps)
        assert t.request("POST", "/x", json={"a": 1}) == {"ok": 1}
        t.close()
        assert len(rsps.calls) == 2
        assert len(sleeps) == 1

    def test_unsafe_makes_a_get_final(
        self, rsps: responses.RequestsMock, sleeps: list[float]
    ) -> None:
        rsps.get(f"{BASE}/x", status=503, json={"retry": "unsafe"})
        t = self.advised(sleeps)
        with pytest.raises(APIStatusError) as info:
            t.request("GET", "/x")
        t.close()
        assert info.value.status_code == 503
        assert len(rsps.calls) == 1
        assert sleeps == []

    def test_no_advice_keeps_the_status_rules(
        self, rsps: responses.RequestsMock, sleeps: list[float]
    ) -> None:
        rsps.post(f"{BASE}/x", status=503, json={})  # a POST without a key is not retried
        rsps.get(f"{BASE}/y", status=503, body="not json")  # advice fails: rules apply
        rsps.get(f"{BASE}/y", json=2)
        t = self.advised(sleeps)
        with pytest.raises(APIStatusError):
            t.request("POST", "/x", json={})
        assert t.request("GET", "/y") == 2
        t.close()
        assert len(rsps.calls) == 3

    def test_advice_is_not_asked_for_a_404(
        self, rsps: responses.RequestsMock, sleeps: list[float]
    ) -> None:
        asked: list[int] = []

        def advice(response: requests.Response) -> bool | None:
            asked.append(response.status_code)
            return True

        rsps.get(f"{BASE}/x", status=404, json={"retry": "safe"})
        t = Transport(base_url=BASE, platform="test", sleep=sleeps.append, retry_advice=advice)
        with pytest.raises(NotFoundError):
            t.request("GET", "/x")
        t.close()
        assert asked == []
        assert len(rsps.calls) == 1


# -- status errors -----------------------------------------------------------------------


class TestStatusErrors:
    def test_laravel_422(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        body = {"message": "The name field is required.", "errors": {"name": ["required"]}}
        rsps.post(f"{BASE}/x", status=422, json=body, headers={"x-request-id": "rq"})
        with pytest.raises(APIStatusError) as info:
            transport.request("POST", "/x", json={})
        err = info.value
        assert type(err).__name__ == "UnprocessableEntityError"
        assert err.message == "The name field is required."
        assert err.details == {"name": ["required"]}
        assert err.request_id == "rq"
        assert err.code is None
        assert err.response is not None and err.response.status_code == 422
        assert err.field_errors == [("name", "required")]
        assert str(err) == "HTTP 422: The name field is required. (name: required) [request id: rq]"

    def test_plain_text_body_is_the_message(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get(f"{BASE}/c/1", status=404, body="Change not found")
        with pytest.raises(NotFoundError) as info:
            transport.request("GET", "/c/1")
        assert info.value.message == "Change not found"
        assert info.value.body_excerpt == "Change not found"

    def test_empty_body_uses_reason_and_url_without_query(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get(f"{BASE}/x", status=400)
        with pytest.raises(BadRequestError) as info:
            transport.request("GET", "/x", params={"token": "abc"})
        assert info.value.message == f"Bad Request (GET {BASE}/x)"

    def test_custom_error_parser(self, rsps: responses.RequestsMock) -> None:
        rsps.get(f"{BASE}/x", status=404, json={"success": False, "error": {"code": "E1"}})

        def parser(body: Any) -> ErrorInfo:
            return ErrorInfo("PARSED", "parsed message", {"raw": body})

        t = Transport(base_url=BASE, platform="test", error_parser=parser)
        with pytest.raises(NotFoundError) as info:
            t.request("GET", "/x")
        t.close()
        assert (info.value.code, info.value.message) == ("PARSED", "parsed message")
        assert info.value.details == {"raw": {"success": False, "error": {"code": "E1"}}}

    def test_broken_error_parser_does_not_hide_the_error(
        self, rsps: responses.RequestsMock
    ) -> None:
        rsps.get(f"{BASE}/x", status=404, json={"a": 1})

        def parser(body: Any) -> ErrorInfo:
            raise KeyError("oops")

        t = Transport(base_url=BASE, platform="test", error_parser=parser)
        with pytest.raises(NotFoundError) as info:
            t.request("GET", "/x")
        t.close()
        assert info.value.message == f"Not Found (GET {BASE}/x)"


# -- helpers -----------------------------------------------------------------------------


class TestParseRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("1", 1.0), ("120", 120.0), (" 2 ", 2.0), ("1.5", 1.5), ("0", 0.0)],
    )
    def test_seconds(self, value: str, expected: float) -> None:
        assert parse_retry_after(value) == expected

    def test_http_date(self) -> None:
        now = 1_700_000_000.0
        header = email.utils.formatdate(now + 30, usegmt=True)
        assert parse_retry_after(header, now=now) == 30.0

    def test_http_date_in_the_past_is_zero(self) -> None:
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0

    def test_negative_seconds_clamped_to_zero(self) -> None:
        assert parse_retry_after("-5") == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "Wed, 99 Foo 2015", "12 apples"])
    def test_garbage(self, value: str | None) -> None:
        assert parse_retry_after(value) is None


class TestBackoff:
    @pytest.mark.parametrize(
        ("n", "low", "high"),
        [
            (0, 0.375, 0.5),
            (1, 0.75, 1.0),
            (2, 1.5, 2.0),
            (3, 3.0, 4.0),
            (4, 6.0, 8.0),
            (9, 6.0, 8.0),
        ],
    )
    def test_bounds(self, n: int, low: float, high: float, monkeypatch: pytest.MonkeyPatch) -> None:
        for _ in range(50):
            assert low <= backoff_delay(n) <= high
        monkeypatch.setattr(random, "uniform", lambda a, b: a)
        assert backoff_delay(n) == pytest.approx(low)
        monkeypatch.setattr(random, "uniform", lambda a, b: b)
        assert backoff_delay(n) == pytest.approx(high)


class TestParseGenericError:
    def test_laravel(self) -> None:
        body = {"message": "The given data was invalid.", "errors": {"name": ["required"]}}
        assert parse_generic_error(body) == ErrorInfo(
            None, "The given data was invalid.", {"name": ["required"]}, (("name", "required"),)
        )

    def test_fastapi_detail_list(self) -> None:
        detail = [{"loc": ["body", "input_args"], "msg": "field required", "type": "missing"}]
        assert parse_generic_error({"detail": detail}) == ErrorInfo(
            None, "Request validation failed", detail, (("input_args", "field required"),)
        )

    def test_error_and_message(self) -> None:
        body = {"error": "Mesh not found", "message": "No mesh with id 7"}
        assert parse_generic_error(body) == ErrorInfo("Mesh not found", "No mesh with id 7", None)

    def test_error_string_only(self) -> None:
        assert parse_generic_error({"error": "Unauthorized"}) == ErrorInfo(None, "Unauthorized")

    def test_detail(self) -> None:
        assert parse_generic_error({"detail": "Not found"}) == ErrorInfo(None, "Not found")

    def test_nested_error_object(self) -> None:
        body = {
            "success": False,
            "error": {"code": "AGENT_NOT_FOUND", "message": "no agent", "details": {"id": "a"}},
        }
        assert parse_generic_error(body) == ErrorInfo("AGENT_NOT_FOUND", "no agent", {"id": "a"})

    def test_grpc_gateway(self) -> None:
        body = {"code": 5, "message": "not found", "details": [{"@type": "x"}]}
        assert parse_generic_error(body) == ErrorInfo("5", "not found", [{"@type": "x"}])

    @pytest.mark.parametrize("body", [None, [], ["x"], "text", 5, {}])
    def test_nothing_useful(self, body: Any) -> None:
        assert parse_generic_error(body) == ErrorInfo()


def test_default_user_agent() -> None:
    assert default_user_agent("runbeam") == f"controldeck/0.1.0 python/{PY} runbeam"


class TestPerCallSecrets:
    SECRET = "per-call-secret-0123456789"

    def test_masked_in_a_status_error_even_from_a_one_shot_iterator(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.post(f"{BASE}/login", status=400, json={"message": f"bad {self.SECRET}"})
        with pytest.raises(BadRequestError) as info:
            transport.request("POST", "/login", json={"x": 1}, secrets=iter([self.SECRET]))
        assert info.value.message == "bad <redacted>"
        assert self.SECRET not in info.value.body_excerpt

    def test_masked_in_a_decode_error_even_from_a_one_shot_iterator(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        rsps.get(f"{BASE}/w", body=f'{{"name": 5, "note": "{self.SECRET}"}}')
        with pytest.raises(ResponseValidationError) as info:
            transport.request("GET", "/w", cast_to=Widget, secrets=iter([self.SECRET]))
        assert info.value.path == "$.name"
        assert self.SECRET not in info.value.body_excerpt
        assert "<redacted>" in info.value.body_excerpt
