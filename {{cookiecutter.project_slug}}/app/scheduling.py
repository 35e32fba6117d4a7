"""The scheduler process: enqueue work on a timetable; never run slow work inline."""

from __future__ import annotations

import threading

import schedule

from app import Application
from app.jobs.reports import rebuild_report
from app.leader_lease import LeaderLease
from app.queue.redis_clients import producer_client

LEASE_SECONDS = 15.0
IDLE_CAP_SECONDS = LEASE_SECONDS / 3


class Scheduler:
    """The timetable (``self.schedule``) and the queue its entries push to (``self.queue``).

    With the redis driver, only the holder of a leader lease in Redis runs due entries, so a
    second scheduler started by mistake stands by instead of enqueuing everything twice. If the
    leader dies, another takes over within ``LEASE_SECONDS`` plus one check.
    """

    def __init__(self, application: Application) -> None:
        self.application = application
        self.queue = application.queue()
        self.schedule = schedule.Scheduler()
        self.stopped = threading.Event()
        self.lease = _lease_for(application)

    def register(self) -> Scheduler:
        """The timetable. Each entry only enqueues; workers do the work."""
        self.schedule.every().hour.do(self.queue.push, rebuild_report, 123)
        return self

    def run(self) -> None:
        """Run due entries while leading, until ``stop()``; check back every few seconds."""
        log = self.application.log()
        log.info("Scheduler started", extra={"entries": len(self.schedule.get_jobs())})
        while not self.stopped.is_set():
            if self.lease is None or self.lease.hold():
                self.schedule.run_pending()
            idle = self.schedule.idle_seconds
            wait = IDLE_CAP_SECONDS if idle is None else min(max(idle, 0.0), IDLE_CAP_SECONDS)
            self.stopped.wait(wait)
        if self.lease is not None:
            self.lease.release()
        log.info("Scheduler stopped")

    def stop(self) -> None:
        self.stopped.set()


def _lease_for(application: Application) -> LeaderLease | None:
    """Redis-backed leadership; none with the sync driver, where there is one process."""
    settings = application.queue_settings
    if settings.connection != "redis":
        return None
    key = f"{application.name}:scheduler:leader"
    client = producer_client(settings.redis)
    return LeaderLease(client, key, LEASE_SECONDS, application.log(), settings.redis.address)
