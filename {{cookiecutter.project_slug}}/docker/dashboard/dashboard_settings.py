"""rq-dashboard settings (``--config dashboard_settings``): the app's Redis variables, a password.

RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD are read by rq-dashboard itself; compose.yaml sets
them from DASHBOARD_USERNAME and DASHBOARD_PASSWORD, stack.yaml the password through
DASHBOARD_PASSWORD_FILE (``dashboard_start.py``). The Redis client comes from
``dashboard_redis.py``, which reads the app's variables (a URL, TLS, Sentinel, a password file) the
way the app does; rq-dashboard's own URL parsing knows none of TLS's files or Sentinel's TLS.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dashboard_redis import display_url, redis_client, tls_warning
from redis import Redis

if not os.environ.get("RQ_DASHBOARD_PASSWORD"):
    raise SystemExit(
        "dashboard: set DASHBOARD_PASSWORD in .env (or DASHBOARD_PASSWORD_FILE);"
        " the dashboard does not run without a password"
    )

# Shown on the dashboard's pages: where it reads, without the login.
RQ_DASHBOARD_REDIS_URL = display_url(os.environ)

_warning = tls_warning(os.environ)
if _warning:
    print(_warning, file=sys.stderr, flush=True)

_client: Redis | None = None


def _connect(*args: Any, **kwargs: Any) -> tuple[None, Redis]:
    """rq-dashboard's ``from_url``, answered with one shared client built from the variables."""
    global _client
    if _client is None:
        _client = redis_client(os.environ)
    return None, _client


from rq_dashboard import web as _service  # noqa: E402  (after the password check)

_service.from_url = _connect

# Read job payloads the way the app writes them (QUEUE_SERIALIZER, as in .env).
if os.environ.get("QUEUE_SERIALIZER", "pickle") == "json":
    from rq.serializers import JSONSerializer

    _service.config.serializer = JSONSerializer
