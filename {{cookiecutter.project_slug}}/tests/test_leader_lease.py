"""The leader lease that keeps a second scheduler from enqueuing twice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.retry import Retry

from app.leader_lease import LeaderLease
from tests.conftest import make_application
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer, free_port

log = logging.getLogger("test")


def lease(client: Redis, ttl: float = 5.0) -> LeaderLease:
    return LeaderLease(client, "test:leader", ttl, log, "test-redis")


def test_only_one_holder_at_a_time_and_release_hands_over(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    client.delete("test:leader")
    first, second = lease(client), lease(client)
    assert first.hold() is True
    assert second.hold() is False
    assert first.hold() is True
    first.release()
    assert second.hold() is True
    assert first.hold() is False
    second.release()


def test_a_lease_left_unrenewed_expires_and_another_takes_it(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    client.delete("test:leader")
    crashed, survivor = lease(client, ttl=0.3), lease(client, ttl=0.3)
    assert crashed.hold()
    wait_for(survivor.hold, timeout=5, message="the survivor never took the lease")
    assert crashed.hold() is False


def test_no_redis_means_not_leading_and_one_warning_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    unreachable = lease(client)
    with caplog.at_level(logging.INFO, logger="test"):
        assert [unreachable.hold() for _ in range(3)] == [False, False, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("Redis lost at test-redis (ConnectionError")


def test_the_scheduler_lease_uses_the_shared_redis_settings_tls_included(tmp_path: Path) -> None:
    from app.scheduling import Scheduler

    application = make_application(
        tmp_path,
        QUEUE_CONNECTION="redis",
        REDIS_URL="rediss://:secret@cache.example:6380/1",
        REDIS_TLS_VERIFY="required",
    )
    lease = Scheduler(application).lease
    assert lease is not None
    pool = lease._client.connection_pool
    assert pool.connection_class is SSLConnection
    assert (pool.connection_kwargs["host"], pool.connection_kwargs["port"]) == (
        "cache.example",
        6380,
    )
