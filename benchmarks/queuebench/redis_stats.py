"""What the benchmark's redis-server reports about itself: commands run, CPU time, memory."""

from __future__ import annotations

import time
from collections import Counter

from redis import Redis

# CONFIG RESETSTAT counts itself once; INFO is counted only after its reply is built.
OWN_COMMANDS = Counter({"config|resetstat": 1})


def reset_command_stats(redis: Redis) -> None:
    """``CONFIG RESETSTAT``: zero the server's per-command call counters and network bytes."""
    redis.config_resetstat()


def command_calls(redis: Redis) -> Counter[str]:
    """Calls per command since the last reset (``INFO commandstats``), without the reset itself.

    Redis counts the commands a Lua script runs as well as the EVALSHA that ran it.
    """
    stats = redis.info("commandstats")
    calls = Counter(
        {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    )
    return calls - OWN_COMMANDS


def network_bytes(redis: Redis) -> int:
    """Bytes Redis read from and wrote to its clients since the last reset (``INFO stats``)."""
    stats = redis.info("stats")
    return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


def cpu_seconds(redis: Redis) -> float:
    """User plus system CPU time the server has used (``INFO cpu``, from getrusage: microseconds,
    all of its threads)."""
    cpu = redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def used_memory(redis: Redis, clients: int = 1, timeout: float = 10.0) -> int:
    """``used_memory`` from ``INFO memory``, in bytes, once at most ``clients`` are connected.

    A process that just exited may still hold connections Redis has not closed yet, with their
    buffers; waiting for them keeps those buffers out of the figure.
    """
    deadline = time.monotonic() + timeout
    while int(redis.info("clients")["connected_clients"]) > clients:
        if time.monotonic() > deadline:
            raise RuntimeError(f"more than {clients} clients still connected after {timeout} s")
        time.sleep(0.01)
    return int(redis.info("memory")["used_memory"])
