"""``JobMetrics``: each job a worker runs, counted by outcome and timed, in the worker's process.

Counting in process costs no Redis round trip per job; ``server.py`` serves the counts on
``WORKER_METRICS_PORT`` and Prometheus scrapes every worker. ``with_job_metrics`` applies the
mixin (``app/queue/worker/run.py``); without a port the worker class is returned unchanged.
"""

from __future__ import annotations

import functools
import logging
from types import TracebackType
from typing import Any, TypeVar

from prometheus_client import Counter, Histogram
from rq import Queue as RQQueue
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.worker import BaseWorker

from app.queue.metrics import names
from app.queue.metrics.labels import function_label, queue_label
from app.queue.metrics.server import serve_worker_metrics
from app.queue.settings import QueueSettings

JOBS = Counter(
    names.JOBS,
    "Job runs by outcome: finished, failed, retried, or abandoned (its worker died)",
    ["queue", "function", "outcome"],
)
JOB_DURATION = Histogram(
    names.JOB_DURATION,
    "Seconds a job ran, for runs that finished, failed or were retried",
    ["queue", "function"],
    buckets=names.DURATION_BUCKETS,
)

W = TypeVar("W", bound=BaseWorker)


class JobMetrics(BaseWorker):
    """Counts each outcome once the worker has recorded it; a run whose outcome is discarded (it
    lost its lease, ``QueueWorker``) counts nothing. Mixed in *before* the project's worker
    classes, so it sees every way they record an outcome (the fast path writes a success its own
    way); every count is made from the job and queue at hand (no per-worker "current job"), so it
    holds with several jobs running at once in one process."""

    metric_queues: frozenset[str] = frozenset()
    metrics_host = "127.0.0.1"
    metrics_port = 0
    metrics_log = logging.getLogger("app.worker")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.push_exc_handler(self.count_abandoned)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Start the metrics listener, then RQ's start-up."""
        serve_worker_metrics(self.metrics_host, self.metrics_port, self.metrics_log)
        super().bootstrap(*args, **kwargs)

    def handle_job_success(self, job: Job, queue: RQQueue, *args: Any, **kwargs: Any) -> None:
        super().handle_job_success(job, queue, *args, **kwargs)
        self.count_recorded(job, queue.name, names.FINISHED)

    def handle_job_failure(self, job: Job, queue: RQQueue, *args: Any, **kwargs: Any) -> None:
        retried = job.should_retry and job.id != self._stopped_job_id  # RQ's own test
        super().handle_job_failure(job, queue, *args, **kwargs)
        self.count_recorded(job, queue.name, names.RETRIED if retried else names.FAILED)

    def handle_job_retry(self, job: Job, queue: RQQueue, *args: Any, **kwargs: Any) -> None:
        super().handle_job_retry(job, queue, *args, **kwargs)
        self.count_recorded(job, queue.name, names.RETRIED)

    def count_recorded(self, job: Job, queue_name: str, outcome: str) -> None:
        """``count``, unless this run's outcome was discarded (``QueueWorker``'s fencing)."""
        if not getattr(self, "_outcome_discarded", False):
            self.count(job, queue_name, outcome)

    def count(self, job: Job, queue_name: str, outcome: str) -> None:
        """One run with ``outcome``, and its duration when RQ stamped start and end."""
        queue = queue_label(queue_name, self.metric_queues)
        function = function_label(job)
        JOBS.labels(queue, function, outcome).inc()
        if job.started_at is not None and job.ended_at is not None:
            seconds = (job.ended_at - job.started_at).total_seconds()
            JOB_DURATION.labels(queue, function).observe(max(seconds, 0.0))

    def count_abandoned(
        self,
        job: Job,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """RQ's exception handler hook: maintenance calls it for each job left "started" by a
        worker that died; this worker counts it, whichever worker ran it."""
        if exc_type is AbandonedJobError:
            self.count(job, job.origin, names.ABANDONED)


def with_job_metrics(worker_class: type[W], settings: QueueSettings) -> type[W]:
    """``worker_class`` with ``JobMetrics`` when the worker listener is on, else unchanged."""
    metrics = settings.metrics
    if not metrics.worker_listener:
        return worker_class
    queue_names = frozenset(settings.worker_queues)
    return _counting_class(worker_class, metrics.worker_host, metrics.worker_port, queue_names)


@functools.cache
def _counting_class(
    worker_class: type[W], host: str, port: int, queue_names: frozenset[str]
) -> type[W]:
    attributes = {
        "__doc__": worker_class.__doc__,
        "__module__": worker_class.__module__,
        "metric_queues": queue_names,
        "metrics_host": host,
        "metrics_port": port,
    }
    return type(worker_class.__name__, (JobMetrics, worker_class), attributes)
