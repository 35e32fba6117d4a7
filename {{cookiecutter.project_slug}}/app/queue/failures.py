"""Failed jobs: list them with their exception, and requeue one or all (``queues.py failed``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import Serializer

from app.queue.connection import producer_client
from app.queue.serialization import serializer_for

if TYPE_CHECKING:
    from app import Application

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
        function=job.func_name or "?",
        arguments=_summary(job),
        exception=last_line,
    )


def _summary(job: Job) -> str:
    parts = [repr(value) for value in job.args] + [f"{k}={v!r}" for k, v in job.kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"


def show_failed(application: Application) -> int:
    """``python queues.py failed``: print one line per failed job; exit code for the shell."""
    client, queue_names, serializer = _registry_access(application)
    if client is None:
        return 2
    jobs = failed_jobs(client, queue_names, serializer)
    for job in jobs:
        print(job.line())
    print(f"{len(jobs)} failed job(s) in {', '.join(queue_names)}")
    return 0


def retry_failed(application: Application, job_id: str | None) -> int:
    """``python queues.py retry ID`` or ``retry --all``: requeue; exit 1 when nothing matched."""
    client, queue_names, serializer = _registry_access(application)
    if client is None:
        return 2
    requeued = requeue(client, queue_names, job_id, serializer)
    for requeued_id in requeued:
        print(f"requeued {requeued_id}")
    if not requeued:
        print(f"no failed job {job_id}" if job_id else "no failed jobs")
        return 1
    return 0


def _registry_access(
    application: Application,
) -> tuple[Redis | None, list[str], type[Serializer]]:
    settings = application.queue_settings
    queue_names = sorted({settings.defaults.queue, *settings.worker_queues})
    serializer = serializer_for(settings.serializer)
    if settings.connection != "redis":
        print("Failed jobs live in Redis; set QUEUE_CONNECTION=redis", file=sys.stderr)
        return None, queue_names, serializer
    return producer_client(settings.redis), queue_names, serializer
