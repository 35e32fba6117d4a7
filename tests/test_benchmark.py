"""The benchmark runs end to end with tiny N; timings are not asserted (see BENCHMARKS.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TEMPLATE_ROOT, load_support

BENCHMARK = TEMPLATE_ROOT / "benchmarks" / "queue_bench.py"
# Rows with a column for each path of QUEUE_FAST_PATH (true: fast, false: plain).
BOTH_PATHS = ("push (jobs/s)", "push_many", "drain no-op", "two workers", "enqueue->start")


def require_redis_server() -> None:
    """Skip without redis-server, except in CI (``CI=true``), where it must be installed."""
    if shutil.which("redis-server") is None:
        if load_support("redis_server").running_in_ci():
            pytest.fail("the benchmark needs redis-server, and CI must have it")
        pytest.skip("the benchmark needs redis-server")


def table_line(stdout: str, measure: str) -> list[str]:
    """The cells of the report table's row for ``measure``."""
    (line,) = [line for line in stdout.splitlines() if line.startswith(f"| {measure}")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_benchmark_runs_with_tiny_n_and_prints_every_target_for_both_paths(tmp_path: Path) -> None:
    require_redis_server()
    results = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json", str(results)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    header = table_line(out, "measure")
    assert header[:6] == [
        "measure",
        "baseline (plain RQ)",
        "ours fast",
        "ratio",
        "ours plain",
        "ratio",
    ]
    for measure in BOTH_PATHS:
        cells = table_line(out, measure)
        assert all(cell not in {"", "-"} for cell in cells[2:6]), cells  # both paths, both ratios
    assert "rq enqueue_many, for reference" in out
    assert "push_at lateness" in out
    assert "worker RSS" in out

    summary = json.loads(results.read_text())
    assert summary["sides"] == {"rq": None, "ours fast": "true", "ours plain": "false"}
    for row in summary["table"]:
        for key in ("ours_fast", "ratio_fast", "ours_plain", "ratio_plain"):
            assert isinstance(row[key], float), (row["measure"], key)
    assert [row["measure"] for row in summary["table"]] == [
        "push (jobs/s)",
        "push_many (jobs/s)",
        "drain no-op (jobs/s)",
        "two workers vs one",
        "enqueue->start p50 (ms)",
    ]
    # The run fails when a process saw the wrong QUEUE_FAST_PATH; at least these were checked:
    # per path, the push and push_many children, 1 + 2 drain workers, latency's worker and child.
    checks = summary["fast_path_checks"]
    assert checks["ours plain"] >= 7 and checks["ours fast"] >= 7 and checks["rq"] >= 4
