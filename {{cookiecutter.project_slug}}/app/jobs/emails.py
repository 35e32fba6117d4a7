"""E-mail tasks."""

from __future__ import annotations

from app import app


def send_email(address: str) -> None:
    """Log the e-mail; replace the body with your mail provider's client."""
    application = app()
    application.log().info("Sending email", extra={"address": address})
