"""The child processes: project (or plain RQ) code run fresh in the baked project's directory.

``queue_bench.py --child NAME ARGS...`` runs one of them with the side's environment; each
prints one JSON object, with the QUEUE_FAST_PATH it saw (the parent checks it).
"""

from __future__ import annotations

import importlib
import json
import os
import random
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from redis import Redis
from rq import Queue as RQQueue

from queuebench.redis_jobs import batches, enqueue_many
from queuebench.sides import FAST_PATH_VARIABLE, QUEUE
from queuebench.stamps import wait_for_lines

WARMUP = 200


def emit(payload: dict[str, Any]) -> None:
    """Print the child's result for the parent, with the QUEUE_FAST_PATH this process saw."""
    print(json.dumps({**payload, "fast_path": os.environ.get(FAST_PATH_VARIABLE)}))


def bench_tasks() -> ModuleType:
    """The project's ``bench_tasks`` (the child runs with the project on PYTHONPATH)."""
    return importlib.import_module("bench_tasks")


def project_queue() -> Any:
    """The project's queue, configured from this process's environment."""
    from app import PROJECT_ROOT, Application

    return Application(PROJECT_ROOT, environ=dict(os.environ)).queue()


def enqueuer(kind: str) -> Callable[[range], None]:
    """A function that enqueues ``noop(n)`` for each n of a range, the ``kind`` way.

    ``rq`` and ``ours``: one call a job (``rq.Queue.enqueue``, ``push``); ``rq_many`` and
    ``ours_many``: batches of 1,000 (``enqueue_many``, ``push_many``).
    """
    noop = bench_tasks().noop
    if kind.startswith("rq"):
        rq_queue = RQQueue(QUEUE, connection=Redis(port=int(os.environ["REDIS_PORT"])))

        def one(number: int) -> object:
            return rq_queue.enqueue(noop, number)

        def many(batch: range) -> int:
            return len(enqueue_many(rq_queue, noop, batch))
    else:
        queue = project_queue()

        def one(number: int) -> object:
            return queue.push(noop, number)

        def many(batch: range) -> int:
            return queue.push_many(noop, [(number,) for number in batch])

    def run_one(numbers: range) -> None:
        for number in numbers:
            if not one(number):
                raise SystemExit(f"{kind}: enqueue failed")

    def run_many(numbers: range) -> None:
        for batch in batches(numbers):
            if many(batch) != len(batch):
                raise SystemExit(f"{kind}: enqueue failed")

    return run_many if kind.endswith("_many") else run_one


def child_enqueue(kind: str, count: int, warmup: int) -> None:
    """Print jobs/s for ``count`` enqueues of ``bench_tasks.noop`` (after ``warmup`` of them)."""
    run = enqueuer(kind)
    run(range(warmup))
    started = time.perf_counter()
    run(range(warmup, warmup + count))
    elapsed = time.perf_counter() - started
    emit({"rate": count / elapsed})


def child_latency(count: int, path: str) -> None:
    """Push ``count`` stamp jobs one at a time with the project's queue, each once the last ran."""
    stamp = bench_tasks().stamp
    queue = project_queue()
    for index in range(count):
        time.sleep(0.05)  # the worker is idle, blocked on the queue
        if not queue.push(stamp, path, time.time()):
            raise SystemExit("push failed")
        wait_for_lines(Path(path), index + 1, timeout=30)
    emit({"pushed": count})


def child_push_at(count: int, path: str) -> None:
    """Schedule ``count`` stamp jobs 1-3 s ahead (random sub-second offsets); print due times."""
    stamp = bench_tasks().stamp
    queue = project_queue()
    due = []
    for _ in range(count):
        when = time.time() + random.uniform(1.0, 3.0)
        if not queue.push_at(datetime.fromtimestamp(when), stamp, path, when):
            raise SystemExit("push_at failed")
        due.append(when)
    emit({"due": due})


def run_child(arguments: list[str]) -> int:
    """Run the child named first in ``arguments`` with the rest."""
    name, *rest = arguments
    if name == "enqueue":
        child_enqueue(rest[0], int(rest[1]), int(rest[2]))
    elif name == "latency":
        child_latency(int(rest[0]), rest[1])
    elif name == "push_at":
        child_push_at(int(rest[0]), rest[1])
    else:
        raise SystemExit(f"unknown child {name!r}")
    return 0
