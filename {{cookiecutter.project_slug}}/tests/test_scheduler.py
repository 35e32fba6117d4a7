"""The scheduler enqueues on its timetable and never runs slow work itself."""

from __future__ import annotations

import threading

from app import Application
from app.jobs.reports import rebuild_report
from app.scheduling import Scheduler


def test_timetable_pushes_rebuild_report_hourly(application: Application) -> None:
    scheduler = Scheduler(application).register()
    (entry,) = scheduler.schedule.get_jobs()
    assert entry.unit == "hours"
    assert entry.interval == 1
    assert entry.job_func.func == scheduler.queue.push
    assert entry.job_func.args == (rebuild_report, 123)


def test_due_entries_enqueue_through_the_queue(application: Application) -> None:
    scheduler = Scheduler(application).register()
    scheduler.schedule.run_all()
    assert application.reports().read(123)["report_id"] == 123


def test_stop_ends_the_run_loop(application: Application) -> None:
    scheduler = Scheduler(application).register()
    runner = threading.Thread(target=scheduler.run)
    runner.start()
    scheduler.stop()
    runner.join(timeout=5)
    assert not runner.is_alive()
