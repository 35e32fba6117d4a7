"""pytest plugin for RQ's own test suite: RQ's worker classes replaced by a class under test.

Loaded with ``-p rq_conformance.plugin`` in a pytest session over RQ's ``tests/`` (the runner
does that). At import time, before pytest imports RQ's test modules, it puts the class named by
``RQ_CONFORMANCE_WORKER`` (``module:Class``, or ``control`` for a plain ``SimpleWorker``
subclass) wherever RQ exposes the classes named in ``RQ_CONFORMANCE_REPLACE`` (comma-separated:
``SimpleWorker`` and, by default, ``Worker``).

Each test is appended to the JSON-lines file ``RQ_CONFORMANCE_REPORT`` when it starts and when
it ends (outcome, a one-line message, and how many instances of the class under test it built);
the session's end is recorded too. A session can die in a test: a test that kills "the work
horse" kills the whole session when the worker runs jobs in-process, and a test running longer
than ``RQ_CONFORMANCE_TEST_TIMEOUT`` seconds ends it with every thread's traceback written to
``<report>.tracebacks``. The runner then starts the session again on the same report, and this
plugin deselects every test the report shows as started, so the session resumes after it.
"""

from __future__ import annotations

import faulthandler
import functools
import importlib
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import rq
import rq.worker
import rq.worker.worker_classes
import rq.worker_pool

CONTROL = "control"
CONTROL_PATH = "rq_conformance.control:ControlWorker"
DEFAULT_REPLACED = ("SimpleWorker", "Worker")
DEFAULT_TEST_TIMEOUT = 120.0


def load_worker_class(path: str) -> type[rq.worker.BaseWorker]:
    """``module:Class`` (or ``control``) to the class; the module must be importable."""
    path = CONTROL_PATH if path == CONTROL else path
    module_name, _, class_name = path.partition(":")
    if not class_name:
        raise ValueError(f"RQ_CONFORMANCE_WORKER must be 'module:Class' or 'control', not {path!r}")
    worker_class = getattr(importlib.import_module(module_name), class_name)
    if not issubclass(worker_class, rq.worker.BaseWorker):
        raise TypeError(f"{path} is not an RQ worker class")
    return worker_class


def replace_everywhere(name: str, replacement: type) -> list[str]:
    """Rebind ``name`` to ``replacement`` in every loaded ``rq`` module that exposes RQ's class.

    Returns the rebound places, e.g. ``rq.worker_pool.Worker``. Modules imported later get the
    replacement through ``rq.worker`` (RQ imports worker classes from there).
    """
    original = getattr(rq.worker.worker_classes, name)
    places = []
    for module_name, module in list(sys.modules.items()):
        if module_name != "rq" and not module_name.startswith("rq."):
            continue
        if getattr(module, name, None) is original:
            setattr(module, name, replacement)
            places.append(f"{module_name}.{name}")
    return sorted(places)


class ConstructionCounter:
    """Counts instances of the class under test (and its subclasses) built during a test."""

    def __init__(self, worker_class: type) -> None:
        self.count = 0
        original_init = worker_class.__init__

        @functools.wraps(original_init)
        def counting_init(worker: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            original_init(worker, *args, **kwargs)

        worker_class.__init__ = counting_init  # type: ignore[misc]


class OutcomeRecorder:
    """Turns pytest's setup/call/teardown reports into one JSON line per test."""

    def __init__(self, path: Path, counter: ConstructionCounter, timeout: float) -> None:
        self.path = path
        self.counter = counter
        self.timeout = timeout
        self.reports: list[pytest.TestReport] = []
        self.started = time.monotonic()
        # pytest captures stderr per test; a hang's tracebacks go to a file of their own.
        self.tracebacks = path.with_suffix(".tracebacks").open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as report:
            report.write(json.dumps(record) + "\n")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.reports = []
        self.counter.count = 0
        self.started = time.monotonic()
        self.write({"event": "start", "id": nodeid})
        faulthandler.dump_traceback_later(self.timeout, exit=True, file=self.tracebacks)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.append(report)  # subtests report several times per test

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        faulthandler.cancel_dump_traceback_later()
        leftovers = end_leftover_processes()
        outcome, message = summarize(self.reports)
        self.write(
            {
                "event": "result",
                "id": nodeid,
                "outcome": outcome,
                "message": message,
                "constructed": self.counter.count,
                "seconds": round(time.monotonic() - self.started, 3),
                "leftover_processes": leftovers,
            }
        )

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Resuming a session that died: leave out every test an earlier attempt started."""
        done = started_tests(self.path)
        if not done:
            return
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in done])
        items[:] = [item for item in items if item.nodeid not in done]

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self.write({"event": "finish", "exitstatus": int(exitstatus)})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.write(
                {
                    "event": "result",
                    "id": report.nodeid,
                    "outcome": "error",
                    "message": first_line(str(report.longrepr)),
                    "constructed": 0,
                }
            )


def end_leftover_processes() -> int:
    """End the child processes a test left running; return how many there were.

    A test that fails before it joins its worker process (for the control too, when it expects
    a forking Worker) leaves that worker consuming the queue, and it took the next tests' jobs.
    """
    leftovers = multiprocessing.active_children()
    for process in leftovers:
        process.terminate()
    for process in leftovers:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    return len(leftovers)


def started_tests(path: Path) -> set[str]:
    """Test ids with a start record in the report (empty when there is no report yet)."""
    if not path.exists():
        return set()
    records = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return {record["id"] for record in records if record["event"] == "start"}


def summarize(reports: list[pytest.TestReport]) -> tuple[str, str]:
    """One outcome for a test: failed, error, xfailed, xpassed, passed or skipped, and why."""
    calls = [report for report in reports if report.when == "call"]
    failed_calls = [report for report in calls if report.failed]
    if failed_calls:
        return "failed", short_message(failed_calls[0])
    broken = [report for report in reports if report.when != "call" and report.failed]
    if broken:
        return "error", f"in {broken[0].when}: {short_message(broken[0])}"
    if any(hasattr(report, "wasxfail") for report in calls):
        return ("xpassed" if calls[0].passed else "xfailed"), ""
    if any(report.passed for report in calls):
        return "passed", ""
    skipped = [report for report in reports if report.skipped]
    return "skipped", short_message(skipped[0]) if skipped else ""


def short_message(report: pytest.TestReport) -> str:
    """The line pytest shows in its short summary: the exception and its message."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return first_line(crash.message)
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return first_line(str(report.longrepr[2]))
    return first_line(str(report.longrepr))


def first_line(text: str, limit: int = 300) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:limit] if lines else ""


def replaced_names() -> tuple[str, ...]:
    """The RQ classes to replace, from ``RQ_CONFORMANCE_REPLACE``."""
    value = os.environ.get("RQ_CONFORMANCE_REPLACE", ",".join(DEFAULT_REPLACED))
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = set(names) - set(DEFAULT_REPLACED)
    if unknown:
        raise ValueError(f"RQ_CONFORMANCE_REPLACE names unknown classes: {sorted(unknown)}")
    return names


def replace_in_subprocesses(path: str) -> None:
    """``rq worker`` started by a test (TestWorkerSubprocess) uses the class too."""
    module_name, _, class_name = (CONTROL_PATH if path == CONTROL else path).partition(":")
    os.environ["RQ_WORKER_CLASS"] = f"{module_name}.{class_name}"


WORKER_PATH = os.environ.get("RQ_CONFORMANCE_WORKER", CONTROL)
WORKER_CLASS = load_worker_class(WORKER_PATH)
REPLACED = {name: replace_everywhere(name, WORKER_CLASS) for name in replaced_names()}
if "Worker" in REPLACED:  # rq.Worker is the command line's default class
    replace_in_subprocesses(WORKER_PATH)
COUNTER = ConstructionCounter(WORKER_CLASS)


def pytest_configure(config: pytest.Config) -> None:
    """Record outcomes when the runner asked for a report file."""
    report = os.environ.get("RQ_CONFORMANCE_REPORT")
    if report:
        timeout = float(os.environ.get("RQ_CONFORMANCE_TEST_TIMEOUT", DEFAULT_TEST_TIMEOUT))
        recorder = OutcomeRecorder(Path(report), COUNTER, timeout)
        config.pluginmanager.register(recorder, "rq-conformance-recorder")


def pytest_report_header() -> list[str]:
    places = ", ".join(place for places in REPLACED.values() for place in places)
    return [f"rq-conformance: {WORKER_PATH} in place of {places}"]
