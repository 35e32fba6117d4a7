"""Sentinel failover with real processes: a master, two replicas (replication 100 ms late through a
lagging link, ``sentinel_cluster.py``), three Sentinels, a worker (``python queues.py``) and a
producer pushing from four threads; a 1.5 s job is running when the master is SIGKILLed.

Measured with QUEUE_PUSH_REPLICAS=0 and =1: seconds from the kill until pushes succeed again and
until the worker starts jobs again, and the jobs whose push returned True but that never ran.
The job running at the kill must finish and be recorded as finished on the new master; with
QUEUE_PUSH_REPLICAS=1 no acknowledged job may be lost. The figures are printed (``pytest -s``)
and appended to ``failover-figures.json`` next to the project; the generated README quotes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from redis import Redis

from helpers import bake, load_support
from processes import Project
from sentinel_cluster import SentinelCluster

polling = load_support("polling")

REPLICATION_DELAY = 0.1
PRODUCER_THREADS = 4
PRODUCER_PAUSE = 0.02
JOB_SECONDS = 0.003
LONG_JOB_SECONDS = 1.5
BEFORE_KILL = 2.0
PUSHING_AFTER_RECOVERY = 1.0
RECOVERY_LIMIT = 20.0

# Run in the baked project: push record_run jobs from a few threads until the stop file exists,
# one line per push: number, 1 if push returned True, when it started and ended.
PRODUCER = """
import sys, threading, time
from pathlib import Path
from app import app
from tests.support.jobs import record_run

runs, pushes, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
threads, pause, seconds = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
long_job, long_seconds = Path(sys.argv[7]), float(sys.argv[8])
queue = app().queue()
lock = threading.Lock()
out = pushes.open("a")

def push_long_job():
    # Once the test asks (it creates the file): one job that is still running at the kill.
    submission = queue.submit(record_run, runs, -1, long_seconds)
    long_job.write_text(f"{submission.job_id} {int(submission.ok)}")

def push_loop(first):
    number = first
    while not stop.exists():
        if first == 0 and long_job.exists() and not long_job.read_text():
            push_long_job()
        started = time.time()
        ok = queue.push(record_run, runs, number, seconds)
        with lock:
            out.write(f"{number} {int(ok)} {started:.6f} {time.time():.6f}\\n")
            out.flush()
        number += 1
        time.sleep(pause)

loops = [threading.Thread(target=push_loop, args=(i * 1_000_000,)) for i in range(threads)]
for loop in loops:
    loop.start()
for loop in loops:
    loop.join()
"""


@dataclass(frozen=True)
class Push:
    number: int
    ok: bool
    started: float
    ended: float


@dataclass(frozen=True)
class Figures:
    """What one failover showed."""

    push_replicas: int
    pushes_true: int
    pushes_false: int
    seconds_until_pushes_succeed: float
    seconds_until_worker_runs_jobs: float
    acknowledged_never_ran: int
    running_at_kill: int
    running_at_kill_unfinished: int
    ran_more_than_once: int


@pytest.fixture(scope="module")
def project_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = bake(tmp_path_factory.mktemp("sentinel-project"))
    (path / "failover_producer.py").write_text(PRODUCER, encoding="utf-8")
    return path


@pytest.mark.parametrize("push_replicas", [0, 1], ids=["push-replicas-0", "push-replicas-1"])
def test_failover_after_the_master_is_killed(
    tmp_path: Path, project_path: Path, push_replicas: int
) -> None:
    cluster = SentinelCluster(tmp_path / "cluster", replica_count=2, delay=REPLICATION_DELAY)
    project = Project(
        project_path,
        {
            **os.environ,
            **cluster.environment(),
            "QUEUE_CONNECTION": "redis",
            "QUEUE_PUSH_REPLICAS": str(push_replicas),
        },
    )
    runs, pushes, stop = tmp_path / "runs.log", tmp_path / "pushes.log", tmp_path / "stop"
    long_job = tmp_path / "long-job"
    try:
        cluster.start()
        project.environment.update(cluster.environment())
        old_master = cluster.master.port
        worker = project.start_worker(log_name=f"worker-{push_replicas}")
        producer = project.start(
            "failover_producer.py",
            *(str(runs), str(pushes), str(stop), str(PRODUCER_THREADS)),
            *(str(PRODUCER_PAUSE), str(JOB_SECONDS), str(long_job), str(LONG_JOB_SECONDS)),
            log_name=f"producer-{push_replicas}",
        )
        time.sleep(BEFORE_KILL)
        long_job.touch()  # the producer pushes it; kill once it was acknowledged and runs
        polling.wait_for(
            lambda: long_job.read_text() and long_job_started(runs), 5, "no long job ran"
        )
        # The run at the kill is what this follows, so the kill waits for its start to reach the
        # replicas (100 ms late): a push or take they never got dies with the master, a loss
        # asynchronous replication allows and the pushes' figures count.
        long_job_key = f"rq:job:{long_job.read_text().split()[0]}"
        polling.wait_for(
            lambda: cluster.replicas_have(long_job_key, "status", b"started"),
            5,
            "the long job's start did not reach the replicas",
        )
        killed_at = cluster.kill_master()

        def pushing_again() -> bool:
            assert producer.poll() is None, project.log(f"producer-{push_replicas}")
            recovered = [p.ended for p in read_pushes(pushes) if p.ok and p.started > killed_at]
            return bool(recovered) and time.time() - min(recovered) > PUSHING_AFTER_RECOVERY

        polling.wait_for(pushing_again, RECOVERY_LIMIT, "pushes did not succeed again")
        stop.touch()
        producer.wait(timeout=30)
        acknowledged = {push.number for push in read_pushes(pushes) if push.ok}
        settled = Settled(runs, acknowledged)
        polling.wait_for(settled, RECOVERY_LIMIT, "the worker did not settle")
        assert worker.poll() is None, project.log(f"worker-{push_replicas}")
        new_master = cluster.master_port()
        long_job_id, long_job_pushed = long_job.read_text().split()
        with Redis(port=new_master) as client:  # the run at the kill, or a second one
            polling.wait_for(
                lambda: client.hget(f"rq:job:{long_job_id}", "status") == b"finished",
                RECOVERY_LIMIT,
                "the job running at the kill was not recorded as finished",
            )
        check = subprocess.run(
            [sys.executable, "queues.py", "check"],
            cwd=project_path,
            env=project.environment,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    finally:
        stop.touch()
        project.stop_all()
        cluster.stop()

    figures = measure(push_replicas, read_pushes(pushes), runs, killed_at)
    report(project_path, figures)
    assert new_master not in (None, old_master)
    redis_line = next(line for line in check.splitlines() if " redis: " in line)
    assert f"mode Sentinel, master now at 127.0.0.1:{new_master}" in redis_line, check
    assert figures.seconds_until_pushes_succeed < RECOVERY_LIMIT
    assert figures.seconds_until_worker_runs_jobs < RECOVERY_LIMIT
    assert figures.running_at_kill >= 1 and figures.running_at_kill_unfinished == 0
    assert long_job_pushed == "1"
    if push_replicas:
        assert figures.acknowledged_never_ran == 0, figures


class Settled:
    """True once every acknowledged job ran, or once no job has started or ended for
    ``QUIET`` seconds (the rest never will: they were lost)."""

    QUIET = 3.0

    def __init__(self, runs: Path, acknowledged: set[int]) -> None:
        self._runs = runs
        self._acknowledged = acknowledged
        self._seen = -1
        self._since = time.monotonic()

    def __call__(self) -> bool:
        events = run_events(self._runs)
        if self._acknowledged <= {number for event, number, _ in events if event == "end"}:
            return True
        if len(events) != self._seen:
            self._seen, self._since = len(events), time.monotonic()
        return time.monotonic() - self._since > self.QUIET


def long_job_started(runs: Path) -> bool:
    return any(event == "start" and number == -1 for event, number, _ in run_events(runs))


def read_pushes(path: Path) -> list[Push]:
    if not path.exists():
        return []
    pushes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 4:
            number, ok, started, ended = fields
            pushes.append(Push(int(number), ok == "1", float(started), float(ended)))
    return pushes


def run_events(path: Path) -> list[tuple[str, int, float]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 3:
            events.append((fields[0], int(fields[1]), float(fields[2])))
    return events


def measure(push_replicas: int, pushes: list[Push], runs: Path, killed_at: float) -> Figures:
    events = run_events(runs)
    starts: dict[int, list[float]] = {}
    for event, number, at in events:
        if event == "start":
            starts.setdefault(number, []).append(at)
    finished = {number for event, number, _ in events if event == "end"}
    first_end = {number: at for event, number, at in reversed(events) if event == "end"}
    recovered = [push.ended for push in pushes if push.ok and push.started > killed_at]
    resumed = [at for event, _, at in events if event == "start" and at > killed_at]
    never = float("inf")
    running = {
        number
        for number, times in starts.items()
        if min(times) <= killed_at and first_end.get(number, never) > killed_at
    }
    acknowledged = {push.number for push in pushes if push.ok}
    return Figures(
        push_replicas=push_replicas,
        pushes_true=len(acknowledged),
        pushes_false=sum(1 for push in pushes if not push.ok),
        seconds_until_pushes_succeed=round(min(recovered, default=never) - killed_at, 2),
        seconds_until_worker_runs_jobs=round(min(resumed, default=never) - killed_at, 2),
        acknowledged_never_ran=len(acknowledged - finished),
        running_at_kill=len(running),
        running_at_kill_unfinished=len(running - finished),
        ran_more_than_once=sum(1 for times in starts.values() if len(times) > 1),
    )


def report(project_path: Path, figures: Figures) -> None:
    line = json.dumps(asdict(figures))
    print(f"\nfailover figures: {line}", file=sys.stderr)
    with (project_path.parent / "failover-figures.json").open("a", encoding="utf-8") as out:
        out.write(line + "\n")
