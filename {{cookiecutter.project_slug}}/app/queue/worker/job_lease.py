"""The running job's lease: its entry in RQ's started registry, renewed only while still held.

RQ's maintenance treats a started entry whose score (expiry time) has passed as abandoned: it
retries the job elsewhere or records it as failed. A worker that was silent that long (SIGSTOP, a
paused VM, a C extension holding the GIL) has lost the job, even if maintenance has not run yet:
so a renewal succeeds only while the entry exists *and* has not expired, and the worker records a
job's outcome only after such a renewal (fencing). A run that lost its lease writes nothing.
"""

from __future__ import annotations

import time

from redis import Redis
from rq.executions import Execution
from rq.job import Job

# Renew an execution's entry in the started registry, only while it is held.
#   KEYS[1]  the started registry, ``rq:wip:<queue>`` (a sorted set scored by expiry time)
#   ARGV[1]  the member, ``<job id>:<execution id>``
#   ARGV[2]  now, in seconds since the epoch (the worker's clock, as RQ scores with it)
#   ARGV[3]  the new expiry time
# Returns 1 when renewed, 0 when the entry is gone or has expired (the lease is lost).
RENEW_IF_HELD = """
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then
  return 0
end
if expiry ~= 'inf' and tonumber(expiry) <= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""


class JobLease:
    """One execution's hold on its job; ``renew`` fails for good once the lease has lapsed."""

    def __init__(self, connection: Redis, job: Job, execution: Execution) -> None:
        self._script = connection.register_script(RENEW_IF_HELD)
        self._registry_key = job.started_job_registry.key
        self._member = execution.composite_key
        self.renewed_at = time.monotonic()
        self.lost = False

    def renew(self, ttl: int) -> bool:
        """Extend the lease by ``ttl`` seconds if it is still held; False once it is lost."""
        if self.lost:
            return False
        now = time.time()
        held = self._script(keys=[self._registry_key], args=[self._member, now, now + ttl])
        if held:
            self.renewed_at = time.monotonic()
        else:
            self.lost = True
        return bool(held)

    def silent_for(self) -> float:
        """Seconds since the last successful renewal (or the start)."""
        return time.monotonic() - self.renewed_at
