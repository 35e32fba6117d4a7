"""Side-by-side benchmark: the generated project's queue against plain RQ, in the same run.

    python benchmarks/queue_bench.py               # full run (about three minutes on 2 cores)
    python benchmarks/queue_bench.py --quick       # tiny N, one repetition (the smoke test's run)
    python benchmarks/queue_bench.py --suite       # also time the generated test suite
    python benchmarks/queue_bench.py --only latency,drain   # just those measures (faster)

It starts its own ``redis-server`` on a free loopback port, bakes a project into a temporary
directory, and alternates baseline and ours inside every repetition, so both sides see the same
machine state. Each measurement runs in fresh processes (enqueuers write their logs to /dev/null,
workers to a file), and the report prints medians over the repetitions and the ratio ours/baseline.

What is compared (issue 5):
  push          ``application.queue().push`` vs ``rq.Queue.enqueue``, one process, one job a call
  push_many     ``application.queue().push_many`` vs ``rq.Queue.enqueue`` (and RQ's enqueue_many)
  drain         no-op jobs per second: ``python queues.py`` vs forking ``rq worker``
                (both started idle first; the rate is from the first job's start to the last end)
  two workers   two ``python queues.py`` processes vs one
  latency       enqueue -> job start with an idle worker (p50), ours vs forking ``rq worker``
  push_at       lateness of scheduled jobs (p95, minimum must be >= 0)
  rss           the worker's resident memory after 1,000 and after 10,000 jobs
  bake          ``cookiecutter --no-input`` wall time
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
QUEUE = "bench"
PARTS = ("push", "drain", "latency", "push_at", "rss")

# Written into the baked project: module-level tasks both workers can import.
BENCH_TASKS = '''"""Benchmark tasks (written by benchmarks/queue_bench.py)."""

import time


def noop(*args):
    return None


def stamp(path, sent):
    with open(path, "a") as out:
        out.write(f"{time.time() - sent:.6f}\\n")
'''


# ---------------------------------------------------------------------------------------------
# Children: each measurement that runs project code does so in a fresh process.
# ---------------------------------------------------------------------------------------------


def child_enqueue(kind: str, count: int, warmup: int) -> None:
    """Print jobs/s for ``count`` enqueues of ``bench_tasks.noop`` (after ``warmup`` of them)."""
    import bench_tasks  # type: ignore[import-not-found]
    from redis import Redis
    from rq import Queue as RQQueue

    port = int(os.environ["REDIS_PORT"])
    if kind.startswith("rq"):
        queue = RQQueue(QUEUE, connection=Redis(port=port))
        if kind == "rq":

            def run(numbers: range) -> None:
                for number in numbers:
                    queue.enqueue(bench_tasks.noop, number)
        else:

            def run(numbers: range) -> None:
                for start in range(numbers.start, numbers.stop, 1000):
                    batch = range(start, min(start + 1000, numbers.stop))
                    queue.enqueue_many(
                        [RQQueue.prepare_data(bench_tasks.noop, (number,)) for number in batch]
                    )
    else:
        from app import PROJECT_ROOT, Application

        ours = Application(PROJECT_ROOT, environ=dict(os.environ)).queue()
        if kind == "ours":

            def run(numbers: range) -> None:
                for number in numbers:
                    if not ours.push(bench_tasks.noop, number):
                        raise SystemExit("push failed")
        else:

            def run(numbers: range) -> None:
                for start in range(numbers.start, numbers.stop, 1000):
                    batch = [(number,) for number in range(start, min(start + 1000, numbers.stop))]
                    if ours.push_many(bench_tasks.noop, batch) != len(batch):
                        raise SystemExit("push_many failed")

    run(range(warmup))
    started = time.perf_counter()
    run(range(warmup, warmup + count))
    elapsed = time.perf_counter() - started
    print(json.dumps({"rate": count / elapsed}))


def child_latency(count: int, path: str) -> None:
    """Push ``count`` stamp jobs one at a time with the project's queue, each once the last ran."""
    import bench_tasks  # type: ignore[import-not-found]
    from app import PROJECT_ROOT, Application

    queue = Application(PROJECT_ROOT, environ=dict(os.environ)).queue()
    for index in range(count):
        time.sleep(0.05)  # the worker is idle, blocked on the queue
        if not queue.push(bench_tasks.stamp, path, time.time()):
            raise SystemExit("push failed")
        wait_for_lines(Path(path), index + 1, timeout=30)
    print(json.dumps({"pushed": count}))


def child_push_at(count: int, path: str) -> None:
    """Schedule ``count`` stamp jobs 1-3 s ahead (random sub-second offsets); print due times."""
    import bench_tasks  # type: ignore[import-not-found]
    from app import PROJECT_ROOT, Application

    queue = Application(PROJECT_ROOT, environ=dict(os.environ)).queue()
    due = []
    for _ in range(count):
        when = time.time() + random.uniform(1.0, 3.0)
        if not queue.push_at(datetime.fromtimestamp(when), bench_tasks.stamp, path, when):
            raise SystemExit("push_at failed")
        due.append(when)
    print(json.dumps(due))


# ---------------------------------------------------------------------------------------------
# The orchestrator.
# ---------------------------------------------------------------------------------------------


def load_redis_support() -> Any:
    path = PROJECT_TEMPLATE / "tests" / "support" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("bench_redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Bench:
    """One baked project, one redis-server, and the measurements."""

    def __init__(self, project: Path, port: int, work: Path) -> None:
        from redis import Redis

        self.project = project
        self.port = port
        self.work = work
        self.redis = Redis(port=port)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(project),
            "QUEUE_CONNECTION": "redis",
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(port),
            "REDIS_DB": "0",
            "JOB_QUEUE": QUEUE,
            "WORKER_QUEUES": QUEUE,
            "STORAGE_PATH": str(work / "storage"),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    # -- processes -----------------------------------------------------------------------------

    def child(self, *arguments: str) -> Any:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", *arguments]
        result = subprocess.run(
            command,
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=600,
        )
        return json.loads(result.stdout)

    def start_worker(self, kind: str, name: str) -> subprocess.Popen[bytes]:
        log_path = self.work / f"{name}.log"
        if kind == "rq":
            command = [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--url",
                f"redis://127.0.0.1:{self.port}/0",
                "--name",
                name,
                QUEUE,
            ]
        else:
            command = [sys.executable, "queues.py", "--name", name]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=self.project, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        deadline = time.monotonic() + 30
        while "Listening on" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{log_path.read_text()}")
            time.sleep(0.02)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.remove(process)

    @contextlib.contextmanager
    def workers(self, kind: str, count: int = 1) -> Iterator[list[subprocess.Popen[bytes]]]:
        self.redis.flushdb()
        started = [
            self.start_worker(kind, f"{kind}-{index}-{os.getpid()}") for index in range(count)
        ]
        try:
            yield started
        finally:
            for process in started:
                self.stop(process)

    # -- measurements --------------------------------------------------------------------------

    def enqueue_rate(self, kind: str, count: int) -> float:
        self.redis.flushdb()
        return float(self.child("enqueue", kind, str(count), str(min(200, count)))["rate"])

    def drain_rate(self, kind: str, count: int, workers: int = 1) -> float:
        """Jobs per second from the first job's start to the last job's end."""
        from rq import Queue as RQQueue
        from rq.registry import FinishedJobRegistry

        with self.workers(kind, workers):
            queue = RQQueue(QUEUE, connection=self.redis)
            sys.path.insert(0, str(self.project))
            import bench_tasks  # type: ignore[import-not-found]

            ids = []
            for start in range(0, count, 1000):
                batch = range(start, min(start + 1000, count))
                jobs = queue.enqueue_many(
                    [RQQueue.prepare_data(bench_tasks.noop, (number,)) for number in batch]
                )
                ids += [job.id for job in jobs]
            finished = FinishedJobRegistry(QUEUE, connection=self.redis)
            deadline = time.monotonic() + max(120.0, count / 20)
            while finished.count < count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: only {finished.count} of {count} jobs finished")
                time.sleep(0.05)
            with self.redis.pipeline(transaction=False) as pipeline:
                for job_id in ids:
                    pipeline.hmget(f"rq:job:{job_id}", "started_at", "ended_at")
                stamps = pipeline.execute()
        starts = [parse_time(started) for started, _ in stamps]
        ends = [parse_time(ended) for _, ended in stamps]
        return count / (max(ends) - min(starts))

    def latency(self, kind: str, samples: int) -> list[float]:
        """Seconds from just before enqueue to the job's first line, one job at a time.

        Each side enqueues its own way: plain ``rq.Queue.enqueue`` for the forking ``rq worker``,
        the project's ``push`` (in a child process running the project) for ours.
        """
        from rq import Queue as RQQueue

        path = self.work / f"latency-{kind}.txt"
        path.unlink(missing_ok=True)
        import bench_tasks  # type: ignore[import-not-found]

        with self.workers(kind):
            if kind == "ours":
                self.child("latency", str(samples), str(path))
            else:
                queue = RQQueue(QUEUE, connection=self.redis)
                for index in range(samples):
                    time.sleep(0.05)  # the worker is idle, blocked on the queue
                    queue.enqueue(bench_tasks.stamp, str(path), time.time())
                    wait_for_lines(path, index + 1, timeout=30)
        return [float(line) for line in path.read_text().split()]

    def push_at_lateness(self, count: int) -> list[float]:
        path = self.work / "push_at.txt"
        path.unlink(missing_ok=True)
        with self.workers("ours"):
            self.child("push_at", str(count), str(path))
            wait_for_lines(path, count, timeout=60)
        return [float(line) for line in path.read_text().split()]

    def worker_rss(self, total: int, checkpoints: list[int]) -> list[tuple[int, int]]:
        """(jobs done, worker RSS in KiB) at each checkpoint."""
        import bench_tasks  # type: ignore[import-not-found]
        from rq import Queue as RQQueue
        from rq.registry import FinishedJobRegistry

        samples = []
        with self.workers("ours") as (worker,):
            queue = RQQueue(QUEUE, connection=self.redis)
            finished = FinishedJobRegistry(QUEUE, connection=self.redis)
            queued = 0
            for checkpoint in checkpoints:
                while queued < checkpoint:
                    batch = range(queued, min(queued + 1000, checkpoint))
                    queue.enqueue_many(
                        [RQQueue.prepare_data(bench_tasks.noop, (number,)) for number in batch]
                    )
                    queued = batch.stop
                deadline = time.monotonic() + 300
                while finished.count < checkpoint and time.monotonic() < deadline:
                    time.sleep(0.05)
                samples.append((checkpoint, rss_kib(worker.pid)))
        return samples


def bake(output: Path) -> tuple[Path, float]:
    started = time.perf_counter()
    subprocess.run(
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
        ],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    (project,) = [path for path in output.iterdir() if path.is_dir()]
    return project, elapsed


def parse_time(raw: bytes) -> float:
    from datetime import UTC

    text = raw.decode().rstrip("Z")
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def wait_for_lines(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().splitlines()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name}: fewer than {count} lines after {timeout} s")
        time.sleep(0.001)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def versions() -> dict[str, str]:
    import redis
    import rq

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


# ---------------------------------------------------------------------------------------------


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    quick = arguments.quick
    only = set(arguments.only.split(",")) if arguments.only else set(PARTS)
    if only - set(PARTS):
        raise SystemExit(f"--only: unknown part(s) {sorted(only - set(PARTS))}; pick from {PARTS}")
    reps = arguments.reps or (1 if quick else 3)
    n_push = 50 if quick else 3000
    n_drain_rq = 20 if quick else 150
    n_drain = 50 if quick else 3000
    n_latency = 5 if quick else 40
    n_push_at = 3 if quick else 20
    rss_points = [100, 300] if quick else [1000, 10000]

    redis_support = load_redis_support()
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as scratch:
        work = Path(scratch)
        server = redis_support.RedisServer(work / "redis").start()
        bench: Bench | None = None
        try:
            bake_times = []
            project = None
            for index in range(1 if quick else 3):
                project, seconds = bake(work / f"bake-{index}")
                bake_times.append(seconds)
            assert project is not None
            (project / "bench_tasks.py").write_text(BENCH_TASKS)
            bench = Bench(project, server.port, work)
            sys.path.insert(0, str(project))
            results: dict[str, list[float]] = {}

            def record(name: str, value: float) -> None:
                results.setdefault(name, []).append(value)
                print(f"  {name:<24} {value:12.2f}", flush=True)

            steps: list[tuple[str, str, Callable[[], float]]] = [
                ("push", "push rq.enqueue", lambda: bench.enqueue_rate("rq", n_push)),
                ("push", "push ours", lambda: bench.enqueue_rate("ours", n_push)),
                ("push", "many rq.enqueue_many", lambda: bench.enqueue_rate("rq_many", n_push)),
                ("push", "many ours.push_many", lambda: bench.enqueue_rate("ours_many", n_push)),
                ("drain", "drain rq worker (fork)", lambda: bench.drain_rate("rq", n_drain_rq)),
                ("drain", "drain ours x1", lambda: bench.drain_rate("ours", n_drain)),
                ("drain", "drain ours x2", lambda: bench.drain_rate("ours", n_drain, workers=2)),
            ]
            for rep in range(reps):
                print(f"repetition {rep + 1}/{reps}", flush=True)
                for part, name, step in steps:
                    if part in only:
                        record(name, step())
                if "latency" in only:
                    for kind in ("rq", "ours"):
                        latencies = bench.latency(kind, n_latency)
                        record(f"latency p50 ms {kind}", 1000 * statistics.median(latencies))
                if "push_at" in only:
                    lateness = bench.push_at_lateness(n_push_at)
                    record("push_at p95 late s", percentile(lateness, 0.95))
                    record("push_at min late s", min(lateness))
            rss = bench.worker_rss(rss_points[-1], rss_points) if "rss" in only else []
            suite = time_suite(project) if arguments.suite else None
        finally:
            if bench is not None:
                for process in list(bench.processes):
                    bench.stop(process)
            server.stop()
    medians = {name: statistics.median(values) for name, values in results.items()}
    return {
        "versions": versions(),
        "reps": reps,
        "n": {"push": n_push, "drain_rq": n_drain_rq, "drain": n_drain, "latency": n_latency},
        "medians": medians,
        "all": results,
        "bake_seconds": statistics.median(bake_times),
        "rss_kib": rss,
        "suite_seconds": suite,
    }


def time_suite(project: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def report(summary: dict[str, Any]) -> str:
    m = summary["medians"]
    # (measure, baseline key, ours key, target); a row is left out when --only skipped it.
    rows = [
        ("push (jobs/s)", "push rq.enqueue", "push ours", ">= 2.0x"),
        ("push_many (jobs/s)", "push rq.enqueue", "many ours.push_many", ">= 5x"),
        ("  rq enqueue_many, for reference", "push rq.enqueue", "many rq.enqueue_many", ""),
        (
            "drain no-op (jobs/s)",
            "drain rq worker (fork)",
            "drain ours x1",
            ">= 4x (stretch 15x)",
        ),
        ("two workers vs one", "drain ours x1", "drain ours x2", ">= 1.5x"),
        ("enqueue->start p50 (ms)", "latency p50 ms rq", "latency p50 ms ours", "ours <= 3 ms"),
    ]
    lines = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
        f"medians of {summary['reps']} repetitions; N = {summary['n']}",
        "",
        f"| {'measure':<34} | {'baseline':>10} | {'ours':>10} | {'ratio':>7} | target |",
        f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|{'-' * 9}|--------|",
    ]
    for name, base_key, ours_key, target in rows:
        if base_key in m and ours_key in m:
            base, ours = m[base_key], m[ours_key]
            lines.append(
                f"| {name:<34} | {base:10.1f} | {ours:10.1f} | {ours / base:6.2f}x | {target} |"
            )
    lines.append("")
    if "push_at p95 late s" in m:
        lines.append(
            f"push_at lateness: p95 {m['push_at p95 late s']:.3f} s (target <= 1.2 s),"
            f" minimum {m['push_at min late s']:.3f} s (must be >= 0)"
        )
    lines.append(f"bake: {summary['bake_seconds']:.2f} s (target <= 1 s)")
    if summary["rss_kib"]:
        lines.append(
            "worker RSS: "
            + ", ".join(
                f"{kib / 1024:.1f} MiB after {jobs} jobs" for jobs, kib in summary["rss_kib"]
            )
        )
    if summary["suite_seconds"] is not None:
        lines.append(f"generated test suite: {summary['suite_seconds']:.1f} s (target <= 10 s)")
    per_rep = {name: values for name, values in summary["all"].items() if len(values) > 1}
    if per_rep:
        lines.append(
            "per repetition: "
            + "; ".join(
                f"{name} " + " / ".join(f"{value:.2f}" for value in values)
                for name, values in per_rep.items()
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny N, one repetition")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--suite", action="store_true", help="also time the generated tests")
    parser.add_argument(
        "--only", help=f"comma-separated parts to measure (default all): {','.join(PARTS)}"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        name, *rest = arguments.child
        if name == "enqueue":
            child_enqueue(rest[0], int(rest[1]), int(rest[2]))
        elif name == "latency":
            child_latency(int(rest[0]), rest[1])
        elif name == "push_at":
            child_push_at(int(rest[0]), rest[1])
        return 0
    summary = run(arguments)
    print()
    print(report(summary))
    if arguments.json:
        arguments.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
