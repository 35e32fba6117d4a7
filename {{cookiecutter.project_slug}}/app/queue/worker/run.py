"""``python queues.py``: build the configured worker and run it until stopped."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from contextlib import nullcontext

from rq import Queue as RQQueue

from app.logs import logs_written_by_one_thread
from app.queue.metrics.worker_metrics import with_job_metrics
from app.queue.redis_clients import describe_error, producer_client, worker_client
from app.queue.serialization import serializer_for
from app.queue.settings import QueueSettings
from app.queue.worker.queue_worker import QueueWorker
from app.queue.worker.task_job import TaskJob
from app.queue.worker.threaded import ThreadedQueueWorker

EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_MISCONFIGURED = 2


def worker_class(settings: QueueSettings, log: logging.Logger) -> type[QueueWorker]:
    """``FastQueueWorker`` with the fast path on and verified for this RQ, else ``QueueWorker``;
    their ``Threaded`` variants with WORKER_CONCURRENCY > 1 (``threaded.py``)."""
    from app.queue.fast_path import fast_path_enabled

    threaded = settings.worker_timing.concurrency > 1
    if not fast_path_enabled(settings.fast_path, log):
        return ThreadedQueueWorker if threaded else QueueWorker
    from app.queue.fast_path.worker import FastQueueWorker, ThreadedFastQueueWorker

    return ThreadedFastQueueWorker if threaded else FastQueueWorker


def default_worker_name() -> str:
    """``host.pid.random``: readable in logs, and unique even when a restarted container reuses
    its pid while the old registration has not expired yet."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def run_worker(
    settings: QueueSettings, log: logging.Logger, burst: bool = False, name: str | None = None
) -> int:
    """Work the configured queues until stopped (or empty, with ``burst``); return an exit code."""
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
    worker = build_worker(settings, log, name)
    log.info(
        "Worker starting",
        extra={
            "worker": worker.name,
            "queues": ",".join(settings.worker_queues),
            "redis": settings.redis.address,
            "redis_mode": settings.redis.mode,
            "worker_class": type(worker).__name__,
            "concurrency": settings.worker_timing.concurrency,
            "burst": burst,
        },
    )
    timing = settings.worker_timing
    threads_log = logs_written_by_one_thread() if timing.concurrency > 1 else nullcontext()
    with threads_log:
        worker.work(
            burst=burst,
            with_scheduler=True,
            logging_level=log.getEffectiveLevel(),
            max_jobs=timing.max_jobs or None,
        )
    if timing.max_jobs and worker.jobs_done >= timing.max_jobs:
        log.info("Worker recycled", extra={"worker": worker.name, "jobs": worker.jobs_done})
        return EXIT_OK
    if not burst and not worker.stop_signalled:
        log.error("Worker stopped unexpectedly; see the error above", extra={"worker": worker.name})
        return EXIT_UNAVAILABLE
    log.info("Worker stopped", extra={"worker": worker.name})
    return EXIT_OK


def build_worker(settings: QueueSettings, log: logging.Logger, name: str | None) -> QueueWorker:
    """The worker for ``settings.worker_queues``, with this project's timing and serializer."""
    timing = settings.worker_timing
    connection = worker_client(settings.redis, jobs_at_once=timing.concurrency)
    serializer = serializer_for(settings.serializer)
    queues = [
        RQQueue(queue_name, connection=connection, serializer=serializer)
        for queue_name in settings.worker_queues
    ]
    worker = with_job_metrics(worker_class(settings, log), settings)(
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
    worker.redis_address = settings.redis.address
    worker.concurrency = timing.concurrency
    return worker
