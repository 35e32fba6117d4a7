"""WORKER_CONCURRENCY > 1: one worker process runs several jobs at once, each with every guarantee
a job has alone (its own started entry and heartbeat, timeout, fencing, ``current_job()``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.suspension import resume, suspend
from rq.worker import Worker

from app import Application
from app.queue.worker.job_deadlines import JobDeadlines
from app.queue.worker.run import build_worker
from app.queue.worker.threaded import ThreadedQueueWorker
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import RedisServer
from tests.support.spans import most_at_once
from tests.support.workers import work
from tests.test_checklist import checklist, hold_scheduler_lock

CONCURRENCY = 4


@pytest.fixture
def redis_environment() -> dict[str, str]:
    return {"WORKER_CONCURRENCY": str(CONCURRENCY), "WORKER_HEARTBEAT_INTERVAL": "1"}


class Observer:
    """Calls ``look`` every 50 ms in a side thread while the worker runs in the test's thread."""

    def __init__(self, look: Callable[[], Any]) -> None:
        self.seen: list[tuple[float, Any]] = []
        self._look = look
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.seen.append((time.monotonic() - self._started, self._look()))


def runs(path: Path) -> dict[int, tuple[float, float]]:
    """``jobs.record_run``'s log: job number -> (start, end)."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for line in path.read_text().splitlines():
        kind, number, moment = line.split()
        (starts if kind == "start" else ends)[int(number)] = float(moment)
    return {number: (starts[number], ends[number]) for number in starts}


def test_runs_up_to_concurrency_jobs_at_once_and_never_more(
    redis_application: Application, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    for number in range(10):
        assert redis_application.queue().push(jobs.record_run, str(log), number, 0.2)
    started = time.monotonic()
    assert work(redis_application, burst=True) == 0
    elapsed = time.monotonic() - started
    spans = runs(log)
    assert sorted(spans) == list(range(10))
    assert most_at_once(list(spans.values())) == CONCURRENCY
    assert elapsed < 10 * 0.2 * 0.75  # one at a time would take 2 s


# The slow tests run on the fast path only (the template's process tests cover both paths).
@pytest.mark.parametrize("fast_path", [True], ids=["fast-path"])
def test_busy_while_jobs_run_each_in_the_started_registry_with_its_own_heartbeat(
    redis_application: Application, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url)
    for seconds in (1.8, 1.8, 1.8):
        assert redis_application.queue().push(time.sleep, seconds)
    started = StartedJobRegistry("default", connection=client)

    def look() -> tuple[set[str], dict[str, float]]:
        states = {client.hget(key, "state") for key in client.smembers("rq:workers")}
        return {state.decode() for state in states if state}, dict(
            (member.decode(), score)
            for member, score in client.zrange(started.key, 0, -1, withscores=True)
        )

    with Observer(look) as observer:
        assert work(redis_application, burst=True) == 0
    during = [entries for _, (states, entries) in observer.seen if len(entries) == 3]
    assert during, observer.seen
    assert all(states == {"busy"} for _, (states, entries) in observer.seen if entries)
    first, last = during[0], during[-1]
    assert set(first) == set(last)
    assert all(last[member] > first[member] for member in first)  # each renewed on its own
    assert started.count == 0


@pytest.mark.parametrize("fast_path", [True], ids=["fast-path"])
def test_a_timed_out_job_fails_at_its_deadline_the_others_finish_and_its_late_end_is_discarded(
    redis_application: Application, redis_server: RedisServer, tmp_path: Path
) -> None:
    queue = redis_application.queue()
    marker = tmp_path / "late.txt"
    slow = queue.options(timeout=1, retries=0).submit(jobs.stubborn_sleep, str(marker), 2)
    quick = [queue.submit(jobs.which_job_after, 0.5).job_id for _ in range(5)]

    with Observer(lambda: queue.status(slow.job_id).status) as observer:
        assert work(redis_application, burst=True) == 0
    failed_at = next(moment for moment, status in observer.seen if status == "failed")
    assert failed_at < 1.9  # recorded at the deadline, while the run still sleeps
    state = queue.status(slow.job_id)
    assert state.status == "failed"
    assert "JobTimeoutException: Task exceeded maximum timeout value (1 seconds)" in state.error
    assert marker.read_text() == "done"  # the run went on, and nothing of its end was recorded
    job = Job.fetch(slow.job_id, connection=Redis.from_url(redis_server.url))
    assert [result.type.name for result in job.results()] == ["FAILED"]
    for job_id in quick:
        assert queue.status(job_id).status == "finished"


@pytest.mark.parametrize("fast_path", [True], ids=["fast-path"])
def test_rq_suspend_stops_job_threads_taking_jobs_and_resume_lets_them_go_on(
    redis_application: Application, redis_server: RedisServer, tmp_path: Path
) -> None:
    """On the fast path job threads take the next job themselves; ``rq suspend`` must stop that
    too, within about a second, as it stops RQ's loop."""
    log = tmp_path / "runs.log"
    for number in range(24):
        assert redis_application.queue().push(jobs.record_run, str(log), number, 0.2)
    client = Redis.from_url(redis_server.url)
    outcome: dict[str, Any] = {}

    def started(kind: str = "start") -> int:
        return log.read_text().count(f"{kind} ") if log.exists() else 0

    def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def operator() -> None:
        try:
            outcome["began"] = wait_for(lambda: started() >= CONCURRENCY * 2, 10)
            suspend(client)
            time.sleep(1.5)  # suspension takes effect within a second, plus one running job
            outcome["at suspension"] = started()
            time.sleep(1.0)  # a window in which no job may start
            outcome["a second later"] = started()
            resume(client)
            outcome["all ran"] = wait_for(lambda: started("end") == 24, 20)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a warm stop of the worker below

    side = threading.Thread(target=operator)
    side.start()
    try:
        assert work(redis_application) == 0
    finally:
        side.join()
    assert outcome["began"] and outcome["all ran"], outcome
    assert outcome["at suspension"] < 24
    assert outcome["a second later"] == outcome["at suspension"], outcome
    assert all(end for _, end in runs(log).values())


def test_current_job_is_each_threads_own_job(redis_application: Application) -> None:
    queue = redis_application.queue()
    job_ids = [queue.submit(jobs.which_job_after, 0.3).job_id for _ in range(8)]
    assert work(redis_application, burst=True) == 0
    for job_id in job_ids:
        assert tuple(queue.status(job_id).result) == (job_id, 1)


@pytest.mark.parametrize(
    "redis_environment",
    [{"WORKER_CONCURRENCY": str(CONCURRENCY), "WORKER_MAX_JOBS": "6"}],
)
def test_max_jobs_recycles_the_worker_after_that_many_finished_jobs(
    redis_application: Application, redis_server: RedisServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    for number in range(10):
        assert redis_application.queue().push(jobs.record_run, str(log), number, 0.2)
    assert work(redis_application) == 0
    spans = runs(log)
    assert len(spans) == 6 and all(end for _, end in spans.values())
    assert Redis.from_url(redis_server.url).llen("rq:queue:default") == 4


def test_check_counts_the_job_slots_of_the_live_workers(
    redis_application: Application, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url)
    threaded = ThreadedQueueWorker(["default"], connection=client, name="threaded")
    threaded.concurrency = CONCURRENCY
    threaded.register_birth()
    Worker(["default"], connection=client, name="single").register_birth()
    hold_scheduler_lock(client)
    code, lines = checklist(redis_application)
    assert code == 0, lines
    assert f"; {CONCURRENCY + 1} job slots" in next(line for line in lines if "workers:" in line)
    code, lines = checklist(redis_application, live=False)
    assert f"{CONCURRENCY} jobs at once (WORKER_CONCURRENCY={CONCURRENCY})" in "".join(lines)


def test_a_workers_pool_makes_connections_for_every_job_thread(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """redis-py's pool refuses a connection past ``max_connections`` (100): a worker's pool has
    room for two a job slot (a job thread's commands, another writing an outcome) and its own."""
    for concurrency, at_least in ((1, 100), (8, 100), (64, 2 * 64 + 3)):
        application = make_application(
            tmp_path,
            QUEUE_CONNECTION="redis",
            WORKER_CONCURRENCY=str(concurrency),
            **redis_server.environment(),
        )
        worker = build_worker(application.queue_settings, application.log(), "pool")
        assert worker.connection.connection_pool.max_connections >= at_least


def test_deadlines_call_back_in_order_and_cancelled_ones_never() -> None:
    deadlines = JobDeadlines()
    called: list[str] = []
    deadlines.add(0.2, lambda: called.append("late"))
    deadlines.add(0.1, lambda: called.append("early"))
    deadlines.cancel(deadlines.add(0.05, lambda: called.append("cancelled")))
    for _ in range(1000):  # a busy worker's cancelled deadlines do not pile up
        deadlines.cancel(deadlines.add(60, lambda: called.append("never")))
    deadline = time.monotonic() + 5
    while len(called) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    deadlines.close()
    assert called == ["early", "late"]
    assert len(deadlines._heap) < 200
