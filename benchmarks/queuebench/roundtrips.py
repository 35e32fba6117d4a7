"""Client round trips, as the probe (``probe/sitecustomize.py``) records them in a process.

A round trip is one write redis-py makes to the socket: one command, or a whole pipeline or
MULTI/EXEC block, each answered before the process goes on. The probe records each with its
command names and writes the list to ``ROUNDTRIP_DIR/<pid>.json`` at exit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from queuebench.project import PROJECT_TEMPLATE

PROBE = Path(__file__).resolve().parent / "probe"
MARK = "MARK"
FAST_PATH_SCRIPTS = PROJECT_TEMPLATE / "app" / "queue" / "fast_path" / "scripts.py"


def script_sha(name: str) -> str:
    """The sha1 Redis knows the fast path's script ``name`` by, from the template's source
    (loaded on its own: the module needs nothing but the standard library to import)."""
    spec = importlib.util.spec_from_file_location("fast_path_scripts", FAST_PATH_SCRIPTS)
    if spec is None or spec.loader is None:
        raise LookupError(f"{FAST_PATH_SCRIPTS} cannot be loaded")
    scripts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scripts)
    return hashlib.sha1(getattr(scripts, name).encode()).hexdigest()


# The worker's first command for the next job: where a job's finish ends and the next start
# begins (RQ's pops, or the fast path's script that takes and starts a job in one call).
DEQUEUE = {"BLMOVE", "LMOVE", "BLPOP", "LPOP", "BRPOPLPUSH", "RPOPLPUSH", "BLMPOP", "LMPOP"}
DEQUEUE.add(f"EVALSHA {script_sha('TAKE_AND_START')}")

Event = tuple[str, list[str]]


@dataclass(frozen=True)
class Cost:
    """Round trips and commands sent (a script call is one command), per job."""

    round_trips: float
    commands: float


def probe_environment(environment: Mapping[str, str], directory: Path) -> dict[str, str]:
    """``environment`` with the probe first on PYTHONPATH, recording into ``directory``."""
    path = environment.get("PYTHONPATH", "")
    return {
        **environment,
        "PYTHONPATH": f"{PROBE}:{path}" if path else str(PROBE),
        "ROUNDTRIP_DIR": str(directory),
    }


def events_of(directory: Path, pid: int) -> list[Event]:
    """The round trips process ``pid`` recorded, in order (``MARK`` where a job ran)."""
    recorded = json.loads((directory / f"{pid}.json").read_text())
    return [(thread, names) for thread, names in recorded]


def per_job(events: list[Event], jobs: int) -> Cost:
    """Every round trip the process made, divided by ``jobs`` (set-up included)."""
    sent = [names for thread, names in events if thread != MARK]
    return Cost(len(sent) / jobs, sum(len(names) for names in sent) / jobs)


def worker_phases(events: list[Event]) -> tuple[Cost, Cost]:
    """A worker's (start, finish) cost per job: the mean over the jobs between two marks.

    Between the marks of jobs i and i+1 the worker finishes job i (everything up to its next
    dequeue command) and starts job i+1 (the dequeue up to the job's function).
    """
    marks = [index for index, (thread, _) in enumerate(events) if thread == MARK]
    starts: list[list[list[str]]] = []
    finishes: list[list[list[str]]] = []
    for begin, end in itertools.pairwise(marks):
        between = [names for _, names in events[begin + 1 : end]]
        split = next(i for i, names in enumerate(between) if names[0] in DEQUEUE)
        finishes.append(between[:split])
        starts.append(between[split:])
    return mean_cost(starts), mean_cost(finishes)


def mean_cost(phases: list[list[list[str]]]) -> Cost:
    """The mean round trips and commands of one phase over the jobs (periodic work, such as
    heartbeats, included at the rate it happened)."""
    return Cost(
        statistics.fmean(len(phase) for phase in phases),
        statistics.fmean(sum(len(names) for names in phase) for phase in phases),
    )
