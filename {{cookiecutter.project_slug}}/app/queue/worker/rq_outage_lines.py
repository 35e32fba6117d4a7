"""RQ's "could not connect to Redis" ERROR lines, one per retry, turned into one outage WARNING."""

from __future__ import annotations

import logging

from app.queue.redis_outage import RedisOutage

# Logged by RQ's dequeue loop and its pubsub thread on every failed retry (RQ 3.0).
RQ_RETRY_LINE = "Worker %s: could not connect to Redis instance: %s retrying in %d seconds..."


class RQOutageLines(logging.Filter):
    """For the ``rq.worker`` logger: reports RQ's retry lines to ``outage`` and drops them."""

    def __init__(self, outage: RedisOutage) -> None:
        super().__init__()
        self._outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != RQ_RETRY_LINE or not isinstance(record.args, tuple):
            return True
        error = record.args[1]
        self._outage.lost(error if isinstance(error, BaseException) else ConnectionError(error))
        return False
