"""The fast path itself (QUEUE_FAST_PATH): its scripts, its log filter, its RQ version guard, and
jobs crossing between a fast and a plain side. Everything else runs both ways in the other tests."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import rq
from redis import Redis
from redis.commands.core import Script
from rq import Queue as RQQueue
from rq.job import Job
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from rq.results import Result

from app import Application
from app.jobs.reports import rebuild_report
from app.queue.commands.checklist import check
from app.queue.fast_path.scripts import (
    HAS_DEPENDENTS,
    LOST_JOB,
    RECORD_SUCCESS,
    RECORD_SUCCESS_AND_TAKE,
    RUN_COMMANDS,
    TAKE_AND_START,
    WRITTEN,
    run_as_script,
)
from app.queue.fast_path.thread_connection import ThreadConnection
from app.queue.fast_path.worker import JOB_PATH_SCRIPTS, FastQueueWorker
from app.queue.serialization import serializer_for
from app.queue.worker import QueueWorker
from app.queue.worker.run import build_worker, worker_class
from app.queue.worker.task_job import TaskJob
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import RedisServer
from tests.support.workers import work


@pytest.fixture
def fast_path() -> bool:
    """``redis_application`` with the fast path on, only."""
    return True


def application_with(tmp_path: Path, server: RedisServer, fast_path: bool) -> Application:
    switch = "true" if fast_path else "false"
    return make_application(
        tmp_path, QUEUE_CONNECTION="redis", QUEUE_FAST_PATH=switch, **server.environment()
    )


def test_the_switch_picks_the_worker_class(tmp_path: Path, redis_server: RedisServer) -> None:
    for switch, expected in ((True, FastQueueWorker), (False, QueueWorker)):
        application = application_with(tmp_path, redis_server, switch)
        assert worker_class(application.queue_settings, application.log()) is expected


@pytest.mark.parametrize(
    ("producer_fast", "worker_fast"),
    [(True, False), (False, True)],
    ids=["fast-to-plain", "plain-to-fast"],
)
def test_jobs_pushed_one_way_are_run_by_a_worker_started_the_other_way(
    tmp_path: Path, redis_server: RedisServer, producer_fast: bool, worker_fast: bool
) -> None:
    Redis.from_url(redis_server.url).flushdb()
    producer = application_with(tmp_path, redis_server, producer_fast)
    queue = producer.queue()
    single = queue.submit(rebuild_report, 31)
    assert queue.push_many(jobs.echo, [(1,), (2,)]) == 2
    failing = queue.options(retries=0).submit(jobs.fail, "crossed")
    assert work(application_with(tmp_path, redis_server, worker_fast), burst=True) == 0
    assert queue.status(single.job_id).status == "finished"
    assert queue.status(single.job_id).result["report_id"] == 31
    assert "crossed" in queue.status(failing.job_id).error


def test_an_unverified_rq_version_turns_the_fast_path_off_with_one_warning(
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(rq, "__version__", "3.99.0")
    Redis.from_url(redis_server.url).flushdb()
    application = application_with(tmp_path, redis_server, True)
    with caplog.at_level(logging.WARNING):
        assert worker_class(application.queue_settings, application.log()) is QueueWorker
        queue = application.queue()
        submission = queue.submit(rebuild_report, 32)
        assert work(application, burst=True) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "RQ 3.99.0" in warnings[0] and "plain path" in warnings[0]
    assert queue.status(submission.job_id).status == "finished"


def test_rq_per_job_lines_are_dropped_and_ours_kept(
    redis_application: Application, caplog: pytest.LogCaptureFixture
) -> None:
    submission = redis_application.queue().submit(rebuild_report, 21)
    with caplog.at_level(logging.INFO):
        work(redis_application, burst=True)
    messages = [record.getMessage() for record in caplog.records]
    ours = [(r.getMessage(), getattr(r, "job_id", None)) for r in caplog.records]
    assert ("Job started", submission.job_id) in ours
    assert ("Job finished", submission.job_id) in ours
    assert any("Listening on" in message for message in messages)
    assert not [m for m in messages if "Job OK" in m or "Successfully completed" in m]
    assert not [m for m in messages if m.startswith("Worker ") and m.endswith(submission.job_id)]


def test_commands_sent_as_one_script_write_what_the_pipeline_would(
    redis_server: RedisServer,
) -> None:
    connection = Redis.from_url(redis_server.url)
    connection.delete("hot:hash", "hot:zset")
    script = connection.register_script(RUN_COMMANDS)
    with connection.pipeline() as pipeline:
        pipeline.hset("hot:hash", mapping={"a": "1", "b": 2.5})
        pipeline.expire("hot:hash", 100)
        pipeline.zadd("hot:zset", {"member": 12.75})
        pipeline.zadd("hot:zset", {"member": 99}, xx=True)
        pipeline.hincrby("hot:hash", "c", 7)
        assert run_as_script(script, pipeline) == 7  # the last command's reply
        assert pipeline.command_stack == []
    assert connection.hgetall("hot:hash") == {b"a": b"1", b"b": b"2.5", b"c": b"7"}
    assert 0 < connection.ttl("hot:hash") <= 100
    assert connection.zscore("hot:zset", "member") == 99


def started_state(connection: Redis, job: Job, execution_key: str, member: str) -> dict[str, Any]:
    """What a started job looks like in Redis: field names, the values that do not vary between
    two starts, TTLs and registry scores relative to now (rounded)."""
    moment = time.time()
    job_hash = {key.decode(): value for key, value in connection.hgetall(job.key).items()}
    execution = connection.hgetall(execution_key)
    execution_id = member.split(":")[1]
    executions_key = f"rq:executions:{job.id}"
    worker_executions = f"rq:worker:{job_hash['worker_name'].decode()}:executions"
    return {
        "job fields": sorted(job_hash),
        "job values": {k: job_hash[k] for k in ("status", "worker_name", "attempt", "origin")},
        "job ttl": connection.ttl(job.key),
        "execution fields": sorted(key.decode() for key in execution),
        "execution ttl": round(connection.ttl(execution_key) / 5),
        "started in": round((connection.zscore("rq:wip:take", member) or 0) - moment),
        "executions in": round((connection.zscore(executions_key, execution_id) or 0) - moment),
        "executions ttl": round(connection.ttl(executions_key) / 5),
        "in the worker's executions": connection.sismember(worker_executions, member),
        "in the intermediate list": connection.lpos("rq:queue:take:intermediate", job.id),
    }


def test_a_job_taken_in_one_call_is_started_as_rqs_dequeue_and_start_leave_it(
    redis_server: RedisServer,
) -> None:
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    queue = RQQueue("take", connection=connection)
    worker = FastQueueWorker([queue], connection=connection, name="taker")
    worker.register_birth()
    first, second = queue.enqueue(jobs.echo, 1), queue.enqueue(jobs.echo, 2)

    dequeued = RQQueue.dequeue_any([queue], None, connection=connection)  # RQ's way, then ours
    assert dequeued is not None and dequeued[0].id == first.id
    rqs_execution = worker.prepare_execution(dequeued[0])
    taken = worker.take_next_job()
    assert taken is not None and taken[0].id == second.id and taken[1].name == "take"
    our_execution = worker.prepare_execution(taken[0])

    assert our_execution.job_id == second.id and worker.count_attempt(taken[0]) == 1
    assert taken[0].get_status(refresh=False) == "started" and taken[0].worker_name == "taker"
    rqs = started_state(connection, first, rqs_execution.key, rqs_execution.composite_key)
    ours = started_state(connection, second, our_execution.key, our_execution.composite_key)
    assert ours == rqs
    assert ours["job values"]["status"] == b"started" and ours["started in"] > 0
    assert connection.hget(worker.key, "state") == b"busy"
    assert worker.take_next_job() is None  # nothing left: RQ's blocking dequeue waits then


def finished_state(connection: Redis, job: Job) -> dict[str, Any]:
    """What a finished job looks like in Redis: its hash, less what differs between two runs
    (times, ids, the payload), its result, its registries and TTLs (in 5 s steps: a second's
    boundary may fall between two reads)."""
    moment = time.time()
    varying = {"created_at", "enqueued_at", "started_at", "ended_at", "last_heartbeat", "data"}
    job_hash = {key.decode(): value for key, value in connection.hgetall(job.key).items()}
    fetched = Job.fetch(job.id, connection=connection, serializer=job.serializer)
    result = fetched.latest_result()
    assert result is not None
    return {
        "job fields": sorted(job_hash),
        "job values": {key: value for key, value in job_hash.items() if key not in varying},
        "times": [bool(job_hash[key]) for key in sorted(varying - {"data"})],
        "job ttl": round(connection.ttl(job.key) / 5),
        "result": (result.type, result.return_value, result.worker_name == fetched.worker_name),
        "result ttl": round(connection.ttl(f"rq:results:{job.id}") / 5),
        "finished in": round(((connection.zscore("rq:finished:done", job.id) or 0) - moment) / 5),
        "still started": connection.zcard("rq:wip:done"),
        "executions left": connection.exists(f"rq:executions:{job.id}"),
    }


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_a_success_is_written_as_rqs_worker_leaves_it(
    redis_server: RedisServer, serializer: str
) -> None:
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    queue = RQQueue("done", connection=connection, serializer=serializer_for(serializer))
    finished = {}
    for worker_class_ in (QueueWorker, FastQueueWorker):  # RQ's success writes, then ours
        job = queue.enqueue(jobs.echo, 1, tag="x", result_ttl=600)
        worker = worker_class_(
            [queue],
            connection=connection,
            name=worker_class_.__name__,
            job_class=TaskJob,
            serializer=serializer_for(serializer),
        )
        assert worker.work(burst=True)
        finished[worker_class_] = finished_state(connection, job)
        worker_hash = connection.hgetall(worker.key)
        assert worker_hash[b"successful_job_count"] == b"1"

    rqs, ours = finished[QueueWorker], finished[FastQueueWorker]
    assert ours["job values"].pop("worker_name") == b"FastQueueWorker"
    assert rqs["job values"].pop("worker_name") == b"QueueWorker"
    assert ours == rqs
    assert ours["job values"]["status"] == b"finished" and all(ours["times"])
    assert ours["result"][:2] == (Result.Type.SUCCESSFUL, {"args": [1], "kwargs": {"tag": "x"}})
    assert ours["finished in"] == 600 / 5 and ours["still started"] == 0  # result_ttl=600


def test_a_stop_signalled_while_a_job_is_taken_runs_it_and_takes_no_other(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    Redis.from_url(redis_server.url).flushdb()
    application = application_with(tmp_path, redis_server, True)
    queue = application.queue()
    first, second = queue.submit(jobs.echo, 1), queue.submit(jobs.echo, 2)
    started = FastQueueWorker._started

    def stopped_midway(worker: FastQueueWorker, *args: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # handled right here, after the job was popped
        return started(worker, *args)

    monkeypatch.setattr(FastQueueWorker, "_started", stopped_midway)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert work(application) == 0  # not burst: only the signal stops it
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert queue.status(first.job_id).status == "finished"
    assert queue.status(second.job_id).status == "queued"


def test_a_stop_signalled_while_a_take_finds_nothing_stops_without_waiting_on_the_queue(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    Redis.from_url(redis_server.url).flushdb()
    application = application_with(tmp_path, redis_server, True)

    run_script = ThreadConnection.run_script

    def stopped_midway(connection: ThreadConnection, script: Script, *arguments: Any) -> Any:
        reply = run_script(connection, script, *arguments)
        if script.script == TAKE_AND_START:
            os.kill(os.getpid(), signal.SIGTERM)  # handled while the take is under way
        return reply

    monkeypatch.setattr(ThreadConnection, "run_script", stopped_midway)
    worker = build_worker(application.queue_settings, application.log(), "stopping")
    stopped = threading.Event()

    def rescue() -> None:
        """A worker that missed the stop waits on the empty queue until a job comes: send one."""
        if not stopped.wait(3):
            application.queue().push(jobs.echo, "rescue")

    side = threading.Thread(target=rescue)
    previous = signal.getsignal(signal.SIGTERM)
    side.start()
    try:
        worker.work(with_scheduler=False)
    finally:
        stopped.set()
        side.join()
        signal.signal(signal.SIGTERM, previous)
    assert worker.stop_signalled
    assert worker.jobs_done == 0  # stopped at once: the rescue job was never needed


def test_a_job_with_dependents_is_recorded_rqs_way_and_they_run(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    application = application_with(tmp_path, redis_server, True)
    queue = RQQueue(application.queue_settings.worker_queues[0], connection=connection)
    parent = queue.enqueue(jobs.echo, "parent")
    child = queue.enqueue(jobs.echo, "child", depends_on=parent)
    plain = queue.enqueue(jobs.echo, "plain")
    assert work(application, burst=True) == 0
    for job in (parent, child, plain):
        assert job.get_status(refresh=True) == "finished"
        assert job.id in FinishedJobRegistry(queue.name, connection=connection)
    assert not StartedJobRegistry(queue.name, connection=connection).get_job_ids()
    assert child.latest_result() is not None


@pytest.mark.parametrize("with_take", [False, True], ids=["alone", "with-take"])
@pytest.mark.parametrize(
    ("registry_score", "status", "dependents", "expected"),
    [
        (60, "started", False, WRITTEN),  # held
        (None, "started", False, WRITTEN),  # not fenced (no lease): written
        (-1, "started", False, LOST_JOB),  # expired: maintenance may hand the job on
        ("gone", "started", False, LOST_JOB),  # handed on already
        ("gone", "canceled", False, WRITTEN),  # cancelled while running: RQ keeps the outcome
        (60, "started", True, HAS_DEPENDENTS),  # RQ's transaction moves the dependents
    ],
    ids=["held", "not-fenced", "expired", "gone", "cancelled", "dependents"],
)
def test_a_success_is_written_only_while_the_run_holds_its_job_and_without_dependents(
    redis_server: RedisServer,
    registry_score: object,
    status: str,
    dependents: bool,
    expected: int,
    with_take: bool,
) -> None:
    """RECORD_SUCCESS's rules; RECORD_SUCCESS_AND_TAKE follows them, and takes the next job
    only once the success is written."""
    connection = Redis.from_url(redis_server.url)
    keys = ["hot:dependents", "hot:wip", "hot:job"]
    take_keys = ["hot:queue", "hot:queue:wip"]
    connection.delete(*keys, *take_keys, "hot:written", "hot:job:next")
    connection.hset("hot:job", "status", status)
    connection.hset("hot:job:next", "status", "queued")
    connection.rpush("hot:queue", "next")
    if dependents:
        connection.sadd("hot:dependents", "child")
    now = time.time()
    if isinstance(registry_score, int):
        connection.zadd("hot:wip", {"job:run": now + registry_score})
    member = "" if registry_score is None else "job:run"
    with connection.pipeline() as pipeline:
        pipeline.set("hot:written", "yes")
        if with_take:
            script = connection.register_script(RECORD_SUCCESS_AND_TAKE)
            take = ["hot:job:", "hot:execution:", "hot:executions:", "run2", "worker"]
            take += ["hot:worker", "hot:worker:executions", int(now), repr(now), "now"]
            state, taken = run_as_script(
                script, pipeline, keys + take_keys, [*take, 10, 3, 480, member, now]
            )
            assert state == expected
            assert (taken is not None) == (expected == WRITTEN)
        else:
            script = connection.register_script(RECORD_SUCCESS)
            assert run_as_script(script, pipeline, keys=keys, leading=[member, now]) == expected
    assert connection.get("hot:written") == (b"yes" if expected == WRITTEN else None)
    if with_take and expected == WRITTEN:
        assert connection.lrange("hot:queue", 0, -1) == []
        assert connection.zrange("hot:queue:wip", 0, -1) == [b"next:run2"]
        assert connection.hget("hot:job:next", "status") == b"started"
    else:
        assert connection.lrange("hot:queue", 0, -1) == [b"next"]


def test_a_script_call_on_the_threads_connection_goes_through_the_client_after_an_error(
    redis_server: RedisServer,
) -> None:
    """NOSCRIPT (Redis restarted and forgot its scripts) and a dropped connection: the call is
    sent again through the client, which loads the script or reconnects."""
    client = Redis.from_url(redis_server.url)
    script = client.register_script("return ARGV[1] .. KEYS[1]")
    own = ThreadConnection(client)
    client.script_flush()
    assert own.run_script(script, ["key"], ["value:"]) == b"value:key"  # NOSCRIPT, then loaded
    assert own.run_script(script, ["key"], ["again:"]) == b"again:key"  # its own connection
    client.client_kill_filter(_id=own.execute("CLIENT", "ID"))  # drops the thread's connection
    assert own.run_script(script, ["key"], ["back:"]) == b"back:key"
    assert own.run_script(script, ["key"], ["own:"]) == b"own:key"  # a new one of its own


def test_connections_threads_keep_do_not_count_against_the_clients_pool(
    redis_server: RedisServer,
) -> None:
    """redis-py's pool refuses to make more than ``max_connections``; connections threads hold
    for pushes and script calls must not use that up (every worker thread holds one)."""
    client = Redis.from_url(redis_server.url, max_connections=2)
    own = ThreadConnection(client)
    answers: list[Any] = []

    def ping() -> None:
        answers.append(own.execute("PING"))

    threads = [threading.Thread(target=ping) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [b"PONG"] * 5
    assert client.ping()
    assert client.get("anything") is None  # the pool still makes its own connections


def test_the_job_paths_scripts_are_loaded_when_the_worker_starts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """So that the first jobs' calls, every job thread's at once, do not each meet NOSCRIPT."""
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    connection.script_flush()
    application = application_with(tmp_path, redis_server, True)
    assert work(application, burst=True) == 0  # an empty queue: no job records anything
    shas = [connection.register_script(source).sha for source in JOB_PATH_SCRIPTS]
    assert connection.script_exists(*shas) == [True] * len(JOB_PATH_SCRIPTS)


def test_a_job_threads_success_takes_its_next_job_in_the_same_call(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """With WORKER_CONCURRENCY > 1, a job thread's success script takes the job the thread runs
    next: one script call a job, where a take and a success would be two."""
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    application = make_application(
        tmp_path,
        QUEUE_CONNECTION="redis",
        QUEUE_FAST_PATH="true",
        WORKER_CONCURRENCY="4",
        **redis_server.environment(),
    )
    queue = application.queue()
    pushed = [queue.submit(jobs.echo, number) for number in range(60)]
    connection.config_resetstat()
    assert work(application, burst=True) == 0
    assert [queue.status(job.job_id).status for job in pushed] == ["finished"] * 60
    script_calls = connection.info("commandstats")["cmdstat_evalsha"]["calls"]
    # One a job, and a dozen besides (start-up, the main loop's first takes, the last takes
    # finding the queue empty); a take and a success apart would be 120 and more.
    assert script_calls < 90, script_calls


def test_the_checklist_says_whether_the_fast_path_is_in_use(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fast_path_line(switch: bool) -> str:
        application = application_with(tmp_path, redis_server, switch)
        items = check(application.queue_settings, application.log(), live=False)
        return next(item.line() for item in items if item.name == "fast_path")

    assert fast_path_line(True) == (
        f"ok   fast_path: on (QUEUE_FAST_PATH=true, verified with RQ {rq.__version__})"
    )
    assert fast_path_line(False).startswith("ok   fast_path: off (QUEUE_FAST_PATH=false)")
    monkeypatch.setattr(rq, "__version__", "4.0.0")
    assert fast_path_line(True) == (
        "ok   fast_path: off: QUEUE_FAST_PATH=true, but RQ 4.0.0 is not a verified version"
    )
