"""Run a baked project's processes (worker, web, one-off scripts) against a test's Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from helpers import bake, load_support

polling = load_support("polling")
redis_support = load_support("redis_server")


class Project:
    """A baked project wired to one Redis, with helpers to run its processes."""

    def __init__(self, path: Path, environment: dict[str, str]) -> None:
        self.path = path
        self.environment = environment
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, *command: str, log_name: str, **env: str) -> subprocess.Popen[str]:
        log = (self.path / f"{log_name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=self.path,
            env={**self.environment, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def start_worker(self, log_name: str = "worker", **env: str) -> subprocess.Popen[str]:
        """``python queues.py``, returned once it listens on its queues."""
        worker = self.start("queues.py", log_name=log_name, **env)
        polling.wait_for(
            lambda: "Listening on" in self.log(log_name) or worker.poll() is not None,
            timeout=20,
            message=f"worker {log_name} did not start listening",
        )
        assert worker.poll() is None, self.log(log_name)
        return worker

    def start_web(self) -> str:
        """``python web.py`` on a free port; returns its base URL once it answers /health."""
        port = redis_support.free_port()
        web = self.start("web.py", log_name="web", WEB_PORT=str(port))
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert web.poll() is None, self.log("web")
            try:
                return request_json(f"{base}/health")[0] == 200
            except OSError:
                return False

        polling.wait_for(answers, timeout=20, message="web app did not answer /health")
        return base

    def python(self, code: str, **env: str) -> str:
        """Run ``python -c code`` in the project (``env`` added to its environment); return its
        stdout."""
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.path,
            env={**self.environment, **env},
            capture_output=True,
            text=True,
            timeout=120,
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
            redis_support.stop_process(process, timeout=15)


def baked_project(tmp_path: Path, redis_server: Any, **answers: str) -> Project:
    """Bake a project and point it at ``redis_server`` (emptied first) with the redis driver."""
    path = bake(tmp_path, **answers)
    environment = {**os.environ, **redis_server.environment(), "QUEUE_CONNECTION": "redis"}
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), *redis_auth(redis_server), "flushall"],
        check=True,
        capture_output=True,
    )
    return Project(path, environment)


def redis_auth(redis_server: Any) -> list[str]:
    return ["--no-auth-warning", "-a", redis_server.password] if redis_server.password else []


def request_json(url: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    """(status, body) of a JSON request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
