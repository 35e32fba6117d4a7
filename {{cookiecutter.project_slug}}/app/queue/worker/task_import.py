"""Import a job's function in the worker, failing with the real reason when it cannot."""

from __future__ import annotations

import importlib


class TaskImportError(ImportError):
    """A worker could not import a job's function; the message says why."""


def explain_import_failure(name: str) -> str:
    """Find the longest importable module prefix of ``name`` and say what went wrong."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            if _is_missing(module_name, error):
                continue
            reason = f"{type(error).__name__}: {error}"
            return f"cannot import {name}: importing {module_name} raised {reason}"
        attribute = ".".join(parts[split:])
        return f"cannot import {name}: module {module.__name__} has no attribute {attribute}"
    return f"cannot import {name}: no such module"


def _is_missing(module_name: str, error: Exception) -> bool:
    """True when the module itself (or a parent package) does not exist."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return False
    return module_name.startswith(error.name)
