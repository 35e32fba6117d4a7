"""The ``redis`` driver: enqueue jobs into Redis through RQ for ``python queues.py`` workers.

Jobs go through RQ's own ``Queue`` API, or, with the fast path on, through the lean enqueue
(``app/queue/fast_path/lean_enqueue.py``) where it applies; both write the same jobs.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from types import FunctionType
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue as RQQueue
from rq import Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job
from rq.queue import EnqueueData
from rq.serializers import Serializer

from app.queue.job import Call, JobState, Submission
from app.queue.portability import NotPortable, check_importable, check_serializable
from app.queue.redis_clients import describe_error, producer_client
from app.queue.replica_wait import ReplicaWait
from app.queue.settings import RedisSettings
from app.queue.stored_jobs import stored_function

if TYPE_CHECKING:
    from app.queue.fast_path.lean_enqueue import LeanEnqueuer


class RedisDriver:
    """Puts jobs on RQ queues; a failure to enqueue is logged once and reported, never raised."""

    name = "redis"

    def __init__(
        self,
        settings: RedisSettings,
        log: logging.Logger,
        serializer: type[Serializer],
        fast_path: bool = False,
    ) -> None:
        self._settings = settings
        self._log = log
        self._serializer = serializer
        self._redis: Redis = producer_client(settings)
        self._queues: dict[str, RQQueue] = {}
        self._replicas = ReplicaWait.configured(settings)
        self._lean = _lean_enqueuer(self._redis, serializer, self._replicas) if fast_path else None
        self._importable: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def enqueue(self, call: Call) -> Submission:
        context = {"job_id": call.job_id, "function": call.name, "queue": call.options.queue}
        try:
            self._check_importable(call.func)
            if self._lean is not None and self._lean.applies_to(call):
                self._lean.enqueue([call])
            else:
                self._put(call)
                self._confirm_replicas()
        except DuplicateJobError:
            self._log.info("Job already queued; not queued again", extra=context)
            return Submission(True, call.job_id, duplicate=True)
        except NotPortable as error:
            return self._refuse(call, context, str(error))
        except RedisError as error:
            return self._refuse(call, context, describe_error(error, self._settings))
        except Exception as error:
            reason = _explain_payload_error([call], error, self._serializer)
            return self._refuse(call, context, reason)
        if call.run_at is None:
            self._log.info("Job queued", extra=context)
        else:
            self._log.info("Job scheduled", extra={**context, "run_at": call.run_at.isoformat()})
        return Submission(True, call.job_id)

    def enqueue_many(self, calls: list[Call]) -> int:
        """Queue every call in one pipeline: all of them, or none."""
        first = calls[0]
        context = {"function": first.name, "queue": first.options.queue, "count": len(calls)}
        try:
            self._check_importable(first.func)
            if self._lean is not None and self._lean.applies_to(first):
                self._lean.enqueue(calls)
            else:
                queue = self._queue(first.options.queue)
                with self._redis.pipeline() as pipeline:
                    queue.enqueue_many([_enqueue_data(call) for call in calls], pipeline=pipeline)
                    pipeline.execute()
                self._confirm_replicas()
        except NotPortable as error:
            return self._refuse_many(context, str(error))
        except RedisError as error:
            return self._refuse_many(context, describe_error(error, self._settings))
        except Exception as error:
            return self._refuse_many(
                context, _explain_payload_error(calls, error, self._serializer)
            )
        for call in calls:
            self._log.info("Job queued", extra={**context, "job_id": call.job_id})
        return len(calls)

    def status(self, job_id: str) -> JobState | None:
        try:
            job = Job.fetch(job_id, connection=self._redis, serializer=self._serializer)
        except NoSuchJobError:
            return None
        status = job.get_status(refresh=False)
        latest = job.latest_result() if status in ("finished", "failed") else None
        error = latest.exc_string if latest is not None and latest.exc_string else None
        return JobState(
            id=job.id,
            status=str(getattr(status, "value", status)),
            function=stored_function(job),
            result=job.return_value(refresh=False) if status == "finished" else None,
            error=error,
        )

    def problem(self) -> str | None:
        """None when Redis answers PING, else a one-line reason."""
        try:
            self._redis.ping()
        except Exception as error:
            return describe_error(error, self._settings)
        return None

    def _check_importable(self, func: Callable[..., Any]) -> None:
        """``check_importable``, remembered for plain functions that passed it."""
        plain = type(func) is FunctionType
        if plain and func in self._importable:
            return
        check_importable(func)
        if plain:
            self._importable.add(func)

    def _put(self, call: Call) -> None:
        """Enqueue or schedule through RQ, refusing an id that exists (DuplicateJobError).

        Every job has its id before it is sent, so RQ's atomic unique write applies to all: a
        push resent after a lost reply is queued once, as with the lean enqueue.
        """
        queue = self._queue(call.options.queue)
        job = queue.create_job(call.func, **_job_arguments(call))
        if call.run_at is None:
            queue.enqueue_job(job, unique=True)
        else:
            queue.schedule_job(job, _not_before(call.run_at), unique=True)

    def _confirm_replicas(self) -> None:
        """With QUEUE_PUSH_REPLICAS, wait until enough replicas hold what was just written."""
        if self._replicas is not None:
            self._replicas.confirm(self._redis)

    def _queue(self, name: str) -> RQQueue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = RQQueue(
                name, connection=self._redis, serializer=self._serializer
            )
        return queue

    def _refuse(self, call: Call, context: dict[str, str], reason: str) -> Submission:
        self._log.error("Job not queued: %s", reason, extra=context)
        return Submission(False, call.job_id, error=reason)

    def _refuse_many(self, context: dict[str, object], reason: str) -> int:
        self._log.error("Jobs not queued: %s", reason, extra=context)
        return 0


def _lean_enqueuer(
    client: Redis, serializer: type[Serializer], replicas: ReplicaWait | None
) -> LeanEnqueuer:
    from app.queue.fast_path.lean_enqueue import LeanEnqueuer

    return LeanEnqueuer(client, serializer, replicas)


def _job_arguments(call: Call) -> dict[str, Any]:
    """RQ's keyword arguments for one call: its arguments, options and id."""
    options = call.options
    retry = (
        Retry(max=options.retries, interval=options.retry_intervals()) if options.retries else None
    )
    return {
        "args": call.args,
        "kwargs": call.kwargs,
        "timeout": options.timeout,
        "result_ttl": options.result_ttl,
        "failure_ttl": options.failure_ttl,
        "job_id": call.job_id,
        "retry": retry,
    }


def _enqueue_data(call: Call) -> EnqueueData:
    return RQQueue.prepare_data(call.func, **_job_arguments(call))


def _not_before(when: datetime) -> datetime:
    """UTC time rounded up to the whole second, as RQ stores seconds: never run early.

    A naive ``when`` is read as local time; an aware one keeps its zone.
    """
    timestamp = math.ceil(when.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(timestamp, UTC)


def _explain_payload_error(
    calls: list[Call], error: Exception, serializer: type[Serializer]
) -> str:
    """Name the argument that broke serialization, when one did."""
    for call in calls:
        try:
            check_serializable(call.args, call.kwargs, serializer.dumps)
        except NotPortable as precise:
            return str(precise)
    return f"{type(error).__name__}: {error}"
