"""Fixtures for the template's tests: isolated cookiecutter state and private Redis servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import load_support


@pytest.fixture(autouse=True, scope="session")
def isolated_cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep cookiecutter's replay files and clones out of the user's home directory."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"replay_dir: {home / 'replay'}\ncookiecutters_dir: {home / 'templates'}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COOKIECUTTER_CONFIG", str(config))
        yield


# What the post-generation check reads from the environment, besides the answers.
REDIS_CHECK_VARIABLES = (
    "REDIS_USERNAME",
    "REDIS_PASSWORD",
    "REDIS_URL",
    "REDIS_PASSWORD_FILE",
    "REDIS_TLS",
    "REDIS_TLS_CA_FILE",
    "REDIS_TLS_CERT_FILE",
    "REDIS_TLS_KEY_FILE",
    "REDIS_TLS_VERIFY",
)


@pytest.fixture(autouse=True)
def no_redis_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks read REDIS_USERNAME/REDIS_PASSWORD (and REDIS_URL, REDIS_PASSWORD_FILE, REDIS_TLS_*);
    a test sets them only when it means to."""
    for name in REDIS_CHECK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def start_redis(directory: Path, password: str | None = None) -> Any:
    """Start a private redis-server; skip without one (fail in CI, where it must be installed)."""
    support = load_support("redis_server")
    return support.start_or_skip(support.RedisServer(directory, password=password))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A redis-server without a password on a free loopback port, for the whole session."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A redis-server that requires a password (``server.password``), for the whole session."""
    server = start_redis(tmp_path_factory.mktemp("redis-auth"), password="s3cret-for-tests")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A test CA with server and client certificates (openssl); skipped without it, except in
    CI."""
    support = load_support("certificates")
    try:
        return support.make_certificates(tmp_path_factory.mktemp("certificates"))
    except support.CertificatesUnavailable as error:
        load_support("redis_server").skip_unless_ci(f"TLS tests need openssl: {error}")
        raise


@pytest.fixture(scope="session")
def tls_redis_server(tmp_path_factory: pytest.TempPathFactory, certificates: Any) -> Iterator[Any]:
    """A TLS-only redis-server that requires client certificates and a password with ``@``, ``/``
    and ``:`` (``server.password``), for the whole session."""
    support = load_support("redis_server")
    server = support.start_or_skip(
        support.RedisServer(
            tmp_path_factory.mktemp("redis-tls"),
            password="p@ss/w:rd-for-tests",
            tls=certificates,
            tls_auth_clients=True,
        )
    )
    yield server
    server.stop()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on: a Redis that is down."""
    return load_support("redis_server").free_port()


@pytest.fixture(params=["true", "false"], ids=["fast-path", "plain-path"])
def project(tmp_path: Path, redis_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A baked project on the session's Redis, run with the fast path on and off
    (QUEUE_FAST_PATH); its processes are stopped after the test."""
    from processes import baked_project

    running = baked_project(tmp_path, redis_server)
    running.environment["QUEUE_FAST_PATH"] = request.param
    yield running
    running.stop_all()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[Any]:
    """A redis-server of this test's own, with append-only persistence, that it may restart."""
    support = load_support("redis_server")
    server = support.RedisServer(tmp_path / "durable-redis", appendonly=True).start()
    yield server
    server.stop()
