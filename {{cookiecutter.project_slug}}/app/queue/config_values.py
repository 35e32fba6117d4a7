"""Typed reads of single config values, raising ConfigError naming the file and the key."""

from __future__ import annotations

from typing import Any

from app.config import Config, ConfigError


def integer(config: Config, key: str, low: int, high: int | None = None) -> int:
    """A whole number from ``low`` to ``high`` (no upper bound when None)."""
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{config.where(key)}: must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{config.where(key)}: must be {bounds}, got {value}")
    return value


def text(config: Config, key: str) -> str:
    """A non-empty scalar, as text."""
    value = config.get(key)
    if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
        raise ConfigError(f"{config.where(key)}: must be a non-empty value, got {value!r}")
    return str(value)


def optional_text(config: Config, key: str) -> str | None:
    """A scalar as text, or None when it is missing or empty."""
    value: Any = config.get(key, None)
    return None if value is None else str(value)


def choice(config: Config, key: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    value = config.get(key)
    if value not in choices:
        allowed = ", ".join(choices)
        raise ConfigError(f"{config.where(key)}: must be one of {allowed}, got {value!r}")
    return str(value)


def boolean(config: Config, key: str) -> bool:
    """``true`` or ``false``."""
    value = config.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"{config.where(key)}: must be true or false, got {value!r}")
    return value


def names(config: Config, key: str) -> tuple[str, ...]:
    """A comma-separated list (or YAML list) of at least one name."""
    value = config.get(key)
    items = value if isinstance(value, list) else str(value or "").split(",")
    cleaned = tuple(str(name).strip() for name in items if str(name).strip())
    if not cleaned:
        raise ConfigError(f"{config.where(key)}: name at least one queue")
    return cleaned
