"""Find the ```python snippets in the docs, run them against local fakes, type-check them.

A snippet runs unless the line before its fence is `<!-- docs-test: skip (reason) -->`.
The snippets of one document share one namespace, in order, after the preludes of the
platforms the document uses (see `platforms.py`); line numbers in tracebacks and type
errors are the document's own.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controldeck.testing._server import LoopbackServer
from tests.docs.platforms import ALL_PLATFORMS, PLATFORMS, DocsPlatform

__all__ = [
    "ROOT",
    "DocsError",
    "Snippet",
    "check_snippets",
    "documents",
    "extract",
    "platforms_of",
    "run_document",
]

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_MARKER = re.compile(r"<!--\s*docs-test:(?P<rest>.*?)-->")
_SKIP = re.compile(r"\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*")
_PLATFORM_IMPORT = re.compile(r"\bcontroldeck\.(?:testing\.)?(\w+)")
_CHECK_LINE = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+):(?P<rest>.*)$")


class DocsError(AssertionError):
    """A document the docs test cannot handle as written (bad marker, unknown platform)."""


@dataclass(frozen=True)
class Snippet:
    """One fenced ```python block.

    Attributes:
        doc: The document, relative to the repository root.
        line: The document's line number of the snippet's first code line.
        code: The code, with the fence's indentation removed.
        skip: Why the snippet is not run or checked, or None when it is.
    """

    doc: Path
    line: int
    code: str
    skip: str | None = None


def documents() -> list[Path]:
    """README.md and every docs/*.md, relative to the repository root."""
    return [Path("README.md"), *sorted(p.relative_to(ROOT) for p in (ROOT / "docs").glob("*.md"))]


def extract(doc: Path, text: str | None = None) -> list[Snippet]:
    """The ```python snippets of `doc` (read from the repository unless `text` is given).

    Raises:
        DocsError: A `docs-test:` marker is malformed or does not precede a python fence,
            or a fence is never closed.
    """
    lines = (ROOT / doc).read_text("utf-8").splitlines() if text is None else text.splitlines()
    snippets: list[Snippet] = []
    pending_skip: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.search(line)
        if marker is not None:
            skip = _SKIP.fullmatch(marker.group("rest"))
            if skip is None:
                raise DocsError(
                    f"{doc}:{i + 1}: write the marker as <!-- docs-test: skip (reason) -->"
                )
            pending_skip = (i + 1, skip.group("reason").strip())
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence is None:
            if line.strip() and pending_skip is not None:
                raise DocsError(f"{doc}:{pending_skip[0]}: a skip marker must precede a fence")
            i += 1
            continue
        end = _closing_fence(lines, i, fence.group("fence"))
        if end is None:
            raise DocsError(f"{doc}:{i + 1}: the code fence is never closed")
        is_python = fence.group("info").lower() in ("python", "py")
        if pending_skip is not None and not is_python:
            raise DocsError(f"{doc}:{pending_skip[0]}: the skip marker precedes a non-python fence")
        if is_python:
            indent = len(fence.group("indent"))
            code = "\n".join(body[indent:] for body in lines[i + 1 : end]) + "\n"
            reason = pending_skip[1] if pending_skip is not None else None
            snippets.append(Snippet(doc=doc, line=i + 2, code=code, skip=reason))
        pending_skip = None
        i = end + 1
    if pending_skip is not None:
        raise DocsError(f"{doc}:{pending_skip[0]}: a skip marker must precede a fence")
    return snippets


def _closing_fence(lines: list[str], start: int, fence: str) -> int | None:
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            return j
    return None


def platforms_of(doc: Path, snippets: list[Snippet]) -> list[DocsPlatform]:
    """The platforms whose fakes a document needs: its own name and what its snippets import.

    Raises:
        DocsError: The document is about, or imports, a platform `platforms.py` lacks.
    """
    names = {doc.stem} & set(ALL_PLATFORMS)
    for snippet in snippets:
        if snippet.skip is None:
            names |= set(_PLATFORM_IMPORT.findall(snippet.code)) & set(ALL_PLATFORMS)
    missing = sorted(names - set(PLATFORMS))
    if missing and any(s.skip is None for s in snippets):
        raise DocsError(
            f"{doc} has snippets for {missing}: add a DocsPlatform for each to "
            "tests/docs/platforms.py (its fake, placeholder origin and prelude)"
        )
    return [PLATFORMS[name] for name in sorted(names) if name in PLATFORMS]


@contextlib.contextmanager
def _started(platforms: list[DocsPlatform]) -> Iterator[dict[str, LoopbackServer]]:
    with contextlib.ExitStack() as stack:
        yield {p.name: stack.enter_context(p.fake_class()(**p.fake_args)) for p in platforms}


def run_document(doc: Path, fakes: Mapping[str, LoopbackServer] | None = None) -> None:
    """Run the document's snippets in order in one namespace, against running fakes.

    Args:
        doc: The document, relative to the repository root.
        fakes: Running fakes by platform name, to run against (and inspect afterwards);
            a fresh one is started (and stopped) for every other platform the doc uses.
    """
    snippets = extract(doc)
    platforms = platforms_of(doc, snippets)
    given = dict(fakes or {})
    with _started([p for p in platforms if p.name not in given]) as started:
        _run(doc, snippets, platforms, {**started, **given})


def _run(
    doc: Path,
    snippets: list[Snippet],
    platforms: list[DocsPlatform],
    fakes: Mapping[str, LoopbackServer],
) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{doc.stem.lower()}"}
    for platform in platforms:
        namespace[platform.fake_var] = fakes[platform.name]
        exec(compile(platform.prelude, f"<prelude {platform.name}>", "exec"), namespace)
    for snippet in snippets:
        if snippet.skip is not None:
            continue
        code = snippet.code
        for platform in platforms:
            fake = fakes[platform.name]
            code = code.replace(platform.placeholder, fake.url)
            for text, replacement in platform.rewrites:
                code = code.replace(text, replacement.format(fake=fake))
        # Padding keeps the document's line numbers in tracebacks.
        padded = "\n" * (snippet.line - 1) + code
        exec(compile(padded, str(ROOT / doc), "exec"), namespace)


@dataclass(frozen=True)
class _Piece:
    first: int  # first line in the generated module
    count: int
    where: str  # "README.md:27" style origin of the piece's first line, or a prelude name
    offset: int  # the document line of the piece's first line (0 for preludes)


def check_snippets(docs: list[Path], out_dir: Path) -> list[str]:
    """Run `mypy --strict` and ruff's unused-import check once over every document's snippets.

    Each document becomes one module in `out_dir`: the fake declarations, the preludes, then
    every snippet that is not skipped, in order. Errors are reported at document lines.

    Returns:
        The errors, one line each; empty when every snippet passes.
    """
    pieces_by_file: dict[str, list[_Piece]] = {}
    files = []
    for doc in docs:
        snippets = [s for s in extract(doc) if s.skip is None]
        if not snippets:
            continue
        platforms = platforms_of(doc, snippets)
        parts: list[tuple[str, str, int]] = [("# generated by tests/test_docs.py\n", "header", 0)]
        for platform in platforms:
            parts.append((platform.declaration(), f"<prelude {platform.name}>", 0))
            parts.append((platform.prelude, f"<prelude {platform.name}>", 0))
        parts += [(s.code, str(doc), s.line) for s in snippets]
        name = "docs_" + re.sub(r"\W", "_", str(doc.with_suffix(""))).lower() + ".py"
        pieces, source, line = [], [], 1
        for code, where, offset in parts:
            count = code.count("\n")
            pieces.append(_Piece(line, count, where, offset))
            source.append(code)
            line += count
        (out_dir / name).write_text("".join(source), "utf-8")
        pieces_by_file[name] = pieces
        files.append(str(out_dir / name))
    if not files:
        return []
    # mypy runs from the repository root with its config, so it reuses `make typecheck`'s cache.
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            "--strict", "--no-error-summary", "--hide-error-context", *files]  # fmt: skip
    ruff = [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F401",
            "--output-format", "concise", "--quiet", *files]  # fmt: skip
    errors = []
    for command in (mypy, ruff):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode not in (0, 1):
            output = result.stderr.strip() or result.stdout.strip()
            errors.append(f"{command[2]} failed to run: {output}")
            continue
        errors += [_at_document_line(line, pieces_by_file) for line in result.stdout.splitlines()]
    return errors


def _at_document_line(line: str, pieces_by_file: Mapping[str, list[_Piece]]) -> str:
    match = _CHECK_LINE.match(line)
    if match is None:
        return line
    pieces = pieces_by_file.get(Path(match.group("file")).name, [])
    number = int(match.group("line"))
    for piece in pieces:
        if piece.first <= number < piece.first + piece.count:
            at = number - piece.first
            where = f"{piece.where}:{piece.offset + at}" if piece.offset else piece.where
            return f"{where}:{match.group('rest')}"
    return line
