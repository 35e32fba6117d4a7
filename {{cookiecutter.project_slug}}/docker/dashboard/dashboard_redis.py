"""The dashboard's Redis client, from the app's variables (README.md, "Managed Redis").

The dashboard image does not hold the app's code, so this reads the same variables the same way
(``app/queue/redis_settings.py`` and ``redis_clients.py``; ``tests/test_dashboard_redis.py``
compares them): REDIS_URL or REDIS_HOST/PORT/DB/USERNAME/PASSWORD, REDIS_PASSWORD_FILE (it wins),
REDIS_TLS, REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE, REDIS_TLS_VERIFY, and
REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD. Only redis-py is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_PORT = 26379
TIMEOUT_SECONDS = 2.0


def connection_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """redis-py keyword arguments: where Redis is, the login, TLS; ``sentinels`` and
    ``sentinel_master`` (and ``sentinel_password``) when Sentinel is set."""
    url = environ.get("REDIS_URL", "").strip()
    options: dict[str, Any] = _from_url(url) if url else _from_variables(environ)
    if environ.get("REDIS_PASSWORD_FILE"):
        text = Path(environ["REDIS_PASSWORD_FILE"]).read_text(encoding="utf-8")
        options["password"] = text.rstrip("\r\n")
    tls = _tls_options(environ, options.pop("scheme_tls", False))
    options.update(tls)
    sentinels = environ.get("REDIS_SENTINELS", "").strip()
    if sentinels:
        options.pop("host", None)
        options.pop("port", None)
        options["sentinels"] = [_node(item) for item in sentinels.split(",") if item.strip()]
        options["sentinel_master"] = environ.get("REDIS_SENTINEL_MASTER", "")
        options["sentinel_password"] = environ.get("REDIS_SENTINEL_PASSWORD") or None
    return options


def redis_client(environ: Mapping[str, str]) -> Redis:
    """A client of the app's Redis (through Sentinel when it is set)."""
    options = connection_options(environ)
    options.update(socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    sentinels = options.pop("sentinels", None)
    if sentinels is None:
        return Redis(**options)
    master = options.pop("sentinel_master")
    tls = {key: value for key, value in options.items() if key.startswith("ssl")}
    sentinel_kwargs = {"password": options.pop("sentinel_password"), **tls}
    sentinel_kwargs.update(socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    sentinel_kwargs["retry"] = Retry(NoBackoff(), 0)  # a Sentinel that is down: ask the next one
    return Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs).master_for(master, **options)


def display_url(environ: Mapping[str, str]) -> str:
    """Where the dashboard reads, for its page: no user name, no password."""
    options = connection_options(environ)
    db = options.get("db", 0)
    if "sentinels" in options:
        nodes = ",".join(f"{host}:{port}" for host, port in options["sentinels"])
        return f"redis+sentinel://{nodes}/{options['sentinel_master']}/{db}"
    if "unix_socket_path" in options:
        return f"unix://{options['unix_socket_path']}?db={db}"
    scheme = "rediss" if options.get("ssl") else "redis"
    return f"{scheme}://{options['host']}:{options['port']}/{db}"


def tls_warning(environ: Mapping[str, str]) -> str | None:
    """The start-up WARNING for REDIS_TLS_VERIFY=none, as the app logs it."""
    options = connection_options(environ)
    if options.get("ssl") and options.get("ssl_cert_reqs") == "none":
        return (
            "WARNING dashboard: Redis TLS certificate verification is off (REDIS_TLS_VERIFY=none):"
            " the traffic is encrypted, but anyone on the network path can pose as Redis"
        )
    return None


def _from_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    login = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    if parts.scheme == "unix":
        return {
            "unix_socket_path": parts.path,
            "db": int(query.get("db", "0")),
            **login,
        }
    return {
        "host": parts.hostname,
        "port": parts.port or 6379,
        "db": int(parts.path.strip("/") or query.get("db", "0")),
        "scheme_tls": parts.scheme == "rediss",
        **login,
    }


def _from_variables(environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "host": environ.get("REDIS_HOST") or "127.0.0.1",
        "port": int(environ.get("REDIS_PORT") or 6379),
        "db": int(environ.get("REDIS_DB") or 0),
        "username": environ.get("REDIS_USERNAME") or None,
        "password": environ.get("REDIS_PASSWORD") or None,
    }


def _tls_options(environ: Mapping[str, str], scheme_tls: bool) -> dict[str, Any]:
    setting = environ.get("REDIS_TLS", "").strip().lower()
    if not (scheme_tls if setting == "" else setting == "true"):
        return {}
    verify = environ.get("REDIS_TLS_VERIFY", "").strip().lower() != "none"
    return {
        "ssl": True,
        "ssl_ca_certs": environ.get("REDIS_TLS_CA_FILE") or None,
        "ssl_certfile": environ.get("REDIS_TLS_CERT_FILE") or None,
        "ssl_keyfile": environ.get("REDIS_TLS_KEY_FILE") or None,
        "ssl_cert_reqs": "required" if verify else "none",
        "ssl_check_hostname": verify,
    }


def _node(item: str) -> tuple[str, int]:
    host, colon, port = item.strip().rpartition(":")
    return (host.strip("[]"), int(port)) if colon else (item.strip(), SENTINEL_PORT)
