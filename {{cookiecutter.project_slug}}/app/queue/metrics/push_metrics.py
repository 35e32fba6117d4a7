"""``queue_pushes_total{outcome}``: counted by the queue facade in every producer process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from app.queue.job import Call
from app.queue.metrics import names
from app.queue.portability import NotPortable, check_importable, check_serializable

PUSHES = Counter(
    names.PUSHES,
    "Jobs pushed: queued (or run, with the sync driver), refused (not portable) or error",
    ["outcome"],
)
for _outcome in (names.QUEUED, names.REFUSED, names.ERROR):
    PUSHES.labels(_outcome)  # every outcome from the start, so rate() sees the first one


def count_queued(count: int = 1) -> None:
    """Pushes that returned True: queued, or run with the sync driver."""
    PUSHES.labels(names.QUEUED).inc(count)


def count_refused(count: int = 1) -> None:
    """Pushes refused before reaching the driver (strict mode)."""
    PUSHES.labels(names.REFUSED).inc(count)


def count_failed(call: Call, dumps: Callable[[Any], bytes], count: int = 1) -> None:
    """Pushes of ``call`` the driver did not take: refused when the call is not portable (checked
    again here, on this failure path only), else error (Redis unreachable, a sync job failed)."""
    try:
        check_importable(call.func)
        check_serializable(call.args, call.kwargs, dumps)
    except NotPortable:
        PUSHES.labels(names.REFUSED).inc(count)
        return
    PUSHES.labels(names.ERROR).inc(count)
