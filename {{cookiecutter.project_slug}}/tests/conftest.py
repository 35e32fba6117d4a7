"""Fixtures: strict sync applications by default, and a private redis-server when a test asks."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from app import PROJECT_ROOT, Application, current
from tests.support.certificates import Certificates, CertificatesUnavailable, make_certificates
from tests.support.redis_server import RedisServer, skip_unless_ci, start_or_skip

# Tests run jobs inline unless a test builds its own redis application: a developer's .env
# (which may say QUEUE_CONNECTION=redis) must not send the suite to a Redis that is not there.
os.environ["QUEUE_CONNECTION"] = "sync"


def make_application(tmp_path: Path, **variables: str) -> Application:
    """An Application of this project whose environment is exactly ``variables``."""
    environ = {"STORAGE_PATH": str(tmp_path / "storage"), **variables}
    return Application(PROJECT_ROOT, environ=environ)


@pytest.fixture
def application(tmp_path: Path) -> Iterator[Application]:
    """Sync driver in strict mode: a job that would break under Redis fails here too.

    Tasks calling ``app()`` get this application while the test runs.
    """
    with current(make_application(tmp_path, QUEUE_CONNECTION="sync", QUEUE_STRICT="true")) as made:
        yield made


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port; skipped without the binary, except in CI."""
    server = start_or_skip(RedisServer(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA with server and client certificates (openssl); skipped without openssl, except
    in CI."""
    try:
        return make_certificates(tmp_path_factory.mktemp("certificates"))
    except CertificatesUnavailable as error:
        skip_unless_ci(f"TLS tests need openssl: {error}")
        raise


@pytest.fixture(scope="session")
def replicated_redis(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A master and one replica of it (``--replicaof``), each on a free loopback port."""
    master = RedisServer(
        tmp_path_factory.mktemp("redis-master"),
        extra_arguments=("--repl-diskless-sync", "no"),  # the replica is online at once
    )
    start_or_skip(master)
    arguments = ("--replicaof", "127.0.0.1", str(master.port))
    replica = RedisServer(tmp_path_factory.mktemp("redis-replica"), extra_arguments=arguments)
    try:
        start_or_skip(replica)
        with Redis(port=master.port) as client:  # streaming to the replica: WAIT answers 1
            deadline = time.monotonic() + 10
            while client.set("replica-synced", 1) and client.wait(1, 100) < 1:
                assert time.monotonic() < deadline, "the replica did not sync with its master"
        yield master, replica
    finally:
        replica.stop()
        master.stop()


@pytest.fixture
def redis_environment() -> dict[str, str]:
    """Extra settings for ``redis_application``; a test overrides them with
    ``@pytest.mark.parametrize("redis_environment", [{"QUEUE_SERIALIZER": "json"}])``."""
    return {}


@pytest.fixture(params=[True, False], ids=["fast-path", "plain-path"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    """QUEUE_FAST_PATH for ``redis_application``: every Redis test runs with it on and off.

    A test module about one path only overrides this fixture with its own.
    """
    return bool(request.param)


@pytest.fixture
def redis_application(
    tmp_path: Path, redis_server: RedisServer, redis_environment: dict[str, str], fast_path: bool
) -> Iterator[Application]:
    """The redis driver against the private server, emptied before each test."""
    Redis.from_url(redis_server.url).flushdb()
    environment = {
        **redis_server.environment(),
        "QUEUE_FAST_PATH": "true" if fast_path else "false",
        **redis_environment,
    }
    with current(make_application(tmp_path, QUEUE_CONNECTION="redis", **environment)) as made:
        yield made
