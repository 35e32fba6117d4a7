"""Can a worker process run this call? Checks used by the redis driver and by strict sync mode."""

from __future__ import annotations

import importlib
import inspect
import pickle
from collections.abc import Callable
from typing import Any


class NotPortable(ValueError):
    """A job that a worker in another process could not import or deserialize."""


def function_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a callable, for logs."""
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname}"


def check_importable(func: Callable[..., Any]) -> None:
    """Raise NotPortable unless a worker can import ``func`` by its module path."""
    if inspect.ismethod(func):
        _check_bound_method(func)
        return
    if not (inspect.isfunction(func) or inspect.isbuiltin(func)):
        if inspect.isclass(func):
            _check_module_attribute(func)
            return
        raise NotPortable(
            f"{type(func).__qualname__} instances are not importable tasks;"
            " push a module-level function instead"
        )
    _check_module_attribute(func)


def check_serializable(
    args: tuple[Any, ...], kwargs: dict[str, Any], dumps: Callable[[Any], bytes] = pickle.dumps
) -> None:
    """Raise NotPortable naming the first argument that ``dumps`` cannot serialize."""
    named = [(f"argument {index}", value) for index, value in enumerate(args)]
    named += [(f"keyword argument {name!r}", value) for name, value in kwargs.items()]
    for label, value in named:
        try:
            dumps(value)
        except Exception as error:
            raise NotPortable(
                f"{label} ({type(value).__name__}) cannot be serialized for a worker: {error}."
                " Pass a stable identifier and load the data inside the task"
            ) from error


def _check_module_attribute(func: Any) -> None:
    name = function_name(func)
    qualname = getattr(func, "__qualname__", "")
    if qualname == "<lambda>" or qualname.endswith(".<lambda>"):
        raise NotPortable(f"{name} is a lambda; workers can only import module-level functions")
    if "<locals>" in qualname:
        raise NotPortable(
            f"{name} is defined inside a function; move it to module level (for example app/jobs/)"
        )
    module_name = getattr(func, "__module__", None)
    if module_name in (None, "__main__"):
        raise NotPortable(
            f"{name} is defined in a script (__main__), which a worker cannot import;"
            " move it into a module such as app/jobs/"
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise NotPortable(f"{name} cannot be imported by a worker: {error}") from error
    if target is not func and getattr(target, "__wrapped__", None) is not func:
        raise NotPortable(f"{name} is shadowed: importing that name gives a different object")


def _check_bound_method(method: Any) -> None:
    owner = method.__self__
    if inspect.isclass(owner):
        _check_module_attribute(owner)
        return
    _check_module_attribute(type(owner))
    try:
        pickle.dumps(owner, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise NotPortable(
            f"{function_name(method)} is bound to an object that cannot be serialized: {error}"
        ) from error
