"""A newcomer's path: a fresh virtualenv, ``pip install -e '.[test]'``, ``main.py``, ``pytest``;
on this Python and on the newest one here, with fork-from-threads warnings as errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import bake
from interpreters import newest_python

# CPython 3.12+ warns when a process with threads forks (the child can deadlock on a lock held by
# another thread); the generated project must never do it, so the warning fails the run.
FORK_FROM_THREADS_IS_AN_ERROR = "error:This process:DeprecationWarning"
NEWEST_PYTHON, NEWEST_VERSION = newest_python()
INTERPRETERS = {f"python{sys.version_info[0]}.{sys.version_info[1]}": sys.executable}
INTERPRETERS.setdefault(f"python{NEWEST_VERSION[0]}.{NEWEST_VERSION[1]}", NEWEST_PYTHON)


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=900
    )


def test_the_newest_python_here_is_at_least_3_13() -> None:
    """The fork check below means something only on 3.12+; CI's machine has 3.13."""
    if NEWEST_VERSION < (3, 13) and os.environ.get("CI") != "true":
        pytest.skip(f"the newest Python here is {NEWEST_VERSION}; install 3.13 to run the check")
    assert NEWEST_VERSION >= (3, 13), NEWEST_PYTHON


@pytest.mark.parametrize("interpreter", list(INTERPRETERS))
def test_fresh_virtualenv_installs_runs_main_and_passes_its_suite(
    tmp_path: Path, interpreter: str
) -> None:
    project = bake(tmp_path)
    venv = tmp_path / "venv"
    created = run([INTERPRETERS[interpreter], "-m", "venv", str(venv)], project)
    assert created.returncode == 0, created.stderr
    python = str(venv / "bin" / "python")
    install = run([python, "-m", "pip", "install", "-q", "-e", ".[test]"], project)
    assert install.returncode == 0, install.stderr[-3000:]
    demo = run([python, "main.py"], project)
    assert demo.returncode == 0, demo.stderr
    assert "Ran inline before push returned" in demo.stderr
    suite = run(
        [
            python,
            "-W",
            FORK_FROM_THREADS_IS_AN_ERROR,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        project,
        PYTHONWARNINGS=FORK_FROM_THREADS_IS_AN_ERROR,
    )
    assert suite.returncode == 0, suite.stdout[-3000:]
    assert "is multi-threaded, use of fork()" not in suite.stdout + suite.stderr
