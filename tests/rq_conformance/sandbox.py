"""Run a command in private namespaces with its own ``redis-server`` on port 6379 and own /tmp.

RQ's tests connect to Redis at the default ``localhost:6379`` and write fixed paths such as
``/tmp/rq_shutdown/``. ``unshare`` (util-linux) makes, without privileges where user namespaces
are allowed, a network namespace (6379 there belongs to us alone: a Redis the user runs on 6379
is never touched), a mount namespace (a private /tmp, so sessions running at the same time do not
collide and nothing is left in the real /tmp) and a PID namespace (when the command ends, every
process it left behind ends with it). Inside, ``python sandbox.py --redis-dir DIR --tmp DIR
[--keep PATH]... -- COMMAND...`` sets them up, starts ``redis-server`` and runs the command.
Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()
PROBE = "--probe"  # set the namespaces up and exit: proves they can be made here
REDIS_PORT = 6379
TMP = Path("/tmp")
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sh22x"  # struct ifreq: the interface name, then ifr_flags, padded to 40 bytes
MS_BIND = 0x1000
MS_REC = 0x4000


class SandboxUnavailable(RuntimeError):
    """The namespaces cannot be made, or redis-server is missing."""


def check_available() -> None:
    """Raise SandboxUnavailable with the reason when this machine cannot run a sandbox."""
    if shutil.which("unshare") is None:
        raise SandboxUnavailable("the unshare command (util-linux) is not installed")
    if shutil.which("redis-server") is None:
        raise SandboxUnavailable(
            "redis-server is not installed (Debian: apt-get install redis-server)"
        )
    with tempfile.TemporaryDirectory() as directory:
        command = namespace_command([sys.executable, str(SCRIPT), PROBE, directory])
        probe = subprocess.run(command, capture_output=True, text=True)
    if probe.returncode != 0:
        reason = probe.stderr.strip() or f"exit status {probe.returncode}"
        raise SandboxUnavailable(f"cannot create namespaces with unshare: {reason}")


def namespace_command(command: list[str]) -> list[str]:
    """``command`` as mapped root in new user, network, mount and PID namespaces."""
    namespaces = ["--map-root-user", "--net", "--mount", "--pid", "--fork", "--mount-proc"]
    return ["unshare", *namespaces, *command]


def sandboxed(redis_dir: Path, tmp: Path, keep: list[Path], command: list[str]) -> list[str]:
    """The full command line: ``command`` with a private Redis on 6379 and ``tmp`` as /tmp.

    ``keep``: paths the command needs; those under /tmp stay reachable at the same place.
    """
    inner = [sys.executable, str(SCRIPT), "--redis-dir", str(redis_dir), "--tmp", str(tmp)]
    for path in keep:
        inner += ["--keep", str(path)]
    return namespace_command([*inner, "--", *command])


def bring_loopback_up() -> None:
    """``ip link set lo up`` without iproute2: a new namespace's loopback starts down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        current = fcntl.ioctl(probe, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0))
        flags = struct.unpack(IFREQ, current)[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def bind_mount(source: Path, target: Path, recursive: bool = False) -> None:
    """``mount --bind source target`` (``--rbind`` when recursive), in this mount namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    flags = MS_BIND | (MS_REC if recursive else 0)
    if libc.mount(bytes(source), bytes(target), None, flags, None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"bind mount {source} on {target}: {os.strerror(error)}")


def private_tmp(directory: Path, keep: list[Path]) -> None:
    """Put ``directory`` on /tmp; each ``keep`` path under /tmp is bound back at its place."""
    directory.mkdir(parents=True, exist_ok=True)
    kept = sorted({path.resolve() for path in keep if path.resolve().is_relative_to(TMP)})
    for path in kept:
        if any(path != other and path.is_relative_to(other) for other in kept):
            continue  # inside another kept path, which brings it along
        target = directory / path.relative_to(TMP)
        target.mkdir(parents=True, exist_ok=True)
        bind_mount(path, target)
    bind_mount(directory, TMP, recursive=True)


def start_redis(directory: Path, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """A throwaway redis-server on 127.0.0.1:6379 (no persistence); waits until it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    log = (directory / "redis.log").open("wb")
    command = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
    command += ["--dir", str(directory), "--save", "", "--appendonly", "no", "--daemonize", "no"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SandboxUnavailable(f"redis-server exited early; see {directory / 'redis.log'}")
        if answers_ping():
            return server
        time.sleep(0.05)
    stop(server)
    raise SandboxUnavailable(f"redis-server did not answer PING within {timeout} s")


def answers_ping() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=0.5) as connection:
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server we started, SIGKILL after 10 s."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def probe(directory: Path) -> int:
    """What a session does before its command, with a throwaway ``directory``."""
    bring_loopback_up()
    private_tmp(directory / "tmp", keep=[directory])
    return 0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run inside the namespaces (see the module).")
    parser.add_argument("--redis-dir", type=Path, required=True)
    parser.add_argument("--tmp", type=Path, required=True, help="the directory to use as /tmp")
    parser.add_argument("--keep", type=Path, action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    arguments = parser.parse_args(argv)
    if arguments.command[:1] == ["--"]:
        arguments.command = arguments.command[1:]
    if not arguments.command:
        parser.error("no command given after --")
    return arguments


def main(argv: list[str]) -> int:
    """Inside the namespaces: returns the command's exit status (128 + N when signal N killed
    it, as a shell reports it)."""
    if argv[:1] == [PROBE] and len(argv) == 2:
        return probe(Path(argv[1]))
    arguments = parse_arguments(argv)
    bring_loopback_up()
    private_tmp(arguments.tmp, [*arguments.keep, arguments.redis_dir])
    server = start_redis(arguments.redis_dir)
    try:
        status = subprocess.call(arguments.command)
        return 128 - status if status < 0 else status
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
