"""Failed jobs: list them with their exception, and requeue one or all (``queues.py failed``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis import Redis
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import Serializer

from app.queue.settings import QueueSettings
from app.queue.stored_jobs import stored_function

SUMMARY_LENGTH = 60


@dataclass(frozen=True)
class FailedJob:
    """One failed job, as ``python queues.py failed`` prints it."""

    id: str
    queue: str
    function: str
    arguments: str
    exception: str

    def line(self) -> str:
        return f"{self.id}  {self.queue}  {self.function}({self.arguments})  {self.exception}"


def failed_jobs(
    client: Redis, queue_names: Iterable[str], serializer: type[Serializer] | None = None
) -> list[FailedJob]:
    """Every job in the failed registries of ``queue_names``, oldest first."""
    found = []
    for queue_name in queue_names:
        registry = FailedJobRegistry(queue_name, connection=client, serializer=serializer)
        jobs = Job.fetch_many(registry.get_job_ids(), connection=client, serializer=serializer)
        found += [_describe(job, queue_name) for job in jobs if job is not None]
    return found


def requeue(
    client: Redis,
    queue_names: Iterable[str],
    job_id: str | None = None,
    serializer: type[Serializer] | None = None,
) -> list[str]:
    """Put one failed job (or all, when ``job_id`` is None) back on its queue; return their ids."""
    requeued = []
    for queue_name in queue_names:
        registry = FailedJobRegistry(queue_name, connection=client, serializer=serializer)
        for candidate in registry.get_job_ids():
            if job_id is None or candidate == job_id:
                registry.requeue(candidate)
                requeued.append(candidate)
    return requeued


def _describe(job: Job, queue_name: str) -> FailedJob:
    result = job.latest_result()
    exc_string = (result.exc_string if result is not None else None) or "unknown error"
    last_line = exc_string.strip().splitlines()[-1]
    return FailedJob(
        id=job.id,
        queue=queue_name,
        function=stored_function(job),
        arguments=_summary(job),
        exception=last_line,
    )


def _summary(job: Job) -> str:
    try:
        args, kwargs = job.args, job.kwargs
    except DeserializationError:
        return "<data cannot be loaded>"
    parts = [repr(value) for value in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"


def failed_queue_names(settings: QueueSettings) -> list[str]:
    """The queues whose failed registries the commands read: the default queue and the workers'."""
    return sorted({settings.defaults.queue, *settings.worker_queues})
