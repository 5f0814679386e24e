"""Generate ``src/controldeck/_generated/<platform>.py`` from ``openapi/<platform>.yaml``.

Usage (from anywhere; the generator always runs from the repository root)::

    python codegen/generate.py           # (re)write every generated module
    python codegen/generate.py --check   # regenerate into a temp dir, diff, exit 1 on drift

Each spec is passed to datamodel-code-generator 0.89.0 with our attrs templates; see
``codegen/README.md`` for the flags and why each is there.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = "openapi"
OUT_DIR = "src/controldeck/_generated"
# Modules in OUT_DIR that are written by hand, not generated from a spec.
HANDWRITTEN = frozenset({"__init__.py"})

# Relative paths only: the generator runs with cwd=ROOT, which keeps the header stable.
FLAGS = (
    "--input-file-type", "openapi",
    "--output-model-type", "dataclasses.dataclass",
    "--custom-template-dir", "codegen/templates",
    "--custom-formatters", "attrs_imports",
    "--additional-imports", "attrs",
    "--snake-case-field",
    "--capitalise-enum-members",
    "--target-python-version", "3.11",
    "--output-datetime-class", "datetime",
    "--disable-timestamp",
    "--formatters", "builtin",
    "--use-double-quotes",
    "--use-schema-description",
    "--use-field-description",
    "--use-one-literal-as-default",
    "--enable-version-header",
    "--field-extra-keys", "x-controldeck-secret",
    # `format: binary` would become `bytes`, which cattrs' json preconf decodes as base85.
    "--type-mappings", "binary=string",
)  # fmt: skip


def _specs() -> list[str]:
    return sorted(p.name for p in (ROOT / SPEC_DIR).glob("*.yaml"))


def _generator() -> list[str]:
    """The datamodel-codegen command of the running interpreter's environment."""
    return [sys.executable, "-m", "datamodel_code_generator"]


def _run(spec: str, output: str) -> None:
    """Generate ``openapi/<spec>`` into ``output`` (relative to ROOT, or absolute)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = "codegen"  # the attrs_imports custom formatter
    cmd = [*_generator(), "--input", f"{SPEC_DIR}/{spec}", *FLAGS, "--output", output]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"datamodel-codegen failed for {SPEC_DIR}/{spec}:\n{proc.stderr}")


def _generate_all(out_dir: str) -> dict[str, bytes]:
    """Generate every spec into ``out_dir``; return module file name -> content."""
    specs = _specs()
    outputs = {spec: str(Path(out_dir) / f"{Path(spec).stem}.py") for spec in specs}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda s: _run(s, outputs[s]), specs))
    return {Path(path).name: (ROOT / path).read_bytes() for path in outputs.values()}


def _orphans(expected: set[str]) -> list[str]:
    """Generated modules whose spec is gone."""
    found = {p.name for p in (ROOT / OUT_DIR).glob("*.py")} - HANDWRITTEN
    return sorted(found - expected)


def _diff(name: str, old: bytes, new: bytes) -> str:
    path = f"{OUT_DIR}/{name}"
    return "".join(
        difflib.unified_diff(
            old.decode().splitlines(keepends=True),
            new.decode().splitlines(keepends=True),
            fromfile=f"a/{path} (committed)",
            tofile=f"b/{path} (regenerated)",
        )
    )


def check() -> int:
    """Regenerate into a temp dir and compare with the committed modules."""
    with tempfile.TemporaryDirectory(prefix="controldeck-codegen-") as tmp:
        fresh = _generate_all(tmp)
    drift = False
    for name, new in fresh.items():
        committed = ROOT / OUT_DIR / name
        if not committed.exists():
            print(f"missing: {OUT_DIR}/{name} (run `make generate`)")
            drift = True
        elif (old := committed.read_bytes()) != new:
            sys.stdout.write(_diff(name, old, new))
            drift = True
    for name in _orphans(set(fresh)):
        print(f"orphan: {OUT_DIR}/{name} has no spec in {SPEC_DIR}/ (delete it)")
        drift = True
    if drift:
        print("generated code is out of date: run `make generate` and commit the result")
        return 1
    return 0


def write() -> int:
    """Regenerate and rewrite the modules that changed."""
    with tempfile.TemporaryDirectory(prefix="controldeck-codegen-") as tmp:
        fresh = _generate_all(tmp)
    for name, new in fresh.items():
        target = ROOT / OUT_DIR / name
        if not target.exists() or target.read_bytes() != new:
            target.write_bytes(new)
            print(f"wrote {OUT_DIR}/{name}")
    orphans = _orphans(set(fresh))
    for name in orphans:
        print(f"orphan: {OUT_DIR}/{name} has no spec in {SPEC_DIR}/ (delete it)", file=sys.stderr)
    return 1 if orphans else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="diff against the committed modules; exit 1 on drift"
    )
    args = parser.parse_args(argv)
    return check() if args.check else write()


if __name__ == "__main__":
    sys.exit(main())
