"""End to end: a real redis-server, ``python queues.py`` and ``python web.py`` as processes, with
the fast path on and off (QUEUE_FAST_PATH)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processes import Project, polling, request_json


def test_job_pushed_from_another_process_runs_in_the_worker(project: Project) -> None:
    worker = project.start_worker()
    pusher_pid = project.python(
        "import os\n"
        "from app import app\n"
        "from app.jobs.reports import rebuild_report\n"
        "assert app().queue().push(rebuild_report, 1)\n"
        "print(os.getpid())\n"
    )
    report = polling.wait_for(lambda: project.report(1), timeout=20, message="job did not run")
    assert report["pid"] == worker.pid
    assert report["pid"] != int(pusher_pid)
    assert "Job finished" in project.log("worker")


def test_push_at_runs_after_its_time(project: Project) -> None:
    project.start_worker()
    run_at = project.python(
        "from datetime import datetime, timedelta\n"
        "from app import app\n"
        "from app.jobs.reports import rebuild_report\n"
        "run_at = datetime.now() + timedelta(seconds=2)\n"
        "assert app().queue().push_at(run_at, rebuild_report, 2)\n"
        "print(run_at.astimezone().isoformat())\n"
    )
    report = polling.wait_for(lambda: project.report(2), timeout=30, message="push_at never ran")
    assert datetime.fromisoformat(report["built_at"]) >= datetime.fromisoformat(run_at)


def test_web_request_is_processed_by_the_worker(project: Project) -> None:
    worker = project.start_worker()
    base = project.start_web()
    assert request_json(f"{base}/ready") == (200, {"status": "ready", "queue": "redis"})
    status, queued = request_json(f"{base}/reports/7/rebuild", method="POST")
    assert (status, queued["status"]) == (200, "queued")

    def finished() -> dict[str, Any] | None:
        state = request_json(f"{base}/jobs/{queued['job_id']}")[1]
        return state if state["status"] == "finished" else None

    state = polling.wait_for(finished, timeout=20, message="web-queued job did not finish")
    assert state["result"]["pid"] == worker.pid
    assert project.report(7)["pid"] == worker.pid
