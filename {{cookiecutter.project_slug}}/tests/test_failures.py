"""Failed jobs are visible (id, function, arguments, exception) and can be requeued."""

from __future__ import annotations

import pytest
from redis import Redis

from app import Application
from app.jobs.reports import rebuild_report
from app.queue.commands.failed_jobs import failed_jobs, requeue
from tests.support import jobs
from tests.support.redis_server import RedisServer
from tests.support.workers import work


def test_failed_jobs_are_listed_and_requeued_one_or_all(
    redis_application: Application, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url)
    queue = redis_application.queue().options(retries=0)
    first = queue.submit(jobs.fail, "first")
    second = queue.submit(jobs.fail, "x" * 200)
    assert queue.submit(rebuild_report, 1).ok
    work(redis_application, burst=True)

    listed = {job.id: job for job in failed_jobs(client, ["default"])}
    assert set(listed) == {first.job_id, second.job_id}
    assert listed[first.job_id].function == "tests.support.jobs.fail"
    assert listed[first.job_id].arguments == "'first'"
    assert listed[first.job_id].exception == "RuntimeError: first"
    assert len(listed[second.job_id].arguments) == 60
    assert first.job_id in listed[first.job_id].line()

    assert requeue(client, ["default"], first.job_id) == [first.job_id]
    assert redis_application.queue().status(first.job_id).status == "queued"
    assert requeue(client, ["default"]) == [second.job_id]
    assert failed_jobs(client, ["default"]) == []


def test_queues_py_failed_and_retry_commands(
    redis_application: Application, capsys: pytest.CaptureFixture[str]
) -> None:
    import queues

    failed = redis_application.queue().options(retries=0).submit(jobs.fail, "boom")
    work(redis_application, burst=True)
    assert queues.main(["failed"]) == 0
    out = capsys.readouterr().out
    assert f"{failed.job_id}  default  tests.support.jobs.fail('boom')  RuntimeError: boom" in out
    assert "1 failed job(s)" in out
    assert queues.main(["retry", "not-a-job"]) == 1
    assert queues.main(["retry", "--all"]) == 0
    assert f"requeued {failed.job_id}" in capsys.readouterr().out
    assert redis_application.queue().status(failed.job_id).status == "queued"


def test_failed_command_needs_the_redis_driver(application: Application) -> None:
    import queues

    assert queues.main(["failed"]) == 2
