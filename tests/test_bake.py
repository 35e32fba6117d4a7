"""Baking: every supported answer combination renders, lints clean and passes its own suite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TEMPLATE_ROOT, bake

# One row per supported combination; adding an option means adding a row.
COMBINATIONS: dict[str, dict[str, str]] = {
    "defaults": {},
    "python-3.11": {"python_version": "3.11"},
    "python-3.13": {"python_version": "3.13"},
    "redis-locally": {"queue_connection": "redis", "redis_host": "localhost", "redis_port": "6380"},
    "no-scheduler": {"include_scheduler": "no"},
    "custom-ports-and-replicas": {"web_port": "9000", "worker_replicas": "5"},
    "named-project": {"project_name": "Billing Jobs", "description": "Invoices, queued."},
}
UNRENDERED = re.compile(r"\{\{\s*cookiecutter|\{%-?\s|cookiecutter\.")
SCHEDULER_FILES = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())["_scheduler_files"]


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module", params=list(COMBINATIONS), ids=list(COMBINATIONS))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp(request.param), **COMBINATIONS[request.param])


def text_files(project: Path) -> list[Path]:
    return [
        path for path in project.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    ]


def test_nothing_is_left_unrendered(baked: Path) -> None:
    leftovers = [
        str(path.relative_to(baked))
        for path in text_files(baked)
        if UNRENDERED.search(path.read_text(encoding="utf-8"))
    ]
    assert leftovers == []
    assert "{{" not in str(baked)


def test_ruff_is_clean_on_the_output(baked: Path) -> None:
    lint = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], baked)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    style = run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], baked)
    assert style.returncode == 0, style.stdout + style.stderr


def test_generated_suite_passes(baked: Path) -> None:
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], baked)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
    if os.environ.get("CI"):
        assert "skipped" not in result.stdout.splitlines()[-1], result.stdout[-2000:]


def test_local_env_carries_the_answers(tmp_path: Path) -> None:
    project = bake(
        tmp_path,
        queue_connection="redis",
        redis_host="redis.internal",
        redis_port="6390",
        web_port="8123",
    )
    env = (project / ".env").read_text()
    for line in ("QUEUE_CONNECTION=redis", "REDIS_HOST=redis.internal", "REDIS_PORT=6390"):
        assert line in env.splitlines()
    assert "WEB_PORT=8123" in env.splitlines()
    assert "${WEB_PORT:8123}" in (project / "config" / "web.yaml").read_text()


def test_project_name_slug_and_description_reach_the_output(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Billing Jobs", description="Invoices, queued.")
    assert project.name == "billing-jobs"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "billing-jobs"' in pyproject
    assert 'description = "Invoices, queued."' in pyproject
    assert (project / "README.md").read_text().startswith("# Billing Jobs\n\nInvoices, queued.")
    assert "${APP_NAME:billing-jobs}" in (project / "config" / "app.yaml").read_text()


def test_python_version_is_the_runtime_named_in_the_readme(tmp_path: Path) -> None:
    project = bake(tmp_path, python_version="3.13")
    assert "container image and CI use Python 3.13" in (project / "README.md").read_text()


def test_scheduler_option_adds_or_removes_the_scheduler(tmp_path: Path) -> None:
    with_scheduler = bake(tmp_path / "yes", include_scheduler="yes")
    without = bake(tmp_path / "no", include_scheduler="no")
    for name in SCHEDULER_FILES:
        assert (with_scheduler / name).is_file()
        assert not (without / name).exists()
    assert '"schedule>=' in (with_scheduler / "pyproject.toml").read_text()
    assert "schedule" not in (without / "pyproject.toml").read_text()
    assert "scheduler.py" not in (without / "README.md").read_text()


def test_queue_yaml_is_the_documented_configuration(tmp_path: Path) -> None:
    project = bake(tmp_path)
    assert (project / "config" / "queue.yaml").read_text() == (
        "queue:\n"
        "  connection: ${QUEUE_CONNECTION:sync}\n"
        "\n"
        "  connections:\n"
        "    sync:\n"
        "\n"
        "    redis:\n"
        "      host: ${REDIS_HOST:127.0.0.1}\n"
        "      port: ${REDIS_PORT:6379}\n"
        "      db: ${REDIS_DB:0}\n"
        "      username: ${REDIS_USERNAME:null}\n"
        "      password: ${REDIS_PASSWORD:null}\n"
        "      url: ${REDIS_URL:null}\n"
        "      password_file: ${REDIS_PASSWORD_FILE:null}\n"
        "      tls: ${REDIS_TLS:null}\n"
        "      tls_ca_file: ${REDIS_TLS_CA_FILE:null}\n"
        "      tls_cert_file: ${REDIS_TLS_CERT_FILE:null}\n"
        "      tls_key_file: ${REDIS_TLS_KEY_FILE:null}\n"
        "      tls_verify: ${REDIS_TLS_VERIFY:required}\n"
        "      sentinels: ${REDIS_SENTINELS:null}\n"
        "      sentinel_master: ${REDIS_SENTINEL_MASTER:null}\n"
        "      sentinel_password: ${REDIS_SENTINEL_PASSWORD:null}\n"
        "      push_replicas: ${QUEUE_PUSH_REPLICAS:0}\n"
        "      push_replicas_timeout_ms: ${QUEUE_PUSH_REPLICAS_TIMEOUT_MS:500}\n"
    )


def test_main_shows_a_job_running_inline(tmp_path: Path) -> None:
    project = bake(tmp_path)
    result = run([sys.executable, "main.py"], project, QUEUE_CONNECTION="sync")
    assert result.returncode == 0, result.stderr
    assert "Job finished" in result.stderr
    assert "function=app.jobs.emails.send_email" in result.stderr
    assert "Ran inline before push returned; report 1:" in result.stderr
