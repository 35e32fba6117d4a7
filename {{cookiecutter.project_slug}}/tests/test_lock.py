"""The locks the image and CI install from agree with pyproject.toml (run `scripts/lock` if not)."""

from __future__ import annotations

from pathlib import Path

from tests.support import locks

PROJECT = Path(__file__).resolve().parent.parent


def test_every_dependency_is_locked_with_hashes_at_a_version_its_range_allows() -> None:
    problems = locks.check(PROJECT)
    assert problems == [], "refresh the locks with `scripts/lock`:\n" + "\n".join(problems)
