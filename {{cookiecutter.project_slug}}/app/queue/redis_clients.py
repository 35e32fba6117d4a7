"""Every Redis client of the project is built here, from ``RedisSettings``: plain, unix socket,
TLS (with or without a client certificate) or through Sentinel. Producers fail fast; workers block
on the queue and reconnect with backoff.

The fast path's per-thread connections (``fast_path/thread_connection.py``) are made by the pool
of a client built here, so they inherit TLS and Sentinel.
"""

from __future__ import annotations

import ssl
from typing import Any

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError

from app.queue.redis_sentinel import FollowingConnection, FollowingSSLConnection, ProjectSentinel
from app.queue.redis_settings import RedisSettings, TlsSettings
from app.queue.replica_wait import ReplicasNotConfirmed

CONNECT_TIMEOUT_SECONDS = 0.5
PRODUCER_READ_TIMEOUT_SECONDS = 1.5
SENTINEL_READ_TIMEOUT_SECONDS = 1.0
PRODUCER_RETRIES = 1
DEFAULT_MAX_CONNECTIONS = 100  # redis-py's cap on the connections one client's pool makes
# A worker's pool serves, besides up to two per job slot (a job thread's commands, and the
# thread writing an outcome while the next job runs): the blocking dequeue, RQ's command
# channel, the scheduler, the job heartbeats and the metrics; with room to spare.
WORKER_OWN_CONNECTIONS = 10
# A worker retries every Redis call for about ten seconds, never waiting more than a second
# between tries: it is back within a second of Redis (or a failover's new master) answering.
WORKER_RETRIES = 12
WORKER_BACKOFF_CAP_SECONDS = 1.0
# How a TLS server that rejects a missing client certificate ends the connection, depending on
# the OpenSSL and Python versions.
CLOSED_SIGNS = ("reset by peer", "eof occurred", "closed by server", "unexpected eof")


def producer_client(settings: RedisSettings) -> Redis:
    """A client whose commands give up within about two seconds when Redis is away."""
    return _client(
        settings,
        socket_timeout=PRODUCER_READ_TIMEOUT_SECONDS,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), PRODUCER_RETRIES),
    )


def worker_client(settings: RedisSettings, jobs_at_once: int = 1) -> Redis:
    """A client for long blocking reads that rides out short Redis restarts and failovers; its
    pool makes as many connections as a worker running ``jobs_at_once`` jobs may use at once
    (redis-py's default cap, 100, is too few past about 48 job threads)."""
    return _client(
        settings,
        socket_timeout=None,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.1, cap=WORKER_BACKOFF_CAP_SECONDS), WORKER_RETRIES
        ),
        max_connections=max(DEFAULT_MAX_CONNECTIONS, 2 * jobs_at_once + WORKER_OWN_CONNECTIONS),
    )


def sentinel_clients(settings: RedisSettings) -> list[Redis]:
    """One client per Sentinel (none without Sentinel), for questions to the Sentinels."""
    if settings.sentinel is None:
        return []
    options = _sentinel_options(settings)
    return [Redis(host=host, port=port, **options) for host, port in settings.sentinel.nodes]


def monitored_masters(settings: RedisSettings) -> set[str] | None:
    """The master names the Sentinels monitor; None when no Sentinel answers (or none is set)."""
    known: set[str] | None = None
    for client in sentinel_clients(settings):
        try:
            known = (known or set()) | set(client.sentinel_masters())
        except Exception:
            continue
        finally:
            client.close()
    return known


def master_address(client: Redis) -> str | None:
    """``host:port`` of the master a Sentinel-managed client writes to now; None otherwise."""
    pool = client.connection_pool
    if not hasattr(pool, "get_master_address"):
        return None
    host, port = pool.get_master_address()
    return f"{host}:{port}"


def describe_error(error: Exception, settings: RedisSettings) -> str:
    """One line a user can act on; never the password."""
    where = f"Redis at {settings.address}"
    if isinstance(error, ReplicasNotConfirmed):
        return f"{where}: {error}"
    if isinstance(error, (AuthenticationError, AuthorizationError)) or (
        isinstance(error, ResponseError) and "auth" in str(error).lower()
    ):
        return f"{where} refused authentication ({error}); check {settings.login_variables}"
    if isinstance(error, MasterNotFoundError) and settings.sentinel is not None:
        return _master_not_found(error, settings)
    tls = _tls_problem(error, settings)
    if tls is not None:
        return f"{where}: {tls}"
    hint = f"start Redis or check {settings.location_variables}"
    text = str(error).lower()
    if settings.tls is None and ("closed by server" in text or "reset by peer" in text):
        hint += "; if the server only accepts TLS, use a rediss:// URL or REDIS_TLS=true"
    if settings.tls is not None and "timeout connecting" in text:
        hint += "; if the port serves plain Redis, turn TLS off (redis:// URL, REDIS_TLS=false)"
    return f"{where} is unreachable ({type(error).__name__}: {error}); {hint}"


def _client(
    settings: RedisSettings,
    socket_timeout: float | None,
    retry: Retry,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> Redis:
    options: dict[str, Any] = {
        "max_connections": max_connections,
        "db": settings.db,
        "username": settings.username,
        "password": settings.password,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": socket_timeout,
        "retry": retry,
        "health_check_interval": 30,
        **_tls_options(settings.tls),
    }
    if settings.sentinel is not None:
        sentinel = ProjectSentinel(
            list(settings.sentinel.nodes), sentinel_kwargs=_sentinel_options(settings)
        )
        following = FollowingSSLConnection if settings.tls else FollowingConnection
        return sentinel.master_for(settings.sentinel.master, connection_class=following, **options)
    if settings.unix_socket is not None:
        return Redis(unix_socket_path=settings.unix_socket, **options)
    return Redis(host=settings.host, port=settings.port, **options)


def _sentinel_options(settings: RedisSettings) -> dict[str, Any]:
    """How to talk to the Sentinels themselves: their password, TLS, short timeouts."""
    assert settings.sentinel is not None
    return {
        "password": settings.sentinel.password,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": SENTINEL_READ_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
        **_tls_options(settings.tls),
    }


def _tls_options(tls: TlsSettings | None) -> dict[str, Any]:
    if tls is None:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": tls.ca_file,
        "ssl_certfile": tls.cert_file,
        "ssl_keyfile": tls.key_file,
        "ssl_cert_reqs": "required" if tls.verify else "none",
        "ssl_check_hostname": tls.verify,
    }


def _tls_problem(error: Exception, settings: RedisSettings) -> str | None:
    """What went wrong in the TLS handshake, with the variable to fix; None if it was not TLS."""
    text = str(error)
    chain = [error, error.__cause__, error.__context__]
    if any(isinstance(item, ssl.SSLCertVerificationError) for item in chain) or (
        "CERTIFICATE_VERIFY_FAILED" in text
    ):
        reason = text.partition("certificate verify failed:")[2].split("(_ssl")[0].strip(" .")
        return (
            f"TLS certificate verification failed ({reason or 'certificate verify failed'});"
            " check REDIS_TLS_CA_FILE (the CA that signed the server's certificate) and that the"
            " host name is one the certificate names"
        )
    if settings.tls is None:
        return None
    lowered = text.lower()
    if "certificate_required" in lowered or "certificate required" in lowered:
        return (
            "the server requires a client certificate; set REDIS_TLS_CERT_FILE and"
            f" REDIS_TLS_KEY_FILE ({type(error).__name__}: {error})"
        )
    if settings.tls.cert_file is None and any(sign in lowered for sign in CLOSED_SIGNS):
        return (
            f"the server closed the TLS connection ({type(error).__name__}: {error}); if it"
            " requires client certificates (tls-auth-clients), set REDIS_TLS_CERT_FILE and"
            " REDIS_TLS_KEY_FILE"
        )
    if any(isinstance(item, ssl.SSLError) for item in chain) or "SSL" in text:
        return (
            f"TLS handshake failed ({type(error).__name__}: {error}); does the server speak TLS"
            " on this port? Check the URL scheme or REDIS_TLS, and REDIS_TLS_CERT_FILE and"
            " REDIS_TLS_KEY_FILE if it requires client certificates"
        )
    return None


def _master_not_found(error: MasterNotFoundError, settings: RedisSettings) -> str:
    sentinel = settings.sentinel
    assert sentinel is not None
    if getattr(error, "answered", None) == 0:
        return (
            f"no Sentinel answered at {sentinel.addresses} ({error});"
            " check REDIS_SENTINELS (and REDIS_SENTINEL_PASSWORD, REDIS_TLS)"
        )
    return (
        f"no Sentinel at {sentinel.addresses} reports a master named {sentinel.master!r} that is"
        " up: a failover in progress, or a wrong REDIS_SENTINEL_MASTER"
    )
