"""Lua scripts registered once per Redis client.

redis-py's ``Script`` sends the SHA1 (``EVALSHA``) and loads the source again after a
``NOSCRIPT`` (a restarted or failed-over Redis), so one object per client and source serves every
call.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from redis import Redis
from redis.commands.core import Script

_registered: WeakKeyDictionary[Redis, dict[str, Script]] = WeakKeyDictionary()


def registered(connection: Redis, source: str) -> Script:
    """The ``Script`` for ``source`` on ``connection``, registered on first use."""
    scripts = _registered.setdefault(connection, {})
    if source not in scripts:
        scripts[source] = connection.register_script(source)
    return scripts[source]
