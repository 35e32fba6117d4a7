"""``ThreadedJobs``: one worker process runs up to ``WORKER_CONCURRENCY`` jobs at once, in threads.

RQ's loop stays in the main thread (registration heartbeats, maintenance, RQ's scheduler thread,
signals); it dequeues a job only when one of the ``concurrency`` slots is free, writes its start
there (the started registry entry, "busy") and hands it to a job thread, which runs it and writes
its outcome. A slot is free again once the job's function returns: the thread writes the outcome
while the next job starts (so a worker has about twice ``concurrency`` jobs started and not yet
recorded, and never more than ``concurrency`` running). On the fast path the job threads take
the next jobs themselves, in the slot an ending job claims (``_returned``): its success's own
script call takes the job its thread runs next (``_taken_next``), or, after a failure or a
success that runs more than that call, an idle thread takes it (``_take``) and the outcome
waits for the takes under way. The main loop takes when the threads find nothing, and then
waits on the queues. Per job, everything ``QueueWorker`` guarantees still holds: its own started
entry, heartbeat, lease and fencing.

Timeouts: RQ's SIGALRM death penalty works only in the main thread, so a job's deadline is kept by
``JobDeadlines``. At the deadline the job is recorded failed with ``JobTimeoutException`` (retried
if it has retries left) at once, and the exception is raised in its thread; whatever that run does
afterwards is discarded (exactly one of the two records the outcome). Python raises it at the
next bytecode: a job blocked in one long C call (``time.sleep``, a socket read without a timeout)
goes on until the call returns, and keeps its thread, so the worker runs one job fewer meanwhile.
(RQ's default, SIGALRM, works in the main thread only; a subclass that picks a death penalty
that works in threads, such as RQ's ``TimerDeathPenalty``, keeps its own.)
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from queue import SimpleQueue
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rq import Queue as RQQueue
from rq.job import Job
from rq.suspension import is_suspended
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty
from rq.worker import DequeueStrategy, WorkerStatus

from app.queue.worker.job_deadlines import Deadline, JobDeadlines, RunDeadline, interrupt
from app.queue.worker.job_heartbeat import JobHeartbeat
from app.queue.worker.job_lease import JobLease
from app.queue.worker.queue_worker import QueueWorker

if TYPE_CHECKING:
    from types import FrameType

    from redis.client import Pipeline
    from rq.executions import Execution

# Who records a run's outcome: its own thread, or the deadline (the run timed out).
RAN, TIMED_OUT = "ran", "timed out"
# While every thread is busy, the main loop renews the worker's registration (and looks for
# ``rq suspend``) this often.
SLOT_WAIT_SECONDS = 1.0
TAKE = "take"  # handed to a job thread instead of a run: take the next job yourself
# A job thread whose job function returned lets the jobs being taken go first, waiting at most
# this long, then writes its job's outcome (``_returned``).
TAKES_FIRST_SECONDS = 0.05
ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


@dataclass(eq=False)
class JobRun:
    """One prepared job on its way through a job thread."""

    job: Job
    queue: RQQueue
    execution: Execution
    lease: JobLease
    attempt: int
    thread: int = 0  # the performing thread, once its deadline is set
    outcome: str | None = None  # RAN or TIMED_OUT, whichever claimed the outcome first
    executing: bool = True  # its function has not returned yet: it holds one of the slots
    timed_out_at: float = 0.0


def per_thread(name: str, default: Any) -> Any:
    """A worker attribute with one value per thread (kept in the worker's ``_local``)."""

    def get(worker: ThreadedJobs) -> Any:
        return getattr(worker._local, name, default)

    def set_(worker: ThreadedJobs, value: Any) -> None:
        setattr(worker._local, name, value)

    return property(get, set_)


class ThreadedJobs(QueueWorker):
    """Runs up to ``concurrency`` jobs at once in threads; mixed in before the worker class."""

    concurrency = 2  # ``run.py`` sets WORKER_CONCURRENCY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._local = threading.local()  # per thread: the run, its lease, whether it is discarded
        self._slots = threading.RLock()  # the running jobs and the worker's state
        self._outcomes = threading.Lock()  # who records a run's outcome (``_claim``)
        self._job_numbers = itertools.count(1)
        self._slot_freed = threading.Condition(self._slots)
        self._awaited: Callable[[], bool] | None = None  # what the main loop waits for
        self._renew_at = 0.0  # when the main loop next renews its registration (``wait_for_runs``)
        self._suspension_waits = 0  # times RQ's loop waited out ``rq suspend``
        self._runs: dict[str, JobRun] = {}  # started, outcome not written yet; by execution id
        self._executing = 0  # runs whose function has not returned: the slots in use
        self._idle_threads = 0  # job threads waiting for a run
        self._claims = 0  # slots claimed for job threads taking a job themselves (``_take``)
        self._self_taking = False  # set by ``work``
        self._suspended = False  # ``rq suspend``, as the main loop last saw it
        self._takes = 0  # takes handed to job threads and not over yet
        self._takes_over = threading.Condition()
        self._handoff: SimpleQueue[JobRun | str | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._dequeueing = False
        self._cold = False
        self.deadlines = JobDeadlines()
        super().__init__(*args, **kwargs)
        if issubclass(self.death_penalty_class, UnixSignalDeathPenalty):  # main thread only
            self.death_penalty_class = type("RunDeadline", (RunDeadline,), {"worker": self})
        self._job_heartbeat = JobHeartbeat(self)

    # Per-thread state: each job thread has its own lease and fencing flag (``QueueWorker``), and
    # its own job on the way from a take to its start (the fast path's ``take_next_job``).
    _lease = per_thread("lease", None)
    _outcome_discarded = per_thread("discarded", False)
    _taking = per_thread("taking", False)
    _taken = per_thread("taken", None)
    _attempt = per_thread("attempt", 0)
    _fence_in_record = per_thread("fence_in_record", False)
    _take_with_success = per_thread("take_with_success", False)
    _taken_with_success = per_thread("taken_with_success", None)

    def serialize(self) -> dict[str, Any]:
        """RQ's worker hash, with ``concurrency``: ``queues.py check`` counts job slots by it."""
        return {**super().serialize(), "concurrency": self.concurrency}

    def lease_of(self, execution: Execution) -> JobLease | None:
        run = self._runs.get(execution.id)
        return run.lease if run is not None else None

    def count_job(self) -> None:
        self.jobs_done = next(self._job_numbers)  # one step: no count is lost between threads

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """The worker shows "busy" while any job runs: RQ's "idle" before a dequeue waits."""
        with self._slots:
            if state == WorkerStatus.IDLE and self._busy():
                return
            if state == WorkerStatus.SUSPENDED:  # RQ's loop waits out ``rq suspend``
                self._suspended = True
                self._suspension_waits += 1
            super().set_state(state, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check, which waits while ``rq suspend`` holds: the job threads stop taking jobs
        meanwhile (``set_state``), and go on once RQ's wait is over."""
        waits = self._suspension_waits
        super().check_for_suspension(burst)
        if self._suspension_waits != waits:
            self._suspended = False

    # The main thread: wait for a free slot, dequeue, prepare, hand over.
    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop. Job threads take jobs themselves only on the fast path, and not with
        ``max_jobs`` (RQ's loop counts the jobs it starts, to recycle the worker) or a dequeue
        strategy that reorders the queues after each job (round robin, random: their order
        holds only for jobs taken one after another, by the loop)."""
        fast = type(self).take_next_job is not QueueWorker.take_next_job
        strategy = kwargs.get("dequeue_strategy", DequeueStrategy.DEFAULT)
        self._self_taking = (
            fast and kwargs.get("max_jobs") is None and strategy == DequeueStrategy.DEFAULT
        )
        return super().work(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, RQQueue] | None:
        """RQ's dequeue, once a job thread is free; in burst mode, an empty queue ends the loop
        only once no job runs (a running job may retry itself or enqueue dependents)."""
        while not self.stop_signalled:
            with self._slots:
                slot_free = self._slot_free()
            if not slot_free:
                if not self.wait_for_runs(fewer_than=self.concurrency, executing=True):
                    break
                self.check_for_suspension(burst=timeout is None)  # RQ's loop looked before
            with self._slots:
                running = self._busy()  # counted before the dequeue: one that ends after it
            self._dequeueing = True  # may have queued a job the dequeue did not see
            try:
                result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            finally:
                self._dequeueing = False
            if result is not None or timeout is not None or not running:
                return result
            self.wait_for_runs(fewer_than=running)  # one of them has ended: look again
        return None

    def wait_for_runs(
        self, fewer_than: int, executing: bool = False, stop_signalled_ends: bool = True
    ) -> bool:
        """Wait until fewer than ``fewer_than`` jobs run, renewing the worker's registration
        (and looking for ``rq suspend``) meanwhile; False if a stop was signalled first (unless
        ``stop_signalled_ends`` is off).

        With ``executing``, a job whose function has returned no longer counts: its slot is free
        while its thread writes the outcome (at most ``fewer_than`` such jobs more).
        """

        def below() -> bool:
            if executing:
                return self._executing < fewer_than and self._busy() < 2 * fewer_than
            return self._busy() < fewer_than

        while not (stop_signalled_ends and self.stop_signalled):
            if time.monotonic() >= self._renew_at:  # once a second, however often it is called
                self._renew_at = time.monotonic() + SLOT_WAIT_SECONDS
                self.heartbeat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                if self._self_taking:
                    self._suspended = bool(is_suspended(self.connection))
            with self._slots:
                if below():
                    return True
                self._awaited = below
                try:
                    self._slot_freed.wait(max(self._renew_at - time.monotonic(), 0.0))
                finally:
                    self._awaited = None
        return False

    def _wake_main_loop(self) -> None:
        """Wake the main loop once what it waits for holds (under ``_slots``): not for every job
        that ends, when its slot goes straight to the next job."""
        if self._awaited is not None and self._awaited():
            self._slot_freed.notify_all()

    def _slot_free(self) -> bool:
        """A job may start now: fewer than ``concurrency`` jobs run, and fewer than that many
        more are writing their outcomes (under ``_slots``)."""
        return self._executing < self.concurrency and self._busy() < 2 * self.concurrency

    def _busy(self) -> int:
        """Jobs started and not yet recorded, and slots claimed by threads taking a job."""
        return len(self._runs) + self._claims

    def execute_job(self, job: Job, queue: RQQueue) -> None:
        """Prepare the job (its started entry, "busy"), then hand it to a job thread; a job
        thread that took the job itself (``_take``) keeps it. Every job passes here, as in RQ."""
        if getattr(self._local, "keeps_its_take", False):
            self._local.kept_run = self._start_run(job, queue, claimed=True)
            return
        self._hand_over(self._start_run(job, queue, claimed=False))

    def _start_run(self, job: Job, queue: RQQueue, claimed: bool) -> JobRun:
        """Write the job's start (unless taken and started already) and count it as running,
        in the slot claimed for it or in a free one."""
        with self._slots:
            execution = self.prepare_execution(job)
            lease = JobLease(self.connection, job, execution)
            run = JobRun(job, queue, execution, lease, self.count_attempt(job))
            self._runs[execution.id] = run
            if claimed:
                self._claims -= 1
            else:
                self._executing += 1
        return run

    def _hand_over(self, work: JobRun | str) -> None:
        """Give a run (or ``TAKE``) to an idle job thread, or to a new one when none is idle."""
        with self._slots:
            spare = self._idle_threads > 0
            if spare:
                self._idle_threads -= 1
        if not spare:  # every thread is busy, running a job or writing one's outcome
            thread = threading.Thread(target=self._serve, name="job", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._handoff.put(work)

    # The job threads.
    def _serve(self) -> None:
        while (work := self._handoff.get()) is not None:
            run = self._take() if work == TAKE else work
            while run is not None:
                self._run(run)
                run = self._taken_next()

    def _run(self, run: JobRun) -> None:
        self._local.run = run
        try:
            self.run_job(run.job, run.queue, run.execution, run.lease, run.attempt)
        except BaseException:
            if run.outcome != TIMED_OUT:  # else: its timeout, raised after it was recorded
                self.app_log.exception("Job thread failed", extra={"job_id": run.job.id})
        finally:
            self._local.run = None
            self._release(run, idle=not self._take_with_success)

    def _take(self) -> JobRun | None:
        """Take the next job into the slot claimed for this thread (the fast path's one script
        call); None, the claim given back to the main loop, when every queue is empty."""
        try:
            taken = None
            try:
                taken = self.take_next_job()
            except Exception as error:  # the main loop's dequeue reports Redis outages
                self.app_log.debug("No job taken: %s", error)
            return self._start_taken(taken)
        finally:
            with self._takes_over:
                self._takes -= 1
                if not self._takes:
                    self._takes_over.notify_all()

    def _taken_next(self) -> JobRun | None:
        """The job this thread's last success took with it (``_returned``), started in the slot
        claimed for it; None when the success took none (or claimed no slot)."""
        if not self._take_with_success:
            return None
        taken, self._taken_with_success = self._taken_with_success, None
        self._take_with_success = False
        return self._start_taken(taken)

    def _start_taken(self, taken: tuple[Job, RQQueue] | None) -> JobRun | None:
        """Start a job this thread took, in the slot claimed for it; with none taken (or its
        start not written), the slot goes back to the main loop and the thread waits for work."""
        if taken is not None:
            self._local.keeps_its_take, self._local.kept_run = True, None
            try:
                self.execute_job(*taken)
            except Exception as error:
                self.app_log.warning("Taken job not started: %s", error)
            finally:
                self._local.keeps_its_take = False
            if self._local.kept_run is not None:
                return self._local.kept_run
        with self._slots:
            self._claims -= 1
            self._executing -= 1
            self._idle_threads += 1
            self._wake_main_loop()
            self._idle_if_done()
        return None

    def _returned(self, take_with_success: bool = False) -> None:
        """This thread's job function returned (or raised): its slot is free for the next job,
        while this thread writes the outcome. On the fast path the slot is claimed for a job
        thread to take the next job at once, without waiting for the main loop. With
        ``take_with_success``, the success's own script call takes it and this thread runs it
        next (``_taken_next``): one round trip and no hand-over. Else an idle thread takes it
        (``_take``), and this thread writes its outcome only once the takes under way are over:
        all compete for the interpreter, and starting the next jobs is what keeps the slots busy
        (an outcome is written a few milliseconds later, at most ``TAKES_FIRST_SECONDS``).
        Without a claim the main loop takes it."""
        run: JobRun | None = getattr(self._local, "run", None)
        if run is None or getattr(self._local, "recorder", False) or not run.executing:
            return
        with self._slots:
            run.executing = False
            self._executing -= 1
            take = self._may_take()
            if take:  # the slot is claimed for the next job at once
                self._executing += 1
                self._claims += 1
            else:
                self._wake_main_loop()
        if take and take_with_success:
            self._take_with_success = True
        elif take:
            with self._takes_over:
                self._takes += 1
            self._hand_over(TAKE)
            with self._takes_over:
                self._takes_over.wait_for(lambda: not self._takes, TAKES_FIRST_SECONDS)

    def _may_take(self) -> bool:
        """Whether a job thread may take a job itself now (under ``_slots``)."""
        stopping = self._stop_requested or self.stop_signalled or self._cold
        return self._self_taking and not (stopping or self._suspended) and self._slot_free()

    def _release(self, run: JobRun, idle: bool) -> None:
        """The run's outcome is written: it no longer counts as started, and its thread waits
        for work (unless ``idle`` is off: it starts the job its success took)."""
        with self._slots:
            if run.executing:
                run.executing = False
                self._executing -= 1
            if idle:
                self._idle_threads += 1
            del self._runs[run.execution.id]
            self._wake_main_loop()
            self._idle_if_done()
        if run.outcome == TIMED_OUT:
            self.app_log.info(
                "Job thread free again after its job timed out",
                extra={"job_id": run.job.id, "late": f"{time.monotonic() - run.timed_out_at:.3f}s"},
            )

    def _idle_if_done(self) -> None:
        """Write "idle" once no job runs and none is being taken (under ``_slots``)."""
        if self._busy():
            return
        try:
            self.job_ended()
        except Exception as error:  # Redis away: the next job start writes "busy" anew
            self.app_log.warning("Worker state not written: %s", error)

    # Outcomes: the job's thread or its deadline, whichever claims first, records it.
    def _claim(self) -> bool:
        run: JobRun | None = getattr(self._local, "run", None)
        if run is None:
            return True
        role = TIMED_OUT if getattr(self._local, "recorder", False) else RAN
        with self._outcomes:
            if run.outcome is None:
                run.outcome = role
            claimed = run.outcome == role
        if not claimed:
            self._outcome_discarded = True
        return claimed

    def _finalize_success(self, job: Job, queue: RQQueue, execution: Execution, value: Any) -> None:
        self._returned(self._self_taking and self.success_takes_next_job(job, value))
        if self._claim():
            super()._finalize_success(job, queue, execution, value)

    def _finalize_failure(
        self, job: Job, queue: RQQueue, execution: Execution, exc_info: ExcInfo
    ) -> None:
        self._returned()
        if self._claim():
            super()._finalize_failure(job, queue, execution, exc_info)

    def watch(self, seconds: int, exception: type[Exception]) -> Deadline | None:
        """Set the deadline of what this thread starts now: the job itself, or one of its
        callbacks (once the outcome is claimed), which is interrupted as RQ does in threads."""
        if seconds <= 0:
            return None
        thread = threading.get_ident()
        run: JobRun | None = getattr(self._local, "run", None)
        if run is None or run.outcome is not None:
            return self.deadlines.add(seconds, partial(interrupt, thread, exception))
        run.thread = thread
        return self.deadlines.add(seconds, partial(self._time_out, run, seconds))

    def _time_out(self, run: JobRun, seconds: int) -> None:
        with self._outcomes:  # claim and interrupt together: the run sees both or neither
            if run.outcome is not None:
                return
            run.outcome = TIMED_OUT
            run.timed_out_at = time.monotonic()
            interrupt(run.thread, JobTimeoutException)
        recorder = threading.Thread(
            target=self._record_timeout, args=(run, seconds), name="job-timeout", daemon=True
        )
        recorder.start()

    def _record_timeout(self, run: JobRun, seconds: int) -> None:
        """Record the timed-out job as failed (or retried), through the same fenced path."""
        self._local.run, self._local.recorder = run, True
        self._lease, self._outcome_discarded = run.lease, False
        job, queue = run.job, run.queue
        error = JobTimeoutException(f"Task exceeded maximum timeout value ({seconds} seconds)")
        context = {"job_id": job.id, "function": job.func_name, "queue": queue.name}
        try:
            self._finalize_failure(job, queue, run.execution, (JobTimeoutException, error, None))
        except Exception:
            self.app_log.exception("Job timeout not recorded", extra=context)
            return
        if not self._outcome_discarded:
            self.app_log.error(
                "Job failed",
                extra={**context, "duration": f"{seconds}s", "retries_left": job.retries_left or 0},
            )

    # Stopping: warm waits for every running job, cold leaves them to be recovered.
    def stops_at_once(self) -> bool:
        """Only while blocked on the queue, so no job is taken after the signal."""
        return self._dequeueing

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            self._cold = True
            self.app_log.warning(
                "Cold shutdown: running jobs are left to be retried or failed once their"
                " heartbeats lapse",
                extra={"worker": self.name, "running": len(self._runs)},
            )
            raise

    def teardown(self) -> None:
        try:
            if self._busy() and not self._cold:
                self.app_log.info(
                    "Waiting for running jobs to finish",
                    extra={"worker": self.name, "running": len(self._runs)},
                )
                self.wait_for_runs(fewer_than=1, stop_signalled_ends=False)
        finally:
            self._stop_threads()
            super().teardown()

    def _stop_threads(self) -> None:
        """End the idle job threads and the deadlines (``work`` may be called again)."""
        for _ in self._threads:
            self._handoff.put(None)
        if not self._cold:
            for thread in self._threads:
                thread.join()
            self.deadlines.close()
        self._threads, self._idle_threads = [], 0


class ThreadedQueueWorker(ThreadedJobs, QueueWorker):
    """``QueueWorker`` running ``concurrency`` jobs at once (QUEUE_FAST_PATH=false)."""
