"""`python -m benchmarks [--quick] [--write docs/benchmarks.md] [--only TEXT]`."""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from benchmarks import rows as _rows  # noqa: F401  (registers every row)
from benchmarks._harness import FULL, QUICK, ROWS, format_markdown, format_table, run_rows

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the rows, print the table and optionally write the markdown report.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        0 whether or not targets are met: the report informs, it does not gate.

    Example:
        >>> main(["--quick", "--only", "import"])
        0
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under 60 s)")
    parser.add_argument("--write", type=Path, metavar="PATH", help="write the markdown report")
    parser.add_argument("--only", metavar="TEXT", help="run only rows whose name contains TEXT")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    selected = [r for r in ROWS if args.only is None or args.only in r.name]
    when = datetime.datetime.now(datetime.UTC)
    print(f"controldeck benchmarks, {scale.name} scale, {len(selected)} rows", flush=True)
    results = run_rows(
        selected, scale, progress=lambda name: print(f"  {name.strip()} …", flush=True)
    )
    print()
    print(format_table(results))
    if args.write is not None:
        args.write.write_text(format_markdown(results, scale, when=when), encoding="utf-8")
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
