"""The worker behind ``python queues.py``: an RQ worker with the scheduler on and job logging."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from rq import Queue as RQQueue
from rq import SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.utils import now
from rq.worker import WorkerStatus

from app.queue.connection import describe_error, producer_client, worker_client
from app.queue.job_heartbeat import JobHeartbeat
from app.queue.prompt_scheduler import PromptScheduler
from app.queue.script_pipeline import RUN_COMMANDS_LUA, run_as_script
from app.queue.serialization import serializer_for
from app.queue.task_import import TaskJob
from app.queue.worker_logs import RQ_LINE_FILTER

if TYPE_CHECKING:
    from types import FrameType

    from redis.client import Pipeline
    from redis.commands.core import Script

    from app import Application

EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_MISCONFIGURED = 2
HEARTBEAT_GRACE_BEATS = 2
# RQ renews the worker's registration three times per job (three round trips each) and checks
# for `rq suspend` before every job. A renewal is skipped while the registration still has nearly
# its full TTL, and suspension is checked at most once a second.
HEARTBEAT_SLACK_SECONDS = 5.0
SUSPENSION_CHECK_SECONDS = 1.0


class QueueWorker(SimpleWorker):
    """Runs jobs inside the worker process, one at a time, and logs each with its id.

    A side thread renews the running job's heartbeat, so a killed worker's job is recovered in
    seconds rather than after its whole timeout. SIGTERM or SIGINT asks for a warm shutdown:
    the current job finishes, then the worker exits.
    """

    app_log = logging.getLogger("app.worker")
    log_result_lifespan = False  # RQ's "result is kept for N seconds" line after every job
    _registration_expires = 0.0  # time.monotonic() at which our rq:worker key lapses
    _next_suspension_check = 0.0
    _job_heartbeat: JobHeartbeat | None = None
    _run_commands: Script | None = None
    jobs_done = 0
    stop_signalled = False  # SIGTERM/SIGINT asked for a warm shutdown

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, sent as one round trip, and only when the TTL has run down."""
        ttl = timeout or self.worker_ttl + 60
        if pipeline is not None:
            super().heartbeat(ttl, pipeline=pipeline)
        elif self._registration_expires - time.monotonic() > ttl - HEARTBEAT_SLACK_SECONDS:
            return
        else:
            with self.connection.pipeline(transaction=False) as own:
                super().heartbeat(ttl, pipeline=own)
                own.execute()
        self._registration_expires = time.monotonic() + ttl

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """Write the state only when it changes (RQ sets "idle" twice between jobs)."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """RQ's start-up, with the warm-shutdown handlers installed first.

        RQ installs them only once start-up is over (after the scheduler starts); a SIGTERM in
        between killed the worker with the default action instead of stopping it cleanly.
        """
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        super().bootstrap(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, RQQueue] | None:
        """RQ's dequeue, unless a stop was signalled already (then None ends RQ's loop).

        An idle worker stops because ``request_stop`` raises StopRequested, but an exception
        raised by a signal handler is lost when the signal lands inside logging or a fork
        handler (both swallow it): seen when SIGTERM arrived while the scheduler process forked.
        The flag survives that, so the worker still stops instead of blocking on the queue.
        """
        if self.stop_signalled:
            return None
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """RQ's warm shutdown, remembered: RQ only flags it when a job is running."""
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def check_for_suspension(self, burst: bool) -> None:
        """``rq suspend`` takes effect within a second instead of costing a round trip per job."""
        moment = time.monotonic()
        if moment < self._next_suspension_check:
            return
        self._next_suspension_check = moment + SUSPENSION_CHECK_SECONDS
        super().check_for_suspension(burst)

    def handle_execution_ended(self, job: Job, queue: RQQueue, heartbeat_ttl: int) -> None:
        """Stamp the end; the job hash is written once by the success or failure handling."""
        job.ended_at = job.last_heartbeat = now()

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's ``prepare_execution`` and ``prepare_job_execution`` writes in one atomic call.

        RQ sends them as two MULTIs (the second meant for a forked work horse); here RQ's own
        methods queue the same commands in the same order on one pipeline, sent as one script
        call, so the started registry, the execution and the job hash look the same to
        rq-dashboard and ``rq info``.
        """
        ttl = self.get_heartbeat_ttl(job)
        if self._run_commands is None:
            self._run_commands = self.connection.register_script(RUN_COMMANDS_LUA)
        with self.connection.pipeline() as pipeline:
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            self.heartbeat(ttl, pipeline=pipeline)
            # RQ's job.heartbeat() here writes last_heartbeat, which the next HSET writes again.
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if len(self.queues) == 1:  # RQ dequeues with BLMOVE through the intermediate list
                pipeline.lrem(self.queues[0].intermediate_queue_key, 1, job.id)
            run_as_script(self._run_commands, pipeline)
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Nothing left to write: ``prepare_execution`` did it in the same round trip (RQ's
        process-title update here is a no-op without setproctitle, which we do not install)."""

    def execute_job(self, job: Job, queue: RQQueue) -> None:
        execution = self.prepare_execution(job)
        if self._job_heartbeat is None:
            self._job_heartbeat = JobHeartbeat(self)
        with self._job_heartbeat.running(job, execution):
            self.perform_job(job, queue, execution)
        # RQ writes "idle", then renews the registration the job start shortened to the job's
        # heartbeat TTL: two round trips after every job, sent here as one.
        with self.connection.pipeline(transaction=False) as pipeline:
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)
            pipeline.execute()

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's ``_start_scheduler`` with the PromptScheduler in place of RQScheduler."""
        self.scheduler = PromptScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def teardown(self) -> None:
        if self._job_heartbeat is not None:
            self._job_heartbeat.close()
        super().teardown()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Seconds a job stays "started" without a renewal; shrinks as the job nears its timeout."""
        interval = self.job_monitoring_interval
        remaining = job.timeout - working_time if job.timeout and job.timeout > 0 else interval
        return int(max(min(remaining, interval), 0)) + HEARTBEAT_GRACE_BEATS * interval

    def perform_job(self, job: Job, queue: RQQueue, execution: Execution) -> bool:
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


def default_worker_name() -> str:
    """``host.pid.random``: readable in logs, and unique even when a restarted container reuses
    its pid while the old registration has not expired yet."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def run_worker(application: Application, burst: bool = False, name: str | None = None) -> int:
    """Work the configured queues until stopped (or empty, with ``burst``); return an exit code."""
    log = application.log()
    settings = application.queue_settings
    if settings.connection != "redis":
        log.error(
            "Workers need the redis driver, but QUEUE_CONNECTION is %r; set QUEUE_CONNECTION=redis",
            settings.connection,
        )
        return EXIT_MISCONFIGURED
    try:
        producer_client(settings.redis).ping()
    except Exception as error:
        log.error("Worker not started: %s", describe_error(error, settings.redis))
        return EXIT_UNAVAILABLE
    connection = worker_client(settings.redis)
    timing = settings.worker_timing
    serializer = serializer_for(settings.serializer)
    queues = [
        RQQueue(queue_name, connection=connection, serializer=serializer)
        for queue_name in settings.worker_queues
    ]
    worker = QueueWorker(
        queues,
        connection=connection,
        name=name or default_worker_name(),
        job_class=TaskJob,
        serializer=serializer,
        log_job_description=False,
        worker_ttl=timing.ttl,
        job_monitoring_interval=timing.heartbeat_interval,
        maintenance_interval=timing.maintenance_interval,
    )
    rq_log = logging.getLogger("rq.worker")
    if RQ_LINE_FILTER not in rq_log.filters:
        rq_log.addFilter(RQ_LINE_FILTER)
    log.info(
        "Worker starting",
        extra={
            "worker": worker.name,
            "queues": ",".join(settings.worker_queues),
            "redis": settings.redis.address,
            "burst": burst,
        },
    )
    try:
        worker.work(
            burst=burst,
            with_scheduler=True,
            logging_level=log.getEffectiveLevel(),
            max_jobs=timing.max_jobs or None,
        )
    except StopRequested:
        worker.teardown()  # stopped while starting, before RQ's loop could catch it
    if timing.max_jobs and worker.jobs_done >= timing.max_jobs:
        log.info("Worker recycled", extra={"worker": worker.name, "jobs": worker.jobs_done})
        return EXIT_OK
    if not burst and not worker.stop_signalled:
        log.error("Worker stopped unexpectedly; see the error above", extra={"worker": worker.name})
        return EXIT_UNAVAILABLE
    log.info("Worker stopped", extra={"worker": worker.name})
    return EXIT_OK
