"""``QUEUE_PUSH_REPLICAS=N``: a push returns True only once N replicas hold the job (``WAIT``).

Redis replicates asynchronously: a master that dies right after acknowledging a write may take it
along, and the replica Sentinel promotes never had it. ``WAIT N timeout`` blocks the connection
until N replicas confirm everything that connection wrote, so a push that waited for N replicas
survives the master's loss (Sentinel promotes the most up-to-date replica).

``WAIT`` counts the writes of its own connection. The fast path's single push sends the job and
``WAIT`` on one connection. Every other push (RQ's own enqueue, batches, a retried fast push) may
have used several pooled connections, so it is followed, on one connection, by a small write to
``ACK_KEY`` and ``WAIT``: replication is one ordered stream, so replicas that confirm that later
write hold the job too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from app.queue.redis_settings import RedisSettings

# In RQ's key space, so an ACL user limited to ``rq:*`` may write it; it expires when unused.
ACK_KEY = "rq:push-ack"
ACK_TTL_MS = 60_000


class ReplicasNotConfirmed(RedisError):
    """Fewer replicas than QUEUE_PUSH_REPLICAS confirmed a push in time."""

    def __init__(self, confirmed: int, wanted: int, timeout_ms: int) -> None:
        super().__init__(
            f"only {confirmed} of {wanted} replicas confirmed the job within {timeout_ms} ms"
            " (QUEUE_PUSH_REPLICAS); it is on the master and may still run, but a failover now"
            " could lose it"
        )
        self.confirmed = confirmed


@dataclass(frozen=True)
class ReplicaWait:
    """Wait for ``replicas`` replicas, at most ``timeout_ms`` milliseconds."""

    replicas: int
    timeout_ms: int

    @classmethod
    def configured(cls, settings: RedisSettings) -> ReplicaWait | None:
        """The wait QUEUE_PUSH_REPLICAS asks for; None when it is 0 (the default)."""
        if settings.push_replicas <= 0:
            return None
        return cls(settings.push_replicas, settings.push_replicas_timeout_ms)

    def command(self) -> tuple[Any, ...]:
        """``WAIT`` for a connection that made the writes itself."""
        return ("WAIT", self.replicas, self.timeout_ms)

    def check(self, confirmed: Any) -> None:
        """Raise ReplicasNotConfirmed unless ``WAIT`` answered with enough replicas."""
        if int(confirmed) < self.replicas:
            raise ReplicasNotConfirmed(int(confirmed), self.replicas, self.timeout_ms)

    def confirm(self, client: Redis) -> None:
        """After writes on any of ``client``'s connections: a later write, then ``WAIT``."""
        with client.pipeline(transaction=False) as pipeline:
            pipeline.set(ACK_KEY, "1", px=ACK_TTL_MS)
            pipeline.execute_command(*self.command())
            _, confirmed = pipeline.execute()
        self.check(confirmed)
