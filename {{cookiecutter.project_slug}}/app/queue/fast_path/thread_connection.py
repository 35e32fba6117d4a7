"""A Redis connection held by each thread, for the one command a ``push`` sends and the worker's
script calls."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.commands.core import Script
from redis.connection import AbstractConnection
from redis.exceptions import RedisError


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
        """``script``'s reply, sent as EVALSHA on this thread's connection. On any Redis error (a
        dropped connection, a script Redis no longer knows after a restart, a timeout) it is
        sent again through the script's own client, whose retry policy decides: the same risk of
        running twice after a lost reply as that policy's retries."""
        try:
            return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisError:
            return script(keys=keys, args=args)

    def _connection(self) -> AbstractConnection:
        """This thread's connection, made with the pool's class and settings (TLS, Sentinel) but
        outside its count: the pool caps the connections it makes (``max_connections``, 100 by
        default) and counts one back only when it is given back, so held connections, and each
        one remade after an error, would use up the client's own cap."""
        held = getattr(self._local, "connection", None)
        if held is None or held[1] != os.getpid():
            pool = self._pool
            held = (pool.connection_class(**pool.connection_kwargs), os.getpid())
            self._local.connection = held
        return held[0]
