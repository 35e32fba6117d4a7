"""The worker behind ``python queues.py``: an RQ worker with the scheduler on and job logging."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from rq import Queue as RQQueue
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job

from app.queue.connection import describe_error, producer_client, worker_client

if TYPE_CHECKING:
    from app import Application

EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_MISCONFIGURED = 2


class JobLoggingWorker(SimpleWorker):
    """Runs jobs in the worker process and logs each start, finish and failure with its id.

    SIGTERM or SIGINT asks for a warm shutdown: the current job finishes, then the worker exits.
    """

    app_log = logging.getLogger("app.worker")

    def perform_job(self, job: Job, queue: RQQueue, execution: Execution) -> bool:
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
    queues = [RQQueue(queue_name, connection=connection) for queue_name in settings.worker_queues]
    worker_name = name or f"{socket.gethostname()}.{os.getpid()}"
    worker = JobLoggingWorker(
        queues, connection=connection, name=worker_name, log_job_description=False
    )
    log.info(
        "Worker starting",
        extra={
            "worker": worker.name,
            "queues": ",".join(settings.worker_queues),
            "redis": settings.redis.address,
            "burst": burst,
        },
    )
    worker.work(burst=burst, with_scheduler=True, logging_level=log.getEffectiveLevel())
    log.info("Worker stopped", extra={"worker": worker.name})
    return EXIT_OK
