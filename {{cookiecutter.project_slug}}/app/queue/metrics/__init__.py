"""Prometheus metrics: queue state at the web's ``/metrics``, job outcomes at each worker.

- ``names.py``: every metric name and label value, for dashboards and alerts to rely on;
- ``settings.py``: ``METRICS_ENABLED`` and ``WORKER_METRICS_PORT`` (``config/metrics.yaml``);
- ``labels.py``: how queue and function names become bounded label values;
- ``queue_state.py``: waiting, scheduled and failed jobs, the oldest job's age and the workers,
  read from Redis at scrape time;
- ``push_metrics.py``: ``queue_pushes_total``, counted by the queue facade in any producer;
- ``worker_metrics.py``: the ``JobMetrics`` mixin counting each job a worker runs;
- ``server.py``: the web route's response and the worker's metrics listener.
"""

from __future__ import annotations

from prometheus_client import disable_created_metrics

# No ``*_created`` series beside each counter and histogram: half the series, nothing lost
# (Prometheus detects counter resets itself).
disable_created_metrics()
