"""The public exception tree: status mapping, messages, pickling, the odd ones out."""

from __future__ import annotations

import pickle

import pytest
import requests

import controldeck
from controldeck import errors
from controldeck.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ControlDeckError,
    InternalServerError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    ResponseValidationError,
    StreamError,
    TokenError,
    UnprocessableEntityError,
    WaitTimeoutError,
    error_class_for_status,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (599, InternalServerError),
        (302, APIStatusError),
        (405, APIStatusError),
        (408, APIStatusError),
        (418, APIStatusError),
    ],
)
def test_error_class_for_status(status: int, cls: type[APIStatusError]) -> None:
    assert error_class_for_status(status) is cls


def test_tree() -> None:
    for cls in (
        InvalidArgumentError,
        MissingDependencyError,
        APIConnectionError,
        APIStatusError,
        ResponseValidationError,
        StreamError,
        WaitTimeoutError,
        TokenError,
    ):
        assert issubclass(cls, ControlDeckError)
    assert issubclass(APITimeoutError, APIConnectionError)
    for cls in set(errors.STATUS_ERRORS.values()) | {InternalServerError}:
        assert issubclass(cls, APIStatusError)
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(MissingDependencyError, ImportError)


def test_every_error_importable_from_the_package() -> None:
    assert set(errors.__all__) <= set(controldeck.__all__)
    for name in errors.__all__:
        assert getattr(controldeck, name) is getattr(errors, name)


class TestStr:
    def test_status_code_message_hint_request_id(self) -> None:
        err = NotFoundError(
            "Not Found (GET https://x.test/things/1)",
            status_code=404,
            request_id="req-1",
            code="change_not_found",
            hint="check the id and the base URL",
        )
        assert str(err) == (
            "HTTP 404 [change_not_found]: Not Found (GET https://x.test/things/1) "
            "(check the id and the base URL) [request id: req-1]"
        )

    def test_no_hint_unless_given(self) -> None:
        # Hints come from the transport, and only when the server gave no message: a
        # server's own "No ingress matches" must not get "lacks permission" appended.
        err = PermissionDeniedError("No ingress matches destination URL", status_code=403)
        assert str(err) == "HTTP 403: No ingress matches destination URL"

    def test_field_errors_are_named(self) -> None:
        err = UnprocessableEntityError(
            "The given data was invalid.",
            status_code=422,
            field_errors=[("change_ids", "The change_ids field is required.")],
        )
        assert str(err) == (
            "HTTP 422: The given data was invalid. (change_ids: The change_ids field is required.)"
        )

    def test_at_most_three_field_errors_are_shown(self) -> None:
        fields = [(f"f{i}", f"bad {i}") for i in range(5)]
        err = UnprocessableEntityError("invalid", status_code=422, field_errors=fields)
        assert str(err) == "HTTP 422: invalid (f0: bad 0; f1: bad 1; f2: bad 2; and 2 more)"
        assert err.field_errors == fields

    def test_minimal(self) -> None:
        assert str(APIStatusError("Teapot", status_code=418)) == "HTTP 418: Teapot"

    def test_auth_hint(self) -> None:
        err = AuthenticationError(
            "Unauthenticated.",
            status_code=401,
            hint="check the token: it is missing, expired or not accepted",
        )
        assert str(err) == (
            "HTTP 401: Unauthenticated. (check the token: it is missing, expired or not accepted)"
        )

    def test_retry_after(self) -> None:
        err = RateLimitError(
            "slow down",
            status_code=429,
            retry_after=1.5,
            request_id="r",
            hint="rate limited; retry later",
        )
        assert str(err) == (
            "HTTP 429: slow down (rate limited; retry later) [retry after 1.5s] [request id: r]"
        )

    def test_attributes(self) -> None:
        response = requests.Response()
        err = UnprocessableEntityError(
            "bad",
            status_code=422,
            code="E",
            body_excerpt='{"x":1}',
            response=response,
            details={"name": ["required"]},
        )
        assert (err.status_code, err.code, err.message, err.body_excerpt) == (
            422,
            "E",
            "bad",
            '{"x":1}',
        )
        assert err.response is response
        assert err.details == {"name": ["required"]}
        assert err.retry_after is None
        assert err.request_id is None
        assert err.args == ("bad",)


class TestPickle:
    def test_status_error_round_trip(self) -> None:
        response = requests.Response()
        response.status_code = 404
        err = NotFoundError(
            "gone",
            status_code=404,
            request_id="req-2",
            code="nf",
            body_excerpt="{}",
            response=response,
            details=[1, 2],
        )
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is NotFoundError
        assert again.response is None  # a live response is not picklable state
        for name in ("status_code", "request_id", "code", "message", "body_excerpt", "details"):
            assert getattr(again, name) == getattr(err, name)
        assert str(again) == str(err)
        assert again.args == ("gone",)

    def test_rate_limit_round_trip(self) -> None:
        err = RateLimitError("later", status_code=429, retry_after=120.0)
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is RateLimitError
        assert again.retry_after == 120.0
        assert str(again) == str(err)

    @pytest.mark.parametrize(
        "err",
        [
            APIConnectionError("refused", method="GET", url="http://x"),
            APITimeoutError("slow", method="POST", url="http://y"),
            InvalidArgumentError("bad id"),
            WaitTimeoutError("too long", last_state="pending"),
            ResponseValidationError("shape", path="$.a", problems=["p @ $.a"], status_code=200),
            MissingDependencyError("Token encryption", "runbeam", "pyrage"),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_other_errors_pickle(self, err: ControlDeckError) -> None:
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err)
        assert str(again) == str(err)
        assert vars(again) == vars(err)


class TestOthers:
    def test_missing_dependency(self) -> None:
        err = MissingDependencyError("Token encryption", "runbeam", "pyrage")
        assert isinstance(err, ImportError)
        assert isinstance(err, ControlDeckError)
        assert err.name == "pyrage"
        assert err.extra == "runbeam"
        assert "pip install 'controldeck[runbeam]'" in str(err)
        assert str(err).startswith("Token encryption needs the optional dependency 'pyrage'")
        with pytest.raises(ImportError):
            raise err

    def test_invalid_argument_is_value_error(self) -> None:
        with pytest.raises(ValueError, match="empty"):
            raise InvalidArgumentError("change_id must not be empty")

    def test_connection_error_attributes(self) -> None:
        err = APITimeoutError("slow", method="GET", url="http://x/y")
        assert (err.method, err.url, str(err)) == ("GET", "http://x/y", "slow")

    def test_validation_error_defaults(self) -> None:
        err = ResponseValidationError("bad")
        assert err.path is None
        assert err.problems == []
        assert err.body_excerpt == ""

    def test_wait_timeout_last_state(self) -> None:
        assert WaitTimeoutError("t", last_state={"s": 1}).last_state == {"s": 1}


def test_a_status_error_repr_is_its_one_line_message() -> None:
    from controldeck.errors import NotFoundError

    err = NotFoundError("no such run", status_code=404, code="not_found", request_id="r-1")
    assert repr(err) == "NotFoundError('HTTP 404 [not_found]: no such run [request id: r-1]')"
