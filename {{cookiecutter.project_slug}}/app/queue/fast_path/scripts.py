"""Every Lua script of the fast path, each with its KEYS and ARGV written out.

A script runs atomically inside Redis and answers once, however many commands it sends: that is
how the fast path saves round trips. RQ's own scripts live in ``rq/scripts.py``; these are ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.client import Pipeline
    from redis.commands.core import Script

    from app.queue.fast_path.thread_connection import ThreadConnection

# Write RQ jobs (``lean_enqueue.py``): a job hash per job, its id pushed onto the queue.
#   KEYS[1]  the queue's list, ``rq:queue:<name>``
#   KEYS[2]  the set of queues, ``rq:queues``
#   ARGV[1]  a JSON header shared by every job with the same options:
#            [job key prefix, [field, value, ...] every job shares, [name of each per-job field]]
#   ARGV[2:] per job: its id, then one value per per-job field, in the header's order
# A job whose hash already exists is skipped, so sending the same call twice (a retry after a
# lost reply) queues it once. Returns 1.
ENQUEUE_JOBS = """
local header = cjson.decode(ARGV[1])
local prefix, shared, names = header[1], header[2], header[3]
local width = #names
local position = 2
while position <= #ARGV do
  local id = ARGV[position]
  local fields = {unpack(shared)}
  for index = 1, width do
    fields[#fields + 1] = names[index]
    fields[#fields + 1] = ARGV[position + index]
  end
  if redis.call('EXISTS', prefix .. id) == 0 then
    redis.call('HSET', prefix .. id, unpack(fields))
    redis.call('RPUSH', KEYS[1], id)
  end
  position = position + width + 1
end
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""

# Run a pipeline's queued commands (``run_as_script``): as atomic as MULTI/EXEC, but Redis
# answers once instead of once per command.
#   KEYS     none (the commands name their keys; Redis Cluster is not supported by this script)
#   ARGV     a flat list: a count n, then a command of n words, then the next count, and so on
# Returns the last command's reply.
RUN_COMMANDS = """
local i = 1
local reply
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  reply = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return reply
"""

# Record a job's success (``FewerRoundTrips.handle_job_success``): RQ's success writes (a
# pipeline's queued commands, as RUN_COMMANDS), only while the run still holds its job, and
# unless the job has dependents. RQ renews the lease first (``job_lease.py``'s fencing), reads the
# dependents under WATCH, then sends MULTI/EXEC: four round trips; in one script the checks and
# the writes cannot be split.
#   KEYS[1]  the job's dependents ``rq:job:<id>:dependents``
#   KEYS[2]  the started registry ``rq:wip:<queue>``        KEYS[3] the job's hash
#   ARGV[1]  the run's entry in the registry ``<job id>:<execution id>``; empty: not fenced
#   ARGV[2]  now, in seconds
#   ARGV[3:] the commands, as RUN_COMMANDS's ARGV
# Returns 1 once written. Without writing anything: 0 when the job has dependents (RQ's own
# transaction moves them), 2 when the run lost its job (its entry expired, or went while the job
# was neither cancelled nor stopped, which leave the run its outcome: RENEW_IF_HELD's rules).
# (As a function: its ARGV starts at ``first``, so RECORD_SUCCESS_AND_TAKE can put it second.)
_RECORD_SUCCESS_FUNCTION = """
local function record_success(dependents, started, job, first)
  if redis.call('SCARD', dependents) > 0 then
    return 0
  end
  local member = ARGV[first]
  if member ~= '' then
    local expiry = redis.call('ZSCORE', started, member)
    if expiry then
      if expiry ~= 'inf' and tonumber(expiry) <= tonumber(ARGV[first + 1]) then
        return 2
      end
    else
      local status = redis.call('HGET', job, 'status')
      if status ~= 'canceled' and status ~= 'stopped' then
        return 2
      end
    end
  end
  local i = first + 2
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    redis.call(unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
  return 1
end
"""
RECORD_SUCCESS = _RECORD_SUCCESS_FUNCTION + "return record_success(KEYS[1], KEYS[2], KEYS[3], 1)"
WRITTEN, HAS_DEPENDENTS, LOST_JOB = 1, 0, 2


# Take the next job and start it (``FewerRoundTrips.take_next_job``): what RQ's dequeue (LMOVE,
# HGETALL) and ``prepare_execution``'s script write, in one call, for a job whose id only Redis
# knows until then. It never blocks: RQ's blocking dequeue waits when every queue is empty.
#   KEYS     the worker's queue lists ``rq:queue:<name>`` in its dequeue order, then, in the same
#            order, their started registries ``rq:wip:<name>``
#   ARGV[1]  the job key prefix ``rq:job:``     ARGV[2] the execution key prefix ``rq:execution:``
#   ARGV[3]  the execution registry prefix ``rq:executions:``
#   ARGV[4]  the new execution's id             ARGV[5] the worker's name
#   ARGV[6]  the worker's key ``rq:worker:<name>``, ARGV[7] its executions ``...:executions``
#   ARGV[8]  now in whole seconds (registry scores), ARGV[9] as a float (the execution's times),
#            ARGV[10] in ISO 8601 (the job's and the worker's)
#   ARGV[11] the job heartbeat interval, ARGV[12] its grace beats, ARGV[13] the worker's idle TTL
# The heartbeat TTL is ``QueueWorker.get_heartbeat_ttl``'s: one interval (less when the job's
# timeout is shorter) plus the grace beats. A popped id whose job hash is gone is dropped, as RQ
# drops it. Returns nil when every list is empty, else {the queue's position (from 1), the job
# id, the attempt, the job hash as RQ's dequeue reads it (before the start) as a flat list}.
# (As a function: its KEYS start at ``first_key``, so RECORD_SUCCESS_AND_TAKE can put them second.)
_TAKE_AND_START_FUNCTION = """
local function take_and_start(first_key)
  local K = {unpack(KEYS, first_key, #KEYS)}
  local lists = #K / 2
  for position = 1, lists do
    local id = redis.call('LPOP', K[position])
    while id do
      local job = ARGV[1] .. id
      local fields = redis.call('HGETALL', job)
      if #fields > 0 then
        local interval = tonumber(ARGV[11])
        local timeout = tonumber(redis.call('HGET', job, 'timeout'))
        local beat = interval
        if timeout and timeout > 0 then
          beat = math.min(timeout, interval)
        end
        local ttl = math.floor(math.max(beat, 0)) + tonumber(ARGV[12]) * interval
        local member = id .. ':' .. ARGV[4]
        local execution, executions = ARGV[2] .. member, ARGV[3] .. id
        local now = tonumber(ARGV[8])
        redis.call('HSET', execution, 'id', ARGV[4], 'job_id', id, 'created_at', ARGV[9],
          'last_heartbeat', ARGV[9], 'worker_name', ARGV[5])
        redis.call('EXPIRE', execution, ttl)
        redis.call('ZADD', executions, now + ttl + 60, ARGV[4])
        redis.call('EXPIRE', executions, ttl + 60)
        redis.call('ZADD', K[lists + position], now + ttl, member)
        redis.call('SADD', ARGV[7], member)
        redis.call('EXPIRE', ARGV[7], ttl + 60)
        redis.call('HSET', ARGV[6], 'state', 'busy')
        local registration = math.max(ttl, tonumber(ARGV[13]))
        redis.call('HSET', ARGV[6], 'last_heartbeat', ARGV[10])
        redis.call('EXPIRE', ARGV[6], registration)
        redis.call('EXPIRE', ARGV[7], registration)
        redis.call('HSET', job, 'last_heartbeat', ARGV[10], 'status', 'started',
          'started_at', ARGV[10], 'worker_name', ARGV[5])
        redis.call('PERSIST', job)
        local attempt = redis.call('HINCRBY', job, 'attempt', 1)
        return {position, id, attempt, fields}
      end
      id = redis.call('LPOP', K[position])
    end
  end
  return false
end
"""
TAKE_AND_START = _TAKE_AND_START_FUNCTION + "return take_and_start(1)"
TAKE_ARGUMENTS = 13

# Record a job's success and, once written, take the next job (``ThreadedJobs``: the job's
# thread runs that one next). One call where RECORD_SUCCESS and TAKE_AND_START take two.
#   KEYS[1:3] RECORD_SUCCESS's,  KEYS[4:] TAKE_AND_START's
#   ARGV[1:13] TAKE_AND_START's, ARGV[14:] RECORD_SUCCESS's
# Returns {RECORD_SUCCESS's reply, TAKE_AND_START's reply (nil: nothing taken)}; nothing is
# taken unless the success was written.
RECORD_SUCCESS_AND_TAKE = (
    _RECORD_SUCCESS_FUNCTION
    + _TAKE_AND_START_FUNCTION
    + f"""
local state = record_success(KEYS[1], KEYS[2], KEYS[3], {TAKE_ARGUMENTS + 1})
if state ~= 1 then
  return {{state, false}}
end
return {{state, take_and_start(4)}}
"""
)


def run_as_script(
    script: Script,
    pipeline: Pipeline,
    keys: Sequence[str] = (),
    leading: Sequence[Any] = (),
    connection: ThreadConnection | None = None,
) -> Any:
    """Send the commands queued on ``pipeline`` (not executed) as one call of ``script``, with
    ``keys``, and ``leading`` before the commands in ARGV; return the script's reply. With
    ``connection``, the call goes on the calling thread's own connection.

    ``script`` is ``RUN_COMMANDS`` or a ``RECORD_SUCCESS``, registered on the pipeline's client.
    This reads redis-py's ``Pipeline.command_stack``, one of the internals the fast path is
    verified against.
    """
    words: list[Any] = list(leading)
    for arguments, _options in pipeline.command_stack:
        words.append(len(arguments))
        words.extend(arguments)
    pipeline.reset()
    if connection is not None:
        return connection.run_script(script, keys, words)
    return script(keys=keys, args=words)
