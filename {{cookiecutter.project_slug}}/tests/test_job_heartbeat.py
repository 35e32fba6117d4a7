"""The worker's side thread renews a running job's heartbeat, and never after the job ended."""

from __future__ import annotations

import threading
import time
from typing import Any

from app.queue.worker.job_heartbeat import JobHeartbeat
from tests.support.polling import wait_for


class FakeWorker:
    """Just what JobHeartbeat uses: the interval and the renewal call."""

    job_monitoring_interval = 0.05

    def __init__(self) -> None:
        self.renewals: list[str] = []

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        self.renewals.append(job)


def test_renews_while_a_job_runs_and_stops_when_it_ends() -> None:
    worker = FakeWorker()
    heartbeat = JobHeartbeat(worker)  # type: ignore[arg-type]
    with heartbeat.running("first", None):  # type: ignore[arg-type]
        time.sleep(0.3)
    renewed = len(worker.renewals)
    assert renewed >= 2
    time.sleep(0.2)
    assert len(worker.renewals) == renewed
    with heartbeat.running("second", None):  # type: ignore[arg-type]
        time.sleep(0.2)
    assert "second" in worker.renewals
    assert set(worker.renewals) == {"first", "second"}
    heartbeat.close()
    assert not any(thread.name == "job-heartbeat" for thread in threading.enumerate())


def test_a_short_job_gets_no_renewal() -> None:
    worker = FakeWorker()
    heartbeat = JobHeartbeat(worker)  # type: ignore[arg-type]
    for number in range(100):
        with heartbeat.running(str(number), None):  # type: ignore[arg-type]
            pass
    time.sleep(0.1)
    heartbeat.close()
    assert worker.renewals == []


def test_one_heartbeat_thread_renews_every_running_job() -> None:
    worker = FakeWorker()
    heartbeat = JobHeartbeat(worker)  # type: ignore[arg-type]
    with heartbeat.running("first", None):  # type: ignore[arg-type]
        with heartbeat.running("second", None):  # type: ignore[arg-type]
            wait_for(
                lambda: worker.renewals.count("second") >= 2,
                timeout=10,
                message="the second job was not renewed",
            )
        renewed = worker.renewals.count("second")
        first = worker.renewals.count("first")
        wait_for(
            lambda: worker.renewals.count("first") >= first + 2,
            timeout=10,
            message="the first job was not renewed after the second ended",
        )
    heartbeat.close()
    assert worker.renewals.count("second") == renewed
