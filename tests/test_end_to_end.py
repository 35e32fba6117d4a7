"""End to end: a real redis-server, ``python queues.py`` and ``python web.py`` as processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from helpers import bake, load_support

polling = load_support("polling")


class Project:
    """A baked project wired to the test's Redis, with helpers to run its processes."""

    def __init__(self, path: Path, environment: dict[str, str]) -> None:
        self.path = path
        self.environment = environment
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, *command: str, log_name: str) -> subprocess.Popen[str]:
        log = (self.path / f"{log_name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=self.path,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def python(self, code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.path,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def log(self, name: str) -> str:
        return (self.path / f"{name}.log").read_text()

    def report(self, report_id: int) -> dict[str, Any] | None:
        path = self.path / "storage" / "reports" / f"report-{report_id}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def project(tmp_path: Path, redis_server: Any) -> Iterator[Project]:
    path = bake(tmp_path)
    environment = {
        **os.environ,
        **redis_server.environment(),
        "QUEUE_CONNECTION": "redis",
        "WEB_PORT": str(load_support("redis_server").free_port()),
    }
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), "flushdb"], check=True, capture_output=True
    )
    running = Project(path, environment)
    yield running
    running.stop_all()


def get_json(url: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def start_worker(project: Project) -> subprocess.Popen[str]:
    worker = project.start("queues.py", log_name="worker")
    polling.wait_for(
        lambda: "Listening on" in project.log("worker") or worker.poll() is not None,
        timeout=20,
        message="worker did not start listening",
    )
    assert worker.poll() is None, project.log("worker")
    return worker


def test_job_pushed_from_another_process_runs_in_the_worker(project: Project) -> None:
    worker = start_worker(project)
    pusher_pid = project.python(
        "import os\n"
        "from app import app\n"
        "from app.jobs.reports import rebuild_report\n"
        "assert app().queue().push(rebuild_report, 1)\n"
        "print(os.getpid())\n"
    )
    report = polling.wait_for(lambda: project.report(1), timeout=20, message="job did not run")
    assert report["pid"] == worker.pid
    assert report["pid"] != int(pusher_pid)
    assert "Job finished" in project.log("worker")


def test_push_at_runs_after_its_time(project: Project) -> None:
    start_worker(project)
    run_at = project.python(
        "from datetime import datetime, timedelta\n"
        "from app import app\n"
        "from app.jobs.reports import rebuild_report\n"
        "run_at = datetime.now() + timedelta(seconds=2)\n"
        "assert app().queue().push_at(run_at, rebuild_report, 2)\n"
        "print(run_at.astimezone().isoformat())\n"
    )
    report = polling.wait_for(lambda: project.report(2), timeout=30, message="push_at never ran")
    assert datetime.fromisoformat(report["built_at"]) >= datetime.fromisoformat(run_at)


def test_web_request_is_processed_by_the_worker(project: Project) -> None:
    worker = start_worker(project)
    web = project.start("web.py", log_name="web")
    base = f"http://127.0.0.1:{project.environment['WEB_PORT']}"

    def web_ready() -> bool:
        assert web.poll() is None, project.log("web")
        try:
            return get_json(f"{base}/ready")["status"] == "ready"
        except OSError:
            return False

    polling.wait_for(web_ready, timeout=20, message="web app did not become ready")
    queued = get_json(f"{base}/reports/7/rebuild", method="POST")
    assert queued["status"] == "queued"
    finished = polling.wait_for(
        lambda: (
            (state := get_json(f"{base}/jobs/{queued['job_id']}"))["status"] == "finished" and state
        ),
        timeout=20,
        message="web-queued job did not finish",
    )
    assert finished["result"]["pid"] == worker.pid
    assert project.report(7)["pid"] == worker.pid


def test_sigterm_lets_the_current_job_finish_and_exits_zero(project: Project) -> None:
    worker = start_worker(project)
    marker = project.path / "slow.txt"
    project.python(
        "from app import app\n"
        "from tests.support.jobs import sleep_then_write\n"
        f"assert app().queue().push(sleep_then_write, {str(marker)!r}, 1.5)\n"
    )
    polling.wait_for(
        lambda: "Job started" in project.log("worker"), timeout=20, message="slow job not started"
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, project.log("worker")
    assert marker.read_text() == "done"
    assert "Job finished" in project.log("worker")
