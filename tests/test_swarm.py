"""The generated ``stack.yaml`` on Docker Swarm: checked as rendered, then run on a real swarm.

Without an engine: ``docker stack config`` renders the stack file for both scheduler answers and
the tests read what it made (``deploy:`` on every service, secrets instead of passwords, a grace
period longer than the job timeout). With one: a single-node swarm (initialised here and left at
the end when the engine was not in one), a python 3.11 bake built and deployed with
``tests/swarm/stack.test-override.yaml`` (this machine's kernel has no IPVS: services are reached
by DNS round robin, web's port in host mode), jobs through the web app, ``docker service scale``,
a rolling update of the workers while jobs run, ``docker stack rm``. Skipped outside CI when no
engine answers (``scripts/containers start`` provides one); failed in CI.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import yaml
from docker_support import (
    docker,
    free_port,
    remove_image,
    require_engine,
    unavailable,
    wait_for,
    web_request,
)

from helpers import PROJECT_TEMPLATE, bake, load_module

pytestmark = pytest.mark.container

OVERRIDE = Path(__file__).resolve().parent / "swarm" / "stack.test-override.yaml"
# The generated README's commands that turn .env's passwords into the secrets' files.
SECRET_COMMANDS = (
    "mkdir -p -m 700 secrets",
    "sed -n 's/^REDIS_PASSWORD=//p' .env | tr -d '\\n' > secrets/redis_password",
    "sed -n 's/^DASHBOARD_PASSWORD=//p' .env | tr -d '\\n' > secrets/dashboard_password",
)
APP_SERVICES = ("web", "worker", "scheduler")
WORKERS, MORE_WORKERS = 2, 4
DEFAULT_WORKER_REPLICAS = 2  # cookiecutter.json's worker_replicas
JOBS = 30
# Jobs during the rolling update: long enough that workers are mid-job when they are told to stop,
# many enough that they outlast most of the update (about 10 s per worker here).
SLOW_JOBS, SLOW_JOB_SECONDS = 80, 1.5
FINISHED, FAILED = "finished", "failed"
# Swarm's overlay networks inside the range this machine's engine may use (docker-offline).
ADDRESS_POOL = ("--default-addr-pool", "10.211.240.0/20", "--default-addr-pool-mask-length", "24")
PUSH_SLOW_JOBS = """
import json, sys, time
from app import app
queue = app().queue()
ids = []
for _ in range(int(sys.argv[1])):
    submission = queue.submit(time.sleep, float(sys.argv[2]))
    assert submission.ok, submission.error
    ids.append(submission.job_id)
print(json.dumps(ids))
"""
LIVE_WORKERS = """
import json
from app import app
from app.queue.commands.worker_registry import live_workers
from app.queue.redis_clients import producer_client
client = producer_client(app().queue_settings.redis)
print(json.dumps(sorted(worker.hostname for worker in live_workers(client))))
"""


def dotenv(project: Path) -> dict[str, str]:
    lines = (project / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def write_secrets(project: Path) -> None:
    """Run the README's commands in the project: secrets/ from .env's generated passwords."""
    subprocess.run(["bash", "-ec", "\n".join(SECRET_COMMANDS)], cwd=project, check=True, timeout=30)


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"([\d.]+)(ms|h|m|s)", duration)
    assert parts, duration
    return sum(float(value) * units[unit] for value, unit in parts)


def job_timeout_default(project: Path) -> int:
    """The JOB_TIMEOUT default in the bake's config/jobs.yaml (``${JOB_TIMEOUT:180}``)."""
    found = re.search(r"\$\{JOB_TIMEOUT:(\d+)\}", (project / "config" / "jobs.yaml").read_text())
    assert found, "config/jobs.yaml no longer reads JOB_TIMEOUT"
    return int(found.group(1))


# --- the stack file as rendered, without an engine -----------------------------------------------


def stack_config(project: Path, *files: Path, **env: str) -> dict[str, Any]:
    """``docker stack config`` (the CLI's own loader; no swarm needed) of the project's stack.yaml,
    with only PATH and HOME from this process: the defaults in the file, as a user without
    exported variables gets them."""
    if shutil.which("docker") is None:
        unavailable("the docker CLI is not installed; run `scripts/containers start`")
    if docker("stack", "config", "--help", check=False).returncode != 0:
        unavailable("this docker CLI has no `docker stack config` (the 28.x CLI has)")
    arguments = ["stack", "config", "-c", "stack.yaml"]
    for extra in files:
        arguments += ["-c", str(extra)]
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    result = subprocess.run(
        ["docker", *arguments],
        cwd=project,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module", params=["yes", "no"], ids=lambda answer: f"scheduler-{answer}")
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, dict[str, Any]]:
    project = bake(
        tmp_path_factory.mktemp(f"stack-{request.param}"), include_scheduler=request.param
    )
    write_secrets(project)
    return project, request.param, stack_config(project)


def test_stack_services_follow_the_scheduler_answer(rendered: Any) -> None:
    _, scheduler, config = rendered
    expected = {"redis", "web", "worker", "dashboard"} | (
        {"scheduler"} if scheduler == "yes" else set()
    )
    assert set(config["services"]) == expected


def test_every_service_has_replicas_a_restart_policy_and_resources(rendered: Any) -> None:
    _, _, config = rendered
    for name, service in config["services"].items():
        deploy = service["deploy"]
        assert "replicas" in deploy, name
        assert deploy["restart_policy"]["condition"] == "any", name
        for kind in ("limits", "reservations"):
            assert {"cpus", "memory"} <= set(deploy["resources"][kind]), (name, kind)
    replicas = {name: service["deploy"]["replicas"] for name, service in config["services"].items()}
    assert replicas["redis"] == replicas["web"] == 1
    assert replicas["worker"] == DEFAULT_WORKER_REPLICAS
    assert replicas["dashboard"] == 0, "the dashboard is off until scaled up"
    if "scheduler" in replicas:
        assert replicas["scheduler"] == 1


def test_web_updates_start_first_and_workers_stop_first_after_their_jobs(rendered: Any) -> None:
    project, _, config = rendered
    services = config["services"]
    assert services["web"]["deploy"]["update_config"]["order"] == "start-first"
    assert services["worker"]["deploy"]["update_config"]["order"] == "stop-first"
    assert services["redis"]["deploy"]["update_config"]["order"] == "stop-first"
    grace = seconds(services["worker"]["stop_grace_period"])
    assert grace > job_timeout_default(project), "a deploy would kill running jobs"
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "python", "queues.py", "health"]
    assert "/health" in " ".join(services["web"]["healthcheck"]["test"])


def test_one_prebuilt_image_for_every_app_service(rendered: Any) -> None:
    _, _, config = rendered
    services = {
        name: config["services"][name] for name in APP_SERVICES if name in config["services"]
    }
    assert len({service["image"] for service in services.values()}) == 1
    for name, service in services.items():
        assert "build" not in service, name
        assert service["init"] is True, name
        assert service["environment"]["QUEUE_CONNECTION"] == "redis", name
        assert service["environment"]["REDIS_HOST"] == "redis", name


def test_passwords_come_from_secrets_and_never_appear_in_the_services(rendered: Any) -> None:
    project, _, config = rendered
    services = config["services"]
    assert {name: set(spec) for name, spec in config["secrets"].items()} == {
        "redis_password": {"file"},
        "dashboard_password": {"file"},
    }
    for name, service in services.items():
        mounted = {secret["source"] for secret in service["secrets"]}
        assert "redis_password" in mounted, name
        if name != "redis":
            environment = service["environment"]
            assert environment["REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password", name
            assert environment["REDIS_PASSWORD"] == "", name
    assert services["dashboard"]["environment"]["DASHBOARD_PASSWORD_FILE"] == (
        "/run/secrets/dashboard_password"
    )
    redis = services["redis"]
    assert "/run/secrets/redis_password" in " ".join(redis["command"])
    assert "/run/secrets/redis_password" in " ".join(redis["healthcheck"]["test"])
    # `docker stack config` merges env_file into each service: the generated passwords must not
    # be among what it sends to the swarm.
    rendered_text = yaml.safe_dump(services)
    for secret in ("REDIS_PASSWORD", "DASHBOARD_PASSWORD"):
        value = dotenv(project)[secret]
        assert len(value) >= 32
        assert value not in rendered_text, f"{secret} is in a service definition"


def test_redis_keeps_its_data_and_is_not_published(rendered: Any) -> None:
    _, _, config = rendered
    redis = config["services"]["redis"]
    command = " ".join(redis["command"])
    for setting in ("--appendonly yes", "--dir /data", "--maxmemory-policy noeviction"):
        assert setting in command
    assert [volume["target"] for volume in redis["volumes"]] == ["/data"]
    assert not redis.get("ports")


def test_the_users_file_keeps_the_default_endpoint_and_publish_modes(rendered: Any) -> None:
    project, _, config = rendered
    for name, service in config["services"].items():
        assert "endpoint_mode" not in service["deploy"], name
        for port in service.get("ports") or []:
            assert port.get("mode", "ingress") == "ingress", name
    overridden = stack_config(project, OVERRIDE, WEB_PORT="8000", DASHBOARD_PORT="9181")
    assert {service["deploy"]["endpoint_mode"] for service in overridden["services"].values()} == {
        "dnsrr"
    }
    assert [port["mode"] for port in overridden["services"]["web"]["ports"]] == ["host"]


def test_every_variable_the_stack_file_reads_is_documented(rendered: Any) -> None:
    project, _, _ = rendered
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", (project / "stack.yaml").read_text()))
    documented = set(
        re.findall(r"^([A-Z_][A-Z0-9_]*)=", (project / ".env.example").read_text(), re.M)
    )
    assert read - documented == set()


def test_the_readme_shows_the_commands_this_test_runs(rendered: Any) -> None:
    project, _, _ = rendered
    readme = (project / "README.md").read_text()
    for command in (*SECRET_COMMANDS, "docker stack deploy -c stack.yaml", "docker stack rm"):
        assert command in readme, command


# --- the dashboard's password file ---------------------------------------------------------------


def dashboard_start() -> Any:
    return load_module(
        PROJECT_TEMPLATE / "docker" / "dashboard" / "dashboard_start.py", "dash_start"
    )


def test_dashboard_password_file_wins_over_the_variable(tmp_path: Path) -> None:
    secret = tmp_path / "dashboard_password"
    secret.write_text("from-the-secret\n")
    environ: MutableMapping[str, str] = {
        "DASHBOARD_PASSWORD_FILE": str(secret),
        "RQ_DASHBOARD_PASSWORD": "from-the-variable",
    }
    dashboard_start().password_from_file(environ)
    assert environ["RQ_DASHBOARD_PASSWORD"] == "from-the-secret"


def test_dashboard_without_a_password_file_keeps_the_variable() -> None:
    environ: MutableMapping[str, str] = {"RQ_DASHBOARD_PASSWORD": "from-the-variable"}
    dashboard_start().password_from_file(environ)
    assert environ == {"RQ_DASHBOARD_PASSWORD": "from-the-variable"}


def test_dashboard_refuses_a_missing_password_file(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    with pytest.raises(SystemExit, match="cannot read DASHBOARD_PASSWORD_FILE"):
        dashboard_start().password_from_file({"DASHBOARD_PASSWORD_FILE": str(missing)})


# --- a real single-node swarm ---------------------------------------------------------------------


@dataclass
class Stack:
    """One deployed stack of a baked project, and what the test needs to reach it."""

    directory: Path
    name: str
    environment: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def service(self, short: str) -> str:
        return f"{self.name}_{short}"

    def deploy(self) -> None:
        docker(
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            "stack.yaml",
            "-c",
            str(OVERRIDE),
            self.name,
            cwd=self.directory,
            env=self.environment,
            timeout=120,
        )

    def tasks(self, short: str, running: bool = True) -> list[dict[str, str]]:
        """``docker service ps`` rows (full task ids); only tasks meant to run, by default."""
        arguments = ["service", "ps", "--no-trunc", "--format", "{{json .}}", self.service(short)]
        if running:
            arguments[2:2] = ["--filter", "desired-state=running"]
        output = docker(*arguments).stdout
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def running_tasks(self, short: str) -> list[str]:
        return [
            task["ID"] for task in self.tasks(short) if task["CurrentState"].startswith("Running")
        ]

    def containers(self, short: str) -> dict[str, str]:
        """Running containers of a service: task id -> container hostname (its short id)."""
        output = docker(
            "ps",
            "--filter",
            f"label=com.docker.swarm.service.name={self.service(short)}",
            "--format",
            '{{.ID}} {{.Label "com.docker.swarm.task.id"}}',
        ).stdout
        return {
            task: container[:12]
            for container, task in (line.split() for line in output.splitlines())
        }

    def web_container(self) -> str:
        return next(iter(self.containers("web").values()))

    def exec_web(self, *command: str) -> str:
        result = docker("exec", self.web_container(), *command, timeout=60)
        return result.stdout.strip().splitlines()[-1]

    def live_workers(self) -> list[str]:
        """Hostnames of the RQ workers registered with a live heartbeat."""
        return json.loads(self.exec_web("python", "-c", LIVE_WORKERS))

    def worker_logs(self) -> list[tuple[str, str]]:
        """Every worker task's log lines, shut-down tasks included: (task id, line).

        Read from each task's container (``docker service logs`` can stall on tasks that are gone).
        """
        output = docker(
            "ps",
            "--all",
            "--filter",
            f"label=com.docker.swarm.service.name={self.service('worker')}",
            "--format",
            '{{.ID}} {{.Label "com.docker.swarm.task.id"}}',
        ).stdout
        lines = []
        for container, task in (line.split() for line in output.splitlines()):
            result = docker("logs", "--timestamps", container, check=False, timeout=60)
            # stdout and stderr arrive apart: the timestamps put them back in order
            stamped = [
                line.partition(" ")[::2] for line in (result.stdout + result.stderr).splitlines()
            ]
            stamped.sort(key=lambda pair: log_time(pair[0]))
            lines += [(task, text) for _, text in stamped]
        return lines

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.stack.namespace={self.name}"
        found = {}
        for kind, command in {
            "services": ["service", "ls", "--quiet", "--filter", label],
            "networks": ["network", "ls", "--quiet", "--filter", label],
            "secrets": ["secret", "ls", "--quiet", "--filter", label],
            "containers": ["ps", "--all", "--quiet", "--filter", label],
        }.items():
            found[kind] = docker(*command).stdout.split()
        return found

    def remove(self, timeout: float = 120) -> None:
        """``docker stack rm``, then wait until nothing of the stack is left."""
        docker("stack", "rm", self.name, check=False, timeout=120)
        empty = {"services": [], "networks": [], "secrets": [], "containers": []}
        wait_for(
            lambda: self.leftovers() == empty, timeout, "the stack is still there", interval=0.5
        )


def log_time(stamp: str) -> str:
    """Docker's RFC 3339 timestamp with the nanoseconds padded, so that text order is time order
    (``docker logs --timestamps`` drops trailing zeros)."""
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    return f"{seconds}.{fraction:0<9}"


def swarm_state() -> tuple[str, bool]:
    info = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    state, manager = info.stdout.split()
    return state, manager == "true"


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    """A swarm this engine manages: the one it is in, or one made here and left at the end."""
    require_engine()
    state, manager = swarm_state()
    initialised = False
    had_bridge = docker("network", "inspect", "docker_gwbridge", check=False).returncode == 0
    if state == "inactive":
        init = ["swarm", "init", "--advertise-addr", "127.0.0.1", *ADDRESS_POOL]
        result = docker(*init, check=False)
        if result.returncode != 0:
            pytest.fail(f"`docker swarm init` failed: {result.stderr.strip()}")
        initialised = True
    elif state != "active" or not manager:
        unavailable(f"this engine is in a swarm as {state}, not as a manager; the test deploys")
    try:
        yield
    finally:
        if initialised:
            docker("swarm", "leave", "--force", check=False)
            if not had_bridge:  # the swarm made it; leaving keeps it
                docker("network", "rm", "docker_gwbridge", check=False)


@pytest.fixture(scope="module")
def stack(swarm: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    project = bake(tmp_path_factory.mktemp("swarm"), python_version="3.11")
    write_secrets(project)
    name = f"eqswarm{uuid4().hex[:8]}"
    images = {"APP_IMAGE": f"{name}-app:test", "DASHBOARD_IMAGE": f"{name}-dashboard:test"}
    deployed = Stack(
        project,
        name,
        {
            **images,
            "WEB_PORT": str(free_port()),
            "DASHBOARD_PORT": str(free_port()),
            "WORKER_REPLICAS": str(WORKERS),
        },
    )
    try:
        started = time.monotonic()
        docker("build", "-q", "-t", images["APP_IMAGE"], ".", cwd=project, timeout=600)
        docker(
            "build",
            "-q",
            "-t",
            images["DASHBOARD_IMAGE"],
            "docker/dashboard",
            cwd=project,
            timeout=600,
        )
        deployed.timings["build"] = time.monotonic() - started
        started = time.monotonic()
        deployed.deploy()
        wait_for(lambda: converged(deployed), 180, "the stack did not start", interval=0.5)
        deployed.timings["deploy"] = time.monotonic() - started
        yield deployed
    finally:
        started = time.monotonic()
        try:
            deployed.remove()
        finally:
            deployed.timings["cleanup"] = time.monotonic() - started
            volumes = docker(
                "volume", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={name}"
            ).stdout.split()
            if volumes:
                docker("volume", "rm", "--force", *volumes, check=False)
            for image in images.values():
                remove_image(image)
            timings = ", ".join(f"{step} {value:.1f} s" for step, value in deployed.timings.items())
            print(f"\nswarm stack {name}: {timings}", file=sys.stderr)


def converged(stack: Stack) -> bool:
    """Every service runs its replicas, the web app reaches Redis, the workers are registered."""
    expected = {"redis": 1, "web": 1, "worker": WORKERS}
    if (stack.directory / "scheduler.py").exists():
        expected["scheduler"] = 1
    if any(len(stack.running_tasks(short)) != count for short, count in expected.items()):
        return False
    if web(stack, "GET", "/ready")[0] != 200:
        return False
    return len(stack.live_workers()) == WORKERS


def web(stack: Stack, method: str, path: str) -> tuple[int, dict[str, Any]]:
    """A request to the stack's web service; status 0 while nothing answers yet."""
    try:
        return web_request(stack.environment["WEB_PORT"], method, path)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}


def wait_until_done(stack: Stack, job_ids: list[str], timeout: float) -> dict[str, dict]:
    done: dict[str, dict] = {}

    def all_done() -> bool:
        for job_id in job_ids:
            if job_id not in done:
                status, state = web(stack, "GET", f"/jobs/{job_id}")
                if status == 200 and state["status"] in (FINISHED, FAILED):
                    done[job_id] = state
        return len(done) == len(job_ids)

    wait_for(all_done, timeout, f"{len(job_ids) - len(done)} of {len(job_ids)} jobs not done")
    return done


def starts(stack: Stack) -> Counter[str]:
    """How often each job id was started, over every worker task's log."""
    return Counter(
        found.group(1)
        for _, line in stack.worker_logs()
        if (found := re.search(r"Job started job_id=(\w+)", line))
    )


def test_the_stack_runs_every_service_with_its_replicas(stack: Stack) -> None:
    assert len(stack.running_tasks("redis")) == 1
    assert len(stack.running_tasks("web")) == 1
    assert len(stack.running_tasks("worker")) == WORKERS
    assert stack.tasks("dashboard") == []
    assert sorted(stack.live_workers()) == sorted(stack.containers("worker").values())


def test_redis_requires_the_secret_and_no_service_definition_holds_a_password(stack: Stack) -> None:
    redis = next(iter(stack.containers("redis").values()))
    refused = docker("exec", redis, "redis-cli", "ping", check=False)
    assert "NOAUTH" in refused.stdout + refused.stderr
    check = docker("exec", stack.web_container(), "python", "queues.py", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "answers (password)" in check.stdout, "the app did not log in with the secret"
    services = docker("stack", "services", "--quiet", stack.name).stdout.split()
    inspected = docker("service", "inspect", *services).stdout
    for secret in ("REDIS_PASSWORD", "DASHBOARD_PASSWORD"):
        assert dotenv(stack.directory)[secret] not in inspected, secret


def test_thirty_jobs_through_web_run_once_over_at_least_two_worker_tasks(stack: Stack) -> None:
    job_ids = []
    for report_id in range(1, JOBS + 1):
        status, body = web(stack, "POST", f"/reports/{report_id}/rebuild")
        assert (status, body.get("status")) == (200, "queued"), body
        job_ids.append(body["job_id"])
    done = wait_until_done(stack, job_ids, timeout=120)

    assert {state["status"] for state in done.values()} == {FINISHED}
    assert sorted(state["result"]["report_id"] for state in done.values()) == list(
        range(1, JOBS + 1)
    )
    hostnames = Counter(state["result"]["hostname"] for state in done.values())
    assert len(hostnames) >= 2, f"every job ran in one worker task: {hostnames}"
    assert set(hostnames) <= set(stack.containers("worker").values())
    started = starts(stack)
    assert {job_id: started[job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)


def test_dashboard_logs_in_with_the_secret_password(stack: Stack) -> None:
    docker("service", "scale", "--detach", f"{stack.service('dashboard')}=1")
    url = f"http://127.0.0.1:{stack.environment['DASHBOARD_PORT']}/0/data/queues.json"

    def refuses_strangers() -> bool:
        try:
            urllib.request.urlopen(url, timeout=5)
        except urllib.error.HTTPError as error:
            return error.code == 401
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return False

    wait_for(refuses_strangers, 90, "the dashboard never answered 401", interval=0.5)
    password = (stack.directory / "secrets" / "dashboard_password").read_text()
    request = urllib.request.Request(url)
    login = base64.b64encode(b"admin:" + password.encode()).decode()
    request.add_header("Authorization", f"Basic {login}")
    with urllib.request.urlopen(request, timeout=10) as response:
        queues = json.loads(response.read())["queues"]
    assert "default" in {queue["name"] for queue in queues}
    docker("service", "scale", "--detach", f"{stack.service('dashboard')}=0")


def test_workers_scale_from_two_to_four(stack: Stack) -> None:
    started = time.monotonic()
    docker("service", "scale", "--detach", f"{stack.service('worker')}={MORE_WORKERS}")

    def four_registered() -> bool:
        if len(stack.running_tasks("worker")) != MORE_WORKERS:
            return False
        return sorted(stack.live_workers()) == sorted(stack.containers("worker").values())

    wait_for(four_registered, 120, "four workers did not run and register", interval=0.5)
    stack.timings["scale 2 -> 4"] = time.monotonic() - started


def test_rolling_update_of_workers_loses_and_duplicates_no_job(stack: Stack) -> None:
    """80 jobs of 1.5 s (``time.sleep``, pushed with the app's queue API inside the web task), then
    ``docker service update --force`` of the workers: each job runs once and finishes, and the
    replaced workers finished the job they were running and exited 0."""
    old_tasks = set(stack.running_tasks("worker"))
    assert len(old_tasks) == MORE_WORKERS
    job_ids = json.loads(
        stack.exec_web("python", "-c", PUSH_SLOW_JOBS, str(SLOW_JOBS), str(SLOW_JOB_SECONDS))
    )
    assert len(job_ids) == SLOW_JOBS
    busy = job_ids[:MORE_WORKERS]
    wait_for(
        lambda: all(
            web(stack, "GET", f"/jobs/{job_id}")[1].get("status") not in (None, "queued")
            for job_id in busy
        ),
        60,
        "the workers did not take the first jobs",
        interval=0.2,
    )

    started = time.monotonic()
    docker("service", "update", "--detach", "--force", stack.service("worker"))

    def all_replaced() -> bool:
        running = set(stack.running_tasks("worker"))
        if len(running) != MORE_WORKERS or running & old_tasks:
            return False
        return sorted(stack.live_workers()) == sorted(stack.containers("worker").values())

    wait_for(all_replaced, 180, "the rolling update did not replace every worker", interval=0.5)
    stack.timings["rolling update"] = time.monotonic() - started
    done = wait_until_done(stack, job_ids, timeout=180)

    assert Counter(state["status"] for state in done.values()) == {FINISHED: SLOW_JOBS}
    started_count = starts(stack)
    assert {job_id: started_count[job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)
    # Warm shutdown: an old task was told to stop while a job ran, finished that job, then exited 0.
    logs = stack.worker_logs()
    stopped_mid_job = set()
    for task in old_tasks:
        lines = [line for owner, line in logs if owner == task]
        running: set[str] = set()
        for line in lines:
            if found := re.search(r"Job started job_id=(\w+)", line):
                running.add(found.group(1))
            elif found := re.search(r"Job finished job_id=(\w+)", line):
                running.discard(found.group(1))
            elif "warm shut down requested" in line and running:
                stopped_mid_job.add(task)
    assert stopped_mid_job, "no worker was stopped mid-job: the update did not test warm shutdown"
    states = {task["ID"]: task for task in stack.tasks("worker", running=False)}
    for task in old_tasks:
        assert states[task]["CurrentState"].startswith("Shutdown"), states[task]
        exit_code = docker(
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            *docker(
                "ps", "-aq", "--filter", f"label=com.docker.swarm.task.id={task}"
            ).stdout.split(),
        ).stdout.split()
        assert exit_code == ["0"], f"worker task {task} exited {exit_code}"


def test_stack_rm_leaves_no_service_network_or_secret(stack: Stack) -> None:
    started = time.monotonic()
    stack.remove()
    stack.timings["rm"] = time.monotonic() - started
    assert stack.leftovers() == {"services": [], "networks": [], "secrets": [], "containers": []}
