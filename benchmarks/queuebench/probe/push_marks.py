"""Push ``roundtrip_tasks.mark(n)`` COUNT times with the project's queue, one job a call.

``python push_marks.py COUNT [many]`` in the baked project's directory; with ``many``, in
``push_many`` batches of 1,000. Prints the QUEUE_FAST_PATH it saw, as JSON.
"""

from __future__ import annotations

import json
import os
import sys

import roundtrip_tasks
from app import PROJECT_ROOT, Application

BATCH = 1000


def main(count: int, many: bool) -> None:
    """Push the jobs; exit non-zero if one is refused."""
    queue = Application(PROJECT_ROOT, environ=dict(os.environ)).queue()
    if many:
        for start in range(0, count, BATCH):
            numbers = range(start, min(start + BATCH, count))
            if queue.push_many(roundtrip_tasks.mark, [(n,) for n in numbers]) != len(numbers):
                raise SystemExit("push_many refused")
    else:
        for number in range(count):
            if not queue.push(roundtrip_tasks.mark, number):
                raise SystemExit("push refused")
    print(json.dumps({"fast_path": os.environ.get("QUEUE_FAST_PATH")}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:] == ["many"])
