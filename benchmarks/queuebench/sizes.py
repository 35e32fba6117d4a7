"""How many jobs, samples and repetitions each part uses: the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Sizes:
    """The N of every measurement."""

    reps: int
    bakes: int
    push: int
    drain_rq: int  # the forking worker is slow
    drain: int
    latency: int
    push_at: int
    rss_points: tuple[int, ...]
    redis_cost: int = 2000  # jobs per path for commands, round trips, CPU and memory per job
    redis_cost_drain: int = 2000
    redis_cost_workers: tuple[int, ...] = (1, 2, 4)
    concurrency_jobs: int = 400  # 50 ms sleeps through one worker process of each system
    concurrency_levels: tuple[int, ...] = (1, 8, 32)  # ours, WORKER_CONCURRENCY
    concurrency_rivals: bool = True  # Dramatiq and Celery (installed into a private venv)

    def summary(self) -> dict[str, int]:
        """The N printed above the report and written to the JSON."""
        return {
            "push": self.push,
            "drain_rq": self.drain_rq,
            "drain": self.drain,
            "latency": self.latency,
        }


FULL = Sizes(
    reps=3,
    bakes=3,
    push=3000,
    drain_rq=150,
    drain=3000,
    latency=40,
    push_at=20,
    rss_points=(1000, 10000),
)
QUICK = Sizes(
    reps=1,
    bakes=1,
    push=50,
    drain_rq=20,
    drain=50,
    latency=5,
    push_at=3,
    rss_points=(100, 300),
    redis_cost=20,
    redis_cost_drain=30,
    redis_cost_workers=(1, 2),
    concurrency_jobs=16,
    concurrency_levels=(1, 8),
    concurrency_rivals=False,
)


def sizes_for(quick: bool, reps: int | None) -> Sizes:
    """Full or quick sizes, with ``--reps`` when given."""
    chosen = QUICK if quick else FULL
    return replace(chosen, reps=reps) if reps else chosen
