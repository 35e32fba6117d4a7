"""Keep a running job's "started" entry alive from a side thread while the job runs inline."""

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
    job or records it as failed (AbandonedJobError). One daemon thread serves every job of the
    worker (a thread per job would cost more than a short job); ``running`` returns only
    once no renewal for its job is in flight, so none lands after the job has ended.

    Starting a job does not wake the thread (a wake-up on every job competed with the job for
    the interpreter lock): while idle, the thread looks for a job every half interval, so the
    first renewal comes between one and one and a half intervals after the start, well inside
    the started entry's TTL (at least two intervals of grace, see ``get_heartbeat_ttl``).
    """

    def __init__(self, worker: SimpleWorker) -> None:
        self._worker = worker
        self._changed = threading.Condition()
        self._job: tuple[Job, Execution] | None = None
        self._due = 0.0
        self._beating = False
        self._closed = False
        self._thread: threading.Thread | None = None

    @contextmanager
    def running(self, job: Job, execution: Execution) -> Iterator[None]:
        with self._changed:
            self._job = (job, execution)
            self._due = time.monotonic() + self._worker.job_monitoring_interval
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._beat, name="job-heartbeat", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._changed:
                self._job = None
                while self._beating:
                    self._changed.wait()

    def close(self) -> None:
        """Stop the side thread (the worker is shutting down)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        with self._changed:
            while not self._closed:
                if self._job is None:
                    self._changed.wait(self._worker.job_monitoring_interval / 2)
                    continue
                remaining = self._due - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                job, execution = self._job
                self._due = time.monotonic() + self._worker.job_monitoring_interval
                self._beating = True
                self._changed.release()
                try:
                    self._worker.maintain_heartbeats(job, execution)
                except Exception as error:
                    log.warning("Job heartbeat failed: %s", error, extra={"job_id": job.id})
                finally:
                    self._changed.acquire()
                    self._beating = False
                    self._changed.notify_all()
