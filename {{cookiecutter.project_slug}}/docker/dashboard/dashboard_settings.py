"""rq-dashboard settings (``--config dashboard_settings``): the app's Redis variables, a password.

RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD are read by rq-dashboard itself; compose.yaml sets
them from DASHBOARD_USERNAME and DASHBOARD_PASSWORD.
"""

from __future__ import annotations

import os
from urllib.parse import quote

if not os.environ.get("RQ_DASHBOARD_PASSWORD"):
    raise SystemExit(
        "dashboard: set DASHBOARD_PASSWORD in .env; the dashboard does not run without a password"
    )

_user = quote(os.environ.get("REDIS_USERNAME", ""), safe="")
_password = quote(os.environ.get("REDIS_PASSWORD", ""), safe="")
_login = f"{_user}:{_password}@" if _password else ""
_host = os.environ.get("REDIS_HOST", "redis")
_port = os.environ.get("REDIS_PORT", "6379")
_db = os.environ.get("REDIS_DB", "0") or "0"

RQ_DASHBOARD_REDIS_URL = f"redis://{_login}{_host}:{_port}/{_db}"

# Read job payloads the way the app writes them (QUEUE_SERIALIZER, as in .env).
if os.environ.get("QUEUE_SERIALIZER", "pickle") == "json":
    from rq.serializers import JSONSerializer
    from rq_dashboard.web import config as _service

    _service.serializer = JSONSerializer
