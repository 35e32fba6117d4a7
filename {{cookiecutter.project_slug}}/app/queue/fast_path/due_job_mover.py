"""RQ's scheduler (the mover of ``push_at`` jobs), polling ten times a second instead of once."""

from __future__ import annotations

import time

from rq.scheduler import RQScheduler

# RQ's scheduler looks for due jobs once a second; RQ stores due times in whole seconds and
# push_at rounds up, so a one-second poll made jobs up to two seconds late. Polling ten times a
# second costs a few Redis commands and keeps lateness near one second.
SCHEDULER_POLL_SECONDS = 0.1


class PromptRQScheduler(RQScheduler):
    """RQ's scheduler (same locks, registries and heartbeat TTLs), polling more often."""

    def work(self) -> None:
        self._install_signal_handlers()
        self.register_birth()
        while True:
            if self._stop_requested:
                self.stop()
                break
            if self.should_reacquire_locks:
                self.acquire_locks()
            self.heartbeat()
            self.enqueue_scheduled_jobs()
            time.sleep(SCHEDULER_POLL_SECONDS)
