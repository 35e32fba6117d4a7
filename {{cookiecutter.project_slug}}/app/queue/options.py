"""Job options: config defaults, overridden per task (``@task``) and per push (``.options()``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
TASK_OPTIONS_ATTRIBUTE = "__job_options__"


@dataclass(frozen=True)
class JobOptions:
    """How one job is queued and run. Times are in seconds; a TTL of -1 keeps forever.

    ``unique`` gives the job a stable id (from its function and arguments, unless a ``job_id`` is
    given): while a job with that id exists in Redis, pushing it again queues nothing new.
    """

    queue: str
    timeout: int
    retries: int
    retry_backoff: int
    result_ttl: int
    failure_ttl: int
    unique: bool = False

    def retry_intervals(self) -> list[int]:
        """Seconds to wait before each retry: the backoff, doubled after every attempt."""
        return [self.retry_backoff * 2**attempt for attempt in range(self.retries)]

    def merged(self, overrides: dict[str, Any]) -> JobOptions:
        return replace(self, **overrides) if overrides else self


OPTION_NAMES = frozenset(field.name for field in fields(JobOptions))
OPTION_TYPES: dict[str, type] = {"queue": str, "unique": bool}


def validate_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown option names and values of the wrong type, early and clearly."""
    unknown = sorted(set(overrides) - OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"unknown job option(s): {', '.join(unknown)}; known: {', '.join(sorted(OPTION_NAMES))}"
        )
    for name, value in overrides.items():
        expected = OPTION_TYPES.get(name, int)
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise TypeError(f"job option {name} must be {expected.__name__}, got {value!r}")
    return overrides


def task(**overrides: Any) -> Callable[[F], F]:
    """Give a task function its own job options, e.g. ``@task(retries=5, timeout=30)``.

    The function itself is returned unchanged, so workers still import it by name.
    """
    validate_overrides(overrides)

    def decorate(func: F) -> F:
        setattr(func, TASK_OPTIONS_ATTRIBUTE, dict(overrides))
        return func

    return decorate


def task_overrides(func: Callable[..., Any]) -> dict[str, Any]:
    """The options a function was decorated with (bound methods see their function's)."""
    target = getattr(func, "__func__", func)
    return getattr(target, TASK_OPTIONS_ATTRIBUTE, {})
