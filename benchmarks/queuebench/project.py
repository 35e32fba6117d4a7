"""The baked project: the template's location, one ``cookiecutter`` run, the benchmark's tasks."""

from __future__ import annotations

import sys
from pathlib import Path

from queuebench.processes import timed_run

TEMPLATE_ROOT = Path(__file__).resolve().parents[2]
PROJECT_TEMPLATE = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"

# Written into the baked project: module-level tasks both workers can import.
BENCH_TASKS = '''"""Benchmark tasks (written by benchmarks/queue_bench.py)."""

import time


def noop(*args):
    return None


def stamp(path, sent):
    with open(path, "a") as out:
        out.write(f"{time.time() - sent:.6f}\\n")
'''


def bake(output: Path) -> tuple[Path, float]:
    """Generate a project with the defaults into ``output``: its directory and the wall time."""
    seconds = timed_run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            str(TEMPLATE_ROOT),
            "--no-input",
            "-f",
            "-o",
            str(output),
            "redis_check=skip",
        ]
    )
    (project,) = [path for path in output.iterdir() if path.is_dir()]
    return project, seconds


def install_tasks(project: Path) -> None:
    """Write ``bench_tasks.py`` (``noop``, ``stamp``) into the project."""
    (project / "bench_tasks.py").write_text(BENCH_TASKS)
