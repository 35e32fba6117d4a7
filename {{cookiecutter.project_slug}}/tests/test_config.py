"""Configuration: interpolation order, typing, and clear errors for bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app import PROJECT_ROOT, Application, ConfigError
from app.config import load_config, typed


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this project's config directory to break at will."""
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    return tmp_path


def test_queue_yaml_defaults_match_the_documentation(project: Path) -> None:
    config = load_config(project, environ={})
    assert config.get("queue.connection") == "sync"
    assert config.get("queue.connections.sync") is None
    assert config.get("queue.connections.redis") == {
        "host": "127.0.0.1",
        "port": 6379,
        "db": 0,
        "username": None,
        "password": None,
        "url": None,
        "password_file": None,
        "tls": None,
        "tls_ca_file": None,
        "tls_cert_file": None,
        "tls_key_file": None,
        "tls_verify": "required",
        "sentinels": None,
        "sentinel_master": None,
        "sentinel_password": None,
        "push_replicas": 0,
        "push_replicas_timeout_ms": 500,
    }


def test_environment_wins_over_dotenv_which_wins_over_default(project: Path) -> None:
    (project / ".env").write_text("REDIS_HOST=from-dotenv\nREDIS_PORT=7000\n")
    config = load_config(project, environ={"REDIS_PORT": "7001"})
    assert config.get("queue.connections.redis.host") == "from-dotenv"
    assert config.get("queue.connections.redis.port") == 7001


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("null", None),
        ("", None),
        ("~", None),
        ("6379", 6379),
        ("-1", -1),
        ("true", True),
        ("False", False),
        ("007", "007"),
        ("s3cr3t", "s3cr3t"),
    ],
)
def test_values_are_typed_after_interpolation(text: str, value: object) -> None:
    assert typed(text) == value


def test_empty_environment_value_becomes_none(project: Path) -> None:
    config = load_config(project, environ={"REDIS_PASSWORD": ""})
    assert config.get("queue.connections.redis.password") is None


def test_placeholder_inside_a_longer_string_is_substituted_as_text(project: Path) -> None:
    (project / "config" / "extra.yaml").write_text("extra:\n  url: redis://${REDIS_HOST:h}:1\n")
    assert load_config(project, environ={}).get("extra.url") == "redis://h:1"


def test_malformed_yaml_names_the_file_and_line(project: Path) -> None:
    (project / "config" / "queue.yaml").write_text("queue:\n  connection: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config/queue.yaml: invalid YAML \(line \d+\)"):
        Application(project, environ={})


def test_unknown_connection_names_the_file_and_key(project: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"config/queue\.yaml: queue\.connection: unknown connection 'rabbitmq'"
    ):
        Application(project, environ={"QUEUE_CONNECTION": "rabbitmq"})


def test_non_numeric_port_names_the_file_and_key(project: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"config/queue\.yaml: queue\.connections\.redis\.port: must be a whole number",
    ):
        Application(project, environ={"REDIS_PORT": "six-three-seven-nine"})


def test_port_out_of_range_is_rejected(project: Path) -> None:
    with pytest.raises(ConfigError, match="must be from 1 to 65535, got 70000"):
        Application(project, environ={"REDIS_PORT": "70000"})


def test_unset_variable_without_default_is_an_error(project: Path) -> None:
    (project / "config" / "extra.yaml").write_text("extra:\n  token: ${TOKEN}\n")
    with pytest.raises(
        ConfigError, match=r"config/extra.yaml: extra.token: \$\{TOKEN\} is not set"
    ):
        load_config(project, environ={})


def test_unknown_log_level_is_rejected(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"app\.log_level"):
        Application(project, environ={"LOG_LEVEL": "LOUD"})


def test_app_returns_the_same_application_per_base_path(project: Path) -> None:
    from app import app

    assert app() is app()
    assert app(project) is app(str(project))
    assert app(project) is not app()


def test_unknown_serializer_is_rejected(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"jobs\.serializer: must be one of pickle, json"):
        Application(project, environ={"QUEUE_SERIALIZER": "yaml"})
