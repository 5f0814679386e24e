"""The benchmark harness: rows, repetitions, medians, the table and docs/benchmarks.md.

A row is one function registered with `@row(...)` in `benchmarks/rows.py`. It sets up what
it needs (a `CannedServer`, a client), then hands two callables to `env.compare(...)`:
the baseline and the SDK. The harness runs them alternately `scale.repeats` times after a
warm-up and keeps every figure, so both sides see the same machine noise. The row's
result is the ratio (or, for `compare="delta"`, the difference) of the two medians,
checked against its target. Targets inform; nothing here fails the run.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FULL",
    "QUICK",
    "ROWS",
    "TINY",
    "Env",
    "Result",
    "Row",
    "Samples",
    "Scale",
    "format_markdown",
    "format_table",
    "machine",
    "python",
    "row",
    "run_rows",
]

Unit = Literal["s", "B", "events/s"]
"""Figures are seconds or bytes; the table picks µs/ms/s or KiB/MiB to show them."""


@dataclass(frozen=True)
class Scale:
    """How big and how often: one preset per use (test run, quick run, full run).

    Attributes:
        name: Shown in the report header.
        repeats: Figures kept per side of a row; the result uses their medians.
        calls: Calls timed together for one per-call figure.
        page_items: Items on the single big page of the decode row.
        pages_small: Pages in the small (baseline) pagination run.
        pages_large: Pages in the large pagination run.
        per_page: Items on each page of the pagination runs.
        heavy_repeats: Repetitions for rows whose single figure takes seconds (traced
            memory); their figures barely vary.
        sse_events: Server-sent events in one stream of the SSE throughput row.
    """

    name: str
    repeats: int
    calls: int
    page_items: int
    pages_small: int
    pages_large: int
    per_page: int
    heavy_repeats: int
    sse_events: int


TINY = Scale(
    "tiny", repeats=1, calls=5, page_items=50, pages_small=2, pages_large=4, per_page=5,
    heavy_repeats=1, sse_events=200,
)  # fmt: skip
# Quick walks 100 pages, not 1,000: tracemalloc slows decoding about eightfold, and the
# ratio already shows whether memory grows with the number of pages.
QUICK = Scale(
    "quick", repeats=5, calls=300, page_items=10_000, pages_small=10, pages_large=100,
    per_page=100, heavy_repeats=1, sse_events=50_000,
)  # fmt: skip
FULL = Scale(
    "full", repeats=15, calls=1_000, page_items=10_000, pages_small=10, pages_large=1_000,
    per_page=100, heavy_repeats=3, sse_events=50_000,
)  # fmt: skip


@dataclass(frozen=True)
class Samples:
    """Every figure of both sides of one row, in the row's unit."""

    baseline: list[float]
    sdk: list[float]


class Env:
    """What a row function gets: the scale, and `compare` to take the figures.

    Args:
        scale: The preset to run at.

    Example:
        >>> env = Env(QUICK)
        >>> env.compare(lambda: json.loads(body), lambda: client.list_gateways())
    """

    def __init__(self, scale: Scale) -> None:
        self.scale = scale

    def compare(
        self,
        baseline: Callable[[], object],
        sdk: Callable[[], object],
        *,
        calls: int = 1,
        figure: Literal["time", "value"] = "time",
        repeats: int | None = None,
        warmup: bool = True,
    ) -> Samples:
        """Run both sides once to warm up, then alternately `scale.repeats` times each.

        Args:
            baseline: One baseline operation.
            sdk: The same operation through the SDK.
            calls: For `figure="time"`, how many operations make one figure (the figure is
                the mean per operation, so a fast call is not lost in timer resolution).
            figure: `"time"` times the callables (seconds per call); `"value"` keeps what
                they return, which must be a number (bytes of memory, seconds measured
                elsewhere).
            repeats: Figures per side instead of `scale.repeats`.
            warmup: False when one run is too slow to spend on warming up; the row then
                warms up itself (e.g. with a single page).

        Returns:
            `repeats` (default `scale.repeats`) figures per side.

        Raises:
            TypeError: A `"value"` callable returned something that is not a number.

        Example:
            >>> env.compare(lambda: s.get(url).json(), lambda: c.get_gateway("g"), calls=300)
        """

        def one(operation: Callable[[], object]) -> float:
            if figure == "value":
                value = operation()
                if not isinstance(value, int | float):
                    raise TypeError(f"a value row must return a number, got {value!r}")
                return float(value)
            started = time.perf_counter()
            for _ in range(calls):
                operation()
            return (time.perf_counter() - started) / calls

        if warmup:
            one(baseline)
            one(sdk)
        samples = Samples([], [])
        for _ in range(self.scale.repeats if repeats is None else repeats):
            samples.baseline.append(one(baseline))
            samples.sdk.append(one(sdk))
        return samples


@dataclass(frozen=True)
class Row:
    """One line of the report.

    Attributes:
        name: What the SDK side does, e.g. "get_gateway(), per call".
        baseline: What the baseline side does, e.g. "requests Session .get().json()".
        unit: The unit of every figure: "s", "B" or "events/s".
        measure: Takes the figures (see `Env.compare`).
        target: The bound the ratio (or difference) should meet; None for a row that only
            informs (e.g. how a total splits).
        direction: "<=" (smaller is better: time, memory) or ">=" (throughput).
        compare: "ratio" checks sdk/baseline against the target, "delta" checks
            sdk - baseline (in the row's unit: seconds, bytes).
    """

    name: str
    baseline: str
    unit: Unit
    measure: Callable[[Env], Samples]
    target: float | None
    direction: Literal["<=", ">="] = "<="
    compare: Literal["ratio", "delta"] = "ratio"


ROWS: list[Row] = []
"""Every row, in report order (the order `@row` registered them)."""


def row(
    name: str,
    *,
    baseline: str,
    unit: Unit,
    target: float | None,
    direction: Literal["<=", ">="] = "<=",
    compare: Literal["ratio", "delta"] = "ratio",
) -> Callable[[Callable[[Env], Samples]], Callable[[Env], Samples]]:
    """Register the decorated function as a row of the report (see `Row`).

    Args:
        name: What the SDK side does.
        baseline: What the baseline side does.
        unit: "s", "B" or "events/s".
        target: The bound for the ratio (or difference); None to only inform.
        direction: "<=" or ">=".
        compare: "ratio" or "delta".

    Returns:
        A decorator that appends the row to `ROWS` and returns the function unchanged.

    Example:
        >>> @row("get_gateway(), per call", baseline="bare requests", unit="s", target=1.10)
        ... def get_gateway(env: Env) -> Samples:
        ...     return env.compare(bare_call, sdk_call, calls=env.scale.calls)
    """

    def register(measure: Callable[[Env], Samples]) -> Callable[[Env], Samples]:
        ROWS.append(Row(name, baseline, unit, measure, target, direction, compare))
        return measure

    return register


@dataclass(frozen=True)
class Result:
    """A row's figures and verdict.

    Attributes:
        row: The row measured.
        samples: Every figure of both sides.
    """

    row: Row
    samples: Samples

    @property
    def baseline(self) -> float:
        """Median of the baseline figures."""
        return statistics.median(self.samples.baseline)

    @property
    def sdk(self) -> float:
        """Median of the SDK figures."""
        return statistics.median(self.samples.sdk)

    @property
    def ratio(self) -> float:
        """SDK median over baseline median (inf when the baseline is 0)."""
        return self.sdk / self.baseline if self.baseline else math.inf

    @property
    def delta(self) -> float:
        """SDK median minus baseline median, in the row's unit."""
        return self.sdk - self.baseline

    @property
    def within(self) -> bool | None:
        """Whether the target is met; None for a row without one."""
        target = self.row.target
        if target is None:
            return None
        value = self.ratio if self.row.compare == "ratio" else self.delta
        return value <= target if self.row.direction == "<=" else value >= target


def run_rows(
    rows: list[Row], scale: Scale, *, progress: Callable[[str], None] | None = None
) -> list[Result]:
    """Measure each row at `scale`.

    Args:
        rows: The rows to run, in order.
        scale: The preset.
        progress: Called with each row's name before it runs (the CLI prints it).

    Returns:
        One result per row.

    Example:
        >>> [r.ratio for r in run_rows(ROWS, TINY)]
    """
    env = Env(scale)
    results = []
    for each in rows:
        if progress is not None:
            progress(each.name)
        results.append(Result(each, each.measure(env)))
    return results


# -- rendering ----------------------------------------------------------------------------


def _amount(value: float, unit: Unit) -> str:
    if unit == "events/s":
        return f"{value / 1e3:,.0f}k ev/s"
    if unit == "B":
        return f"{value / 2**20:.2f} MiB" if abs(value) >= 2**20 else f"{value / 2**10:.1f} KiB"
    if abs(value) >= 1:
        return f"{value:.2f} s"
    return f"{value * 1e3:.1f} ms" if abs(value) >= 1e-3 else f"{value * 1e6:.0f} µs"


def _spread(values: list[float], unit: Unit) -> str:
    median = _amount(statistics.median(values), unit)
    if len(values) == 1:
        return median
    return f"{median} [{_amount(min(values), unit)} .. {_amount(max(values), unit)}]"


def _vs(result: Result) -> str:
    if result.row.compare == "ratio":
        return f"{result.ratio:.2f}x"
    sign = "+" if result.delta >= 0 else "-"
    return f"{sign}{_amount(abs(result.delta), result.row.unit)} ({result.ratio:.2f}x)"


def _target(each: Row) -> str:
    if each.target is None:
        return "—"
    direction = "≤" if each.direction == "<=" else "≥"
    if each.compare == "ratio":
        return f"{direction} {each.target:.2f}x"
    return f"{direction} +{_amount(each.target, each.unit)}"


def _verdict(result: Result) -> str:
    within = result.within
    return "info" if within is None else "ok" if within else "MISS"


_HEADER = ("Row", "Baseline", "Baseline figure", "SDK figure", "SDK vs baseline", "Target", "")


def _cells(result: Result) -> tuple[str, ...]:
    return (
        result.row.name,
        result.row.baseline,
        _spread(result.samples.baseline, result.row.unit),
        _spread(result.samples.sdk, result.row.unit),
        _vs(result),
        _target(result.row),
        _verdict(result),
    )


def format_table(results: list[Result]) -> str:
    """The results as an aligned plain-text table, misses marked `MISS`.

    Args:
        results: From `run_rows`.

    Returns:
        The table, one line per row under a header line.

    Example:
        >>> print(format_table(run_rows(ROWS, QUICK)))
    """
    lines = [_HEADER, *(_cells(r) for r in results)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADER))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    misses = sum(r.within is False for r in results)
    text.append(f"{misses} of {sum(r.row.target is not None for r in results)} targets missed")
    return "\n".join(t.rstrip() for t in text)


def machine() -> str:
    """One line naming the machine that ran the benchmarks.

    Returns:
        OS, CPU and core count.

    Example:
        >>> machine()
        'Linux-6.8.0-x86_64-with-glibc2.39, x86_64, 2 cores'
    """
    cpu = platform.processor() or platform.machine()
    return f"{platform.platform()}, {cpu}, {os.cpu_count()} cores"


def python() -> str:
    """The Python that ran the benchmarks.

    Returns:
        Implementation, version and build.

    Example:
        >>> python()
        'CPython 3.11.7 (main, Jan 10 2024, 12:00:00) [GCC 12.2.0]'
    """
    return f"{platform.python_implementation()} {sys.version}".replace("\n", " ")


def format_markdown(results: list[Result], scale: Scale, *, when: datetime.datetime) -> str:
    """The report written to docs/benchmarks.md.

    Args:
        results: From `run_rows`.
        scale: The preset they ran at.
        when: The run's date and time.

    Returns:
        Markdown: how to reproduce, the machine, then the table.

    Example:
        >>> format_markdown(results, FULL, when=datetime.datetime.now(datetime.UTC))
    """
    header = "| " + " | ".join(_HEADER[:-1]) + " | Result |"
    rule = "|" + "---|" * len(_HEADER)
    body = [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(r)) + " |" for r in results
    ]
    misses = sum(r.within is False for r in results)
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make bench` (`benchmarks/`, see `benchmarks/README.md`); do not edit.",
            "Each figure is the median of the repetitions with [min .. max]; baseline and SDK",
            "run alternately in the same process against the same loopback server. Targets",
            "inform, they do not gate.",
            "",
            f"- Date: {when.strftime('%Y-%m-%d %H:%M UTC')}",
            f"- Machine: {machine()}",
            f"- Python: {python()}",
            f"- Scale: {scale.name}, {scale.repeats} repetitions per side",
            f"- Targets missed: {misses}",
            "",
            header,
            rule,
            *body,
            "",
        ]
    )
