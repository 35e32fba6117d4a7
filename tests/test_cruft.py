"""Template updates with cruft: a generated project records its template and answers, and
`cruft update` brings a later template commit into it while the user's own edits stay.

A throwaway git repository holds two commits of this template (the second changes the generated
README and adds a file); projects are made from the first, committed, edited by "the user", and
updated to the second. Both ways of generating are covered: `cruft create`, and plain
`cookiecutter` from a clean checkout (the post-generation hook writes .cruft.json then).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import PROJECT_TEMPLATE, TEMPLATE_ROOT, load_hook

BIN = Path(sys.executable).parent
TEMPLATE_CHANGE = "\n## Changed by the template's second commit\n\nA line the update brings.\n"
NEW_FILE = "TEMPLATE_CHANGE.md"
USER_TITLE = "# Our fork of the queue app"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template-test@example.invalid",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template-test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def git(directory: Path, *arguments: str) -> str:
    return run(["git", "-c", "commit.gpgsign=false", *arguments], directory).stdout.strip()


def commit_all(directory: Path, message: str) -> str:
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", message)
    return git(directory, "rev-parse", "HEAD")


@dataclass(frozen=True)
class TemplateRepository:
    path: Path
    first: str
    second: str


@pytest.fixture(scope="module")
def template_repository(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepository:
    """This template as it is, committed; then a second commit that changes it."""
    path = tmp_path_factory.mktemp("cruft") / "equipment-queue"
    caches = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(PROJECT_TEMPLATE, path / PROJECT_TEMPLATE.name, ignore=caches)
    shutil.copytree(TEMPLATE_ROOT / "hooks", path / "hooks", ignore=caches)
    shutil.copy2(TEMPLATE_ROOT / "cookiecutter.json", path)
    git(path, "init", "-q", "-b", "main")
    first = commit_all(path, "The template")
    readme = path / PROJECT_TEMPLATE.name / "README.md"
    readme.write_text(readme.read_text() + TEMPLATE_CHANGE)
    (path / PROJECT_TEMPLATE.name / NEW_FILE).write_text("Added by the template.\n")
    second = commit_all(path, "A later fix of the template")
    return TemplateRepository(path, first, second)


def cruft(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "cruft"), *arguments], cwd)


def make_it_yours(project: Path) -> str:
    """What a user does: put the project in git, edit the README's title, commit; return .env."""
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "Generated")
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text(USER_TITLE + "\n" + "".join(lines[1:]))
    commit_all(project, "Our title")
    return (project / ".env").read_text()


def assert_updated(project: Path, template: TemplateRepository, env_before: str) -> None:
    """The template's change arrived, the user's edit stayed, nothing else moved."""
    readme = (project / "README.md").read_text()
    assert readme.startswith(USER_TITLE + "\n"), readme[:200]
    assert readme.endswith(TEMPLATE_CHANGE)
    assert (project / NEW_FILE).read_text() == "Added by the template.\n"
    assert (project / ".env").read_text() == env_before  # the secrets generation made stay
    assert not list(project.rglob("*.rej"))
    changed = git(project, "status", "--porcelain", "--untracked-files=all").splitlines()
    paths = sorted(line.split(maxsplit=1)[1] for line in changed)
    assert paths == sorted([".cruft.json", "README.md", NEW_FILE]), changed
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == template.second
    cruft("check", "--checkout", "main", cwd=project)  # exits 1 when not up to date


def test_cruft_create_then_update_brings_the_template_change_and_keeps_the_users_edit(
    template_repository: TemplateRepository, tmp_path: Path
) -> None:
    answers = {"project_slug": "crufted", "include_scheduler": "no", "redis_check": "skip"}
    cruft(
        "create",
        str(template_repository.path),
        "--no-input",
        "--checkout",
        template_repository.first,
        "--output-dir",
        str(tmp_path),
        "--extra-context",
        json.dumps(answers),
        cwd=tmp_path,
    )
    project = tmp_path / "crufted"
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template_repository.path)
    assert state["commit"] == template_repository.first
    assert {key: state["context"]["cookiecutter"][key] for key in answers} == answers
    # the post-generation hook ran: the matching lock kept, .env written, no scheduler
    assert "schedule==" not in (project / "requirements.txt").read_text()
    assert not (project / "lock-variants").exists() and not (project / "scheduler.py").exists()
    env_before = make_it_yours(project)

    cruft("update", "--checkout", template_repository.second, "--skip-apply-ask", cwd=project)
    assert_updated(project, template_repository, env_before)


def test_plain_cookiecutter_records_the_template_so_cruft_can_update_it(
    template_repository: TemplateRepository, tmp_path: Path
) -> None:
    """`cookiecutter <a clean checkout, by relative path>` as a user types it in a shell."""
    checkout = tmp_path / "equipment-queue"
    git(tmp_path, "clone", "-q", str(template_repository.path), str(checkout))
    git(checkout, "checkout", "-q", template_repository.first)
    generated = run(
        [str(BIN / "cookiecutter"), "--no-input", "equipment-queue", "project_slug=plain-bake"],
        tmp_path,
        PWD=str(tmp_path),  # a shell sets it; subprocess does not
    )
    assert "Template recorded in .cruft.json" in generated.stdout
    project = tmp_path / "plain-bake"
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(checkout)
    assert state["commit"] == template_repository.first
    context = state["context"]["cookiecutter"]
    assert context["project_slug"] == "plain-bake" and context["redis_check"] == "skip"
    assert "_output_dir" not in context and "_repo_dir" not in context
    env_before = make_it_yours(project)

    cruft("update", "--checkout", "main", "--skip-apply-ask", cwd=project)
    assert_updated(project, template_repository, env_before)


def test_no_record_from_a_template_with_uncommitted_changes_or_under_cruft(
    template_repository: TemplateRepository, tmp_path: Path
) -> None:
    hook = load_hook("post_gen_project")
    checkout = tmp_path / "equipment-queue"
    git(tmp_path, "clone", "-q", str(template_repository.path), str(checkout))
    project = tmp_path / "project"
    project.mkdir()
    answers = {"_template": str(checkout), "_repo_dir": str(checkout)}
    assert hook.record_template(project, {**answers, "_commit": "0" * 40}) == ""
    (checkout / "cookiecutter.json").write_text("{}\n")
    assert "uncommitted changes" in hook.record_template(project, answers)
    assert "not a git checkout" in hook.record_template(project, {"_repo_dir": str(tmp_path)})
    assert list(project.iterdir()) == []
