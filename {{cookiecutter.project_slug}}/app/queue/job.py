"""The values passed between the queue facade and its drivers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

from app.queue.options import JobOptions
from app.queue.portability import function_name


def new_job_id() -> str:
    return uuid4().hex


def stable_job_id(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The same id for the same function and arguments, in any process."""
    payload = repr((function_name(func), args, sorted(kwargs.items())))
    return "unique-" + hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Call:
    """One function call to run as a job, now or at ``run_at``."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: JobOptions
    job_id: str = field(default_factory=new_job_id)
    run_at: datetime | None = None

    @property
    def name(self) -> str:
        return function_name(self.func)


@dataclass(frozen=True)
class Submission:
    """What happened to a push: ``ok`` is what ``push()`` returns."""

    ok: bool
    job_id: str
    error: str | None = None
    duplicate: bool = False

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class JobState:
    """A job as the status route shows it."""

    id: str
    status: str
    function: str
    result: Any = None
    error: str | None = None
