"""Helpers of `FakeAkribes`: timestamps, multipart bodies, declared inputs, sample data."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controldeck.testing._server import RecordedRequest
    from controldeck.testing.akribes import FakeAkribes

__all__ = ["GREET_SOURCE", "declared_inputs", "iso", "iso_ms", "multipart_files", "seed"]

# Scripts declare inputs one per line as `input <name>: <type>`; the fake reads nothing else.
_INPUT = re.compile(r"^\s*input\s+(\w+)\s*:\s*([\w\[\] |\"]+?)\s*$", re.MULTILINE)

GREET_SOURCE = """\
input name: string
workflow main {
  task greet { prompt "Say hello to {name}" }
}
"""


def iso(timestamp: float) -> str:
    """RFC 3339 UTC with a `Z`, whole seconds: `2025-01-07T01:00:00Z`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(timestamp: float) -> str:
    """RFC 3339 UTC with milliseconds, as the hub stamps events: `...T01:00:00.123Z`."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def declared_inputs(source: str) -> list[list[str]]:
    """The `[name, type]` pairs a source declares with `input <name>: <type>` lines."""
    return [[name, kind] for name, kind in _INPUT.findall(source)]


def multipart_files(request: RecordedRequest) -> dict[str, tuple[str | None, bytes]] | None:
    """The parts of a multipart/form-data body by name: (filename, bytes); None if not one."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    if not message.is_multipart():
        return None
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = (part.get_filename(), payload)
    return parts


def seed(fake: FakeAkribes) -> None:
    """Project 1 `demo` with script `greet` published to `production` and a bench of two
    cases; project 2 `sandbox` (the caller's sandbox for ad-hoc runs)."""
    demo = fake.add_project("demo")
    fake.sandbox_project_id = fake.add_project("sandbox")["id"]
    script = fake.add_script(demo["id"], "greet", GREET_SOURCE)
    fake.publish(script["id"], ["production"], label="v1", published_by="seed")
    bench = fake.add_bench(script["id"])
    for who in ("Ada", "Grace"):
        fake.add_case(bench["id"], {"name": who}, expected_output={"name": who}, name=who)
