"""``REDIS_URL``: ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs, parsed without leaking the
password into any message.

Shapes (the user name and password are percent-encoded: ``@`` is ``%40``, ``/`` is ``%2F``,
``:`` is ``%3A``):

- ``redis://[[user]:password@]host[:port][/db]``
- ``rediss://[[user]:password@]host[:port][/db]``: the same over TLS
- ``unix://[[user]:password@]/path/to/redis.sock[?db=N]``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("redis", "rediss", "unix")
DEFAULT_PORT = 6379
ENCODING_HINT = "percent-encode @, / and : in the user name and password (%40, %2F, %3A)"


class RedisUrlError(ValueError):
    """The URL cannot be used; the message holds no password."""


@dataclass(frozen=True)
class RedisUrl:
    """What a URL says; ``password`` is left out of ``repr``."""

    scheme: str
    host: str
    port: int
    db: int
    username: str | None
    password: str | None = field(repr=False)
    unix_socket: str | None

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"


def redact(url: str) -> str:
    """``url`` with everything after the user name in its user part replaced by ``***``."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    userinfo, _, location = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{scheme}://{shown}@{location}"


def parse_redis_url(url: str) -> RedisUrl:
    """Parse ``url``; raise RedisUrlError saying what is wrong (never echoing the password)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise RedisUrlError("must start with redis://, rediss:// (TLS) or unix://")
    parts = urlsplit(url)
    if "@" in parts.path or "@" in parts.query:
        raise RedisUrlError(f"an @ appears after the host; {ENCODING_HINT}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    query = _query(parts.query)
    if scheme == "unix":
        if not parts.path:
            raise RedisUrlError("a unix:// URL needs a socket path: unix:///run/redis.sock")
        db = _db(query.get("db", "0"))
        return RedisUrl(scheme, "", 0, db, username, password or None, parts.path)
    host = parts.hostname
    if not host:
        raise RedisUrlError(f"no host name; {ENCODING_HINT}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise RedisUrlError(f"the port is not a number from 1 to 65535; {ENCODING_HINT}") from None
    path_db = parts.path.strip("/")
    if path_db and "db" in query:
        raise RedisUrlError("give the database once, as /N or as ?db=N")
    db = _db(path_db or query.get("db", "0"))
    return RedisUrl(scheme, host, port, db, username, password or None, None)


def _query(query: str) -> dict[str, str]:
    """The query options; only ``db`` is understood (TLS has its own variables)."""
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    unknown = sorted(set(options) - {"db"})
    if unknown:
        raise RedisUrlError(
            f"unknown option {', '.join(unknown)}: only ?db=N is read from the URL;"
            " TLS is set with the REDIS_TLS_* variables"
        )
    return options


def _db(value: str) -> int:
    if not value.isdigit():
        raise RedisUrlError(f"the database must be a number (/0, /1, ...); {ENCODING_HINT}")
    return int(value)
