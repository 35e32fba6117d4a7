"""The worker container's healthcheck (``python queues.py health``): is this host's worker alive?"""

from __future__ import annotations

from app.queue.commands.worker_registry import local_worker_problem
from app.queue.redis_clients import describe_error, producer_client
from app.queue.settings import RedisSettings


def worker_health_problem(redis: RedisSettings) -> str | None:
    """None when a worker of this host is registered with a live RQ heartbeat, else why not."""
    client = producer_client(redis)
    try:
        return local_worker_problem(client)
    except Exception as error:
        return describe_error(error, redis)
    finally:
        client.close()
