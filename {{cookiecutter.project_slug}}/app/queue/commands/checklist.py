"""The deployment checklist, verified from inside any container: ``python queues.py check``.

Each item prints one line, ``ok``, ``FAIL`` or ``skip``, and the run fails when any item fails:

- ``connection``: QUEUE_CONNECTION is ``redis``, so pushes go to workers.
- ``fast_path``: whether QUEUE_FAST_PATH is on and in use with the installed RQ (never fails).
- ``redis``: Redis answers PING with the configured login; the line names the mode (plain, TLS,
  Sentinel) and, with QUEUE_PUSH_REPLICAS, fails when Redis has fewer connected replicas.
- ``tasks``: every module in ``app/jobs`` imports, and every public function in it is importable
  by name, as a worker will import it.
- ``workers``: producers and workers agree on the Redis database and the queue names. Checked
  against what RQ itself records in Redis: in *this* process's database there are workers with a
  live heartbeat, and together they listen on every queue this process pushes to (JOB_QUEUE and
  the queues named by ``@task`` in ``app/jobs``). A producer configured with another database or
  queue than the workers fails here, and the line says where the workers are instead. The line
  counts the job slots too: WORKER_CONCURRENCY summed over the live workers.
- ``scheduler``: RQ's scheduler runs, so ``push_at`` jobs are moved to their queue on time: for
  every queue producers push to, a worker's scheduler holds RQ's scheduler lock.

Run in the web container, the check proves the web app reaches the workers; run in a worker, it
proves the worker's own view. At a worker's start-up (``python queues.py --check``) no worker of
this deployment may run yet, so the live items are replaced by what can be known before start:
``workers`` checks that WORKER_QUEUES shares a queue with the queues tasks are pushed to, and
``scheduler`` is skipped (the worker about to start runs RQ's scheduler itself).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rq
from redis import Redis
from redis.sentinel import MasterNotFoundError
from rq.worker import Worker

from app.queue.commands.worker_registry import (
    WorkerRecord,
    databases_with_workers,
    live_workers,
    scheduler_lock_holders,
)
from app.queue.fast_path import fast_path_enabled
from app.queue.options import task_overrides
from app.queue.portability import NotPortable, check_importable
from app.queue.redis_clients import (
    describe_error,
    master_address,
    monitored_masters,
    producer_client,
)
from app.queue.settings import QueueSettings, RedisSettings

TASK_PACKAGE = "app.jobs"
OK, FAIL, SKIP = "ok", "FAIL", "skip"


@dataclass(frozen=True)
class Item:
    """One checklist line."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Tasks:
    """The task functions found in ``app/jobs`` and what kept others from loading."""

    functions: dict[str, Callable[..., Any]]
    problems: list[str]

    def queues(self, default_queue: str) -> dict[str, list[str]]:
        """Each queue jobs are pushed to, with who sends them there."""
        queues: dict[str, list[str]] = {default_queue: ["JOB_QUEUE"]}
        for name, func in self.functions.items():
            queue = task_overrides(func).get("queue")
            if queue and queue != default_queue:
                queues.setdefault(queue, []).append(f"@task on {name}")
        return queues


def find_tasks(package: str = TASK_PACKAGE) -> Tasks:
    """Import every module of ``package`` and collect its public module-level functions."""
    problems: list[str] = []
    functions: dict[str, Callable[..., Any]] = {}
    try:
        root = importlib.import_module(package)
    except Exception as error:
        return Tasks({}, [f"{package} cannot be imported ({type(error).__name__}: {error})"])

    def failed(name: str) -> None:
        error = sys.exc_info()[1]
        problems.append(f"{name} cannot be imported ({type(error).__name__}: {error})")

    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.", onerror=failed):
        try:
            module = importlib.import_module(info.name)
        except Exception as error:
            problems.append(f"{info.name} cannot be imported ({type(error).__name__}: {error})")
            continue
        for attribute, value in vars(module).items():
            if attribute.startswith("_") or not inspect.isfunction(value):
                continue
            if value.__module__ != module.__name__:
                continue  # imported from elsewhere, e.g. `from app import app`
            try:
                check_importable(value)
            except NotPortable as error:
                problems.append(str(error))
                continue
            functions[f"{module.__name__}.{attribute}"] = value
    return Tasks(functions, problems)


def check(
    settings: QueueSettings,
    log: logging.Logger,
    live: bool = True,
    task_package: str = TASK_PACKAGE,
) -> list[Item]:
    """Verify every checklist item; ``live=False`` is the worker's start-up variant."""
    items = [_connection_item(settings.connection), _fast_path_item(settings, log)]
    client = producer_client(settings.redis)
    try:
        redis_item = _redis_item(client, settings.redis)
        items.append(redis_item)
        tasks = find_tasks(task_package)
        items.append(_tasks_item(tasks, task_package))
        queues = tasks.queues(settings.defaults.queue)
        if redis_item.status != OK:
            reason = "needs Redis to answer"
            items += [Item("workers", SKIP, reason), Item("scheduler", SKIP, reason)]
        elif live:
            items += [
                _live_workers_item(client, settings.redis, queues),
                _scheduler_item(client, queues),
            ]
        else:
            items += [
                _startup_workers_item(
                    settings.worker_queues, queues, settings.worker_timing.concurrency
                ),
                Item(
                    "scheduler",
                    SKIP,
                    "checked once workers run (`python queues.py check`);"
                    " this worker starts RQ's scheduler",
                ),
            ]
    finally:
        client.close()
    return items


def passed(items: list[Item]) -> bool:
    """True when no item failed."""
    return all(item.status != FAIL for item in items)


def _connection_item(connection: str) -> Item:
    if connection == "redis":
        return Item("connection", OK, "QUEUE_CONNECTION=redis")
    return Item(
        "connection",
        FAIL,
        f"QUEUE_CONNECTION is {connection!r}, so jobs run inline instead of on workers;"
        " set QUEUE_CONNECTION=redis",
    )


def _fast_path_item(settings: QueueSettings, log: logging.Logger) -> Item:
    if not settings.fast_path:
        return Item("fast_path", OK, "off (QUEUE_FAST_PATH=false): RQ's own enqueue and worker")
    if fast_path_enabled(settings.fast_path, log):
        return Item(
            "fast_path", OK, f"on (QUEUE_FAST_PATH=true, verified with RQ {rq.__version__})"
        )
    return Item(
        "fast_path",
        OK,
        f"off: QUEUE_FAST_PATH=true, but RQ {rq.__version__} is not a verified version",
    )


def _redis_item(client: Redis, redis: RedisSettings) -> Item:
    try:
        client.ping()
        version = client.info("server").get("redis_version", "unknown")
        replicas = (
            int(client.info("replication").get("connected_slaves", 0)) if redis.push_replicas else 0
        )
        master = master_address(client)
    except MasterNotFoundError as error:
        return Item("redis", FAIL, _unknown_master(redis) or describe_error(error, redis))
    except Exception as error:
        return Item("redis", FAIL, describe_error(error, redis))
    login = f"password as {redis.username}" if redis.username else "password"
    login = login if redis.password else "no password"
    answers = f"Redis {version} at {redis.address} answers ({login}); mode {redis.mode}"
    if master is not None:
        answers += f", master now at {master}"
    if replicas < redis.push_replicas:
        return Item(
            "redis",
            FAIL,
            f"{answers}; but it has {replicas} connected replica(s) and QUEUE_PUSH_REPLICAS is"
            f" {redis.push_replicas}: every push would return False",
        )
    if redis.push_replicas:
        answers += f"; pushes wait for {redis.push_replicas} of its {replicas} replica(s)"
    return Item("redis", OK, answers)


def _unknown_master(redis: RedisSettings) -> str | None:
    """When the Sentinels answer but monitor no master of the configured name, say which they
    monitor."""
    known = monitored_masters(redis)
    if known is None or redis.sentinel is None or redis.sentinel.master in known:
        return None
    return (
        f"the Sentinels at {redis.sentinel.addresses} monitor no master named"
        f" {redis.sentinel.master!r} (they monitor: {', '.join(sorted(known)) or 'none'});"
        " set REDIS_SENTINEL_MASTER to one of them"
    )


def _tasks_item(tasks: Tasks, task_package: str) -> Item:
    if tasks.problems:
        return Item("tasks", FAIL, "; ".join(tasks.problems))
    if not tasks.functions:
        return Item("tasks", FAIL, f"no task functions found in {task_package}")
    return Item(
        "tasks", OK, f"{len(tasks.functions)} importable: {', '.join(sorted(tasks.functions))}"
    )


def _live_workers_item(client: Redis, redis: RedisSettings, queues: dict[str, list[str]]) -> Item:
    workers = live_workers(client)
    if not workers:
        elsewhere = databases_with_workers(redis)
        hint = (
            f"; workers are registered in db {', '.join(map(str, elsewhere))}: make REDIS_DB agree"
            if elsewhere
            else "; start workers (`python queues.py`) against this Redis and database"
        )
        return Item(
            "workers", FAIL, f"no worker with a live heartbeat in Redis {redis.address}{hint}"
        )
    served = {queue for worker in workers for queue in worker.queues}
    missing = {queue: senders for queue, senders in queues.items() if queue not in served}
    if missing:
        described = "; ".join(
            f"{queue!r} (from {', '.join(senders)})" for queue, senders in missing.items()
        )
        return Item(
            "workers",
            FAIL,
            f"no live worker listens on {described}; workers listen on"
            f" {', '.join(sorted(served))}: add the queue to WORKER_QUEUES or change JOB_QUEUE",
        )
    return Item(
        "workers",
        OK,
        f"{len(workers)} live in {redis.address} on {', '.join(sorted(served))},"
        f" covering {', '.join(sorted(queues))}; {_job_slots(client, workers)} job slots",
    )


def _job_slots(client: Redis, workers: list[WorkerRecord]) -> int:
    """Jobs the live workers run at once: WORKER_CONCURRENCY each (``ThreadedJobs`` records it
    in RQ's worker hash; a worker without the field runs one job at a time)."""
    with client.pipeline(transaction=False) as pipeline:
        for worker in workers:
            pipeline.hget(f"{Worker.redis_worker_namespace_prefix}{worker.name}", "concurrency")
        return sum(int(value or 1) for value in pipeline.execute())


def _scheduler_item(client: Redis, queues: dict[str, list[str]]) -> Item:
    holders = scheduler_lock_holders(client, sorted(queues))
    unscheduled = [queue for queue, holder in holders.items() if holder is None]
    if unscheduled:
        return Item(
            "scheduler",
            FAIL,
            f"no RQ scheduler holds the lock for {', '.join(unscheduled)}: push_at jobs there will"
            " not run; run workers with `python queues.py` (it starts RQ's scheduler)",
        )
    return Item("scheduler", OK, f"RQ's scheduler runs for {', '.join(sorted(holders))}")


def _startup_workers_item(
    worker_queues: tuple[str, ...], queues: dict[str, list[str]], concurrency: int
) -> Item:
    shared = sorted(set(worker_queues) & set(queues))
    if shared:
        return Item(
            "workers",
            OK,
            f"this worker listens on {', '.join(worker_queues)},"
            f" {concurrency} job{'s' if concurrency > 1 else ''} at once"
            f" (WORKER_CONCURRENCY={concurrency})",
        )
    return Item(
        "workers",
        FAIL,
        f"this worker listens on {', '.join(worker_queues)} (WORKER_QUEUES), but jobs are pushed"
        f" to {', '.join(sorted(queues))} (JOB_QUEUE and @task queues); make them agree",
    )
