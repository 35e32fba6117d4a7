"""Worker correctness with real processes and a real Redis: unloadable jobs and lost leases.

Run with ``-s`` to see the figures the closing notes and the README quote.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from processes import Project, baked_project, polling

PUSH = (
    "from app import app\n"
    "from app.jobs.reports import rebuild_report\n"
    "from tests.support import jobs\n"
    "queue = app().queue()\n"
)


def job_records(project: Project, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status, registries, results and timestamps of each job, as RQ keeps them."""
    output = project.python(
        "import json\n"
        "from rq.job import Job\n"
        "from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry\n"
        "from app import app\n"
        "from app.queue.redis_clients import producer_client\n"
        "client = producer_client(app().queue_settings.redis)\n"
        "registries = {'started': StartedJobRegistry, 'finished': FinishedJobRegistry,\n"
        "              'failed': FailedJobRegistry}\n"
        "ids = {name: set(kind('default', connection=client).get_job_ids())\n"
        "       for name, kind in registries.items()}\n"
        "records = {}\n"
        f"for job_id in {job_ids!r}:\n"
        "    job = Job.fetch(job_id, connection=client)\n"
        "    records[job_id] = {\n"
        "        'status': job.get_status().value,\n"
        "        'registries': sorted(name for name in ids if job_id in ids[name]),\n"
        "        'results': [result.type.name for result in job.results()],\n"
        "        'started_at': job.started_at.timestamp() if job.started_at else None,\n"
        "        'ended_at': job.ended_at.timestamp() if job.ended_at else None,\n"
        "    }\n"
        "print(json.dumps(records))\n"
    )
    return json.loads(output)


def test_unloadable_jobs_fail_and_the_good_jobs_behind_them_run(
    project: Project, tmp_path: Path, redis_server: Any
) -> None:
    started = tmp_path / "good-started"
    (corrupt,) = project.python(
        PUSH + "print(queue.submit(jobs.echo, 'corrupt me').job_id)"
    ).split()
    project.python(
        "from redis import Redis\n"
        f"Redis(port={redis_server.port}).hset('rq:job:{corrupt}', 'data', b'\\x00garbage')\n"
    )
    (as_json,) = project.python(
        PUSH + "print(queue.submit(jobs.echo, 'json').job_id)", QUEUE_SERIALIZER="json"
    ).split()
    (missing_class,) = project.python(
        PUSH + "import sys, types\n"
        "module = types.ModuleType('billing_only_in_the_producer')\n"
        "exec('class Invoice:\\n    pass\\n', module.__dict__)\n"
        "sys.modules[module.__name__] = module\n"
        "print(queue.submit(jobs.echo, module.Invoice()).job_id)\n"
    ).split()
    (good,) = project.python(
        PUSH + f"print(queue.submit(jobs.record_start, {str(started)!r}).job_id)"
    ).split()

    worker = project.start_worker()
    polling.wait_for(started.exists, timeout=20, message="the good job behind them never ran")
    records = job_records(project, [corrupt, as_json, missing_class, good])
    poisoned = [corrupt, as_json, missing_class]
    for job_id in poisoned:
        assert records[job_id]["status"] == "failed", records[job_id]
        assert records[job_id]["registries"] == ["failed"], records[job_id]
    assert records[good]["status"] == "finished"
    assert worker.poll() is None, project.log("worker")
    log = project.log("worker")
    assert log.count("Job failed: cannot load the data of a call to tests.support.jobs.echo") == 3
    assert "unhandled exception" not in log
    last_poison_end = max(records[job_id]["ended_at"] for job_id in poisoned)
    delay = float(started.read_text()) - last_poison_end
    print(f"\nlast unloadable job failed -> next good job started: {delay * 1000:.1f} ms")
    assert delay < 1.0
    listed = project.python("import queues\nqueues.main(['failed'])")
    assert listed.count("tests.support.jobs.echo(<data cannot be loaded>)") == 3


def test_a_run_that_lost_its_lease_records_nothing_and_says_so(
    project: Project, tmp_path: Path
) -> None:
    """Two workers; the one running a slow job is stopped (SIGSTOP) past its lease, the other
    takes the job over and finishes it; the first, continued, discards its outcome."""
    project.environment.update(
        WORKER_HEARTBEAT_INTERVAL="1",
        WORKER_MAINTENANCE_INTERVAL="1",
        WORKER_TTL="16",
        JOB_RETRY_BACKOFF="0",
    )
    attempts = tmp_path / "attempts.log"
    first = project.start_worker("worker-a")
    (job_id,) = project.python(
        PUSH + f"print(queue.submit(jobs.record_attempt, {str(attempts)!r}, 4).job_id)"
    ).split()
    polling.wait_for(attempts.exists, timeout=20, message="the slow job never started")
    begin = time.monotonic()
    first.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic() - begin
    second = project.start_worker("worker-b")
    polling.wait_for(
        lambda: (
            len(attempts.read_text().splitlines()) == 2
            and "Job finished" in project.log("worker-b")
        ),
        timeout=60,
        message="the second worker never took over the job",
    )
    taken_over_at = time.monotonic() - begin
    first.send_signal(signal.SIGCONT)
    resumed_at = time.monotonic() - begin
    polling.wait_for(
        lambda: "Job outcome discarded" in project.log("worker-a"),
        timeout=30,
        message="the first worker did not say it discarded its outcome",
    )
    discarded_at = time.monotonic() - begin
    pids = attempts.read_text().split()
    assert pids == [str(first.pid), str(second.pid)]
    record = job_records(project, [job_id])[job_id]
    assert record["status"] == "finished"
    assert record["registries"] == ["finished"]
    assert record["results"] == ["SUCCESSFUL"], record
    warning = next(
        line for line in project.log("worker-a").splitlines() if "Job outcome discarded" in line
    )
    assert "WARNING" in warning and f"job_id={job_id}" in warning
    assert "Job finished" not in project.log("worker-a")
    print(
        f"\nlease timeline: SIGSTOP at {stopped_at:.1f} s, taken over and finished by worker-b at"
        f" {taken_over_at:.1f} s, SIGCONT at {resumed_at:.1f} s, outcome discarded by worker-a at"
        f" {discarded_at:.1f} s"
    )
    assert first.poll() is None and second.poll() is None


def child_processes(pid: int) -> list[str]:
    """``pid state`` of every process whose parent is ``pid`` (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(f"{stat.parent.name} {fields[0]}")
    return children


@pytest.mark.parametrize("fast_path", ["true", "false"], ids=["fast-path", "plain-path"])
def test_a_redis_outage_is_two_log_lines_per_process_and_loses_no_job(
    tmp_path: Path, durable_redis: Any, fast_path: str
) -> None:
    project = baked_project(tmp_path, durable_redis)
    project.environment["QUEUE_FAST_PATH"] = fast_path
    try:
        worker = project.start_worker()
        project.start("scheduler.py", log_name="scheduler")
        polling.wait_for(
            lambda: "Scheduler started" in project.log("scheduler"),
            timeout=20,
            message="scheduler.py did not start",
        )
        assert project.python(PUSH + "print(queue.push(rebuild_report, 1))") == "True"
        polling.wait_for(lambda: project.report(1), timeout=20, message="job before the outage")
        project.python(
            PUSH + "from datetime import datetime, timedelta\n"
            "assert queue.push_at(datetime.now() + timedelta(seconds=3), rebuild_report, 2)\n"
        )

        durable_redis.stop()
        outage_started = time.monotonic()
        assert project.python(PUSH + "print(queue.push(rebuild_report, 99))") == "False"
        for name in ("worker", "scheduler"):
            polling.wait_for(
                lambda name=name: "Redis lost at" in project.log(name),
                timeout=30,
                message=f"{name} never said Redis was lost",
            )
        durable_redis.start()
        outage = time.monotonic() - outage_started
        for name in ("worker", "scheduler"):
            polling.wait_for(
                lambda name=name: "Redis answers again" in project.log(name),
                timeout=60,
                message=f"{name} never said Redis answers again",
            )
        recovered = time.monotonic() - outage_started - outage

        assert project.python(PUSH + "print(queue.push(rebuild_report, 3))") == "True"
        for report_id in (2, 3):
            polling.wait_for(
                lambda report_id=report_id: project.report(report_id),
                timeout=30,
                message=f"report {report_id} was lost across the outage",
            )
        assert project.report(99) is None
        for name in ("worker", "scheduler"):
            log = project.log(name)
            assert log.count("Redis lost at") == 1, log
            assert log.count("Redis answers again") == 1, log
            assert "Traceback" not in log, log
            assert "could not connect to Redis" not in log, log
        assert child_processes(worker.pid) == []
        assert worker.poll() is None
        print(
            f"\nRedis down {outage:.1f} s; worker and scheduler said it answers again within"
            f" {recovered:.1f} s of its return"
        )
    finally:
        project.stop_all()
