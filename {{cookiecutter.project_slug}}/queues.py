"""Worker entry point: ``python queues.py`` (needs QUEUE_CONNECTION=redis and a reachable Redis).

``python queues.py check`` verifies the deployment checklist (app/queue/commands/checklist.py),
``python queues.py health`` is the worker container's healthcheck (its RQ heartbeat), and
``python queues.py failed`` / ``retry ID`` / ``retry --all`` list and requeue failed jobs.
The commands return data; this file prints it.
"""

from __future__ import annotations

import argparse
import sys

from app import Application, ConfigError, app
from app.queue.commands.checklist import check, passed
from app.queue.commands.failed_jobs import failed_jobs, failed_queue_names, requeue
from app.queue.commands.health import worker_health_problem
from app.queue.redis_clients import producer_client
from app.queue.serialization import serializer_for
from app.queue.worker import run_worker


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        application = app()
    except ConfigError as error:
        return print_config_error(arguments, error)
    if arguments.command == "check":
        return print_checklist(application, live=True)
    if arguments.command == "health":
        return print_health(application)
    if arguments.command in ("failed", "retry"):
        return failed_command(application, arguments)
    if arguments.check and print_checklist(application, live=False) != 0:
        return 1
    return run_worker(
        application.queue_settings, application.log(), burst=arguments.burst, name=arguments.name
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run a queue worker.")
    parser.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    parser.add_argument("--name", help="worker name (default: hostname, pid and a random suffix)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify the deployment checklist first; exit 1 instead of starting if it fails",
    )
    commands = parser.add_subparsers(dest="command", metavar="{check,health,failed,retry}")
    commands.add_parser(
        "check", help="verify the deployment checklist, one line per item; exit 1 if any fails"
    )
    commands.add_parser(
        "health", help="exit 0 when this host's worker is registered with a live RQ heartbeat"
    )
    commands.add_parser("failed", help="list failed jobs: id, queue, call, last exception line")
    retry = commands.add_parser("retry", help="requeue one failed job, or all of them")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?", help="the failed job to requeue")
    target.add_argument("--all", action="store_true", help="requeue every failed job")
    return parser


def print_config_error(arguments: argparse.Namespace, error: ConfigError) -> int:
    """A configuration that cannot be used: one ``FAIL config`` line for ``check`` (exit 1),
    else one line on stderr (exit 2). Messages name the file, key and variable, never a
    password."""
    if arguments.command == "check":
        print(f"FAIL config: {error}", flush=True)
        return 1
    print(f"Not started: {error}", file=sys.stderr, flush=True)
    return 2


def print_checklist(application: Application, live: bool) -> int:
    """One line per checklist item; 0 when none failed, else 1."""
    items = check(application.queue_settings, application.log(), live=live)
    for item in items:
        print(item.line(), flush=True)
    return 0 if passed(items) else 1


def print_health(application: Application) -> int:
    """``healthy`` and 0, or ``unhealthy: <why>`` and 1."""
    problem = worker_health_problem(application.queue_settings.redis)
    print(f"unhealthy: {problem}" if problem else "healthy", flush=True)
    return 1 if problem else 0


def failed_command(application: Application, arguments: argparse.Namespace) -> int:
    """``failed``: one line per failed job. ``retry``: requeue; 1 when nothing matched."""
    settings = application.queue_settings
    if settings.connection != "redis":
        print("Failed jobs live in Redis; set QUEUE_CONNECTION=redis", file=sys.stderr)
        return 2
    client = producer_client(settings.redis)
    queue_names = failed_queue_names(settings)
    serializer = serializer_for(settings.serializer)
    if arguments.command == "failed":
        jobs = failed_jobs(client, queue_names, serializer)
        for job in jobs:
            print(job.line())
        print(f"{len(jobs)} failed job(s) in {', '.join(queue_names)}")
        return 0
    job_id = None if arguments.all else arguments.job_id
    requeued = requeue(client, queue_names, job_id, serializer)
    for requeued_id in requeued:
        print(f"requeued {requeued_id}")
    if not requeued:
        print(f"no failed job {job_id}" if job_id else "no failed jobs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
