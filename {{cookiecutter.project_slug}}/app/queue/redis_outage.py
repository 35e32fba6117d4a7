"""Say once that Redis went away and once that it answers again, however many calls fail between."""

from __future__ import annotations

import logging
import threading
import time


class RedisOutage:
    """The state of one process's link to Redis, shared by its threads.

    ``lost`` logs one WARNING (the address and the error) at the start of an outage; ``answered``
    logs one INFO (how long it lasted) when a call succeeds again. Calls in between log nothing,
    so a Redis restart reads as two lines, not a screen of tracebacks.
    """

    def __init__(self, address: str, log: logging.Logger) -> None:
        self._address = address
        self._log = log
        self._lock = threading.Lock()
        self._since: float | None = None

    def lost(self, error: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        self._log.warning(
            "Redis lost at %s (%s: %s); retrying until it answers",
            self._address,
            type(error).__name__,
            error,
        )

    def answered(self) -> None:
        with self._lock:
            if self._since is None:
                return
            lasted = time.monotonic() - self._since
            self._since = None
        self._log.info("Redis answers again at %s after %.1f s", self._address, lasted)
