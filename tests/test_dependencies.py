"""Reproducible builds and supply-chain checks of the generated project.

The locks the template ships (requirements.txt for the image, requirements-test.txt for CI and
development, both hashed, written by scripts/lock), the post-generation hook keeping the pair that
matches include_scheduler, the Dockerfile installing with --require-hashes and labelling the image,
Dependabot, and pip-audit in the generated CI workflow.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import yaml
from docker_support import remove_image, require_engine

from helpers import PROJECT_TEMPLATE, TEMPLATE_ROOT, bake, load_hook, load_support

locks = load_support("locks")
SETTINGS = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
LOCK_FILES: list[str] = SETTINGS["_lock_files"]
PYTHON_VERSIONS: list[str] = SETTINGS["python_version"]
# What scripts/lock runs: one universal resolution, valid from Python 3.11 on, with hashes.
COMPILE = "uv pip compile --universal --python-version 3.11 --generate-hashes"
LINUX_X86_64 = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "linux_x86_64")


@pytest.fixture(scope="module", params=["yes", "no"], ids=["scheduler", "no-scheduler"])
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp(f"locks-{request.param}"), include_scheduler=request.param)


def scheduler_answer(project: Path) -> str:
    return "yes" if (project / "scheduler.py").exists() else "no"


def logical_lines(path: Path) -> list[str]:
    """The requirement lines of a lock, continuation lines joined, comments dropped."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# --- the locks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lock", LOCK_FILES)
def test_every_dependency_is_locked_at_a_version_its_range_allows(baked: Path, lock: str) -> None:
    extra = locks.LOCKS[lock]
    requirements = locks.declared(baked / "pyproject.toml", extra)
    names = {requirement.name for requirement in requirements}
    assert {"rq", "redis", "fastapi", "uvicorn"} <= names
    assert ("pytest" in names) == (extra == "test")
    assert locks.unmet(requirements, locks.read_lock(baked / lock)) == []


def test_the_locks_follow_the_scheduler_answer(baked: Path) -> None:
    for lock in LOCK_FILES:
        pins = locks.read_lock(baked / lock)
        assert ("schedule" in pins) == (scheduler_answer(baked) == "yes"), lock
    assert not (baked / SETTINGS["_lock_variants"]).exists()


def test_every_pinned_line_carries_sha256_hashes(baked: Path) -> None:
    for lock in LOCK_FILES:
        lines = logical_lines(baked / lock)
        assert len(lines) >= 20, lock
        for line in lines:
            requirement, *hashes = line.split(" --hash=")
            assert re.match(r"^[A-Za-z0-9._-]+==\S+( ; .+)?$", requirement.strip()), line
            assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h.strip()) for h in hashes)


def test_the_test_lock_holds_the_image_pins_and_the_whole_check_passes(baked: Path) -> None:
    assert locks.check(baked) == []
    image, test = (locks.read_lock(baked / lock) for lock in LOCK_FILES)
    assert set(image) < set(test)


def test_both_variants_pin_the_same_versions_of_what_they_share() -> None:
    variant = PROJECT_TEMPLATE / SETTINGS["_lock_variants"] / "without-scheduler"
    for lock in LOCK_FILES:
        with_scheduler = locks.read_lock(PROJECT_TEMPLATE / lock)
        without = locks.read_lock(variant / lock)
        assert set(with_scheduler) - set(without) == {"schedule"}
        assert all(with_scheduler[name] == pins for name, pins in without.items()), lock


def test_the_locks_record_the_refresh_command_and_the_project_name(tmp_path: Path) -> None:
    project = bake(tmp_path, project_slug="billing-jobs")
    for lock in LOCK_FILES:
        text = (project / lock).read_text()
        command = text.splitlines()[1]
        assert command.startswith(f"#    {COMPILE} "), command
        assert command.endswith(f"pyproject.toml -o {lock}"), command
        assert "billing-jobs (pyproject.toml)" in text
        assert "lock-template-project" not in text
    test_command = (project / "requirements-test.txt").read_text().splitlines()[1]
    assert "--extra test -c requirements.txt" in test_command
    script = (project / "scripts" / "lock").read_text()
    assert "pip compile --universal --python-version 3.11 --generate-hashes" in script
    assert (project / "scripts" / "lock").stat().st_mode & 0o111


@pytest.mark.parametrize("python_version", PYTHON_VERSIONS)
def test_plain_pip_installs_the_lock_with_hashes_for_every_offered_python(
    tmp_path: Path, python_version: str
) -> None:
    """pip resolves requirements-test.txt (every pin of requirements.txt and the test extra) for
    Linux x86-64 wheels of that Python, each file's hash checked: a dry run, nothing installed.
    Environment markers are evaluated for this interpreter; the image build in
    test_containers.py installs requirements.txt for real on Debian's Python 3.11.2."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--require-hashes",
            "--only-binary=:all:",
            f"--python-version={python_version}",
            *(f"--platform={platform}" for platform in LINUX_X86_64),
            f"--target={tmp_path / 'target'}",
            f"--requirement={PROJECT_TEMPLATE / 'requirements-test.txt'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


# --- the post-generation hook -------------------------------------------------------------------


@pytest.mark.parametrize("include_scheduler", ["yes", "no"])
def test_keep_lock_variant_keeps_the_matching_pair_and_drops_the_others(
    tmp_path: Path, include_scheduler: str
) -> None:
    variants = tmp_path / "lock-variants" / "without-scheduler"
    variants.mkdir(parents=True)
    for name in LOCK_FILES:
        (tmp_path / name).write_text(f"with {name}\n")
        (variants / name).write_text(f"without {name}\n")
    load_hook("post_gen_project").keep_lock_variant(
        tmp_path, LOCK_FILES, "lock-variants", include_scheduler
    )
    expected = "with" if include_scheduler == "yes" else "without"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(LOCK_FILES)
    for name in LOCK_FILES:
        assert (tmp_path / name).read_text() == f"{expected} {name}\n"


# --- the Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions(project: Path) -> list[str]:
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_image_installs_the_lock_with_hashes_enforced(baked: Path) -> None:
    instructions = dockerfile_instructions(baked)
    installs = [line for line in instructions if "pip install" in line]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0] and "--requirement requirements.txt" in installs[0]
    assert "COPY requirements.txt ./" in instructions
    assert not any("pyproject.toml" in line for line in instructions)


def test_the_base_image_is_a_build_argument_and_the_image_carries_oci_labels(baked: Path) -> None:
    instructions = dockerfile_instructions(baked)
    assert "ARG PYTHON_IMAGE=python:${PYTHON_VERSION}-slim" in instructions
    stages = [line for line in instructions if line.startswith("FROM ")]
    assert stages == ["FROM ${PYTHON_IMAGE} AS build", "FROM ${PYTHON_IMAGE} AS runtime"]
    labels = " ".join(line for line in instructions if line.startswith("LABEL "))
    for name, argument in (("source", "SOURCE"), ("version", "VERSION"), ("revision", "REVISION")):
        assert f'org.opencontainers.image.{name}="${{{argument}}}"' in labels
        assert any(line.startswith(f"ARG {argument}") for line in instructions)


@pytest.mark.container
def test_the_image_builds_from_the_base_image_argument_with_its_labels(tmp_path: Path) -> None:
    """A build with PYTHON_IMAGE naming the base (a digest works the same; the local base images
    here have none) and the three label arguments; the labels read back from the image."""
    require_engine()
    project = bake(tmp_path, python_version="3.14")  # PYTHON_IMAGE wins over PYTHON_VERSION
    image = f"eqtest{uuid4().hex[:10]}-labels:test"
    arguments = {
        "PYTHON_IMAGE": "python:3.11-slim",
        "VERSION": "1.2.3",
        "REVISION": "0123456789abcdef",
        "SOURCE": "https://example.invalid/billing-jobs",
    }
    command = ["docker", "build", "--quiet", "-t", image]
    for name, value in arguments.items():
        command += ["--build-arg", f"{name}={value}"]
    try:
        built = subprocess.run(
            [*command, "."], cwd=project, capture_output=True, text=True, timeout=600
        )
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        inspected = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
            capture_output=True,
            text=True,
            timeout=60,
        )
        labels = json.loads(inspected.stdout)
        python = subprocess.run(
            ["docker", "run", "--rm", image, "python", "-c", "import sys, rq; print(sys.version)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        remove_image(image)
    prefix = "org.opencontainers.image."
    assert labels[f"{prefix}version"] == "1.2.3"
    assert labels[f"{prefix}revision"] == "0123456789abcdef"
    assert labels[f"{prefix}source"] == "https://example.invalid/billing-jobs"
    assert labels[f"{prefix}base.name"] == "python:3.11-slim"
    assert labels[f"{prefix}title"] == project.name
    assert python.returncode == 0 and python.stdout.startswith("3.11."), python.stderr


# --- Dependabot and the CI workflow -------------------------------------------------------------


def test_dependabot_watches_python_packages_docker_and_github_actions(baked: Path) -> None:
    config = yaml.safe_load((baked / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(updates) == {"pip", "docker", "github-actions"}
    for update in updates.values():
        assert update["schedule"]["interval"] in {"daily", "weekly", "monthly"}
        assert update.get("directory") == "/" or "/" in update.get("directories", [])
    assert "/docker/dashboard" in updates["docker"]["directories"]


def workflow(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())


def steps_running(config: dict[str, Any], job: str) -> list[str]:
    return [step["run"] for step in config["jobs"][job]["steps"] if "run" in step]


def test_ci_installs_from_the_lock_with_hashes(baked: Path) -> None:
    config = workflow(baked)
    for job in ("lint", "test"):
        installs = [run for run in steps_running(config, job) if "pip install" in run]
        assert installs == ["python -m pip install --require-hashes -r requirements-test.txt"]
    everything = (baked / ".github" / "workflows" / "ci.yml").read_text()
    assert "pip install -e" not in everything


def test_ci_audits_both_locks_with_pip_audit(baked: Path) -> None:
    config = workflow(baked)
    runs = steps_running(config, "audit")
    assert any(re.search(r"pip install \"pip-audit[<>=]", run) for run in runs), runs
    (audit,) = [run for run in runs if run.startswith("pip-audit")]
    assert "-r requirements.txt" in audit and "-r requirements-test.txt" in audit
    assert "--strict" in audit
    triggers = config[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "pull_request" in triggers


def test_ci_labels_the_image_with_source_version_and_revision(baked: Path) -> None:
    build = " ".join(run for run in steps_running(workflow(baked), "image") if "build" in run)
    for argument in ("SOURCE", "REVISION", "VERSION"):
        assert f"--build-arg {argument}=" in build


# --- documentation ------------------------------------------------------------------------------


def test_the_readmes_document_the_locks_and_template_updates(baked: Path) -> None:
    generated = (baked / "README.md").read_text()
    for text in (
        "## Dependencies",
        "scripts/lock --upgrade",
        "--require-hashes",
        "pip-audit",
        "Dependabot",
        "PYTHON_IMAGE",
        "REVISION",
        "## Template updates",
        "cruft update",
    ):
        assert text in generated, text
    template = (TEMPLATE_ROOT / "README.md").read_text()
    for text in ("scripts/lock", "cruft create", "cruft update", "uv pip compile"):
        assert text in template, text
