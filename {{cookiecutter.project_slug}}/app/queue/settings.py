"""Typed, validated queue settings from ``config/queue.yaml``, ``jobs.yaml`` and ``worker.yaml``."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Config, ConfigError
from app.queue.config_values import boolean, choice, integer, names, text
from app.queue.metrics.settings import MetricsSettings, metrics_settings
from app.queue.options import JobOptions
from app.queue.redis_settings import RedisSettings, redis_settings

DRIVERS = ("sync", "redis")
SERIALIZER_NAMES = ("pickle", "json")

__all__ = ["QueueSettings", "RedisSettings", "WorkerTiming", "queue_settings"]


@dataclass(frozen=True)
class WorkerTiming:
    """How often a worker proves it is alive, how soon abandoned jobs are recovered, after
    how many jobs it is recycled (0: never), and how many jobs it runs at once (threads)."""

    heartbeat_interval: int
    ttl: int
    maintenance_interval: int
    max_jobs: int
    concurrency: int


@dataclass(frozen=True)
class QueueSettings:
    """Everything the queue and the worker need, checked once at start-up."""

    connection: str
    redis: RedisSettings
    defaults: JobOptions
    strict: bool
    serializer: str
    fast_path: bool
    worker_queues: tuple[str, ...]
    worker_timing: WorkerTiming
    metrics: MetricsSettings


def queue_settings(config: Config) -> QueueSettings:
    """Build settings from config, raising ConfigError naming the file and key on bad values."""
    connection = config.get("queue.connection")
    connections = config.get("queue.connections", {}) or {}
    if not isinstance(connections, dict):
        raise ConfigError(f"{config.where('queue.connections')}: must be a mapping of connections")
    if connection not in connections or connection not in DRIVERS:
        known = ", ".join(name for name in connections if name in DRIVERS) or "none"
        raise ConfigError(
            f"{config.where('queue.connection')}: unknown connection {connection!r}"
            f" (configured: {known}; set QUEUE_CONNECTION to one of them)"
        )
    return QueueSettings(
        connection=connection,
        redis=redis_settings(config),
        defaults=_job_defaults(config),
        strict=boolean(config, "jobs.strict"),
        serializer=choice(config, "jobs.serializer", SERIALIZER_NAMES),
        fast_path=boolean(config, "jobs.fast_path"),
        worker_queues=names(config, "worker.queues"),
        worker_timing=WorkerTiming(
            heartbeat_interval=integer(config, "worker.heartbeat_interval", low=1),
            ttl=integer(config, "worker.ttl", low=15),
            maintenance_interval=integer(config, "worker.maintenance_interval", low=1),
            max_jobs=integer(config, "worker.max_jobs", low=0),
            concurrency=integer(config, "worker.concurrency", low=1),
        ),
        metrics=metrics_settings(config),
    )


def _job_defaults(config: Config) -> JobOptions:
    return JobOptions(
        queue=text(config, "jobs.queue"),
        timeout=integer(config, "jobs.timeout", low=1),
        retries=integer(config, "jobs.retries", low=0),
        retry_backoff=integer(config, "jobs.retry_backoff", low=0),
        result_ttl=integer(config, "jobs.result_ttl", low=-1),
        failure_ttl=integer(config, "jobs.failure_ttl", low=-1),
    )
