"""Redis clients: producers fail fast; workers block on the queue and reconnect with backoff."""

from __future__ import annotations

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
from redis.retry import Retry

from app.queue.settings import RedisSettings

CONNECT_TIMEOUT_SECONDS = 0.5
PRODUCER_READ_TIMEOUT_SECONDS = 1.5
PRODUCER_RETRIES = 1
WORKER_RETRIES = 5


def producer_client(settings: RedisSettings) -> Redis:
    """A client whose commands give up within about two seconds when Redis is away."""
    return _client(
        settings,
        socket_timeout=PRODUCER_READ_TIMEOUT_SECONDS,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), PRODUCER_RETRIES),
    )


def worker_client(settings: RedisSettings) -> Redis:
    """A client for long blocking reads that rides out short Redis restarts."""
    return _client(
        settings,
        socket_timeout=None,
        retry=Retry(ExponentialWithJitterBackoff(base=0.2, cap=5.0), WORKER_RETRIES),
    )


def describe_error(error: Exception, settings: RedisSettings) -> str:
    """One line a user can act on."""
    if isinstance(error, (AuthenticationError, AuthorizationError)) or (
        isinstance(error, ResponseError) and "auth" in str(error).lower()
    ):
        return (
            f"Redis at {settings.address} refused authentication ({error});"
            " check REDIS_USERNAME and REDIS_PASSWORD"
        )
    return (
        f"Redis at {settings.address} is unreachable ({type(error).__name__}: {error});"
        " start Redis or check REDIS_HOST and REDIS_PORT"
    )


def _client(settings: RedisSettings, socket_timeout: float | None, retry: Retry) -> Redis:
    return Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        username=settings.username,
        password=settings.password,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=socket_timeout,
        retry=retry,
        health_check_interval=30,
    )
