"""The dependency locks (``requirements*.txt``, written by ``scripts/lock``) against pyproject.toml.

Plain Python and ``packaging`` (which pytest installs), so the template's own tests use it too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# Each lock and the pyproject.toml extra it adds to the dependencies (None: the dependencies only).
LOCKS: dict[str, str | None] = {"requirements.txt": None, "requirements-test.txt": "test"}
HASH = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    """One locked package: ``name==version ; marker`` and its hashes."""

    name: str
    version: Version
    marker: str
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, list[Pin]]:
    """The pins of a hashed requirements file, by normalized name (a universal lock may pin a
    package twice, at two versions for two sets of Pythons, each behind its marker).

    Raises ValueError for a line that is not ``name==version`` (an option, a range, a URL).
    """
    pins: dict[str, list[Pin]] = {}
    logical_lines = path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    for line in (line.strip() for line in logical_lines):
        if not line or line.startswith("#"):
            continue
        requirement_text, *hashes = line.split(" --hash=")
        if requirement_text.startswith("-"):
            raise ValueError(f"{path.name}: an option line in a lock: {line[:80]!r}")
        requirement = Requirement(requirement_text)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or requirement.url:
            raise ValueError(f"{path.name}: not pinned with ==: {requirement_text.strip()!r}")
        pin = Pin(
            name=canonicalize_name(requirement.name),
            version=Version(specifiers[0].version),
            marker=str(requirement.marker or ""),
            hashes=tuple(value.strip() for value in hashes),
        )
        pins.setdefault(pin.name, []).append(pin)
    return pins


def declared(pyproject: Path, extra: str | None) -> list[Requirement]:
    """The dependencies pyproject.toml declares, plus those of ``extra``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    texts = list(project.get("dependencies", []))
    if extra is not None:
        texts += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(text) for text in texts]


def unmet(requirements: list[Requirement], pins: dict[str, list[Pin]]) -> list[str]:
    """One line per declared requirement the lock misses or pins outside its range."""
    problems = []
    for requirement in requirements:
        found = pins.get(canonicalize_name(requirement.name), [])
        if not found:
            problems.append(f"{requirement} is not in the lock")
        for pin in found:
            if not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{requirement} is locked at {pin.version}, outside its range")
    return problems


def unhashed(pins: dict[str, list[Pin]]) -> list[str]:
    """Pins without a sha256 hash, or with a hash that is not one."""
    return [
        f"{pin.name}=={pin.version}"
        for found in pins.values()
        for pin in found
        if not pin.hashes or not all(HASH.fullmatch(value) for value in pin.hashes)
    ]


def check(project: Path) -> list[str]:
    """Everything wrong with the project's locks, one line each; [] when they fit pyproject.toml."""
    problems = []
    locks = {name: read_lock(project / name) for name in LOCKS}
    for name, extra in LOCKS.items():
        requirements = declared(project / "pyproject.toml", extra)
        problems += [f"{name}: {line}" for line in unmet(requirements, locks[name])]
        problems += [f"{name}: no sha256 hash for {pin}" for pin in unhashed(locks[name])]
    image, test = locks["requirements.txt"], locks["requirements-test.txt"]
    for package, found in image.items():
        if {pin.version for pin in found} != {pin.version for pin in test.get(package, [])}:
            problems.append(f"requirements-test.txt: {package} is not pinned as the image pins it")
    return problems
