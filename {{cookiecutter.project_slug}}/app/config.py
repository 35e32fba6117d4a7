"""Configuration: ``config/*.yaml`` with ``${VAR:default}`` interpolation.

A variable's value comes from the process environment first, then from ``.env`` in the base
path, then from the default written after the colon. After interpolation a value is typed:
``null``, ``~`` and the empty string become ``None``; ``true``/``false`` become booleans; whole
numbers become ``int``. Everything else stays a string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<default>[^}]*))?\}")
INTEGER = re.compile(r"[-+]?(0|[1-9][0-9]*)")
MISSING: Any = object()


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


def read_environment(base_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Merge ``.env`` under the process environment (the environment wins)."""
    dotenv_path = base_path / ".env"
    from_file = dotenv_values(dotenv_path) if dotenv_path.is_file() else {}
    merged = {key: value or "" for key, value in from_file.items()}
    merged.update(os.environ if environ is None else environ)
    return merged


def typed(text: str | None) -> Any:
    """Give an interpolated scalar its natural type."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped in {"", "null", "~", "Null", "NULL"}:
        return None
    if stripped.lower() in {"true", "false"}:
        return stripped.lower() == "true"
    if INTEGER.fullmatch(stripped):
        return int(stripped)
    return text


class Config:
    """Read-only settings loaded from every ``config/*.yaml`` file of an application."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str]) -> None:
        self._values = values
        self._sources = sources

    def get(self, key: str, default: Any = MISSING) -> Any:
        """Return the value at a dotted key such as ``queue.connections.redis.port``."""
        node: Any = self._values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is MISSING:
                    raise ConfigError(f"{self.where(key)}: missing")
                return default
            node = node[part]
        return node

    def where(self, key: str) -> str:
        """Name the file and key for an error message: ``config/queue.yaml: queue.connection``."""
        source = self._sources.get(key.split(".")[0], "config")
        return f"{source}: {key}"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def load_config(base_path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and interpolate ``base_path/config/*.yaml``; raise ConfigError on any problem."""
    variables = read_environment(base_path, environ)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for path in sorted((base_path / "config").glob("*.yaml")):
        relative = path.relative_to(base_path).as_posix()
        document = _parse(path, relative)
        for top_key, section in document.items():
            if top_key in values:
                raise ConfigError(f"{relative}: {top_key}: already defined in {sources[top_key]}")
            values[top_key] = _interpolate(section, variables, relative, str(top_key))
            sources[str(top_key)] = relative
    return Config(values, sources)


def _parse(path: Path, relative: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{relative}: invalid YAML{line}: {problem}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{relative}: the top level must be a mapping of sections")
    return document


def _interpolate(node: Any, variables: Mapping[str, str], source: str, key: str) -> Any:
    if isinstance(node, dict):
        return {
            name: _interpolate(value, variables, source, f"{key}.{name}")
            for name, value in node.items()
        }
    if isinstance(node, list):
        return [
            _interpolate(value, variables, source, f"{key}[{index}]")
            for index, value in enumerate(node)
        ]
    if not isinstance(node, str) or "${" not in node:
        return node
    whole = PLACEHOLDER.fullmatch(node)
    if whole:
        return typed(_lookup(whole, variables, source, key))
    return PLACEHOLDER.sub(lambda match: _lookup(match, variables, source, key) or "", node)


def _lookup(
    match: re.Match[str], variables: Mapping[str, str], source: str, key: str
) -> str | None:
    name, default = match.group("name"), match.group("default")
    if name in variables:
        return variables[name]
    if default is None:
        raise ConfigError(f"{source}: {key}: ${{{name}}} is not set and has no default")
    return default
