"""The application: ``from app import app; application = app()``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from app.config import Config, ConfigError, load_config
from app.logs import configure_logging
from app.queue import Queue, build_queue
from app.queue.redis_settings import tls_warning
from app.queue.settings import QueueSettings, queue_settings
from app.reports import Reports

PROJECT_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["Application", "ConfigError", "app", "current"]


class Application:
    """Configuration, logging and services of one project directory.

    Construct it directly (``Application(path, environ={...})``) in tests that need their own
    settings; everywhere else use ``app()``, which shares one instance per base path.
    """

    def __init__(self, base_path: Path = PROJECT_ROOT, environ: Mapping[str, str] | None = None):
        self.base_path = Path(base_path).resolve()
        self.config: Config = load_config(self.base_path, environ)
        self.queue_settings: QueueSettings = queue_settings(self.config)
        self._log = configure_logging(
            self.config.get("app.log_level"), self.config.get("app.log_format", "text")
        )
        if self.queue_settings.connection == "redis":
            warning = tls_warning(self.queue_settings.redis)
            if warning is not None:
                self._log.warning(warning)
        self._queue: Queue | None = None
        self._reports: Reports | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.config.get("app.name"))

    def log(self) -> logging.Logger:
        return self._log

    def queue(self) -> Queue:
        with self._lock:
            if self._queue is None:
                self._queue = build_queue(self.queue_settings, self._log)
            return self._queue

    def reports(self) -> Reports:
        with self._lock:
            if self._reports is None:
                self._reports = Reports(self.storage_path() / "reports", self._log)
            return self._reports

    def storage_path(self) -> Path:
        """Where jobs write files; relative paths are under the base path."""
        return self.base_path / str(self.config.get("app.storage_path"))


_applications: dict[Path, Application] = {}
_applications_lock = threading.Lock()


@contextmanager
def current(application: Application) -> Iterator[Application]:
    """Make ``app()`` return ``application`` inside the block, as tasks call ``app()`` (tests)."""
    with _applications_lock:
        previous = _applications.get(application.base_path)
        _applications[application.base_path] = application
    try:
        yield application
    finally:
        with _applications_lock:
            if previous is None:
                _applications.pop(application.base_path, None)
            else:
                _applications[application.base_path] = previous


def app(base_path: str | Path | None = None) -> Application:
    """The shared Application for ``base_path`` (default: this project's directory)."""
    path = Path(base_path or PROJECT_ROOT).resolve()
    with _applications_lock:
        if path not in _applications:
            _applications[path] = Application(path)
        return _applications[path]
