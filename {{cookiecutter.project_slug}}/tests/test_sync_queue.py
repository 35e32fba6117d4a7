"""The sync driver: jobs run inline, failures are logged and reported, never raised."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from app import Application
from app.jobs.reports import rebuild_report
from app.queue import task
from tests.support import jobs


def test_push_runs_before_returning_and_returns_true(application: Application) -> None:
    assert application.queue().push(rebuild_report, 5) is True
    assert application.reports().read(5)["report_id"] == 5


def test_push_passes_keyword_arguments_including_reserved_looking_names(
    application: Application,
) -> None:
    submission = application.queue().submit(jobs.echo, 1, func="x", job_id="y", timeout=3)
    state = application.queue().status(submission.job_id)
    assert state is not None
    assert state.result == {"args": [1], "kwargs": {"func": "x", "job_id": "y", "timeout": 3}}


def test_exception_is_caught_logged_with_traceback_and_returns_false(
    application: Application, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert application.queue().push(jobs.fail, "boom") is False
    failure = next(record for record in caplog.records if record.getMessage() == "Job failed")
    assert failure.exc_info is not None
    assert failure.function == "tests.support.jobs.fail"
    assert failure.job_id


def test_push_at_runs_immediately_in_sync_mode(application: Application) -> None:
    later = datetime.now() + timedelta(hours=1)
    assert application.queue().push_at(later, rebuild_report, 6) is True
    assert application.reports().read(6) is not None


def test_every_job_logs_start_and_finish_with_id_and_function(
    application: Application, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        submission = application.queue().submit(rebuild_report, 8)
    events = [
        (record.getMessage(), record.job_id, record.function)
        for record in caplog.records
        if hasattr(record, "job_id")
    ]
    name = "app.jobs.reports.rebuild_report"
    assert ("Job started", submission.job_id, name) in events
    assert ("Job finished", submission.job_id, name) in events


def test_status_reports_finished_and_failed_jobs(application: Application) -> None:
    queue = application.queue()
    finished = queue.submit(jobs.decorated, 21)
    failed = queue.submit(jobs.fail, "nope")
    assert queue.status(finished.job_id).result == 42
    failed_state = queue.status(failed.job_id)
    assert failed_state.status == "failed"
    assert "nope" in failed_state.error
    assert queue.status("unknown") is None


def test_options_choose_the_job_id(application: Application) -> None:
    submission = application.queue().options(job_id="report-9").submit(rebuild_report, 9)
    assert submission.job_id == "report-9"


def test_unknown_job_option_is_a_type_error(application: Application) -> None:
    with pytest.raises(TypeError, match="unknown job option"):
        application.queue().options(retry=3)
    with pytest.raises(TypeError, match="must be int"):
        task(timeout="30")


def test_push_many_runs_each_job_in_order_and_counts_successes(application: Application) -> None:
    assert application.queue().push_many(rebuild_report, [(1,), (2,), (3,)]) == 3
    assert [application.reports().read(n)["report_id"] for n in (1, 2, 3)] == [1, 2, 3]
    assert application.queue().options(retries=0).push_many(jobs.fail, [("a",), ("b",)]) == 0
