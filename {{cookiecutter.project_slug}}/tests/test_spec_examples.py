"""The queue documentation's own examples, as written."""

from __future__ import annotations

import unittest

from app import app


class TestingQueuedWork(unittest.TestCase):
    """The 'Testing Queued Work' example: a sync push runs the job before it returns."""

    def setUp(self) -> None:
        self.app = app()

    def test_push_runs_the_job_and_returns_true(self) -> None:
        called = []

        def job(value):
            called.append(value)

        self.assertTrue(self.app.queue().push(job, 42))
        self.assertEqual([42], called)


def test_sync_driver_example_sends_email_before_push_returns() -> None:
    application = app()
    sent: list[str] = []

    def send_email(address: str) -> None:
        application.log().info("Sending email", extra={"address": address})
        sent.append(address)

    application.queue().push(send_email, "user@example.com")
    assert sent == ["user@example.com"]


def test_default_connection_is_sync() -> None:
    assert app().queue().connection == "sync"
