"""rss: the worker's resident memory as jobs go through it (fast path), to show it stays flat."""

from __future__ import annotations

from queuebench.bench import Bench
from queuebench.processes import rss_kib
from queuebench.redis_jobs import enqueue_noops, wait_finished
from queuebench.sides import FAST


def worker_rss(bench: Bench, checkpoints: tuple[int, ...]) -> list[tuple[int, int]]:
    """(jobs done, worker RSS in KiB) at each checkpoint of one worker's run."""
    samples = []
    with bench.workers(FAST) as (worker,):
        queued = 0
        for checkpoint in checkpoints:
            enqueue_noops(bench.redis, bench.tasks().noop, range(queued, checkpoint))
            queued = checkpoint
            wait_finished(bench.redis, checkpoint, timeout=300, who="rss")
            samples.append((checkpoint, rss_kib(worker.pid)))
    return samples
