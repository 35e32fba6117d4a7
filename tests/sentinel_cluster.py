"""A Redis master, replicas and three Sentinels on loopback, for failover tests.

On loopback a replica receives each write within microseconds of the client's reply, so an
asynchronous-replication loss at a crash would almost never show. Each replica therefore reads
its master through a ``LaggingLink``: what the master sends arrives ``delay`` seconds late, and
when the master dies what is still in flight is lost, as on a real network with replication lag.
Sentinel is configured with a ``failover-timeout`` long enough that it does not "fix" the
replicas' master address (the link's port) during a test.
"""

from __future__ import annotations

import collections
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from helpers import load_support

redis_support = load_support("redis_server")
polling = load_support("polling")

MASTER_NAME = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 30_000
CHUNK = 65536


class LaggingLink:
    """A TCP relay to ``127.0.0.1:target_port`` delivering the target's bytes ``delay`` s late."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="lagging-link", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        for sock in [self._listener, *self._sockets]:
            _close(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=1)
            except OSError:
                _close(downstream)
                continue
            upstream.settimeout(None)
            self._sockets += [downstream, upstream]
            in_flight: collections.deque[tuple[float, bytes]] = collections.deque()
            arrived = threading.Condition()
            for target, arguments in (
                (self._copy, (downstream, upstream)),
                (self._read_late, (upstream, in_flight, arrived)),
                (self._deliver, (downstream, in_flight, arrived)),
            ):
                threading.Thread(target=target, args=arguments, daemon=True).start()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        """Replica to master: at once (its acknowledgements)."""
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        _close(sink)

    def _read_late(
        self, source: socket.socket, in_flight: collections.deque[Any], arrived: threading.Condition
    ) -> None:
        """Master to replica: queue each chunk with the time it may be delivered."""
        try:
            while data := source.recv(CHUNK):
                with arrived:
                    in_flight.append((time.monotonic() + self.delay, data))
                    arrived.notify()
        except OSError:
            pass
        with arrived:  # the master is gone: what it sent but the replica did not get is lost
            in_flight.clear()
            in_flight.append((0.0, b""))
            arrived.notify()

    @staticmethod
    def _deliver(
        sink: socket.socket, in_flight: collections.deque[Any], arrived: threading.Condition
    ) -> None:
        while True:
            with arrived:
                while not in_flight:
                    arrived.wait()
                due, data = in_flight[0]
                if data and due > time.monotonic():
                    arrived.wait(due - time.monotonic())
                    continue
                in_flight.popleft()
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        _close(sink)


@dataclass
class SentinelCluster:
    """One master, ``replica_count`` replicas behind lagging links, three Sentinels."""

    directory: Path
    replica_count: int = 2
    delay: float = 0.1
    master: Any = None
    replicas: list[Any] = field(default_factory=list)
    links: list[LaggingLink] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> SentinelCluster:
        self.master = redis_support.start_or_skip(
            redis_support.RedisServer(
                self.directory / "master", extra_arguments=("--repl-diskless-sync", "no")
            )
        )
        for index in range(self.replica_count):
            link = LaggingLink(self.master.port, self.delay)
            self.links.append(link)
            replica = redis_support.RedisServer(
                self.directory / f"replica-{index}",
                extra_arguments=("--replicaof", "127.0.0.1", str(link.port)),
            )
            self.replicas.append(replica.start())
        polling.wait_for(self._replicas_synced, 10, "replicas did not sync with the master")
        for index in range(3):
            self._start_sentinel(index)
        polling.wait_for(self._sentinels_agree, 20, "Sentinels did not find each other")
        return self

    def environment(self) -> dict[str, str]:
        """The project's variables for this cluster."""
        return {
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_PASSWORD": "",
        }

    def master_port(self) -> int | None:
        """The master's port as the first Sentinel that answers reports it."""
        for port in self.sentinel_ports:
            try:
                with Redis(port=port, socket_timeout=1) as sentinel:
                    address = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
            except RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def replicas_have(self, key: str, field: str, value: bytes) -> bool:
        """Whether every replica has ``value`` in the hash ``key``'s ``field``."""
        for replica in self.replicas:
            with Redis(port=replica.port, socket_timeout=1) as client:
                if client.hget(key, field) != value:
                    return False
        return True

    def kill_master(self) -> float:
        """SIGKILL the master; return the time it was sent."""
        killed_at = time.time()
        self.master.process.kill()
        self.master.process.wait()
        return killed_at

    def stop(self) -> None:
        """SIGKILL everything (the data is disposable; a Redis 7 master stopped with SIGTERM
        waits up to 10 s for its replicas to catch up)."""
        servers = [server.process for server in (*self.replicas, self.master) if server]
        for process in [*self.sentinels, *servers]:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        for link in self.links:
            link.close()

    def _start_sentinel(self, index: int) -> None:
        port = redis_support.free_port()
        directory = self.directory / f"sentinel-{index}"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} {self.replica_count}\n",
            encoding="utf-8",
        )
        log = (directory / "sentinel.log").open("wb")
        command = ["redis-server", str(config), "--sentinel"]
        self.sentinels.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        self.sentinel_ports.append(port)

    def _replicas_synced(self) -> bool:
        """Every replica has loaded the data and acknowledges the stream (WAIT counts it)."""
        with Redis(port=self.master.port, socket_timeout=2) as client:
            client.set("replicas-synced", 1)
            return int(client.wait(self.replica_count, 500)) >= self.replica_count

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with Redis(port=port, socket_timeout=1) as sentinel:
                    state = sentinel.sentinel_master(MASTER_NAME)
            except RedisError:
                return False
            if state["num-other-sentinels"] < 2 or state["num-slaves"] < self.replica_count:
                return False
        return True


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
