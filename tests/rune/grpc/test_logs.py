"""`RuneClient.logs()` over gRPC (LogService/StreamLogs) against FakeRune's grpcio server.

What is checked: the exact `LogRequest`s the fake received (`grpc_fake.grpc_messages`), the
decoded `LogResponse` lines, following and both answers to a parameter update, deadlines,
auth, validation before sending, closing mid-stream and thread hygiene.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from controldeck.errors import (
    APITimeoutError,
    AuthenticationError,
    ControlDeckError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    StreamError,
)
from controldeck.rune import RuneClient
from controldeck.testing.rune import FakeRune

RPC = "LogService/StreamLogs"
T0 = datetime(2025, 11, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def fake(grpc_fake: FakeRune) -> FakeRune:
    """The fake with service `api` (one running instance, `api-0`) and three known lines."""
    grpc_fake.add_service("api", scale=1)
    with grpc_fake.lock:
        grpc_fake.logs.clear()  # the instance's own start-up lines
    grpc_fake.add_log_lines(
        "api-0",
        [
            {"content": "alpha ready", "time": T0.timestamp()},
            {"content": "beta error: disk", "time": (T0 + timedelta(minutes=1)).timestamp()},
            {"content": "gamma warn", "time": (T0 + timedelta(minutes=2)).timestamp()},
        ],
    )
    return grpc_fake


@pytest.fixture
def rune(fake: FakeRune, grpc_client: RuneClient) -> RuneClient:
    return grpc_client


def sent(fake: FakeRune) -> list[dict[str, Any]]:
    """Every LogRequest the fake received, in order."""
    return [message for rpc, message in fake.grpc_messages if rpc == RPC]


def opened(fake: FakeRune) -> int:
    """How many StreamLogs calls reached the fake."""
    return sum(1 for r in fake.requests if r.path == f"/rune.api.{RPC}")


def client(fake: FakeRune, token: str, **kwargs: Any) -> RuneClient:
    return RuneClient(
        fake.url,
        token=token,
        transport="grpc",
        grpc_target=fake.grpc_target,
        timeout=(2, 5),
        max_retries=0,
        **kwargs,
    )


def wait_until(predicate: Any, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


# -- the first request -----------------------------------------------------------------


class TestFirstRequest:
    def test_defaults_send_only_target_and_namespace(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api") as lines:
            contents = [line.content for line in lines]
        assert contents == ["alpha ready", "beta error: disk", "gamma warn"]
        assert sent(fake) == [{"resourceTarget": "api", "namespace": "default"}]

    def test_every_parameter_given_is_sent_as_protojson(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        since = datetime(2025, 11, 7, 11, 0, tzinfo=timezone(timedelta(hours=1)))
        with rune.logs(
            "service/api",
            "default",
            follow=False,
            tail=2,
            since=since,
            until="2025-11-07T10:01:30Z",
            timestamps=True,
            filter="a",
        ) as lines:
            got = list(lines)
        assert sent(fake) == [
            {
                "resourceTarget": "service/api",
                "namespace": "default",
                "tail": 2,
                "since": "2025-11-07T10:00:00Z",  # the aware datetime, in UTC
                "until": "2025-11-07T10:01:30Z",
                "timestamps": True,
                "filter": "a",
            }
        ]
        assert [line.content for line in got] == ["alpha ready", "beta error: disk"]

    def test_lines_decode_into_log_responses(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.logs("instance/api-0", tail=2, timestamps=True) as lines:
            beta, gamma = list(lines)
        instance = rune.list_instances("default")[0]
        assert (beta.service_name, beta.instance_name, beta.instance_id) == (
            "api",
            "api-0",
            instance.id,
        )
        assert (beta.content, beta.stream, beta.log_level) == (
            "beta error: disk",
            "stdout",
            "error",
        )
        assert gamma.log_level == "warning"
        assert datetime.fromisoformat(beta.timestamp) == T0 + timedelta(minutes=1)
        assert beta.status is None

    def test_metadata_carries_the_token_and_extra_headers(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", extra_headers={"X-Trace": "t-1"}) as lines:
            list(lines)
        request = next(r for r in fake.requests if r.path == f"/rune.api.{RPC}")
        assert request.headers["authorization"] == f"Bearer {fake.seed_token}"
        assert request.headers["x-trace"] == "t-1"


# -- following and parameter updates ---------------------------------------------------


class TestFollow:
    def test_follow_streams_lines_added_later(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.logs("api", follow=True, tail=1) as lines:
            assert next(lines).content == "gamma warn"
            wait_until(lambda: fake.log_followers == 1)
            fake.add_log_lines("api-0", ["delta"])
            assert next(lines).content == "delta"
        assert sent(fake) == [
            {"resourceTarget": "api", "namespace": "default", "follow": True, "tail": 1}
        ]
        wait_until(lambda: fake.log_followers == 0)

    def test_update_sends_the_whole_merged_set_and_follows_on(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", follow=True, tail=1, timestamps=True) as lines:
            assert next(lines).content == "gamma warn"
            lines.update_log_params(filter="error", tail=5)
            beta = next(lines)
            assert beta.content == "beta error: disk"
            assert beta.timestamp  # timestamps kept from the first request
            wait_until(lambda: fake.log_followers == 1)
            fake.add_log_lines("api-0", ["no match", "late error"])
            assert next(lines).content == "late error"  # the new filter applies to new lines
        assert sent(fake) == [
            {
                "resourceTarget": "api",
                "namespace": "default",
                "follow": True,
                "tail": 1,
                "timestamps": True,
            },
            {
                "resourceTarget": "api",
                "namespace": "default",
                "follow": True,
                "tail": 5,
                "timestamps": True,
                "filter": "error",
                "parameterUpdate": True,
            },
        ]
        assert opened(fake) == 1

    def test_none_clears_a_parameter(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.logs("api", follow=True, filter="alpha", since="2025-11-07T09:00:00Z") as lines:
            assert next(lines).content == "alpha ready"
            lines.update_log_params(filter=None, since=None, tail=1)
            assert next(lines).content == "gamma warn"
        assert sent(fake)[1] == {
            "resourceTarget": "api",
            "namespace": "default",
            "follow": True,
            "tail": 1,
            "parameterUpdate": True,
        }

    def test_an_older_runed_ending_the_stream_is_reopened_with_the_merged_parameters(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        fake.log_update_mode = "restart"
        with rune.logs("api", follow=True, tail=1) as lines:
            assert next(lines).content == "gamma warn"
            lines.update_log_params(filter="beta", tail=3)
            assert next(lines).content == "beta error: disk"  # from the reopened call
            wait_until(lambda: fake.log_followers == 1)
            fake.add_log_lines("api-0", ["beta again", "other"])
            assert next(lines).content == "beta again"
        merged = {
            "resourceTarget": "api",
            "namespace": "default",
            "follow": True,
            "tail": 3,
            "filter": "beta",
        }
        assert sent(fake) == [
            {"resourceTarget": "api", "namespace": "default", "follow": True, "tail": 1},
            {**merged, "parameterUpdate": True},
            merged,  # the reopened call's first request: no parameterUpdate
        ]
        assert opened(fake) == 2

    def test_a_second_update_while_the_restart_is_pending_is_not_lost(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        fake.log_update_mode = "restart"
        with rune.logs("api", follow=True, tail=1) as lines:
            assert next(lines).content == "gamma warn"
            lines.update_log_params(filter="a")
            wait_until(lambda: fake.log_followers == 0)  # the server ended the call
            lines.update_log_params(tail=1)
            assert next(lines).content == "gamma warn"
        assert sent(fake)[-1] == {
            "resourceTarget": "api",
            "namespace": "default",
            "follow": True,
            "tail": 1,
            "filter": "a",
        }
        assert opened(fake) == 2

    def test_update_from_another_thread_while_the_loop_waits(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", follow=True, tail=1) as lines:
            assert next(lines).content == "gamma warn"
            timer = threading.Timer(0.05, lines.update_log_params, kwargs={"filter": "alpha"})
            timer.start()
            assert next(lines).content == "alpha ready"
            timer.join()

    def test_an_internal_error_without_an_update_is_not_mistaken_for_a_restart(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        fake.fail_rpc("StreamLogs", "internal", "log streaming error: parameter update requested")
        with rune.logs("api", follow=True) as lines, pytest.raises(InternalServerError) as info:
            next(lines)
        assert info.value.code == "internal"
        assert opened(fake) == 1


class TestUpdateRefusals:
    def test_no_parameter_and_bad_values_send_nothing(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", follow=True, tail=1) as lines:
            next(lines)
            with pytest.raises(InvalidArgumentError, match="at least one"):
                lines.update_log_params()
            with pytest.raises(InvalidArgumentError, match="tail"):
                lines.update_log_params(tail=-1)
            with pytest.raises(InvalidArgumentError, match="RFC 3339"):
                lines.update_log_params(since="5m")
        assert len(sent(fake)) == 1

    def test_after_close_or_the_end_it_is_a_stream_error(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        lines = rune.logs("api", follow=True)
        lines.close()
        with pytest.raises(StreamError, match="closed"):
            lines.update_log_params(tail=1)
        with rune.logs("api") as ended:
            list(ended)
            with pytest.raises(StreamError):
                ended.update_log_params(tail=1)

    def test_a_rest_stream_cannot_take_new_parameters(self, fake: FakeRune) -> None:
        with (
            RuneClient(fake.url, token=fake.seed_token, transport="rest") as rest,
            rest.logs("api") as lines,
        ):
            with pytest.raises(InvalidArgumentError, match="transport='grpc'"):
                lines.update_log_params(tail=1)
            assert [line.content for line in lines][-1] == "gamma warn"


# -- deadlines ---------------------------------------------------------------------------


class TestDeadlines:
    def test_not_following_the_read_timeout_bounds_the_whole_stream(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        fake.delay_rpc("StreamLogs", 1.0)
        started = time.monotonic()
        with rune.logs("api", timeout=(1, 0.1)) as lines, pytest.raises(APITimeoutError) as info:
            next(lines)
        assert time.monotonic() - started < 0.9
        assert "0.1s" in str(info.value)

    def test_following_has_no_deadline_unless_given(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.logs("api", follow=True, tail=1, timeout=(1, 0.05)) as lines:
            next(lines)
            time.sleep(0.15)  # three read timeouts of quiet
            fake.add_log_lines("api-0", ["still here"])
            assert next(lines).content == "still here"

    def test_following_with_a_deadline_ends_with_a_timeout(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", follow=True, tail=1, deadline=0.15) as lines:
            next(lines)
            with pytest.raises(APITimeoutError):
                next(lines)


# -- errors ------------------------------------------------------------------------------


class TestErrors:
    def test_unauthenticated(self, fake: FakeRune) -> None:
        with (
            client(fake, "not-a-real-token-123") as stranger,
            stranger.logs("api") as lines,
            pytest.raises(AuthenticationError) as info,
        ):
            next(lines)
        err = info.value
        assert (err.status_code, err.code, err.message) == (
            401,
            "unauthenticated",
            "invalid bearer token",
        )
        assert "not-a-real-token-123" not in str(err) + repr(err)
        assert sent(fake) == []

    def test_permission_denied(self, fake: FakeRune) -> None:
        with fake.lock:
            fake.policies["no-logs"] = {
                "id": "p-no-logs",
                "name": "no-logs",
                "description": "",
                "rules": [{"resource": "services", "verbs": ["get"], "namespace": "*"}],
                "builtin": False,
            }
        token = fake.issue_token("reader", policies=["no-logs"])
        with (
            client(fake, token) as reader,
            reader.logs("api", follow=True) as lines,
            pytest.raises(PermissionDeniedError) as info,
        ):
            next(lines)
        assert info.value.status_code == 403
        assert info.value.message == "access denied for resource: logs verb: get"

    def test_an_unknown_target_is_not_found(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.logs("nope") as lines, pytest.raises(NotFoundError) as info:
            next(lines)
        assert info.value.code == "not_found"

    def test_the_server_going_away_mid_stream_ends_it_or_raises_a_controldeck_error(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", follow=True, tail=1) as lines:
            next(lines)
            wait_until(lambda: fake.log_followers == 1)
            fake.stop()
            try:
                rest = list(lines)  # the fake ends its streams cleanly when it stops
            except ControlDeckError:
                rest = []  # a server that drops the connection: still ours, never grpc's
        assert rest == []
        assert lines.closed


# -- validation before sending ------------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"target": ""}, "target"),
            ({"target": 5}, "target"),
            ({"namespace": ""}, "namespace"),
            ({"follow": "yes"}, "follow"),
            ({"tail": -1}, "tail"),
            ({"tail": 2**31}, "tail"),
            ({"tail": True}, "tail"),
            ({"since": "10m"}, "RFC 3339"),
            ({"since": "2025-11-07 10:00:00Z"}, "RFC 3339"),
            ({"until": "2025-13-40T10:00:00Z"}, "RFC 3339"),
            ({"since": datetime(2025, 1, 1)}, "timezone-aware"),
            ({"timestamps": 1}, "timestamps"),
            ({"filter": ""}, "filter"),
            ({"filter": 3}, "filter"),
            ({"timeout": 0}, "timeout"),
            ({"deadline": -1}, "deadline"),
            ({"bogus": 1}, "bogus"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self, fake: FakeRune, rune: RuneClient, kwargs: dict[str, Any], match: str
    ) -> None:
        args: dict[str, Any] = {"target": "api", **kwargs}
        with pytest.raises(InvalidArgumentError, match=match):
            rune.logs(**args)
        assert sent(fake) == []
        assert opened(fake) == 0

    def test_connect_points_to_the_grpc_transport(self, fake: FakeRune) -> None:
        with (
            RuneClient(fake.url, token=fake.seed_token) as connect,
            pytest.raises(InvalidArgumentError, match="transport='grpc'"),
        ):
            connect.logs("api")
        assert fake.requests == []

    @pytest.mark.parametrize("kwargs", [{"until": "2025-11-07T10:00:00Z"}, {"filter": "x"}])
    def test_rest_refuses_until_and_filter(self, fake: FakeRune, kwargs: dict[str, Any]) -> None:
        with (
            RuneClient(fake.url, token=fake.seed_token, transport="rest") as rest,
            pytest.raises(InvalidArgumentError, match="transport='grpc'"),
        ):
            rest.logs("api", **kwargs)
        assert fake.requests == []


# -- closing -----------------------------------------------------------------------------


class TestClosing:
    def test_close_from_another_thread_ends_a_waiting_loop(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        lines = rune.logs("api", follow=True, tail=1)
        next(lines)
        timer = threading.Timer(0.05, lines.close)
        timer.start()
        started = time.monotonic()
        assert list(lines) == []  # ends quietly, no error
        assert time.monotonic() - started < 1
        timer.join()
        assert lines.closed
        wait_until(lambda: fake.log_followers == 0)

    def test_leaving_the_block_mid_stream_cancels_the_call(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.logs("api", follow=True) as lines:
            next(lines)
            wait_until(lambda: fake.log_followers == 1)
        wait_until(lambda: fake.log_followers == 0)
        assert next(lines, None) is None

    def test_fifty_streams_leave_no_thread_behind(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.logs("api") as warm:  # the channel's own threads exist from here on
            list(warm)
        before = client_threads()
        for i in range(50):
            lines = rune.logs("api", follow=i % 2 == 0, tail=1)
            next(lines)
            lines.close()
        deadline = time.monotonic() + 1.0
        while client_threads() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client_threads() <= before, [t.name for t in threading.enumerate()]


def client_threads() -> int:
    """`threading.active_count()` without the fake's own server threads (its grpc worker
    pool grows on demand, which says nothing about the client)."""
    return threading.active_count() - sum(
        1 for t in threading.enumerate() if t.name.startswith("FakeRune")
    )
