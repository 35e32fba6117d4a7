"""Report tasks."""

from __future__ import annotations

from typing import Any

from app import app


def rebuild_report(report_id: int) -> dict[str, Any]:
    """Rebuild one report; safe to run twice (it overwrites the same file)."""
    application = app()
    return application.reports().rebuild(report_id)
