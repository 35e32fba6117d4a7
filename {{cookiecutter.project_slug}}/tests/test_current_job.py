"""``current_job()``: the running job's id and attempt, and the idempotent task built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import Application
from app.jobs.reports import rebuild_report
from app.queue import CurrentJob, current_job
from app.queue.current_job import running
from tests.support import jobs
from tests.support.workers import work


def test_outside_a_job_there_is_none() -> None:
    assert current_job() is None


def test_a_sync_push_runs_as_attempt_one_of_its_job(application: Application) -> None:
    submission = application.queue().submit(jobs.which_job)
    assert application.queue().status(submission.job_id).result == (submission.job_id, 1)
    assert current_job() is None


def test_a_worker_tells_the_task_its_job(redis_application: Application) -> None:
    submission = redis_application.queue().submit(jobs.which_job)
    assert work(redis_application, burst=True) == 0
    assert redis_application.queue().status(submission.job_id).result == (submission.job_id, 1)


@pytest.mark.parametrize("redis_environment", [{"JOB_RETRY_BACKOFF": "0"}])
def test_a_retried_job_sees_the_same_id_and_the_next_attempt(
    redis_application: Application, tmp_path: Path
) -> None:
    path = tmp_path / "attempts.log"
    submission = redis_application.queue().submit(jobs.note_attempt_then_fail_once, str(path))
    assert work(redis_application, burst=True) == 0
    assert path.read_text().splitlines() == [f"{submission.job_id} 1", f"{submission.job_id} 2"]
    assert redis_application.queue().status(submission.job_id).status == "finished"


def test_rebuild_report_repeated_by_the_same_job_keeps_the_first_result(
    application: Application,
) -> None:
    with running(CurrentJob("job-7", 1)):
        first = rebuild_report(7)
    with running(CurrentJob("job-7", 2)):
        repeated = rebuild_report(7)
    with running(CurrentJob("job-8", 1)):
        another = rebuild_report(7)
    assert repeated == first
    assert (first["job_id"], another["job_id"]) == ("job-7", "job-8")
    assert application.reports().read(7) == another
