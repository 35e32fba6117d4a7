"""A newcomer's path: a fresh virtualenv, ``pip install -e '.[test]'``, ``main.py``, ``pytest``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import bake


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_fresh_virtualenv_installs_runs_main_and_passes_its_suite(tmp_path: Path) -> None:
    project = bake(tmp_path)
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], project).returncode == 0
    python = str(venv / "bin" / "python")
    install = run([python, "-m", "pip", "install", "-q", "-e", ".[test]"], project)
    assert install.returncode == 0, install.stderr[-3000:]
    demo = run([python, "main.py"], project)
    assert demo.returncode == 0, demo.stderr
    assert "Ran inline before push returned" in demo.stderr
    suite = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert suite.returncode == 0, suite.stdout[-3000:]
