"""A small parser for the Prometheus text exposition format (0.0.4), as `/metrics` sends.

`client.metrics()` returns the text as the server sent it; `parse_metrics(text)` turns it
into samples, and `metric_types(text)` reads the `# TYPE` lines. The grammar, per line:

    # HELP <name> <docstring>
    # TYPE <name> counter|gauge|histogram|summary|untyped
    # <any other comment>
    <name>[{<label>="<value>",...}] <value> [<timestamp ms>]

Blank lines and other comments are skipped. Label values escape `\\\\`, `\\"` and `\\n`;
values are decimal floats (exponents allowed), `NaN`, `+Inf` or `-Inf`; the optional
timestamp is an integer of milliseconds since the epoch. The text is the caller's, so a
malformed line raises `InvalidArgumentError` naming its line number.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from controldeck.errors import InvalidArgumentError

__all__ = ["METRIC_TYPES", "MetricSample", "metric_types", "parse_metrics"]

METRIC_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
"""The family types a `# TYPE` line may declare."""

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_BLANK = re.compile(r"[ \t]*")
_FIELD_SEPARATOR = re.compile(r"[ \t]+")
# What Go's strconv.ParseFloat (the reference parser) accepts, less hex floats and `_`.
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))"
)
_TIMESTAMP = re.compile(r"[+-]?[0-9]+")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_MAX_ECHO = 80


class MetricSample(NamedTuple):
    """One sample line of a Prometheus exposition.

    Attributes:
        name: The sample's metric name (`beampipe_http_requests_total`; a histogram's
            samples end in `_bucket`, `_sum`, `_count`).
        labels: Its labels, unescaped, in the order written.
        value: The value; `NaN`, `+Inf` and `-Inf` become the float values.
        timestamp: Milliseconds since the epoch, when the line carries one.

    Example:
        >>> sample = parse_metrics('up{job="api"} 1')[0]
        >>> sample.name, sample.labels, sample.value, sample.timestamp
        ('up', {'job': 'api'}, 1.0, None)
    """

    name: str
    labels: dict[str, str]
    value: float
    timestamp: int | None = None


def parse_metrics(text: str) -> list[MetricSample]:
    """Parse Prometheus text exposition (format 0.0.4) into its samples, in order.

    Args:
        text: The exposition, e.g. what `client.metrics()` returned.

    Returns:
        Every sample line as a `MetricSample`; comments and blank lines are skipped.

    Raises:
        InvalidArgumentError: `text` is not a str, or a line is malformed (the message
            names the line number): a bad metric or label name, an unterminated or badly
            escaped label value, a duplicate label, a value that is not a number, a bad
            timestamp, or a `# TYPE` line naming an unknown type.

    Example:
        >>> text = client.metrics()
        >>> samples = parse_metrics(text)
        >>> [s.value for s in samples if s.name == "beampipe_jobs_running"]
        [2.0]
    """
    return [sample for _, sample in _samples(_lines(text))]


def metric_types(text: str) -> dict[str, str]:
    """The family types the `# TYPE` lines declare (`{"beampipe_http_requests": "counter"}`).

    Args:
        text: The exposition, e.g. what `client.metrics()` returned.

    Returns:
        Each family name mapped to its type (`counter`, `gauge`, `histogram`, `summary`
        or `untyped`), in the order declared. Families without a `# TYPE` line are absent.

    Raises:
        InvalidArgumentError: `text` is not a str, a line is malformed (as for
            `parse_metrics`), or a family's type is declared twice.

    Example:
        >>> metric_types("# TYPE up gauge\\nup 1\\n")
        {'up': 'gauge'}
    """
    types: dict[str, str] = {}
    for number, line in _lines(text):
        declared = _type_line(number, line)
        if declared is None:
            if not line.startswith("#"):
                _sample(number, line)  # validated like parse_metrics does
            continue
        name, kind = declared
        if name in types:
            raise _error(number, line, f"a second # TYPE line for {name!r}")
        types[name] = kind
    return types


# -- the grammar -----------------------------------------------------------------------------


def _lines(text: str) -> list[tuple[int, str]]:
    """The numbered lines that are not blank (split at `\\n` only, as the format says)."""
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"metrics text must be a str (the body of /metrics), got {type(text).__name__}"
        )
    out = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        if line.strip(" \t"):
            out.append((number, line))
    return out


def _samples(lines: list[tuple[int, str]]) -> list[tuple[int, MetricSample]]:
    out = []
    for number, line in lines:
        if line.lstrip(" \t").startswith("#"):
            _type_line(number, line)  # a malformed # TYPE / # HELP line is an error
            continue
        out.append((number, _sample(number, line)))
    return out


def _type_line(number: int, line: str) -> tuple[str, str] | None:
    """`(name, type)` for a `# TYPE` line; None for any other line (HELP lines checked)."""
    stripped = line.lstrip(" \t")
    if not stripped.startswith("#"):
        return None
    words = stripped[1:].strip(" \t").split(None, 2)
    if not words or words[0] not in ("TYPE", "HELP"):
        return None  # a plain comment
    if len(words) < 2 or not _NAME.fullmatch(words[1]):
        raise _error(number, line, f"# {words[0]} must name a metric")
    if words[0] == "HELP":
        return None
    kind = words[2].strip(" \t") if len(words) == 3 else ""
    if kind not in METRIC_TYPES:
        raise _error(
            number, line, f"# TYPE must be one of {', '.join(sorted(METRIC_TYPES))}, got {kind!r}"
        )
    return words[1], kind


def _sample(number: int, line: str) -> MetricSample:
    pos = _skip_blank(line, 0)
    match = _NAME.match(line, pos)
    if match is None:
        raise _error(number, line, "expected a metric name")
    name = match.group()
    pos = _skip_blank(line, match.end())
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        pos = _labels(number, line, pos + 1, labels)
    elif pos == match.end() and pos < len(line):
        raise _error(number, line, f"{name}: expected a space or '{{' after the metric name")
    rest = line[pos:].strip(" \t")
    fields = _FIELD_SEPARATOR.split(rest) if rest else []
    if not fields:
        raise _error(number, line, f"{name}: expected a value")
    if len(fields) > 2:
        raise _error(number, line, f"{name}: unexpected text after the timestamp")
    if not _FLOAT.fullmatch(fields[0]):
        raise _error(number, line, f"{name}: the value {fields[0][:_MAX_ECHO]!r} is not a number")
    timestamp = None
    if len(fields) == 2:
        if not _TIMESTAMP.fullmatch(fields[1]):
            raise _error(
                number,
                line,
                f"{name}: the timestamp {fields[1][:_MAX_ECHO]!r} is not an integer of ms",
            )
        timestamp = int(fields[1])
    return MetricSample(name, labels, float(fields[0]), timestamp)


def _labels(number: int, line: str, pos: int, labels: dict[str, str]) -> int:
    """Read `name="value",...}` from `pos` into `labels`; the index after the `}`."""
    while True:
        pos = _skip_blank(line, pos)
        if pos < len(line) and line[pos] == "}":
            return pos + 1
        match = _LABEL_NAME.match(line, pos)
        if match is None:
            raise _error(number, line, f"expected a label name or '}}' at column {pos + 1}")
        label = match.group()
        pos = _skip_blank(line, match.end())
        if line[pos : pos + 1] != "=":
            raise _error(number, line, f'label {label!r}: expected ="<value>"')
        pos = _skip_blank(line, pos + 1)
        if line[pos : pos + 1] != '"':
            raise _error(number, line, f'label {label!r}: expected ="<value>"')
        pos += 1
        value, pos = _label_value(number, line, pos, label)
        if label in labels:
            raise _error(number, line, f"label {label!r} appears twice")
        labels[label] = value
        pos = _skip_blank(line, pos)
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos >= len(line) or line[pos] != "}":
            raise _error(number, line, f"expected ',' or '}}' after label {label!r}")


def _label_value(number: int, line: str, pos: int, label: str) -> tuple[str, int]:
    """The unescaped value starting just after its opening quote; the index after the
    closing quote."""
    out: list[str] = []
    while pos < len(line):
        char = line[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\":
            escaped = line[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                bad = "\\" + escaped
                raise _error(
                    number,
                    line,
                    f'label {label!r}: bad escape {bad!r} (only \\\\, \\" and \\n are allowed)',
                )
            out.append(_ESCAPES[escaped])
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise _error(number, line, f"label {label!r}: the value has no closing quote")


def _skip_blank(line: str, pos: int) -> int:
    match = _BLANK.match(line, pos)
    assert match is not None  # `[ \t]*` always matches
    return match.end()


def _error(number: int, line: str, problem: str) -> InvalidArgumentError:
    shown = line if len(line) <= _MAX_ECHO else line[: _MAX_ECHO - 3] + "..."
    return InvalidArgumentError(f"metrics line {number}: {problem}: {shown!r}")
