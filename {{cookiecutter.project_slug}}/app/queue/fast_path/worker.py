"""``FastQueueWorker``: the worker's Redis round-trip savings, as one mixin over ``QueueWorker``.

Each override below replaces RQ 3.0 code with code that writes the same keys and fields in fewer
round trips, so rq-dashboard and ``rq info`` see the same worker. Several lean on RQ internals
(``self._state``, ``_start_scheduler``, ``Execution.create``, ``pipeline.command_stack``): that is
why the fast path is verified per RQ version (``app/queue/fast_path/__init__.py``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from rq import Queue as RQQueue
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.utils import now
from rq.worker import WorkerStatus

from app.queue.fast_path.rq_log_filter import RQ_LINE_FILTER
from app.queue.fast_path.scripts import RUN_COMMANDS, run_as_script
from app.queue.worker.queue_worker import ATTEMPT_FIELD, QueueWorker
from app.queue.worker.threaded import ThreadedJobs

if TYPE_CHECKING:
    from redis.client import Pipeline
    from redis.commands.core import Script

# RQ renews the worker's registration three times per job (three round trips each) and checks
# for `rq suspend` before every job. A renewal is skipped while the registration still has nearly
# its full TTL, and suspension is checked at most once a second.
HEARTBEAT_SLACK_SECONDS = 5.0
SUSPENSION_CHECK_SECONDS = 1.0


class FewerRoundTrips(SimpleWorker):
    """The round-trip overrides, mixed in before ``QueueWorker`` (whose ``count_attempt``,
    ``record_execution_end`` and ``job_ended`` hooks it fills); the rest override RQ's methods."""

    log_result_lifespan = False  # RQ's "result is kept for N seconds" line after every job
    # RQ stores due times in whole seconds and push_at rounds up, so RQ's one-second poll made
    # jobs up to two seconds late; ten polls a second keep lateness near one second.
    due_job_poll_seconds = 0.1
    _registration_expires = 0.0  # time.monotonic() at which our rq:worker key lapses
    _next_suspension_check = 0.0
    _run_commands: Script | None = None
    _attempt = 0

    def bootstrap(self, *args: object, **kwargs: object) -> None:
        """Start-up as usual, with RQ's per-job INFO lines dropped (ours say the same)."""
        rq_log = logging.getLogger("rq.worker")
        if RQ_LINE_FILTER not in rq_log.filters:
            rq_log.addFilter(RQ_LINE_FILTER)
        super().bootstrap(*args, **kwargs)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, sent as one round trip, and only when the TTL has run down."""
        ttl = timeout or self.worker_ttl + 60
        if pipeline is not None:
            super().heartbeat(ttl, pipeline=pipeline)
        elif self._registration_expires - time.monotonic() > ttl - HEARTBEAT_SLACK_SECONDS:
            return
        else:
            with self.connection.pipeline(transaction=False) as own:
                super().heartbeat(ttl, pipeline=own)
                own.execute()
        self._registration_expires = time.monotonic() + ttl

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """Write the state only when it changes (RQ sets "idle" twice between jobs)."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """``rq suspend`` takes effect within a second instead of costing a round trip per job."""
        moment = time.monotonic()
        if moment < self._next_suspension_check:
            return
        self._next_suspension_check = moment + SUSPENSION_CHECK_SECONDS
        super().check_for_suspension(burst)

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's ``prepare_execution`` and ``prepare_job_execution`` writes in one atomic call.

        RQ sends them as two MULTIs (the second meant for a forked work horse); here RQ's own
        methods queue the same commands in the same order on one pipeline, sent as one script
        call, so the started registry, the execution and the job hash look the same to
        rq-dashboard and ``rq info``.
        """
        ttl = self.get_heartbeat_ttl(job)
        if self._run_commands is None:
            self._run_commands = self.connection.register_script(RUN_COMMANDS)
        with self.connection.pipeline() as pipeline:
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            # The registration keeps its idle TTL (RQ shortens it to the job's heartbeat TTL,
            # which costs the main loop a round trip to lengthen it again after each job).
            self.heartbeat(max(ttl, self.worker_ttl + 60), pipeline=pipeline)
            # RQ's job.heartbeat() here writes last_heartbeat, which the next HSET writes again.
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if len(self.queues) == 1:  # RQ dequeues with BLMOVE through the intermediate list
                pipeline.lrem(self.queues[0].intermediate_queue_key, 1, job.id)
            pipeline.hincrby(job.key, ATTEMPT_FIELD, 1)  # last: its reply is the script's
            self._attempt = int(run_as_script(self._run_commands, pipeline))
        return execution

    def count_attempt(self, job: Job) -> int:
        """Counted already, in ``prepare_execution``'s single call."""
        return self._attempt

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Nothing left to write: ``prepare_execution`` did it in the same round trip (RQ's
        process-title update here is a no-op without setproctitle, which we do not install)."""

    def record_execution_end(self, job: Job, queue: RQQueue, heartbeat_ttl: int) -> None:
        """Stamp the end; the job hash is written once by the success or failure handling."""
        job.ended_at = job.last_heartbeat = now()

    def job_ended(self) -> None:
        """RQ writes "idle", then renews the registration the job start shortened to the job's
        heartbeat TTL: two round trips after every job, sent here as one."""
        with self.connection.pipeline(transaction=False) as pipeline:
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)
            pipeline.execute()


class FastQueueWorker(FewerRoundTrips, QueueWorker):
    """``QueueWorker`` with the fast path: what ``python queues.py`` runs by default."""


class ThreadedFastQueueWorker(ThreadedJobs, FastQueueWorker):
    """``FastQueueWorker`` running ``concurrency`` jobs at once (WORKER_CONCURRENCY > 1)."""
