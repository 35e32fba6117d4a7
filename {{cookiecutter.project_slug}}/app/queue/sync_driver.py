"""The ``sync`` driver: run each job in the calling process before ``push`` returns."""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict

from app.queue.current_job import CurrentJob, running
from app.queue.job import Call, JobState, Submission

RECENT_JOBS_KEPT = 1000


class SyncDriver:
    """Runs jobs inline. Exceptions are logged with their traceback and reported, never raised."""

    name = "sync"

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._recent: OrderedDict[str, JobState] = OrderedDict()

    def enqueue(self, call: Call) -> Submission:
        context = {"job_id": call.job_id, "function": call.name}
        if call.run_at is not None:
            self._log.info(
                "Sync driver runs scheduled job now", extra={**context, "run_at": call.run_at}
            )
        self._log.info("Job started", extra=context)
        try:
            with running(CurrentJob(call.job_id, attempt=1)):
                result = call.func(*call.args, **call.kwargs)
        except Exception as error:
            self._log.exception("Job failed", extra=context)
            self._remember(JobState(call.job_id, "failed", call.name, error=_describe(error)))
            return Submission(False, call.job_id, error=_describe(error))
        self._log.info("Job finished", extra=context)
        self._remember(JobState(call.job_id, "finished", call.name, result=result))
        return Submission(True, call.job_id)

    def enqueue_many(self, calls: list[Call]) -> int:
        return sum(self.enqueue(call).ok for call in calls)

    def status(self, job_id: str) -> JobState | None:
        return self._recent.get(job_id)

    def problem(self) -> str | None:
        """Nothing can be wrong with running inline."""
        return None

    def _remember(self, state: JobState) -> None:
        self._recent[state.id] = state
        while len(self._recent) > RECENT_JOBS_KEPT:
            self._recent.popitem(last=False)


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()
