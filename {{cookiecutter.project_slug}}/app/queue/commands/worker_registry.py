"""What RQ's own registrations in Redis say about live workers and schedulers.

An RQ worker writes a hash ``rq:worker:<name>`` (hostname, pid, queues, birth) at start-up and keeps
it alive with heartbeats: the key expires when the heartbeats stop. A worker started with the
scheduler (``python queues.py`` always is) holds ``rq:scheduler-lock:<queue>`` for its queues, one
worker per queue at a time. Nothing here writes to Redis; it only reads what RQ keeps there.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from rq.scheduler import RQScheduler
from rq.worker import Worker
from rq.worker_registration import REDIS_WORKER_KEYS

from app.queue.redis_clients import producer_client
from app.queue.settings import RedisSettings

# Seconds a registration may predate its process's start: clocks and rounding, not a stale entry.
BIRTH_SLACK_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerRecord:
    """One RQ worker registration whose heartbeat has not expired."""

    name: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    birth: datetime | None


def live_workers(client: Redis) -> list[WorkerRecord]:
    """The workers registered in ``client``'s database whose heartbeat key has not expired."""
    keys = sorted(
        key.decode() if isinstance(key, bytes) else key
        for key in client.smembers(REDIS_WORKER_KEYS)
    )
    if not keys:
        return []
    with client.pipeline(transaction=False) as pipeline:
        for key in keys:
            pipeline.hgetall(key)
        records = pipeline.execute()
    workers = []
    for key, record in zip(keys, records, strict=True):
        fields = {_text(name): _text(value) for name, value in record.items()}
        if not fields or "death" in fields:
            continue  # expired (the set is cleaned lazily) or shut down
        workers.append(
            WorkerRecord(
                name=key.removeprefix(Worker.redis_worker_namespace_prefix),
                hostname=fields.get("hostname", ""),
                pid=int(fields.get("pid") or 0),
                queues=tuple(name for name in fields.get("queues", "").split(",") if name),
                birth=_parse_time(fields.get("birth")),
            )
        )
    return workers


def scheduler_lock_holders(client: Redis, queues: list[str]) -> dict[str, str | None]:
    """For each queue, the name of the worker whose RQ scheduler holds its lock (None: nobody)."""
    with client.pipeline(transaction=False) as pipeline:
        for queue in queues:
            pipeline.get(RQScheduler.get_locking_key(queue))
        holders = pipeline.execute()
    return {
        queue: _text(holder) if holder else None
        for queue, holder in zip(queues, holders, strict=True)
    }


def databases_with_workers(settings: RedisSettings) -> list[int]:
    """The other databases of the same Redis server in which RQ workers are registered."""
    client = producer_client(settings)
    try:
        numbers = [int(name[2:]) for name in client.info("keyspace") if name.startswith("db")]
    finally:
        client.close()
    found = []
    for number in sorted(set(numbers) - {settings.db}):
        other = producer_client(replace(settings, db=number))
        try:
            if other.scard(REDIS_WORKER_KEYS):
                found.append(number)
        finally:
            other.close()
    return found


def local_worker_problem(client: Redis, hostname: str | None = None) -> str | None:
    """None when a worker of this host (container) is registered with a live heartbeat.

    The registration must belong to a process that runs here now: its pid is alive and the
    registration is not older than that process (a worker killed without unregistering leaves a
    record behind until its heartbeat expires; a restarted container may reuse the pid).
    """
    hostname = hostname or socket.gethostname()
    mine = [worker for worker in live_workers(client) if worker.hostname == hostname]
    if not mine:
        return f"no RQ worker of host {hostname} is registered with a live heartbeat"
    for worker in mine:
        if not _process_alive(worker.pid):
            continue
        started = process_started_at(worker.pid)
        if started is None or worker.birth is None:
            return None
        if worker.birth.timestamp() >= started.timestamp() - BIRTH_SLACK_SECONDS:
            return None
    names = ", ".join(worker.name for worker in mine)
    return f"the registration of worker {names} on {hostname} belongs to a process that is gone"


def process_started_at(pid: int) -> datetime | None:
    """When process ``pid`` started (Linux ``/proc``); None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    # Field 22 (starttime, in clock ticks since boot) counts from after the parenthesised name.
    ticks = int(stat.rpartition(")")[2].split()[19])
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to another user
    return True


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
