"""Every ```python snippet in README.md and docs/*.md runs against the local fakes, passes
`mypy --strict` and imports nothing it does not use; the README's gateway loop does what
Runbeam expects of a gateway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controldeck.testing.runbeam import FakeRunbeam
from tests.docs import harness
from tests.docs.harness import (
    DocsError,
    Snippet,
    check_snippets,
    documents,
    extract,
    platforms_of,
    run_document,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Docs save token files under ~/.runbeam; the developer's RUNBEAM_* must not leak in.
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("BASE_URL", "TOKEN", "MACHINE_TOKEN", "ENCRYPTION_KEY"):
        monkeypatch.delenv(f"RUNBEAM_{name}", raising=False)
    # RunAgent docs find their agent in ~/.runagent; a developer's cache dir or key must not.
    for name in ("CACHE_DIR", "API_KEY", "BASE_URL"):
        monkeypatch.delenv(f"RUNAGENT_{name}", raising=False)


@pytest.mark.parametrize("doc", documents(), ids=str)
def test_snippets_run(doc: Path) -> None:
    run_document(doc)


def test_snippets_typecheck_and_use_their_imports(tmp_path: Path) -> None:
    errors = check_snippets(documents(), tmp_path)
    assert errors == [], "\n".join(errors)


def test_the_runbeam_docs_have_checked_snippets() -> None:
    counts = {str(doc): len([s for s in extract(doc) if s.skip is None]) for doc in documents()}
    assert counts["README.md"] >= 1
    assert counts["docs/runbeam.md"] >= 5


def test_readme_loop_acknowledges_then_reports_oldest_first() -> None:
    with FakeRunbeam() as fake:
        broken = fake.add_change("gateway-123", "pipeline", "[pipeline\nname = 'x'")
        expected = [
            c["id"]
            for c in fake.changes.values()
            if c["gateway_id"] == "gateway-123" and c["status"] == "pending"
        ]  # fmt: skip  (insertion order: oldest first)

        run_document(Path("README.md"), {"runbeam": fake})

        events = []
        for request in fake.requests:
            if request.path == "/api/harmony/changes/acknowledge":
                events += [("ack", change_id) for change_id in request.json()["change_ids"]]
            elif found := re.fullmatch(r"/api/harmony/change/(\w+)/(applied|failed)", request.path):
                events.append((found[2], found[1]))
        reports = [(kind, change_id) for kind, change_id in events if kind != "ack"]
        assert [change_id for _, change_id in reports] == expected
        for change_id in expected:
            assert events.index(("ack", change_id)) < events.index(
                next(r for r in reports if r[1] == change_id)
            )
        statuses = {cid: fake.changes[cid]["status"] for cid in expected}
        assert statuses == {cid: "failed" if cid == broken["id"] else "applied" for cid in expected}
        assert fake.changes[broken["id"]]["error_message"].startswith("Expected ']'")


# --- the harness itself ----------------------------------------------------------------------

DOC = """\
# Title

```python
a = 1
```

<!-- docs-test: skip (needs a real TLS proxy) -->

```python
b = 2
```

- a list item:

  ```py
  c = 3
  ```

```
not python
```
"""


def test_extract_finds_snippets_lines_and_skips() -> None:
    assert extract(Path("x.md"), DOC) == [
        Snippet(Path("x.md"), 4, "a = 1\n"),
        Snippet(Path("x.md"), 10, "b = 2\n", skip="needs a real TLS proxy"),
        Snippet(Path("x.md"), 16, "c = 3\n"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- docs-test: skip -->\n```python\nx = 1\n```\n", "x.md:1: write the marker as"),
        ("<!-- docs-test: skip (why) -->\nprose\n", "x.md:1: a skip marker must precede"),
        ("<!-- docs-test: skip (why) -->\n```\nls\n```\n", "x.md:1: the skip marker precedes a"),
        ("```python\nx = 1\n", "x.md:1: the code fence is never closed"),
    ],
)
def test_extract_rejects_bad_markers(text: str, message: str) -> None:
    with pytest.raises(DocsError, match=re.escape(message)):
        extract(Path("x.md"), text)


def test_a_platform_without_a_fake_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every platform has its DocsPlatform now: take one away, as a new platform would be.
    monkeypatch.delitem(harness.PLATFORMS, "runagent")
    snippets = [Snippet(Path("README.md"), 3, "from controldeck.runagent import AgentClient\n")]
    with pytest.raises(DocsError, match=r"\['runagent'\]: add a DocsPlatform"):
        platforms_of(Path("README.md"), snippets)
    assert [p.name for p in platforms_of(Path("docs/runbeam.md"), [])] == ["runbeam"]
