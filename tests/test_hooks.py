"""The hooks: answer validation, scheduler files, .env and the post-generation Redis check."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.environment import StrictEnvironment
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
NAME_WITHOUT_SLUG = (
    "slugifies to nothing; use letters or digits in it, or give a valid project_slug"
)

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


def slugify(text: str) -> str:
    """What cookiecutter's ``slugify`` filter, behind project_slug's default, makes of ``text``."""
    return StrictEnvironment().from_string("{{ text | slugify }}").render(text=text)


def problems(answers: dict[str, str]) -> list[str]:
    """The pre-gen hook's error lines for ``answers``, given the name's slug as it renders it."""
    return load_hook("pre_gen_project").problems(answers, slugify(answers["project_name"]))


# Cookiecutter 2.7's own report of a failed hook, after the hook's output: on stdout (its logger)
# through the CLI, a traceback between these lines (file paths vary, so only its frame is fixed).
COOKIECUTTER_HOOK_FAILED_FIRST = [
    "ERROR: Stopping generation because pre_gen_project hook script didn't exit successfully",
    "Traceback (most recent call last):",
]
COOKIECUTTER_HOOK_FAILED_LAST = [
    "cookiecutter.exceptions.FailedHookException: Hook script failed (exit status: 1)",
    "Hook script failed (exit status: 1)",
]


def run_cli(cwd: Path, *answers: str) -> subprocess.CompletedProcess[str]:
    """``cookiecutter --no-input <template> <answers>`` in ``cwd``, stdout and stderr interleaved
    as a terminal shows them."""
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_ROOT), *answers],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )


# --- pre_gen_project ------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "rule"), INVALID_ANSWERS, ids=INVALID_IDS)
def test_pre_gen_names_field_and_rule_of_bad_answer(field: str, value: str, rule: str) -> None:
    assert problems({**VALID_ANSWERS, field: value}) == [f"ERROR: {field} {rule} (got {value!r})"]


def test_pre_gen_reports_every_bad_answer_in_prompt_order() -> None:
    answers = {**VALID_ANSWERS, "worker_replicas": "0", "project_slug": "My App", "web_port": "x"}
    assert problems(answers) == [
        f"ERROR: project_slug {SLUG_RULE} (got 'My App')",
        f"ERROR: web_port {PORT_RULE} (got 'x')",
        "ERROR: worker_replicas must be an integer from 1 to 64 (got '0')",
    ]


@pytest.mark.parametrize(
    ("name", "slug", "expected"),
    [
        ("!!!", "", f"ERROR: project_name {NAME_WITHOUT_SLUG} (got '!!!')"),
        ("!!!", "My App", f"ERROR: project_name {NAME_WITHOUT_SLUG} (got '!!!')"),
        ("", "", "ERROR: project_name must not be empty (got '')"),
        ("My App", "", f"ERROR: project_slug {SLUG_RULE} (got '')"),
    ],
    ids=["symbols-default-slug", "symbols-bad-slug", "empty-name", "explicit-empty-slug"],
)
def test_pre_gen_blames_a_name_that_slugifies_to_nothing(
    name: str, slug: str, expected: str
) -> None:
    """project_slug's default is the name slugified; when that is empty and no valid slug was
    given, the one line is about the name the user typed, not the slug it could not make."""
    assert problems({**VALID_ANSWERS, "project_name": name, "project_slug": slug}) == [expected]


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


def test_several_bad_answers_fail_generation_with_every_line_and_leave_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, project_slug="1app", redis_host="my redis", web_port="0", redis_port="six")
    assert capfd.readouterr().err == (
        f"ERROR: project_slug {SLUG_RULE} (got '1app')\n"
        "ERROR: redis_host must be a hostname or IP address without spaces (got 'my redis')\n"
        f"ERROR: redis_port {PORT_RULE} (got 'six')\n"
        f"ERROR: web_port {PORT_RULE} (got '0')\n"
        "Nothing was generated: fix the 4 answers above; "
        "cookiecutter's traceback below only repeats that this check failed.\n"
        "\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_name_that_slugifies_to_nothing_fails_generation_with_its_line_and_leaves_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The default slug falls back to an invalid placeholder (cookiecutter.json), so the hook
    runs and names the real cause; the project directory is removed again."""
    with pytest.raises(FailedHookException):
        bake(tmp_path / "out", project_name="!!!", web_port="x")
    assert error_lines(capfd.readouterr().err) == [
        f"ERROR: project_name {NAME_WITHOUT_SLUG} (got '!!!')",
        f"ERROR: web_port {PORT_RULE} (got 'x')",
    ]
    assert list((tmp_path / "out").iterdir()) == []


def test_cli_name_that_slugifies_to_nothing_in_the_current_directory(tmp_path: Path) -> None:
    """The new user's first run: the default output directory, the current one, exists."""
    result = run_cli(tmp_path, "project_name=!!!", "redis_check=skip")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == f"ERROR: project_name {NAME_WITHOUT_SLUG} (got '!!!')"
    assert list(tmp_path.iterdir()) == []


def test_cli_shows_the_hook_lines_first_then_cookiecutter_traceback(tmp_path: Path) -> None:
    """What the user's terminal shows: the hook's lines and a closing line, a blank line, then
    cookiecutter's report of the failed hook with its traceback."""
    result = run_cli(tmp_path, "web_port=x", "worker_replicas=0", "redis_check=skip")
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert lines[:6] == [
        f"ERROR: web_port {PORT_RULE} (got 'x')",
        "ERROR: worker_replicas must be an integer from 1 to 64 (got '0')",
        "Nothing was generated: fix the 2 answers above; "
        "cookiecutter's traceback below only repeats that this check failed.",
        "",
        *COOKIECUTTER_HOOK_FAILED_FIRST,
    ]
    assert lines[-2:] == COOKIECUTTER_HOOK_FAILED_LAST
    assert list(tmp_path.iterdir()) == []


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
        {"project_name": "!!!", "project_slug": "my-app"},
    ],
    ids=[
        "defaults",
        "redis-no-scheduler",
        "edge-numbers",
        "ipv6-underscore-slug",
        "quotes",
        "symbols-name-with-slug",
    ],
)
def test_pre_gen_accepts_valid_answers(tmp_path: Path, answers: dict[str, str]) -> None:
    assert problems({**VALID_ANSWERS, **answers}) == []
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


def test_post_gen_writes_env_from_env_example_with_generated_secrets(tmp_path: Path) -> None:
    project = bake(tmp_path, queue_connection="redis", redis_port="6390", web_port="8080")
    example = (project / ".env.example").read_text().splitlines()
    written = (project / ".env").read_text().splitlines()
    assert len(written) == len(example)
    for expected, line in zip(example, written, strict=True):
        if expected in ("REDIS_PASSWORD=", "DASHBOARD_PASSWORD="):
            assert line.startswith(expected) and len(line) > len(expected) + 32, line
        else:
            assert line == expected
    assert "REDIS_PORT=6390" in example and "WEB_PORT=8080" in example


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
    assert "docker compose -f compose.yaml -f compose.local.yaml up -d redis" in err


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


# --- post_gen_project: Redis check over TLS, REDIS_URL and REDIS_PASSWORD_FILE -----------------


def tls_client_environment(monkeypatch: pytest.MonkeyPatch, server: Any, ca: Path) -> None:
    """The project's TLS variables for ``server``: the CA, and the client certificate it asks."""
    monkeypatch.setenv("REDIS_TLS_CA_FILE", str(ca))
    monkeypatch.setenv("REDIS_TLS_CERT_FILE", str(server.tls.client_cert))
    monkeypatch.setenv("REDIS_TLS_KEY_FILE", str(server.tls.client_key))


def test_redis_check_reads_a_rediss_url_with_an_encoded_password(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tls_redis_server: Any,
) -> None:
    server = tls_redis_server
    assert server.url.startswith("rediss://") and "%40" in server.url and "%2F" in server.url
    monkeypatch.setenv("REDIS_URL", server.url)
    tls_client_environment(monkeypatch, server, server.tls.ca)
    bake(tmp_path, redis_check="require", redis_port="1")  # the URL wins over the answers
    captured = capfd.readouterr()
    assert f"✓ Redis reachable at 127.0.0.1:{server.port} over TLS (Redis " in captured.out
    assert server.password not in captured.out + captured.err


def test_redis_check_over_tls_with_a_password_file(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tls_redis_server: Any,
) -> None:
    server = tls_redis_server
    secret = tmp_path / "redis-password"
    secret.write_text(server.password + "\n", encoding="utf-8")
    monkeypatch.setenv("REDIS_TLS", "true")
    monkeypatch.setenv("REDIS_PASSWORD", "wrong")  # the secret file wins
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(secret))
    tls_client_environment(monkeypatch, server, server.tls.ca)
    bake(tmp_path / "out", redis_check="require", redis_port=str(server.port))
    assert f"✓ Redis reachable at 127.0.0.1:{server.port} over TLS" in capfd.readouterr().out


def test_redis_check_names_certificate_verification_for_a_wrong_ca(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tls_redis_server: Any,
    certificates: Any,
) -> None:
    server = tls_redis_server
    monkeypatch.setenv("REDIS_URL", server.url)
    tls_client_environment(monkeypatch, server, certificates.wrong_ca)
    with pytest.raises(FailedHookException):
        bake(tmp_path, redis_check="require")
    [line] = error_lines(capfd.readouterr().err)
    assert f"127.0.0.1:{server.port} failed: TLS certificate verification failed" in line
    assert "REDIS_TLS_CA_FILE" in line
    assert server.password not in line


def test_redis_check_refuses_an_unusable_url_without_its_password(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://app:t0p/secret@cache.example.com:6379/0")
    bake(tmp_path, redis_check="warn")
    err = capfd.readouterr().err
    assert "failed: REDIS_URL redis://app:***@cache.example.com:6379/0:" in err
    assert "percent-encode" in err
    assert "t0p" not in err and "secret" not in err
