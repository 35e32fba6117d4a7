"""Send a signal to the test process just as a thread starts: inside ``Thread.start``."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

# The C call ``Thread.start`` makes to start the thread (renamed in Python 3.13).
STARTER = next(n for n in ("_start_joinable_thread", "_start_new_thread") if hasattr(threading, n))


def signal_inside_thread_starts(
    monkeypatch: pytest.MonkeyPatch, signum: int, when: Callable[[], bool]
) -> list[int]:
    """From now on, each thread start for which ``when()`` is true sends ``signum`` right after
    the thread is created, where Python runs the handler: still inside ``Thread.start``. Returns
    a list that gets one entry (``signum``) per signal sent."""
    start = getattr(threading, STARTER)
    signalled: list[int] = []

    def start_then_signal(*args: object, **kwargs: object) -> object:
        started = start(*args, **kwargs)
        if when():
            signalled.append(signum)
            os.kill(os.getpid(), signum)
        return started

    monkeypatch.setattr(threading, STARTER, start_then_signal)
    return signalled
