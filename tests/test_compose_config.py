"""compose.yaml and the Dockerfiles of every answer combination, checked without starting anything.

`docker compose config` (Compose v2) renders each combination; the tests read its JSON. hadolint
lints the Dockerfiles. Both need only the tools, not an engine; `scripts/containers start`
installs them. Skipped outside CI without them, failed in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_support import hadolint, require_compose

from helpers import bake, load_module

pytestmark = pytest.mark.container

# One row per combination; include_scheduler x python_version, plus custom ports and replicas.
COMBINATIONS: dict[str, dict[str, str]] = {
    f"scheduler-{scheduler}-python-{python}": {
        "include_scheduler": scheduler,
        "python_version": python,
    }
    for scheduler in ("yes", "no")
    for python in ("3.11", "3.12", "3.13", "3.14")
}
COMBINATIONS["custom-port-and-replicas"] = {"web_port": "9000", "worker_replicas": "5"}
APP_SERVICES = ("web", "worker", "scheduler")
JOB_TIMEOUT_DEFAULT = 180


def seconds(duration: str) -> float:
    """Compose's normalised duration ("3m20s", "1m30.5s", "45s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"([\d.]+)(ms|h|m|s)", duration)
    assert parts, duration
    return sum(float(value) * units[unit] for value, unit in parts)


def clean_environment() -> dict[str, str]:
    """This process's environment without the variables compose.yaml reads from .env."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT")
    return {name: os.environ[name] for name in keep if name in os.environ}


def compose_config(project: Path, *arguments: str, **env: str) -> dict[str, Any]:
    result = subprocess.run(
        ["docker", "compose", *arguments, "config", "--format", "json"],
        cwd=project,
        env={**clean_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=list(COMBINATIONS), ids=list(COMBINATIONS))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    require_compose()
    answers = COMBINATIONS[request.param]
    project = bake(tmp_path_factory.mktemp(request.param), **answers)
    return project, answers, compose_config(project)


def test_services_follow_the_scheduler_answer(baked: Any) -> None:
    _, answers, config = baked
    expected = {"redis", "web", "worker"}
    if answers.get("include_scheduler", "yes") == "yes":
        expected.add("scheduler")
    assert set(config["services"]) == expected  # the dashboard only with its profile


def test_one_image_built_once_for_every_app_service_and_the_chosen_python(baked: Any) -> None:
    _, answers, config = baked
    services = {
        name: config["services"][name] for name in APP_SERVICES if name in config["services"]
    }
    assert len({service["image"] for service in services.values()}) == 1
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["web"], "one service builds the image; the others run it by name"
    python = services["web"]["build"]["args"]["PYTHON_VERSION"]
    assert python == answers.get("python_version", "3.12")
    for service in services.values():
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["init"] is True
        assert service["environment"]["QUEUE_CONNECTION"] == "redis"
        assert service["environment"]["REDIS_HOST"] == "redis"
    commands = {name: service["command"] for name, service in services.items()}
    assert commands["web"] == ["python", "web.py"]
    assert commands["worker"] == ["python", "queues.py", "--check"]
    if "scheduler" in commands:
        assert commands["scheduler"] == ["python", "scheduler.py"]


def test_redis_is_persistent_unpublished_and_health_checked(baked: Any) -> None:
    _, _, config = baked
    redis = config["services"]["redis"]
    name, _, tag = redis["image"].partition(":")
    assert name == "redis" and re.match(r"\d+\.\d+", tag), redis["image"]
    command = " ".join(redis["command"])
    for setting in ("--appendonly yes", "--dir /data", "--maxmemory-policy noeviction"):
        assert setting in command
    assert [volume["target"] for volume in redis["volumes"]] == ["/data"]
    assert redis["volumes"][0]["type"] == "volume"
    assert not redis.get("ports")
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])


def test_web_is_published_on_loopback_and_checks_its_health_route(baked: Any) -> None:
    _, answers, config = baked
    web = config["services"]["web"]
    port = answers.get("web_port", "8000")
    assert [(p["host_ip"], str(p["published"]), p["target"]) for p in web["ports"]] == [
        ("127.0.0.1", port, int(port))
    ]
    assert web["environment"]["WEB_HOST"] == "0.0.0.0"
    assert "/health" in " ".join(web["healthcheck"]["test"])


def test_workers_scale_shut_down_warm_and_report_their_heartbeat(baked: Any) -> None:
    _, answers, config = baked
    worker = config["services"]["worker"]
    assert worker["deploy"]["replicas"] == int(answers.get("worker_replicas", "2"))
    assert "container_name" not in worker and not worker.get("ports")
    assert seconds(worker["stop_grace_period"]) > JOB_TIMEOUT_DEFAULT
    assert worker["healthcheck"]["test"] == ["CMD", "python", "queues.py", "health"]
    assert worker["restart"] == "unless-stopped"


def test_scheduler_runs_exactly_one_replica(baked: Any) -> None:
    _, _, config = baked
    if "scheduler" in config["services"]:
        assert config["services"]["scheduler"]["deploy"]["replicas"] == 1


def test_dashboard_profile_binds_to_loopback_with_credentials_from_env(baked: Any) -> None:
    project, _, _ = baked
    config = compose_config(project, "--profile", "dashboard", DASHBOARD_PASSWORD="s3cret")
    dashboard = config["services"]["dashboard"]
    assert [p["host_ip"] for p in dashboard["ports"]] == ["127.0.0.1"]
    assert dashboard["environment"]["RQ_DASHBOARD_PASSWORD"] == "s3cret"


def test_monitoring_profile_runs_prometheus_on_the_shipped_scrape_config_and_rules(
    baked: Any,
) -> None:
    project, answers, _ = baked
    services = compose_config(project, "--profile", "monitoring")["services"]
    prometheus = services["prometheus"]
    assert [p["host_ip"] for p in prometheus["ports"]] == ["127.0.0.1"]
    mounts = {m["target"]: Path(m["source"]) for m in prometheus["volumes"] if m["type"] == "bind"}
    scrape = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    alerts = yaml.safe_load(mounts["/etc/prometheus/alerts.yml"].read_text())
    assert scrape["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    web_port = answers.get("web_port", "8000")
    assert jobs["queue-web"]["static_configs"] == [{"targets": [f"web:{web_port}"]}]
    worker = services["worker"]["environment"]
    assert worker["WORKER_METRICS_HOST"] == "0.0.0.0"
    (discovery,) = jobs["queue-worker"]["dns_sd_configs"]
    assert (discovery["names"], discovery["type"]) == (["worker"], "A")
    assert discovery["port"] == int(worker["WORKER_METRICS_PORT"])
    expressions = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    assert_exported_metrics(project, expressions)


def assert_exported_metrics(project: Path, expressions: list[str]) -> None:
    """Every ``queue_*`` series in ``expressions`` is one the project exports (``names.py``)."""
    names = load_module(project / "app/queue/metrics/names.py", "generated_metric_names")
    exported = {value for key, value in vars(names).items() if key.isupper()}
    exported -= {names.JOBS, names.PUSHES}  # counters are exposed with _total
    exported |= {f"{names.JOBS}_total", f"{names.PUSHES}_total"}
    exported |= {f"{names.JOB_DURATION}_{suffix}" for suffix in ("bucket", "count", "sum")}
    used = set(re.findall(r"\bqueue_[a-z_]+", " ".join(expressions)))
    assert used and used <= exported, used - exported


def test_monitoring_profile_provisions_grafana_with_a_dashboard_on_the_real_metrics(
    baked: Any,
) -> None:
    project, _, _ = baked
    services = compose_config(project, "--profile", "monitoring", DASHBOARD_PASSWORD="s3cret")[
        "services"
    ]
    grafana = services["grafana"]
    assert [p["host_ip"] for p in grafana["ports"]] == ["127.0.0.1"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    mounts = {m["target"]: Path(m["source"]) for m in grafana["volumes"] if m["type"] == "bind"}
    provisioning = mounts["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services
    (provider,) = yaml.safe_load((provisioning / "dashboards/queue.yml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    dashboard = json.loads((dashboards / "queue.json").read_text())
    targets = [target for panel in dashboard["panels"] for target in panel["targets"]]
    assert {target["datasource"]["uid"] for target in targets} == {source["uid"]}
    assert_exported_metrics(project, [target["expr"] for target in targets])


def test_redis_password_reaches_redis_and_every_client(baked: Any) -> None:
    project, _, _ = baked
    config = compose_config(project, "--profile", "dashboard", REDIS_PASSWORD="pa55word")
    services = config["services"]
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1] == "pa55word"
    for name in (*APP_SERVICES, "dashboard"):
        if name in services:
            assert services[name]["environment"]["REDIS_PASSWORD"] == "pa55word", name


def test_compose_file_is_also_valid_for_compose_v1(baked: Any) -> None:
    project, _, _ = baked
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed; v1 validity is a courtesy, not needed")
    result = subprocess.run(
        ["docker-compose", "config", "--quiet"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13", "3.14"])
def test_dockerfiles_are_clean_under_hadolint(tmp_path: Path, python_version: str) -> None:
    linter = hadolint()
    project = bake(tmp_path, python_version=python_version)
    dockerfiles = [project / "Dockerfile", project / "docker" / "dashboard" / "Dockerfile"]
    for dockerfile in dockerfiles:
        assert f"ARG PYTHON_VERSION={python_version}" in dockerfile.read_text()
    result = subprocess.run(
        [linter, "--failure-threshold", "info", *map(str, dockerfiles)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
