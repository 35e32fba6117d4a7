"""Stamp files: one float a line, appended by jobs (``bench_tasks.stamp``) and read back."""

from __future__ import annotations

import time
from pathlib import Path


def fresh(path: Path) -> Path:
    """``path`` with any previous file removed."""
    path.unlink(missing_ok=True)
    return path


def wait_for_lines(path: Path, count: int, timeout: float) -> None:
    """Wait until the file has ``count`` lines; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().splitlines()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name}: fewer than {count} lines after {timeout} s")
        time.sleep(0.001)


def read_floats(path: Path) -> list[float]:
    """Every line of the file as a float."""
    return [float(line) for line in path.read_text().split()]
