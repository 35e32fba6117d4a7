"""Side-by-side benchmark: the generated project's queue against plain RQ, in the same run.

    python benchmarks/queue_bench.py               # full run (several minutes on 2 cores)
    python benchmarks/queue_bench.py --quick       # tiny N, one repetition (the smoke test's run)
    python benchmarks/queue_bench.py --suite       # also time the generated test suite
    python benchmarks/queue_bench.py --only latency,drain   # just those measures (faster)

It starts its own ``redis-server`` on a free loopback port, bakes a project into a temporary
directory, and alternates baseline, ours with the fast path and ours with the plain path
(``QUEUE_FAST_PATH`` true / false) inside every repetition, so all sides see the same machine
state. Each measurement runs in fresh processes (enqueuers write their logs to /dev/null,
workers to a file), and the report prints medians over the repetitions and each path's ratio
against the baseline.

This file is the entry point (and what child processes run, with ``--child``); the code is in
``benchmarks/queuebench/``, one module per part (see its ``__init__``).
"""

from __future__ import annotations

import sys

from queuebench.cli import main

if __name__ == "__main__":
    sys.exit(main())
