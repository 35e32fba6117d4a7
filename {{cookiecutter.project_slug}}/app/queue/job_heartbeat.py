"""Keep a running job's "started" entry alive from a side thread while the job runs inline."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job

log = logging.getLogger("app.worker")


class JobHeartbeat:
    """While active, renew the job's heartbeat every ``worker.job_monitoring_interval`` seconds.

    If the worker dies, renewals stop and the entry lapses, so RQ's registry cleanup retries the
    job or records it as failed (AbandonedJobError). Renewals only update existing entries, so a
    late one after the job ended changes nothing.
    """

    def __init__(self, worker: SimpleWorker, job: Job, execution: Execution) -> None:
        self._worker = worker
        self._job = job
        self._execution = execution
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> JobHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(self._worker.job_monitoring_interval):
            try:
                self._worker.maintain_heartbeats(self._job, self._execution)
            except Exception as error:
                log.warning("Job heartbeat failed: %s", error, extra={"job_id": self._job.id})
