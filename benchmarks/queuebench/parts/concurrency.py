"""concurrency: I/O-bound jobs through one worker process, ours (WORKER_CONCURRENCY) and rivals.

400 jobs that each sleep 50 ms (the I/O stand-in) are queued, then one worker process starts and
runs them: ours (fast path) with WORKER_CONCURRENCY 1, 8 and 32, Dramatiq (one process, 8
threads) and Celery (``--pool=threads --concurrency=8``), all on the bench's Redis. Every job
has the same body (``JOB_BODY``): it sleeps, then appends ``pid start end`` to a Redis list, so
the throughput (jobs over first start to last end) and the process that ran the jobs (its peak
resident memory, VmHWM, read before it stops) are measured the same way for all. Besides, the
no-op drain of one fast-path worker with WORKER_CONCURRENCY 8 against 1: threads must not slow
down jobs that do not wait.

Dramatiq and Celery are not dependencies of the generated project: the first full run installs
them (``benchmarks/requirements-concurrency.txt``) into a private venv cached under
``~/.cache/queuebench``. ``--quick`` measures ours only and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from rq import Queue as RQQueue

from queuebench.bench import Bench
from queuebench.parts.drain import drain_rate
from queuebench.redis_jobs import enqueue_many
from queuebench.sides import FAST, QUEUE
from queuebench.sizes import Sizes

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements-concurrency.txt"
RUNS = "concurrency:runs"  # the list every job appends ``pid start end`` to
SECONDS = 0.05
RIVAL_THREADS = 8
RIVAL_QUEUE = "conc"

JOB_BODY = f'''"""The concurrency benchmark's job (written by queuebench/parts/concurrency.py)."""

import os
import time

import redis

_client = redis.Redis.from_url(os.environ["CONCURRENCY_REDIS_URL"])


def sleep_job(number, seconds={SECONDS}):
    started = time.time()
    time.sleep(seconds)
    _client.rpush("{RUNS}", f"{{os.getpid()}} {{started:.6f}} {{time.time():.6f}}")
'''
DRAMATIQ_APP = f'''import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import concurrency_job

dramatiq.set_broker(RedisBroker(url=os.environ["CONCURRENCY_REDIS_URL"]))
sleep_job = dramatiq.actor(concurrency_job.sleep_job, max_retries=0, queue_name="{RIVAL_QUEUE}")
'''
CELERY_APP = f'''import os

from celery import Celery

import concurrency_job

app = Celery("concurrency", broker=os.environ["CONCURRENCY_REDIS_URL"])
app.conf.task_default_queue = "{RIVAL_QUEUE}"
sleep_job = app.task(name="sleep_job", ignore_result=True)(concurrency_job.sleep_job)
'''
# Run in the rivals' venv: queue ``count`` jobs with the framework's own client.
ENQUEUE = {
    "dramatiq": "from dramatiq_app import sleep_job\n"
    "for n in range({count}):\n    sleep_job.send(n, {seconds})\n",
    "celery": "from celery_app import sleep_job\n"
    "for n in range({count}):\n    sleep_job.delay(n, {seconds})\n",
}
WORKER = {
    "dramatiq": ["-m", "dramatiq", "dramatiq_app", "--processes", "1", "--threads"],
    "celery": [
        *("-m", "celery", "-A", "celery_app", "worker", "--pool=threads", "-Q", RIVAL_QUEUE),
        *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING", "-c"),
    ],
}
RIVAL_NAMES = {
    "dramatiq": f"dramatiq {RIVAL_THREADS} threads",
    "celery": f"celery threads x{RIVAL_THREADS}",
}


def rivals_python(quick: bool) -> Path | None:
    """The private venv's python with Dramatiq and Celery; None in ``--quick`` (ours only)."""
    if quick:
        return None
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = cache / "queuebench" / f"concurrency-{digest}"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"  installing Dramatiq and Celery into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
        )
    return python


@contextlib.contextmanager
def concurrency_setting(bench: Bench, concurrency: int) -> Iterator[None]:
    """Workers started inside run with WORKER_CONCURRENCY=``concurrency``."""
    saved = dict(bench.base_env)
    bench.base_env["WORKER_CONCURRENCY"] = str(concurrency)
    try:
        yield
    finally:
        bench.base_env.clear()
        bench.base_env.update(saved)


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident memory in KiB (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def wait_runs(redis: Redis, count: int, process: subprocess.Popen[bytes], who: str) -> None:
    """Wait until ``count`` jobs have recorded their run; raise if the worker dies or stalls."""
    deadline = time.monotonic() + max(60.0, count * SECONDS * 2)
    while redis.llen(RUNS) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{who}: {redis.llen(RUNS)} of {count} jobs ran")
        time.sleep(0.02)


def rate_and_rss(redis: Redis) -> tuple[float, float]:
    """Jobs per second from the first start to the last end, and the peak RSS (MiB) of the
    process that ran them (the only one: each system runs one)."""
    runs = [line.decode().split() for line in redis.lrange(RUNS, 0, -1)]
    pids = {int(pid) for pid, _, _ in runs}
    if len(pids) != 1:
        raise RuntimeError(f"jobs ran in {len(pids)} processes, expected one")
    window = max(float(end) for _, _, end in runs) - min(float(start) for _, start, _ in runs)
    return len(runs) / window, peak_rss_kib(pids.pop()) / 1024


def ours(bench: Bench, count: int, concurrency: int) -> tuple[float, float]:
    """Queue ``count`` sleeping jobs, then let one fast-path worker run them."""
    bench.redis.flushdb()
    tasks = importlib.import_module("concurrency_job")  # the project's, on sys.path
    enqueue_many(RQQueue(QUEUE, connection=bench.redis), tasks.sleep_job, range(count))
    with concurrency_setting(bench, concurrency):
        worker = bench.start_worker(FAST, f"concurrency-{concurrency}-{os.getpid()}")
    try:
        wait_runs(bench.redis, count, worker, f"ours N={concurrency}")
        return rate_and_rss(bench.redis)
    finally:
        bench.stop(worker)


def rival(bench: Bench, python: Path, name: str, count: int) -> tuple[float, float]:
    """Queue ``count`` sleeping jobs with ``name``'s client, then start its worker."""
    bench.redis.flushdb()
    directory = bench.work / "concurrency"
    environment = {**os.environ, "PYTHONPATH": str(directory), **redis_url(bench)}
    script = ENQUEUE[name].format(count=count, seconds=SECONDS)
    subprocess.run([str(python), "-c", script], cwd=directory, env=environment, check=True)
    with (bench.work / f"{name}.log").open("wb") as log:
        worker = subprocess.Popen(
            [str(python), *WORKER[name], str(RIVAL_THREADS)],
            cwd=directory,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_runs(bench.redis, count, worker, name)
        return rate_and_rss(bench.redis)
    finally:
        stop_group(worker)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's process group (Dramatiq forks its worker), SIGKILL after 30 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def redis_url(bench: Bench) -> dict[str, str]:
    return {"CONCURRENCY_REDIS_URL": f"redis://127.0.0.1:{bench.port}/0"}


def install(bench: Bench, with_rivals: bool) -> None:
    """Write the job into the project (ours) and the rivals' apps into the work directory."""
    os.environ.update(redis_url(bench))
    bench.base_env.update(redis_url(bench))
    (bench.project / "concurrency_job.py").write_text(JOB_BODY)
    if with_rivals:
        directory = bench.work / "concurrency"
        directory.mkdir(exist_ok=True)
        (directory / "concurrency_job.py").write_text(JOB_BODY)
        (directory / "dramatiq_app.py").write_text(DRAMATIQ_APP)
        (directory / "celery_app.py").write_text(CELERY_APP)


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """Each system once per repetition, ours first; then the no-op drain at 1 and 8."""
    python = rivals_python(quick=not sizes.concurrency_rivals)
    install(bench, python is not None)
    count = sizes.concurrency_jobs
    rates: dict[str, float] = {}
    memory: dict[str, float] = {}
    for concurrency in sizes.concurrency_levels:
        name = f"ours N={concurrency}"
        rates[name], memory[name] = ours(bench, count, concurrency)
    if python is None:
        print("  concurrency: Dramatiq and Celery skipped (--quick measures ours only)")
    else:
        for rival_name, label in RIVAL_NAMES.items():
            rates[label], memory[label] = rival(bench, python, rival_name, count)
    for name in rates:
        yield f"concurrency {name} jobs/s", rates[name]
        yield f"concurrency {name} RSS MiB", memory[name]
    one, eight = rates["ours N=1"], rates["ours N=8"]
    yield "concurrency N=8/N=1 jobs/s", eight / one
    yield "concurrency N=8/N=1 RSS", memory["ours N=8"] / memory["ours N=1"]
    if "ours N=32" in rates:
        yield "concurrency N=32/N=1 jobs/s", rates["ours N=32"] / one
    if RIVAL_NAMES["dramatiq"] in rates:
        yield "concurrency N=8/dramatiq jobs/s", eight / rates[RIVAL_NAMES["dramatiq"]]
    drains = {}
    for concurrency in (1, 8):
        with concurrency_setting(bench, concurrency):
            drains[concurrency] = drain_rate(bench, FAST, sizes.drain)
        yield f"concurrency no-op drain N={concurrency} jobs/s", drains[concurrency]
    yield "concurrency no-op drain N=8/N=1", drains[8] / drains[1]
