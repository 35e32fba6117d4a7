"""Quieter worker logs: RQ's own per-job lines repeat what ``app.worker`` already says."""

from __future__ import annotations

import logging

# RQ logs three INFO lines of its own per job (dequeued, "Successfully completed", "Job OK") next
# to app.worker's "Job started"/"Job finished", which carry the same job id plus the function
# and the duration. Formatting and writing them is a visible share of a short job's time in a
# profile, so the fast path drops them.
RQ_PER_JOB_LINES = frozenset(
    {
        "Worker %s: %s: %s",
        "Worker %s: %s: %s (%s)",
        "Successfully completed job %s in %ss on worker %s",
        "Successfully completed %s job in %ss on worker %s",
    }
)


class DropRQPerJobLines(logging.Filter):
    """Filter for the ``rq.worker`` logger: lets everything through but RQ's per-job INFO lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or record.msg not in RQ_PER_JOB_LINES


RQ_LINE_FILTER = DropRQPerJobLines()
