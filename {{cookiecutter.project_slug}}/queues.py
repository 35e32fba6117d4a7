"""Worker entry point: ``python queues.py`` (needs QUEUE_CONNECTION=redis and a reachable Redis).

``python queues.py check`` verifies the deployment checklist (see app/checklist.py) and
``python queues.py health`` is the worker container's healthcheck (its RQ heartbeat).
"""

from __future__ import annotations

import argparse
import sys

from app import app
from app.checklist import run_checklist, run_health
from app.queue.worker import run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a queue worker.")
    parser.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    parser.add_argument("--name", help="worker name (default: hostname and pid)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify the deployment checklist first; exit 1 instead of starting if it fails",
    )
    commands = parser.add_subparsers(dest="command", metavar="{check,health}")
    commands.add_parser(
        "check", help="verify the deployment checklist, one line per item; exit 1 if any fails"
    )
    commands.add_parser(
        "health", help="exit 0 when this host's worker is registered with a live RQ heartbeat"
    )
    arguments = parser.parse_args(argv)
    application = app()
    if arguments.command == "check":
        return run_checklist(application)
    if arguments.command == "health":
        return run_health(application)
    if arguments.check and run_checklist(application, live=False) != 0:
        return 1
    return run_worker(application, burst=arguments.burst, name=arguments.name)


if __name__ == "__main__":
    sys.exit(main())
