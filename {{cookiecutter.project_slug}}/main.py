"""A short demo: push two jobs and show where they ran. ``python main.py``."""

from __future__ import annotations

from app import app
from app.jobs.emails import send_email
from app.jobs.reports import rebuild_report


def main() -> int:
    application = app()
    queue = application.queue()
    log = application.log()
    log.info("Queue connection: %s", queue.connection)
    pushed = [queue.push(send_email, "user@example.com"), queue.push(rebuild_report, 1)]
    if queue.connection == "sync":
        report = application.reports().read(1)
        log.info("Ran inline before push returned; report 1: %s", report)
    else:
        log.info("Queued; run `python queues.py` to process them")
    return 0 if all(pushed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
