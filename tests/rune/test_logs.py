"""Rune logs over the REST gateway's Server-Sent Events, and the refusal on Connect.

The spec-checked tests use the `responses` mock; the wire tests use a raw loopback server
to split events across chunks, end a followed stream and hold it quiet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from controldeck._generated.rune import LogResponse
from controldeck.errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidArgumentError,
    NotFoundError,
    ResponseValidationError,
    StreamError,
)
from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock
from tests.rune.conftest import AUTH, REST, TOKEN
from tests.wire.server import (
    LAST_CHUNK,
    RESET,
    Delay,
    Server,
    chunk,
    response,
    stream_head,
)

LOGS = f"{REST}/namespaces/default/logs/api"


def line(content: str, n: int = 1, **fields: Any) -> dict[str, Any]:
    """A `LogResponse` as protojson writes it (every field)."""
    data: dict[str, Any] = {
        "serviceName": "api",
        "instanceId": f"inst-{n}",
        "instanceName": f"api-{n}",
        "timestamp": "",
        "content": content,
        "stream": "stdout",
        "status": None,
        "logLevel": "info",
    }
    data.update(fields)
    return data


def event(data: Any, name: str | None = None, id_: str | None = None) -> bytes:
    head = (f"event: {name}\n" if name else "") + (f"id: {id_}\n" if id_ else "")
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def raw_query(call: Any) -> str:
    url: str = call.request.url
    return url.split("?", 1)[1] if "?" in url else ""


# -- over the spec-checked mock ---------------------------------------------------------


class TestLogs:
    def test_every_event_with_data_is_a_line_whatever_its_name(
        self, api: ConformanceMock, rest: RuneClient
    ) -> None:
        body = (
            b": connected\n\n"
            + event(line("starting"), "log", "1")
            + b"event: ping\n\n"  # no data: never dispatched
            + event(line("warn: slow", stream="stderr", logLevel="warn"), "status")
            + b"event: keepalive\ndata:\n\n"  # empty data: skipped
            + event(line("listening on :8080", 2))  # no event name ("message")
            + event(line("custom"), "rune.weird-name")
        )
        api.get(LOGS, body=body, content_type="text/event-stream")
        with rest.logs("api") as stream:
            got = list(stream)
        assert all(isinstance(g, LogResponse) for g in got)
        assert [g.content for g in got] == [
            "starting",
            "warn: slow",
            "listening on :8080",
            "custom",
        ]
        assert got[1].stream == "stderr" and got[1].log_level == "warn"
        assert got[2].instance_name == "api-2"
        assert stream.closed
        request = api.calls[0].request
        assert request.method == "GET"
        assert request.headers["Accept"] == "text/event-stream"
        assert request.headers["Authorization"] == AUTH
        assert raw_query(api.calls[0]) == ""  # defaults send nothing

    def test_the_query_is_exact(self, api: ConformanceMock, rest: RuneClient) -> None:
        url = f"{REST}/namespaces/prod/logs/api-1"
        api.get(url, body=event(line("x")), content_type="text/event-stream")
        with rest.logs(
            "api-1", "prod", follow=True, tail=10, since="2025-11-07T10:00:00Z", timestamps=True
        ) as stream:
            assert [g.content for g in stream] == ["x"]
        assert raw_query(api.calls[0]) == (
            "follow=true&tail=10&since=2025-11-07T10%3A00%3A00Z&timestamps=true"
        )
        assert api.calls[0].request.url.split("?")[0] == url

    def test_since_as_a_duration_or_an_aware_datetime(
        self, api: ConformanceMock, rest: RuneClient
    ) -> None:
        api.get(LOGS, body=b"", content_type="text/event-stream")
        with rest.logs("api", since="10m", tail=0) as stream:
            assert list(stream) == []
        when = datetime(2025, 11, 7, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        with rest.logs("api", since=when) as stream:
            assert list(stream) == []
        assert raw_query(api.calls[0]) == "tail=0&since=10m"
        assert raw_query(api.calls[1]) == "since=2025-11-07T12%3A00%3A00%2B02%3A00"

    def test_target_and_namespace_are_path_segments(
        self, api: ConformanceMock, rest: RuneClient
    ) -> None:
        url = f"{REST}/namespaces/team%20a/logs/instance%2Fabc"
        api.get(url, body=b"", content_type="text/event-stream")
        with rest.logs("instance/abc", "team a") as stream:
            assert list(stream) == []
        assert api.calls[0].request.url == url

    def test_extra_headers_are_merged(self, api: ConformanceMock, rest: RuneClient) -> None:
        api.get(LOGS, body=event(line("x")), content_type="text/event-stream")
        with rest.logs("api", extra_headers={"X-Trace": "t-1"}, timeout=(1, 5)) as stream:
            list(stream)
        headers = api.calls[0].request.headers
        assert headers["X-Trace"] == "t-1" and headers["Accept"] == "text/event-stream"

    def test_a_refusal_is_the_mapped_error(self, api: ConformanceMock, rest: RuneClient) -> None:
        api.get(
            LOGS, json={"code": 5, "message": "service not found: api", "details": []}, status=404
        )
        with pytest.raises(NotFoundError, match="service not found: api") as info:
            rest.logs("api")
        assert info.value.code == "not_found"

    @pytest.mark.off_spec("event data that is not JSON")
    def test_bad_json_is_a_stream_error_while_iterating(
        self, api: ConformanceMock, rest: RuneClient
    ) -> None:
        body = event(line("ok"), "log") + b"event: log\ndata: {not json\n\n" + event(line("z"))
        api.get(LOGS, body=body, content_type="text/event-stream")
        with rest.logs("api") as stream:
            assert next(stream).content == "ok"
            with pytest.raises(StreamError, match="not JSON") as info:
                next(stream)
            assert stream.closed
        assert "/v1/namespaces/default/logs/api" in str(info.value)
        assert TOKEN not in str(info.value)

    @pytest.mark.off_spec("event data that is not a LogResponse")
    def test_data_of_the_wrong_shape_is_a_validation_error(
        self, api: ConformanceMock, rest: RuneClient
    ) -> None:
        api.get(LOGS, body=b"data: [1, 2]\n\n", content_type="text/event-stream")
        with rest.logs("api") as stream, pytest.raises(ResponseValidationError):
            next(stream)

    def test_connect_refuses_with_a_pointer_to_the_grpc_extra(
        self, api: ConformanceMock, client: RuneClient
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            client.logs("api", follow=True)
        message = str(info.value)
        assert "transport='rest'" in message
        assert "pip install 'controldeck[grpc]'" in message
        assert "bidirectional gRPC" in message
        assert len(api.calls) == 0

    @pytest.mark.parametrize(
        ("args", "kwargs", "match"),
        [
            (("",), {}, "target must not be empty"),
            ((None,), {}, "target must be a string"),
            (("api", ""), {}, "namespace must not be empty"),
            (("api",), {"follow": "true"}, "follow must be True or False"),
            (("api",), {"timestamps": 1}, "timestamps must be True or False"),
            (("api",), {"tail": -1}, "tail must be between 0 and 2147483647"),
            (("api",), {"tail": "10"}, "tail must be an int"),
            (("api",), {"since": ""}, "since must not be empty"),
            (("api",), {"since": datetime(2025, 1, 1)}, "since must be a timezone-aware"),
            (("api",), {"since": 1730937600}, "since must be a string"),
        ],
    )
    def test_bad_arguments_send_nothing(
        self,
        api: ConformanceMock,
        rest: RuneClient,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        match: str,
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            rest.logs(*args, **kwargs)
        assert len(api.calls) == 0


# -- over a raw loopback server ---------------------------------------------------------


@pytest.fixture
def connect() -> Iterator[Any]:
    made: list[RuneClient] = []

    def make(server: Server, **kwargs: Any) -> RuneClient:
        c = RuneClient(server.base_url, token=TOKEN, transport="rest", max_retries=0, **kwargs)
        c._transport.sleep = lambda _: pytest.fail("a log stream never waits to reconnect")
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


class TestLogsOnTheWire:
    def test_events_split_across_chunks(self, connect: Any) -> None:
        data = (
            b": hello\r\n\r\n"
            + event(line("first"), "log", "7").replace(b"\n", b"\r\n")
            + event(line("caf\u00e9 \u2615"), "stderr")
            + event(line("third"))
        )
        cuts = [3, 10, 11, 40, 41, 42, 90, len(data) - 1]
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        script = [stream_head(), *(chunk(p) for p in pieces if p), LAST_CHUNK]
        with Server([script]) as server, connect(server).logs("api") as stream:
            got = [g.content for g in stream]
        assert got == ["first", "caf\u00e9 \u2615", "third"]
        request = server.requests[0]
        assert request.target == "/v1/namespaces/default/logs/api"
        assert request.headers["accept"] == "text/event-stream"
        assert request.headers["authorization"] == AUTH

    def test_follow_ends_at_a_clean_eof_without_a_second_request(self, connect: Any) -> None:
        script = [
            stream_head(),
            chunk(event(line("a"), "log", "1")),
            chunk(event(line("b"))),
            LAST_CHUNK,
        ]
        with Server([script]) as server:
            with connect(server).logs("api", follow=True, tail=2) as stream:
                assert [g.content for g in stream] == ["a", "b"]
                assert stream.closed
            assert len(server.requests) == 1
        assert server.requests[0].query == {"follow": ["true"], "tail": ["2"]}

    def test_a_close_delimited_body_ends_the_same_way(self, connect: Any) -> None:
        script = [stream_head(chunked=False), event(line("only"))]
        with Server([script]) as server:
            with connect(server).logs("api", follow=True) as stream:
                assert [g.content for g in stream] == ["only"]
            assert len(server.requests) == 1

    def test_a_drop_while_following_is_an_error_not_a_reconnect(self, connect: Any) -> None:
        script = [stream_head(), chunk(event(line("a"))), chunk(b'data: {"cont'), RESET]
        with Server([script]) as server:
            with connect(server).logs("api", follow=True) as stream:
                assert next(stream).content == "a"
                with pytest.raises(APIConnectionError, match="dropped"):
                    next(stream)
            assert len(server.requests) == 1

    def test_following_has_no_read_limit(self, connect: Any) -> None:
        script = [
            stream_head(),
            chunk(event(line("a"))),
            Delay(0.15),
            chunk(event(line("b"))),
            LAST_CHUNK,
        ]
        with Server([script]) as server:
            client = connect(server, timeout=(1, 0.05))
            with client.logs("api", follow=True) as stream:
                assert [g.content for g in stream] == ["a", "b"]

    def test_without_follow_the_read_timeout_bounds_each_wait(self, connect: Any) -> None:
        script = [
            stream_head(),
            chunk(event(line("a"))),
            Delay(0.15),
            chunk(event(line("b"))),
            LAST_CHUNK,
        ]
        with Server([script]) as server:
            client = connect(server)
            with client.logs("api", timeout=(1, 0.05)) as stream:
                assert next(stream).content == "a"
                with pytest.raises(APITimeoutError, match="idle timeout"):
                    next(stream)

    def test_a_refusal_before_the_stream_is_raised_at_once(self, connect: Any) -> None:
        refusal = response(
            403, {"code": 7, "message": "access denied for resource: logs verb: get"}
        )
        with Server([refusal]) as server:
            with pytest.raises(Exception, match="access denied") as info:
                connect(server).logs("api", follow=True)
            assert type(info.value).__name__ == "PermissionDeniedError"
            assert len(server.requests) == 1


def test_since_utc_datetime(api: ConformanceMock, rest: RuneClient) -> None:
    api.get(LOGS, body=b"", content_type="text/event-stream")
    with rest.logs("api", since=datetime(2025, 11, 7, 10, 0, tzinfo=UTC)) as stream:
        list(stream)
    assert raw_query(api.calls[0]) == "since=2025-11-07T10%3A00%3A00%2B00%3A00"
