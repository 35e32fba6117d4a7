"""Redis over TLS, against a TLS-only redis-server (plain port off) and the test CA: pushes, the
worker, push_at and readiness; a wrong CA, client certificates, passwords with ``@`` and ``/``
through REDIS_URL and REDIS_PASSWORD_FILE, and a Sentinel on TLS. Skipped without openssl or a
TLS-capable redis-server, except in CI."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis

import queues
from app import Application, current
from app.queue.commands.checklist import Item, check
from app.queue.commands.health import worker_health_problem
from app.web import create_web
from tests.conftest import make_application
from tests.support import jobs, polling
from tests.support.certificates import Certificates
from tests.support.redis_sentinel import MASTER_NAME, SentinelServer
from tests.support.redis_server import (
    RedisServer,
    RedisUnavailable,
    skip_unless_ci,
    start_or_skip,
)
from tests.support.workers import work

PASSWORD = "p@ss/w:rd-for-tests"


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[RedisServer]:
    """TLS only, verification on, a password with ``@``, ``/`` and ``:``."""
    directory = tmp_path_factory.mktemp("redis-tls")
    server = start_or_skip(RedisServer(directory, password=PASSWORD, tls=certificates))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client_certificate_server(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[RedisServer]:
    """TLS only, and clients must present a certificate signed by the test CA."""
    directory = tmp_path_factory.mktemp("redis-tls-clients")
    server = RedisServer(directory, tls=certificates, tls_auth_clients=True)
    yield start_or_skip(server)
    server.stop()


def emptied(server: RedisServer) -> RedisServer:
    client = Redis(host="127.0.0.1", port=server.port, ssl=True, **server.client_options())
    client.flushall()
    client.close()
    return server


def tls_application(tmp_path: Path, server: RedisServer, **variables: str) -> Application:
    environment = {**emptied(server).environment(), **variables}
    return make_application(tmp_path, QUEUE_CONNECTION="redis", **environment)


def redis_item(application: Application) -> Item:
    items = check(application.queue_settings, application.log(), live=False)
    return next(item for item in items if item.name == "redis")


def test_push_worker_push_at_and_readiness_over_tls(
    tmp_path: Path, tls_server: RedisServer, fast_path: bool
) -> None:
    application = tls_application(
        tmp_path, tls_server, QUEUE_FAST_PATH="true" if fast_path else "false"
    )
    with current(application):
        queue = application.queue()
        now = queue.submit(jobs.echo, "now")
        later = queue.submit_at(datetime.now() - timedelta(seconds=1), jobs.echo, "at")
        many = queue.push_many(jobs.echo, [("a",), ("b",)])
        assert now.ok and later.ok and many == 2
        assert work(application, burst=True) == 0
        for job_id in (now.job_id, later.job_id):
            state = queue.status(job_id)
            assert state is not None and state.status == "finished", state
        response = TestClient(create_web(application)).get("/ready")
    assert response.status_code == 200, response.text
    item = redis_item(application)
    assert item.status == "ok" and "mode TLS" in item.detail, item


def test_operator_commands_and_the_scheduler_lease_over_tls(
    tmp_path: Path, tls_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    application = tls_application(tmp_path, tls_server)
    with current(application):
        failed = application.queue().options(retries=0).submit(jobs.fail, "over TLS")
        assert work(application, burst=True) == 0
    problem = worker_health_problem(application.queue_settings.redis)
    assert problem is not None and "no RQ worker of host" in problem  # it asked Redis
    arguments = queues.parser().parse_args(["failed"])
    assert queues.failed_command(application, arguments) == 0
    assert failed.job_id in capsys.readouterr().out


def test_wrong_ca_one_clear_line_and_push_false_within_two_seconds(
    tmp_path: Path,
    tls_server: RedisServer,
    certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    application = tls_application(
        tmp_path, tls_server, REDIS_TLS_CA_FILE=str(certificates.wrong_ca)
    )
    with caplog.at_level(logging.INFO):
        started = time.monotonic()
        pushed = application.queue().push(jobs.echo, 1)
        elapsed = time.monotonic() - started
    assert pushed is False
    assert elapsed < 2.0
    [error] = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert "\n" not in error
    assert "TLS certificate verification failed" in error
    assert "REDIS_TLS_CA_FILE" in error
    item = redis_item(application)
    assert item.status == "FAIL" and "TLS certificate verification failed" in item.detail


def test_client_certificate_authentication(
    tmp_path: Path, client_certificate_server: RedisServer
) -> None:
    application = tls_application(tmp_path / "with", client_certificate_server)
    with current(application):
        submission = application.queue().submit(jobs.echo, "signed")
        assert submission.ok
        assert work(application, burst=True) == 0
        state = application.queue().status(submission.job_id)
        assert state is not None and state.status == "finished"

    without = {**client_certificate_server.environment()}
    del without["REDIS_TLS_CERT_FILE"], without["REDIS_TLS_KEY_FILE"]
    refused = make_application(tmp_path / "without", QUEUE_CONNECTION="redis", **without)
    item = redis_item(refused)
    assert item.status == "FAIL"
    assert "REDIS_TLS_CERT_FILE" in item.detail


def test_password_with_at_slash_and_colon_through_the_url(
    tmp_path: Path, tls_server: RedisServer, certificates: Certificates
) -> None:
    assert "%40" in tls_server.url and "%2F" in tls_server.url
    emptied(tls_server)
    application = make_application(
        tmp_path,
        QUEUE_CONNECTION="redis",
        REDIS_URL=tls_server.url,  # rediss://: TLS without REDIS_TLS
        REDIS_TLS_CA_FILE=str(certificates.ca),
        REDIS_HOST="ignored.invalid",  # the URL wins over the separate variables
        REDIS_PASSWORD="ignored",
    )
    assert application.queue().push(jobs.echo, 1)
    assert redis_item(application).status == "ok"


def test_password_file_wins_over_the_plain_variable(
    tmp_path: Path, tls_server: RedisServer
) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")  # as secrets are often written
    application = tls_application(
        tmp_path, tls_server, REDIS_PASSWORD="wrong", REDIS_PASSWORD_FILE=str(secret)
    )
    assert application.queue().push(jobs.echo, 1)


def test_a_wrong_password_is_never_printed(
    tmp_path: Path,
    tls_server: RedisServer,
    certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "wr0ng@pass/word"
    application = tls_application(tmp_path, tls_server, REDIS_PASSWORD=wrong)
    with caplog.at_level(logging.DEBUG):
        assert application.queue().push(jobs.echo, 1) is False
        items = check(application.queue_settings, application.log(), live=True)
    shown = caplog.text + capsys.readouterr().err + "\n".join(item.line() for item in items)
    shown += repr(application.queue_settings)
    assert "refused authentication" in shown
    for secret in (wrong, PASSWORD):
        assert secret not in shown


def test_verify_none_warns_at_start_up_and_still_encrypts(
    tmp_path: Path,
    tls_server: RedisServer,
    certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        application = tls_application(
            tmp_path,
            tls_server,
            REDIS_TLS_CA_FILE=str(certificates.wrong_ca),
            REDIS_TLS_VERIFY="none",
        )
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "REDIS_TLS_VERIFY=none" in warning
    assert application.queue().push(jobs.echo, 1)
    assert "mode TLS without certificate verification" in redis_item(application).detail


def test_sentinel_over_tls(tmp_path: Path, certificates: Certificates) -> None:
    master = start_or_skip(RedisServer(tmp_path / "master", tls=certificates))
    sentinel = SentinelServer(tmp_path / "sentinel", master.port, tls=certificates)
    try:
        try:
            sentinel.start()
        except RedisUnavailable as error:
            skip_unless_ci(f"Sentinel tests need redis-server --sentinel: {error}")
        with Redis(port=sentinel.port, ssl=True, ssl_ca_certs=str(certificates.ca)) as client:
            polling.wait_for(  # Sentinel reached the master over TLS and read its INFO
                lambda: client.sentinel_master(MASTER_NAME).get("info-refresh", 0) > 0,
                5,
                "Sentinel did not reach the master over TLS",
            )
        application = make_application(
            tmp_path,
            QUEUE_CONNECTION="redis",
            REDIS_SENTINELS=sentinel.address,
            REDIS_SENTINEL_MASTER=MASTER_NAME,
            REDIS_TLS="true",
            REDIS_TLS_CA_FILE=str(certificates.ca),
            REDIS_PASSWORD="",
        )
        assert application.queue().push(jobs.echo, "over TLS, via a TLS Sentinel")
        item = redis_item(application)
        assert item.status == "ok", item
        assert f"mode Sentinel, TLS, master now at 127.0.0.1:{master.port}" in item.detail
    finally:
        sentinel.stop()
        master.stop()
