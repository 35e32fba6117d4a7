"""The redis driver against a real redis-server (skipped without one, except in CI)."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue as RQQueue
from rq import Retry
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from app import Application
from app.jobs.reports import rebuild_report
from app.queue.worker import default_worker_name
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import RedisServer, free_port
from tests.support.workers import work


def rq_queue(server: RedisServer, name: str = "default") -> RQQueue:
    return RQQueue(name, connection=Redis.from_url(server.url))


def test_push_enqueues_with_the_configured_defaults(
    redis_application: Application, redis_server: RedisServer
) -> None:
    submission = redis_application.queue().submit(rebuild_report, 11)
    assert submission.ok
    queue = rq_queue(redis_server)
    assert queue.job_ids == [submission.job_id]
    job = queue.fetch_job(submission.job_id)
    assert job.func_name == "app.jobs.reports.rebuild_report"
    assert job.args == (11,)
    assert job.timeout == 180
    assert job.retries_left == 3
    assert job.retry_intervals == [10, 20, 40]
    assert job.result_ttl == 86400
    assert job.failure_ttl == 604800


def test_task_decorator_and_options_override_the_defaults(
    redis_application: Application, redis_server: RedisServer
) -> None:
    decorated = redis_application.queue().submit(jobs.decorated, 1)
    job = rq_queue(redis_server, "reports").fetch_job(decorated.job_id)
    assert (job.timeout, job.retries_left) == (7, None)
    overridden = (
        redis_application.queue().options(timeout=9, queue="urgent").submit(jobs.decorated, 2)
    )
    assert rq_queue(redis_server, "urgent").fetch_job(overridden.job_id).timeout == 9


def test_worker_runs_queued_job_and_status_shows_result(redis_application: Application) -> None:
    queue = redis_application.queue()
    submission = queue.submit(rebuild_report, 12)
    assert queue.status(submission.job_id).status == "queued"
    assert work(redis_application, burst=True) == 0
    state = queue.status(submission.job_id)
    assert state.status == "finished"
    assert state.result["report_id"] == 12


def test_worker_records_failure_with_the_exception(redis_application: Application) -> None:
    queue = redis_application.queue().options(retries=0)
    submission = queue.submit(jobs.fail, "kaboom")
    work(redis_application, burst=True)
    state = queue.status(submission.job_id)
    assert state.status == "failed"
    assert "kaboom" in state.error


def test_push_at_schedules_at_the_whole_second_not_before(
    redis_application: Application, redis_server: RedisServer
) -> None:
    aware = datetime.now(UTC) + timedelta(minutes=5, microseconds=300_000)
    naive_local = datetime.now() + timedelta(minutes=7)
    queue = redis_application.queue()
    first = queue.submit_at(aware, rebuild_report, 1)
    second = queue.submit_at(naive_local, rebuild_report, 2)
    registry = ScheduledJobRegistry("default", connection=Redis.from_url(redis_server.url))
    first_time = registry.get_scheduled_time(first.job_id)
    assert first_time >= aware
    assert first_time - aware < timedelta(seconds=1)
    second_time = registry.get_scheduled_time(second.job_id)
    assert abs(second_time - naive_local.astimezone(UTC)) < timedelta(seconds=1)
    assert rq_queue(redis_server).count == 0


@pytest.mark.parametrize(
    ("func", "message"),
    [(lambda: None, "is a lambda"), (functools.partial(jobs.echo, 1), "not importable tasks")],
    ids=["lambda", "partial"],
)
def test_non_importable_callables_are_refused(
    redis_application: Application, redis_server: RedisServer, func, message: str
) -> None:
    submission = redis_application.queue().submit(func)
    assert submission.ok is False
    assert message in submission.error
    assert rq_queue(redis_server).count == 0


def test_nested_function_and_open_file_are_refused_and_nothing_is_queued(
    redis_application: Application, redis_server: RedisServer, tmp_path: Path
) -> None:
    def nested() -> None:
        return None

    queue = redis_application.queue()
    assert "defined inside a function" in queue.submit(nested).error
    with (tmp_path / "f").open("w") as handle:
        assert "cannot be serialized" in queue.submit(jobs.echo, handle).error
    assert rq_queue(redis_server).count == 0
    assert Redis.from_url(redis_server.url).keys("rq:job:*") == []


def test_push_returns_false_quickly_when_redis_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    application = make_application(
        tmp_path, QUEUE_CONNECTION="redis", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port())
    )
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        assert application.queue().push(rebuild_report, 1) is False
    assert time.monotonic() - started < 2.0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "unreachable" in errors[0].getMessage()


def test_wrong_password_is_reported_as_authentication(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", password="right-password").start()
    try:
        environment = {**server.environment(), "REDIS_PASSWORD": "wrong-password"}
        application = make_application(tmp_path, QUEUE_CONNECTION="redis", **environment)
        submission = application.queue().submit(rebuild_report, 1)
        assert submission.ok is False
        assert "authentication" in submission.error
        assert work(application, burst=True) == 1
        right = make_application(tmp_path, QUEUE_CONNECTION="redis", **server.environment())
        assert right.queue().push(rebuild_report, 1)
    finally:
        server.stop()


def test_worker_refuses_to_start_with_the_sync_driver(application: Application) -> None:
    assert work(application, burst=True) == 2


def test_worker_refuses_to_start_when_redis_is_unreachable(tmp_path: Path) -> None:
    application = make_application(
        tmp_path, QUEUE_CONNECTION="redis", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port())
    )
    assert work(application, burst=True) == 1


def test_status_of_unknown_job_is_none(redis_application: Application) -> None:
    assert redis_application.queue().status("missing") is None


def test_unique_push_enqueues_the_same_logical_job_once(
    redis_application: Application, redis_server: RedisServer
) -> None:
    unique = redis_application.queue().options(unique=True)
    first = unique.submit(rebuild_report, 21)
    second = unique.submit(rebuild_report, 21)
    other = unique.submit(rebuild_report, 22)
    assert (first.ok, first.duplicate) == (True, False)
    assert (second.ok, second.duplicate, second.job_id) == (True, True, first.job_id)
    assert other.job_id != first.job_id
    assert rq_queue(redis_server).job_ids == [first.job_id, other.job_id]


def test_unique_push_with_an_explicit_id_and_a_schedule(
    redis_application: Application, redis_server: RedisServer
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=1)
    unique = redis_application.queue().options(unique=True, job_id="nightly-report-21")
    assert unique.submit_at(later, rebuild_report, 21).duplicate is False
    assert unique.submit_at(later, rebuild_report, 21).duplicate is True
    registry = ScheduledJobRegistry("default", connection=Redis.from_url(redis_server.url))
    assert registry.get_job_ids() == ["nightly-report-21"]


@pytest.mark.parametrize("redis_environment", [{"QUEUE_SERIALIZER": "json"}])
def test_json_serializer_round_trips_plain_data_and_refuses_the_rest(
    redis_application: Application,
) -> None:
    queue = redis_application.queue()
    submission = queue.submit(jobs.echo, 1, note={"nested": [1, 2]})
    refused = queue.submit(jobs.echo, datetime.now())
    assert work(redis_application, burst=True) == 0
    expected = {"args": [1], "kwargs": {"note": {"nested": [1, 2]}}}
    assert queue.status(submission.job_id).result == expected
    assert refused.ok is False
    assert "not JSON serializable" in refused.error


def test_push_many_queues_every_job_in_one_go(
    redis_application: Application, redis_server: RedisServer
) -> None:
    assert redis_application.queue().push_many(rebuild_report, [(1,), (2,), (3,)]) == 3
    queue = rq_queue(redis_server)
    assert [job.args for job in queue.jobs] == [(1,), (2,), (3,)]
    assert {job.timeout for job in queue.jobs} == {180}
    assert work(redis_application, burst=True) == 0
    assert redis_application.reports().read(3)["report_id"] == 3


def test_push_many_queues_nothing_when_one_job_cannot_be_sent(
    redis_application: Application, redis_server: RedisServer
) -> None:
    queue = redis_application.queue()
    assert queue.push_many(jobs.echo, [(1,), (threading.Lock(),), (3,)]) == 0
    assert queue.push_many(lambda value: value, [(1,)]) == 0
    assert rq_queue(redis_server).count == 0


def test_push_writes_the_job_hash_rq_enqueue_writes(
    redis_application: Application, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url)
    ours = redis_application.queue().submit(jobs.echo, 5, "x", note=[1])
    theirs = RQQueue("default", connection=client).enqueue(
        jobs.echo,
        5,
        "x",
        note=[1],
        job_timeout=180,
        result_ttl=86400,
        failure_ttl=604800,
        retry=Retry(max=3, interval=[10, 20, 40]),
    )
    ours_hash = client.hgetall(f"rq:job:{ours.job_id}")
    theirs_hash = client.hgetall(f"rq:job:{theirs.id}")
    timestamps = {b"created_at", b"enqueued_at"}
    assert set(ours_hash) == set(theirs_hash)
    for field in set(ours_hash) - timestamps - {b"data"}:
        assert ours_hash[field] == theirs_hash[field], field
    for field in timestamps:
        assert datetime.strptime(ours_hash[field].decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
    fetched = Job.fetch(ours.job_id, connection=client)
    assert (fetched.func_name, fetched.args, fetched.kwargs) == (
        "tests.support.jobs.echo",
        (5, "x"),
        {"note": [1]},
    )
    assert client.lrange("rq:queue:default", 0, -1) == [ours.job_id.encode(), theirs.id.encode()]
    assert client.smembers("rq:queues") == {b"rq:queue:default"}


def test_large_arguments_are_compressed_and_still_run(
    redis_application: Application, redis_server: RedisServer
) -> None:
    payload = "report " * 1000
    queue = redis_application.queue()
    submission = queue.submit(jobs.echo, payload)
    stored = Redis.from_url(redis_server.url).hget(f"rq:job:{submission.job_id}", "data")
    assert len(stored) < len(payload)
    assert work(redis_application, burst=True) == 0
    assert queue.status(submission.job_id).result == {"args": [payload], "kwargs": {}}


def test_push_many_larger_than_one_script_call_keeps_order(
    redis_application: Application, redis_server: RedisServer
) -> None:
    count = 2500
    assert redis_application.queue().push_many(jobs.echo, [(n,) for n in range(count)]) == count
    client = Redis.from_url(redis_server.url)
    ids = [job_id.decode() for job_id in client.lrange("rq:queue:default", 0, -1)]
    assert len(ids) == count
    assert [job.args for job in Job.fetch_many(ids[:3] + ids[-1:], connection=client)] == [
        (0,),
        (1,),
        (2,),
        (count - 1,),
    ]


@pytest.mark.parametrize("redis_environment", [{"WORKER_MAX_JOBS": "2"}])
def test_worker_with_max_jobs_exits_zero_after_that_many(
    redis_application: Application, redis_server: RedisServer
) -> None:
    assert redis_application.queue().push_many(rebuild_report, [(1,), (2,), (3,)]) == 3
    assert work(redis_application) == 0
    assert rq_queue(redis_server).count == 1


def test_default_worker_names_are_unique_per_start() -> None:
    first, second = default_worker_name(), default_worker_name()
    assert first != second
    assert first.startswith(f"{socket.gethostname()}.{os.getpid()}.")


def test_push_recovers_its_connection_after_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        application = make_application(tmp_path, QUEUE_CONNECTION="redis", **server.environment())
        queue = application.queue()
        assert queue.push(rebuild_report, 1)
        server.restart()
        assert queue.push(rebuild_report, 2)
        assert rq_queue(server).count == 1
    finally:
        server.stop()


def test_pushes_from_many_threads_each_land_once(
    redis_application: Application, redis_server: RedisServer
) -> None:
    queue = redis_application.queue()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda number: queue.push(rebuild_report, number), range(200)))
    assert all(results)
    assert sorted(job.args[0] for job in rq_queue(redis_server).jobs) == list(range(200))


def test_the_same_job_id_is_queued_once(
    redis_application: Application, redis_server: RedisServer
) -> None:
    queue = redis_application.queue().options(job_id="report-5")
    assert queue.push(rebuild_report, 5)
    assert queue.push(rebuild_report, 5)
    assert rq_queue(redis_server).job_ids == ["report-5"]


def test_push_returns_false_within_two_seconds_when_redis_hangs(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        application = make_application(tmp_path, QUEUE_CONNECTION="redis", **server.environment())
        queue = application.queue()
        assert queue.push(rebuild_report, 1)
        server.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        submission = queue.submit(rebuild_report, 2)
        elapsed = time.monotonic() - started
        server.process.send_signal(signal.SIGCONT)
        assert submission.ok is False
        assert "Timeout" in submission.error
        assert elapsed < 2.0
        assert queue.push(rebuild_report, 3)
    finally:
        server.process.send_signal(signal.SIGCONT)
        server.stop()
