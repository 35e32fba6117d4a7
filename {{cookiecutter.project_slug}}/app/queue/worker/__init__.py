"""The worker behind ``python queues.py``: RQ's ``SimpleWorker`` with job logs, job heartbeats,
warm shutdown and clear task import errors (``queue_worker.py``), built and run by ``run.py``."""

from __future__ import annotations

from app.queue.worker.queue_worker import QueueWorker
from app.queue.worker.run import default_worker_name, run_worker

__all__ = ["QueueWorker", "default_worker_name", "run_worker"]
