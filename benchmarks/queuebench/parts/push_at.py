"""push_at: how late scheduled jobs start (fast path; its scheduler polls faster than RQ's)."""

from __future__ import annotations

from collections.abc import Iterator

from queuebench.bench import Bench
from queuebench.sides import FAST
from queuebench.sizes import Sizes
from queuebench.stamps import fresh, read_floats, wait_for_lines

P95 = "push_at p95 late s"
MINIMUM = "push_at min late s"


def lateness(bench: Bench, count: int) -> list[float]:
    """Seconds each of ``count`` jobs started after its requested time."""
    path = fresh(bench.work / "push_at.txt")
    with bench.workers(FAST):
        bench.child(FAST, "push_at", str(count), str(path))
        wait_for_lines(path, count, timeout=60)
    return read_floats(path)


def percentile(values: list[float], fraction: float) -> float:
    """The value at ``fraction`` of the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """p95 and minimum lateness; the minimum must not be negative (never early)."""
    late = lateness(bench, sizes.push_at)
    yield P95, percentile(late, 0.95)
    yield MINIMUM, min(late)
