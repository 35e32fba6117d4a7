"""bake and suite: ``cookiecutter --no-input`` wall time, and the generated test suite's."""

from __future__ import annotations

import sys
from pathlib import Path

from queuebench.processes import timed_run
from queuebench.project import bake, install_tasks


def bake_times(work: Path, count: int) -> tuple[Path, list[float]]:
    """Bake ``count`` times; the last project (with the bench tasks) and every wall time."""
    baked = [bake(work / f"bake-{index}") for index in range(count)]
    project = baked[-1][0]
    install_tasks(project)
    return project, [seconds for _, seconds in baked]


def suite_seconds(project: Path) -> float:
    """Wall time of ``pytest -q`` in the baked project."""
    return timed_run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
