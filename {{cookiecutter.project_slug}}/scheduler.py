"""Scheduler entry point: ``python scheduler.py`` (run exactly one)."""

from __future__ import annotations

import signal
from types import FrameType

from app import app
from app.scheduling import Scheduler


def main() -> int:
    scheduler = Scheduler(app()).register()

    def stop(signum: int, frame: FrameType | None) -> None:
        scheduler.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
