"""The deployment checklist (``python queues.py check``) and the worker healthcheck (``health``).

Live workers and RQ's scheduler lock are registered the way RQ registers them, in a private
redis-server (skipped without one, except in CI).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from rq.scheduler import RQScheduler

import queues
from app import Application
from app.queue.commands.checklist import find_tasks
from tests.conftest import make_application
from tests.support.redis_server import RedisServer, free_port, start_or_skip

ITEMS = ["connection", "fast_path", "redis", "tasks", "workers", "scheduler"]


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture(scope="module")
def redis_server_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    password = "s3cret-for-tests"
    server = start_or_skip(RedisServer(tmp_path_factory.mktemp("redis-auth"), password=password))
    yield server
    server.stop()


def redis_app(tmp_path: Path, server: RedisServer, **variables: str) -> Application:
    return make_application(
        tmp_path, **{"QUEUE_CONNECTION": "redis", **server.environment(), **variables}
    )


def register_worker(client: Redis, queues: list[str] | None = None, name: str = "w1") -> Worker:
    worker = Worker(queues or ["default"], connection=client, name=name)
    worker.register_birth()
    return worker


def hold_scheduler_lock(client: Redis, queues: list[str] | None = None) -> None:
    assert RQScheduler(queues or ["default"], connection=client).acquire_locks()


def checklist(application: Application, live: bool = True) -> tuple[int, list[str]]:
    """What ``python queues.py check`` (``--check`` with ``live=False``) prints, and its code."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = queues.print_checklist(application, live=live)
    return code, out.getvalue().splitlines()


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_check_passes_with_a_live_worker_and_its_scheduler(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    register_worker(redis_client)
    hold_scheduler_lock(redis_client)
    code, lines = checklist(redis_app(tmp_path, redis_server))
    assert code == 0, lines
    assert [line.split()[1].rstrip(":") for line in lines] == ITEMS
    assert all(line.startswith("ok ") for line in lines)


def test_sync_connection_is_the_one_failing_line(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    register_worker(redis_client)
    hold_scheduler_lock(redis_client)
    code, lines = checklist(redis_app(tmp_path, redis_server, QUEUE_CONNECTION="sync"))
    assert code == 1
    assert failing(lines) == [
        "FAIL connection: QUEUE_CONNECTION is 'sync', so jobs run inline instead of on workers;"
        " set QUEUE_CONNECTION=redis"
    ]


def test_unreachable_redis_fails_once_and_skips_what_needs_it(tmp_path: Path) -> None:
    application = make_application(
        tmp_path, QUEUE_CONNECTION="redis", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port())
    )
    code, lines = checklist(application)
    assert code == 1
    assert [line.split(":")[0] for line in lines] == [
        "ok   connection",
        "ok   fast_path",
        "FAIL redis",
        "ok   tasks",
        "skip workers",
        "skip scheduler",
    ]
    assert "unreachable" in lines[2]


def test_wrong_password_fails_the_redis_item(
    tmp_path: Path, redis_server_with_password: RedisServer
) -> None:
    environment = {**redis_server_with_password.environment(), "REDIS_PASSWORD": "wrong"}
    application = make_application(tmp_path, QUEUE_CONNECTION="redis", **environment)
    code, lines = checklist(application)
    assert code == 1
    assert failing(lines)[0].startswith("FAIL redis:")
    assert "authentication" in failing(lines)[0]


def test_workers_in_another_database_are_named(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    other_db = Redis(host="127.0.0.1", port=redis_server.port, db=1)
    register_worker(other_db)
    hold_scheduler_lock(other_db)
    code, lines = checklist(redis_app(tmp_path, redis_server))
    assert code == 1
    workers = next(line for line in lines if line.startswith("FAIL workers"))
    assert "/0" in workers and "registered in db 1" in workers
    other_db.close()


def test_a_queue_no_live_worker_listens_on_fails(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    register_worker(redis_client, ["default"])
    hold_scheduler_lock(redis_client, ["default", "reports"])
    code, lines = checklist(redis_app(tmp_path, redis_server, JOB_QUEUE="reports"))
    assert code == 1
    assert [line.split(":")[0] for line in failing(lines)] == ["FAIL workers"]
    assert "'reports' (from JOB_QUEUE)" in failing(lines)[0]


def test_a_queue_without_rq_scheduler_fails_the_scheduler_item(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    register_worker(redis_client)
    code, lines = checklist(redis_app(tmp_path, redis_server))
    assert code == 1
    assert [line.split(":")[0] for line in failing(lines)] == ["FAIL scheduler"]


def test_a_worker_that_shut_down_is_not_live(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    register_worker(redis_client).register_death()
    hold_scheduler_lock(redis_client)
    code, lines = checklist(redis_app(tmp_path, redis_server))
    assert code == 1
    assert "no worker with a live heartbeat" in failing(lines)[0]


def test_startup_variant_compares_worker_queues_and_skips_the_scheduler(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    code, lines = checklist(redis_app(tmp_path, redis_server), live=False)
    assert code == 0, lines
    assert lines[-1].startswith("skip scheduler:")

    code, lines = checklist(redis_app(tmp_path, redis_server, WORKER_QUEUES="other"), live=False)
    assert code == 1
    assert failing(lines)[0].startswith("FAIL workers: this worker listens on other")


def write_package(root: Path, name: str, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)


def test_find_tasks_names_a_module_that_cannot_be_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_package(
        tmp_path,
        "checklist_jobs_broken",
        {"good": "def ok(x):\n    return x\n", "bad": "import not_installed_anywhere\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    tasks = find_tasks("checklist_jobs_broken")
    assert list(tasks.functions) == ["checklist_jobs_broken.good.ok"]
    assert tasks.problems == [
        "checklist_jobs_broken.bad cannot be imported"
        " (ModuleNotFoundError: No module named 'not_installed_anywhere')"
    ]


def test_find_tasks_collects_the_queues_named_by_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        "from app.queue import task\n\n\n"
        "@task(queue='reports')\ndef build(x):\n    return x\n\n\n"
        "def _helper():\n    pass\n"
    )
    write_package(tmp_path, "checklist_jobs_queues", {"reports": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    tasks = find_tasks("checklist_jobs_queues")
    assert tasks.problems == []
    assert tasks.queues("default") == {
        "default": ["JOB_QUEUE"],
        "reports": ["@task on checklist_jobs_queues.reports.build"],
    }


def test_every_task_of_this_project_is_importable() -> None:
    tasks = find_tasks()
    assert tasks.problems == []
    assert "app.jobs.reports.rebuild_report" in tasks.functions


def health(application: Application) -> tuple[int, str]:
    """What ``python queues.py health`` prints, and its code."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = queues.print_health(application)
    return code, out.getvalue().strip()


def test_health_is_ok_for_a_live_worker_of_this_host(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    register_worker(redis_client)
    assert health(redis_app(tmp_path, redis_server)) == (0, "healthy")


def test_health_fails_without_a_worker_of_this_host(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    worker = register_worker(redis_client)
    redis_client.hset(worker.key, "hostname", "another-host")
    code, message = health(redis_app(tmp_path, redis_server))
    assert code == 1
    assert "no RQ worker of host" in message


def test_health_fails_for_a_registration_whose_process_is_gone(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **CAPTURE)
    worker = register_worker(redis_client)
    redis_client.hset(worker.key, "pid", finished.stdout.strip())
    code, message = health(redis_app(tmp_path, redis_server))
    assert code == 1
    assert "belongs to a process that is gone" in message


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_health_fails_for_a_registration_older_than_its_process(
    tmp_path: Path, redis_server: RedisServer, redis_client: Redis
) -> None:
    worker = register_worker(redis_client)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    redis_client.hset(worker.key, "birth", long_ago.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    code, message = health(redis_app(tmp_path, redis_server))
    assert code == 1
    assert "belongs to a process that is gone" in message


def test_health_fails_when_redis_is_unreachable(tmp_path: Path) -> None:
    application = make_application(
        tmp_path, QUEUE_CONNECTION="redis", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port())
    )
    code, message = health(application)
    assert code == 1
    assert message.startswith("unhealthy: Redis at 127.0.0.1:")


CAPTURE = {"capture_output": True, "text": True, "check": True, "timeout": 30}


def test_queues_cli_keeps_burst_and_name_and_runs_the_check_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(
        queues, "run_worker", lambda settings, log, burst, name: calls.append(("work", burst, name))
    )
    monkeypatch.setattr(
        queues, "print_checklist", lambda application, live: calls.append(("check", live)) or 0
    )
    queues.main(["--burst", "--name", "w7"])
    assert calls == [("work", True, "w7")]

    calls.clear()
    queues.main(["--check"])
    assert calls == [("check", False), ("work", False, None)]

    calls.clear()
    monkeypatch.setattr(
        queues, "print_checklist", lambda application, live: calls.append(("check", live)) or 1
    )
    assert queues.main(["--check"]) == 1
    assert calls == [("check", False)]


def test_queues_cli_check_and_health_subcommands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queues, "print_checklist", lambda application, live: 3 if live else 4)
    monkeypatch.setattr(queues, "print_health", lambda application: 5)
    assert queues.main(["check"]) == 3
    assert queues.main(["health"]) == 5


def test_an_unusable_redis_url_is_one_fail_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "rediss://app:t0p/secret@cache.example.com:6380/0"  # "/" not percent-encoded

    def configured() -> Application:
        return make_application(tmp_path, QUEUE_CONNECTION="redis", REDIS_URL=url)

    monkeypatch.setattr(queues, "app", configured)
    assert queues.main(["check"]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("FAIL config: config/queue.yaml: queue.connections.redis.url")
    assert "(REDIS_URL)" in line
    assert "rediss://app:***@" in line and "percent-encode" in line
    assert "t0p" not in line and "secret" not in line
    assert queues.main(["health"]) == 2
    assert "t0p" not in capsys.readouterr().err
