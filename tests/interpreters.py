"""Find the newest CPython on this machine (PATH, then pyenv), for the newest-Python checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CANDIDATES = ("python3.14", "python3.13", "python3.12")


def newest_python() -> tuple[str, tuple[int, int]]:
    """The path and version of the newest CPython that runs here (this one at least)."""
    found = [(sys.executable, sys.version_info[:2])]
    for path in _candidate_paths():
        version = _version(path)
        if version is not None:
            found.append((path, version))
    return max(found, key=lambda entry: entry[1])


def _candidate_paths() -> list[str]:
    paths = [path for name in CANDIDATES if (path := shutil.which(name))]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    paths += [str(path) for path in sorted(pyenv_root.glob("versions/3.1[2-9]*/bin/python3"))]
    return paths


def _version(path: str) -> tuple[int, int] | None:
    """(major, minor) of the interpreter at ``path``; None if it does not run (a pyenv shim)."""
    try:
        result = subprocess.run(
            [path, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    major, minor = result.stdout.split()
    return int(major), int(minor)
