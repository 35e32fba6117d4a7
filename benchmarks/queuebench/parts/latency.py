"""latency: enqueue to job start with an idle worker, one job at a time, each side its own way."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

from rq import Queue as RQQueue

from queuebench.bench import Bench
from queuebench.sides import QUEUE, SIDES, Side, result_name
from queuebench.sizes import Sizes
from queuebench.stamps import fresh, read_floats, wait_for_lines


def latencies(bench: Bench, side: Side, samples: int) -> list[float]:
    """Seconds from just before enqueue to the job's first line, one job at a time.

    Each side enqueues its own way: plain ``rq.Queue.enqueue`` here for the forking
    ``rq worker``, the project's ``push`` (in a child process running the project) for ours.
    """
    path = fresh(bench.work / f"latency-{side.slug}.txt")
    with bench.workers(side):
        if side.ours:
            bench.child(side, "latency", str(samples), str(path))
        else:
            stamp = bench.tasks().stamp
            queue = RQQueue(QUEUE, connection=bench.redis)
            for index in range(samples):
                time.sleep(0.05)  # the worker is idle, blocked on the queue
                queue.enqueue(stamp, str(path), time.time())
                wait_for_lines(path, index + 1, timeout=30)
    return read_floats(path)


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """p50 in milliseconds: the forking ``rq worker``, then each path of ours."""
    for side in SIDES:
        p50 = statistics.median(latencies(bench, side, sizes.latency))
        yield result_name("latency p50 ms", side), 1000 * p50
