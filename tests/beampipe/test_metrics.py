"""`parse_metrics` / `metric_types`: the Prometheus text exposition format 0.0.4."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controldeck.beampipe._metrics import MetricSample, metric_types, parse_metrics
from controldeck.errors import InvalidArgumentError

# What metrics-exporter-prometheus (the server's exporter) renders, trimmed.
EXPOSITION = """\
# HELP beampipe_api_requests_total API requests by route and status
# TYPE beampipe_api_requests_total counter
beampipe_api_requests_total{method="GET",route="/api/v2/health",status="200"} 42
beampipe_api_requests_total{method="POST",route="/api/v2/executions",status="201"} 3

# TYPE beampipe_jobs_running gauge
beampipe_jobs_running 2
# TYPE beampipe_api_request_duration_seconds histogram
beampipe_api_request_duration_seconds_bucket{route="/api/v2/health",le="0.005"} 40
beampipe_api_request_duration_seconds_bucket{route="/api/v2/health",le="+Inf"} 42
beampipe_api_request_duration_seconds_sum{route="/api/v2/health"} 1.25e-1
beampipe_api_request_duration_seconds_count{route="/api/v2/health"} 42
# a free comment, ignored
beampipe_pending_age_seconds{module="wallaby_hires"} NaN 1763892000000
"""


def test_an_exposition_parses_into_its_samples_in_order() -> None:
    samples = parse_metrics(EXPOSITION)

    assert [s.name for s in samples] == [
        "beampipe_api_requests_total",
        "beampipe_api_requests_total",
        "beampipe_jobs_running",
        "beampipe_api_request_duration_seconds_bucket",
        "beampipe_api_request_duration_seconds_bucket",
        "beampipe_api_request_duration_seconds_sum",
        "beampipe_api_request_duration_seconds_count",
        "beampipe_pending_age_seconds",
    ]
    assert samples[0] == MetricSample(
        "beampipe_api_requests_total",
        {"method": "GET", "route": "/api/v2/health", "status": "200"},
        42.0,
        None,
    )
    assert list(samples[0].labels) == ["method", "route", "status"]  # the order written
    assert samples[2] == MetricSample("beampipe_jobs_running", {}, 2.0, None)
    assert samples[4].labels["le"] == "+Inf"  # a label value is text, never a number
    assert samples[5].value == 0.125
    last = samples[7]
    assert math.isnan(last.value) and last.timestamp == 1763892000000
    assert last.labels == {"module": "wallaby_hires"}


def test_types_are_read_from_the_type_lines() -> None:
    assert metric_types(EXPOSITION) == {
        "beampipe_api_requests_total": "counter",
        "beampipe_jobs_running": "gauge",
        "beampipe_api_request_duration_seconds": "histogram",
    }
    assert metric_types("up 1\n") == {}


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("m 1", 1.0),
        ("m -2.5", -2.5),
        ("m +3", 3.0),
        ("m 1e3", 1000.0),
        ("m 1.5E-3", 0.0015),
        ("m .5", 0.5),
        ("m 7.", 7.0),
        ("m +Inf", math.inf),
        ("m -Inf", -math.inf),
        ("m Inf", math.inf),
        ("m -inf", -math.inf),
    ],
)
def test_values(line: str, value: float) -> None:
    assert parse_metrics(line) == [MetricSample("m", {}, value, None)]


@pytest.mark.parametrize("nan", ["NaN", "nan", "-NaN"])
def test_nan(nan: str) -> None:
    (sample,) = parse_metrics(f"m {nan}")
    assert math.isnan(sample.value)


def test_label_escapes_are_undone() -> None:
    line = r'm{path="C:\\data\\x",quote="say \"hi\"",multi="a\nb",plain="tab	ok"} 1'
    (sample,) = parse_metrics(line)
    assert sample.labels == {
        "path": "C:\\data\\x",
        "quote": 'say "hi"',
        "multi": "a\nb",
        "plain": "tab\tok",
    }


def test_spacing_trailing_commas_and_line_endings() -> None:
    text = (
        '  m1 {a = "1" , b="2",} 5 -7\r\n'
        "\t\n"
        "m2{} 6\t\t123\n"
        'm3{a="{}"}7\n'  # no blank needed after the closing brace
        "   # TYPE m2 gauge\n"
        "#TYPE m4 untyped\n"
        "m4\t8"
    )
    assert parse_metrics(text) == [
        MetricSample("m1", {"a": "1", "b": "2"}, 5.0, -7),
        MetricSample("m2", {}, 6.0, 123),
        MetricSample("m3", {"a": "{}"}, 7.0, None),
        MetricSample("m4", {}, 8.0, None),
    ]
    assert metric_types(text) == {"m2": "gauge", "m4": "untyped"}


def test_comments_and_blank_text() -> None:
    assert parse_metrics("") == []
    assert parse_metrics("\n\n# just a comment\n#\n# HELP m help with \\\\ and \\n\n") == []
    assert parse_metrics("# EOF\n") == []


def test_only_line_feed_ends_a_line() -> None:
    # Other Unicode line breaks are label text, not line ends (str.splitlines would split).
    (sample,) = parse_metrics('m{a="x\u2028y\x0cz"} 1')
    assert sample.labels == {"a": "x\u2028y\x0cz"}


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("ok 1\n9bad 1", 2, "expected a metric name"),
        ("m", 1, "m: expected a value"),
        ('m{a="1"}', 1, "m: expected a value"),
        ("m-1 2", 1, "expected a space or '{' after the metric name"),
        ("m one", 1, "the value 'one' is not a number"),
        ("m 1_000", 1, "the value '1_000' is not a number"),
        ("m 0x10", 1, "the value '0x10' is not a number"),
        ("m 1 2.5", 1, "the timestamp '2.5' is not an integer of ms"),
        ("m 1 2 3", 1, "unexpected text after the timestamp"),
        ('m{a="1" 1', 1, "expected ',' or '}' after label 'a'"),
        ('m{a="1} 1', 1, "label 'a': the value has no closing quote"),
        ("m{a=1} 1", 1, "label 'a': expected =\"<value>\""),
        ('m{a "1"} 1', 1, "label 'a': expected =\"<value>\""),
        ('m{1a="1"} 1', 1, "expected a label name or '}' at column 3"),
        ('m{a="\\t"} 1', 1, "label 'a': bad escape '\\\\t'"),
        ('m{a="x\\', 1, "label 'a': bad escape"),
        ('m{a="1",a="2"} 1', 1, "label 'a' appears twice"),
        ("\n\n# TYPE m widget", 3, "# TYPE must be one of counter, gauge, histogram"),
        ("# TYPE", 1, "# TYPE must name a metric"),
        ("# HELP 9m text", 1, "# HELP must name a metric"),
    ],
)
def test_malformed_lines_name_their_number(text: str, line: int, problem: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_metrics(text)
    message = str(info.value)
    assert message.startswith(f"metrics line {line}: ")
    assert problem in message
    assert isinstance(info.value, ValueError)


def test_a_long_bad_line_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_metrics("m " + "x" * 500)
    assert len(str(info.value)) < 300


def test_metric_types_checks_every_line() -> None:
    with pytest.raises(InvalidArgumentError, match="metrics line 2: m: expected a value"):
        metric_types("# TYPE m gauge\nm\n")
    with pytest.raises(InvalidArgumentError, match="metrics line 3: a second # TYPE line for 'm'"):
        metric_types("# TYPE m gauge\nm 1\n# TYPE m counter\n")


@pytest.mark.parametrize("value", [b"m 1", None, ["m 1"]])
def test_text_must_be_a_str(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="metrics text must be a str"):
        parse_metrics(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="metrics text must be a str"):
        metric_types(value)  # type: ignore[arg-type]


# -- round trip ------------------------------------------------------------------------------

NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
LABEL_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
SAMPLES = st.builds(
    MetricSample,
    name=NAMES,
    labels=st.dictionaries(LABEL_NAMES, st.text(max_size=20), max_size=4),
    value=st.floats(allow_nan=True, allow_infinity=True),
    timestamp=st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
)


def render(sample: MetricSample) -> str:
    """One line as an exporter writes it (the escapes of the format, Go-style floats)."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    labels = ",".join(f'{k}="{escape(v)}"' for k, v in sample.labels.items())
    value = sample.value
    if math.isnan(value):
        shown = "NaN"
    elif math.isinf(value):
        shown = "+Inf" if value > 0 else "-Inf"
    else:
        shown = repr(value)
    stamp = "" if sample.timestamp is None else f" {sample.timestamp}"
    head = f"{sample.name}{{{labels}}}" if labels else sample.name
    return f"{head} {shown}{stamp}"


def same(a: MetricSample, b: MetricSample) -> bool:
    values_equal = (math.isnan(a.value) and math.isnan(b.value)) or a.value == b.value
    return (a.name, a.labels, a.timestamp) == (b.name, b.labels, b.timestamp) and values_equal


@given(st.lists(SAMPLES, max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_rendered_samples_parse_back(samples: list[MetricSample], newline: str) -> None:
    text = "# HELP x generated\n" + newline.join(render(s) for s in samples) + newline
    parsed = parse_metrics(text)
    assert len(parsed) == len(samples)
    assert all(same(a, b) for a, b in zip(parsed, samples, strict=True))
    assert all(list(a.labels) == list(b.labels) for a, b in zip(parsed, samples, strict=True))
