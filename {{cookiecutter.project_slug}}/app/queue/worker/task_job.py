"""``TaskJob``: the job class the worker runs jobs with (RQ's ``Job``, two things changed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rq.job import Job
from rq.registry import (
    BaseRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    StartedJobRegistry,
)

from app.queue.worker.task_import import TaskImportError, explain_import_failure

AnyRegistry = TypeVar("AnyRegistry", bound=BaseRegistry)


class TaskJob(Job):
    """An RQ job whose import failures say why, and whose registries cost less to make.

    - RQ reports every failure to import a task as ``Invalid attribute name``; a module that
      raised ImportError (a missing dependency, a typo) deserves its own message in the failed
      job (``task_import.py``).
    - RQ makes a job's registry with the job's serializer and checks that serializer again
      against its runtime ``Serializer`` protocol: 20 µs on Python 3.11, and a job's success
      makes two registries. The job's serializer was checked when the job was made.
    """

    @property
    def func(self) -> Callable[..., Any] | None:
        try:
            return super().func
        except ValueError as error:
            raise TaskImportError(explain_import_failure(self.func_name)) from error

    @property
    def started_job_registry(self) -> StartedJobRegistry:
        return self._registry(StartedJobRegistry)

    @property
    def failed_job_registry(self) -> FailedJobRegistry:
        return self._registry(FailedJobRegistry)

    @property
    def finished_job_registry(self) -> FinishedJobRegistry:
        return self._registry(FinishedJobRegistry)

    def _registry(self, registry_class: type[AnyRegistry]) -> AnyRegistry:
        """The job's queue's ``registry_class``, as RQ makes it, with the job's serializer."""
        registry = registry_class(self.origin, connection=self.connection, job_class=type(self))
        registry.serializer = self.serializer
        return registry
