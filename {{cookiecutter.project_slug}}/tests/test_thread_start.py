"""``start_thread``: a stop signal that comes while a thread starts is handled once it has."""

from __future__ import annotations

import signal
import threading

import pytest

from app.queue.worker.thread_start import start_thread
from tests.support.thread_starts import signal_inside_thread_starts


class Stop(Exception):
    """What a warm-stop handler raises."""


def test_a_stop_signal_during_a_thread_start_is_handled_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="side")
    seen_alive: list[bool] = []

    def stop(signum: int, frame: object) -> None:
        seen_alive.append(thread.is_alive())
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        signalled = signal_inside_thread_starts(monkeypatch, signal.SIGTERM, lambda: True)
        with pytest.raises(Stop):
            start_thread(thread)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert signalled == ["side"]
    assert seen_alive == [True]  # handled once the thread had started, not inside its start
    release.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
