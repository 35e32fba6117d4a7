"""``QueueWorker``: RQ's ``SimpleWorker`` plus what this project needs for correctness."""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING

from rq import Queue as RQQueue
from rq import SimpleWorker
from rq.job import Job
from rq.worker import WorkerStatus

from app.queue.worker.job_heartbeat import JobHeartbeat

if TYPE_CHECKING:
    from types import FrameType

    from rq.executions import Execution

# A running job's "started" entry lapses this many heartbeat intervals after the last renewal.
HEARTBEAT_GRACE_BEATS = 2


class QueueWorker(SimpleWorker):
    """Runs jobs inside the worker process, one at a time, and logs each with its id.

    What it adds to RQ's ``SimpleWorker``, each for correctness:

    - job logs: "Job started/finished/failed" with the job id, function and duration;
    - job heartbeats: a side thread renews the running job's "started" entry, so a killed
      worker's job is recovered within a few intervals instead of after its whole timeout;
    - warm shutdown: SIGTERM or SIGINT lets the current job finish, then the worker exits, even
      when the signal lands during start-up.

    ``app.queue.fast_path.worker.FastQueueWorker`` adds round-trip savings on top.
    """

    app_log = logging.getLogger("app.worker")
    _job_heartbeat: JobHeartbeat | None = None
    jobs_done = 0
    stop_signalled = False  # SIGTERM/SIGINT asked for a warm shutdown

    def bootstrap(self, *args: object, **kwargs: object) -> None:
        """RQ's start-up, with the warm-shutdown handlers installed first.

        RQ installs them only once start-up is over (after the scheduler starts); a SIGTERM in
        between killed the worker with the default action instead of stopping it cleanly.
        """
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        super().bootstrap(*args, **kwargs)  # type: ignore[arg-type]

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """RQ's warm shutdown, remembered: RQ only flags it when a job is running."""
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, RQQueue] | None:
        """RQ's dequeue, unless a stop was signalled already (then None ends RQ's loop).

        An idle worker stops because ``request_stop`` raises StopRequested, but an exception
        raised by a signal handler is lost when the signal lands inside logging or a fork
        handler (both swallow it). The flag survives that, so the worker still stops instead of
        blocking on the queue.
        """
        if self.stop_signalled:
            return None
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def execute_job(self, job: Job, queue: RQQueue) -> None:
        """RQ's ``SimpleWorker.execute_job``, with the job's heartbeat renewed while it runs."""
        execution = self.prepare_execution(job)
        with self.job_heartbeat().running(job, execution):
            self.perform_job(job, queue, execution)
        self.job_ended()

    def job_ended(self) -> None:
        """What RQ writes once a job is over: the worker is idle again."""
        self.set_state(WorkerStatus.IDLE)

    def job_heartbeat(self) -> JobHeartbeat:
        """The side thread that renews running jobs' heartbeats, started on first use."""
        if self._job_heartbeat is None:
            self._job_heartbeat = JobHeartbeat(self)
        return self._job_heartbeat

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Seconds a job stays "started" without a renewal; shrinks as the job nears its timeout.

        RQ's ``SimpleWorker`` gives the whole job timeout plus a minute, as nothing renews it;
        here the side thread does, so a lapse means the worker is gone.
        """
        interval = self.job_monitoring_interval
        remaining = job.timeout - working_time if job.timeout and job.timeout > 0 else interval
        return int(max(min(remaining, interval), 0)) + HEARTBEAT_GRACE_BEATS * interval

    def perform_job(self, job: Job, queue: RQQueue, execution: Execution) -> bool:
        """RQ's ``perform_job`` between our "Job started" and "Job finished/failed" lines."""
        self.jobs_done += 1
        context = {"job_id": job.id, "function": job.func_name, "queue": queue.name}
        started = time.perf_counter()
        self.app_log.info("Job started", extra=context)
        succeeded = super().perform_job(job, queue, execution)
        elapsed = f"{time.perf_counter() - started:.3f}s"
        if succeeded:
            self.app_log.info("Job finished", extra={**context, "duration": elapsed})
        else:
            self.app_log.error(
                "Job failed",
                extra={**context, "duration": elapsed, "retries_left": job.retries_left},
            )
        return succeeded

    def teardown(self) -> None:
        if self._job_heartbeat is not None:
            self._job_heartbeat.close()
        super().teardown()
