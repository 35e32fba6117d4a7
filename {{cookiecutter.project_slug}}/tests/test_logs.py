"""Log lines: one format for every process, no escape codes, and LOG_FORMAT=json for shippers."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from logging.handlers import QueueHandler
from pathlib import Path
from typing import Any

import pytest

from app import Application, ConfigError, current
from app.jobs.reports import rebuild_report
from app.logs import HANDLER, JsonLineFormatter, KeyValueFormatter, logs_written_by_one_thread
from tests.conftest import make_application
from tests.support import jobs
from tests.support.workers import work

GREEN_QUEUE = "\x1b[32mdefault\x1b[39;49;00m"  # what RQ logs for a queue name on a terminal


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """What the shared log handler writes during the test (its stream and format restored after)."""
    stream = io.StringIO()
    previous = HANDLER.setStream(stream)
    yield stream
    if previous is not None:
        HANDLER.setStream(previous)
    HANDLER.setFormatter(KeyValueFormatter())


@pytest.fixture
def fast_path() -> bool:
    """One path is enough here: both write their job lines with the same QueueWorker code."""
    return True


def uvicorn_record() -> logging.LogRecord:
    """A record as uvicorn makes it: the plain message, and a coloured copy in ``extra``."""
    return logging.getLogger("uvicorn.error").makeRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        "Started server process [%d]",
        (42,),
        None,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )


def job_record() -> logging.LogRecord:
    """A worker's job line with its fields, and a queue name RQ coloured."""
    return logging.getLogger("app").makeRecord(
        "app",
        logging.INFO,
        __file__,
        1,
        "Job started on %s",
        (GREEN_QUEUE,),
        None,
        extra={"job_id": "3f0c", "function": "app.jobs.reports.rebuild_report", "queue": "default"},
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object (fails the test on a line that is not one)."""
    return [json.loads(line) for line in text.splitlines()]


def test_text_line_has_no_escape_codes_and_no_color_message() -> None:
    line = KeyValueFormatter().format(uvicorn_record())
    assert line.endswith(" INFO uvicorn.error: Started server process [42]")
    assert "\x1b" not in line
    assert "color_message" not in line


def test_text_line_appends_fields_without_colours() -> None:
    line = KeyValueFormatter().format(job_record())
    assert line.endswith(
        " INFO app: Job started on default"
        " job_id=3f0c function=app.jobs.reports.rebuild_report queue=default"
    )


def test_json_line_has_the_fields_as_top_level_keys() -> None:
    data = json.loads(JsonLineFormatter().format(job_record()))
    assert list(data)[:4] == ["timestamp", "level", "logger", "message"]
    assert data["timestamp"].endswith("+00:00")
    assert data["level"] == "INFO"
    assert data["logger"] == "app"
    assert data["message"] == "Job started on default"
    assert data["job_id"] == "3f0c"
    assert data["function"] == "app.jobs.reports.rebuild_report"
    assert data["queue"] == "default"


def test_json_line_drops_uvicorns_colour_copy() -> None:
    data = json.loads(JsonLineFormatter().format(uvicorn_record()))
    assert data["message"] == "Started server process [42]"
    assert "color_message" not in data


def test_uvicorn_loggers_go_through_our_handler(tmp_path: Path, output: io.StringIO) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's dictConfig does
    uvicorn_error.propagate = False
    make_application(tmp_path)
    uvicorn_error.info(
        "Started server process [%d]",
        42,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    assert uvicorn_error.handlers == []
    assert output.getvalue().endswith(" INFO uvicorn.error: Started server process [42]\n")


def test_sync_job_logs_as_json_lines(tmp_path: Path, output: io.StringIO) -> None:
    application = make_application(tmp_path, QUEUE_CONNECTION="sync", LOG_FORMAT="json")
    with current(application):
        submission = application.queue().submit(rebuild_report, 5)
        failed = application.queue().submit(jobs.fail, "disk full")
    lines = json_lines(output.getvalue())
    started = [line for line in lines if line["message"] == "Job started"]
    assert [line["job_id"] for line in started] == [submission.job_id, failed.job_id]
    assert started[0]["function"] == "app.jobs.reports.rebuild_report"
    failure = next(line for line in lines if line["message"] == "Job failed")
    assert failure["level"] == "ERROR"
    assert "RuntimeError: disk full" in failure["exc_info"]


@pytest.mark.parametrize("redis_environment", [{"LOG_FORMAT": "json"}])
def test_worker_logs_job_id_function_and_queue_as_json(
    output: io.StringIO, redis_application: Application
) -> None:
    submission = redis_application.queue().submit(rebuild_report, 6)
    work(redis_application, burst=True)
    lines = json_lines(output.getvalue())
    started = next(line for line in lines if line["message"] == "Job started")
    assert started["logger"] == "app.worker"
    assert started["job_id"] == submission.job_id
    assert started["function"] == "app.jobs.reports.rebuild_report"
    assert started["queue"] == "default"


@pytest.mark.parametrize("redis_environment", [{"LOG_FORMAT": "json", "WORKER_CONCURRENCY": "4"}])
def test_a_threaded_workers_lines_come_out_whole_and_in_order_from_one_writer_thread(
    output: io.StringIO, redis_application: Application
) -> None:
    queue = redis_application.queue()
    echoes = [queue.submit(jobs.echo, number).job_id for number in range(12)]
    failing = queue.options(retries=0).submit(jobs.fail, "in a thread").job_id
    assert work(redis_application, burst=True) == 0
    lines = json_lines(output.getvalue())
    by_job: dict[str, list[str]] = {}
    for line in lines:
        if line.get("logger") == "app.worker" and "job_id" in line:
            by_job.setdefault(line["job_id"], []).append(line["message"])
    for job_id in echoes:
        assert by_job[job_id] == ["Job started", "Job finished"]
    assert by_job[failing][0] == "Job started" and "Job failed" in by_job[failing]
    assert lines[-1]["message"] == "Worker stopped"  # written after everything queued before it
    root = logging.getLogger()
    assert HANDLER in root.handlers
    assert not [handler for handler in root.handlers if isinstance(handler, QueueHandler)]


def test_lines_from_many_threads_are_formatted_by_the_writer_as_if_written_directly(
    output: io.StringIO,
) -> None:
    HANDLER.setFormatter(JsonLineFormatter())
    log = logging.getLogger("app.worker")

    def log_fifty(thread: int) -> None:
        for number in range(50):
            log.warning("Line %d", number, extra={"thread_number": thread})

    with logs_written_by_one_thread():
        threads = [threading.Thread(target=log_fifty, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("Failed here")
    lines = json_lines(output.getvalue())
    for thread in range(4):
        mine = [line["message"] for line in lines if line.get("thread_number") == thread]
        assert mine == [f"Line {number}" for number in range(50)]
    failed = lines[-1]
    assert failed["message"] == "Failed here" and "ValueError: boom" in failed["exc_info"]


@pytest.mark.parametrize("value", ["JSON", "Text"])
def test_log_format_ignores_case(tmp_path: Path, output: io.StringIO, value: str) -> None:
    make_application(tmp_path, LOG_FORMAT=value)
    assert type(HANDLER.formatter) is (JsonLineFormatter if value == "JSON" else KeyValueFormatter)


def test_unknown_log_format_is_rejected(tmp_path: Path) -> None:
    message = r"config/app\.yaml: app\.log_format: unknown format 'xml'; use text or json"
    with pytest.raises(ConfigError, match=message):
        make_application(tmp_path, LOG_FORMAT="xml")
