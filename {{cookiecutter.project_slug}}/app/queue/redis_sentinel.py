"""Sentinel pieces for ``redis_clients.py``: connections that follow a failover, and a "no
master" error that tells unreachable Sentinels from a master they do not report."""

from __future__ import annotations

from typing import Any

from redis.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelManagedConnection


class MasterUnavailable(MasterNotFoundError):
    """No Sentinel reported the master up; says how many Sentinels answered at all."""

    def __init__(self, name: str, answered: int, unreachable: list[str]) -> None:
        detail = f"; {unreachable[0]}" if unreachable else ""
        super().__init__(f"no master {name!r} up, {answered} Sentinel(s) answered{detail}")
        self.answered = answered


class ProjectSentinel(Sentinel):
    """redis-py's ``Sentinel`` whose "no master" error tells unreachable Sentinels from a master
    they do not report (an unknown name, or a failover in progress)."""

    def discover_master(self, service_name: str) -> tuple[str, int]:
        unreachable: list[str] = []
        for index, sentinel in enumerate(self.sentinels):
            try:
                masters = sentinel.sentinel_masters()
            except (RedisConnectionError, RedisTimeoutError) as error:
                options = sentinel.connection_pool.connection_kwargs
                unreachable.append(f"{options.get('host')}:{options.get('port')}: {error}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                self.sentinels[0], self.sentinels[index] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
        answered = len(self.sentinels) - len(unreachable)
        raise MasterUnavailable(service_name, answered, unreachable)


class FollowingConnection(SentinelManagedConnection):
    """A master connection that follows a failover, and is never reused half-read.

    Two fixes to redis-py's ``SentinelManagedConnection`` (found with real failovers, see the
    template's tests/test_sentinel.py):

    - redis-py 8 reconnects a dropped connection inside a command's retries through
      ``connect_check_health``, which keeps the address the connection had: after a failover
      every retry went to the dead master until the retries ran out. Here a reconnect resolves
      the master first.
    - its ``read_response`` does not disconnect when a read is interrupted (a plain connection
      does): a worker's warm shutdown, which interrupts the blocking BLMOVE, put the connection
      back in the pool with BLMOVE's answer still due, and the next command on it waited for
      that answer. Here an interrupted read disconnects, as on a plain connection.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("disconnect_on_error", True)
        return super().read_response(*args, **kwargs)

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if self._sock is None and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )


class FollowingSSLConnection(FollowingConnection, SSLConnection):
    """``FollowingConnection`` over TLS."""
