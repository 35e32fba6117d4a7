"""Security defaults, checked on the generated files.

Checked elsewhere on real processes: the web port bound to 127.0.0.1 and Redis unpublished
(test_compose_config, test_containers), the image running unprivileged without .env
(test_containers), a Redis password honoured by the post-generation check (test_hooks), producers
and workers (the generated test_redis_queue) and the dashboard (test_containers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from helpers import TEMPLATE_ROOT, bake

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY")
# The secrets generation fills in .env (others, e.g. REDIS_SENTINEL_PASSWORD, stay empty).
GENERATED = {"REDIS_PASSWORD", "DASHBOARD_PASSWORD"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("security"))


def test_no_secret_has_a_committed_default(project: Path) -> None:
    assignments = [
        line.split("=", 1)
        for line in (project / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    ]
    secrets = {name: value for name, value in assignments if SECRET_NAME.search(name)}
    assert {"REDIS_PASSWORD", "DASHBOARD_PASSWORD"} <= set(secrets)
    assert all(value == "" for value in secrets.values()), secrets
    answers = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
    assert not [name for name in answers if SECRET_NAME.search(name.upper())]


def test_image_runs_as_an_unprivileged_user_and_bakes_in_no_settings(project: Path) -> None:
    dockerfile = (project / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert not SECRET_NAME.search(dockerfile)
    ignored = (project / ".dockerignore").read_text().splitlines()
    assert {".env", ".git", "tests"} <= set(ignored)


def test_only_loopback_ports_are_published_and_redis_none(project: Path) -> None:
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert "ports" not in services["redis"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published, "the web port should be published"
    loopback = ("127.0.0.1:", "${WEB_BIND:-127.0.0.1}:")
    assert all(str(port).startswith(loopback) for port in published), published


def test_pickle_can_be_swapped_for_json(project: Path) -> None:
    assert "QUEUE_SERIALIZER=pickle" in (project / ".env.example").read_text().splitlines()
    assert "QUEUE_SERIALIZER=json" in (project / "README.md").read_text()


def test_generation_writes_fresh_random_secrets_into_env_only(
    project: Path, tmp_path: Path
) -> None:
    def secrets_in(path: Path) -> dict[str, str]:
        lines = path.read_text().splitlines()
        pairs = [line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")]
        return {name: value for name, value in pairs if name in GENERATED}

    first = secrets_in(project / ".env")
    second = secrets_in(bake(tmp_path) / ".env")
    assert set(first) == GENERATED
    assert all(
        len(value) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", value) for value in first.values()
    )
    assert first["REDIS_PASSWORD"] != first["DASHBOARD_PASSWORD"]
    assert set(first.values()).isdisjoint(second.values())
    assert set(secrets_in(project / ".env.example").values()) == {""}
    assert (project / ".env").stat().st_mode & 0o077 == 0
