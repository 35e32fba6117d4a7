"""Metrics and alerts, proven with Debian's Prometheus: the generated rules pass ``promtool``,
and a real Prometheus scraping a baked project's web app and two workers (native processes on
loopback, the generated scrape config with static targets) reads back what the jobs did, loads
the alert rules and answers every query of the Grafana dashboard with data."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import bake
from processes import Project, baked_project, polling, redis_support, request_json

RULES = Path("deploy/prometheus")
WORKERS = 2
FINISHED, FAILED, BACKLOG, SCHEDULED = 5, 3, 4, 2


def require(binary: str) -> str:
    """The path of ``binary`` (Debian's ``prometheus`` package); skipped if missing, CI fails."""
    path = shutil.which(binary)
    if path is None:
        reason = f"{binary} is not installed (apt-get install prometheus)"
        if redis_support.running_in_ci():
            pytest.fail(f"CI needs this: {reason}")
        pytest.skip(reason)
    return path


def test_generated_alert_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = require("promtool")
    rules = bake(tmp_path) / RULES
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run(
            [promtool, *command], cwd=rules, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


def scrape_config(project: Path, web: str, workers: list[int]) -> dict[str, Any]:
    """The generated prometheus.yml with loopback targets in place of compose's DNS names, and a
    one-second scrape."""
    config = yaml.safe_load((project / RULES / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(project / RULES / name) for name in config["rule_files"]]
    targets = {
        "queue-web": [urllib.parse.urlsplit(web).netloc],
        "queue-worker": [f"127.0.0.1:{port}" for port in workers],
    }
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    return config


@pytest.fixture
def prometheus_project(tmp_path: Path, redis_server: Any) -> Iterator[tuple[Project, str, str]]:
    """A baked project's web app and two workers with metrics listeners, and a Prometheus
    scraping them; yields the project, the web app's and Prometheus's base URLs."""
    prometheus = require("prometheus")
    project = baked_project(tmp_path / "bake", redis_server)
    project.environment["WORKER_QUEUES"] = "default,backlog"  # the web app exports both queues
    ports = [redis_support.free_port() for _ in range(WORKERS)]
    process: subprocess.Popen[str] | None = None
    try:
        web = project.start_web()
        for number, port in enumerate(ports):
            project.start_worker(
                f"worker-{number}", WORKER_QUEUES="default", WORKER_METRICS_PORT=str(port)
            )
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(project.path, web, ports)))
        address = f"127.0.0.1:{redis_support.free_port()}"
        log = (tmp_path / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address={address}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        yield project, web, f"http://{address}"
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        project.stop_all()


def series(prometheus: str, expression: str) -> list[dict[str, Any]]:
    """The result of a PromQL query (an error answer fails the test), empty while unreachable."""
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{expression}: {error.read().decode()}") from error
    except OSError:
        return []  # Prometheus still starting
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def query(prometheus: str, expression: str) -> float | None:
    """The value of a PromQL expression with one result, None while it has none."""
    result = series(prometheus, expression)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def test_prometheus_reads_jobs_queues_and_workers(
    prometheus_project: tuple[Project, str, str],
) -> None:
    project, web, prometheus = prometheus_project
    project.python(
        "from datetime import datetime, timedelta\n"
        "from app import app\n"
        "from app.jobs.reports import rebuild_report\n"
        "from tests.support.jobs import fail\n"
        "queue = app().queue()\n"
        f"for number in range({FAILED}):\n"
        "    assert queue.options(retries=0).push(fail, 'disk full')\n"
        f"for number in range({BACKLOG}):\n"
        "    assert queue.options(queue='backlog').push(rebuild_report, 100 + number)\n"
        "later = datetime.now() + timedelta(hours=1)\n"
        f"for number in range({SCHEDULED}):\n"
        "    assert queue.push_at(later, rebuild_report, 200 + number)\n"
    )
    for number in range(FINISHED):
        assert request_json(f"{web}/reports/{number}/rebuild", method="POST")[0] == 200
    expected = {
        'sum(queue_jobs_total{outcome="finished"})': FINISHED,
        'sum(queue_job_duration_seconds_count{function="app.jobs.reports.rebuild_report"})': (
            FINISHED
        ),
        'queue_pushes_total{job="queue-web",outcome="queued"}': FINISHED,  # the web's pushes
        'sum(queue_jobs_total{outcome="failed"})': FAILED,
        'queue_jobs_failed{queue="default"}': FAILED,
        'queue_jobs_waiting{queue="backlog"}': BACKLOG,
        'queue_jobs_scheduled{queue="default"}': SCHEDULED,
        "sum(queue_workers)": WORKERS,
        "queue_redis_up": 1,
        'count(up{job="queue-worker"} == 1)': WORKERS,
    }
    seen: dict[str, float | None] = {}

    def all_seen() -> bool:
        seen.update((expression, query(prometheus, expression)) for expression in expected)
        return seen == expected

    try:
        polling.wait_for(all_seen, timeout=60, message="Prometheus did not read it", interval=0.5)
    except AssertionError:
        assert seen == expected  # shows which series differ
    assert (query(prometheus, 'queue_oldest_job_age_seconds{queue="backlog"}') or 0) > 0
    assert query(prometheus, 'count(queue_jobs_total{function!~"app[.]jobs[.].*|other"})') is None
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=5) as response:
        groups = json.loads(response.read())["data"]["groups"]
    rules = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert set(rules) == {
        "QueueBacklogTooOld",
        "QueueJobFailuresRising",
        "QueueNoLiveWorker",
        "QueueRedisUnreachable",
    }
    assert set(rules.values()) == {"ok"}, rules
    dashboard = json.loads((project.path / "deploy/grafana/dashboards/queue.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expression = target["expr"].replace("$__rate_interval", "1m")
            polling.wait_for(
                lambda expression=expression: series(prometheus, expression),
                timeout=15,
                message=f"{panel['title']}: {expression} has no data",
                interval=0.5,
            )
