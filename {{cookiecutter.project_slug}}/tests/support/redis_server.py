"""Start a private ``redis-server`` on a free loopback port for one test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


class RedisUnavailable(RuntimeError):
    """The ``redis-server`` binary is missing or the server would not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_or_skip(server: RedisServer) -> RedisServer:
    """Start ``server`` for a test: skipped without redis-server, except in CI, where it fails."""
    try:
        return server.start()
    except RedisUnavailable as error:
        if running_in_ci():
            pytest.fail(f"Redis is required in CI: {error}")
        pytest.skip(f"Redis integration tests need redis-server: {error}")


def running_in_ci() -> bool:
    """True where a missing service must fail the run instead of skipping tests."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass
class RedisServer:
    """A ``redis-server`` process we started, stopped by its PID and nothing else."""

    directory: Path
    password: str | None = None
    appendonly: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def environment(self) -> dict[str, str]:
        """The variables an application needs to use this server (a blank password too: the
        one generation wrote into .env is not this server's)."""
        return {
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.port),
            "REDIS_DB": "0",
            "REDIS_PASSWORD": self.password or "",
        }

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--daemonize",
            "no",
        ]
        if self.password:
            command += ["--requirepass", self.password]
        log = (self.directory / "redis.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_answering(timeout)
        return self

    def stop(self) -> None:
        """Stop the server we started (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start(timeout)

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RedisUnavailable(
                    f"redis-server exited early; see {self.directory / 'redis.log'}"
                )
            if self._answers_ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer PING within {timeout} s")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                if self.password:
                    connection.sendall(_command("AUTH", self.password))
                    connection.recv(64)
                connection.sendall(_command("PING"))
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _command(*words: str) -> bytes:
    """Encode one command in RESP, the protocol Redis speaks."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
