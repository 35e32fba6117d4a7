"""The running job's lease: its entry in RQ's started registry, renewed only while still held.

RQ's maintenance treats a started entry whose score (expiry time) has passed as abandoned: it
retries the job elsewhere or records it as failed. A worker that was silent that long (SIGSTOP, a
paused VM, a C extension holding the GIL) has lost the job, even if maintenance has not run yet:
so a renewal succeeds only while the entry exists *and* has not expired, and the worker records a
job's outcome only after such a renewal (fencing). A run that lost its lease writes nothing.

An entry can also go because someone cancelled or stopped the job (``rq cancel``): nobody else
runs it then, so the run keeps its outcome, as RQ records it.
"""

from __future__ import annotations

import time

from redis import Redis
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry

from app.queue.registered_scripts import registered

# Renew an execution's entry in the started registry, only while it is held.
#   KEYS[1]  the started registry, ``rq:wip:<queue>`` (a sorted set scored by expiry time)
#   KEYS[2]  the job's hash, ``rq:job:<id>``
#   ARGV[1]  the member, ``<job id>:<execution id>``
#   ARGV[2]  now, in seconds since the epoch (the worker's clock, as RQ scores with it)
#   ARGV[3]  the new expiry time
# Returns 1 when renewed (HELD), 0 when the entry expired or went because maintenance handed the
# job on (LOST), 2 when it went because the job was cancelled or stopped (RELEASED).
RENEW_IF_HELD = """
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then
  local status = redis.call('HGET', KEYS[2], 'status')
  if status == 'canceled' or status == 'stopped' then
    return 2
  end
  return 0
end
if expiry ~= 'inf' and tonumber(expiry) <= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""
LOST, HELD, RELEASED = 0, 1, 2


class JobLease:
    """One execution's hold on its job; ``renew`` fails for good once the lease has lapsed."""

    def __init__(self, connection: Redis, job: Job, execution: Execution) -> None:
        self._script = registered(connection, RENEW_IF_HELD)
        # ``job.started_job_registry``'s key, without building the registry for each job.
        self.registry_key = StartedJobRegistry.key_template.format(job.origin)
        self.member = execution.composite_key  # the run's entry in the started registry
        self._keys = [self.registry_key, job.key]
        self.renewed_at = time.monotonic()
        self.lost = False

    def renew(self, ttl: int) -> bool:
        """Extend the lease by ``ttl`` seconds if it is still held; False once it is lost.

        A job cancelled or stopped while running is no longer renewed, but it is not lost: no
        other worker runs it, so this run may still record its outcome (``lost`` stays False).
        """
        if self.lost:
            return False
        now = time.time()
        state = self._script(keys=self._keys, args=[self.member, now, now + ttl])
        if state == HELD:
            self.renewed_at = time.monotonic()
            return True
        self.lost = state == LOST
        return False

    def silent_for(self) -> float:
        """Seconds since the last successful renewal (or the start)."""
        return time.monotonic() - self.renewed_at
