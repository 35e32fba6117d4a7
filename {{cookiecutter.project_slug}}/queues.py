"""Worker entry point: ``python queues.py`` (needs QUEUE_CONNECTION=redis and a reachable Redis)."""

from __future__ import annotations

import argparse
import sys

from app import app
from app.queue.worker import run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a queue worker.")
    parser.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    parser.add_argument("--name", help="worker name (default: hostname and pid)")
    arguments = parser.parse_args(argv)
    return run_worker(app(), burst=arguments.burst, name=arguments.name)


if __name__ == "__main__":
    sys.exit(main())
