"""Start a private Redis Sentinel (``redis-server --sentinel``) watching a test's master."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.certificates import Certificates
from tests.support.redis_server import (
    RedisUnavailable,
    free_port,
    redis_server_binary,
    stop_process,
    wait_until_answering,
)

MASTER_NAME = "mymaster"


@dataclass
class SentinelServer:
    """A Sentinel on a free loopback port that monitors ``127.0.0.1:master_port``; with ``tls``
    it listens on TLS only and reaches the master over TLS."""

    directory: Path
    master_port: int
    master_name: str = MASTER_NAME
    quorum: int = 1
    down_after_ms: int = 1000
    failover_timeout_ms: int = 30_000
    parallel_syncs: int = 1
    port: int = field(default_factory=free_port)
    tls: Certificates | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> SentinelServer:
        binary = redis_server_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "sentinel.conf"  # Sentinel rewrites it: one of its own
        name = self.master_name
        config.write_text(
            f"{self._listen()}bind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {name} 127.0.0.1 {self.master_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {name} {self.parallel_syncs}\n",
            encoding="utf-8",
        )
        log = (self.directory / "sentinel.log").open("wb")
        command = [binary, str(config), "--sentinel"]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if not wait_until_answering(self.process, self._answers, timeout):
            self.stop()
            raise RedisUnavailable(f"Sentinel did not start; see {self.directory}")
        return self

    def stop(self) -> None:
        """Stop the Sentinel we started (SIGTERM, then SIGKILL after 10 s)."""
        stop_process(self.process)

    def _listen(self) -> str:
        if self.tls is None:
            return f"port {self.port}\n"
        return (
            f"port 0\ntls-port {self.port}\ntls-replication yes\ntls-auth-clients no\n"
            f"tls-cert-file {self.tls.server_cert}\ntls-key-file {self.tls.server_key}\n"
            f"tls-ca-cert-file {self.tls.ca}\n"
        )

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as plain:
                connection = plain
                if self.tls is not None:
                    context = ssl.create_default_context(cafile=str(self.tls.ca))
                    connection = context.wrap_socket(plain, server_hostname="127.0.0.1")
                connection.sendall(b"*1\r\n$4\r\nPING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False
