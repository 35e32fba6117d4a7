"""Worker entry point: ``python queues.py`` (needs QUEUE_CONNECTION=redis and a reachable Redis).

``python queues.py check`` verifies the deployment checklist (see app/checklist.py),
``python queues.py health`` is the worker container's healthcheck (its RQ heartbeat), and
``python queues.py failed`` / ``retry ID`` / ``retry --all`` list and requeue failed jobs.
"""

from __future__ import annotations

import argparse
import sys

from app import app
from app.checklist import run_checklist, run_health
from app.queue.failures import retry_failed, show_failed
from app.queue.worker import run_worker


def main(argv: list[str] | None = None) -> int:
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
    arguments = parser.parse_args(argv)
    application = app()
    if arguments.command == "check":
        return run_checklist(application)
    if arguments.command == "health":
        return run_health(application)
    if arguments.command == "failed":
        return show_failed(application)
    if arguments.command == "retry":
        return retry_failed(application, None if arguments.all else arguments.job_id)
    if arguments.check and run_checklist(application, live=False) != 0:
        return 1
    return run_worker(application, burst=arguments.burst, name=arguments.name)


if __name__ == "__main__":
    sys.exit(main())
