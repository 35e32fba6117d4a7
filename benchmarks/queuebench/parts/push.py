"""push and push_many: enqueues per second from one process, baseline then each path of ours."""

from __future__ import annotations

from collections.abc import Iterator

from queuebench.bench import Bench
from queuebench.children import WARMUP
from queuebench.sides import BASELINE, OURS, Side, result_name
from queuebench.sizes import Sizes

BASELINE_PUSH = "push rq.enqueue"
REFERENCE_ENQUEUE_MANY = "push_many rq.enqueue_many"


def enqueue_rate(bench: Bench, side: Side, kind: str, count: int) -> float:
    """Jobs/s of ``count`` enqueues the ``kind`` way (see ``children.enqueuer``), empty Redis."""
    bench.redis.flushdb()
    result = bench.child(side, "enqueue", kind, str(count), str(min(WARMUP, count)))
    return float(result["rate"])


def measure(bench: Bench, sizes: Sizes) -> Iterator[tuple[str, float]]:
    """``push`` and ``push_many`` of both paths against ``rq.Queue.enqueue``."""
    yield BASELINE_PUSH, enqueue_rate(bench, BASELINE, "rq", sizes.push)
    for side in OURS:
        yield result_name("push", side), enqueue_rate(bench, side, "ours", sizes.push)
    yield REFERENCE_ENQUEUE_MANY, enqueue_rate(bench, BASELINE, "rq_many", sizes.push)
    for side in OURS:
        yield result_name("push_many", side), enqueue_rate(bench, side, "ours_many", sizes.push)
