"""`make bench` runs: every row once at tiny sizes, the canned server, the verdicts, the report.

Speed is never asserted here; only that each row measures real work and reports sane
figures, and that the table and docs/benchmarks.md say what the numbers mean.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import socket
import threading
from pathlib import Path

import pytest

import benchmarks.__main__ as cli
from benchmarks._harness import (
    QUICK,
    ROWS,
    TINY,
    Env,
    Result,
    Row,
    Samples,
    format_markdown,
    format_table,
    run_rows,
)
from benchmarks._server import CannedServer
from benchmarks.rows import gateway, gateway_page


def test_every_row_runs_at_tiny_scale_with_sane_figures() -> None:
    threads_before = threading.active_count()
    results = run_rows(ROWS, TINY)

    assert [r.row.name.strip() for r in results] == [
        "RunbeamClient.get_gateway(), per call",
        "the same vs a bare GET that also sets the timeout",
        "RunbeamClient.list_gateways(), one page, end to end",
        "the fetch alone: requests .get(url).content",
        "list_gateways() iterated lazily, many pages: peak traced memory",
        "python -c 'import controldeck.runbeam'",
        "python -c 'import controldeck'",
        "SSE: small events through Stream, throughput",
        "the same vs a reader that only slices out data",
        "AkribesClient.project(pid).scripts.get(), per call",
        "SSE: hub engine events through client.events(pid), throughput",
        "BeampipeClient.get_execution_status(), per call",
        "BeampipeClient.wait_for_execution(), cost per poll",
        "RuneClient.get_service() over Connect, per call",
        "Rune watch_services(): Connect envelopes through Stream, throughput",
        "RuneClient.get_service() over gRPC, per call",
        "Rune logs() over gRPC StreamLogs, throughput",
        "RunAgentClient.run(), per call",
        "RunAgentClient.run_stream(), cost per frame",
    ]
    for result in results:
        figures = result.samples.baseline + result.samples.sdk
        assert len(result.samples.baseline) == len(result.samples.sdk) == 1
        assert all(math.isfinite(f) and f > 0 for f in figures), result
        if result.row.unit == "s":
            assert max(figures) < 30, result  # seconds: a hang or a retry loop shows here
        elif result.row.unit == "events/s":
            assert min(figures) > 100, result  # a stream that stalls shows here
        else:
            assert 1_000 < max(figures) < 100 * 2**20, result  # bytes: traced, and bounded
        assert math.isfinite(result.ratio)
    # Every server stopped and joined its threads; every client and session closed.
    assert threading.active_count() == threads_before


def test_server_answers_canned_bytes_on_one_kept_alive_connection() -> None:
    def body(target: str) -> bytes | None:
        return b'{"t":"%s"}' % target.encode() if target.startswith("/a") else None

    with CannedServer(body) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        # Two pipelined requests and a third for an unknown path, all on one connection.
        s.sendall(
            b"GET /a?page=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first = b'{"t":"/a?page=2"}'
        second = b'{"t":"/a"}'
        expected = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        ) % (len(first), first, len(second), second)
        received = b""
        while len(received) < len(expected):
            chunk = s.recv(65536)
            assert chunk, received
            received += chunk
        assert received == expected
        assert (server.connections, server.requests) == (1, 3)


def test_server_closes_the_connection_and_reraises_when_the_body_fails() -> None:
    def body(target: str) -> bytes:
        raise LookupError(target)

    server = CannedServer(body)
    with (
        pytest.raises(LookupError, match="/boom"),
        server,
        socket.create_connection(("127.0.0.1", server.port)) as s,
    ):
        s.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100) == b""  # closed, not left waiting for a reply
    assert server.requests == 0


def test_gateway_page_is_a_laravel_envelope_with_consistent_meta() -> None:
    items = json.dumps([gateway(1), gateway(2)]).encode()
    page = json.loads(gateway_page(items, 2, 3, 3, 5))

    assert [g["code"] for g in page["data"]] == ["gateway-1", "gateway-2"]
    assert page["links"] == {
        "first": "https://runbeam.example/api/gateways?page=1",
        "last": "https://runbeam.example/api/gateways?page=3",
        "prev": "https://runbeam.example/api/gateways?page=2",
        "next": None,
    }
    assert page["meta"] == {
        "current_page": 3, "from": 11, "last_page": 3, "path": "https://runbeam.example/api/gateways",
        "per_page": 5, "to": 12, "total": 12,
    }  # fmt: skip


def _result(baseline: list[float], sdk: list[float], **row: object) -> Result:
    fields: dict[str, object] = {"name": "r", "baseline": "b", "unit": "s", "target": 1.5}
    fields.update(row)
    return Result(Row(measure=lambda env: Samples([], []), **fields), Samples(baseline, sdk))  # type: ignore[arg-type]


def test_verdicts_use_medians_direction_and_ratio_or_delta() -> None:
    # Medians 2 and 3: ratio 1.5 meets "<= 1.5" exactly; outliers do not move a median.
    assert _result([1, 2, 90], [3, 3, 0.1]).ratio == 1.5
    assert _result([1, 2, 90], [3, 3, 0.1]).within is True
    assert _result([2], [3.1]).within is False
    assert _result([2], [3.1], direction=">=").within is True
    assert _result([0.2], [0.29], target=0.1, compare="delta").within is True
    assert _result([0.2], [0.31], target=0.1, compare="delta").within is False
    assert _result([1], [9], target=None).within is None


def test_table_marks_misses_and_shows_median_min_max() -> None:
    table = format_table(
        [
            _result([0.002, 0.001, 0.003], [0.004, 0.005, 0.006], name="slow row"),
            _result([0.2], [0.25], name="import row", target=0.1, compare="delta"),
            _result([2.0 * 2**20], [1024.0], name="memory", unit="B", target=None),
        ]
    )
    cells = [re.split(r"\s{2,}", line) for line in table.splitlines()]

    assert cells == [
        ["Row", "Baseline", "Baseline figure", "SDK figure", "SDK vs baseline", "Target"],
        ["slow row", "b", "2.0 ms [1.0 ms .. 3.0 ms]", "5.0 ms [4.0 ms .. 6.0 ms]", "2.50x",
         "≤ 1.50x", "MISS"],
        ["import row", "b", "200.0 ms", "250.0 ms", "+50.0 ms (1.25x)", "≤ +100.0 ms", "ok"],
        ["memory", "b", "2.00 MiB", "1.0 KiB", "0.00x", "—", "info"],
        ["1 of 2 targets missed"],
    ]  # fmt: skip


def test_markdown_report_names_machine_date_and_escapes_cells() -> None:
    when = datetime.datetime(2025, 3, 4, 5, 6, tzinfo=datetime.UTC)
    text = format_markdown([_result([1.0], [2.0], name="a | b")], QUICK, when=when)

    assert text.startswith("# Benchmarks\n")
    assert "- Date: 2025-03-04 05:06 UTC\n" in text
    assert "- Machine: " in text
    assert "- Python: CPython 3." in text
    assert "- Scale: quick, 5 repetitions per side\n" in text
    assert "- Targets missed: 1\n" in text
    assert "| a \\| b | b | 1.00 s | 2.00 s | 2.00x | ≤ 1.50x | MISS |" in text


def test_cli_prints_writes_and_exits_0_even_when_targets_are_missed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def measure(env: Env) -> Samples:
        calls.append(env.scale.name)
        return env.compare(lambda: 1.0, lambda: 5.0, figure="value")

    fake = Row("fake row", "nothing", "s", measure, target=1.1)
    other = Row("other row", "nothing", "s", measure, target=1.1)
    monkeypatch.setattr(cli, "ROWS", [fake, other])
    report = tmp_path / "benchmarks.md"

    assert cli.main(["--quick", "--only", "fake", "--write", str(report)]) == 0

    assert calls == ["quick"]
    out = capsys.readouterr().out
    assert "fake row" in out
    assert "other row" not in out
    assert "5.00x" in out
    assert "MISS" in out
    row_line = (
        "| fake row | nothing | 1.00 s [1.00 s .. 1.00 s] | 5.00 s [5.00 s .. 5.00 s] | 5.00x |"
    )
    assert row_line + " ≤ 1.10x | MISS |" in report.read_text()


def test_compare_warms_up_then_alternates_sides() -> None:
    order: list[str] = []

    def side(name: str, figure: int) -> int:
        order.append(name)
        return figure

    samples = Env(QUICK).compare(
        lambda: side("b", 1), lambda: side("s", 2), figure="value", repeats=2
    )

    assert order == ["b", "s", "b", "s", "b", "s"]
    assert samples == Samples([1.0, 1.0], [2.0, 2.0])


def test_a_value_row_must_return_a_number() -> None:
    with pytest.raises(TypeError, match="must return a number"):
        Env(TINY).compare(lambda: 1, lambda: "x", figure="value", warmup=False)
