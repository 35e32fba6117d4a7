"""The versions and machine a run was measured on."""

from __future__ import annotations

import os
import platform
import subprocess

import redis
import rq


def versions() -> dict[str, str]:
    """Python, rq, redis-py, hiredis, redis-server, CPU count and architecture."""
    server = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    try:
        import hiredis

        hiredis_version = hiredis.__version__
    except ImportError:
        hiredis_version = "not installed"
    return {
        "python": platform.python_version(),
        "rq": rq.__version__,
        "redis-py": redis.__version__,
        "hiredis": hiredis_version,
        "redis-server": next((word[2:] for word in server if word.startswith("v=")), "?"),
        "cpus": str(os.cpu_count()),
        "machine": platform.machine(),
    }
