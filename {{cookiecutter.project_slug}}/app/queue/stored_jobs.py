"""What a job stored in Redis says about itself, even when its data cannot be loaded here."""

from __future__ import annotations

import re

from rq.exceptions import DeserializationError
from rq.job import Job

DOTTED_NAME = re.compile(r"[A-Za-z_][\w.]*")


def stored_function(job: Job) -> str:
    """The job's function; from its description (written at push time) when the data won't load."""
    try:
        return job.func_name or "?"
    except DeserializationError:
        return function_in_description(job) or "?"


def function_in_description(job: Job) -> str | None:
    """The function named by ``job.description`` (``module.function(arguments)``), if any."""
    head = (job.description or "").partition("(")[0].strip()
    return head if DOTTED_NAME.fullmatch(head) else None
