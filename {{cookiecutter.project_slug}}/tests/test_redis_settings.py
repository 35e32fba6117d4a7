"""How Redis is configured: REDIS_URL, REDIS_PASSWORD_FILE, TLS and Sentinel settings, and errors
that name the variable and never show a password. No Redis needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import ConfigError
from app.queue.redis_settings import RedisSettings
from app.queue.redis_url import redact
from tests.conftest import make_application

SECRET = "s3cr@t/pa:ss"


def redis_settings(tmp_path: Path, **variables: str) -> RedisSettings:
    return make_application(tmp_path, **variables).queue_settings.redis


def config_error(tmp_path: Path, **variables: str) -> str:
    with pytest.raises(ConfigError) as raised:
        make_application(tmp_path, **variables)
    return str(raised.value)


def test_separate_variables_are_the_plain_mode(tmp_path: Path) -> None:
    settings = redis_settings(tmp_path, REDIS_HOST="cache", REDIS_PORT="6380", REDIS_DB="2")
    assert settings.address == "cache:6380/2"
    assert settings.mode == "plain"
    assert settings.tls is None and settings.sentinel is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://cache.internal", ("cache.internal", 6379, 0, None, None, False)),
        ("redis://:p%40ss@cache:6380/3", ("cache", 6380, 3, None, "p@ss", False)),
        (
            "rediss://app%3Auser:s3cr%40t%2Fpa%3Ass@cache:6380/1",
            ("cache", 6380, 1, "app:user", SECRET, True),
        ),
        ("rediss://default:tok@eu1.upstash.io", ("eu1.upstash.io", 6379, 0, "default", "tok", 1)),
        ("redis://cache/?db=4", ("cache", 6379, 4, None, None, False)),
    ],
)  # fmt: skip
def test_url_wins_over_the_separate_variables(
    tmp_path: Path, url: str, expected: tuple[object, ...]
) -> None:
    settings = redis_settings(
        tmp_path,
        REDIS_URL=url,
        REDIS_HOST="ignored",
        REDIS_PORT="1",
        REDIS_DB="9",
        REDIS_USERNAME="ignored",
        REDIS_PASSWORD="ignored",
    )
    host, port, db, username, password, tls = expected
    assert (settings.host, settings.port, settings.db) == (host, port, db)
    assert (settings.username, settings.password) == (username, password)
    assert (settings.tls is not None) is bool(tls)
    assert settings.mode == ("TLS" if tls else "plain")


def test_unix_socket_url(tmp_path: Path) -> None:
    settings = redis_settings(tmp_path, REDIS_URL="unix://:pw@/run/redis/redis.sock?db=2")
    assert settings.unix_socket == "/run/redis/redis.sock"
    assert (settings.db, settings.password) == (2, "pw")
    assert settings.mode == "unix socket"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://:{secret}@cache:6379", "must start with redis://, rediss://"),
        ("redis://:s3cr@t/pa:ss@cache:6379/0", "percent-encode"),  # "/" not encoded
        ("redis://:{secret}@cache:63x9/0", "port is not a number"),
        ("redis://:{secret}@cache/zero", "database must be a number"),
        ("redis://:{secret}@cache/0?ssl_cert_reqs=none", "unknown option ssl_cert_reqs"),
    ],
)
def test_an_unusable_url_is_named_without_its_password(
    tmp_path: Path, url: str, complaint: str
) -> None:
    message = config_error(tmp_path, REDIS_URL=url.format(secret="t0psecret"))
    assert "(REDIS_URL)" in message and complaint in message
    assert "t0psecret" not in message and "s3cr" not in message and "pa:ss" not in message


def test_redact_keeps_the_user_name_only() -> None:
    assert redact("rediss://default:hunter2@host:6380/0") == "rediss://default:***@host:6380/0"
    assert redact("redis://hunter2@host") == "redis://***@host"
    assert redact("redis://host:6379") == "redis://host:6379"


def test_password_file_wins_and_loses_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    plain = redis_settings(tmp_path, REDIS_PASSWORD="plain", REDIS_PASSWORD_FILE=str(secret))
    from_url = redis_settings(
        tmp_path, REDIS_URL="redis://:inurl@cache", REDIS_PASSWORD_FILE=str(secret)
    )
    assert plain.password == SECRET and from_url.password == SECRET
    assert plain.password_from_file and "REDIS_PASSWORD_FILE" in plain.login_variables
    assert SECRET not in repr(plain)


@pytest.mark.parametrize("content", [None, "", "\n"], ids=["missing", "empty", "newline"])
def test_an_unreadable_or_empty_password_file_is_named(tmp_path: Path, content: str | None) -> None:
    secret = tmp_path / "password"
    if content is not None:
        secret.write_text(content, encoding="utf-8")
    message = config_error(tmp_path, REDIS_PASSWORD_FILE=str(secret))
    assert "(REDIS_PASSWORD_FILE)" in message and str(secret) in message


def test_tls_settings(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.crt", "client.crt", "client.key"))
    for path in (ca, cert, key):
        path.write_text("PEM", encoding="utf-8")
    settings = redis_settings(
        tmp_path,
        REDIS_TLS="true",
        REDIS_TLS_CA_FILE=str(ca),
        REDIS_TLS_CERT_FILE=str(cert),
        REDIS_TLS_KEY_FILE=str(key),
    )
    assert settings.tls is not None and settings.tls.verify
    assert (settings.tls.ca_file, settings.tls.cert_file) == (str(ca), str(cert))
    unverified = redis_settings(tmp_path, REDIS_TLS="true", REDIS_TLS_VERIFY="none")
    assert unverified.mode == "TLS without certificate verification"


@pytest.mark.parametrize(
    ("variables", "named", "complaint"),
    [
        ({"REDIS_TLS_CA_FILE": "{ca}"}, "REDIS_TLS", "REDIS_TLS_CA_FILE set, but TLS is off"),
        ({"REDIS_URL": "rediss://cache", "REDIS_TLS": "false"}, "REDIS_TLS", "rediss://"),
        ({"REDIS_TLS": "true", "REDIS_TLS_CERT_FILE": "{ca}"}, "REDIS_TLS_CERT_FILE", "both"),
        ({"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": "{missing}"}, "REDIS_TLS_CA_FILE", "a file"),
        ({"REDIS_TLS": "true", "REDIS_TLS_VERIFY": "maybe"}, "REDIS_TLS_VERIFY", "or none"),
        ({"REDIS_TLS": "maybe"}, "REDIS_TLS", "true, false or empty"),
        ({"REDIS_URL": "unix:///run/redis.sock", "REDIS_TLS": "true"}, "REDIS_TLS", "unix://"),
    ],
)  # fmt: skip
def test_inconsistent_tls_settings_name_the_variable(
    tmp_path: Path, variables: dict[str, str], named: str, complaint: str
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("PEM", encoding="utf-8")
    filled = {
        name: value.format(ca=ca, missing=tmp_path / "missing.crt")
        for name, value in variables.items()
    }
    message = config_error(tmp_path, **filled)
    assert f"({named})" in message and complaint in message


def test_sentinel_settings(tmp_path: Path) -> None:
    settings = redis_settings(
        tmp_path,
        REDIS_SENTINELS="s1:26379, s2:26380,s3",
        REDIS_SENTINEL_MASTER="mymaster",
        REDIS_SENTINEL_PASSWORD=SECRET,
        REDIS_DB="1",
    )
    assert settings.sentinel is not None
    assert settings.sentinel.nodes == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert settings.sentinel.password == SECRET
    assert settings.mode == "Sentinel"
    assert settings.address == "Sentinel master mymaster/1 via s1:26379,s2:26380,s3:26379"
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"REDIS_SENTINELS": "s1:26379"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": "s1:port", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "s1:70000", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS"),
    ],
)
def test_incomplete_sentinel_settings_name_the_variable(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    assert f"({named})" in config_error(tmp_path, **variables)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"QUEUE_PUSH_REPLICAS": "-1"}, "push_replicas"),
        ({"QUEUE_PUSH_REPLICAS_TIMEOUT_MS": "0"}, "push_replicas_timeout_ms"),
        ({"QUEUE_PUSH_REPLICAS_TIMEOUT_MS": "5000"}, "push_replicas_timeout_ms"),
    ],
)
def test_push_replica_settings_are_bounded(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    assert f"queue.connections.redis.{named}" in config_error(tmp_path, **variables)
