"""Redis through Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): pushes and the worker find the
master through a private Sentinel, and the checklist names the mode, where the master is now, and
a master name the Sentinels do not monitor. The failover itself is proven with real processes in
the template's own tests (its tests/test_sentinel.py, figures in README.md, "Managed Redis")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from app import Application, current
from app.queue.commands.checklist import Item, check
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_sentinel import MASTER_NAME, SentinelServer
from tests.support.redis_server import RedisServer, RedisUnavailable, free_port, skip_unless_ci
from tests.support.workers import work


@pytest.fixture(scope="module")
def sentinel(
    tmp_path_factory: pytest.TempPathFactory, replicated_redis: tuple[RedisServer, RedisServer]
) -> Iterator[SentinelServer]:
    """A Sentinel monitoring the replicated master as ``mymaster``."""
    master, _ = replicated_redis
    server = SentinelServer(tmp_path_factory.mktemp("sentinel"), master.port)
    try:
        server.start()
    except RedisUnavailable as error:
        skip_unless_ci(f"Sentinel tests need redis-server --sentinel: {error}")
    yield server
    server.stop()


def sentinel_application(tmp_path: Path, sentinel: SentinelServer, **variables: str) -> Application:
    environment = {
        "QUEUE_CONNECTION": "redis",
        "REDIS_SENTINELS": f"{sentinel.address},127.0.0.1:{free_port()}",  # one is down: fine
        "REDIS_SENTINEL_MASTER": MASTER_NAME,
        "REDIS_PASSWORD": "",
    }
    return make_application(tmp_path, **{**environment, **variables})


def redis_item(application: Application) -> Item:
    items = check(application.queue_settings, application.log(), live=False)
    return next(item for item in items if item.name == "redis")


def test_push_and_worker_through_sentinel(
    tmp_path: Path,
    sentinel: SentinelServer,
    replicated_redis: tuple[RedisServer, RedisServer],
    fast_path: bool,
) -> None:
    master, _ = replicated_redis
    Redis(port=master.port).flushall()
    application = sentinel_application(
        tmp_path, sentinel, QUEUE_FAST_PATH="true" if fast_path else "false"
    )
    with current(application):
        submission = application.queue().submit(jobs.echo, "via sentinel")
        assert submission.ok
        assert work(application, burst=True) == 0
        state = application.queue().status(submission.job_id)
        assert state is not None and state.status == "finished"
    item = redis_item(application)
    assert item.status == "ok", item
    assert f"mode Sentinel, master now at 127.0.0.1:{master.port}" in item.detail


def test_a_master_name_the_sentinels_do_not_monitor_is_named(
    tmp_path: Path, sentinel: SentinelServer
) -> None:
    application = sentinel_application(tmp_path, sentinel, REDIS_SENTINEL_MASTER="orders")
    started = time.monotonic()
    submission = application.queue().submit(jobs.echo, 1)
    assert not submission.ok and time.monotonic() - started < 2.0
    assert "reports a master named 'orders'" in str(submission.error)
    item = redis_item(application)
    assert item.status == "FAIL"
    assert "monitor no master named 'orders' (they monitor: mymaster)" in item.detail
    assert "REDIS_SENTINEL_MASTER" in item.detail


def test_sentinels_that_do_not_answer_are_named(tmp_path: Path) -> None:
    application = make_application(
        tmp_path,
        QUEUE_CONNECTION="redis",
        REDIS_SENTINELS=f"127.0.0.1:{free_port()}",
        REDIS_SENTINEL_MASTER=MASTER_NAME,
    )
    item = redis_item(application)
    assert item.status == "FAIL"
    assert "no Sentinel answered at 127.0.0.1:" in item.detail
    assert "REDIS_SENTINELS" in item.detail
