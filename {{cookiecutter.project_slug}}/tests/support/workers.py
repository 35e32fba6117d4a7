"""Run a worker in the test process, as ``python queues.py`` would for an application."""

from __future__ import annotations

from app import Application
from app.queue.worker import run_worker


def work(application: Application, burst: bool = False, name: str | None = None) -> int:
    """``run_worker`` with the application's settings and logger; returns the exit code."""
    return run_worker(application.queue_settings, application.log(), burst=burst, name=name)
