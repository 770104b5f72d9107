"""Files the repository ships but a generator writes (the CRD, the SQL Server set-up script).

One command shape for each: write the file, or with ``--check`` fail when the committed copy
differs from what the generator gives now (a test runs the check, so the two cannot drift).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def generated_file_main(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    default_output: Path,
    render: Callable[[], str],
) -> int:
    """``prog [--check] [--output PATH]``: write ``render()`` to the file, or check it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--output", type=Path, default=default_output)
    args = parser.parse_args(argv)
    wanted = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != wanted:
            print(f"{args.output} is stale: run `{prog}` and commit it", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(wanted, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0
