"""The Redis clients of the response cache: one server, or a Sentinel-managed set.

Production runs the cache as Redis replication under Sentinel (see the README's cache
section for why not Redis Cluster): one primary takes every write and the single-flight
locks, its replicas hold the same answers and serve reads, and Sentinel promotes a
replica when the primary is lost. redis-py's own Sentinel client finds the primary and
the replicas (``master_for`` / ``slave_for``); a connection asks the Sentinels again
whenever it (re)connects, so a failover needs no restart of the MCP server.

Without Sentinels the URL's server is both the writer and the reader: the local Redis,
or a managed Redis (the platform's external cache mode).

The URL always carries the credentials and TLS options; with Sentinels its host and port
are ignored (the Sentinels say where the primary is) and the same password and TLS
options are used towards the Sentinels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.sentinel import Sentinel

DEFAULT_MASTER_NAME = "promptsales-cache"


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` -> pairs; ValueError names what is wrong (not the value)."""
    pairs: list[tuple[str, int]] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("each Sentinel must be host:port with a port from 1 to 65535")
        pairs.append((host.strip("[]"), int(port)))
    if not pairs:
        raise ValueError("at least one Sentinel host:port is needed")
    return pairs


@dataclass
class CacheClients:
    """Where the cache writes (and locks) and where it reads answers."""

    primary: aioredis.Redis
    reader: aioredis.Redis
    """A replica (round robin over those Sentinel reports, the primary when none is up),
    or the primary itself without Sentinels."""
    sentinel: Sentinel | None = None

    @property
    def reads_replicas(self) -> bool:
        return self.reader is not self.primary

    async def aclose(self) -> None:
        await self.primary.aclose()
        if self.reads_replicas:
            await self.reader.aclose()
        if self.sentinel is not None:
            await self.sentinel.aclose()


def connect(
    url: str,
    *,
    sentinels: Sequence[tuple[str, int]] = (),
    master_name: str = DEFAULT_MASTER_NAME,
    socket_timeout: float = 1.0,
    read_from_replicas: bool = True,
) -> CacheClients:
    """Clients for ``url`` alone, or for the primary and replicas the Sentinels report."""
    timeouts: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "health_check_interval": 0,
    }
    if not sentinels:
        client = aioredis.Redis.from_url(url, **timeouts)
        return CacheClients(client, client)
    options: dict[str, Any] = dict(parse_url(url))
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    towards_sentinels = {
        key: value
        for key, value in {**options, **timeouts}.items()
        if key.startswith(("socket_", "ssl", "password", "username"))
    }
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(sentinels), sentinel_kwargs=towards_sentinels, **options, **timeouts
    )
    primary = sentinel.master_for(master_name)
    reader = sentinel.slave_for(master_name) if read_from_replicas else primary
    return CacheClients(primary, reader, sentinel)
