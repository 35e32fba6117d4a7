"""Report tasks."""

from __future__ import annotations

from typing import Any

from app import app
from app.queue import current_job


def rebuild_report(report_id: int) -> dict[str, Any]:
    """Rebuild one report; safe to run twice.

    The report records the job that built it, so a repeat of the same job (a retry, or a run
    handed to another worker) finds its work done and returns it; any other rebuild overwrites
    the same file.
    """
    application = app()
    job = current_job()
    done = application.reports().read(report_id)
    if job is not None and done is not None and done.get("job_id") == job.id:
        application.log().info(
            "Report already built by this job; not rebuilt",
            extra={"report_id": report_id, "job_id": job.id, "attempt": job.attempt},
        )
        return done
    return application.reports().rebuild(report_id, job_id=job.id if job else None)
