"""Which distributed Redis for the response cache: replication under Sentinel, or Cluster.

Both engines run here as real ``redis-server`` processes on loopback, each as the cache
would use it with three pods' worth of copies of every answer:

- ``sentinel``: a primary, two replicas, three Sentinels
  (``harness.redis_sentinel``); a hit is read from a replica through redis-py's
  Sentinel client (``GET`` + ``PTTL`` in one pipeline, as ``ResponseCache`` does);
- ``cluster``: three primaries with a replica each (the smallest Redis Cluster
  ``redis-cli --cluster create`` accepts); a hit is one ``GET`` + ``PTTL`` pipeline
  through redis-py's ``RedisCluster`` client (the slot's primary).

Same answers (a 5 KB JSON value), same client process, same number of calls, the two
engines timed alternately in blocks. Then each loses the primary holding the answers to
SIGKILL, with the same detection time (Sentinel ``down-after-milliseconds`` and Cluster
``cluster-node-timeout`` both 1000 ms), and the time until a write through the engine's
own client succeeds again is measured: what a cache outage lasts.

Run: ``python -m bench.mcp_cache_engines [--samples 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from bench.mcp_latency import percentiles
from harness.redis_sentinel import DOWN_AFTER_MS, SentinelSet, SentinelSetError
from mcp_server.answers.cache_engine import connect

RESULTS = Path(__file__).parent / "results" / "mcp_cache_engines.json"
VALUE = json.dumps({"items": [{"id": i, "text": "x" * 480} for i in range(10)]}).encode()
KEYS = [f"{{bench}}:answer:{i}" for i in range(100)]  # one slot: one shard's primary


def _free_port() -> int:
    """A free loopback port at most 55535: a cluster node's bus listens 10000 above it."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port <= 55535:
            return port


@contextmanager
def redis_cluster(directory: Path) -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    """Six cluster-mode servers joined as three primaries with one replica each."""
    ports = [_free_port() for _ in range(6)]
    processes = []
    try:
        for port in ports:
            node = directory / f"cluster-{port}"
            node.mkdir()
            processes.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--bind",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(node / "nodes.conf"),
                        "--cluster-node-timeout",
                        str(DOWN_AFTER_MS),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--repl-diskless-sync-delay",
                        "0",
                        "--dir",
                        str(node),
                        "--logfile",
                        str(node / "redis.log"),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait(functools.partial(_pings, port), f"cluster node {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create"]
            + [f"127.0.0.1:{p}" for p in ports]
            + ["--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _wait(lambda: _cluster_ok(ports[0]), "cluster state ok")
        for port in ports:  # every replica in sync (its primary's loss can be taken over)
            _wait(functools.partial(_synced, port), f"cluster node {port} in sync")
        yield dict(zip(ports, processes, strict=True))
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _pings(port: int) -> bool:
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
            return bool(client.ping())
    except (RedisError, OSError):
        return False


def _synced(port: int) -> bool:
    with redis.Redis(host="127.0.0.1", port=port) as client:
        info = client.info("replication")
    return bool(info["role"] == "master" or info.get("master_link_status") == "up")


def _cluster_ok(port: int) -> bool:
    with redis.Redis(host="127.0.0.1", port=port) as client:
        info = client.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


def _wait(ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout} s")


async def _hit(client: aioredis.Redis | RedisCluster, key: str) -> float:
    start = time.perf_counter()
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.pttl(key)
        value, _ttl = await pipe.execute()
    elapsed = time.perf_counter() - start
    if value != VALUE:
        raise RuntimeError("a hit returned another value")
    return elapsed


async def _outage(
    write: Callable[[], Awaitable[Any]], promoted: Callable[[], bool], kill: Callable[[], None]
) -> dict[str, float | None]:
    """Seconds from SIGKILL of the primary until the engine has promoted a replica, and
    until a write through its redis-py client succeeds again (None: not within 30 s)."""
    kill()
    killed = time.monotonic()
    times: dict[str, float | None] = {"promoted": None, "client_write": None}
    while time.monotonic() - killed < 30 and None in times.values():
        if times["promoted"] is None and promoted():
            times["promoted"] = round(time.monotonic() - killed, 2)
        if times["client_write"] is None:
            try:
                await asyncio.wait_for(write(), 1)
                times["client_write"] = round(time.monotonic() - killed, 2)
            except (RedisError, OSError, TimeoutError):
                pass
        await asyncio.sleep(0.01)
    return times


def _slot_served_by_other(ports: list[int], dead: int) -> bool:
    """A surviving cluster node reports the test slot on a live primary other than ``dead``."""
    for port in ports:
        if port == dead:
            continue
        try:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5) as client:
                nodes = client.execute_command("CLUSTER NODES")
                slot = int(client.execute_command("CLUSTER KEYSLOT", KEYS[0]))
        except (RedisError, OSError):
            continue
        for address, node in nodes.items():
            flags = str(node["flags"])
            if "master" not in flags or "fail" in flags:
                continue
            if any(int(r[0]) <= slot <= int(r[-1]) for r in node["slots"]):
                return int(str(address).rsplit(":", 1)[1].split("@")[0]) != dead
        return False
    return False


async def main_async(samples: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="promptsales-engines-"))
    results: dict[str, Any] = {
        "benchmark": "mcp_cache_engines",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_before": os.getloadavg(),
        "samples": samples,
    }
    try:
        with SentinelSet(replicas=2) as sentinel_set, redis_cluster(directory) as cluster:
            clients = connect("redis://", sentinels=sentinel_set.sentinels)
            cluster_client = RedisCluster(host="127.0.0.1", port=next(iter(cluster)))
            try:
                for key in KEYS:
                    await clients.primary.set(key, VALUE, ex=600)
                    await cluster_client.set(key, VALUE, ex=600)
                await clients.primary.wait(2, 2000)
                series: dict[str, list[float]] = {"sentinel": [], "cluster": []}
                for _ in range(3):  # warm both clients' connections
                    for key in KEYS:
                        await _hit(clients.reader, key)
                        await _hit(cluster_client, key)
                for start in range(0, samples, 50):
                    for i in range(start, min(start + 50, samples)):
                        series["sentinel"].append(await _hit(clients.reader, KEYS[i % 100]))
                    for i in range(start, min(start + 50, samples)):
                        series["cluster"].append(await _hit(cluster_client, KEYS[i % 100]))
                results["hit"] = {name: percentiles(v) for name, v in series.items()}
                results["hit_cluster_over_sentinel_p95"] = round(
                    results["hit"]["cluster"]["p95_ms"] / results["hit"]["sentinel"]["p95_ms"], 3
                )

                old_primary = sentinel_set.primary()

                def kill_sentinel_primary() -> None:
                    sentinel_set.kill_primary()

                def sentinel_promoted() -> bool:
                    try:
                        return sentinel_set.primary().port != old_primary.port
                    except (SentinelSetError, RedisError, OSError):  # none answers yet
                        return False

                slot_owner = cluster_client.get_node_from_key(KEYS[0])
                assert slot_owner is not None
                owner = cluster[int(slot_owner.port)]

                def kill_cluster_primary() -> None:
                    os.kill(owner.pid, signal.SIGKILL)

                results["outage_seconds"] = {
                    "sentinel": (
                        await _outage(
                            lambda: clients.primary.set(KEYS[0], VALUE, ex=600),
                            sentinel_promoted,
                            kill_sentinel_primary,
                        )
                    ),
                    "cluster": (
                        await _outage(
                            lambda: cluster_client.set(KEYS[0], VALUE, ex=600),
                            functools.partial(
                                _slot_served_by_other, list(cluster), int(slot_owner.port)
                            ),
                            kill_cluster_primary,
                        )
                    ),
                }
            finally:
                await clients.aclose()
                await cluster_client.aclose()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    results["load_average_after"] = os.getloadavg()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    results = asyncio.run(main_async(args.samples))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
