"""Bake the template and load plain-Python files from it, for the template's own tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from cookiecutter.main import cookiecutter

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"


def bake(output_dir: Path, **answers: str) -> Path:
    """Generate a project into ``output_dir`` without prompts; return the project directory.

    ``redis_check`` defaults to ``skip`` so a test only talks to Redis when it asks to.
    """
    answers.setdefault("redis_check", "skip")
    project = cookiecutter(
        str(TEMPLATE_ROOT), no_input=True, extra_context=answers, output_dir=str(output_dir)
    )
    return Path(project)


def load_module(path: Path, name: str) -> ModuleType:
    """Import a Python file by path (the template's folders are not importable packages)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def load_support(name: str) -> ModuleType:
    """A module from the generated project's ``tests/support`` (plain Python, no Jinja)."""
    return load_module(
        PROJECT_TEMPLATE / "tests" / "support" / f"{name}.py", f"template_support_{name}"
    )


def load_hook(name: str) -> ModuleType:
    """A hook module as written (unrendered): its functions can be called directly."""
    return load_module(TEMPLATE_ROOT / "hooks" / f"{name}.py", f"template_hook_{name}")
