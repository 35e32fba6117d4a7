"""One thread that calls back at deadlines: the job timeouts of a threaded worker, and the RQ
death penalty that hands a job thread's timeout to it."""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rq.timeouts import BaseDeathPenalty, JobTimeoutException

if TYPE_CHECKING:
    from app.queue.worker.threaded import ThreadedJobs

log = logging.getLogger("app.worker")
COMPACT_AT = 64  # cancelled entries tolerated before the heap is compacted


class Deadline:
    """A pending call; ``JobDeadlines.cancel`` stops it before it is due."""

    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False


class JobDeadlines:
    """Call each callback once its deadline passes, from one daemon thread.

    RQ's ``TimerDeathPenalty`` starts a thread per job; a heap served by one thread costs far
    less than a short job. Adding a deadline later than the earliest one does not wake the
    thread (with one timeout for every job, each new deadline is the latest).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._cancelled = 0  # cancelled entries still in the heap
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        deadline = Deadline(time.monotonic() + seconds, callback)
        with self._changed:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.due, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="job-deadlines", daemon=True
                )
                self._thread.start()
            elif earliest is None or deadline.due < earliest:
                self._changed.notify()
        return deadline

    def cancel(self, deadline: Deadline) -> None:
        """Drop ``deadline``; the heap is compacted once most of it is cancelled entries, so a
        busy worker does not hold a job's worth of entries for a whole timeout."""
        with self._changed:
            deadline.cancelled = True
            self._cancelled += 1
            if self._cancelled > COMPACT_AT and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def close(self) -> None:
        """Stop the thread, dropping pending deadlines; a later ``add`` starts a new one."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()
        with self._changed:
            self._heap, self._cancelled = [], 0
            self._closed, self._thread = False, None

    def _serve(self) -> None:
        with self._changed:
            while not self._closed:
                if not self._heap:
                    self._changed.wait()
                    continue
                due, _, deadline = self._heap[0]
                if deadline.cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled -= 1
                    continue
                remaining = due - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                self._changed.release()
                try:
                    deadline.callback()
                except Exception:
                    log.exception("Job deadline failed")
                finally:
                    self._changed.acquire()


def interrupt(thread: int, exception: type[BaseException]) -> None:
    """Raise ``exception`` in ``thread`` at its next bytecode (RQ's ``TimerDeathPenalty`` way)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exception))


class RunDeadline(BaseDeathPenalty):
    """RQ's death penalty for job threads: the timeout is handed to the worker's deadlines."""

    worker: ThreadedJobs  # bound per worker, see ``ThreadedJobs.__init__``

    def __init__(
        self, timeout: int, exception: type[Exception] = JobTimeoutException, **kwargs: Any
    ):
        super().__init__(timeout, exception, **kwargs)
        self._deadline: Deadline | None = None

    def setup_death_penalty(self) -> None:
        self._deadline = self.worker.watch(self._timeout, self._exception)

    def cancel_death_penalty(self) -> None:
        if self._deadline is not None:
            self.worker.deadlines.cancel(self._deadline)
