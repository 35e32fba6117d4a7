"""The generated project's containers on a real Docker engine: build, scale, run jobs, recover.

One stack for the module (bake with Python 3.11, `docker compose up -d --build --wait` with three
workers), torn down with `down -v` at the end whatever happens. Skipped outside CI when no engine
answers (`scripts/containers start` provides one); failed in CI.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from docker_support import (
    Compose,
    free_port,
    remove_image,
    require_engine,
    wait_for,
    web_request,
)

from helpers import bake

pytestmark = pytest.mark.container

WORKERS = 3
JOBS = 30
FINISHED, FAILED = "finished", "failed"
PUSH_NATIVE = (
    "from app import app\n"
    "from app.jobs.reports import rebuild_report\n"
    "print(app().queue().push(rebuild_report, 77))\n"
)
PUSH_AT = """
import json
from datetime import UTC, datetime, timedelta
from app import app
from app.jobs.reports import rebuild_report
when = datetime.now(UTC) + timedelta(seconds=4)
submission = app().queue().submit_at(when, rebuild_report, 4242)
print(json.dumps({"ok": submission.ok, "job_id": submission.job_id,
                  "error": submission.error, "when": when.timestamp()}))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    require_engine()
    project = bake(tmp_path_factory.mktemp("containers"), python_version="3.11")
    name = f"eqtest{uuid4().hex[:10]}"
    image = f"{name}-app:test"
    compose = Compose(
        project,
        name,
        {
            "WEB_PORT": str(free_port()),
            "WORKER_REPLICAS": str(WORKERS),
            "APP_IMAGE": image,
            "DASHBOARD_IMAGE": f"{name}-dashboard:test",
            "DASHBOARD_PORT": str(free_port()),
        },
    )
    try:
        compose.timed("build", "build")
        compose.timed("up --build --wait", "up", "-d", "--build", "--wait", "--wait-timeout", "240")
        yield compose
    finally:
        compose.down()
        remove_image(image)
        remove_image(compose.environment["DASHBOARD_IMAGE"])
        timings = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in compose.timings.items())
        print(f"\ncontainer stack {name}: {timings}", file=sys.stderr)


def dotenv(project: Path) -> dict[str, str]:
    """The generated ``.env``: its passwords are the ones generation made (none is passed in)."""
    lines = (project / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def web(stack: Compose, method: str, path: str) -> tuple[int, dict[str, Any]]:
    """One request to the web app on its 127.0.0.1-published port."""
    return web_request(stack.environment["WEB_PORT"], method, path)


def queue_report(stack: Compose, report_id: int) -> str:
    status, body = web(stack, "POST", f"/reports/{report_id}/rebuild")
    assert (status, body.get("status")) == (200, "queued"), body
    return body["job_id"]


def job(stack: Compose, job_id: str) -> dict[str, Any]:
    status, body = web(stack, "GET", f"/jobs/{job_id}")
    assert status == 200, body
    return body


def wait_until_done(stack: Compose, job_ids: list[str], timeout: float) -> dict[str, dict]:
    done: dict[str, dict] = {}

    def all_done() -> bool:
        for job_id in job_ids:
            if job_id not in done:
                state = job(stack, job_id)
                if state["status"] in (FINISHED, FAILED):
                    done[job_id] = state
        return len(done) == len(job_ids)

    wait_for(all_done, timeout, f"{len(job_ids) - len(done)} of {len(job_ids)} jobs not done")
    return done


def worker_hostnames(stack: Compose) -> set[str]:
    return {
        container["ID"][:12] for container in stack.containers() if container["Service"] == "worker"
    }


def test_every_service_runs_healthy_with_three_workers(stack: Compose) -> None:
    containers = stack.containers()
    assert Counter(container["Service"] for container in containers) == Counter(
        {"redis": 1, "web": 1, "worker": WORKERS, "scheduler": 1}
    )
    for container in containers:
        assert container["State"] == "running", container
        if container["Service"] != "scheduler":  # it has no healthcheck (nothing to ask)
            assert container["Health"] == "healthy", container


def test_only_the_web_port_is_published_and_only_on_loopback(stack: Compose) -> None:
    published = [
        (container["Service"], publisher["URL"], publisher["PublishedPort"])
        for container in stack.containers()
        for publisher in container.get("Publishers") or []
        if publisher.get("PublishedPort")
    ]
    assert published == [("web", "127.0.0.1", int(stack.environment["WEB_PORT"]))]


def test_thirty_jobs_each_run_once_spread_over_worker_containers(stack: Compose) -> None:
    job_ids = [queue_report(stack, report_id) for report_id in range(1, JOBS + 1)]
    done = wait_until_done(stack, job_ids, timeout=120)

    assert {state["status"] for state in done.values()} == {FINISHED}
    assert sorted(state["result"]["report_id"] for state in done.values()) == list(
        range(1, JOBS + 1)
    )
    hostnames = Counter(state["result"]["hostname"] for state in done.values())
    assert len(hostnames) > 1, f"every job ran on one worker: {hostnames}"
    assert set(hostnames) <= worker_hostnames(stack)

    logs = stack.logs("worker")
    started = Counter(re.findall(r"Job started job_id=(\w+)", logs))
    assert {job_id: started[job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)


def test_push_at_job_runs_after_its_time(stack: Compose) -> None:
    result = stack.exec("web", "python", "-c", PUSH_AT)
    assert result.returncode == 0, result.stderr
    pushed = json.loads(result.stdout.strip().splitlines()[-1])
    assert pushed["ok"], pushed["error"]
    assert job(stack, pushed["job_id"])["status"] == "scheduled"

    state = wait_until_done(stack, [pushed["job_id"]], timeout=60)[pushed["job_id"]]
    assert state["status"] == FINISHED, state
    built_at = datetime.fromisoformat(state["result"]["built_at"]).timestamp()
    assert built_at >= pushed["when"], "the job ran before its time"


@pytest.mark.parametrize("service", ["worker", "web"])
def test_check_command_passes_inside_the_containers(stack: Compose, service: str) -> None:
    result = stack.exec(service, "python", "queues.py", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1].rstrip(":") for line in lines] == [
        "connection",
        "fast_path",
        "redis",
        "tasks",
        "workers",
        "scheduler",
    ]
    assert all(line.startswith("ok ") for line in lines), lines
    assert "answers (password)" in lines[2]


def test_check_command_names_each_failing_item(stack: Compose) -> None:
    result = stack.exec("web", "python", "queues.py", "check", REDIS_DB="1", JOB_QUEUE="elsewhere")
    assert result.returncode == 1
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 2, result.stdout
    assert failing[0].startswith("FAIL workers:") and "registered in db 0" in failing[0]
    assert failing[1].startswith("FAIL scheduler:") and "elsewhere" in failing[1]


def test_image_runs_unprivileged_without_secrets_tests_or_build_tools(stack: Compose) -> None:
    result = stack.exec("web", "sh", "-c", "id -u; ls -A /app; command -v gcc cc make || true")
    assert result.returncode == 0, result.stderr
    uid, *rest = result.stdout.split()
    assert uid != "0"
    assert ".env" not in rest and "tests" not in rest and ".git" not in rest
    assert not {"gcc", "cc", "make"} & {Path(line).name for line in rest}


def test_redis_refuses_clients_without_the_generated_password(stack: Compose) -> None:
    result = stack.exec("redis", "redis-cli", "ping")
    assert "NOAUTH" in result.stdout + result.stderr
    password = dotenv(stack.directory)["REDIS_PASSWORD"]
    assert len(password) >= 32
    authenticated = stack.exec("redis", "redis-cli", "--no-auth-warning", "-a", password, "ping")
    assert authenticated.stdout.strip() == "PONG"
    image = stack.exec("web", "grep", "-rl", "--", password, "/app", "/home")
    assert image.stdout == "", "the generated password is in the image"


def test_the_image_is_built_once_and_scaling_touches_only_workers(stack: Compose) -> None:
    app_services = {"web", "worker", "scheduler"}
    containers = [c for c in stack.containers() if c["Service"] in app_services]
    images = {
        subprocess.run(
            ["docker", "inspect", "--format", "{{.Image}}", c["ID"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for c in containers
    }
    assert len(images) == 1, images
    web_id = next(c["ID"] for c in containers if c["Service"] == "web")
    stack.run("up", "-d", "--wait", "--scale", f"worker={WORKERS + 1}", timeout=300)
    after = stack.containers()
    assert next(c["ID"] for c in after if c["Service"] == "web") == web_id
    assert len([c for c in after if c["Service"] == "worker"]) == WORKERS + 1
    stack.run("up", "-d", "--wait", "--scale", f"worker={WORKERS}", timeout=300)


def test_dashboard_profile_shows_the_queues_behind_a_password(stack: Compose) -> None:
    stack.run("--profile", "dashboard", "up", "-d", "--wait", "dashboard", timeout=300)
    url = f"http://127.0.0.1:{stack.environment['DASHBOARD_PORT']}/0/data/queues.json"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401
    request = urllib.request.Request(url)
    password = dotenv(stack.directory)["DASHBOARD_PASSWORD"]
    login = base64.b64encode(b"admin:" + password.encode())
    request.add_header("Authorization", f"Basic {login.decode()}")
    with urllib.request.urlopen(request, timeout=10) as response:
        queues = json.loads(response.read())["queues"]
    assert "default" in {queue["name"] for queue in queues}


def test_redis_restart_loses_no_queued_job(stack: Compose) -> None:
    stack.run("stop", "--timeout", "30", "worker", timeout=90)
    job_ids = [queue_report(stack, report_id) for report_id in range(101, 111)]
    assert {job(stack, job_id)["status"] for job_id in job_ids} == {"queued"}

    stack.run("restart", "redis", timeout=90)
    wait_for(
        lambda: web(stack, "GET", "/ready")[0] == 200, 60, "web never saw Redis again", interval=0.5
    )
    assert {job(stack, job_id)["status"] for job_id in job_ids} == {"queued"}

    stack.run("start", "worker", timeout=90)
    done = wait_until_done(stack, job_ids, timeout=120)
    assert {state["status"] for state in done.values()} == {FINISHED}


def test_the_local_override_publishes_redis_for_native_runs(stack: Compose, tmp_path: Path) -> None:
    """``compose.local.yaml``: Redis on 127.0.0.1:REDIS_PORT with .env's password; a native worker,
    ``queues.py check`` and a push run against it."""
    port = free_port()
    local = Compose(stack.directory, f"{stack.project}local", {"REDIS_PORT": str(port)})
    files = ["-f", "compose.yaml", "-f", "compose.local.yaml"]
    native = {
        **os.environ,
        "QUEUE_CONNECTION": "redis",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(port),
        "STORAGE_PATH": str(tmp_path / "storage"),
    }
    log = tmp_path / "worker.log"
    worker = None
    try:
        local.run(*files, "up", "-d", "--wait", "redis", timeout=300)
        with log.open("w") as output:
            worker = subprocess.Popen(
                [sys.executable, "queues.py"],
                cwd=stack.directory,
                env=native,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: "Listening on" in log.read_text(), 30, "native worker did not start")
        check = subprocess.run(
            [sys.executable, "queues.py", "check"],
            cwd=stack.directory,
            env=native,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        pushed = subprocess.run(
            [sys.executable, "-c", PUSH_NATIVE],
            cwd=stack.directory,
            env=native,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert pushed.stdout.strip() == "True", pushed.stderr
        report = tmp_path / "storage" / "reports" / "report-77.json"
        wait_for(report.exists, 30, "the native worker did not run the job")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        local.run(*files, "down", "--volumes", "--timeout", "5", check=False, timeout=120)
    assert local.leftovers() == {"containers": [], "volumes": [], "networks": []}


def test_down_removes_every_container_volume_and_network(stack: Compose) -> None:
    started = time.monotonic()
    stack.down()
    stack.timings["down -v"] = time.monotonic() - started
    assert stack.containers(all_states=True) == []
    assert stack.leftovers() == {"containers": [], "volumes": [], "networks": []}
