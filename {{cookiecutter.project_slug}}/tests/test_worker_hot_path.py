"""What the worker's shortened per-job path must keep: RQ's view of a running job, our log lines,
a warm shutdown that exits 0 even when idle."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue as RQQueue
from rq import Worker, get_current_job
from rq.job import Job
from rq.registry import StartedJobRegistry

from app import PROJECT_ROOT, Application
from app.jobs.reports import rebuild_report
from app.queue.script_pipeline import RUN_COMMANDS_LUA, run_as_script
from app.queue.worker import run_worker
from tests.support import polling
from tests.support.redis_server import RedisServer


def snapshot_rq_view(path: str) -> None:
    """A task: write what RQ (and so rq-dashboard and ``rq info``) sees while it runs."""
    job = get_current_job()
    assert job is not None
    connection = job.connection
    stored = Job.fetch(job.id, connection=connection)
    (worker,) = Worker.all(connection=connection)
    view = {
        "status": stored.get_status(),
        "worker_name": stored.worker_name,
        "started": stored.started_at is not None,
        "in_started_registry": job.id in StartedJobRegistry(job.origin, connection).get_job_ids(),
        "job_ttl": connection.ttl(job.key),
        "intermediate": connection.llen(f"rq:queue:{job.origin}:intermediate"),
        "worker": worker.name,
        "worker_state": worker.get_state(),
        "worker_executions": connection.scard(f"rq:worker:{worker.name}:executions"),
    }
    Path(path).write_text(json.dumps(view), encoding="utf-8")


def test_a_running_job_looks_to_rq_as_rq_would_write_it(
    redis_application: Application, redis_server: RedisServer, tmp_path: Path
) -> None:
    view_path = tmp_path / "view.json"
    submission = redis_application.queue().submit(snapshot_rq_view, str(view_path))
    assert run_worker(redis_application, burst=True, name="hot-path") == 0
    view = json.loads(view_path.read_text(encoding="utf-8"))
    assert view == {
        "status": "started",
        "worker_name": "hot-path",
        "started": True,
        "in_started_registry": True,
        "job_ttl": -1,
        "intermediate": 0,
        "worker": "hot-path",
        "worker_state": "busy",
        "worker_executions": 1,
    }
    connection = Redis.from_url(redis_server.url)
    assert redis_application.queue().status(submission.job_id).status == "finished"
    assert StartedJobRegistry("default", connection).get_job_ids() == []


def test_rq_per_job_lines_are_dropped_and_ours_kept(
    redis_application: Application, caplog: pytest.LogCaptureFixture
) -> None:
    submission = redis_application.queue().submit(rebuild_report, 21)
    with caplog.at_level(logging.INFO):
        run_worker(redis_application, burst=True)
    messages = [record.getMessage() for record in caplog.records]
    ours = [(r.getMessage(), getattr(r, "job_id", None)) for r in caplog.records]
    assert ("Job started", submission.job_id) in ours
    assert ("Job finished", submission.job_id) in ours
    assert any("Listening on" in message for message in messages)
    assert not [m for m in messages if "Job OK" in m or "Successfully completed" in m]
    assert not [m for m in messages if m.startswith("Worker ") and m.endswith(submission.job_id)]


def test_commands_sent_as_one_script_write_what_the_pipeline_would(
    redis_server: RedisServer,
) -> None:
    connection = Redis.from_url(redis_server.url)
    connection.delete("hot:hash", "hot:zset")
    script = connection.register_script(RUN_COMMANDS_LUA)
    with connection.pipeline() as pipeline:
        pipeline.hset("hot:hash", mapping={"a": "1", "b": 2.5})
        pipeline.expire("hot:hash", 100)
        pipeline.zadd("hot:zset", {"member": 12.75})
        pipeline.zadd("hot:zset", {"member": 99}, xx=True)
        run_as_script(script, pipeline)
        assert pipeline.command_stack == []
    assert connection.hgetall("hot:hash") == {b"a": b"1", b"b": b"2.5"}
    assert 0 < connection.ttl("hot:hash") <= 100
    assert connection.zscore("hot:zset", "member") == 99


def test_sigterm_to_an_idle_worker_exits_zero(redis_server: RedisServer, tmp_path: Path) -> None:
    Redis.from_url(redis_server.url).flushdb()
    log_path = tmp_path / "worker.log"
    environment = {
        **os.environ,
        **redis_server.environment(),
        "QUEUE_CONNECTION": "redis",
        "STORAGE_PATH": str(tmp_path / "storage"),
    }
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "queues.py"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        polling.wait_for(
            lambda: "Listening on" in log_path.read_text() or worker.poll() is not None,
            timeout=20,
            message="worker did not start",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, log_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert "stopped unexpectedly" not in log_path.read_text()
    assert RQQueue("default", connection=Redis.from_url(redis_server.url)).count == 0
