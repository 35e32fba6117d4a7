"""The scheduler process: enqueue work on a timetable; never run slow work inline."""

from __future__ import annotations

import threading

import schedule

from app import Application
from app.jobs.reports import rebuild_report

IDLE_CAP_SECONDS = 60.0


class Scheduler:
    """The timetable (``self.schedule``) and the queue its entries push to (``self.queue``)."""

    def __init__(self, application: Application) -> None:
        self.application = application
        self.queue = application.queue()
        self.schedule = schedule.Scheduler()
        self.stopped = threading.Event()

    def register(self) -> Scheduler:
        """The timetable. Each entry only enqueues; workers do the work."""
        self.schedule.every().hour.do(self.queue.push, rebuild_report, 123)
        return self

    def run(self) -> None:
        """Run due entries until ``stop()``; sleep until the next one is due."""
        log = self.application.log()
        log.info("Scheduler started", extra={"entries": len(self.schedule.get_jobs())})
        while not self.stopped.is_set():
            self.schedule.run_pending()
            idle = self.schedule.idle_seconds
            self.stopped.wait(
                IDLE_CAP_SECONDS if idle is None else min(max(idle, 0.0), IDLE_CAP_SECONDS)
            )
        log.info("Scheduler stopped")

    def stop(self) -> None:
        self.stopped.set()
