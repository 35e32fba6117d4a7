"""A worker that cannot import a task says why, naming the module and its error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.queue.worker.task_import import explain_import_failure


def test_missing_module() -> None:
    assert explain_import_failure("app.jobs.nowhere.task") == (
        "cannot import app.jobs.nowhere.task: module app.jobs has no attribute nowhere.task"
    )


def test_missing_attribute() -> None:
    assert "module app.jobs.reports has no attribute missing" in explain_import_failure(
        "app.jobs.reports.missing"
    )


def test_module_that_raises_on_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_tasks.py").write_text("raise ImportError('libfoo is not installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = explain_import_failure("broken_tasks.run")
    sys.modules.pop("broken_tasks", None)
    assert message == (
        "cannot import broken_tasks.run: importing broken_tasks raised"
        " ImportError: libfoo is not installed"
    )
