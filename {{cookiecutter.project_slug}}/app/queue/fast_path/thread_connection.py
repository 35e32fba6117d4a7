"""A Redis connection held by each thread, for the one command a ``push`` sends."""

from __future__ import annotations

import os
import threading
from typing import Any

from redis import Redis
from redis.connection import AbstractConnection


class ThreadConnection:
    """Send a command on a connection this thread keeps between calls.

    redis-py's client takes a connection from its pool, wraps the command in its retry policy and
    returns the connection for every command, which costs as much Python time as a loopback round
    trip. A push needs none of that when the connection works, so it keeps one per thread (and
    per process, after a fork). Any error drops the connection and is raised: the caller then
    goes through the regular client, whose retries and timeouts decide.
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

    def _connection(self) -> AbstractConnection:
        held = getattr(self._local, "connection", None)
        if held is None or held[1] != os.getpid():
            held = (self._pool.make_connection(), os.getpid())
            self._local.connection = held
        return held[0]
