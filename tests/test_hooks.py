"""The hooks: answer validation, scheduler files, .env and the post-generation Redis check."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException, OutputDirExistsException

from helpers import TEMPLATE_ROOT, bake, load_hook

CHOICE_FIELDS = {
    field
    for field, default in json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text()).items()
    if isinstance(default, list)
}

VALID_ANSWERS = {
    "project_name": "Equipment Queue App",
    "project_slug": "equipment-queue-app",
    "description": "A job queue.",
    "python_version": "3.12",
    "queue_connection": "sync",
    "redis_host": "127.0.0.1",
    "redis_port": "6379",
    "web_port": "8000",
    "worker_replicas": "2",
    "include_scheduler": "yes",
    "redis_check": "skip",
}

SLUG_RULE = (
    "must be a lowercase letter followed by a-z, 0-9, '-' or '_', ending in a letter or digit "
    "(at least 2 characters)"
)
PORT_RULE = "must be an integer from 1 to 65535"

# field, bad value, the rule the error line must state
INVALID_ANSWERS = [
    ("project_name", "", "must not be empty"),
    ("project_name", "   ", "must not be empty"),
    ("project_slug", "", SLUG_RULE),
    ("project_slug", "My-App", SLUG_RULE),
    ("project_slug", "1app", SLUG_RULE),
    ("project_slug", "app-", SLUG_RULE),
    ("project_slug", "my app", SLUG_RULE),
    ("project_slug", "a", SLUG_RULE),
    ("project_slug", "../escape", SLUG_RULE),
    ("description", "first line\nsecond line", "must be a single line"),
    ("python_version", "3.10", "must be one of 3.11, 3.12, 3.13, 3.14"),
    ("queue_connection", "rabbitmq", "must be one of sync, redis"),
    ("redis_host", "", "must be a hostname or IP address without spaces"),
    ("redis_host", "my redis", "must be a hostname or IP address without spaces"),
    ("redis_host", "-redis", "must be a hostname or IP address without spaces"),
    ("redis_port", "0", PORT_RULE),
    ("redis_port", "65536", PORT_RULE),
    ("redis_port", "six", PORT_RULE),
    ("redis_port", "-1", PORT_RULE),
    ("web_port", "70000", PORT_RULE),
    ("web_port", "80.5", PORT_RULE),
    ("web_port", " 8000", PORT_RULE),
    ("worker_replicas", "0", "must be an integer from 1 to 64"),
    ("worker_replicas", "65", "must be an integer from 1 to 64"),
    ("worker_replicas", "two", "must be an integer from 1 to 64"),
    ("include_scheduler", "maybe", "must be one of yes, no"),
    ("redis_check", "always", "must be one of warn, require, skip"),
]
INVALID_IDS = [f"{field}={value!r}" for field, value, _ in INVALID_ANSWERS]

SCHEDULER_FILES = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())["_scheduler_files"]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ERROR:")]


# --- pre_gen_project ------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "rule"), INVALID_ANSWERS, ids=INVALID_IDS)
def test_pre_gen_names_field_and_rule_of_bad_answer(field: str, value: str, rule: str) -> None:
    problem = load_hook("pre_gen_project").first_problem({**VALID_ANSWERS, field: value})
    assert problem == f"ERROR: {field} {rule} (got {value!r})"


@pytest.mark.parametrize(("field", "value", "rule"), INVALID_ANSWERS, ids=INVALID_IDS)
def test_bad_answer_fails_generation_with_one_line_and_leaves_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], field: str, value: str, rule: str
) -> None:
    """Cookiecutter itself refuses a value outside a choice list, and an empty slug (it would
    render to the output directory itself); the pre-gen hook refuses the rest."""
    answers = {**VALID_ANSWERS, field: value}
    if field in CHOICE_FIELDS:
        with pytest.raises(ValueError, match=f"{re.escape(value)}.*{field}"):
            bake(tmp_path, **answers)
    elif field == "project_slug" and not value:
        with pytest.raises(OutputDirExistsException, match="already exists"):
            bake(tmp_path, **answers)
    else:
        with pytest.raises(FailedHookException):
            bake(tmp_path, **answers)
        assert error_lines(capfd.readouterr().err) == [f"ERROR: {field} {rule} (got {value!r})"]
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"python_version": "3.13", "queue_connection": "redis", "include_scheduler": "no"},
        {"redis_host": "redis", "redis_port": "1", "web_port": "65535", "worker_replicas": "64"},
        {"redis_host": "::1", "worker_replicas": "1", "project_slug": "my_app2"},
        {
            "description": "Quotes \" and ' and a trailing backslash \\",
            "project_name": "O'Brien's Queue",
            "project_slug": "obriens-queue",
        },
    ],
    ids=["defaults", "redis-no-scheduler", "edge-numbers", "ipv6-underscore-slug", "quotes"],
)
def test_pre_gen_accepts_valid_answers(tmp_path: Path, answers: dict[str, str]) -> None:
    assert load_hook("pre_gen_project").first_problem({**VALID_ANSWERS, **answers}) is None
    assert bake(tmp_path, **answers).is_dir()


def test_default_answers_bake_a_project_named_by_the_slug(tmp_path: Path) -> None:
    project = bake(tmp_path)
    assert project == tmp_path / "equipment-queue-app"
    assert (project / "tests" / "support" / "redis_server.py").is_file()


# --- post_gen_project: files ------------------------------------------------------------------


@pytest.mark.parametrize("include_scheduler", ["yes", "no"])
def test_include_scheduler_decides_whether_scheduler_files_exist(
    tmp_path: Path, include_scheduler: str
) -> None:
    project = bake(tmp_path, include_scheduler=include_scheduler)
    present = {name for name in SCHEDULER_FILES if (project / name).exists()}
    assert present == (set(SCHEDULER_FILES) if include_scheduler == "yes" else set())


def test_post_gen_writes_env_equal_to_env_example(tmp_path: Path) -> None:
    project = bake(tmp_path, queue_connection="redis", redis_port="6390", web_port="8080")
    example = (project / ".env.example").read_text()
    assert (project / ".env").read_text() == example
    assert "6390" in example and "8080" in example


def test_write_local_env_keeps_an_existing_env(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("QUEUE_CONNECTION=sync\n")
    (tmp_path / ".env").write_text("QUEUE_CONNECTION=redis\n")
    load_hook("post_gen_project").write_local_env(tmp_path)
    assert (tmp_path / ".env").read_text() == "QUEUE_CONNECTION=redis\n"


def test_remove_scheduler_files_tolerates_missing_files(tmp_path: Path) -> None:
    (tmp_path / "scheduler.py").write_text("")
    load_hook("post_gen_project").remove_scheduler_files(tmp_path, SCHEDULER_FILES)
    assert list(tmp_path.iterdir()) == []


# --- post_gen_project: Redis check ------------------------------------------------------------


def test_redis_check_reports_version_of_reachable_redis(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], redis_server: Any
) -> None:
    bake(tmp_path, redis_check="warn", redis_port=str(redis_server.port))
    expected = rf"✓ Redis reachable at 127\.0\.0\.1:{redis_server.port} \(Redis \d+\.\d+\.\d+\)"
    assert re.search(expected, capfd.readouterr().out)


def test_redis_check_warn_generates_project_when_redis_is_down(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], unused_port: int
) -> None:
    project = bake(tmp_path, redis_check="warn", redis_port=str(unused_port))
    err = capfd.readouterr().err
    assert project.is_dir()
    assert f"WARNING: Redis check at 127.0.0.1:{unused_port} failed: connection refused" in err
    assert "docker compose up -d redis" in err


def test_redis_check_require_fails_and_leaves_nothing_when_redis_is_down(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], unused_port: int
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, redis_check="require", redis_port=str(unused_port))
    [line] = error_lines(capfd.readouterr().err)
    assert f"127.0.0.1:{unused_port} failed: connection refused" in line
    assert "redis-server" in line
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def test_redis_check_reports_timeout_when_server_never_answers(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], silent_server: int
) -> None:
    bake(tmp_path, redis_check="warn", redis_port=str(silent_server))
    assert f"127.0.0.1:{silent_server} failed: timed out after 1 s" in capfd.readouterr().err


@pytest.mark.parametrize("username", [None, "default"], ids=["password-only", "acl-user"])
def test_redis_check_authenticates_with_redis_password(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server_with_password: Any,
    username: str | None,
) -> None:
    server = redis_server_with_password
    monkeypatch.setenv("REDIS_PASSWORD", server.password)
    if username:
        monkeypatch.setenv("REDIS_USERNAME", username)
    bake(tmp_path, redis_check="require", redis_port=str(server.port))
    assert f"✓ Redis reachable at 127.0.0.1:{server.port} (Redis " in capfd.readouterr().out


@pytest.mark.parametrize(
    ("password", "server_said"), [(None, "NOAUTH"), ("wrong", "WRONGPASS")], ids=["none", "wrong"]
)
def test_redis_check_explains_authentication_failure(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server_with_password: Any,
    password: str | None,
    server_said: str,
) -> None:
    if password:
        monkeypatch.setenv("REDIS_PASSWORD", password)
    bake(tmp_path, redis_check="warn", redis_port=str(redis_server_with_password.port))
    err = capfd.readouterr().err
    assert f"failed: authentication failed: server said {server_said}" in err
    assert "Set REDIS_PASSWORD" in err


def test_redis_check_skip_says_nothing_about_redis(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], unused_port: int
) -> None:
    bake(tmp_path, redis_check="skip", redis_port=str(unused_port))
    captured = capfd.readouterr()
    assert "Redis" not in captured.out + captured.err
