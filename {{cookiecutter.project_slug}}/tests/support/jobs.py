"""Module-level tasks for tests: importable by a worker process, like app/jobs."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from rq import get_current_job

from app.queue import current_job, task


def record_pid(path: str) -> int:
    """Write this process's id to ``path`` and return it."""
    Path(path).write_text(str(os.getpid()), encoding="utf-8")
    return os.getpid()


def sleep_then_write(path: str, seconds: float) -> None:
    """A slow job: sleep, then write ``done`` to ``path``."""
    time.sleep(seconds)
    Path(path).write_text("done", encoding="utf-8")


def record_attempt(path: str, first_attempt_seconds: float) -> int:
    """Append one line per attempt; the first attempt is slow (a window to kill the worker in)."""
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\n")
    attempts = len(Path(path).read_text(encoding="utf-8").splitlines())
    if attempts == 1:
        time.sleep(first_attempt_seconds)
    return attempts


def record_once(directory: str, number: int) -> None:
    """Create ``directory/number``; a second run of the same job fails loudly."""
    descriptor = os.open(Path(directory) / str(number), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(descriptor, str(os.getpid()).encode())
    os.close(descriptor)


def record_once_for(directory: str, number: int, seconds: float) -> None:
    """``record_once``, taking ``seconds``; the file then reads ``<pid> <start> <end>``, so runs
    that overlapped in one process can be counted."""
    descriptor = os.open(Path(directory) / str(number), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    started = time.time()
    time.sleep(seconds)
    os.write(descriptor, f"{os.getpid()} {started:.6f} {time.time():.6f}".encode())
    os.close(descriptor)


def record_run(path: str, number: int, seconds: float = 0.0) -> None:
    """Append ``start N <time>``, sleep ``seconds``, append ``end N <time>``: a log of runs that
    outlives Redis, for the failover tests."""
    _append(path, f"start {number} {time.time():.6f}\n")
    time.sleep(seconds)
    _append(path, f"end {number} {time.time():.6f}\n")


def _append(path: str, line: str) -> None:
    """One ``O_APPEND`` write: lines of concurrent runs never interleave."""
    descriptor = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


def stubborn_sleep(path: str, seconds: float) -> str:
    """Sleep ``seconds`` (one C call), ignore any exception raised meanwhile (a timeout), then
    write ``done`` to ``path`` and return: a run that goes on past its deadline."""
    with contextlib.suppress(Exception):
        time.sleep(seconds)
    Path(path).write_text("done", encoding="utf-8")
    return "done"


def which_job_after(seconds: float) -> tuple[str, int] | None:
    """``which_job()`` after ``seconds``: read while other jobs run in other threads."""
    time.sleep(seconds)
    return which_job()


def record_start(path: str) -> None:
    """Write the wall-clock time at which the job started."""
    Path(path).write_text(repr(time.time()), encoding="utf-8")


def fail(message: str) -> None:
    raise RuntimeError(message)


@task(retries=0, timeout=7, queue="reports")
def decorated(value: int) -> int:
    return value * 2


def echo(*args: object, **kwargs: object) -> dict[str, object]:
    return {"args": list(args), "kwargs": kwargs}


class Greeter:
    """An importable class whose bound methods can be pushed."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}"


def note_attempt_then_fail_once(path: str) -> None:
    """Append ``<job id> <attempt>`` from ``current_job()``; the first attempt fails."""
    job = current_job()
    assert job is not None
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{job.id} {job.attempt}\n")
    if job.attempt == 1:
        raise RuntimeError("first attempt fails")


def which_job() -> tuple[str, int] | None:
    """The running job's id and attempt, as ``current_job()`` tells the task."""
    job = current_job()
    return (job.id, job.attempt) if job else None


def cancel_myself() -> str:
    """Cancel the running job from inside it (as ``rq cancel`` would), then finish."""
    job = get_current_job()
    assert job is not None
    job.cancel()
    return "finished anyway"
