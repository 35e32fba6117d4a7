"""Reports: the example domain service behind ``app.jobs.reports.rebuild_report``."""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Reports:
    """Builds report files at deterministic paths: a repeated run overwrites, never duplicates."""

    def __init__(self, directory: Path, log: logging.Logger) -> None:
        self._directory = directory
        self._log = log

    def path(self, report_id: int) -> Path:
        return self._directory / f"report-{report_id}.json"

    def rebuild(self, report_id: int, job_id: str | None = None) -> dict[str, Any]:
        """Write the report atomically and return what was written (with the job that did it)."""
        report = {
            "report_id": report_id,
            "job_id": job_id,
            "built_at": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
        }
        self._directory.mkdir(parents=True, exist_ok=True)
        target = self.path(report_id)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(report), encoding="utf-8")
        partial.replace(target)
        self._log.info("Report rebuilt", extra={"report_id": report_id, "path": target})
        return report

    def read(self, report_id: int) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(report_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
