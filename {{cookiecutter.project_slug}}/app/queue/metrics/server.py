"""Serving metrics: the web's ``/metrics`` body, and each worker's own listener."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app.queue.metrics.queue_state import QueueStateCollector
from app.queue.redis_clients import producer_client
from app.queue.settings import QueueSettings

_listening: set[int] = set()
_listening_lock = threading.Lock()


class WebMetrics(Collector):
    """What the web's ``/metrics`` shows: this process's own metrics (pushes, CPU, memory) and,
    with the redis driver, the queue state read from Redis for each scrape."""

    def __init__(self, settings: QueueSettings) -> None:
        self._state: QueueStateCollector | None = None
        if settings.connection == "redis":
            queues = (*settings.worker_queues, settings.defaults.queue)
            self._state = QueueStateCollector(producer_client(settings.redis), queues)

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        if self._state is not None:
            yield from self._state.collect()

    def render(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self)  # type: ignore[arg-type]


def serve_worker_metrics(host: str, port: int, log: logging.Logger) -> bool:
    """Serve this process's metrics on ``host:port`` from a daemon thread, once per process.

    A port already in use is logged as a WARNING and the worker runs on without a listener:
    jobs matter more than their metrics.
    """
    with _listening_lock:
        if port in _listening:
            return True
        try:
            start_http_server(port, addr=host)
        except OSError as error:
            log.warning(
                "Worker metrics not served on %s:%s: %s; set WORKER_METRICS_PORT to a free port",
                host,
                port,
                error,
            )
            return False
        _listening.add(port)
    log.info("Worker metrics served", extra={"address": f"http://{host}:{port}/metrics"})
    return True
