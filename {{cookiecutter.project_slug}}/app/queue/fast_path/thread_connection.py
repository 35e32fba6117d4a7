"""A Redis connection held by each thread, for the one command a ``push`` sends and the worker's
script calls."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

NO_RETRY = Retry(NoBackoff(), 0)


class ThreadConnection:
    """Send a command on a connection this thread keeps between calls.

    redis-py's client takes a connection from its pool, wraps the command in its retry policy and
    returns the connection for every command, which costs as much Python time as a loopback round
    trip. A push, and a worker's script call, need none of that when the connection works, so
    each keeps one per thread (and per process, after a fork). Any error drops the connection
    and is raised: the caller then goes through the regular client, whose retries and timeouts
    decide.
    """

    def __init__(self, client: Redis) -> None:
        self._pool = client.connection_pool
        self._local = threading.local()

    def execute(self, *command: Any) -> Any:
        connection = self._connection()
        try:
            connection.send_command(*command)
            return connection.read_response()
        except BaseException:
            connection.disconnect()
            self._local.connection = None
            raise

    def execute_all(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` together and read every reply (one round trip)."""
        connection = self._connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            return [connection.read_response() for _ in commands]
        except BaseException:
            connection.disconnect()
            self._local.connection = None
            raise

    def run_script(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """``script``'s reply, sent as EVALSHA on this thread's connection. After a script Redis
        no longer knows (a restart), a dropped connection or a timeout, it is sent again
        through the script's own client, whose retry policy decides: the same risk of running
        twice after a lost reply as that policy's retries. Any other error (the script's own)
        is raised, as the client raises it."""
        try:
            return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except (NoScriptError, RedisConnectionError, RedisTimeoutError):
            return script(keys=keys, args=args)

    def _connection(self) -> AbstractConnection:
        """This thread's connection, made with the pool's class and settings (TLS, Sentinel) but
        outside its count: the pool caps the connections it makes (``max_connections``, 100 by
        default) and counts one back only when it is given back, so held connections, and each
        one remade after an error, would use up the client's own cap."""
        held = getattr(self._local, "connection", None)
        if held is None or held[1] != os.getpid():
            pool = self._pool
            options = {**pool.connection_kwargs, "retry": NO_RETRY}  # the client's call retries
            held = (pool.connection_class(**options), os.getpid())
            self._local.connection = held
        return held[0]
