"""The benchmark runs end to end with tiny N; timings are not asserted (see BENCHMARKS.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from helpers import TEMPLATE_ROOT

BENCHMARK = TEMPLATE_ROOT / "benchmarks" / "queue_bench.py"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="the benchmark needs redis-server")
def test_benchmark_runs_with_tiny_n_and_prints_every_target(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json", str(tmp_path / "results.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for measure in ("push (jobs/s)", "push_many", "drain no-op", "two workers", "enqueue->start"):
        assert measure in result.stdout
    assert "push_at lateness" in result.stdout
    assert "worker RSS" in result.stdout
    assert (tmp_path / "results.json").exists()
