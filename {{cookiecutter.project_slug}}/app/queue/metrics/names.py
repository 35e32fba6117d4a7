"""Metric names and label values: dashboards and ``deploy/prometheus/alerts.yml`` use these."""

from __future__ import annotations

JOBS_WAITING = "queue_jobs_waiting"
JOBS_SCHEDULED = "queue_jobs_scheduled"
JOBS_FAILED = "queue_jobs_failed"
OLDEST_JOB_AGE = "queue_oldest_job_age_seconds"
WORKERS = "queue_workers"
REDIS_UP = "queue_redis_up"
JOBS = "queue_jobs"  # a counter: exposed as queue_jobs_total
JOB_DURATION = "queue_job_duration_seconds"
PUSHES = "queue_pushes"  # a counter: exposed as queue_pushes_total

# queue_jobs_total{outcome}
FINISHED = "finished"
FAILED = "failed"
RETRIED = "retried"
ABANDONED = "abandoned"

# queue_pushes_total{outcome}
QUEUED = "queued"
REFUSED = "refused"
ERROR = "error"

# queue_workers{state}: RQ's worker states; anything else is "other"
WORKER_STATES = ("busy", "idle", "suspended", "started")
OTHER = "other"  # the label value for a queue or function outside the bounded set

# Seconds: short jobs to the default 180 s timeout and beyond.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600)
