"""The cache set as the platform provisions it, on loopback: TLS, one password, and the
start-up scripts and configuration the Kubernetes manifests ship.

:class:`SentinelSet` starts ``redis-server`` with plain command-line options, which is
what the cache's behaviour tests need. This set starts every data node and Sentinel
through ``cache-node.sh`` and ``cache-sentinel.sh`` (the files the ConfigMap carries),
with the configuration files ``workloads.cache`` renders, the Secret's files from
``workloads.cache.auth_secret_data`` and a serving certificate from a CA made with the
project's ``certs`` package, so the start-up decisions (ask the Sentinels, else ordinal
0 is the primary), TLS on every connection and the password are exercised for real.
What Kubernetes would add is missing: every pod is ``localhost`` with a port of its own,
where the cluster gives each a DNS name behind a headless Service.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certs
from harness.redis_sentinel import Node, SentinelSet, SentinelSetError
from harness.services import free_port
from workloads import cache

HOST = "localhost"
# Redis memory for each loopback node: the tests store a few hundred small answers.
NODE_MEMORY_MIB = 64


def _write(path: Path, text: str, private: bool = False) -> None:
    path.write_text(text, encoding="utf-8")
    if private:
        path.chmod(0o600)


@dataclass
class ProvisionedCacheSet(SentinelSet):
    """``with ProvisionedCacheSet(replicas=2) as cache_set:``; ``url`` and ``sentinels``
    are what the MCP server is configured with."""

    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    data_ports: list[int] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)

    # --- what clients are given ---------------------------------------------------------

    @property
    def tls_dir(self) -> Path:
        assert self._directory is not None
        return self._directory / "tls"

    @property
    def secrets_dir(self) -> Path:
        assert self._directory is not None
        return self._directory / "secrets"

    @property
    def url(self) -> str:
        """The MCP server's ``PROMPTSALES_MCP_REDIS_URL``: password and TLS options (its
        host is not dialled when Sentinels are given)."""
        return (
            f"rediss://:{self.password}@{HOST}:{self.data_ports[0]}/0"
            f"?ssl_cert_reqs=required&ssl_ca_certs={self.tls_dir / 'ca.crt'}"
        )

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self.sentinel_ports]

    def client_options(self) -> dict[str, Any]:
        return {
            "password": self.password,
            "ssl": True,
            "ssl_cert_reqs": "required",
            "ssl_ca_certs": str(self.tls_dir / "ca.crt"),
        }

    # --- start-up -------------------------------------------------------------------------

    def __enter__(self) -> ProvisionedCacheSet:
        self._directory = Path(tempfile.mkdtemp(prefix="promptsales-cache-set-"))
        try:
            self._write_secrets()
            self.data_ports = [free_port() for _ in range(self.replicas + 1)]
            self.sentinel_ports = [free_port() for _ in range(self.sentinel_count)]
            for ordinal in range(self.replicas + 1):
                self.data.append(self.start_node(ordinal))
            for ordinal in range(self.sentinel_count):
                self.sentinel_nodes.append(self.start_sentinel(ordinal))
            for node in self.data[1:]:
                self._wait(lambda n=node: self._link_up(n), f"replica on {node.port} in sync")
            self._wait(self._sentinels_settled, "Sentinels agreeing on the set")
        except BaseException:
            self.stop()
            raise
        return self

    def _write_secrets(self) -> None:
        """What the Secrets ``promptsales-cache-tls`` and ``promptsales-cache-auth`` hold."""
        ca = certs.create_root_ca("PromptSales Cache Set CA", validity=dt.timedelta(days=1))
        leaf = certs.issue_server_certificate(
            ca,
            "promptsales-cache",
            dns_names=[HOST],
            ip_addresses=["127.0.0.1"],
            validity=dt.timedelta(days=1),
        )
        self.tls_dir.mkdir()
        for name, text in certs.tls_secret_data(leaf, certs.trust_bundle(ca)).items():
            _write(self.tls_dir / name, text, private=name == "tls.key")
        self.secrets_dir.mkdir()
        for name, text in cache.auth_secret_data(self.password).items():
            _write(self.secrets_dir / name, text, private=True)

    def _environment(self, pod: str, work: Path, config: Path) -> dict[str, str]:
        sentinels = " ".join(f"{HOST}:{port}" for port in self.sentinel_ports)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CACHE_POD": pod,
            "CACHE_ANNOUNCE": HOST,
            "CACHE_SEED": f"{HOST}:{self.data_ports[0]}",
            "CACHE_SENTINELS": sentinels,
            "CACHE_MASTER": self.master_name,
            "CACHE_CONFIG": str(config),
            "CACHE_WORK_DIR": str(work),
            "CACHE_SECRETS": str(self.secrets_dir),
            "CACHE_TLS": str(self.tls_dir),
        }

    def _run(self, script: str, env: dict[str, str], work: Path, port: int) -> Node:
        assert self._directory is not None
        path = self._directory / script
        if not path.exists():
            _write(path, cache.script(script))
        log = (work / "process.log").open("ab")
        process = subprocess.Popen(
            ["sh", str(path)], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        node = Node(port, process, self.client_options())
        self._wait(lambda: self._answers(node), f"{script} on {port} (log {work}/process.log)")
        return node

    def start_node(self, ordinal: int) -> Node:
        """Data pod ``ordinal`` through ``cache-node.sh``, on its own port (again after a
        restart: the pod keeps its name)."""
        assert self._directory is not None
        port = self.data_ports[ordinal]
        work = self._directory / f"node-{ordinal}"
        work.mkdir(exist_ok=True)
        config = work / "redis.conf.in"
        data = work / "data"
        data.mkdir(exist_ok=True)
        _write(
            config,
            cache.redis_conf(
                NODE_MEMORY_MIB,
                port=port,
                tls_dir=str(self.tls_dir),
                secrets_dir=str(self.secrets_dir),
                data_dir=str(data),
                bind="127.0.0.1",
            ),
        )
        env = self._environment(f"{cache.MASTER_NAME}-{ordinal}", work, config)
        env["CACHE_PORT"] = str(port)
        return self._run(cache.NODE_SCRIPT, env, work, port)

    def start_sentinel(self, ordinal: int) -> Node:
        """Sentinel ``ordinal`` through ``cache-sentinel.sh``, with this set's timings."""
        assert self._directory is not None
        port = self.sentinel_ports[ordinal]
        work = self._directory / f"sentinel-{ordinal}"
        work.mkdir(exist_ok=True)
        config = work / "sentinel.conf.in"
        _write(
            config,
            cache.sentinel_conf(
                port=port, tls_dir=str(self.tls_dir), work_dir=str(work), bind="127.0.0.1"
            ),
        )
        env = self._environment(f"{cache.CACHE_SENTINEL}-{ordinal}", work, config)
        env |= {
            "CACHE_SENTINEL_PORT": str(port),
            "CACHE_QUORUM": str(self.quorum),
            "CACHE_DOWN_AFTER_MS": str(self.down_after_ms),
            "CACHE_FAILOVER_TIMEOUT_MS": str(self.failover_timeout_ms),
        }
        return self._run(cache.SENTINEL_SCRIPT, env, work, port)

    # --- what tests do to it ------------------------------------------------------------

    def restart_node(self, ordinal: int) -> Node:
        """Start data pod ``ordinal`` again after it was killed (as the kubelet would)."""
        if self.data[ordinal].alive():
            raise SentinelSetError(f"data pod {ordinal} is still running")
        self.data[ordinal] = self.start_node(ordinal)
        return self.data[ordinal]

    def restart_sentinel(self, ordinal: int) -> Node:
        """Kill Sentinel ``ordinal`` and start it again (a new pod: fresh configuration)."""
        old = self.sentinel_nodes[ordinal]
        if old.alive():
            old.process.kill()
        old.process.wait(timeout=10)
        self.sentinel_nodes[ordinal] = self.start_sentinel(ordinal)
        return self.sentinel_nodes[ordinal]

    def log(self, name: str) -> str:
        """A process's output (``node-0``, ``sentinel-2``): the scripts' own lines first."""
        assert self._directory is not None
        return (self._directory / name / "process.log").read_text(errors="replace")
