"""``application.queue()``: one API over the sync and redis drivers."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from app.queue.job import Call, JobState, Submission, new_job_id, stable_job_id
from app.queue.metrics.push_metrics import count_failed, count_queued, count_refused
from app.queue.options import JobOptions, task_overrides, validate_overrides
from app.queue.portability import NotPortable, check_importable, check_serializable


class Driver(Protocol):
    """What a driver does; ``sync_driver.py`` and ``redis_driver.py`` each implement it."""

    name: str

    def enqueue(self, call: Call) -> Submission: ...

    def enqueue_many(self, calls: list[Call]) -> int: ...

    def status(self, job_id: str) -> JobState | None: ...

    def problem(self) -> str | None: ...


class Queue:
    """Push functions as jobs; ``push`` is True when the job was queued (redis) or ran (sync)."""

    def __init__(
        self,
        driver: Driver,
        defaults: JobOptions,
        log: logging.Logger,
        strict: bool = False,
        overrides: dict[str, Any] | None = None,
        job_id: str | None = None,
        dumps: Callable[[Any], bytes] = pickle.dumps,
    ) -> None:
        self._driver = driver
        self._defaults = defaults
        self._log = log
        self._strict = strict
        self._dumps = dumps
        self._overrides = overrides or {}
        self._job_id = job_id

    @property
    def connection(self) -> str:
        """The driver in use: ``sync`` or ``redis``."""
        return self._driver.name

    def push(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        """Run ``func(*args, **kwargs)`` as a job; True on success at the queue layer."""
        return self.submit(func, *args, **kwargs).ok

    def push_at(
        self, when: datetime, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> bool:
        """Run the job at ``when`` (naive = local time). The sync driver runs it immediately."""
        return self.submit_at(when, func, *args, **kwargs).ok

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Submission:
        """Like ``push`` but returns the job id and, on failure, the reason."""
        return self._send(func, args, kwargs, run_at=None)

    def submit_at(
        self, when: datetime, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Submission:
        """Like ``push_at`` but returns the job id and, on failure, the reason."""
        return self._send(func, args, kwargs, run_at=when)

    def push_many(self, func: Callable[..., Any], arguments: Iterable[Sequence[Any]], /) -> int:
        """Queue ``func`` once per tuple of positional arguments, in one round trip to Redis.

        Returns how many jobs were queued (redis: all or none) or ran successfully (sync, in order).
        """
        if self._job_id is not None:
            raise TypeError("push_many gives each job its own id; do not combine it with job_id")
        calls = [self._call(func, tuple(args), {}, None) for args in arguments]
        if self._strict and any(self._strict_refusal(call) for call in calls):
            count_refused(len(calls))
            return 0
        if not calls:
            return 0
        queued = self._driver.enqueue_many(calls)
        count_queued(queued)
        if queued < len(calls):
            count_failed(calls[0], self._dumps, len(calls) - queued)
        return queued

    def options(self, *, job_id: str | None = None, **overrides: Any) -> Queue:
        """A queue whose next pushes use these options, e.g. ``.options(timeout=30).push(...)``.

        Accepts ``queue``, ``timeout``, ``retries``, ``retry_backoff``, ``result_ttl``,
        ``failure_ttl``, ``unique`` and ``job_id``.
        """
        validate_overrides(overrides)
        return Queue(
            self._driver,
            self._defaults,
            self._log,
            self._strict,
            {**self._overrides, **overrides},
            job_id or self._job_id,
            self._dumps,
        )

    def status(self, job_id: str) -> JobState | None:
        """The job's state, or None when the backend does not know the id."""
        return self._driver.status(job_id)

    def problem(self) -> str | None:
        """None when the backend is ready to take jobs, else why not."""
        return self._driver.problem()

    def _send(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_at: datetime | None,
    ) -> Submission:
        call = self._call(func, args, kwargs, run_at)
        if self._strict:
            refusal = self._strict_refusal(call)
            if refusal is not None:
                count_refused()
                return refusal
        submission = self._driver.enqueue(call)
        if submission.ok:
            count_queued()
        else:
            count_failed(call, self._dumps)
        return submission

    def _call(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_at: datetime | None,
    ) -> Call:
        options = self._defaults.merged(task_overrides(func)).merged(self._overrides)
        job_id = self._job_id or (
            stable_job_id(func, args, kwargs) if options.unique else new_job_id()
        )
        return Call(func, args, kwargs, options, job_id, run_at)

    def _strict_refusal(self, call: Call) -> Submission | None:
        try:
            check_importable(call.func)
            check_serializable(call.args, call.kwargs, self._dumps)
        except NotPortable as error:
            reason = f"strict mode: {error} (it would fail under the redis driver)"
            self._log.error(
                "Job refused: %s", reason, extra={"job_id": call.job_id, "function": call.name}
            )
            return Submission(False, call.job_id, error=reason)
        return None
