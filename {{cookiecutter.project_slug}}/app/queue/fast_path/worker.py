"""``FastQueueWorker``: the worker's Redis round-trip savings, as one mixin over ``QueueWorker``.

Each override below replaces RQ 3.0 code with code that writes the same keys and fields in fewer
round trips, so rq-dashboard and ``rq info`` see the same worker (a success leaves out the fields
of the job hash that a run does not change: ``_write_success``). Several lean on RQ internals
(``self._state``, ``_start_scheduler``, ``Execution.create``, ``pipeline.command_stack``): that is
why the fast path is verified per RQ version (``app/queue/fast_path/__init__.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from rq import Queue as RQQueue
from rq import SimpleWorker
from rq.defaults import RQ_KEY_PREFIX
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution, ExecutionRegistry
from rq.job import Job, JobStatus, Retry
from rq.logutils import blue, green
from rq.rate_limit import release_slot
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.utils import as_text, now, utcformat
from rq.worker import WorkerStatus

from app.queue.fast_path.rq_log_filter import RQ_LINE_FILTER
from app.queue.fast_path.scripts import (
    HAS_DEPENDENTS,
    LOST_JOB,
    RECORD_SUCCESS,
    RECORD_SUCCESS_AND_TAKE,
    RUN_COMMANDS,
    TAKE_AND_START,
    run_as_script,
)
from app.queue.fast_path.thread_connection import ThreadConnection
from app.queue.registered_scripts import registered
from app.queue.worker.queue_worker import ATTEMPT_FIELD, HEARTBEAT_GRACE_BEATS, QueueWorker
from app.queue.worker.threaded import ThreadedJobs

if TYPE_CHECKING:
    from redis.client import Pipeline

JOB_PATH_SCRIPTS = (RUN_COMMANDS, TAKE_AND_START, RECORD_SUCCESS, RECORD_SUCCESS_AND_TAKE)
# RQ renews the worker's registration three times per job (three round trips each) and checks
# for `rq suspend` before every job. A renewal is skipped while the registration still has nearly
# its full TTL, and suspension is checked at most once a second.
HEARTBEAT_SLACK_SECONDS = 5.0
SUSPENSION_CHECK_SECONDS = 1.0


@dataclass
class TakeRequest:
    """``TAKE_AND_START``'s keys and arguments for one take, and what its reply is read with."""

    queues: list[RQQueue]
    execution: Execution
    keys: list[str]
    args: list[Any]


class FewerRoundTrips(SimpleWorker):
    """The round-trip overrides, mixed in before ``QueueWorker`` (whose ``count_attempt``,
    ``record_execution_end`` and ``job_ended`` hooks it fills); the rest override RQ's methods."""

    log_result_lifespan = False  # RQ's "result is kept for N seconds" line after every job
    # RQ stores due times in whole seconds and push_at rounds up, so RQ's one-second poll made
    # jobs up to two seconds late; ten polls a second keep lateness near one second.
    due_job_poll_seconds = 0.1
    _registration_expires = 0.0  # time.monotonic() at which our rq:worker key lapses
    _next_suspension_check = 0.0
    _attempt = 0
    _taken: tuple[Job, Execution, int] | None = None  # taken and started, not yet prepared
    _fence_in_record = False  # the success's script checks the lease (``_finalize_success``)
    # ``ThreadedJobs``: the success's script takes the next job too, for this thread to run next.
    _take_with_success = False
    _taken_with_success: tuple[Job, RQQueue] | None = None

    def bootstrap(self, *args: object, **kwargs: object) -> None:
        """Start-up as usual, with RQ's per-job INFO lines dropped (ours say the same), and the
        job path's scripts loaded into Redis: else the first jobs' calls, all job threads' at
        once, each met NOSCRIPT and went again through the client (measured: the first wave of
        eight jobs waited 5 to 15 ms each for its success, against under 1 ms after)."""
        rq_log = logging.getLogger("rq.worker")
        if RQ_LINE_FILTER not in rq_log.filters:
            rq_log.addFilter(RQ_LINE_FILTER)
        super().bootstrap(*args, **kwargs)
        with self.connection.pipeline(transaction=False) as pipeline:
            for source in JOB_PATH_SCRIPTS:
                pipeline.script_load(source)
            pipeline.execute()

    def teardown(self) -> None:
        super().teardown()
        logging.getLogger("rq.worker").removeFilter(RQ_LINE_FILTER)

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
        if self._taken is not None and self._taken[0] is job:
            _, execution, self._attempt = self._taken
            self._taken = None
            self.executions[execution.id] = execution
            return execution
        ttl = self.get_heartbeat_ttl(job)
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
            script = registered(self.connection, RUN_COMMANDS)
            self._attempt = int(run_as_script(script, pipeline, connection=self._own_connection))
        return execution

    @cached_property
    def _own_connection(self) -> ThreadConnection:
        """Each thread's own connection for the script calls of the job path: redis-py's pool
        (take, health check, give back) costs a job as much Python as the call itself."""
        return ThreadConnection(self.connection)

    def take_next_job(self) -> tuple[Job, RQQueue] | None:
        """Pop the next job and write its start in one script call (``TAKE_AND_START``), where
        RQ's dequeue and ``prepare_execution`` take three round trips; None when every queue is
        empty (RQ's blocking dequeue waits then).

        The popped job is already in the started registry when the reply comes: a warm stop
        signalled meanwhile waits for it to run (``QueueWorker._shutdown``) instead of leaving it
        there.
        """
        request = self._take_request()
        if request is None:
            return None
        self._taking = True
        try:
            reply = self._own_connection.run_script(
                registered(self.connection, TAKE_AND_START), request.keys, request.args
            )
            return None if reply is None else self._started(reply, request)
        finally:
            self._taking = False

    def _take_request(self) -> TakeRequest | None:
        """The next take's keys and arguments; None when the script cannot take for this worker
        (it computes ``QueueWorker``'s heartbeat TTL, not an override's)."""
        if type(self).get_heartbeat_ttl is not QueueWorker.get_heartbeat_ttl:
            return None
        queues = list(self._ordered_queues)
        moment = now()
        execution = Execution(uuid4().hex, "", self.connection, worker_name=self.name)
        execution.created_at = execution.last_heartbeat = moment
        stamp = utcformat(moment)
        keys = [queue.key for queue in queues]
        keys += [StartedJobRegistry.key_template.format(queue.name) for queue in queues]
        args = [
            *(self.job_class.redis_job_namespace_prefix, f"{RQ_KEY_PREFIX}:execution:"),
            *(ExecutionRegistry.key_template.format(""), execution.id, self.name),
            *(self.key, WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.name)),
            *(int(moment.timestamp()), repr(moment.timestamp()), stamp),
            *(self.job_monitoring_interval, HEARTBEAT_GRACE_BEATS, self.worker_ttl + 60),
        ]
        return TakeRequest(queues, execution, keys, args)

    def _started(self, reply: list[Any], request: TakeRequest) -> tuple[Job, RQQueue]:
        """The job and queue of ``TAKE_AND_START``'s reply, as RQ's dequeue and start leave them."""
        position, job_id, attempt, fields = reply
        queue, execution = self._dequeued_from(request.queues[position - 1]), request.execution
        job = self.job_class(as_text(job_id), connection=self.connection)
        job.serializer = self.serializer  # checked once, by RQ's worker (``task_job.py``: why)
        job.restore(dict(zip(fields[::2], fields[1::2], strict=True)))
        job.redis_server_version = self.get_redis_server_version()
        # What ``job.prepare_for_execution`` sets (the script wrote the same to the job hash).
        job.worker_name, job._status = self.name, JobStatus.STARTED
        job.started_at = job.last_heartbeat = execution.created_at
        execution.job_id, execution._job = job.id, job
        if RQ_LINE_FILTER not in self.log.filters:  # else not even made: the filter drops it
            name, origin = self.name, green(queue.name)  # RQ's dequeue line
            if self.log_job_description:
                self.log.info("Worker %s: %s: %s (%s)", name, origin, blue(job.description), job.id)
            else:
                self.log.info("Worker %s: %s: %s", name, origin, job.id)
        self._taken = (job, execution, int(attempt))
        self._state = WorkerStatus.BUSY
        ttl = max(self.get_heartbeat_ttl(job), self.worker_ttl + 60)
        self._registration_expires = time.monotonic() + ttl
        self.reorder_queues(reference_queue=queue)
        return job, queue

    def _job_taken_with(
        self, job: Job, reply: list[Any], request: TakeRequest
    ) -> tuple[Job, RQQueue] | None:
        """The job ``job``'s success took (``RECORD_SUCCESS_AND_TAKE``); None if its reply cannot
        be read: that job is then left to be recovered once its lease lapses, and ``job``, whose
        success is written, is not taken for a failure."""
        try:
            return self._started(reply, request)
        except Exception as error:
            self.app_log.warning(
                "Job taken with a success not started: %s", error, extra={"job_id": job.id}
            )
            return None

    def _dequeued_from(self, queue: RQQueue) -> RQQueue:
        """The queue object RQ's dequeue returns for ``queue`` (with the worker's job class,
        serializer and death penalty), made once per queue instead of once per job."""
        made: dict[str, RQQueue] = self.__dict__.setdefault("_dequeued_queues", {})
        if queue.key not in made:
            made[queue.key] = self.queue_class.from_queue_key(
                queue.key,
                connection=self.connection,
                job_class=self.job_class,
                serializer=self.serializer,
                death_penalty_class=self.death_penalty_class,
            )
        return made[queue.key]

    def count_attempt(self, job: Job) -> int:
        """Counted already, in ``prepare_execution``'s single call."""
        return self._attempt

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Nothing left to write: ``prepare_execution`` did it in the same round trip (RQ's
        process-title update here is a no-op without setproctitle, which we do not install)."""

    def record_execution_end(self, job: Job, queue: RQQueue, heartbeat_ttl: int) -> None:
        """Stamp the end; the job hash is written once by the success or failure handling."""
        job.ended_at = job.last_heartbeat = now()

    def _finalize_success(
        self, job: Job, queue: RQQueue, execution: Execution, return_value: Any
    ) -> None:
        """RQ's, with the fence (``QueueWorker.handle_execution_ended``'s lease renewal) checked
        inside the success's own script call instead, when nothing runs between the two: no
        success callback, and not a ``Retry`` returned."""
        self._fence_in_record = self._lease is not None and self._recorded_on_return(
            job, return_value
        )
        try:
            super()._finalize_success(job, queue, execution, return_value)
        finally:
            self._fence_in_record = False

    @staticmethod
    def _recorded_on_return(job: Job, return_value: Any) -> bool:
        """Nothing runs between the job's return and its success's script call: no success
        callback, and not a ``Retry`` returned."""
        return job._success_callback_name is None and not isinstance(return_value, Retry)

    def success_takes_next_job(self, job: Job, return_value: Any) -> bool:
        """The success's script call can take the next job too (``RECORD_SUCCESS_AND_TAKE``):
        nothing runs before that call, nor after it but log lines (no webhooks to send)."""
        return (
            self._recorded_on_return(job, return_value)
            and not job.webhooks
            and not (job.repeats_left is not None and job.repeats_left > 0)
        )

    def handle_execution_ended(self, job: Job, queue: RQQueue, heartbeat_ttl: int) -> None:
        if self._fence_in_record:  # ``handle_job_success``'s script checks the lease
            self.record_execution_end(job, queue, heartbeat_ttl)
            return
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def handle_job_success(
        self,
        job: Job,
        queue: RQQueue,
        started_job_registry: StartedJobRegistry,
        execution: Execution,
    ) -> None:
        """RQ's success writes in one script call (``RECORD_SUCCESS``), only while this run
        holds its lease; RQ's own way for a job that has dependents or repeats, and for a run
        whose outcome is discarded already (``QueueWorker``). When a job thread asks for it
        (``_take_with_success``), the same call takes the next job (``RECORD_SUCCESS_AND_TAKE``)
        once the success is written."""
        if self._outcome_discarded or (job.repeats_left is not None and job.repeats_left > 0):
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        lease = self._lease
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                self._write_success(job, execution, result_ttl, pipeline)
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            job._status = JobStatus.FINISHED
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            keys = [job.dependents_key, started_job_registry.key, job.key]
            leading = [lease.member if lease is not None else "", time.time()]
            take = self._take_request() if self._take_with_success else None
            if take is None:
                state = run_as_script(
                    registered(self.connection, RECORD_SUCCESS),
                    pipeline,
                    keys,
                    leading,
                    self._own_connection,
                )
            else:
                state, taken = run_as_script(
                    registered(self.connection, RECORD_SUCCESS_AND_TAKE),
                    pipeline,
                    keys + take.keys,
                    take.args + leading,
                    self._own_connection,
                )
                if taken is not None:
                    self._taken_with_success = self._job_taken_with(job, taken, take)
        if state == LOST_JOB and lease is not None:
            self.discard_outcome(job, queue, lease)
            return
        if state == HAS_DEPENDENTS:  # RQ's way, behind the fence its script did not check
            if self._fence_in_record and not self.fence_holds(
                job, queue, job.success_callback_timeout
            ):
                return
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        release_slot(job)
        if RQ_LINE_FILTER in self.log.filters:
            return  # RQ's line below would be made only to be dropped (``rq_log_filter.py``)
        taken, name = job.ended_at - job.started_at, self.name
        if self.log_job_description:
            line = "Successfully completed %s job in %ss on worker %s"
            self.log.info(line, job.description, taken, name)
        else:
            self.log.info("Successfully completed job %s in %ss on worker %s", job.id, taken, name)

    def _write_success(
        self, job: Job, execution: Execution, result_ttl: int, pipeline: Pipeline
    ) -> None:
        """RQ's ``job._handle_success``, at less cost: the job's status and times, its result, its
        entry in the finished registry.

        - RQ writes every field of the job hash again (its payload compressed anew); here only
          the fields a run changes are written. The others are as the job's start read them,
          unless the job's function changed them on the job object without saving it: RQ saves
          those too.
        - The result is made with the job's serializer as it is, where RQ checks it again
          against its ``Serializer`` protocol (``task_job.py`` says why that matters).
        """
        started, ended, beat = job.started_at, job.ended_at, job.last_heartbeat
        run_fields = {
            "status": JobStatus.FINISHED,
            "started_at": utcformat(started) if started else "",
            "ended_at": utcformat(ended) if ended else "",
            "last_heartbeat": utcformat(beat) if beat else "",
            "worker_name": job.worker_name or "",
        }
        pipeline.hset(job.key, mapping=run_fields)
        result = Result(
            job.id,
            Result.Type.SUCCESSFUL,
            job.connection,
            return_value=job._result,
            worker_name=self.name,
            execution_id=execution.id,
            execution_started_at=execution.created_at,
            execution_ended_at=job.ended_at,
        )
        result.serializer = job.serializer
        result.save(ttl=result_ttl, pipeline=pipeline)
        job.finished_job_registry.add(job, result_ttl, pipeline)

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
