"""Faults injected into real processes and a real Redis: no job lost, none run twice.

Each test prints what it measured (run with ``-s`` to see it); the README's fault table quotes it.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from processes import Project, baked_project, polling, request_json

TWO_MINUTES = 120.0


def push(project: Project, statement: str) -> list[str]:
    """Run push statements (``queue`` is ``app().queue()``); return the job ids they print."""
    output = project.python(
        "from datetime import datetime, timedelta\n"
        "from app import app\n"
        "from app.jobs.reports import rebuild_report\n"
        "from tests.support import jobs\n"
        "queue = app().queue()\n"
        f"{statement}\n"
    )
    return output.split()


def job_states(project: Project, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    output = project.python(
        "import json\n"
        "from app import app\n"
        "states = {}\n"
        f"for job_id in {job_ids!r}:\n"
        "    state = app().queue().status(job_id)\n"
        "    states[job_id] = {'status': state.status, 'error': state.error} if state else None\n"
        "print(json.dumps(states))\n"
    )
    return json.loads(output)


def redis_call(server: Any, *command: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(server.port), *command],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_sigkilled_worker_job_is_retried_or_failed_within_two_minutes(
    project: Project, tmp_path: Path
) -> None:
    retried_log, final_log = tmp_path / "retried.log", tmp_path / "final.log"
    retried, final = push(
        project,
        f"print(queue.submit(jobs.record_attempt, {str(retried_log)!r}, 300).job_id)\n"
        f"print(queue.options(retries=0).submit(jobs.record_attempt, {str(final_log)!r}, 300)"
        ".job_id)",
    )
    first = project.start_worker("worker-a")
    second = project.start_worker("worker-b")
    polling.wait_for(
        lambda: retried_log.exists() and final_log.exists(),
        timeout=20,
        message="both slow jobs should have started",
    )
    first.kill()
    second.kill()
    killed_at = time.monotonic()
    project.start_worker("worker-c")

    def recovered() -> bool:
        states = job_states(project, [retried, final])
        return states[retried]["status"] == "finished" and states[final]["status"] == "failed"

    polling.wait_for(recovered, timeout=TWO_MINUTES, message="killed jobs were not recovered")
    recovery = time.monotonic() - killed_at
    print(f"\nSIGKILL mid-job -> retried and failed jobs settled in {recovery:.1f} s")
    assert len(retried_log.read_text().splitlines()) == 2
    assert "AbandonedJobError" in job_states(project, [final])[final]["error"]


def test_sigterm_mid_job_finishes_it_exits_zero_and_leaves_nothing_started(
    project: Project, tmp_path: Path, redis_server: Any
) -> None:
    worker = project.start_worker()
    marker = tmp_path / "slow.txt"
    push(project, f"queue.push(jobs.sleep_then_write, {str(marker)!r}, 1.5)")
    polling.wait_for(
        lambda: "Job started" in project.log("worker"), timeout=20, message="job not started"
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, project.log("worker")
    assert marker.read_text() == "done"
    assert redis_call(redis_server, "zcard", "rq:wip:default") == "0"


def test_redis_restart_loses_no_queued_or_scheduled_job_and_clients_reconnect(
    tmp_path: Path, durable_redis: Any
) -> None:
    project = baked_project(tmp_path, durable_redis)
    try:
        base = project.start_web()
        for report_id in range(1, 6):
            assert request_json(f"{base}/reports/{report_id}/rebuild", method="POST")[0] == 200
        (run_at,) = push(
            project,
            "run_at = datetime.now() + timedelta(seconds=4)\n"
            "assert queue.push_at(run_at, rebuild_report, 6)\n"
            "print(run_at.astimezone().isoformat())",
        )
        durable_redis.stop()
        status, body = request_json(f"{base}/ready")
        assert status == 503
        assert "unreachable" in body["reason"]
        started = time.monotonic()
        status, body = request_json(f"{base}/reports/99/rebuild", method="POST")
        assert (status, time.monotonic() - started < 2.0) == (503, True)
        assert "unreachable" in body["detail"]

        durable_redis.start()
        down_at = time.monotonic()
        polling.wait_for(
            lambda: request_json(f"{base}/ready")[0] == 200, timeout=30, message="web not ready"
        )
        print(f"\nweb ready again {time.monotonic() - down_at:.2f} s after Redis came back")
        project.start_worker()
        for report_id in range(1, 7):
            polling.wait_for(
                lambda report_id=report_id: project.report(report_id),
                timeout=30,
                message=f"report {report_id} lost in the restart",
            )
        built_at = datetime.fromisoformat(project.report(6)["built_at"])
        assert built_at >= datetime.fromisoformat(run_at)
        assert project.report(99) is None

        durable_redis.restart()
        polling.wait_for(
            lambda: request_json(f"{base}/reports/7/rebuild", method="POST")[0] == 200,
            timeout=30,
            message="web did not queue again after the second restart",
        )
        polling.wait_for(lambda: project.report(7), timeout=60, message="worker did not reconnect")
    finally:
        project.stop_all()


def test_three_workers_run_three_hundred_jobs_exactly_once(
    project: Project, tmp_path: Path, redis_server: Any
) -> None:
    done = tmp_path / "done"
    done.mkdir()
    workers = ("worker-1", "worker-2", "worker-3")
    for name in workers:
        project.start_worker(name)
    # All three wait on the queue before the jobs come (a worker that starts late may find the
    # first one has drained them all: 300 short jobs take it well under a second).
    polling.wait_for(
        lambda: all("Listening on" in project.log(name) for name in workers),
        timeout=60,
        message="the workers did not all start",
    )
    push(
        project, f"for n in range(300):\n    assert queue.push(jobs.record_once, {str(done)!r}, n)"
    )
    polling.wait_for(
        lambda: len(list(done.iterdir())) == 300, timeout=120, message="not every job ran"
    )
    assert sorted(int(path.name) for path in done.iterdir()) == list(range(300))
    assert len({path.read_text() for path in done.iterdir()}) > 1
    polling.wait_for(
        lambda: redis_call(redis_server, "zcard", "rq:wip:default") == "0",
        timeout=10,
        message="jobs still marked started",
    )
    assert redis_call(redis_server, "zcard", "rq:failed:default") == "0"


SCHEDULER_SCRIPT = """
from app import app
from app.scheduling import Scheduler
from tests.support import jobs

scheduler = Scheduler(app())
scheduler.schedule.every(1).seconds.do(scheduler.queue.push, jobs.echo, "tick")
scheduler.run()
"""


def test_two_schedulers_enqueue_each_tick_once_and_a_survivor_takes_over(
    project: Project, redis_server: Any
) -> None:
    schedulers = {
        name: project.start("-c", SCHEDULER_SCRIPT, log_name=name)
        for name in ("sched-a", "sched-b")
    }
    polling.wait_for(
        lambda: int(redis_call(redis_server, "llen", "rq:queue:default")) >= 5,
        timeout=30,
        message="the schedulers enqueued nothing",
    )
    leader = next(name for name in schedulers if "Leader lease acquired" in project.log(name))
    follower = next(name for name in schedulers if name != leader)
    times = enqueue_times(project)
    assert min(later - earlier for earlier, later in itertools.pairwise(times)) > 0.5

    schedulers[leader].kill()
    killed_at = time.monotonic()
    polling.wait_for(
        lambda: "Leader lease acquired" in project.log(follower),
        timeout=30,
        message="the surviving scheduler never took over",
    )
    takeover = time.monotonic() - killed_at
    print(f"\nscheduler takeover after SIGKILL of the leader: {takeover:.1f} s")
    assert takeover <= 21


def enqueue_times(project: Project) -> list[float]:
    output = project.python(
        "from rq import Queue\n"
        "from app import app\n"
        "from app.queue.redis_clients import producer_client\n"
        "queue = Queue('default', connection=producer_client(app().queue_settings.redis))\n"
        "for job in queue.jobs:\n"
        "    print(job.enqueued_at.timestamp())\n"
    )
    return sorted(float(line) for line in output.split())


def test_push_at_never_runs_early(project: Project, tmp_path: Path) -> None:
    project.start_worker()
    offsets = [1.1, 1.35, 1.6, 1.85, 2.3]
    planned = push(
        project,
        "import time\n"
        f"for index, offset in enumerate({offsets!r}):\n"
        "    run_at = datetime.now() + timedelta(seconds=offset)\n"
        f"    path = {str(tmp_path)!r} + f'/start-{{index}}'\n"
        "    assert queue.push_at(run_at, jobs.record_start, path)\n"
        "    print(run_at.timestamp())",
    )
    starts = [tmp_path / f"start-{index}" for index in range(len(offsets))]
    polling.wait_for(
        lambda: all(path.exists() for path in starts), timeout=30, message="push_at jobs lost"
    )
    lateness = [
        float(path.read_text()) - float(at) for path, at in zip(starts, planned, strict=True)
    ]
    print(f"\npush_at lateness (s): {', '.join(f'{value:.3f}' for value in lateness)}")
    assert min(lateness) >= 0


def test_job_over_its_timeout_is_stopped_and_failed_and_the_worker_goes_on(
    project: Project, tmp_path: Path
) -> None:
    project.start_worker()
    marker = tmp_path / "never.txt"
    (slow,) = push(
        project,
        "print(queue.options(timeout=1, retries=0)"
        f".submit(jobs.sleep_then_write, {str(marker)!r}, 30).job_id)",
    )
    polling.wait_for(
        lambda: job_states(project, [slow])[slow]["status"] == "failed",
        timeout=30,
        message="the slow job was not stopped",
    )
    assert "JobTimeoutException" in job_states(project, [slow])[slow]["error"]
    push(project, "assert queue.push(rebuild_report, 8)")
    polling.wait_for(lambda: project.report(8), timeout=20, message="worker stopped working")
    assert not marker.exists()


def test_task_module_failing_to_import_fails_the_job_and_the_worker_goes_on(
    project: Project,
) -> None:
    fragile = project.path / "app" / "jobs" / "fragile.py"
    fragile.write_text("def task() -> None:\n    return None\n")
    (job_id,) = push(
        project,
        "from app.jobs import fragile\nprint(queue.options(retries=0).submit(fragile.task).job_id)",
    )
    fragile.write_text("raise ImportError('a dependency is missing')\n")
    project.start_worker()
    polling.wait_for(
        lambda: job_states(project, [job_id])[job_id]["status"] == "failed",
        timeout=20,
        message="the job with a broken module did not fail",
    )
    error = job_states(project, [job_id])[job_id]["error"]
    assert "TaskImportError: cannot import app.jobs.fragile.task" in error
    assert "ImportError: a dependency is missing" in error
    push(project, "assert queue.push(rebuild_report, 9)")
    polling.wait_for(lambda: project.report(9), timeout=20, message="worker stopped working")
