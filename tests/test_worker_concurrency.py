"""WORKER_CONCURRENCY > 1 with real processes and a real Redis: exactly once, timeouts, warm
shutdown and SIGKILL recovery hold per job when one process runs several jobs at once.

Run with ``-s`` to see the figures the closing notes and the README quote.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from test_faults import job_states, push, redis_call

from helpers import load_support
from processes import Project, polling

most_at_once = load_support("spans").most_at_once


def test_three_workers_of_eight_threads_run_three_hundred_jobs_exactly_once(
    project: Project, tmp_path: Path, redis_server: Any
) -> None:
    done = tmp_path / "done"
    done.mkdir()
    workers = [project.start_worker(f"worker-{n}", WORKER_CONCURRENCY="8") for n in (1, 2, 3)]
    started = time.monotonic()
    push(
        project,
        f"for n in range(300):\n    assert queue.push(jobs.record_once_for, {str(done)!r}, n, 0.1)",
    )
    polling.wait_for(
        lambda: redis_call(redis_server, "zcard", "rq:finished:default") == "300",
        timeout=120,
        message="not every job finished",
    )
    elapsed = time.monotonic() - started
    assert sorted(int(path.name) for path in done.iterdir()) == list(range(300))
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in done.iterdir():
        pid, start, end = path.read_text().split()
        spans[pid].append((float(start), float(end)))
    assert set(spans) == {str(worker.pid) for worker in workers}
    overlap = {pid: most_at_once(runs) for pid, runs in spans.items()}
    assert all(1 < peak <= 8 for peak in overlap.values()), overlap
    assert redis_call(redis_server, "zcard", "rq:failed:default") == "0"
    assert redis_call(redis_server, "zcard", "rq:wip:default") == "0"
    print(f"\n300 jobs of 0.1 s on 3 x 8 threads: {elapsed:.1f} s; most at once {overlap}")


def test_a_job_over_its_timeout_fails_alone_and_the_others_in_its_process_finish(
    project: Project, tmp_path: Path, redis_server: Any
) -> None:
    project.start_worker(WORKER_CONCURRENCY="4")
    marker, log = tmp_path / "never.txt", tmp_path / "runs.log"
    (slow,) = push(
        project,
        "print(queue.options(timeout=1, retries=0)"
        f".submit(jobs.sleep_then_write, {str(marker)!r}, 4).job_id)",
    )
    others = push(
        project,
        f"for n in range(3):\n    print(queue.submit(jobs.record_run, {str(log)!r}, n, 2).job_id)",
    )
    started = time.monotonic()
    polling.wait_for(
        lambda: job_states(project, [slow])[slow]["status"] == "failed",
        timeout=20,
        message="the slow job was not failed at its timeout",
    )
    failed_after = time.monotonic() - started
    assert failed_after < 3.5  # at its 1 s deadline, while its thread still sleeps (4 s)
    assert "JobTimeoutException" in job_states(project, [slow])[slow]["error"]
    assert redis_call(redis_server, "zrange", "rq:failed:default", "0", "-1") == slow
    polling.wait_for(
        lambda: all(
            state["status"] == "finished" for state in job_states(project, others).values()
        ),
        timeout=20,
        message="the other jobs of the process did not finish",
    )
    polling.wait_for(
        lambda: "Job thread free again" in project.log("worker"),
        timeout=20,
        message="the timed-out job's thread never came back",
    )
    assert not marker.exists()
    assert job_states(project, [slow])[slow]["status"] == "failed"
    print(f"\njob with a 1 s timeout, blocked in a 4 s sleep: failed after {failed_after:.1f} s")


def test_sigterm_lets_all_four_running_jobs_finish_takes_no_new_one_and_exits_zero(
    project: Project, tmp_path: Path, redis_server: Any
) -> None:
    worker = project.start_worker(WORKER_CONCURRENCY="4")
    markers = [tmp_path / f"slow-{n}.txt" for n in range(4)]
    push(
        project,
        f"for path in {[str(marker) for marker in markers]!r}:\n"
        "    queue.push(jobs.sleep_then_write, path, 1.5)\n"
        "for n in range(4):\n"
        f"    queue.push(jobs.record_start, {str(tmp_path)!r} + f'/late-{{n}}')",
    )
    polling.wait_for(
        lambda: project.log("worker").count("Job started") == 4,
        timeout=20,
        message="four jobs did not start",
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, project.log("worker")
    assert [marker.read_text() for marker in markers] == ["done"] * 4
    assert project.log("worker").count("Job started") == 4
    assert redis_call(redis_server, "llen", "rq:queue:default") == "4"
    assert redis_call(redis_server, "zcard", "rq:wip:default") == "0"


def four_running_jobs(
    project: Project, tmp_path: Path, last_without_retries: bool
) -> tuple[list[Path], list[str], subprocess.Popen[str]]:
    """Four 300 s jobs running in one four-thread worker (fast heartbeats and maintenance): each
    appends its worker's pid to its own log. Returns the logs, the job ids and the worker."""
    project.environment.update(
        WORKER_HEARTBEAT_INTERVAL="1",
        WORKER_MAINTENANCE_INTERVAL="1",
        WORKER_TTL="16",
        JOB_RETRY_BACKOFF="0",
    )
    logs = [tmp_path / f"attempts-{n}.log" for n in range(4)]
    pushes = [
        f"queue.options(retries=0).submit(jobs.record_attempt, {str(log)!r}, 300)"
        if last_without_retries and log == logs[-1]
        else f"queue.submit(jobs.record_attempt, {str(log)!r}, 300)"
        for log in logs
    ]
    job_ids = push(project, "".join(f"print({call}.job_id)\n" for call in pushes))
    worker = project.start_worker("worker-a", WORKER_CONCURRENCY="4")
    polling.wait_for(
        lambda: all(log.exists() for log in logs), timeout=20, message="four jobs did not start"
    )
    assert {log.read_text() for log in logs} == {f"{worker.pid}\n"}
    return logs, job_ids, worker


def test_sigkill_leaves_all_four_running_jobs_to_be_recovered(
    project: Project, tmp_path: Path
) -> None:
    logs, job_ids, first = four_running_jobs(project, tmp_path, last_without_retries=True)
    first.kill()
    killed_at = time.monotonic()
    second = project.start_worker("worker-b", WORKER_CONCURRENCY="4")

    def recovered() -> bool:
        states = job_states(project, job_ids)
        return [state["status"] for state in states.values()] == ["finished"] * 3 + ["failed"]

    polling.wait_for(recovered, timeout=60, message="the killed worker's jobs were not recovered")
    recovery = time.monotonic() - killed_at
    for log in logs[:3]:
        assert log.read_text().split() == [str(first.pid), str(second.pid)]
    assert "AbandonedJobError" in job_states(project, [job_ids[3]])[job_ids[3]]["error"]
    print(f"\nSIGKILL with 4 jobs running -> all 4 settled in {recovery:.1f} s")


def test_a_second_sigterm_stops_at_once_and_leaves_the_running_jobs_to_be_recovered(
    project: Project, tmp_path: Path
) -> None:
    logs, job_ids, first = four_running_jobs(project, tmp_path, last_without_retries=False)
    first.send_signal(signal.SIGTERM)
    polling.wait_for(
        lambda: "Waiting for running jobs to finish" in project.log("worker-a"),
        timeout=10,
        message="the first SIGTERM did not start a warm shutdown",
    )
    time.sleep(1.1)  # RQ ignores a second signal within a second of the first
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=10)
    assert "Cold shutdown" in project.log("worker-a")
    project.start_worker("worker-b", WORKER_CONCURRENCY="4")
    polling.wait_for(
        lambda: all(
            state["status"] == "finished" for state in job_states(project, job_ids).values()
        ),
        timeout=60,
        message="the jobs left running by the cold shutdown were not recovered",
    )
    assert all(len(log.read_text().split()) == 2 for log in logs)


def test_the_worker_reports_its_concurrency_and_health_holds(project: Project) -> None:
    project.start_worker(WORKER_CONCURRENCY="4")
    assert "concurrency=4" in project.log("worker")
    result = subprocess.run(
        [sys.executable, "queues.py", "health"],
        cwd=project.path,
        env=project.environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
