"""Start a thread from the worker's main thread with SIGTERM and SIGINT held back meanwhile.

The warm-stop handler raises ``StopRequested`` when the worker is idle, and Python runs it between
any two bytecodes of the main thread. Raised inside ``Thread.start``, it breaks threading's
bookkeeping: the new thread dies at birth and cannot be joined, so the stop itself then fails (a
worker sent SIGTERM just as it started exited 1 with a traceback). Held back by the signal mask,
the signal is handled as soon as the thread has started.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def start_thread(thread: threading.Thread) -> None:
    """``thread.start()``, with a stop signal that comes meanwhile handled after it, not during it.

    The new thread inherits the mask, so the signals always reach the main thread, where Python
    runs their handlers anyway.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
