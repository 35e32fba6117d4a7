"""The report: the side-by-side table (baseline, ours fast, ours plain, ratios) and the rest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queuebench.parts.drain import BASELINE_DRAIN
from queuebench.parts.push import BASELINE_PUSH, REFERENCE_ENQUEUE_MANY
from queuebench.parts.push_at import MINIMUM, P95
from queuebench.parts.redis_cost import report_lines as redis_cost_lines
from queuebench.sides import BASELINE, FAST_PATH_VARIABLE, OURS, Side, result_name

ONE_WORKER = "drain x1"


@dataclass(frozen=True)
class Row:
    """One line of the table; ours is ``result_name(measure, side)`` for each path."""

    label: str
    measure: str
    baseline: str | None  # None: each path against its own one worker (drain x1)
    target: str  # for the fast path, the default


ROWS = (
    Row("push (jobs/s)", "push", BASELINE_PUSH, ">= 2.0x"),
    Row("push_many (jobs/s)", "push_many", BASELINE_PUSH, ">= 5x"),
    Row("drain no-op (jobs/s)", ONE_WORKER, BASELINE_DRAIN, ">= 4x (stretch 15x)"),
    Row("two workers vs one", "drain x2", None, ">= 1.5x"),
    Row(
        "enqueue->start p50 (ms)",
        "latency p50 ms",
        result_name("latency p50 ms", BASELINE),
        "ours <= 3 ms",
    ),
)


def column(side: Side) -> str:
    """The JSON key of a path's value (``ours_fast``); its ratio is ``ratio_fast``."""
    return side.name.replace(" ", "_")


def ratio_column(side: Side) -> str:
    """The JSON key of a path's ratio against the baseline (``ratio_plain``)."""
    return "ratio_" + column(side).removeprefix("ours_")


def table(medians: Mapping[str, float]) -> list[dict[str, Any]]:
    """The table's rows as data; a row is left out when ``--only`` skipped it."""
    rows = []
    for row in ROWS:
        baseline = medians.get(row.baseline) if row.baseline else None
        if row.baseline is not None and baseline is None:
            continue
        values = {side: medians.get(result_name(row.measure, side)) for side in OURS}
        if all(value is None for value in values.values()):
            continue
        entry: dict[str, Any] = {
            "measure": row.label,
            "baseline": baseline,
            "against": "baseline" if row.baseline else "one worker of the same path",
            "target": row.target,
        }
        for side, value in values.items():
            reference = baseline if row.baseline else medians.get(result_name(ONE_WORKER, side))
            entry[column(side)] = value
            entry[ratio_column(side)] = (
                value / reference if value is not None and reference else None
            )
        rows.append(entry)
    return rows


def _number(value: float | None, width: int, missing: str = "-") -> str:
    return f"{value:{width}.1f}" if value is not None else f"{missing:>{width}}"


def _ratio(value: float | None) -> str:
    return f"{value:6.2f}x" if value is not None else f"{'-':>7}"


def _processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def format_table(rows: list[dict[str, Any]]) -> list[str]:
    """The table in Markdown; targets are for the fast path (the default)."""
    fast, plain = OURS
    lines = [
        f"| {'measure':<25} | {'baseline (plain RQ)':>19} | {'ours fast':>10} | {'ratio':>7}"
        f" | {'ours plain':>10} | {'ratio':>7} | target (fast path) |",
        f"|{'-' * 27}|{'-' * 21}|{'-' * 12}|{'-' * 9}|{'-' * 12}|{'-' * 9}|--------------------|",
    ]
    for row in rows:
        lines.append(
            f"| {row['measure']:<25} | {_number(row['baseline'], 19, 'one, same path')}"
            f" | {_number(row[column(fast)], 10)} | {_ratio(row[ratio_column(fast)])}"
            f" | {_number(row[column(plain)], 10)} | {_ratio(row[ratio_column(plain)])}"
            f" | {row['target']} |"
        )
    return lines


def report(summary: dict[str, Any]) -> str:
    """The whole report: versions, the table, then the single-figure measures."""
    m = summary["medians"]
    sides = ", ".join(
        f"{name} {FAST_PATH_VARIABLE}={value}" for name, value in summary["sides"].items() if value
    )
    lines = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
        f"medians of {summary['reps']} repetitions; N = {summary['n']}; {sides}",
        "",
        *format_table(summary["table"]),
        "",
    ]
    if REFERENCE_ENQUEUE_MANY in m and BASELINE_PUSH in m:
        many, one = m[REFERENCE_ENQUEUE_MANY], m[BASELINE_PUSH]
        lines.append(
            f"rq enqueue_many, for reference: {many:.1f} jobs/s, {many / one:.2f}x rq.enqueue"
        )
    if P95 in m:
        lines.append(
            f"push_at lateness: p95 {m[P95]:.3f} s (target <= 1.2 s),"
            f" minimum {m[MINIMUM]:.3f} s (must be >= 0)"
        )
    lines.append(f"bake: {summary['bake_seconds']:.2f} s (target <= 1 s)")
    if summary["rss_kib"]:
        lines.append(
            "worker RSS: "
            + ", ".join(
                f"{kib / 1024:.1f} MiB after {jobs} jobs" for jobs, kib in summary["rss_kib"]
            )
        )
    if summary["suite_seconds"] is not None:
        lines.append(f"generated test suite: {summary['suite_seconds']:.1f} s (target <= 10 s)")
    checks = summary["fast_path_checks"]
    lines.append(
        f"{FAST_PATH_VARIABLE} checked in every process started: "
        + ", ".join(
            f"{name} {value or 'unset'} ({_processes(checks.get(name, 0))})"
            for name, value in summary["sides"].items()
        )
    )
    lines.extend(redis_cost_lines(m))
    per_rep = {name: values for name, values in summary["all"].items() if len(values) > 1}
    if per_rep:
        lines.append(
            "per repetition: "
            + "; ".join(
                f"{name} " + " / ".join(f"{value:.2f}" for value in values)
                for name, values in per_rep.items()
            )
        )
    return "\n".join(lines)
