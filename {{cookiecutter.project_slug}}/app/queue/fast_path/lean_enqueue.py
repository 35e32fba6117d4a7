"""The lean enqueue behind ``push`` and ``push_many``: RQ's job format, one Redis call per batch.

``rq.Queue.enqueue`` makes two round trips per job and spends most of its time in generic Python
(dependency checks, a ``Job`` object, a pipeline of five commands). For the common case (a
module-level function queued now, not unique) this module writes exactly what RQ 3.0 writes, as
one Lua call (``scripts.ENQUEUE_JOBS``): the ``rq:job:<id>`` hash with the same fields and
encodings, the id pushed onto ``rq:queue:<name>`` and the queue added to ``rq:queues``. RQ
workers, ``rq info`` and rq-dashboard read these jobs like any other;
``tests/test_fast_path.py`` compares the hashes field by field with ``rq.Queue.enqueue``'s.

A batch is one script call per chunk inside one MULTI/EXEC, so it is queued all or none. Scheduled
and unique jobs, bound methods and other callables go through RQ's own API (``redis_driver.py``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FunctionType
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.job import Job
from rq.queue import Queue as RQQueue
from rq.serializers import Serializer
from rq.utils import get_call_string

from app.queue.fast_path.scripts import ENQUEUE_JOBS
from app.queue.fast_path.thread_connection import ThreadConnection
from app.queue.job import Call
from app.queue.options import JobOptions
from app.queue.replica_wait import ReplicaWait

# Fields RQ writes as empty strings for a job that has not run yet (see ``Job.to_dict``).
EMPTY_FIELDS = (
    "success_callback_name",
    "failure_callback_name",
    "stopped_callback_name",
    "started_at",
    "ended_at",
    "last_heartbeat",
    "worker_name",
    "group_id",
)
OWN_FIELDS = ("created_at", "enqueued_at", "data", "description")
CHUNK = 1000
# RQ compresses every payload with zlib; ``Job.restore`` reads uncompressed ones too (its
# fallback), and a pickle (0x80...) or JSON ("[...") payload can never pass as zlib data. For
# small payloads zlib costs more time than the bytes it saves, so only larger ones are compressed.
COMPRESS_FROM_BYTES = 512


class LeanEnqueuer:
    """Writes RQ jobs for one Redis client and serializer; caches the per-options constants."""

    def __init__(
        self, client: Redis, serializer: type[Serializer], replicas: ReplicaWait | None = None
    ) -> None:
        self._client = client
        self._replicas = replicas
        self._dumps = serializer.dumps
        self._script = client.register_script(ENQUEUE_JOBS)
        self._connection = ThreadConnection(client)
        self._headers: dict[JobOptions, str] = {}

    @staticmethod
    def applies_to(call: Call) -> bool:
        """True for calls this module writes itself: a plain function, queued now, not unique."""
        return type(call.func) is FunctionType and call.run_at is None and not call.options.unique

    def enqueue(self, calls: Sequence[Call]) -> None:
        """Queue every call (all with the same options); one Redis round trip."""
        options = calls[0].options
        queue_key = RQQueue.redis_queue_namespace_prefix + options.queue
        keys = [queue_key, RQQueue.redis_queues_keys]
        stamp = _timestamp()
        if len(calls) == 1:
            self._send_one(keys, self._arguments(calls, options, stamp))
            return
        if len(calls) <= CHUNK:
            self._script(keys, self._arguments(calls, options, stamp), client=self._client)
        else:
            with self._client.pipeline(transaction=True) as pipeline:
                for start in range(0, len(calls), CHUNK):
                    chunk = calls[start : start + CHUNK]
                    self._script(keys, self._arguments(chunk, options, stamp), client=pipeline)
                pipeline.execute()
        if self._replicas is not None:
            self._replicas.confirm(self._client)

    def _send_one(self, keys: list[str], arguments: list[Any]) -> None:
        """One EVALSHA on this thread's own connection (with QUEUE_PUSH_REPLICAS, and WAIT
        sent with it, on the same connection: still one round trip).

        A dropped connection (Redis restarted) or an unknown script (its cache is empty after a
        restart) is retried through the regular client; a timeout is not, so a Redis that does not
        answer costs one timeout, not two.
        """
        command = ("EVALSHA", self._script.sha, len(keys), *keys, *arguments)
        try:
            if self._replicas is None:
                self._connection.execute(*command)
                return
            confirmed = self._connection.execute_all(command, self._replicas.command())[1]
        except RedisTimeoutError:
            raise
        except RedisError:
            self._script(keys, arguments, client=self._client)
            if self._replicas is not None:
                self._replicas.confirm(self._client)
            return
        self._replicas.check(confirmed)

    def _arguments(self, calls: Sequence[Call], options: JobOptions, stamp: str) -> list[Any]:
        arguments: list[Any] = [self._header(options)]
        dumps = self._dumps
        for call in calls:
            name = call.name
            data = dumps((name, None, call.args, call.kwargs))
            if len(data) >= COMPRESS_FROM_BYTES:
                data = zlib.compress(data)
            description = get_call_string(name, call.args, call.kwargs, max_length=75)
            arguments += (call.job_id, stamp, stamp, data, description)
        return arguments

    def _header(self, options: JobOptions) -> str:
        header = self._headers.get(options)
        if header is None:
            pairs: list[str] = []
            for name in EMPTY_FIELDS:
                pairs += (name, "")
            if options.retries:
                pairs += ("retries_left", str(options.retries))
                pairs += ("retry_intervals", json.dumps(options.retry_intervals()))
            pairs += ("origin", options.queue)
            pairs += ("timeout", str(options.timeout))
            pairs += ("result_ttl", str(options.result_ttl))
            pairs += ("failure_ttl", str(options.failure_ttl))
            pairs += ("status", "queued")
            header = json.dumps([Job.redis_job_namespace_prefix, pairs, OWN_FIELDS])
            self._headers[options] = header
        return header


def _timestamp() -> str:
    """RQ's timestamp format (``utcformat``: ``%Y-%m-%dT%H:%M:%S.%fZ``) without strftime."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"
