"""Worker classes tested as ``python queues.py`` builds them from settings, not class defaults."""

from __future__ import annotations

from app.queue.fast_path.worker import ThreadedFastQueueWorker


class FourThreadsFastQueueWorker(ThreadedFastQueueWorker):
    """``FastQueueWorker`` with WORKER_CONCURRENCY=4 (``ThreadedJobs``)."""

    concurrency = 4
