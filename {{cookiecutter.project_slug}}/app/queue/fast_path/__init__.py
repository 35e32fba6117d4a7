"""The fast path: fewer Redis round trips per job, by leaning on RQ 3.0's internals.

Everything here is an optimization; the queue works the same without it. ``QUEUE_FAST_PATH``
(default ``true``, ``config/jobs.yaml``) turns it on, and it turns itself off, with one WARNING,
on an RQ version it was not verified against:

- ``lean_enqueue.py``: ``push``/``push_many`` write RQ's job hash with one Lua call instead of
  ``rq.Queue.enqueue``'s two round trips (``thread_connection.py`` keeps a connection per thread).
- ``worker.py``: ``FastQueueWorker``, the worker's round-trip overrides as one mixin over
  ``app.queue.worker.QueueWorker``, and RQ's scheduler polling for due ``push_at`` jobs ten
  times a second instead of once.
- ``rq_log_filter.py``: RQ's per-job log lines dropped (ours carry the same job id).
- ``scripts.py``: every Lua script above, with its KEYS and ARGV.

To remove it for good: delete this folder and ``tests/test_fast_path.py``, and the uses of
``fast_path_enabled`` in ``app/queue/__init__.py``, ``app/queue/worker/run.py`` and
``app/queue/commands/checklist.py``: what is left is the plain path.
"""

from __future__ import annotations

import logging

import rq

# RQ release series whose job hash, worker state and scheduler start-up this code was checked
# against (the tests compare our writes with RQ's, field by field).
VERIFIED_RQ_SERIES = ("3.0.",)
_warned_versions: set[str] = set()


def fast_path_enabled(requested: bool, log: logging.Logger, rq_version: str | None = None) -> bool:
    """True when the fast path was asked for and the installed RQ is a verified version.

    On any other RQ version, say so once per process with a WARNING and use the plain path.
    """
    if not requested:
        return False
    version = rq_version or rq.__version__
    if version.startswith(VERIFIED_RQ_SERIES):
        return True
    if version not in _warned_versions:
        _warned_versions.add(version)
        log.warning(
            "QUEUE_FAST_PATH is on, but it was verified with RQ %s only and RQ %s is installed:"
            " using the plain path (rq.Queue.enqueue and RQ's SimpleWorker)",
            "/".join(series + "x" for series in VERIFIED_RQ_SERIES),
            version,
        )
    return False
