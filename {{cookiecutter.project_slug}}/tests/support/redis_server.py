"""Start a private ``redis-server`` on a free loopback port for one test session.

With ``tls`` it listens on TLS only (``--port 0 --tls-port N``), verifying clients against the
test CA when ``tls_auth_clients`` is on.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

if TYPE_CHECKING:  # the template's own tests load this file alone, by path
    from tests.support.certificates import Certificates


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
        skip_unless_ci(f"Redis integration tests need redis-server: {error}")
        raise


def skip_unless_ci(reason: str) -> None:
    """Skip the test for ``reason``; under CI, where every tool must be installed, fail it."""
    if running_in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def running_in_ci() -> bool:
    """True where a missing service must fail the run instead of skipping tests."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def redis_server_binary() -> str:
    """The path of ``redis-server``; RedisUnavailable when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(
            "redis-server is not installed (Debian: apt-get install redis-server)"
        )
    return binary


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 10) -> None:
    """Stop a process we started (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answering(
    process: subprocess.Popen[bytes], answers: Callable[[], bool], timeout: float
) -> bool:
    """Poll ``answers`` until it is true (True), ``process`` exits or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if answers():
            return True
        time.sleep(0.05)
    return False


@dataclass
class RedisServer:
    """A ``redis-server`` process we started, stopped by its PID and nothing else."""

    directory: Path
    password: str | None = None
    appendonly: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tls: Certificates | None = None
    tls_auth_clients: bool = False
    extra_arguments: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """``redis://`` (or ``rediss://``) with the password percent-encoded."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def environment(self) -> dict[str, str]:
        """The variables an application needs to use this server (a blank password too: the
        one generation wrote into .env is not this server's)."""
        environment = {
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.port),
            "REDIS_DB": "0",
            "REDIS_PASSWORD": self.password or "",
        }
        if self.tls is not None:
            environment.update(REDIS_TLS="true", REDIS_TLS_CA_FILE=str(self.tls.ca))
            if self.tls_auth_clients:
                environment.update(
                    REDIS_TLS_CERT_FILE=str(self.tls.client_cert),
                    REDIS_TLS_KEY_FILE=str(self.tls.client_key),
                )
        return environment

    def client_options(self) -> dict[str, object]:
        """redis-py keyword arguments for a test's own client of this server."""
        options: dict[str, object] = {"password": self.password}
        if self.tls is not None:
            options.update(ssl_ca_certs=str(self.tls.ca), ssl_certfile=str(self.tls.client_cert))
            options.update(ssl_keyfile=str(self.tls.client_key))
        return options

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = redis_server_binary()
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
        if self.tls is not None:
            command[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            command += [
                "--tls-cert-file", str(self.tls.server_cert),
                "--tls-key-file", str(self.tls.server_key),
                "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "yes" if self.tls_auth_clients else "no",
            ]  # fmt: skip
        command += self.extra_arguments
        log = (self.directory / "redis.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if wait_until_answering(self.process, self._answers_ping, timeout):
            return self
        if self.process.poll() is not None:
            raise RedisUnavailable(self._early_exit_reason())
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer PING within {timeout} s")

    def stop(self) -> None:
        """Stop the server we started (SIGTERM, then SIGKILL after 10 s)."""
        stop_process(self.process)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start(timeout)

    def _early_exit_reason(self) -> str:
        log = self.directory / "redis.log"
        text = log.read_text(errors="replace") if log.is_file() else ""
        if self.tls is not None and "tls" in text.lower():
            return f"this redis-server cannot serve TLS (built without it?); see {log}"
        return f"redis-server exited early; see {log}"

    def _answers_ping(self) -> bool:
        try:
            with self._connect() as connection:
                if self.password:
                    connection.sendall(_command("AUTH", self.password))
                    connection.recv(64)
                connection.sendall(_command("PING"))
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _connect(self) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        if self.tls is None:
            return connection
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return context.wrap_socket(connection, server_hostname="127.0.0.1")


def _command(*words: str) -> bytes:
    """Encode one command in RESP, the protocol Redis speaks."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
