"""``config/metrics.yaml``: whether metrics are on, and the port of each worker's listener."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Config
from app.queue.config_values import boolean, integer, text


@dataclass(frozen=True)
class MetricsSettings:
    """``enabled`` false: no ``/metrics`` route and no worker listener. ``worker_port`` 0: workers
    count nothing and serve nothing (the default outside containers, where several workers on one
    host would compete for one port). ``worker_host``: the listener's address (compose: 0.0.0.0)."""

    enabled: bool
    worker_host: str
    worker_port: int

    @property
    def worker_listener(self) -> bool:
        return self.enabled and self.worker_port > 0


def metrics_settings(config: Config) -> MetricsSettings:
    """Read ``metrics.enabled``, ``metrics.worker_host`` and ``metrics.worker_port``."""
    port = config.get("metrics.worker_port")
    return MetricsSettings(
        enabled=boolean(config, "metrics.enabled"),
        worker_host=text(config, "metrics.worker_host"),
        worker_port=0 if port is None else integer(config, "metrics.worker_port", 0, 65535),
    )
