"""RQ's scheduler, which moves due ``push_at`` jobs and retries to their queues, in a thread.

RQ forks its scheduler from the worker. This project's worker already runs a thread (job
heartbeats), and a process forked while another thread holds a lock (logging, the Redis
connection pool, the import lock) can hang forever: here, the process that moves delayed jobs.
So the same ``RQScheduler`` (same locks, registries and heartbeats) runs as a thread of the
worker instead, and rides out Redis outages with one WARNING and one INFO instead of dying with
a traceback and leaving a zombie process behind.
"""

from __future__ import annotations

import threading
from typing import Any

from redis.exceptions import RedisError
from rq.scheduler import RQScheduler

from app.queue.redis_outage import RedisOutage


class DueJobMover(RQScheduler):
    """``RQScheduler`` whose ``start()`` runs its loop in a thread, polling every ``poll_seconds``.

    RQ's ``interval`` (whole seconds) keeps setting the lock and registration TTLs.
    """

    def __init__(self, *args: Any, outage: RedisOutage, poll_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The worker's own client (thread-safe), not one RQ rebuilds from its pool's arguments
        # for a forked process: TLS and Sentinel come along as ``redis_clients.py`` built them.
        self._connection = kwargs["connection"]
        self._outage = outage
        self._poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> threading.Thread:  # type: ignore[override]
        """Run the loop in a thread; RQ's maintenance sees it through ``_process.is_alive()``."""
        self._status = self.Status.STARTED
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="due-job-mover", daemon=True)
        self._process = self._thread  # type: ignore[assignment]
        self._thread.start()
        return self._thread

    def stop_thread(self) -> None:
        """Stop the loop, then release the locks and unregister (what RQ's ``stop`` does)."""
        if self._thread is None:
            return  # never started: RQ's stop_scheduler does nothing either
        self._stopping.set()
        self._thread.join()
        try:
            self.stop()
        except RedisError as error:
            self._outage.lost(error)

    def _run(self) -> None:
        registered = False
        while not self._stopping.is_set():
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
                self._outage.answered()
            except RedisError as error:
                self._outage.lost(error)
            self._stopping.wait(self._poll_seconds)
