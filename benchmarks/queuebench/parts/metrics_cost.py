"""metrics: worker drain with the metrics listener on and off, alternating in the same run.

Each repetition drains the same no-op jobs through one fast-path worker four times, in the order
on, off, off, on (so a drift in the shared machine's speed weighs on both sides alike). "On"
sets WORKER_METRICS_PORT, so the worker counts and times every job (``JobMetrics``) and serves
them; the part then reads the listener and checks it counted every job. "Off" sets
METRICS_ENABLED=false. The ratio is on/off of the repetition's two means: 0.95 or more is the
target (within 5%). Beside it, the in-process cost of counting one job (``JobMetrics.count``,
the whole per-job work of metrics), timed in a loop: the drain ratio's noise on a shared machine
is far larger than this.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import time
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace

from rq.job import Job
from rq.utils import now

from queuebench.bench import Bench
from queuebench.redis_jobs import enqueue_noops, run_window, wait_finished
from queuebench.sides import FAST, QUEUE
from queuebench.sizes import Sizes

COUNT_LOOPS = 20000
ON = "metrics drain x1 on"
OFF = "metrics drain x1 off"
RATIO = "metrics drain on/off"
COUNT_COST = "metrics count us/job"
ORDER = (True, False, False, True)


@contextlib.contextmanager
def metrics_setting(bench: Bench, port: int | None) -> Iterator[None]:
    """Workers started inside serve their metrics on ``port``, or have metrics off (None)."""
    saved = dict(bench.base_env)
    if port is None:
        bench.base_env["METRICS_ENABLED"] = "false"
    else:
        bench.base_env.update(METRICS_ENABLED="true", WORKER_METRICS_PORT=str(port))
    try:
        yield
    finally:
        bench.base_env.clear()
        bench.base_env.update(saved)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def counted(port: int) -> float:
    """The finished jobs the worker's listener reports."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    prefix = "queue_jobs_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(prefix) and 'outcome="finished"' in line
    )


def wait_counted(port: int, count: int) -> None:
    """Raise unless the listener reports ``count`` finished jobs within five seconds."""
    deadline = time.monotonic() + 5
    while (seen := counted(port)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker's metrics counted {seen} of {count} jobs")
        time.sleep(0.05)


def drain_rate(bench: Bench, count: int, port: int | None) -> float:
    """One idle fast-path worker drains ``count`` no-ops queued in one go; jobs per second."""
    with metrics_setting(bench, port), bench.workers(FAST, 1):
        job_ids = enqueue_noops(bench.redis, bench.tasks().noop, range(count))
        wait_finished(bench.redis, count, timeout=max(120.0, count / 20), who=FAST.name)
        first_start, last_end = run_window(bench.redis, job_ids)
        if port is not None:
            wait_counted(port, count)
    return count / (last_end - first_start)


def count_cost_microseconds(bench: Bench) -> float:
    """Microseconds ``JobMetrics.count`` takes for one finished job (labels, counter, histogram)."""
    from app.queue.metrics.worker_metrics import JobMetrics  # the baked project's, on sys.path

    job = Job.create(bench.tasks().noop, args=(1,), connection=bench.redis)
    job.started_at = job.ended_at = now()
    worker = SimpleNamespace(metric_queues=frozenset({QUEUE}))
    started = time.perf_counter()
    for _ in range(COUNT_LOOPS):
        JobMetrics.count(worker, job, QUEUE, "finished")  # type: ignore[arg-type]
    return (time.perf_counter() - started) / COUNT_LOOPS * 1e6


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """Drain ``sizes.drain`` no-ops four times, metrics on and off alternately."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    for metrics_on in ORDER:
        rate = drain_rate(bench, sizes.drain, free_port() if metrics_on else None)
        rates[metrics_on].append(rate)
        yield ON if metrics_on else OFF, rate
    yield RATIO, statistics.mean(rates[True]) / statistics.mean(rates[False])
    yield COUNT_COST, count_cost_microseconds(bench)
