"""A Sentinel-managed Redis set on loopback: the cache engine as the platform runs it.

One primary, ``replicas`` replicas of it and ``sentinels`` Sentinels, each a real
``redis-server`` process (Sentinels run Debian's ``redis-sentinel`` when installed,
else ``redis-server --sentinel``, the same program) on a free loopback port, with no
persistence, in a temporary directory removed on stop. The tests of the cache's hit
ratio and failover and the cross-replica benchmark start one; nothing here is a
stand-in (only Kubernetes is missing: the ports are local).

Sentinel's timings are set short (``DOWN_AFTER_MS``, ``FAILOVER_TIMEOUT_MS``) so a
failover takes seconds, not the default 30 s detection. The cluster's Sentinels
(``workloads.cache``) wait longer before calling a primary down, since a cluster network
has hiccups loopback does not; the failover time measured here is the engine's at the
short timing. ``harness.cache_set`` starts the set as Kubernetes runs it (TLS, password,
the shipped start-up scripts).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

MASTER_NAME = "promptsales-cache"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class SentinelSetError(RuntimeError):
    """The set did not start or settle; the message says which part and how to fix it."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sentinel_command(config: Path) -> list[str]:
    binary = shutil.which("redis-sentinel")
    if binary is not None:
        return [binary, str(config)]
    server = shutil.which("redis-server")
    if server is None:
        raise SentinelSetError("redis-server is not installed: apt-get install redis-server")
    return [server, str(config), "--sentinel"]


@dataclass
class Node:
    """One running process of the set; ``options`` are the client's (TLS, password)."""

    port: int
    process: subprocess.Popen[bytes]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, **self.options)

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class SentinelSet:
    """Start with ``with SentinelSet(replicas=2) as cache:``; ``sentinels`` for clients."""

    replicas: int = 2
    sentinel_count: int = 3
    master_name: str = MASTER_NAME
    down_after_ms: int = DOWN_AFTER_MS
    failover_timeout_ms: int = FAILOVER_TIMEOUT_MS
    data: list[Node] = field(default_factory=list)
    sentinel_nodes: list[Node] = field(default_factory=list)
    _directory: Path | None = None

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [node.address for node in self.sentinel_nodes]

    @property
    def quorum(self) -> int:
        return self.sentinel_count // 2 + 1

    def __enter__(self) -> SentinelSet:
        self._directory = Path(tempfile.mkdtemp(prefix="promptsales-sentinel-"))
        try:
            primary = self._start_server(None)
            for _ in range(self.replicas):
                self._start_server(primary.port)
            for node in self.data[1:]:
                self._wait(lambda n=node: self._link_up(n), f"replica on {node.port} in sync")
            for _ in range(self.sentinel_count):
                self._start_sentinel(primary.port)
            self._wait(self._sentinels_settled, "Sentinels agreeing on the set")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for node in [*self.sentinel_nodes, *self.data]:
            if node.alive():
                node.process.kill()
            node.process.wait(timeout=10)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    # --- what tests do to it ------------------------------------------------------------

    def primary(self) -> Node:
        """The data node the Sentinels currently report as primary."""
        _host, port = self._reported_primary()
        return next(node for node in self.data if node.port == port)

    def kill_primary(self) -> Node:
        """SIGKILL the current primary (no shutdown, no last write); returns it."""
        node = self.primary()
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=10)
        return node

    def wait_for_failover(self, old: Node, timeout: float = 30.0) -> Node:
        """Block until the Sentinels report a live replica as primary; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _host, port = self._reported_primary()
            except (redis.RedisError, OSError):
                port = old.port
            if port != old.port:
                node = next(n for n in self.data if n.port == port)
                with node.client() as client:
                    role = client.info("replication").get("role")
                if role == "master":
                    return node
            time.sleep(0.05)
        raise SentinelSetError(f"no failover within {timeout:g} s after the primary was lost")

    # --- start-up -------------------------------------------------------------------------

    def _start_server(self, primary_port: int | None) -> Node:
        assert self._directory is not None
        port = _free_port()
        directory = self._directory / f"redis-{port}"
        directory.mkdir()
        args = [
            "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
            # Announce the loopback address the Sentinels and clients reach.
            "--replica-announce-ip", "127.0.0.1",
        ]  # fmt: skip
        if primary_port is not None:
            args += ["--replicaof", "127.0.0.1", str(primary_port)]
        node = Node(port, subprocess.Popen(args, stdout=subprocess.DEVNULL))
        self.data.append(node)
        self._wait(lambda: self._answers(node), f"redis-server on {port}")
        return node

    def _start_sentinel(self, primary_port: int) -> Node:
        assert self._directory is not None
        port = _free_port()
        config = self._directory / f"sentinel-{port}.conf"
        config.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {self._directory}\n"
            f"logfile {self._directory / f'sentinel-{port}.log'}\n"
            "sentinel announce-ip 127.0.0.1\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {primary_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.master_name} 1\n"
        )
        node = Node(port, subprocess.Popen(_sentinel_command(config), stdout=subprocess.DEVNULL))
        self.sentinel_nodes.append(node)
        self._wait(lambda: self._answers(node), f"Sentinel on {port}")
        return node

    def _reported_primary(self) -> tuple[str, int]:
        for node in self.sentinel_nodes:
            with node.client() as client:
                try:
                    reply = client.sentinel_get_master_addr_by_name(self.master_name)
                except (redis.RedisError, OSError):
                    continue
            if reply:
                return str(reply[0]), int(reply[1])
        raise SentinelSetError("no Sentinel reports a primary")

    @staticmethod
    def _answers(node: Node) -> bool:
        if not node.alive():
            raise SentinelSetError(f"the process on port {node.port} exited at start")
        try:
            with node.client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    @staticmethod
    def _link_up(node: Node) -> bool:
        with node.client() as client:
            info = client.info("replication")
        return bool(info.get("master_link_status") == "up")

    def _sentinels_settled(self) -> bool:
        """Every Sentinel sees every replica and every other Sentinel (a failover needs
        the quorum to know each other)."""
        for node in self.sentinel_nodes:
            with node.client() as client:
                state = client.sentinel_master(self.master_name)
            if int(state["num-slaves"]) != self.replicas:
                return False
            if int(state["num-other-sentinels"]) != self.sentinel_count - 1:
                return False
        return True

    def _wait(self, ready: object, what: str, timeout: float = 30.0) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        raise SentinelSetError(f"{what} not ready within {timeout:g} s (logs in {self._directory})")
