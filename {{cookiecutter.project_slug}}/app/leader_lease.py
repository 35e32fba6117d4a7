"""A lease in Redis that at most one process holds at a time: scheduler leader election."""

from __future__ import annotations

import logging
import uuid

from redis import Redis

from app.queue.redis_outage import RedisOutage

RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLease:
    """Held by one owner until released or until ``ttl_seconds`` pass without a renewal.

    Call ``hold()`` at least every ``ttl_seconds / 3``: it takes the lease when free, renews it
    when ours, and answers whether we hold it now. When Redis cannot be reached the answer is
    False: a process that cannot prove it leads must not act as leader. An outage is logged
    once when it starts and once when Redis answers again.
    """

    def __init__(
        self, client: Redis, key: str, ttl_seconds: float, log: logging.Logger, address: str
    ) -> None:
        self._client = client
        self._key = key
        self._ttl_ms = int(ttl_seconds * 1000)
        self._token = uuid.uuid4().hex
        self._log = log
        self._renew = client.register_script(RENEW_IF_OWNER)
        self._release = client.register_script(RELEASE_IF_OWNER)
        self._outage = RedisOutage(address, log)
        self.held = False

    def hold(self) -> bool:
        was_held = self.held
        try:
            if was_held:
                self.held = bool(self._renew(keys=[self._key], args=[self._token, self._ttl_ms]))
            else:
                self.held = bool(self._client.set(self._key, self._token, nx=True, px=self._ttl_ms))
            self._outage.answered()
        except Exception as error:
            self.held = False
            self._outage.lost(error)
        if self.held != was_held:
            event = "Leader lease acquired" if self.held else "Leader lease lost"
            self._log.info(event, extra={"lease": self._key})
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        try:
            self._release(keys=[self._key], args=[self._token])
        except Exception as error:
            self._log.warning("Leader lease not released: %s", error, extra={"lease": self._key})
        self.held = False
