"""What the worker keeps on either path: RQ's view of a running job, a warm shutdown that exits 0
even when idle."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue as RQQueue
from rq import Worker, get_current_job
from rq.exceptions import StopRequested
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.worker.base import BaseWorker

from app import PROJECT_ROOT, Application
from app.queue.worker.run import build_worker
from tests.support import jobs, polling
from tests.support.redis_server import RedisServer
from tests.support.thread_starts import signal_inside_thread_starts
from tests.support.workers import work


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
    assert work(redis_application, burst=True, name="hot-path") == 0
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


@pytest.mark.parametrize("nth", [1, 2], ids=["rq-command-listener", "due-job-mover"])
def test_sigterm_while_the_worker_starts_a_thread_is_a_warm_stop(
    redis_application: Application, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    """The signal lands inside ``Thread.start`` of a worker starting up, as ``docker stop`` of
    a worker just started can: raised there, the warm stop broke the new thread, and the worker
    exited 1 on a scheduler thread it could not join."""
    default = signal.getsignal(signal.SIGTERM)
    starts = itertools.count(1)
    # A worker that starts fewer threads is never signalled: stop it later, and fail.
    fallback = threading.Timer(20, os.kill, (os.getpid(), signal.SIGTERM))
    fallback.daemon = True
    fallback.start()

    def nth_start_with_the_workers_handler() -> bool:
        workers_start = threading.current_thread() is threading.main_thread()
        workers_start = workers_start and signal.getsignal(signal.SIGTERM) is not default
        return workers_start and next(starts) == nth

    signalled = signal_inside_thread_starts(
        monkeypatch, signal.SIGTERM, nth_start_with_the_workers_handler
    )
    broken: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda failure: broken.append(str(failure)))
    monkeypatch.setattr(threading, "excepthook", lambda failure: broken.append(str(failure)))
    try:
        assert work(redis_application) == 0  # not burst: only the signal stops it
    finally:
        fallback.cancel()
        signal.signal(signal.SIGTERM, default)
    assert signalled == [signal.SIGTERM], "the worker started fewer threads than that"
    assert broken == []


def test_a_warm_stop_during_maintenance_is_noted_and_an_idle_one_outside_it_is_at_once(
    redis_application: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maintenance restarts the due-job mover's thread when it has died, so ``StopRequested``
    raised there could land inside that thread's start; RQ's loop ends at its next turn."""
    worker = build_worker(redis_application.queue_settings, redis_application.log(), "upkeep")

    def signalled_midway(self: Worker) -> None:
        self.request_stop(signal.SIGTERM, None)  # what the handler runs, here in maintenance

    monkeypatch.setattr(BaseWorker, "run_maintenance_tasks", signalled_midway)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.run_maintenance_tasks()  # no StopRequested out of it
        assert worker.stop_signalled and worker._stop_requested
        with pytest.raises(StopRequested):  # idle, outside maintenance: RQ's stop at once
            worker._shutdown()
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_a_job_cancelled_while_running_keeps_its_result_as_rq_does(
    redis_application: Application, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    submission = redis_application.queue().submit(jobs.cancel_myself)
    assert work(redis_application, burst=True) == 0
    job = Job.fetch(submission.job_id, connection=Redis.from_url(redis_server.url))
    assert job.return_value() == "finished anyway"
    assert "Job outcome discarded" not in caplog.text
