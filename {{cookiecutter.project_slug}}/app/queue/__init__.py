"""The queue API that tasks, routes and the scheduler use: ``application.queue().push(...)``.

``facade.py`` is the API over one driver per file (``sync_driver.py``, ``redis_driver.py``),
picked by ``build_queue`` from the settings. The worker lives in ``worker/``, the optional
round-trip optimizations in ``fast_path/``, operator commands in ``commands/``.
"""

from __future__ import annotations

import logging

from app.queue.current_job import CurrentJob, current_job
from app.queue.facade import Driver, Queue
from app.queue.job import JobState, Submission
from app.queue.options import JobOptions, task
from app.queue.portability import NotPortable
from app.queue.serialization import serializer_for
from app.queue.settings import QueueSettings

__all__ = [
    "CurrentJob",
    "JobOptions",
    "JobState",
    "NotPortable",
    "Queue",
    "Submission",
    "build_queue",
    "current_job",
    "task",
]


def build_queue(settings: QueueSettings, log: logging.Logger) -> Queue:
    """The Queue for the configured connection."""
    driver = _driver(settings, log)
    dumps = serializer_for(settings.serializer).dumps
    return Queue(driver, settings.defaults, log, strict=settings.strict, dumps=dumps)


def _driver(settings: QueueSettings, log: logging.Logger) -> Driver:
    if settings.connection == "redis":
        from app.queue.fast_path import fast_path_enabled
        from app.queue.redis_driver import RedisDriver

        fast_path = fast_path_enabled(settings.fast_path, log)
        return RedisDriver(settings.redis, log, serializer_for(settings.serializer), fast_path)
    from app.queue.sync_driver import SyncDriver

    return SyncDriver(log)
