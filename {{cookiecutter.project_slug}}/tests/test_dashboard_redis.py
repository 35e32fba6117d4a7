"""The dashboard image reads the app's Redis variables with its own small module
(``docker/dashboard/dashboard_redis.py``): it must reach the same Redis the same way."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app import PROJECT_ROOT
from app.queue.redis_clients import producer_client
from tests.conftest import make_application
from tests.support.certificates import Certificates
from tests.support.redis_sentinel import MASTER_NAME, SentinelServer
from tests.support.redis_server import (
    RedisServer,
    RedisUnavailable,
    free_port,
    skip_unless_ci,
    start_or_skip,
)

SAME = ("host", "port", "db", "username", "password", "path")
TLS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname")


def dashboard_redis() -> ModuleType:
    path = PROJECT_ROOT / "docker" / "dashboard" / "dashboard_redis.py"
    spec = importlib.util.spec_from_file_location("dashboard_redis", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# The app falls back to the project's .env (whose host and password are this bake's answers and
# generated secret), the dashboard's container to its own defaults: give both the same values.
WHAT_DOTENV_WOULD_GIVE = {
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_DB": "0",
    "REDIS_PASSWORD": "",
}


def app_options(tmp_path: Path, environ: dict[str, str]) -> dict[str, Any]:
    settings = make_application(tmp_path, **environ).queue_settings.redis
    client = producer_client(settings)
    options = client.connection_pool.connection_kwargs
    kept = {key: options.get(key) for key in (*SAME, *TLS) if key in options}
    kept["tls"] = client.connection_pool.connection_class.__name__.endswith("SSLConnection")
    client.close()
    return kept


def dashboard_options(environ: dict[str, str]) -> dict[str, Any]:
    client = dashboard_redis().redis_client(environ)
    options = client.connection_pool.connection_kwargs
    kept = {key: options.get(key) for key in (*SAME, *TLS) if key in options}
    kept["tls"] = client.connection_pool.connection_class.__name__.endswith("SSLConnection")
    client.close()
    return kept


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, str]:
    files = {}
    for name in ("ca", "cert", "key"):
        (tmp_path / f"{name}.pem").write_text("PEM", encoding="utf-8")
        files[name] = str(tmp_path / f"{name}.pem")
    return files


ENVIRONMENTS = {
    "plain": {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_DB": "2", "REDIS_PASSWORD": "pw"},
    "url": {"REDIS_URL": "redis://app:p%40ss%2Fw@cache:6381/3", "REDIS_PASSWORD": "ignored"},
    "rediss": {"REDIS_URL": "rediss://:pw@cache.example.com:6380/0"},
    "tls-files": {
        "REDIS_TLS": "true",
        "REDIS_TLS_CA_FILE": "{ca}",
        "REDIS_TLS_CERT_FILE": "{cert}",
        "REDIS_TLS_KEY_FILE": "{key}",
    },
    "tls-unverified": {"REDIS_URL": "rediss://cache:6380", "REDIS_TLS_VERIFY": "none"},
    "unix": {"REDIS_URL": "unix://:pw@/run/redis.sock?db=1"},
}


@pytest.mark.parametrize("name", list(ENVIRONMENTS))
def test_the_dashboard_connects_as_the_app_does(
    tmp_path: Path, pem_files: dict[str, str], name: str
) -> None:
    environ = {key: value.format(**pem_files) for key, value in ENVIRONMENTS[name].items()}
    environ = {**WHAT_DOTENV_WOULD_GIVE, **environ}
    assert dashboard_options(environ) == app_options(tmp_path, environ)


def test_a_password_file_wins_for_the_dashboard_too(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n", encoding="utf-8")
    environ = {
        **WHAT_DOTENV_WOULD_GIVE,
        "REDIS_PASSWORD": "plain",
        "REDIS_PASSWORD_FILE": str(secret),
    }
    assert dashboard_options(environ)["password"] == "from-file"
    assert dashboard_options(environ) == app_options(tmp_path, environ)


def test_the_page_shows_where_without_the_login() -> None:
    module = dashboard_redis()
    url = {"REDIS_URL": "rediss://app:s3cret@cache:6380/1"}
    assert module.display_url(url) == "rediss://cache:6380/1"
    sentinel = {
        "REDIS_SENTINELS": "s1:26379,s2",
        "REDIS_SENTINEL_MASTER": "mymaster",
        "REDIS_PASSWORD": "s3cret",
    }
    assert module.display_url(sentinel) == "redis+sentinel://s1:26379,s2:26379/mymaster/0"
    assert module.tls_warning({"REDIS_URL": "rediss://cache", "REDIS_TLS_VERIFY": "none"})
    assert module.tls_warning(url) is None


def test_the_dashboard_client_answers_over_tls(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> None:
    server = start_or_skip(
        RedisServer(
            tmp_path_factory.mktemp("redis-dashboard"),
            password="p@ss/w:rd",
            tls=certificates,
            tls_auth_clients=True,
        )
    )
    try:
        environ = {
            **server.environment(),
            "REDIS_URL": server.url,
            "REDIS_PASSWORD": "",
        }
        client = dashboard_redis().redis_client(environ)
        assert client.ping()
        client.close()
    finally:
        server.stop()


def test_the_dashboard_finds_the_master_through_sentinel(
    tmp_path: Path, replicated_redis: tuple[RedisServer, RedisServer]
) -> None:
    master, _ = replicated_redis
    sentinel = SentinelServer(tmp_path / "sentinel", master.port)
    try:
        sentinel.start()
    except RedisUnavailable as error:
        skip_unless_ci(f"Sentinel tests need redis-server --sentinel: {error}")
    try:
        environ = {
            "REDIS_SENTINELS": f"127.0.0.1:{free_port()},{sentinel.address}",
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_PASSWORD": "",
        }
        client = dashboard_redis().redis_client(environ)
        assert client.ping()
        assert client.connection_pool.get_master_address() == ("127.0.0.1", master.port)
        client.close()
    finally:
        sentinel.stop()
