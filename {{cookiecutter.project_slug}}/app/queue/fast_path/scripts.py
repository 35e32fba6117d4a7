"""Every Lua script of the fast path, each with its KEYS and ARGV written out.

A script runs atomically inside Redis and answers once, however many commands it sends: that is
how the fast path saves round trips. RQ's own scripts live in ``rq/scripts.py``; these are ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.client import Pipeline
    from redis.commands.core import Script

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


def run_as_script(script: Script, pipeline: Pipeline) -> Any:
    """Send the commands queued on ``pipeline`` (not executed) as one call of ``script``; return
    the last command's reply.

    ``script`` is ``RUN_COMMANDS`` registered on the pipeline's client. This reads redis-py's
    ``Pipeline.command_stack``, one of the internals the fast path is verified against.
    """
    words: list[Any] = []
    for arguments, _options in pipeline.command_stack:
        words.append(len(arguments))
        words.extend(arguments)
    pipeline.reset()
    return script(args=words)
