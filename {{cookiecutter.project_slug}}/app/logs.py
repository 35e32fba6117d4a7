"""Logging: one line per event, ``extra`` fields (job ids, domain ids) appended as key=value."""

from __future__ import annotations

import logging
import sys

from app.config import ConfigError

LOGGER_NAME = "app"
RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """``2026-01-01 12:00:00 INFO app: Job queued job_id=... function=...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {
            key: value
            for key, value in vars(record).items()
            if key not in RESERVED and not key.startswith("_")
        }
        if not fields:
            return line
        extras = " ".join(f"{key}={value}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")
        return f"{head} {extras}{newline}{rest}"


HANDLER = logging.StreamHandler(sys.stderr)
HANDLER.setFormatter(KeyValueFormatter())


def configure_logging(level: str) -> logging.Logger:
    """Send the app's and RQ's logs to stderr once per process; return the app logger."""
    level_number = logging.getLevelName(str(level).upper())
    if not isinstance(level_number, int):
        raise ConfigError(f"config/app.yaml: app.log_level: unknown level {level!r}")
    root = logging.getLogger()
    if HANDLER not in root.handlers:
        root.addHandler(HANDLER)
    root.setLevel(level_number)
    return logging.getLogger(LOGGER_NAME)
