"""Where Redis lives and how to reach it: ``queue.connections.redis`` in ``config/queue.yaml``.

- Plain ``REDIS_HOST``/``REDIS_PORT``/``REDIS_DB``/``REDIS_USERNAME``/``REDIS_PASSWORD``, or
  ``REDIS_URL``, which then replaces all five (``redis_url.py``).
- ``REDIS_PASSWORD_FILE``: the password from a mounted secret; it wins over any other password.
- TLS: on for a ``rediss://`` URL or with ``REDIS_TLS=true``; ``REDIS_TLS_CA_FILE``, a client
  certificate (``REDIS_TLS_CERT_FILE`` and ``REDIS_TLS_KEY_FILE``), ``REDIS_TLS_VERIFY``.
- Sentinel: ``REDIS_SENTINELS`` and ``REDIS_SENTINEL_MASTER`` (``REDIS_SENTINEL_PASSWORD``); the
  master's address then comes from the Sentinels, and TLS applies to them too.
- ``QUEUE_PUSH_REPLICAS``: a push waits until that many replicas hold the job (``replica_wait.py``).

Every Redis client is built from these settings in ``redis_clients.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.config import Config, ConfigError
from app.queue.config_values import integer, optional_text, text
from app.queue.redis_url import RedisUrl, RedisUrlError, parse_redis_url, redact

KEY = "queue.connections.redis"
VARIABLES = {
    "host": "REDIS_HOST",
    "port": "REDIS_PORT",
    "db": "REDIS_DB",
    "url": "REDIS_URL",
    "password_file": "REDIS_PASSWORD_FILE",
    "tls": "REDIS_TLS",
    "tls_ca_file": "REDIS_TLS_CA_FILE",
    "tls_cert_file": "REDIS_TLS_CERT_FILE",
    "tls_key_file": "REDIS_TLS_KEY_FILE",
    "tls_verify": "REDIS_TLS_VERIFY",
    "sentinels": "REDIS_SENTINELS",
    "sentinel_master": "REDIS_SENTINEL_MASTER",
    "sentinel_password": "REDIS_SENTINEL_PASSWORD",
    "push_replicas": "QUEUE_PUSH_REPLICAS",
    "push_replicas_timeout_ms": "QUEUE_PUSH_REPLICAS_TIMEOUT_MS",
}
TLS_VERIFY_MODES = ("required", "none")
SENTINEL_PORT = 26379
# WAIT must answer before the producer's socket read timeout (1.5 s, ``redis_clients.py``).
MAX_PUSH_REPLICAS_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class TlsSettings:
    """TLS for Redis (and its Sentinels): the CA, a client certificate, and verification."""

    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    verify: bool


@dataclass(frozen=True)
class SentinelSettings:
    """The Sentinels that know the master's address, and the name they monitor it by."""

    nodes: tuple[tuple[str, int], ...]
    master: str
    password: str | None = field(default=None, repr=False)

    @property
    def addresses(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self.nodes)


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis lives and how to log in; passwords are left out of ``repr``."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None = field(repr=False)
    unix_socket: str | None = None
    tls: TlsSettings | None = None
    sentinel: SentinelSettings | None = None
    push_replicas: int = 0
    push_replicas_timeout_ms: int = 500
    from_url: bool = False
    password_from_file: bool = False

    @property
    def address(self) -> str:
        """Where the data lives, for messages: ``host:port/db``."""
        if self.sentinel is not None:
            return f"Sentinel master {self.sentinel.master}/{self.db} via {self.sentinel.addresses}"
        if self.unix_socket is not None:
            return f"{self.unix_socket}/{self.db}"
        return f"{self.host}:{self.port}/{self.db}"

    @property
    def mode(self) -> str:
        """``plain``, ``TLS``, ``Sentinel``, ``Sentinel, TLS``, ..., as the checklist names it."""
        parts = ["Sentinel"] if self.sentinel is not None else []
        if self.unix_socket is not None:
            parts.append("unix socket")
        if self.tls is not None:
            parts.append("TLS" if self.tls.verify else "TLS without certificate verification")
        return ", ".join(parts) or "plain"

    @property
    def login_variables(self) -> str:
        """The variables the login comes from, for messages."""
        if self.password_from_file:
            user = "REDIS_URL" if self.from_url else "REDIS_USERNAME"
            return f"REDIS_PASSWORD_FILE (and the user name in {user})"
        if self.from_url:
            return "the user name and password in REDIS_URL (or REDIS_PASSWORD_FILE)"
        return "REDIS_USERNAME and REDIS_PASSWORD (or REDIS_PASSWORD_FILE)"

    @property
    def location_variables(self) -> str:
        """The variables the address comes from, for messages."""
        if self.sentinel is not None:
            return "REDIS_SENTINELS and REDIS_SENTINEL_MASTER"
        return "the host and port in REDIS_URL" if self.from_url else "REDIS_HOST and REDIS_PORT"


def redis_settings(config: Config) -> RedisSettings:
    """Read and check ``queue.connections.redis``; ConfigError names the key and the variable."""
    url = _url(config)
    if url is not None:
        host, port, db = url.host, url.port, url.db
        username, password = url.username, url.password
    else:
        host = text(config, f"{KEY}.host")
        port = integer(config, f"{KEY}.port", low=1, high=65535)
        db = integer(config, f"{KEY}.db", low=0, high=1_000_000)
        username = optional_text(config, f"{KEY}.username")
        password = optional_text(config, f"{KEY}.password")
    secret = _password_file(config)
    unix_socket = url.unix_socket if url is not None else None
    return RedisSettings(
        host=host,
        port=port,
        db=db,
        username=username or None,
        password=secret if secret is not None else password,
        unix_socket=unix_socket,
        tls=_tls(config, url),
        sentinel=_sentinel(config, unix_socket),
        push_replicas=integer(config, f"{KEY}.push_replicas", low=0, high=1000),
        push_replicas_timeout_ms=integer(
            config, f"{KEY}.push_replicas_timeout_ms", low=1, high=MAX_PUSH_REPLICAS_TIMEOUT_MS
        ),
        from_url=url is not None,
        password_from_file=secret is not None,
    )


def tls_warning(settings: RedisSettings) -> str | None:
    """The start-up WARNING for ``REDIS_TLS_VERIFY=none``, or None."""
    if settings.tls is None or settings.tls.verify:
        return None
    return (
        f"Redis TLS certificate verification is off (REDIS_TLS_VERIFY=none) for {settings.address}:"
        " the traffic is encrypted, but anyone on the network path can pose as Redis;"
        " set REDIS_TLS_CA_FILE and REDIS_TLS_VERIFY=required"
    )


def where(config: Config, name: str) -> str:
    """``config/queue.yaml: queue.connections.redis.url (REDIS_URL)``."""
    return f"{config.where(f'{KEY}.{name}')} ({VARIABLES.get(name, name)})"


def _url(config: Config) -> RedisUrl | None:
    value = optional_text(config, f"{KEY}.url")
    if value is None or not value.strip():
        return None
    try:
        return parse_redis_url(value.strip())
    except RedisUrlError as error:
        raise ConfigError(f"{where(config, 'url')}: cannot use {redact(value)}: {error}") from None


def _password_file(config: Config) -> str | None:
    """The secret in REDIS_PASSWORD_FILE (a trailing newline dropped), or None when unset."""
    value = optional_text(config, f"{KEY}.password_file")
    if not value:
        return None
    try:
        secret = Path(value).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise ConfigError(
            f"{where(config, 'password_file')}: cannot read {value} ({reason})"
        ) from None
    if not secret:
        raise ConfigError(f"{where(config, 'password_file')}: {value} is empty")
    return secret


def _tls(config: Config, url: RedisUrl | None) -> TlsSettings | None:
    requested = config.get(f"{KEY}.tls", None)
    if requested is not None and not isinstance(requested, bool):
        raise ConfigError(
            f"{where(config, 'tls')}: must be true, false or empty, got {requested!r}"
        )
    by_scheme = url is not None and url.tls
    if requested is False and by_scheme:
        raise ConfigError(
            f"{where(config, 'tls')}: is false, but REDIS_URL is rediss:// (TLS);"
            " use redis:// for a plain connection"
        )
    files = {
        name: optional_text(config, f"{KEY}.{name}") or None
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file")
    }
    if not (by_scheme if requested is None else requested):
        given = [VARIABLES[name] for name, value in files.items() if value]
        if given:
            raise ConfigError(
                f"{where(config, 'tls')}: {', '.join(given)} set, but TLS is off;"
                " set REDIS_TLS=true or use a rediss:// REDIS_URL"
            )
        return None
    if url is not None and url.unix_socket is not None:
        raise ConfigError(f"{where(config, 'tls')}: TLS over a unix:// socket is not supported")
    if bool(files["tls_cert_file"]) != bool(files["tls_key_file"]):
        raise ConfigError(
            f"{where(config, 'tls_cert_file')}: a client certificate needs both"
            " REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE"
        )
    for name, path in files.items():
        if path and not Path(path).is_file():
            raise ConfigError(f"{where(config, name)}: {path} is not a file")
    verify = config.get(f"{KEY}.tls_verify", None) or "required"
    if verify not in TLS_VERIFY_MODES:
        raise ConfigError(
            f"{where(config, 'tls_verify')}: must be required or none, got {verify!r}"
        )
    return TlsSettings(
        ca_file=files["tls_ca_file"],
        cert_file=files["tls_cert_file"],
        key_file=files["tls_key_file"],
        verify=verify == "required",
    )


def _sentinel(config: Config, unix_socket: str | None) -> SentinelSettings | None:
    listed = optional_text(config, f"{KEY}.sentinels") or ""
    master = optional_text(config, f"{KEY}.sentinel_master") or None
    if not listed.strip():
        if master:
            raise ConfigError(
                f"{where(config, 'sentinel_master')}: is set, but REDIS_SENTINELS is empty;"
                " list the Sentinels as host:port,host:port"
            )
        return None
    if unix_socket is not None:
        raise ConfigError(f"{where(config, 'sentinels')}: cannot be used with a unix:// REDIS_URL")
    nodes = tuple(_node(config, item.strip()) for item in listed.split(",") if item.strip())
    if not master:
        raise ConfigError(
            f"{where(config, 'sentinel_master')}: name the master the Sentinels monitor"
            " (the name in `sentinel monitor <name> ...`)"
        )
    password = optional_text(config, f"{KEY}.sentinel_password") or None
    return SentinelSettings(nodes=nodes, master=master, password=password)


def _node(config: Config, item: str) -> tuple[str, int]:
    host, colon, port_text = item.rpartition(":")
    if not colon:
        host, port_text = item, str(SENTINEL_PORT)
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(
            f"{where(config, 'sentinels')}: {item!r} is not host:port (port from 1 to 65535)"
        )
    return host, int(port_text)
