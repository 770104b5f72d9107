"""The response cache on a Sentinel-managed Redis set of real processes on loopback.

A repeat is a hit whichever MCP replica (here: a ``ResponseCache`` of its own) and cache
pod it reaches; identical misses on two replicas compute once; losing the primary to
SIGKILL costs the failover and nothing else; and a repeat on another MCP replica is
replayed at the protocol layer from the wire result the first replica shared.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

from harness.redis_sentinel import SentinelSet
from mcp_server.answers.cache import CacheKeyParts, ResponseCache, cache_key
from mcp_server.app import McpApplication
from mcp_server.content.store import ContentStore
from mcp_server.metrics import Metrics
from tests.integration.mcp.conftest import mcp_client, payload, serve, until
from tests.integration.mcp.test_cache import Computation
from tests.integration.mcp.test_protocol_path import as_sent, replayed

QUERY = {"query": "linen shirt at the beach", "limit": 3}
# 3 pods (primary + 2 replicas) must keep the hit ratio of 1 pod within this share.
RATIO_TOLERANCE = 0.05
# The hit-ratio test is about where answers are found, not about timeouts: a loopback call
# slower than the production 1 s default on a loaded CI machine must not open the circuit.
PATIENT_SOCKET_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def three_pods() -> Iterator[SentinelSet]:
    with SentinelSet(replicas=2) as cache_set:
        yield cache_set


class Replicas:
    """ResponseCaches (one per simulated MCP replica), closed at teardown."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.made: list[ResponseCache] = []

    def __call__(self, url: str, **overrides: Any) -> ResponseCache:
        kwargs: dict[str, Any] = {
            "prefix": self.prefix,
            "ttl_seconds": 60,
            "metrics": Metrics(),
            "local_entries": 0,  # every repeat asks Redis: the tier under test
            **overrides,
        }
        cache = ResponseCache(url, **kwargs)
        self.made.append(cache)
        return cache

    def on(self, cache_set: SentinelSet, **overrides: Any) -> ResponseCache:
        return self("redis://", sentinels=cache_set.sentinels, **overrides)


@pytest.fixture
async def replicas(redis_prefix: str) -> AsyncIterator[Replicas]:
    made = Replicas(redis_prefix)
    yield made
    for cache in made.made:
        await cache.close()


def key_of(prefix: str, n: int) -> str:
    return cache_key(prefix, CacheKeyParts("t", {"q": n}, "user", None, "m", 1))


def received(application: McpApplication) -> float:
    """How many wire results other replicas shared has this server taken in."""
    return float(application.service.metrics.cache_shared_wires_received._value.get())


def answer_of(key: str) -> dict[str, Any]:
    return {"answer_for": key}


async def hit_ratio(caches: list[ResponseCache], prefix: str, calls: int = 300) -> float:
    """A repeat-heavy workload (60 questions, skewed) spread round robin over ``caches``,
    one call after another as an agent makes them; the share of calls that were hits."""
    rng = random.Random(17)
    weights = [1 / (rank + 1) for rank in range(60)]
    hits = 0
    for i in range(calls):
        key = key_of(prefix, rng.choices(range(60), weights)[0])

        async def compute(key: str = key) -> dict[str, Any]:
            return answer_of(key)

        value, hit = await caches[i % len(caches)].get_or_compute(key, "t", compute)
        assert value == answer_of(key)
        hits += hit
    return hits / calls


async def test_a_repeat_is_a_hit_whichever_replica_and_cache_pod_it_reaches(
    three_pods: SentinelSet, replicas: Replicas, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    patient = {"socket_timeout": PATIENT_SOCKET_TIMEOUT}
    with SentinelSet(replicas=0) as one_pod:
        one = await hit_ratio(
            [replicas.on(one_pod, **patient) for _ in range(2)], replicas.prefix + "1:"
        )
    three = await hit_ratio(
        [replicas.on(three_pods, **patient) for _ in range(2)], replicas.prefix + "3:"
    )
    # The previous design for reference: each replica's connections on a pod of its own
    # (two databases of the local Redis stand for two independent pods).
    base = redis_url.rsplit("/", 1)[0]
    apart = await hit_ratio(
        [replicas(f"{base}/{db}", **patient) for db in (14, 15)], replicas.prefix + "apart:"
    )
    for db in (14, 15):
        with redis.Redis.from_url(f"{base}/{db}") as client:
            for key in client.scan_iter(f"{replicas.prefix}*"):
                client.delete(key)
    assert one > 0.7  # the workload is repeat-heavy
    assert abs(three - one) <= RATIO_TOLERANCE * one
    assert apart < one - RATIO_TOLERANCE * one  # the check can tell the designs apart
    failures = [r.getMessage() + str(getattr(r, "error", "")) for r in caplog.records]
    assert [cache.status() for cache in replicas.made] == ["ok"] * len(replicas.made), failures


async def test_identical_misses_on_two_replicas_compute_once_on_a_replicated_cache(
    three_pods: SentinelSet, replicas: Replicas
) -> None:
    caches = [replicas.on(three_pods) for _ in range(2)]
    compute = Computation({"answer": 7}, seconds=0.3)
    key = key_of(replicas.prefix, 1)
    results = await asyncio.gather(
        *(cache.get_or_compute(key, "t", compute) for cache in caches for _ in range(4))
    )
    assert compute.calls == 1
    assert all(value == {"answer": 7} for value, _ in results)
    await caches[0].flush()
    assert await caches[1].get_or_compute(key, "t", compute) == ({"answer": 7}, True)


async def test_a_wire_result_shared_by_one_replica_is_replayed_by_another(
    three_pods: SentinelSet, replicas: Replicas
) -> None:
    one, listening, late = (replicas.on(three_pods, local_entries=16) for _ in range(3))
    one.start()
    listening.start()
    await until(lambda: one.listening and listening.listening, "both replicas subscribed")
    key, gone = key_of(replicas.prefix, 2), key_of(replicas.prefix, 3)
    wire = {"structuredContent": {"cached": True, "n": 1}}
    assert listening.replay_wire(key, "2025-11-25") is None
    # What is not a share of ours on the channel is ignored, and listening goes on.
    foreign = {"k": "another:prefix:key", "p": "2025-11-25", "t": 60000, "w": wire}
    with redis.Redis(*three_pods.primary().address) as client:
        for junk in (b"not json", b"[1, 2]", json.dumps(foreign).encode()):
            client.publish(listening.channel, junk)
    for stored in (key, gone):
        await one.get_or_compute(stored, "t", Computation(answer_of(stored)))
    await one.flush()
    with redis.Redis(*three_pods.primary().address) as client:
        client.delete(gone)  # expired in Redis while still held in one's process
    assert one.attach_wire(key, "2025-11-25", wire) is True
    assert one.attach_wire(gone, "2025-11-25", wire) is True
    await one.flush()
    # The published copy arrives: held in process, no read.
    await until(lambda: listening.local_wire(key, "2025-11-25") is not None, "share received")
    assert listening.replay_wire(key, "2025-11-25") == wire
    assert listening.replay_wire(key, "2026-07-28") is None  # per protocol version
    assert listening.local_wire("another:prefix:key", "2025-11-25") is None
    # Nothing is shared for an answer Redis no longer holds.
    assert listening.replay_wire(gone, "2025-11-25") is None
    # A replica that was not listening never reads wire results from Redis (none are
    # stored there): its repeat is the answer's own Redis hit, one round trip.
    assert late.replay_wire(key, "2025-11-25") is None
    assert await late.get_or_compute(key, "t", Computation()) == (answer_of(key), True)
    with redis.Redis(*three_pods.primary().address) as client:
        assert not client.keys(f"{key}:wire:*")


async def test_losing_the_primary_costs_the_failover_and_nothing_else(
    replicas: Replicas,
) -> None:
    with SentinelSet(replicas=2) as cache_set:
        cache = replicas.on(cache_set, retry_seconds=0.2, socket_timeout=0.5, local_entries=64)
        other = replicas.on(cache_set, retry_seconds=0.2, socket_timeout=0.5)
        stored = [key_of(replicas.prefix, n) for n in range(5)]
        for key in stored:
            await cache.get_or_compute(key, "t", Computation(answer_of(key)))
        await cache.flush()
        wire = {"structuredContent": {"cached": True}}
        assert cache.attach_wire(stored[0], "2025-11-25", wire) is True  # held in process
        await cache.flush()
        with cache_set.primary().client() as primary:
            assert primary.wait(2, 2000) == 2  # on both replicas before the primary dies

        old = cache_set.kill_primary()
        killed = time.monotonic()
        statuses: set[str] = set()
        first_stored_hit: float | None = None
        n = 100
        while first_stored_hit is None and time.monotonic() - killed < 30:
            n += 1
            new_key = key_of(replicas.prefix, n)  # a question never asked: a miss
            compute = Computation(answer_of(new_key))
            value, hit = await cache.get_or_compute(new_key, "t", compute)
            assert (value, hit, compute.calls) == (answer_of(new_key), False, 1)
            await cache.flush()
            if await other.get_or_compute(new_key, "t", Computation({"wrong": 1})) == (
                answer_of(new_key),
                True,
            ):
                first_stored_hit = time.monotonic()
            else:
                await cache.ping()
                statuses.add(cache.status())
                if cache.status() == "down":  # nothing served from it, not even held hits
                    held = Computation(answer_of(stored[0]))
                    assert await cache.get_or_compute(stored[0], "t", held) == (
                        answer_of(stored[0]),
                        False,
                    )
                    assert held.calls == 1
                    assert cache.replay_wire(stored[0], "2025-11-25") is None
            await asyncio.sleep(0.05)
        promoted = cache_set.wait_for_failover(old, timeout=1)
        assert first_stored_hit is not None, "no answer was cached again after failover"
        assert "down" in statuses  # health said degraded meanwhile
        assert cache.status() == "ok"
        assert promoted.port != old.port

        # Answers stored before the loss survived on the promoted replica: still hits.
        for key in stored:
            value, hit = await other.get_or_compute(key, "t", Computation({"wrong": 1}))
            assert (value, hit) == (answer_of(key), True)
        # Down to the engine's failover (detection after down-after-milliseconds, then
        # the election), plus one retry interval of the cache's circuit and slack for a
        # loaded machine.
        assert first_stored_hit - killed < cache_set.down_after_ms / 1000 + 10


async def test_a_repeat_on_another_mcp_replica_is_replayed_with_the_same_answer(
    three_pods: SentinelSet,
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: Any,
) -> None:
    sentinels = ",".join(f"{host}:{port}" for host, port in three_pods.sentinels)
    first, second = (
        app_factory(settings_factory(redis_url="redis://", cache_sentinels=sentinels))
        for _ in range(2)
    )
    async with (
        serve(first) as server_one,
        serve(second) as server_two,
        mcp_client(server_one, token=tokens.token("user")) as one,
        mcp_client(server_two, token=tokens.token("user")) as two,
        mcp_client(server_two, token=tokens.token("marketing")) as two_marketing,
    ):
        await until(
            lambda: first.service.cache.listening and second.service.cache.listening,
            "both replicas subscribed",
        )
        assert payload(await one.call_tool("getContent", QUERY))["cached"] is False
        await first.service.cache.flush()
        through_tool = await one.call_tool("getContent", QUERY)  # a hit: shares its wire
        await first.service.cache.flush()
        # Published on the primary, delivered through a replica's connection: the repeat
        # waits for it (sent before it arrived, it would be a plain Redis hit instead).
        await until(lambda: received(second) == 1, "the share reached the other replica")
        elsewhere = await two.call_tool("getContent", QUERY)
        assert replayed(second) == 1
        assert as_sent(elsewhere) == as_sent(through_tool)
        # Another role asks the same question: its own key, never the replay.
        assert payload(await two_marketing.call_tool("getContent", QUERY))["cached"] is False
        assert replayed(second) == 1
