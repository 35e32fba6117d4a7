"""Queue state read from Redis at scrape time: what waits, for how long, and who works on it.

Two pipelined round trips per scrape, whatever the backlog: the counts, the head of each queue
and the workers' names, then the head jobs' ``enqueued_at`` and the workers' states. Only the
configured queues are read, so the series stay bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue as RQQueue
from rq.job import Job
from rq.utils import as_text, now, utcparse
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from app.queue.metrics import names


@dataclass
class QueueCounts:
    """One queue as a scrape sees it."""

    waiting: int = 0
    scheduled: int = 0
    failed: int = 0
    oldest_age: float = 0.0


@dataclass
class QueueState:
    """Every configured queue, and the live workers by state."""

    queues: dict[str, QueueCounts] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)


def read_queue_state(client: Redis, queue_names: Iterable[str]) -> QueueState:
    """Read the state of ``queue_names`` in two round trips; raises RedisError when unreachable."""
    queues = [RQQueue(name, connection=client) for name in queue_names]
    with client.pipeline(transaction=False) as pipeline:
        for queue in queues:
            pipeline.llen(queue.key)
            pipeline.zcard(queue.scheduled_job_registry.key)
            pipeline.zcard(queue.failed_job_registry.key)
            pipeline.lindex(queue.key, 0)  # RQ appends at the tail: the head waited longest
        pipeline.sunion([WORKERS_BY_QUEUE_KEY % queue.name for queue in queues])
        replies = pipeline.execute()
    state = QueueState()
    heads: dict[str, str] = {}
    for index, queue in enumerate(queues):
        waiting, scheduled, failed, head = replies[index * 4 : index * 4 + 4]
        state.queues[queue.name] = QueueCounts(int(waiting), int(scheduled), int(failed))
        if head is not None:
            heads[queue.name] = as_text(head)
    worker_keys = sorted(as_text(key) for key in replies[-1])  # RQ stores "rq:worker:<name>"
    with client.pipeline(transaction=False) as pipeline:
        for job_id in heads.values():
            pipeline.hget(Job.key_for(job_id), "enqueued_at")
        for key in worker_keys:
            pipeline.hget(key, "state")
        details = pipeline.execute() if heads or worker_keys else []
    moment = now()
    for queue_name, enqueued_at in zip(heads, details, strict=False):
        if enqueued_at:
            age = (moment - utcparse(as_text(enqueued_at))).total_seconds()
            state.queues[queue_name].oldest_age = max(age, 0.0)
    state.workers = dict.fromkeys((*names.WORKER_STATES, names.OTHER), 0)
    for worker_state in details[len(heads) :]:
        if worker_state is None:
            continue  # registration expired: the worker is gone
        label = as_text(worker_state)
        label = label if label in names.WORKER_STATES else names.OTHER
        state.workers[label] += 1
    return state


class QueueStateCollector(Collector):
    """Exports ``read_queue_state`` on each scrape, and ``queue_redis_up`` (0 when Redis did not
    answer: the other queue series are then absent, and the scrape still succeeds)."""

    def __init__(self, client: Redis, queue_names: Iterable[str]) -> None:
        self._client = client
        self._queue_names = tuple(dict.fromkeys(queue_names))

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(names.REDIS_UP, "1 when this scrape could read the queues in Redis")
        try:
            state = read_queue_state(self._client, self._queue_names)
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _queue_families(state)


def _queue_families(state: QueueState) -> Iterator[Metric]:
    families = {
        "waiting": GaugeMetricFamily(
            names.JOBS_WAITING, "Jobs waiting for a worker", labels=["queue"]
        ),
        "scheduled": GaugeMetricFamily(
            names.JOBS_SCHEDULED, "Jobs due later (push_at, retry backoff)", labels=["queue"]
        ),
        "failed": GaugeMetricFamily(
            names.JOBS_FAILED, "Jobs in the failed registry", labels=["queue"]
        ),
        "oldest_age": GaugeMetricFamily(
            names.OLDEST_JOB_AGE, "Seconds the oldest waiting job has waited", labels=["queue"]
        ),
    }
    for queue_name, counts in state.queues.items():
        for attribute, family in families.items():
            family.add_metric([queue_name], getattr(counts, attribute))
    yield from families.values()
    workers = GaugeMetricFamily(
        names.WORKERS, "Live workers on the configured queues, by state", labels=["state"]
    )
    for worker_state, count in state.workers.items():
        workers.add_metric([worker_state], count)
    yield workers
