"""``QueueWorker``: RQ's ``SimpleWorker`` plus what this project needs for correctness."""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING, Any

from rq import Queue as RQQueue
from rq import SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import DeserializationError, StopRequested
from rq.job import Job
from rq.utils import now
from rq.worker import WorkerStatus

from app.queue.current_job import CurrentJob, running
from app.queue.redis_outage import RedisOutage
from app.queue.stored_jobs import stored_function
from app.queue.worker.due_jobs import DueJobMover
from app.queue.worker.job_heartbeat import JobHeartbeat
from app.queue.worker.job_lease import JobLease
from app.queue.worker.rq_outage_lines import RQOutageLines
from app.queue.worker.unloadable_jobs import UNLOADABLE_ERROR, load_failure

if TYPE_CHECKING:
    from types import FrameType

    from rq.executions import Execution

# A running job's "started" entry lapses this many heartbeat intervals after the last renewal.
HEARTBEAT_GRACE_BEATS = 2
# The job hash field counting how many times workers started the job (RQ ignores it).
ATTEMPT_FIELD = "attempt"


class QueueWorker(SimpleWorker):
    """Runs jobs inside the worker process, one at a time, and logs each with its id.

    What it adds to RQ's ``SimpleWorker``, each for correctness:

    - job logs: "Job started/finished/failed" with the job id, function and duration;
    - job heartbeats: a side thread renews the running job's "started" entry, so a killed
      worker's job is recovered within a few intervals instead of after its whole timeout;
    - fencing: a run records its outcome only while it still holds that entry (``job_lease.py``);
      a run that was silent past its lease, and so was handed to another worker, writes nothing;
    - warm shutdown: SIGTERM or SIGINT lets the current job finish, then the worker exits, even
      when the signal lands during start-up;
    - unloadable jobs (corrupt data, another serializer, an argument whose class cannot be
      imported) fail at once, without retries, instead of stopping the worker;
    - RQ's scheduler (the mover of due ``push_at`` jobs) runs in a thread, not a forked process
      (``due_jobs.py``), and a Redis outage logs one WARNING and one INFO, not a retry line each
      second and a traceback. This overrides ``_start_scheduler`` and ``stop_scheduler``.

    ``app.queue.fast_path.worker.FastQueueWorker`` adds round-trip savings on top, and
    ``threaded.ThreadedJobs`` runs several jobs at once (WORKER_CONCURRENCY > 1).
    """

    app_log = logging.getLogger("app.worker")
    due_job_poll_seconds = 1.0  # RQ's scheduler interval
    redis_address: str | None = None  # for outage lines; ``run.py`` sets it from the settings
    _redis_outage: RedisOutage | None = None
    _outage_lines: RQOutageLines | None = None
    _job_heartbeat: JobHeartbeat | None = None
    _lease: JobLease | None = None
    _outcome_discarded = False
    jobs_done = 0
    concurrency = 1  # jobs run at once; ``ThreadedJobs`` runs more (WORKER_CONCURRENCY)
    stop_signalled = False  # SIGTERM/SIGINT asked for a warm shutdown
    _taking = False  # a job is popped and started, not yet returned (``take_next_job``)
    _holding_stops = False  # a warm stop is only noted: start-up, maintenance (``_shutdown``)

    def bootstrap(self, *args: object, **kwargs: object) -> None:
        """RQ's start-up, with the warm-shutdown handlers installed first.

        RQ installs them only once start-up is over (after the scheduler starts); a SIGTERM in
        between killed the worker with the default action instead of stopping it cleanly.
        """
        self._holding_stops = True  # until RQ's loop first dequeues
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        self._outage_lines = RQOutageLines(self.redis_outage)
        logging.getLogger("rq.worker").addFilter(self._outage_lines)
        super().bootstrap(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def redis_outage(self) -> RedisOutage:
        """This worker's view of its Redis link, shared with its due-job mover."""
        if self._redis_outage is None:
            address = self.redis_address
            if address is None:
                options = self.connection.connection_pool.connection_kwargs
                address = f"{options.get('host')}:{options.get('port')}/{options.get('db')}"
            self._redis_outage = RedisOutage(address, self.app_log)
        return self._redis_outage

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's ``_start_scheduler`` with ``DueJobMover`` (a thread) in place of a forked one."""
        self.scheduler = DueJobMover(
            self.queues,
            connection=self.connection,
            poll_seconds=self.due_job_poll_seconds,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
            outage=self.redis_outage,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker moves due jobs; RQ's maintenance retries the locks
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def stop_scheduler(self) -> None:
        """Stop the due-job mover's thread (RQ signals and joins a process here)."""
        if isinstance(self.scheduler, DueJobMover):
            self.scheduler.stop_thread()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """RQ's warm shutdown, remembered: RQ only flags it when a job is running."""
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def _shutdown(self) -> None:
        """RQ's warm stop: at once when idle (``StopRequested``), else once the running jobs end.

        While stops are held, the stop is only noted, and RQ's loop ends at its next turn: during
        start-up and maintenance the worker starts threads (RQ's command listener, the due-job
        mover), and ``StopRequested`` raised by the handler inside ``Thread.start`` breaks the
        new thread. While a job is being taken (``take_next_job``), the popped job is in the
        started registry already: the worker stops once it has run.
        """
        if self._holding_stops:
            self._stop_requested = True
        elif self._taking or not self.stops_at_once():
            self.stop_after_running_jobs()
        else:
            raise StopRequested()

    def stops_at_once(self) -> bool:
        """Whether nothing runs, so a warm stop ends the loop now (RQ's test: not busy)."""
        return self.get_state() != WorkerStatus.BUSY

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, with warm stops held: it restarts the due-job mover's thread when
        that thread has died."""
        held, self._holding_stops = self._holding_stops, True
        try:
            super().run_maintenance_tasks()
        finally:
            self._holding_stops = held

    def stop_after_running_jobs(self) -> None:
        """RQ's warm stop of a busy worker: flag it, note when it was asked, stop the scheduler."""
        self._stop_requested = True
        self.set_shutdown_requested_date()
        if self.scheduler:
            self.stop_scheduler()

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, RQQueue] | None:
        """RQ's dequeue, unless a stop was signalled already (then None ends RQ's loop).

        An idle worker stops because ``request_stop`` raises StopRequested, but an exception
        raised by a signal handler is lost when the signal lands inside logging or a fork
        handler (both swallow it). The flag survives that, so the worker still stops instead of
        blocking on the queue.
        """
        self._holding_stops = False  # RQ's loop is running: a warm stop may raise in it now
        if self.stop_signalled:
            return None
        result = self.take_next_job()
        if result is None and not self.stop_signalled:  # a stop may have come during the take
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        self.redis_outage.answered()  # RQ returns only once Redis has answered
        return result

    def take_next_job(self) -> tuple[Job, RQQueue] | None:
        """A job taken and started without waiting, or None to let RQ dequeue (and wait).

        None here; the fast path takes one in a single script call."""
        return None

    def success_takes_next_job(self, job: Job, return_value: Any) -> bool:
        """Whether writing this job's success may take the next job in the same call (for
        ``ThreadedJobs``); False here, the fast path's success script can."""
        return False

    def execute_job(self, job: Job, queue: RQQueue) -> None:
        """RQ's ``SimpleWorker.execute_job``, with the job's heartbeat renewed while it runs."""
        execution = self.prepare_execution(job)
        lease = JobLease(self.connection, job, execution)
        self.run_job(job, queue, execution, lease, self.count_attempt(job))
        self.job_ended()

    def run_job(
        self, job: Job, queue: RQQueue, execution: Execution, lease: JobLease, attempt: int
    ) -> None:
        """Perform a prepared job under its lease, with its heartbeat and ``current_job()``."""
        self._lease = lease
        self._outcome_discarded = False
        try:
            with self.job_heartbeat().running(job, execution), running(CurrentJob(job.id, attempt)):
                self.perform_job(job, queue, execution)
        finally:
            self._lease = None

    def count_attempt(self, job: Job) -> int:
        """Count this start in the job's hash (``attempt``); ``current_job()`` reports it."""
        return int(self.connection.hincrby(job.key, ATTEMPT_FIELD, 1))

    def job_ended(self) -> None:
        """What RQ writes once a job is over: the worker is idle again."""
        self.set_state(WorkerStatus.IDLE)

    def job_heartbeat(self) -> JobHeartbeat:
        """The side thread that renews running jobs' heartbeats, started on first use."""
        if self._job_heartbeat is None:
            self._job_heartbeat = JobHeartbeat(self)
        return self._job_heartbeat

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """RQ's renewal of the running job's heartbeats, only while this run holds its lease;
        without it, only the worker's own registration is renewed (the worker is alive)."""
        lease = self.lease_of(execution)
        working_time = (now() - job.started_at).total_seconds() if job.started_at else 0.0
        if lease is None or lease.renew(self.get_heartbeat_ttl(job, working_time)):
            super().maintain_heartbeats(job, execution)
        else:
            self.heartbeat(self.job_monitoring_interval + 60)

    def lease_of(self, execution: Execution) -> JobLease | None:
        """The lease of the running ``execution`` (the heartbeat thread renews it)."""
        return self._lease

    def handle_execution_ended(self, job: Job, queue: RQQueue, heartbeat_ttl: int) -> None:
        if self.fence_holds(job, queue, heartbeat_ttl):
            self.record_execution_end(job, queue, heartbeat_ttl)

    def fence_holds(self, job: Job, queue: RQQueue, ttl: int) -> bool:
        """The fence: before any outcome is written, renew the lease for ``ttl`` seconds; False
        when it was lost, and the outcome is discarded."""
        lease = self._lease
        if lease is not None and not lease.renew(ttl) and lease.lost:
            self.discard_outcome(job, queue, lease)
            return False
        return True

    def discard_outcome(self, job: Job, queue: RQQueue, lease: JobLease) -> None:
        """This run lost its lease: nothing of it is recorded, and the log says why."""
        lease.lost = True
        self._outcome_discarded = True
        self.app_log.warning(
            "Job outcome discarded: this run was silent for %.1f s, past its lease, so the job"
            " was handed to another worker; nothing from this run is recorded",
            lease.silent_for(),
            extra={"job_id": job.id, "function": job.func_name, "queue": queue.name},
        )
        job.ended_at = now()

    def record_execution_end(self, job: Job, queue: RQQueue, heartbeat_ttl: int) -> None:
        """RQ's end-of-execution stamp (``ended_at`` and a last job heartbeat)."""
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def handle_job_success(self, job: Job, queue: RQQueue, *args: Any, **kwargs: Any) -> None:
        if not self._outcome_discarded:
            super().handle_job_success(job, queue, *args, **kwargs)

    def handle_job_failure(self, job: Job, queue: RQQueue, *args: Any, **kwargs: Any) -> None:
        if not self._outcome_discarded:
            super().handle_job_failure(job, queue, *args, **kwargs)

    def handle_job_retry(self, job: Job, queue: RQQueue, *args: Any, **kwargs: Any) -> None:
        if not self._outcome_discarded:
            super().handle_job_retry(job, queue, *args, **kwargs)

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
        self.count_job()
        try:
            function = job.func_name
        except DeserializationError as error:
            return self.fail_unloadable(job, queue, execution, error)
        context = {"job_id": job.id, "function": function, "queue": queue.name}
        started = time.perf_counter()
        self.app_log.info("Job started", extra=context)
        succeeded = super().perform_job(job, queue, execution)
        elapsed = f"{time.perf_counter() - started:.3f}s"
        if self._outcome_discarded:
            return False
        if succeeded:
            self.app_log.info("Job finished", extra={**context, "duration": elapsed})
        else:
            self.app_log.error(
                "Job failed",
                extra={**context, "duration": elapsed, "retries_left": job.retries_left or 0},
            )
        return succeeded

    def count_job(self) -> None:
        """Count a job this worker started (``max_jobs`` recycles the worker after so many)."""
        self.jobs_done += 1

    def fail_unloadable(
        self, job: Job, queue: RQQueue, execution: Execution, error: DeserializationError
    ) -> bool:
        """Record a job whose data cannot be loaded as failed, with no retry left; RQ's exception
        handlers (and its traceback line) see it as they see any failure."""
        reason = load_failure(job, error)
        self.app_log.error(
            "Job failed: %s; not retried",
            reason,
            extra={"job_id": job.id, "function": stored_function(job), "queue": queue.name},
        )
        self.handle_exception(job, type(error), error, error.__traceback__)
        job.retries_left = 0
        job.ended_at = now()
        self.handle_job_failure(
            job, queue, exc_string=f"{UNLOADABLE_ERROR}: {reason}\n", execution=execution
        )
        return False

    def unsubscribe(self) -> None:
        """RQ's unsubscribe, with its listener thread told to stop first.

        RQ stops the thread after sending UNSUBSCRIBE; when the reply wakes the thread before the
        stop flag is set, it blocks for its next message and RQ's join gives up after a second,
        so a stopping worker lingered a second. Stopping first lets the reply end the thread.
        """
        if self.pubsub_thread is not None:
            self.pubsub_thread.stop()
        super().unsubscribe()

    def teardown(self) -> None:
        if self._job_heartbeat is not None:
            self._job_heartbeat.close()
        super().teardown()
        if self._outage_lines is not None:
            logging.getLogger("rq.worker").removeFilter(self._outage_lines)
