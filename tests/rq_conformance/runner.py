"""Run RQ's own worker tests with the generated worker classes in place of RQ's, and compare.

RQ's test suite is the conformance test of a worker class: this fetches RQ's sdist for the
installed RQ version (``pip download``, at run time; RQ's tests are not copied into this
repository), then runs a selection of its worker-related test modules once per worker class,
with ``-p rq_conformance.plugin`` putting the class in place of RQ's ``SimpleWorker`` and
``Worker``. Each session runs in private namespaces with its own Redis on 6379 and its own /tmp
(``sandbox``); the sessions run at the same time. The control session uses a plain
``SimpleWorker`` subclass; a test that passes there and fails for a class under test is a
difference, explained in ``allowed_differences.txt`` or reported.

By hand, from the repository root (bakes a project with the defaults unless given one)::

    .venv/bin/python -m tests.rq_conformance.runner [--project DIR] [--worker module:Class ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import TextIO

from .compare import (
    Comparison,
    Outcome,
    Session,
    compare,
    format_modules,
    format_report,
    load_allow_list,
    read_outcomes,
    record_crash,
    sanity_problems,
    session_finished,
)
from .sandbox import SandboxUnavailable, check_available, sandboxed

HERE = Path(__file__).resolve().parent
TEMPLATE_ROOT = HERE.parent.parent
ALLOW_LIST = HERE / "allowed_differences.txt"
CONTROL = "control"
DEFAULT_WORKERS = ("app.queue.worker:QueueWorker", "app.queue.fast_path.worker:FastQueueWorker")
# The forking Worker too: most of RQ's worker tests build a Worker, few a SimpleWorker. Tests
# that need a forked work horse fail for the control as well and so are not compared.
REPLACED = ("SimpleWorker", "Worker")
# RQ's test modules that build a worker (``--by-module`` shows how many of their tests do, and
# their seconds); test_cli's ``rq worker`` commands build ours through RQ_WORKER_CLASS. Left out:
# test_worker_pool (its workers are child processes: no test builds one in-process, 9 s) and
# test_spawn_worker (SpawnWorker subclasses RQ's own Worker, never ours).
RQ_TEST_MODULES = (
    "test_worker",
    "test_executions",
    "test_retry",
    "test_callbacks",
    "test_dependencies",
    "test_job_dependency",
    "test_results",
    "test_timeouts",
    "test_scheduler",
    "test_intermediate_queue",
    "test_rate_limit",
    "test_group",
    "test_repeat",
    "test_commands",
    "test_worker_registration",
    "test_registry",
    "test_cli",
    "test_webhooks",
    "test_decorator",
    "test_job",
    "test_queue",
)
# A test that fails for a class while four sessions share the machine is re-run alone this many
# times; passing every time, it failed on timing under load (RQ's tests sleep and race
# processes), not on the class, and is reported as such instead of failing the run.
QUIET_RERUNS = 3
SESSION_TIMEOUT = 900.0  # seconds for one whole session
TEST_TIMEOUT = 120.0  # seconds for one test, then the session ends with tracebacks
MAX_ATTEMPTS = 25  # sessions resumed after a test killed the previous one


class ConformanceUnavailable(RuntimeError):
    """A prerequisite is missing: the namespace, redis-server, or RQ's sdist from PyPI."""


@dataclass(frozen=True)
class Plan:
    """What to run: RQ's unpacked tests, the baked project, and where sessions write."""

    rq_root: Path
    project: Path
    work_dir: Path
    modules: tuple[str, ...] = RQ_TEST_MODULES
    replaced: tuple[str, ...] = REPLACED
    test_ids: tuple[str, ...] = ()  # these tests alone instead of the modules


def fetch_rq_tests(cache_dir: Path, rq_version: str | None = None) -> Path:
    """Download RQ's sdist with pip and unpack its ``tests/`` and pytest config; return the root.

    Only the tests are unpacked, so they run against the installed ``rq`` package.
    """
    rq_version = rq_version or version("rq")
    root = cache_dir / f"rq-{rq_version}"
    if (root / "tests" / "__init__.py").is_file():
        return root
    downloads = cache_dir / "downloads"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--no-binary", ":all:", "--dest", str(downloads), f"rq=={rq_version}"]
    fetched = subprocess.run(command, capture_output=True, text=True, timeout=300)
    archives = sorted(downloads.glob(f"rq-{rq_version}.tar.gz"))
    if fetched.returncode != 0 or not archives:
        reason = fetched.stderr.strip()[-2000:]
        raise ConformanceUnavailable(f"pip could not download rq=={rq_version}: {reason}")
    unpack_tests(archives[0], root)
    return root


def unpack_tests(archive: Path, root: Path) -> None:
    """Extract the sdist's ``tests/`` and ``pyproject.toml`` (RQ's pytest settings) to ``root``."""
    with tarfile.open(archive) as sdist:
        members = []
        for member in sdist.getmembers():
            inner = member.name.partition("/")[2]  # without the top folder, rq-<version>/
            if inner.startswith("tests/") or inner == "pyproject.toml":
                member.name = inner
                members.append(member)
        root.mkdir(parents=True, exist_ok=True)
        if hasattr(tarfile, "data_filter"):
            sdist.extractall(root, members=members, filter="data")
        else:  # Python 3.11 before 3.11.4
            sdist.extractall(root, members=members)


def session_environment(plan: Plan, worker: str, report: Path) -> dict[str, str]:
    """The plugin's settings, the paths, and the venv's ``rq`` commands on PATH.

    RQ's root comes first on the path, as in RQ's own checkout: the ``rq worker`` processes some
    tests start import ``tests.fixtures`` from there, not the baked project's ``tests``.
    """
    environment = dict(os.environ)
    environment.pop("RQ_WORKER_CLASS", None)
    environment.update(
        PYTHONPATH=os.pathsep.join([str(plan.rq_root), str(HERE.parent), str(plan.project)]),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")]),
        RQ_CONFORMANCE_WORKER=worker,
        RQ_CONFORMANCE_REPLACE=",".join(plan.replaced),
        RQ_CONFORMANCE_REPORT=str(report),
        RQ_CONFORMANCE_TEST_TIMEOUT=str(TEST_TIMEOUT),
    )
    return environment


def pytest_command(plan: Plan) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
    command += ["-p", "rq_conformance.plugin"]
    return command + list(plan.test_ids or (f"tests/{module}.py" for module in plan.modules))


@dataclass(frozen=True)
class SessionFiles:
    """One session's directory: the plugin's report, pytest's output, Redis and /tmp."""

    directory: Path

    @property
    def report(self) -> Path:
        return self.directory / "outcomes.jsonl"

    @property
    def tracebacks(self) -> Path:
        """Where the plugin dumps every thread's traceback when a test runs out of time."""
        return self.report.with_suffix(".tracebacks")

    @property
    def log(self) -> Path:
        return self.directory / "pytest.log"

    def traceback_bytes(self) -> int:
        return self.tracebacks.stat().st_size if self.tracebacks.exists() else 0


def run_session(plan: Plan, worker: str) -> Session:
    """RQ's selected tests with ``worker`` (``module:Class`` or ``control``) in place of RQ's.

    A test that kills the session (see the plugin) is recorded as crashed and the session is
    started again, resuming after it, each time in fresh namespaces with a fresh Redis.
    """
    files = SessionFiles(plan.work_dir / worker.replace(":", "."))
    shutil.rmtree(files.directory, ignore_errors=True)
    files.directory.mkdir(parents=True)
    keep = [plan.work_dir, plan.rq_root, plan.project, HERE.parent, Path(sys.prefix)]
    tmp, redis = files.directory / "tmp", files.directory / "redis"
    command = sandboxed(redis, tmp, keep, pytest_command(plan))
    environment = session_environment(plan, worker, files.report)
    started = time.monotonic()
    with files.log.open("w", encoding="utf-8") as output:
        returncode = run_attempts(command, plan.rq_root, environment, output, files)
    seconds = time.monotonic() - started
    session = Session(worker, read_outcomes(files.report), seconds, returncode, files.log)
    if not session.outcomes:
        tail = files.log.read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"the {worker} session reported no tests (exit {returncode}):\n{tail}")
    return session


def run_attempts(
    command: list[str], cwd: Path, environment: dict[str, str], output: TextIO, files: SessionFiles
) -> int:
    """Run the session, and again after each test that killed it; return the last exit status."""
    deadline = time.monotonic() + SESSION_TIMEOUT
    returncode = 0
    for _attempt in range(MAX_ATTEMPTS):
        dumped = files.traceback_bytes()
        returncode = run_in_own_group(command, cwd, environment, output, deadline)
        if session_finished(files.report):
            break
        message = crash_message(returncode, files.traceback_bytes() > dumped, files.tracebacks)
        if time.monotonic() >= deadline:
            message = f"the session ran out of its {SESSION_TIMEOUT:.0f} s"
        if not record_crash(files.report, message) or time.monotonic() >= deadline:
            break  # died before any test started, or out of time: nothing to resume
        print(f"\n--- session died (exit {returncode}); resuming ---", file=output, flush=True)
    return returncode


def crash_message(returncode: int, timed_out: bool, tracebacks: Path) -> str:
    """What the report says about the test during which the session died."""
    if timed_out:
        return f"over the {TEST_TIMEOUT:.0f} s test timeout; tracebacks in {tracebacks}"
    if returncode > 128 and returncode - 128 in signal.valid_signals():
        return f"killed the test session ({signal.Signals(returncode - 128).name})"
    return f"the test session exited with status {returncode} during this test"


def run_in_own_group(
    command: list[str], cwd: Path, environment: dict[str, str], output: TextIO, deadline: float
) -> int:
    """Run ``command`` in a new process group until ``deadline`` (``time.monotonic()``); past
    it, kill that group. Returns the exit status, 128 + N for signal N as a shell reports it."""
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=output, stderr=output, start_new_session=True
    )
    try:
        status = process.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        status = process.wait()
    return 128 - status if status < 0 else status


def run_conformance(
    plan: Plan, workers: tuple[str, ...], parallel: bool = True
) -> tuple[Session, list[tuple[Session, Comparison]]]:
    """The control session and one per worker class, each compared with the control."""
    try:
        check_available()
    except SandboxUnavailable as error:
        raise ConformanceUnavailable(str(error)) from error
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    labels = (CONTROL, *workers)
    with ThreadPoolExecutor(max_workers=len(labels) if parallel else 1) as pool:
        sessions = list(pool.map(lambda worker: run_session(plan, worker), labels))
    allowed = load_allow_list(ALLOW_LIST)
    control = sessions[0]
    comparisons = [(s, compare(control, s, allowed.get(s.worker, {}))) for s in sessions[1:]]
    for _session, comparison in comparisons:
        rerun_alone(plan, comparison)
    return control, comparisons


def rerun_alone(plan: Plan, comparison: Comparison) -> None:
    """Re-run each unexplained difference by itself, QUIET_RERUNS times; one that passes every
    time moves to ``comparison.under_load``. A difference that fails alone even once stays."""
    suspects = tuple(test_id for test_id in comparison.unexplained if "::" in test_id)
    for attempt in range(1, QUIET_RERUNS + 1):
        if not suspects:
            return
        quiet = replace(plan, test_ids=suspects, work_dir=plan.work_dir / f"alone-{attempt}")
        outcomes = run_session(quiet, comparison.worker).outcomes
        suspects = tuple(i for i in suspects if outcomes.get(i, Outcome("missing")).passed)
    for test_id in suspects:
        comparison.under_load[test_id] = comparison.unexplained.pop(test_id)


def bake_defaults(output_dir: Path) -> Path:
    """A project baked from this template with the default answers (for runs by hand)."""
    config = output_dir / "cookiecutter-config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"replay_dir: {output_dir / 'replay'}\n", encoding="utf-8")
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir"]
    command += [str(output_dir), str(TEMPLATE_ROOT), "redis_check=skip"]
    environment = {**os.environ, "COOKIECUTTER_CONFIG": str(config)}
    subprocess.run(command, check=True, env=environment, capture_output=True)
    return next(path for path in output_dir.iterdir() if (path / "app" / "queue").is_dir())


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument(
        "--worker",
        action="append",
        help=f"module:Class to test, repeatable (default: {', '.join(DEFAULT_WORKERS)})",
    )
    parser.add_argument("--module", action="append", help="an RQ test module, e.g. test_worker")
    parser.add_argument("--replace", default=",".join(REPLACED), help="RQ classes to replace")
    parser.add_argument("--work-dir", type=Path, help="logs, reports and RQ's tests go here")
    parser.add_argument("--serial", action="store_true", help="one session at a time")
    parser.add_argument("--by-module", action="store_true", help="tests and seconds per module")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the report. Exit status 1 on unexplained differences, stale
    entries or a broken control; 2 when the sandbox or RQ's sdist is unavailable."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    work_dir = (arguments.work_dir or Path(tempfile.mkdtemp(prefix="rq-conformance-"))).resolve()
    project = (arguments.project or bake_defaults(work_dir / "project")).resolve()
    modules = [name.removeprefix("tests/").removesuffix(".py") for name in arguments.module or []]
    workers = tuple(arguments.worker or DEFAULT_WORKERS)
    try:
        plan = Plan(
            rq_root=fetch_rq_tests(work_dir / "rq-sdist"),
            project=project,
            work_dir=work_dir,
            modules=tuple(modules or RQ_TEST_MODULES),
            replaced=tuple(name.strip() for name in arguments.replace.split(",") if name.strip()),
        )
        control, comparisons = run_conformance(plan, workers, parallel=not arguments.serial)
    except ConformanceUnavailable as error:
        print(f"cannot run RQ's tests here: {error}", file=sys.stderr)
        return 2
    print(f"RQ {version('rq')}: {', '.join(plan.replaced)} replaced; work dir {work_dir}")
    print(format_report(control, comparisons))
    if arguments.by_module:
        print("\n" + format_modules([control, *(session for session, _ in comparisons)]))
    sessions = [session for session, _ in comparisons]
    if sanity_problems(control, sessions):
        return 1
    return 0 if all(comparison.ok for _, comparison in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
