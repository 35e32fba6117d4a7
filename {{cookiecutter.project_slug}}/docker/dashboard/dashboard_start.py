"""Start rq-dashboard with its login password from DASHBOARD_PASSWORD_FILE when that is set.

rq-dashboard reads RQ_DASHBOARD_PASSWORD from the environment as it starts, before any settings
module, so a password in a file (a Docker secret, ``stack.yaml``) is put there first. The file wins
over the variable, as REDIS_PASSWORD_FILE does for Redis.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path


def password_from_file(environ: MutableMapping[str, str]) -> None:
    """Copy the secret in DASHBOARD_PASSWORD_FILE (a trailing newline dropped) into
    RQ_DASHBOARD_PASSWORD; without the variable, leave the environment as it is."""
    path = environ.get("DASHBOARD_PASSWORD_FILE")
    if not path:
        return
    try:
        password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        reason = error.strerror or type(error).__name__
        message = f"dashboard: cannot read DASHBOARD_PASSWORD_FILE {path} ({reason})"
        raise SystemExit(message) from None
    environ["RQ_DASHBOARD_PASSWORD"] = password


if __name__ == "__main__":
    password_from_file(os.environ)
    from rq_dashboard.cli import main

    sys.exit(main())
