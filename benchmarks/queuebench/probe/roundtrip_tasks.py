"""The redis_cost part's job: marks the boundary between a job's start and its finish."""

from __future__ import annotations

import os
from pathlib import Path

import sitecustomize

MARKS = "marks"


def mark(number: int) -> None:
    """Record the boundary in this worker's round trips; append one line to the marks file."""
    sitecustomize.mark()
    with (Path(os.environ["ROUNDTRIP_DIR"]) / MARKS).open("a") as out:
        out.write("1\n")
