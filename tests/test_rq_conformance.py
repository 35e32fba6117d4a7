"""RQ's own worker tests pass with the generated worker classes as they pass with SimpleWorker.

The generated workers subclass RQ's ``SimpleWorker``, so RQ's test suite is their conformance
test: ``tests/rq_conformance`` runs RQ's worker test modules (from RQ's sdist, fetched with pip)
once with a plain ``SimpleWorker`` subclass and once per class below (the threaded one as
``python queues.py`` builds it, from ``rq_conformance/variants.py``), each in a private network
namespace with its own Redis, and compares. A test that passes for the control and fails for
ours must be explained in ``tests/rq_conformance/allowed_differences.txt``; an entry there that
no longer differs fails too. ``python -m pytest -s`` prints the counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from helpers import bake, load_support
from rq_conformance import runner
from rq_conformance.compare import (
    Comparison,
    Outcome,
    Session,
    compare,
    format_report,
    load_allow_list,
    sanity_problems,
)
from rq_conformance.runner import (
    ALLOW_LIST,
    ConformanceUnavailable,
    Plan,
    fetch_rq_tests,
    run_conformance,
)

# The generated worker classes, as module:Class inside the baked project.
WORKER_CLASSES = (
    "app.queue.worker:QueueWorker",  # the plain path
    "app.queue.fast_path.worker:FastQueueWorker",  # the fast path: round-trip savings on top
    # WORKER_CONCURRENCY=4 on the fast path: jobs in threads (ThreadedJobs)
    "rq_conformance.variants:FourThreadsFastQueueWorker",
)


def unavailable(reason: str) -> NoReturn:
    """Skip with the reason; in CI, where every service must be there, fail instead."""
    if load_support("redis_server").running_in_ci():
        pytest.fail(f"the RQ conformance run is required in CI: {reason}")
    pytest.skip(f"RQ conformance run unavailable: {reason}")


@pytest.mark.conformance
def test_generated_workers_pass_rqs_own_worker_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = bake(tmp_path_factory.mktemp("conformance-project"))
    work_dir = tmp_path_factory.mktemp("rq-conformance")
    try:
        plan = Plan(fetch_rq_tests(work_dir / "rq-sdist"), project, work_dir)
        control, comparisons = run_conformance(plan, WORKER_CLASSES)
    except ConformanceUnavailable as error:
        unavailable(str(error))
    report = format_report(control, comparisons)
    print(f"\nRQ conformance ({', '.join(plan.replaced)} replaced):\n{report}")
    assert not sanity_problems(control, [session for session, _ in comparisons]), report
    failing = [comparison.worker for _, comparison in comparisons if not comparison.ok]
    assert not failing, report


def session(worker: str, **outcomes: str) -> Session:
    """A session whose tests ``a``, ``b``... ended as given (each built the class once)."""
    results = {
        name: Outcome(outcome, f"{outcome}!", constructed=1) for name, outcome in outcomes.items()
    }
    return Session(worker, results, seconds=1.0, returncode=0, log=Path("pytest.log"))


def test_only_control_passes_that_fail_here_are_differences_and_the_list_is_checked() -> None:
    control = session(
        "control",
        same="passed",
        ours="passed",
        listed="passed",
        both="failed",
        fixed="failed",
        gone="passed",
        healed="passed",
    )
    ours = session(
        "x:Y",
        same="passed",
        ours="failed",
        listed="error",
        both="failed",
        fixed="passed",
        healed="passed",
    )
    allowed = {"listed": "on purpose", "healed": "was on purpose", "both": "shared failure"}

    result = compare(control, ours, allowed)

    assert result.differences == {
        "ours": "failed: failed!",
        "listed": "error: error!",
        "gone": "missing: not run in this session",
    }
    assert result.allowed == {"listed": "on purpose"}
    assert set(result.unexplained) == {"ours", "gone"}
    assert set(result.stale) == {"healed"}  # "both" still fails here: kept
    assert result.fixed == ["fixed"]
    assert not result.ok


def test_a_difference_passing_every_rerun_alone_is_timing_and_one_failing_once_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    comparison = Comparison("x:Y", unexplained={"t.py::timing": "failed: slow", "t.py::bug": "x"})
    runs: list[tuple[str, ...]] = []

    def run_alone(plan: Plan, worker: str) -> Session:
        runs.append(plan.test_ids)
        bug = "failed" if len(runs) == 2 else "passed"  # the bug shows in the second re-run
        return session(worker, **{"t.py::timing": "passed", "t.py::bug": bug})

    monkeypatch.setattr(runner, "run_session", run_alone)
    runner.rerun_alone(Plan(tmp_path, tmp_path, tmp_path), comparison)

    assert comparison.under_load == {"t.py::timing": "failed: slow"}
    assert comparison.unexplained == {"t.py::bug": "x"}
    assert not comparison.ok
    assert runs == [("t.py::timing", "t.py::bug")] * 2 + [("t.py::timing",)]


def test_a_broken_control_or_an_unused_class_is_a_problem() -> None:
    broken = session("control", a="failed", b="error", c="passed")
    unused = Session("x:Y", {"a": Outcome("passed")}, 1.0, 0, Path("pytest.log"))
    problems = sanity_problems(broken, [unused])
    assert any("control passed only 1 of 3" in problem for problem in problems)
    assert any("no test built x:Y" in problem for problem in problems)
    assert any("did not run the control's tests" in problem for problem in problems)


def test_the_allow_list_parses_and_names_rq_test_ids() -> None:
    sections = load_allow_list(ALLOW_LIST)
    missing = set(WORKER_CLASSES) - set(sections)
    assert not missing, f"give each tested class a section (empty is fine): {sorted(missing)}"
    for entries in sections.values():
        for test_id, reason in entries.items():
            assert test_id.startswith("tests/test_") and "::" in test_id, test_id
            assert len(reason) > 20, test_id


def test_a_malformed_allow_list_line_names_its_line(tmp_path: Path) -> None:
    allow_list = tmp_path / "allowed.txt"
    allow_list.write_text("[a:B]\ntests/test_x.py::T::t no separator\n")
    with pytest.raises(ValueError, match=r"allowed\.txt:2"):
        load_allow_list(allow_list)
