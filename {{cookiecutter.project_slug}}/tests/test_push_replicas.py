"""QUEUE_PUSH_REPLICAS: a push returns True only once that many replicas hold the job (Redis
WAIT), on the fast and the plain path; otherwise False, quickly, with the reason. Against a
private master with one replica."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis

from app import Application, current
from app.queue.commands.checklist import Item, check
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import RedisServer
from tests.support.workers import work


def replicated_application(
    tmp_path: Path, master: RedisServer, fast_path: bool, replicas: int, timeout_ms: int = 200
) -> Application:
    Redis(port=master.port).flushall()
    return make_application(
        tmp_path,
        QUEUE_CONNECTION="redis",
        QUEUE_FAST_PATH="true" if fast_path else "false",
        QUEUE_PUSH_REPLICAS=str(replicas),
        QUEUE_PUSH_REPLICAS_TIMEOUT_MS=str(timeout_ms),
        **master.environment(),
    )


def redis_item(application: Application) -> Item:
    items = check(application.queue_settings, application.log(), live=False)
    return next(item for item in items if item.name == "redis")


def test_a_push_returns_once_the_replica_holds_the_job(
    tmp_path: Path, replicated_redis: tuple[RedisServer, RedisServer], fast_path: bool
) -> None:
    master, replica = replicated_redis
    application = replicated_application(tmp_path, master, fast_path, replicas=1)
    on_replica = Redis(port=replica.port)
    with current(application):
        queue = application.queue()
        one = queue.submit(jobs.echo, "one")
        assert one.ok
        assert on_replica.exists(f"rq:job:{one.job_id}")  # already there when push returned
        at = queue.submit_at(datetime.now() - timedelta(seconds=1), jobs.echo, "at")
        unique = queue.options(unique=True, job_id="replicated-once").submit(jobs.echo, "u")
        assert at.ok and unique.ok
        assert on_replica.exists(f"rq:job:{at.job_id}", "rq:job:replicated-once") == 2
        assert queue.push_many(jobs.echo, [(n,) for n in range(3)]) == 3
        assert work(application, burst=True) == 0
    item = redis_item(application)
    assert item.status == "ok" and "pushes wait for 1 of its 1 replica(s)" in item.detail


def test_too_few_replicas_fail_the_push_quickly_with_the_reason(
    tmp_path: Path,
    replicated_redis: tuple[RedisServer, RedisServer],
    fast_path: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    master, _ = replicated_redis
    application = replicated_application(tmp_path, master, fast_path, replicas=2, timeout_ms=50)
    with caplog.at_level(logging.ERROR):
        started = time.monotonic()
        pushed = application.queue().push(jobs.echo, 1)
        elapsed = time.monotonic() - started
        assert application.queue().push_many(jobs.echo, [(1,), (2,)]) == 0
    assert pushed is False
    assert elapsed < 1.0
    reasons = [record.getMessage() for record in caplog.records]
    assert all("only 1 of 2 replicas confirmed the job within 50 ms" in r for r in reasons), reasons
    item = redis_item(application)
    assert item.status == "FAIL"
    assert "1 connected replica(s) and QUEUE_PUSH_REPLICAS is 2" in item.detail
