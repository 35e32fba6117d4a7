"""The command line: ``[--quick] [--suite] [--only PARTS] [--reps N] [--json FILE]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import queuebench
from queuebench.children import run_child
from queuebench.report import report
from queuebench.runner import PARTS, run
from queuebench.sizes import sizes_for


def parse_only(text: str | None) -> set[str]:
    """The parts ``--only`` names (default: all); exit naming any unknown one."""
    only = set(text.split(",")) if text else set(PARTS)
    if only - set(PARTS):
        raise SystemExit(f"--only: unknown part(s) {sorted(only - set(PARTS))}; pick from {PARTS}")
    return only


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report (or, with ``--child``, one child process)."""
    parser = argparse.ArgumentParser(description=(queuebench.__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny N, one repetition")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--suite", action="store_true", help="also time the generated tests")
    parser.add_argument(
        "--only", help=f"comma-separated parts to measure (default all): {','.join(PARTS)}"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        return run_child(arguments.child)
    summary = run(
        sizes_for(arguments.quick, arguments.reps),
        only=parse_only(arguments.only),
        suite=arguments.suite,
    )
    print()
    print(report(summary))
    if arguments.json:
        arguments.json.write_text(json.dumps(summary, indent=2))
    return 0
