"""Which job is running in this thread, and which attempt: for tasks that must not repeat effects.

A job may run more than once (a retry after a failure, a worker killed or silent past its lease).
``current_job()`` tells a task its job id (the same on every attempt: an idempotency key) and its
attempt number (1 on the first run), so it can skip work a previous attempt finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class CurrentJob:
    """The running job: its id and how many times a worker has started it, this run included."""

    id: str
    attempt: int


_running: ContextVar[CurrentJob | None] = ContextVar("current_job", default=None)


def current_job() -> CurrentJob | None:
    """The job this code runs in (a worker, or an inline sync push); None outside any job."""
    return _running.get()


@contextmanager
def running(job: CurrentJob) -> Iterator[None]:
    """Make ``current_job()`` return ``job`` inside the block (the drivers and the worker)."""
    token = _running.set(job)
    try:
        yield
    finally:
        _running.reset(token)
