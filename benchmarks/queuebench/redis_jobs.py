"""Redis for the benchmark: a private ``redis-server``, no-op jobs in batches, their timestamps."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue as RQQueue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from queuebench.project import PROJECT_TEMPLATE
from queuebench.sides import QUEUE

BATCH = 1000


def start_redis_server(directory: Path) -> Any:
    """Start the generated project's test helper ``RedisServer`` on a free loopback port."""
    path = PROJECT_TEMPLATE / "tests" / "support" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("bench_redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.RedisServer(directory).start()


def batches(numbers: range, size: int = BATCH) -> Iterator[range]:
    """``numbers`` cut into consecutive ranges of at most ``size``."""
    for start in range(numbers.start, numbers.stop, size):
        yield range(start, min(start + size, numbers.stop))


def enqueue_many(queue: RQQueue, function: Callable[..., Any], numbers: range) -> list[Job]:
    """``function(n)`` for every n, with RQ's ``enqueue_many``, one pipeline per batch."""
    return queue.enqueue_many([RQQueue.prepare_data(function, (number,)) for number in numbers])


def enqueue_noops(redis: Redis, function: Callable[..., Any], numbers: range) -> list[str]:
    """Queue ``function(n)`` for every n on the bench queue in batches; return the job ids."""
    queue = RQQueue(QUEUE, connection=redis)
    return [job.id for batch in batches(numbers) for job in enqueue_many(queue, function, batch)]


def wait_finished(redis: Redis, count: int, timeout: float, who: str) -> None:
    """Wait until ``count`` jobs are in the finished registry; raise after ``timeout`` s."""
    finished = FinishedJobRegistry(QUEUE, connection=redis)
    deadline = time.monotonic() + timeout
    while finished.count < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{who}: only {finished.count} of {count} jobs finished")
        time.sleep(0.05)


def run_window(redis: Redis, job_ids: list[str]) -> tuple[float, float]:
    """The first job's ``started_at`` and the last job's ``ended_at`` (epoch seconds)."""
    with redis.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hmget(f"rq:job:{job_id}", "started_at", "ended_at")
        stamps = pipeline.execute()
    return (
        min(parse_time(started) for started, _ in stamps),
        max(parse_time(ended) for _, ended in stamps),
    )


def parse_time(raw: bytes) -> float:
    """An RQ timestamp (UTC ISO 8601, maybe with Z) as epoch seconds."""
    text = raw.decode().rstrip("Z")
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
