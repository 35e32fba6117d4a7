"""drain and two workers: no-op jobs per second through idle workers, first start to last end."""

from __future__ import annotations

from collections.abc import Iterator

from queuebench.bench import Bench
from queuebench.redis_jobs import enqueue_noops, run_window, wait_finished
from queuebench.sides import BASELINE, OURS, Side, result_name
from queuebench.sizes import Sizes

BASELINE_DRAIN = "drain rq worker (fork)"


def drain_rate(bench: Bench, side: Side, count: int, workers: int = 1) -> float:
    """Start ``workers`` idle workers, queue ``count`` no-ops in one go; jobs per second."""
    with bench.workers(side, workers):
        job_ids = enqueue_noops(bench.redis, bench.tasks().noop, range(count))
        wait_finished(bench.redis, count, timeout=max(120.0, count / 20), who=side.name)
        first_start, last_end = run_window(bench.redis, job_ids)
    return count / (last_end - first_start)


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """The forking ``rq worker``, then one and two workers of each path."""
    yield BASELINE_DRAIN, drain_rate(bench, BASELINE, sizes.drain_rq)
    for workers in (1, 2):
        for side in OURS:
            rate = drain_rate(bench, side, sizes.drain, workers)
            yield result_name(f"drain x{workers}", side), rate
