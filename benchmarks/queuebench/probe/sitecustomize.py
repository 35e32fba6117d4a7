"""Counts a process's Redis round trips (loaded by Python at start-up when on PYTHONPATH).

The redis_cost part puts this directory first on the PYTHONPATH of the processes it measures
and sets ``ROUNDTRIP_DIR``. Every write redis-py makes to a socket (one command, or a whole
pipeline or MULTI/EXEC block) is one round trip, recorded with the names of the commands in it
(a script call as ``EVALSHA <sha1>``) and the thread that sent it; ``mark()`` (called by the
benchmark's job) records a job boundary. At exit the list is written to
``ROUNDTRIP_DIR/<pid>.json``. Without ``ROUNDTRIP_DIR`` nothing is changed.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from pathlib import Path
from typing import Any

EVENTS: list[tuple[str, list[str]]] = []
LOCK = threading.Lock()


def mark() -> None:
    """Record that a job's function ran (the boundary between its start and its finish)."""
    with LOCK:
        EVENTS.append(("MARK", []))


def _name(words: Any) -> str:
    """A command's name; a script call's with the script's sha1 (``EVALSHA <sha1>``)."""
    name = _text(words[0]).upper()
    return f"{name} {_text(words[1])}" if name == "EVALSHA" and len(words) > 1 else name


def _text(word: Any) -> str:
    return word.decode() if isinstance(word, bytes) else str(word)


def _install(directory: Path) -> None:
    from redis.connection import AbstractConnection

    send_command = AbstractConnection.send_command
    pack_commands = AbstractConnection.pack_commands
    send_packed_command = AbstractConnection.send_packed_command

    def counting_send_command(self: Any, *args: Any, **kwargs: Any) -> None:
        self._roundtrip_names = [_name(args)] if args else []
        send_command(self, *args, **kwargs)

    def counting_pack_commands(self: Any, commands: Any) -> Any:
        self._roundtrip_names = [_name(command) for command in commands]
        return pack_commands(self, commands)

    def counting_send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
        names = getattr(self, "_roundtrip_names", None) or ["?"]
        self._roundtrip_names = []
        with LOCK:
            EVENTS.append((threading.current_thread().name, names))
        send_packed_command(self, command, check_health)

    AbstractConnection.send_command = counting_send_command  # type: ignore[method-assign]
    AbstractConnection.pack_commands = counting_pack_commands  # type: ignore[method-assign]
    AbstractConnection.send_packed_command = counting_send_packed_command  # type: ignore[method-assign]

    def dump() -> None:
        with LOCK:
            (directory / f"{os.getpid()}.json").write_text(json.dumps(EVENTS))

    atexit.register(dump)


if os.environ.get("ROUNDTRIP_DIR"):
    _install(Path(os.environ["ROUNDTRIP_DIR"]))
