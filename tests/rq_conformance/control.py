"""The control worker class: RQ's ``SimpleWorker``, unchanged, under another name."""

from __future__ import annotations

from rq import SimpleWorker


class ControlWorker(SimpleWorker):
    """What the class under test is compared with: ``class ControlWorker(SimpleWorker): pass``."""
