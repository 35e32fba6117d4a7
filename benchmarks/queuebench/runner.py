"""A whole run: Redis and a bake, the parts in every repetition, then RSS and the suite."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from queuebench.bench import Bench
from queuebench.parts import concurrency, drain, latency, metrics_cost, push, push_at, redis_cost
from queuebench.parts.bake import bake_times, suite_seconds
from queuebench.parts.rss import worker_rss
from queuebench.redis_jobs import start_redis_server
from queuebench.report import table
from queuebench.sides import SIDES
from queuebench.sizes import Sizes
from queuebench.versions import versions

# Measured in every repetition, in this order; "rss" once after the repetitions.
PER_REPETITION: dict[str, Callable[[Bench, Sizes], Iterator[tuple[str, float]]]] = {
    "push": push.measure,
    "drain": drain.measure,
    "latency": latency.measure,
    "push_at": push_at.measure,
    "redis_cost": redis_cost.measure,
    "metrics": metrics_cost.measure,
    "concurrency": concurrency.measure,
}
PARTS = (*PER_REPETITION, "rss")


def run(sizes: Sizes, only: set[str], suite: bool) -> dict[str, Any]:
    """Measure the ``only`` parts ``sizes.reps`` times; the summary the report and JSON use."""
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as scratch:
        work = Path(scratch)
        server = start_redis_server(work / "redis")
        bench: Bench | None = None
        try:
            project, bakes = bake_times(work, sizes.bakes)
            bench = Bench(project, server.port, work)
            for rep in range(sizes.reps):
                print(f"repetition {rep + 1}/{sizes.reps}", flush=True)
                for part, measure in PER_REPETITION.items():
                    if part in only:
                        for name, value in measure(bench, sizes):
                            results.setdefault(name, []).append(value)
                            print(f"  {name:<28} {value:12.2f}", flush=True)
            rss = worker_rss(bench, sizes.rss_points) if "rss" in only else []
            suite_time = suite_seconds(project) if suite else None
            fast_path_checks = dict(bench.fast_path_checks)
        finally:
            if bench is not None:
                bench.stop_all()
            server.stop()
    medians = {name: statistics.median(values) for name, values in results.items()}
    return {
        "versions": versions(),
        "reps": sizes.reps,
        "n": sizes.summary(),
        "sides": {side.name: side.fast_path for side in SIDES},
        "fast_path_checks": fast_path_checks,
        "table": table(medians),
        "medians": medians,
        "all": results,
        "bake_seconds": statistics.median(bakes),
        "rss_kib": rss,
        "suite_seconds": suite_time,
    }
