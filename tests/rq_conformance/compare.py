"""Per-test outcomes of RQ's test sessions, the allow-list, and their comparison."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FAILING = frozenset({"failed", "error"})
MIN_CONTROL_PASS_RATE = 0.9  # below this the sandbox or RQ's tests are broken, not the worker
CRASHED = "crashed"  # the session died during the test (killed, or over the per-test timeout)


@dataclass(frozen=True)
class Outcome:
    """One RQ test in one session."""

    outcome: str  # passed, failed, error, skipped, xfailed, xpassed or crashed
    message: str = ""
    constructed: int = 0  # instances of the worker class under test the test built
    seconds: float = 0.0

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING or self.outcome == CRASHED

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class Session:
    """RQ's tests run once with one worker class in place of RQ's."""

    worker: str
    outcomes: dict[str, Outcome]
    seconds: float
    returncode: int
    log: Path

    def count(self, *outcomes: str) -> int:
        return sum(1 for result in self.outcomes.values() if result.outcome in outcomes)

    @property
    def exercising(self) -> int:
        """Tests that built at least one instance of the class under test."""
        return sum(1 for result in self.outcomes.values() if result.constructed)


@dataclass
class Comparison:
    """One worker class against the control: what passes there and fails here."""

    worker: str
    differences: dict[str, str] = field(default_factory=dict)  # test id: failure message
    allowed: dict[str, str] = field(default_factory=dict)  # test id: reason from the allow-list
    unexplained: dict[str, str] = field(default_factory=dict)  # test id: failure message
    stale: dict[str, str] = field(default_factory=dict)  # test id: why the entry is stale
    fixed: list[str] = field(default_factory=list)  # fail for the control, pass here
    # unexplained under the sessions' load, passed every quiet re-run: test id: first failure
    under_load: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.stale


def read_outcomes(path: Path) -> dict[str, Outcome]:
    """The plugin's JSON lines to one outcome per test id; a test with no result crashed."""
    outcomes: dict[str, Outcome] = {}
    if not path.exists():
        return outcomes
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["event"] == "finish":
            continue
        if record["event"] == "start":
            outcomes[record["id"]] = Outcome(CRASHED, "the session died in this test")
        else:
            fields = (record["outcome"], record["message"], record["constructed"])
            outcomes[record["id"]] = Outcome(*fields, record.get("seconds", 0.0))
    return outcomes


def session_finished(path: Path) -> bool:
    """True when the plugin recorded the end of the session (it did not die)."""
    return path.exists() and '"event": "finish"' in path.read_text(encoding="utf-8")


def record_crash(path: Path, message: str) -> list[str]:
    """Give every started test with no result the outcome ``crashed``; return their ids."""
    if not path.exists():
        return []
    pending: dict[str, None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["event"] == "start":
            pending[record["id"]] = None
        elif record["event"] == "result":
            pending.pop(record["id"], None)
    with path.open("a", encoding="utf-8") as report:
        for test_id in pending:
            result = {"event": "result", "id": test_id, "outcome": CRASHED, "message": message}
            report.write(json.dumps({**result, "constructed": 0}) + "\n")
    return list(pending)


def load_allow_list(path: Path) -> dict[str, dict[str, str]]:
    """``[module:Class]`` sections of ``test id -- reason`` lines: {class: {test id: reason}}."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
            continue
        test_id, separator, reason = line.partition(" -- ")
        if current is None or not separator or not reason.strip():
            raise ValueError(
                f"{path.name}:{number}: expected '[module:Class]' or 'test id -- reason'"
            )
        current[test_id.strip()] = reason.strip()
    return sections


def compare(control: Session, ours: Session, allowed: dict[str, str]) -> Comparison:
    """Tests that pass for the control and fail for ``ours``, sorted against the allow-list."""
    result = Comparison(ours.worker)
    for test_id, reference in control.outcomes.items():
        mine = ours.outcomes.get(test_id, Outcome("missing", "not run in this session"))
        if reference.outcome == "passed" and (mine.failing or mine.outcome == "missing"):
            result.differences[test_id] = f"{mine.outcome}: {mine.message}"
        elif reference.failing and mine.outcome == "passed":
            result.fixed.append(test_id)
    for test_id, message in result.differences.items():
        if test_id in allowed:
            result.allowed[test_id] = allowed[test_id]
        else:
            result.unexplained[test_id] = message
    modules_run = {module_of(test_id) for test_id in ours.outcomes}
    for test_id in allowed.keys() - result.differences.keys():
        if module_of(test_id) not in modules_run:
            continue  # its module was not selected for this run
        reason = stale_reason(ours.outcomes.get(test_id))
        if reason:
            result.stale[test_id] = reason
    return result


def module_of(test_id: str) -> str:
    """``tests/test_worker.py`` for ``tests/test_worker.py::TestWorker::test_x``."""
    return test_id.split("::", 1)[0]


def stale_reason(mine: Outcome | None) -> str:
    """Why an allow-listed test is no longer a difference ("" while it still fails for us; a
    failure the control shared this time is no reason to drop the entry)."""
    if mine is None:
        return "not run: the test is gone from this RQ version"
    if not mine.failing:
        return f"{mine.outcome} now: remove the entry"
    return ""


def sanity_problems(control: Session, sessions: list[Session]) -> list[str]:
    """Why the comparison would prove nothing: a broken control, or a class that was not used."""
    problems = []
    passed, total = control.count("passed"), len(control.outcomes)
    if passed < MIN_CONTROL_PASS_RATE * total:
        problems.append(f"the control passed only {passed} of {total} tests; see {control.log}")
    for session in [control, *sessions]:
        if not session.exercising:
            problems.append(f"no test built {session.worker}: RQ's classes were not replaced")
    for session in sessions:
        if session.outcomes.keys() != control.outcomes.keys():
            problems.append(f"{session.worker} did not run the control's tests; see {session.log}")
    return problems


def session_row(session: Session, comparison: Comparison | None) -> list[str]:
    """The report's table row for one session."""
    row = [
        session.worker,
        str(len(session.outcomes)),
        str(session.count("passed")),
        str(session.count("failed", "error", CRASHED)),
        str(session.count("skipped", "xfailed", "xpassed")),
        str(session.exercising),
    ]
    if comparison is None:
        row += ["-", "-", "-", "-"]
    else:
        parts = (comparison.differences, comparison.allowed, comparison.unexplained)
        row += [str(len(part)) for part in parts] + [str(len(comparison.stale))]
    return [*row, f"{session.seconds:.0f}"]


SESSION_COLUMNS = ["worker class", "tests", "passed", "failed", "skipped", "built it"]
SESSION_COLUMNS += ["differ", "allowed", "unexplained", "stale", "seconds"]


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def format_report(control: Session, comparisons: list[tuple[Session, Comparison]]) -> str:
    """A readable summary: the counts, then every difference with its message or reason."""
    rows = [session_row(control, None)] + [session_row(s, c) for s, c in comparisons]
    problems = sanity_problems(control, [session for session, _ in comparisons])
    parts = [f"PROBLEM: {problem}" for problem in problems]
    parts.append(format_table(SESSION_COLUMNS, rows))
    parts.append("(built it: tests that built an instance of the class; seconds: wall time)")
    for session, comparison in comparisons:
        parts.append(f"\n{comparison.worker} (log: {session.log})")
        parts += listing("unexplained: pass for the control, fail here", comparison.unexplained)
        parts += listing(
            "failed beside the other sessions, passed each re-run alone (timing under load)",
            comparison.under_load,
        )
        parts += listing("allowed (allowed_differences.txt)", comparison.allowed)
        parts += listing("stale allow-list entries", comparison.stale)
        parts += listing("fail for the control, pass here", dict.fromkeys(comparison.fixed, ""))
    return "\n".join(parts)


def format_modules(sessions: list[Session]) -> str:
    """Per RQ test module and session: tests, tests that built the class, and seconds."""
    header = ["module"] + [f"{s.worker.rsplit(':', 1)[-1]} tests/built/s" for s in sessions]
    modules = sorted({module_of(test_id) for s in sessions for test_id in s.outcomes})
    rows = []
    for module in modules:
        row = [module]
        for session in sessions:
            mine = [o for i, o in session.outcomes.items() if module_of(i) == module]
            built = sum(1 for outcome in mine if outcome.constructed)
            seconds = sum(outcome.seconds for outcome in mine)
            row.append(f"{len(mine)}/{built}/{seconds:.0f}")
        rows.append(row)
    return format_table(header, rows)


def listing(title: str, entries: dict[str, str]) -> list[str]:
    """An indented list of test ids, each with its message or reason below it."""
    if not entries:
        return []
    lines = [f"  {title} ({len(entries)}):"]
    for test_id, text in sorted(entries.items()):
        lines.append(f"    {test_id}" + (f"\n        {text}" if text else ""))
    return lines
