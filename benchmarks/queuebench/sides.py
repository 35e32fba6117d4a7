"""The sides of every comparison, and the environment each side's processes run with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

QUEUE = "bench"
FAST_PATH_VARIABLE = "QUEUE_FAST_PATH"


@dataclass(frozen=True)
class Side:
    """Plain RQ, or the project with ``QUEUE_FAST_PATH`` set one way in all its processes."""

    name: str
    fast_path: str | None  # QUEUE_FAST_PATH of its processes; None: left unset (plain RQ)

    @property
    def ours(self) -> bool:
        """True for the generated project's code, False for plain RQ."""
        return self.fast_path is not None

    @property
    def slug(self) -> str:
        """The name in worker names and file names."""
        return self.name.replace(" ", "-")


BASELINE = Side("rq", None)
FAST = Side("ours fast", "true")
PLAIN = Side("ours plain", "false")
OURS = (FAST, PLAIN)
SIDES = (BASELINE, *OURS)


def result_name(measure: str, side: Side) -> str:
    """The name a side's result is recorded under, e.g. ``push ours plain``."""
    return f"{measure} {side.name}"


def base_environment(project: Path, port: int, work: Path) -> dict[str, str]:
    """This process's environment pointed at the baked project, the bench's Redis and queue."""
    return {
        **os.environ,
        "PYTHONPATH": str(project),
        "QUEUE_CONNECTION": "redis",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(port),
        "REDIS_DB": "0",
        "JOB_QUEUE": QUEUE,
        "WORKER_QUEUES": QUEUE,
        "STORAGE_PATH": str(work / "storage"),
    }


def side_environment(base: Mapping[str, str], side: Side) -> dict[str, str]:
    """``base`` with QUEUE_FAST_PATH set for ``side`` (removed for plain RQ)."""
    environment = {key: value for key, value in base.items() if key != FAST_PATH_VARIABLE}
    if side.fast_path is not None:
        environment[FAST_PATH_VARIABLE] = side.fast_path
    return environment
