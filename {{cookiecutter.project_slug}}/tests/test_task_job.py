"""The worker's job class: RQ's registries, made without checking the job's serializer again."""

from __future__ import annotations

import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer, Serializer

from app.queue.worker.task_job import TaskJob
from tests.support import jobs


@pytest.mark.parametrize("serializer", [None, JSONSerializer])
def test_a_task_jobs_registries_are_rqs_with_the_jobs_serializer(
    serializer: type[Serializer] | None,
) -> None:
    connection = Redis()  # never connected: registries are made, not used
    rqs = Job.create(jobs.echo, connection=connection, origin="mail", serializer=serializer)
    ours = TaskJob.create(jobs.echo, connection=connection, origin="mail", serializer=serializer)
    for registry in ("started_job_registry", "failed_job_registry", "finished_job_registry"):
        expected, made = getattr(rqs, registry), getattr(ours, registry)
        assert type(made) is type(expected)
        assert (made.name, made.key, made.connection) == (expected.name, expected.key, connection)
        assert made.serializer is expected.serializer is rqs.serializer
        assert made.job_class is TaskJob
