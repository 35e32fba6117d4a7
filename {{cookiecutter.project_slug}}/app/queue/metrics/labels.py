"""Bounded label values: a label per queue or function name must not grow without limit."""

from __future__ import annotations

from collections.abc import Iterable

from rq.job import Job

from app.queue.metrics.names import OTHER

TASK_PACKAGE = "app.jobs."


def queue_label(name: str, configured: Iterable[str]) -> str:
    """The queue's name when it is configured (``WORKER_QUEUES``, ``JOB_QUEUE``), else "other"."""
    return name if name in configured else OTHER


def function_label(job: Job) -> str:
    """The task's dotted name when it lives in ``app.jobs``, else "other" (and for jobs whose
    data cannot be loaded)."""
    try:
        name = job.func_name
    except Exception:
        return OTHER
    return name if isinstance(name, str) and name.startswith(TASK_PACKAGE) else OTHER
