"""Typed, validated queue settings from ``config/queue.yaml``, ``jobs.yaml`` and ``worker.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import Config, ConfigError
from app.queue.options import JobOptions

DRIVERS = ("sync", "redis")
SERIALIZER_NAMES = ("pickle", "json")


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis lives and how to log in."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}/{self.db}"


@dataclass(frozen=True)
class WorkerTiming:
    """How often a worker proves it is alive, how soon abandoned jobs are recovered, and after
    how many jobs it is recycled (0: never)."""

    heartbeat_interval: int
    ttl: int
    maintenance_interval: int
    max_jobs: int


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
        redis=_redis_settings(config),
        defaults=_job_defaults(config),
        strict=_boolean(config, "jobs.strict"),
        serializer=_choice(config, "jobs.serializer", SERIALIZER_NAMES),
        fast_path=_boolean(config, "jobs.fast_path"),
        worker_queues=_names(config, "worker.queues"),
        worker_timing=WorkerTiming(
            heartbeat_interval=_integer(config, "worker.heartbeat_interval", low=1),
            ttl=_integer(config, "worker.ttl", low=15),
            maintenance_interval=_integer(config, "worker.maintenance_interval", low=1),
            max_jobs=_integer(config, "worker.max_jobs", low=0),
        ),
    )


def _redis_settings(config: Config) -> RedisSettings:
    key = "queue.connections.redis"
    return RedisSettings(
        host=_text(config, f"{key}.host"),
        port=_integer(config, f"{key}.port", low=1, high=65535),
        db=_integer(config, f"{key}.db", low=0, high=1_000_000),
        username=_optional_text(config, f"{key}.username"),
        password=_optional_text(config, f"{key}.password"),
    )


def _job_defaults(config: Config) -> JobOptions:
    return JobOptions(
        queue=_text(config, "jobs.queue"),
        timeout=_integer(config, "jobs.timeout", low=1),
        retries=_integer(config, "jobs.retries", low=0),
        retry_backoff=_integer(config, "jobs.retry_backoff", low=0),
        result_ttl=_integer(config, "jobs.result_ttl", low=-1),
        failure_ttl=_integer(config, "jobs.failure_ttl", low=-1),
    )


def _integer(config: Config, key: str, low: int, high: int | None = None) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{config.where(key)}: must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{config.where(key)}: must be {bounds}, got {value}")
    return value


def _text(config: Config, key: str) -> str:
    value = config.get(key)
    if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
        raise ConfigError(f"{config.where(key)}: must be a non-empty value, got {value!r}")
    return str(value)


def _optional_text(config: Config, key: str) -> str | None:
    value: Any = config.get(key, None)
    return None if value is None else str(value)


def _choice(config: Config, key: str, choices: tuple[str, ...]) -> str:
    value = config.get(key)
    if value not in choices:
        allowed = ", ".join(choices)
        raise ConfigError(f"{config.where(key)}: must be one of {allowed}, got {value!r}")
    return str(value)


def _boolean(config: Config, key: str) -> bool:
    value = config.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"{config.where(key)}: must be true or false, got {value!r}")
    return value


def _names(config: Config, key: str) -> tuple[str, ...]:
    value = config.get(key)
    names = value if isinstance(value, list) else str(value or "").split(",")
    cleaned = tuple(str(name).strip() for name in names if str(name).strip())
    if not cleaned:
        raise ConfigError(f"{config.where(key)}: name at least one queue")
    return cleaned
