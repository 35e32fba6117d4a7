"""One run's shared state: the baked project, the Redis, and each side's processes."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from redis import Redis

from queuebench.processes import environment_of, stop, wait_for_log
from queuebench.sides import (
    FAST_PATH_VARIABLE,
    QUEUE,
    Side,
    base_environment,
    side_environment,
)

ENTRY_POINT = Path(__file__).resolve().parent.parent / "queue_bench.py"


class Bench:
    """Runs children and workers for a side, each with that side's QUEUE_FAST_PATH.

    Every process a side starts is checked to have seen the side's value (a child reports it,
    a worker's ``/proc/PID/environ`` is read); ``fast_path_checks`` counts them per side.
    """

    def __init__(self, project: Path, port: int, work: Path) -> None:
        self.project = project
        self.port = port
        self.work = work
        self.redis = Redis(port=port)
        self.base_env = base_environment(project, port, work)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.fast_path_checks: Counter[str] = Counter()
        sys.path.insert(0, str(project))

    def tasks(self) -> ModuleType:
        """The project's ``bench_tasks`` module, imported here for in-process enqueues."""
        return importlib.import_module("bench_tasks")

    def check_fast_path(self, side: Side, seen: str | None, who: str) -> None:
        """Raise unless a process of ``side`` saw the side's QUEUE_FAST_PATH."""
        if seen != side.fast_path:
            raise RuntimeError(
                f"{who} ({side.name}) saw {FAST_PATH_VARIABLE}={seen!r},"
                f" expected {side.fast_path!r}"
            )
        self.fast_path_checks[side.name] += 1

    # -- processes -----------------------------------------------------------------------------

    def child(self, side: Side, *arguments: str) -> dict[str, Any]:
        """Run ``queue_bench.py --child ARGUMENTS`` in the project for ``side``; its JSON."""
        result = subprocess.run(
            [sys.executable, str(ENTRY_POINT), "--child", *arguments],
            cwd=self.project,
            env=side_environment(self.base_env, side),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=600,
        )
        output: dict[str, Any] = json.loads(result.stdout)
        self.check_fast_path(side, output.pop("fast_path"), f"child {arguments[0]}")
        return output

    def start_worker(self, side: Side, name: str) -> subprocess.Popen[bytes]:
        """Start ``python queues.py`` (ours) or a forking ``rq worker``; wait until it listens."""
        if side.ours:
            command = [sys.executable, "queues.py", "--name", name]
        else:
            url = f"redis://127.0.0.1:{self.port}/0"
            command = [sys.executable, "-m", "rq.cli", "worker", "--url", url, "--name", name]
            command.append(QUEUE)
        log_path = self.work / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=self.project,
                env=side_environment(self.base_env, side),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        wait_for_log(process, log_path, "Listening on", f"worker {name}")
        seen = environment_of(process.pid).get(FAST_PATH_VARIABLE)
        self.check_fast_path(side, seen, f"worker {name}")
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a process this bench started."""
        stop(process)
        self.processes.remove(process)

    def stop_all(self) -> None:
        """Stop every process still running."""
        for process in list(self.processes):
            self.stop(process)

    @contextlib.contextmanager
    def workers(self, side: Side, count: int = 1) -> Iterator[list[subprocess.Popen[bytes]]]:
        """An empty Redis and ``count`` idle workers of ``side``, stopped afterwards."""
        self.redis.flushdb()
        started = [
            self.start_worker(side, f"{side.slug}-{index}-{os.getpid()}") for index in range(count)
        ]
        try:
            yield started
        finally:
            for process in started:
                self.stop(process)
