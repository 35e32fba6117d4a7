""".env.example documents every variable the project and compose.yaml read."""

from __future__ import annotations

import re
from pathlib import Path

from app import PROJECT_ROOT

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=", re.MULTILINE)


def documented() -> set[str]:
    return set(ASSIGNMENT.findall((PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")))


def read_by(*paths: Path) -> set[str]:
    return {name for path in paths for name in PLACEHOLDER.findall(path.read_text("utf-8"))}


def test_every_variable_in_config_is_documented() -> None:
    assert read_by(*sorted((PROJECT_ROOT / "config").glob("*.yaml"))) - documented() == set()


def test_every_variable_compose_reads_is_documented() -> None:
    assert read_by(PROJECT_ROOT / "compose.yaml") - documented() == set()


def test_each_variable_has_a_comment_above_it() -> None:
    lines = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    undocumented = []
    for index, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            above = index - 1
            while above >= 0 and ASSIGNMENT.match(lines[above]):
                above -= 1
            if above < 0 or not lines[above].startswith("#"):
                undocumented.append(line)
    assert undocumented == []
