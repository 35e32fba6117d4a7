"""Jobs whose data this worker cannot load: failed at once with the reason, never retried.

A payload can be unloadable because it was corrupted, written with another serializer
(``QUEUE_SERIALIZER`` differs between producer and worker), or holds an argument whose class the
worker cannot import. Running it again cannot help, so the job goes straight to the failed list
and the worker takes the next one.
"""

from __future__ import annotations

from rq.exceptions import DeserializationError
from rq.job import Job

from app.queue.stored_jobs import function_in_description

UNLOADABLE_ERROR = "UnloadableJobError"


def load_failure(job: Job, error: DeserializationError) -> str:
    """One line: which function (when its description names it) and why the data did not load."""
    cause = error.__cause__ or error
    function = function_in_description(job)
    subject = f"the data of a call to {function}" if function else "the job's data"
    return f"cannot load {subject}: {type(cause).__name__}: {cause}"
