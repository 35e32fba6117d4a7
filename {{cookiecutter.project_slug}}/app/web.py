"""The HTTP API: queue work, look up jobs, report liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app import Application
from app.jobs.reports import rebuild_report
from app.queue.metrics.server import WebMetrics

TRACEBACK_HEADER = "Traceback (most recent call last):"
UNDESCRIBED_FAILURE = "the job failed; its traceback is in the worker's log"


def public_error(error: str | None) -> str | None:
    """A failure as ``RuntimeError: message``: the exception's type and message, no traceback.

    A traceback names server files and code; it stays in the worker's log. Of the last exception
    in ``error`` (a traceback as RQ stores it, or the sync driver's one-line form) this keeps the
    lines that start at column 0: the type, the message and any notes.
    """
    if not error:
        return error
    lines = error.splitlines()
    last_header = max((i for i, line in enumerate(lines) if line == TRACEBACK_HEADER), default=-1)
    kept = [line for line in lines[last_header + 1 :] if line and not line[0].isspace()]
    return "\n".join(kept) or UNDESCRIBED_FAILURE


def create_web(application: Application) -> FastAPI:
    """Build the FastAPI app for ``application``."""
    web = FastAPI(title=application.name)

    @web.post("/reports/{report_id}/rebuild")
    def rebuild(report_id: int) -> dict[str, str]:
        """Queue a report rebuild (sync: it has already run when this answers)."""
        submission = application.queue().submit(rebuild_report, report_id)
        if not submission.ok:
            raise HTTPException(status_code=503, detail=f"job not queued: {submission.error}")
        return {"status": "queued", "job_id": submission.job_id}

    @web.get("/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        """A job's status, result or error (type and message only, see ``public_error``)."""
        state = application.queue().status(job_id)
        if state is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id!r} is known")
        return {
            "id": state.id,
            "status": state.status,
            "function": state.function,
            "result": state.result,
            "error": public_error(state.error),
        }

    @web.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @web.get("/ready", response_model=None)
    def ready() -> dict[str, str] | JSONResponse:
        """Readiness: the queue backend takes jobs (503 with the reason when it does not)."""
        queue = application.queue()
        problem = queue.problem()
        if problem is not None:
            return JSONResponse(
                status_code=503, content={"status": "unavailable", "reason": problem}
            )
        return {"status": "ready", "queue": queue.connection}

    if application.queue_settings.metrics.enabled:
        metrics = WebMetrics(application.queue_settings)

        @web.get("/metrics", include_in_schema=False)
        def prometheus_metrics() -> Response:
            """Prometheus metrics: the queues as Redis holds them now, and this process's pushes."""
            return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return web
