"""A job whose data the worker cannot load fails at once, without retries, and the worker goes
on with the jobs behind it (corrupt data, another serializer, an argument it cannot import)."""

from __future__ import annotations

import contextlib
import io
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from redis import Redis

import queues
from app import Application
from app.jobs.reports import rebuild_report
from app.queue.commands.failed_jobs import failed_jobs
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import RedisServer
from tests.support.workers import work


def corrupt_data(application: Application, server: RedisServer, tmp_path: Path) -> str:
    job_id = application.queue().submit(jobs.echo, "payload").job_id
    Redis.from_url(server.url).hset(f"rq:job:{job_id}", "data", b"\x00not a payload")
    return job_id


def pushed_as_json(application: Application, server: RedisServer, tmp_path: Path) -> str:
    json_producer = make_application(
        tmp_path, QUEUE_CONNECTION="redis", QUEUE_SERIALIZER="json", **server.environment()
    )
    return json_producer.queue().submit(jobs.echo, "payload").job_id


def argument_class_missing_in_the_worker(
    application: Application, server: RedisServer, tmp_path: Path
) -> str:
    module = types.ModuleType("billing_models_only_in_the_producer")
    exec("class Invoice:\n    pass\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        return application.queue().submit(jobs.echo, module.Invoice()).job_id
    finally:
        del sys.modules[module.__name__]


CAUSES: dict[str, Callable[[Application, RedisServer, Path], str]] = {
    "corrupt data": corrupt_data,
    "serializer mismatch": pushed_as_json,
    "argument class missing": argument_class_missing_in_the_worker,
}
EXPECTED_CAUSE = {
    "corrupt data": "UnpicklingError",
    "serializer mismatch": "UnpicklingError",
    "argument class missing": "ModuleNotFoundError: No module named 'billing_models_only_in_the",
}


@pytest.mark.parametrize("cause", list(CAUSES))
def test_an_unloadable_job_fails_once_and_the_jobs_behind_it_run(
    cause: str,
    redis_application: Application,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    queue = redis_application.queue()
    poison = CAUSES[cause](redis_application, redis_server, tmp_path)
    behind = [queue.submit(rebuild_report, number).job_id for number in (1, 2)]

    assert work(redis_application, burst=True) == 0

    assert [queue.status(job_id).status for job_id in behind] == ["finished", "finished"]
    state = queue.status(poison)
    assert state.status == "failed"
    assert state.error.startswith(
        "UnloadableJobError: cannot load the data of a call to tests.support.jobs.echo:"
    )
    assert EXPECTED_CAUSE[cause] in state.error
    client = Redis.from_url(redis_server.url)
    (listed,) = failed_jobs(client, ["default"])
    assert (listed.id, listed.function) == (poison, "tests.support.jobs.echo")
    assert listed.arguments == "<data cannot be loaded>"
    assert client.zcard("rq:scheduled:default") == 0  # not retried, though JOB_RETRIES is 3
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert queues.main(["failed"]) == 0
    assert f"{poison}  default  tests.support.jobs.echo(<data cannot be loaded>)" in out.getvalue()
