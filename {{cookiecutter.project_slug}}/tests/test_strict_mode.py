"""Strict sync mode refuses, up front, jobs that would fail under the redis driver."""

from __future__ import annotations

import logging
import threading

import pytest

from app import Application
from app.jobs.reports import rebuild_report
from tests.support import jobs


def refusal(application: Application, func, *args) -> str:
    submission = application.queue().submit(func, *args)
    assert submission.ok is False
    assert submission.error
    return submission.error


def test_module_level_functions_and_importable_bound_methods_run(application: Application) -> None:
    assert application.queue().push(rebuild_report, 1)
    assert application.queue().push(jobs.Greeter("Hello").greet, "Ada")


def test_lambda_is_refused(application: Application) -> None:
    assert "lambda" in refusal(application, lambda: None)


def test_nested_function_is_refused(application: Application) -> None:
    def nested() -> None:
        return None

    assert "defined inside a function" in refusal(application, nested)


def test_bound_method_of_a_local_class_is_refused(application: Application) -> None:
    class Local:
        def run(self) -> None:
            return None

    assert "defined inside a function" in refusal(application, Local().run)


def test_unserializable_argument_is_refused_and_named(
    application: Application, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        message = refusal(application, jobs.echo, 1, threading.Lock())
    assert "argument 1 (lock) cannot be serialized" in message
    assert "strict mode" in caplog.text


def test_open_file_argument_is_refused(application: Application, tmp_path) -> None:
    with (tmp_path / "f.txt").open("w") as handle:
        assert "cannot be serialized" in refusal(application, jobs.echo, handle)


def test_refused_job_does_not_run(application: Application, tmp_path) -> None:
    target = tmp_path / "pid"
    assert application.queue().push(jobs.record_pid, str(target), threading.Lock()) is False
    assert not target.exists()
