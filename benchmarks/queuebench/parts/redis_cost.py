"""redis_cost: what one job costs Redis, for docs/scaling.md of the generated project.

For each path (QUEUE_FAST_PATH true / false), against the bench's own redis-server:

- commands and round trips per job for push (and push_many), a worker's start and its finish:
  ``CONFIG RESETSTAT``, run the jobs, ``INFO commandstats`` (the commands Redis ran, those inside
  Lua scripts included) divided by the jobs. Push side first, with no worker running; then a
  worker drains them; a worker started and stopped on an empty queue is subtracted from the
  worker side (its start-up and shutdown). Round trips are counted in the producer and worker
  processes themselves (``roundtrips.py``), split into start and finish at the job's function;
- Redis CPU time (``INFO cpu``) per pushed job, network bytes in and out per job (``INFO stats``),
  and bytes of ``used_memory`` per waiting job and per finished job (kept for JOB_RESULT_TTL, one
  day by default);
- drain rate of 1, 2 and 4 ``python queues.py`` workers (started idle first, like ``drain``) with
  Redis CPU per job on the worker side (the drain's CPU minus that of queueing the jobs), the
  share of one core that makes at the drain's rate, and Redis CPU and connections while those
  workers sit idle.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

from queuebench.bench import Bench
from queuebench.processes import environment_of, wait_for_log
from queuebench.redis_jobs import enqueue_noops, run_window, wait_finished
from queuebench.redis_stats import (
    command_calls,
    cpu_seconds,
    network_bytes,
    reset_command_stats,
    used_memory,
)
from queuebench.roundtrips import PROBE, events_of, per_job, probe_environment, worker_phases
from queuebench.sides import FAST_PATH_VARIABLE, OURS, Side, result_name, side_environment
from queuebench.sizes import Sizes

PREFIX = "redis "
IDLE_SECONDS = 0.5  # Redis CPU with the workers started and idle, before the jobs are queued
MARKS = "marks"


def name(measure: str, side: Side) -> str:
    """A result's name: ``redis <measure> <side>``."""
    return result_name(PREFIX + measure, side)


def per_job_calls(calls: Counter[str], jobs: int) -> str:
    """``calls`` per job, most first, for the printed breakdown."""
    return ", ".join(f"{command} {count / jobs:.2f}" for command, count in calls.most_common())


class Probed:
    """The processes of one side, run with the round-trip probe, recording into ``directory``."""

    def __init__(self, bench: Bench, side: Side, directory: Path) -> None:
        self.bench = bench
        self.side = side
        self.directory = directory
        self.environment = probe_environment(side_environment(bench.base_env, side), directory)

    def push(self, jobs: int, many: bool = False) -> int:
        """Push ``jobs`` marks with the project's push (or push_many); the child's PID."""
        command = [sys.executable, str(PROBE / "push_marks.py"), str(jobs), *(["many"] * many)]
        child = subprocess.Popen(
            command,
            cwd=self.bench.project,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        output, _ = child.communicate(timeout=600)
        if child.returncode:
            raise RuntimeError(f"push_marks ({self.side.name}) exited {child.returncode}")
        seen = json.loads(output)["fast_path"]
        self.bench.check_fast_path(self.side, seen, "child push_marks")
        return child.pid

    def worker(self, jobs: int) -> int:
        """Run one ``python queues.py`` until it ran ``jobs`` marks (0: until it listens), stop
        it (warm shutdown); its PID."""
        marks = self.directory / MARKS
        marks.unlink(missing_ok=True)
        log_path = self.directory / f"worker-{jobs}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "queues.py", "--name", f"cost-{self.side.slug}-{jobs}"],
                cwd=self.bench.project,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.bench.processes.append(process)
        try:
            if jobs:
                wait_for_marks(process, marks, jobs, timeout=max(120.0, jobs / 20))
            else:
                wait_for_log(process, log_path, "Listening on", "probed worker")
            seen = environment_of(process.pid).get(FAST_PATH_VARIABLE)
            self.bench.check_fast_path(self.side, seen, "probed worker")
        finally:
            self.bench.stop(process)
        return process.pid


def wait_for_marks(process: subprocess.Popen[bytes], path: Path, jobs: int, timeout: float) -> None:
    """Wait until the marks file has ``jobs`` lines (without asking Redis); raise on timeout."""
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_size < 2 * jobs:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker ran fewer than {jobs} jobs ({path})")
        time.sleep(0.02)


def costs(bench: Bench, side: Side, jobs: int, work: Path) -> Iterator[tuple[str, float]]:
    """Commands, round trips, CPU and memory per job of one path."""
    redis = bench.redis
    probed = Probed(bench, side, work)

    redis.flushdb()
    reset_command_stats(redis)
    child = probed.push(jobs, many=True)
    calls = command_calls(redis)
    yield name("push_many commands run/job", side), calls.total() / jobs
    cost = per_job(events_of(work, child), jobs)
    yield name("push_many round trips/job", side), cost.round_trips

    redis.flushdb()
    memory = used_memory(redis)
    cpu = cpu_seconds(redis)
    reset_command_stats(redis)
    child = probed.push(jobs)
    calls = command_calls(redis)
    traffic = network_bytes(redis)
    push_cpu = cpu_seconds(redis) - cpu
    print(f"    push commands per job ({side.name}): {per_job_calls(calls, jobs)}", flush=True)
    yield name("push commands run/job", side), calls.total() / jobs
    cost = per_job(events_of(work, child), jobs)
    yield name("push commands sent/job", side), cost.commands
    yield name("push round trips/job", side), cost.round_trips
    yield name("push cpu us/job", side), push_cpu / jobs * 1e6
    yield name("push network bytes/job", side), traffic / jobs
    yield name("bytes/waiting job", side), (used_memory(redis) - memory) / jobs

    reset_command_stats(redis)
    worker = probed.worker(jobs)
    busy, busy_traffic = command_calls(redis), network_bytes(redis)
    finished_memory = used_memory(redis)
    reset_command_stats(redis)
    probed.worker(0)
    calls = busy - command_calls(redis)
    traffic = busy_traffic - network_bytes(redis)
    print(f"    worker commands per job ({side.name}): {per_job_calls(calls, jobs)}", flush=True)
    yield name("worker commands run/job", side), calls.total() / jobs
    yield name("worker network bytes/job", side), traffic / jobs
    start, finish = worker_phases(events_of(work, worker))
    yield name("start commands sent/job", side), start.commands
    yield name("start round trips/job", side), start.round_trips
    yield name("finish commands sent/job", side), finish.commands
    yield name("finish round trips/job", side), finish.round_trips
    yield name("bytes/finished job", side), (finished_memory - memory) / jobs


def queueing_cpu(bench: Bench, jobs: int) -> float:
    """Redis CPU seconds per job of queueing the drain's jobs (RQ's enqueue_many, no worker)."""
    redis = bench.redis
    redis.flushdb()
    cpu = cpu_seconds(redis)
    enqueue_noops(redis, bench.tasks().noop, range(jobs))
    spent = cpu_seconds(redis) - cpu
    redis.flushdb()
    return spent / jobs


def drain(
    bench: Bench, side: Side, jobs: int, workers: int, queueing: float
) -> Iterator[tuple[str, float]]:
    """Jobs/s of ``workers`` idle workers, Redis CPU per job on their side, CPU % at that rate."""
    redis = bench.redis
    with bench.workers(side, workers):
        cpu = cpu_seconds(redis)
        time.sleep(IDLE_SECONDS)
        idle = (cpu_seconds(redis) - cpu) / IDLE_SECONDS
        connections = int(redis.info("clients")["connected_clients"]) - 1  # not ours
        cpu = cpu_seconds(redis)
        job_ids = enqueue_noops(redis, bench.tasks().noop, range(jobs))
        wait_finished(redis, jobs, timeout=max(120.0, jobs / 20), who=side.name)
        spent = cpu_seconds(redis) - cpu
        first_start, last_end = run_window(redis, job_ids)
    rate = jobs / (last_end - first_start)
    worker_cpu = max(spent / jobs - queueing, 0.0)
    yield name(f"drain x{workers} jobs/s", side), rate
    yield name(f"drain x{workers} worker cpu us/job", side), worker_cpu * 1e6
    yield name(f"drain x{workers} redis cpu %", side), worker_cpu * rate * 100
    yield name(f"idle x{workers} redis cpu %", side), idle * 100
    yield name(f"idle x{workers} connections/worker", side), connections / workers


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """Costs per job of each path, then drains of 1, 2 and 4 workers of each path."""
    with tempfile.TemporaryDirectory(prefix="redis-cost-", dir=bench.work) as scratch:
        for side in OURS:
            work = Path(scratch) / side.slug
            work.mkdir()
            yield from costs(bench, side, sizes.redis_cost, work)
    queueing = queueing_cpu(bench, sizes.redis_cost_drain)
    yield PREFIX + "enqueue_many cpu us/job", queueing * 1e6
    for workers in sizes.redis_cost_workers:
        for side in OURS:
            yield from drain(bench, side, sizes.redis_cost_drain, workers, queueing)


def figure(value: float | None) -> str:
    """A measured value: two decimals, three significant digits below 1."""
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"


def report_lines(medians: Mapping[str, float]) -> list[str]:
    """The redis_cost section of the report (empty when the part did not run)."""
    rows = sorted({key.rsplit(" ours ", 1)[0] for key in medians if key.startswith(PREFIX)})
    if not rows:
        return []
    lines = ["", "Redis cost per job (see docs/scaling.md of the generated project):"]
    for row in rows:
        values = [medians.get(result_name(row, side)) for side in OURS]
        cells = " | ".join(
            f"{side.name} {value:.2f}"
            for side, value in zip(OURS, values, strict=True)
            if value is not None
        )
        single = medians.get(row)
        lines.append(f"  {row.removeprefix(PREFIX):<34} {cells or figure(single)}")
    return lines
