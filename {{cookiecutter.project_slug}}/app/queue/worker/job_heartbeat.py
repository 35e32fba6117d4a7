"""Keep running jobs' "started" entries alive from a side thread while the jobs run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job

log = logging.getLogger("app.worker")


class JobHeartbeat:
    """While a job runs, renew its heartbeat every ``worker.job_monitoring_interval`` seconds.

    If the worker dies, renewals stop and the entry lapses, so RQ's registry cleanup retries the
    job or records it as failed (AbandonedJobError). One daemon thread serves every running job
    of the worker, one job or many at once (a thread per job would cost more than a short job);
    ``running`` returns only once no renewal for its job is in flight, so none lands after the
    job has ended.

    Starting a job does not wake the thread (a wake-up on every job competed with the job for
    the interpreter lock): while idle, the thread looks for a job every half interval, so the
    first renewal comes between one and one and a half intervals after the start, well inside
    the started entry's TTL (at least two intervals of grace, see ``get_heartbeat_ttl``).
    """

    def __init__(self, worker: SimpleWorker) -> None:
        self._worker = worker
        self._changed = threading.Condition()
        self._jobs: dict[int, tuple[Job, Execution, float]] = {}  # by token: job, run, due
        self._beating: int | None = None  # the token whose renewal is in flight
        self._tokens = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    @contextmanager
    def running(self, job: Job, execution: Execution) -> Iterator[None]:
        with self._changed:
            self._tokens += 1
            token = self._tokens
            due = time.monotonic() + self._worker.job_monitoring_interval
            self._jobs[token] = (job, execution, due)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._beat, name="job-heartbeat", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._changed:
                del self._jobs[token]
                while self._beating == token:
                    self._changed.wait()

    def close(self) -> None:
        """Stop the side thread (the worker is shutting down); a later job starts a new one."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._changed:
            self._closed, self._thread = False, None

    def _beat(self) -> None:
        with self._changed:
            while not self._closed:
                if not self._jobs:
                    self._changed.wait(self._worker.job_monitoring_interval / 2)
                    continue
                token, (job, execution, due) = min(
                    self._jobs.items(), key=lambda entry: entry[1][2]
                )
                remaining = due - time.monotonic()
                if remaining > 0:
                    self._changed.wait(min(remaining, self._worker.job_monitoring_interval / 2))
                    continue
                next_due = time.monotonic() + self._worker.job_monitoring_interval
                self._jobs[token] = (job, execution, next_due)
                self._beating = token
                self._changed.release()
                try:
                    self._worker.maintain_heartbeats(job, execution)
                except Exception as error:
                    log.warning("Job heartbeat failed: %s", error, extra={"job_id": job.id})
                finally:
                    self._changed.acquire()
                    self._beating = None
                    self._changed.notify_all()
