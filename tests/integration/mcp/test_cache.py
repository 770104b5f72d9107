"""Cache-aside in the real Redis: hits, invalidation by content version, single-flight,
and answering uncached (reported in readiness) when Redis is unreachable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx2
import pytest
import redis

from harness.services import free_port
from mcp_server.answers.cache import CacheKeyParts, ResponseCache, cache_key
from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentItem
from mcp_server.metrics import Metrics
from mcp_server.search.embeddings import LocalEmbedder
from tests.integration.mcp.conftest import (
    TokenIssuer,
    add_content,
    client_ssl_context,
    mcp_client,
    payload,
    serve,
)

QUERY = {"query": "noise-cancelling headphones on a dark desk", "limit": 3}

CacheT = TypeVar("CacheT", bound=ResponseCache)


class CacheFactory:
    """Caches on this test's Redis prefix, each closed at teardown even if the test fails.

    Closing waits for the answers still being written, so no write outlives the test and
    lands after its prefix was deleted.
    """

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._defaults: dict[str, Any] = {"url": redis_url, "prefix": prefix, "ttl_seconds": 60}
        self.made: list[ResponseCache] = []

    def __call__(self, **overrides: Any) -> ResponseCache:
        return self.build(ResponseCache, **overrides)

    def build(self, cls: type[CacheT], **overrides: Any) -> CacheT:
        """A ``cls`` (a ResponseCache subclass) with the test defaults and ``overrides``."""
        kwargs = {**self._defaults, "metrics": Metrics(), **overrides}
        cache = cls(**kwargs)
        self.made.append(cache)
        return cache


class Computation:
    """A tool's computation that counts its runs.

    Answers ``answer`` after ``seconds`` (long enough for concurrent callers to pile up),
    or, without one, ``{"n": <this run's number>}`` so a test can tell runs apart.
    """

    def __init__(self, answer: dict[str, Any] | None = None, seconds: float = 0.0) -> None:
        self.answer = answer
        self.seconds = seconds
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.seconds:
            await asyncio.sleep(self.seconds)
        return dict(self.answer) if self.answer is not None else {"n": self.calls}


@pytest.fixture
async def cache_factory(redis_url: str, redis_prefix: str) -> AsyncIterator[CacheFactory]:
    factory = CacheFactory(redis_url, redis_prefix)
    yield factory
    for cache in factory.made:
        await cache.close()


async def test_second_identical_call_is_a_cache_hit_and_counted(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    async with serve(app_factory(settings_factory())) as server:
        async with mcp_client(server, token=tokens.token("user")) as client:
            first = await client.call_tool("getContent", QUERY)
            # Same request, different spacing and case: the normalized key is the same.
            second = await client.call_tool(
                "getContent", {**QUERY, "query": "  Noise-cancelling   headphones on a dark DESK "}
            )
        async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http:
            metrics = (await http.get(f"{server.base}/metrics")).text
    assert payload(first)["cached"] is False
    assert payload(second)["cached"] is True
    assert payload(first)["items"] == payload(second)["items"]
    assert list(redis_client.scan_iter(match=f"{redis_prefix}getContent:*"))
    assert "promptsales_mcp_cache_hit_ratio 0.5" in metrics
    assert 'promptsales_mcp_cache_requests_total{result="hit",tool="getContent"} 1.0' in metrics


async def test_roles_do_not_share_cached_answers(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with serve(app_factory(settings_factory())) as server:
        async with mcp_client(server, token=tokens.token("user")) as client:
            await client.call_tool("getContent", QUERY)
        async with mcp_client(server, token=tokens.token("marketing")) as client:
            other_role = await client.call_tool("getContent", QUERY)
    assert payload(other_role)["cached"] is False


async def test_new_content_bumps_version_and_is_served_fresh(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    embedder: LocalEmbedder,
) -> None:
    query = {"query": "a red vintage tram in Lisbon at night", "limit": 1}
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("user")) as client,
    ):
        before = await client.call_tool("getContent", query)
        assert payload(await client.call_tool("getContent", query))["cached"]
        old_version = payload(before)["content_version"]
        new = ContentItem(
            id="img-lisbon-tram",
            title="Red vintage tram in Lisbon at night",
            description="A red vintage tram climbing a narrow Lisbon street at night.",
            tags=["travel", "city"],
            media_type="image",
            media_url="https://cdn.promptsales.io/media/lisbon.jpg",
        )
        await add_content(server.application, seeded_store, embedder, new)
        after = await client.call_tool("getContent", query)
    data = payload(after)
    assert data["content_version"] > old_version
    assert data["cached"] is False
    assert data["items"][0]["id"] == "img-lisbon-tram"
    assert payload(before)["items"][0]["id"] != "img-lisbon-tram"


async def test_redis_down_answers_uncached_and_health_says_so(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    settings = settings_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with serve(app_factory(settings)) as server:
        async with mcp_client(server, token=tokens.token("user")) as client:
            first = await client.call_tool("getContent", QUERY)
            second = await client.call_tool("getContent", QUERY)
        async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http:
            ready = await http.get(f"{server.base}/readyz")
    assert not first.is_error
    assert not second.is_error
    assert payload(second)["cached"] is False
    assert payload(first)["items"] == payload(second)["items"]
    assert ready.status_code == 200
    assert ready.json()["cache"] == "down"
    assert ready.json()["status"] == "degraded"


async def test_with_redis_down_a_repeat_right_after_a_miss_is_not_a_hit(
    cache_factory: CacheFactory,
) -> None:
    """A computed answer waits a few ms before its write (write-behind). With Redis down
    nothing will be written, so a repeat inside that window must be computed again and
    reported uncached, not served the finished shared future as a hit."""
    cache = cache_factory(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2)
    compute = Computation()
    key = cache_key(cache.prefix, CacheKeyParts("t", {"q": 1}, "user", None, "m", 1))
    first = await cache.get_or_compute(key, "t", compute)
    second = await cache.get_or_compute(key, "t", compute)
    assert (first, second) == (({"n": 1}, False), ({"n": 2}, False))
    assert cache.status() == "down"


async def test_concurrent_identical_misses_compute_once(
    cache_factory: CacheFactory, redis_prefix: str
) -> None:
    cache = cache_factory()
    compute = Computation({"answer": 42}, seconds=0.2)
    key = cache_key(redis_prefix, CacheKeyParts("t", {"q": 1}, "user", None, "m", 1))
    results = await asyncio.gather(*(cache.get_or_compute(key, "t", compute) for _ in range(8)))
    again, hit = await cache.get_or_compute(key, "t", compute)
    assert compute.calls == 1
    assert all(value == {"answer": 42} for value, _ in results)
    assert again == {"answer": 42}
    assert hit is True


async def test_identical_misses_on_two_replicas_compute_once(
    cache_factory: CacheFactory, redis_prefix: str
) -> None:
    replicas = [cache_factory() for _ in range(2)]
    compute = Computation({"answer": 7}, seconds=0.3)
    key = cache_key(redis_prefix, CacheKeyParts("t", {"q": 2}, "user", None, "m", 1))
    results = await asyncio.gather(
        *(replica.get_or_compute(key, "t", compute) for replica in replicas for _ in range(4))
    )
    assert compute.calls == 1
    assert all(value == {"answer": 7} for value, _ in results)


class _LockTakerAnsweredLast(ResponseCache):
    """The real cache, with the first lookup's Redis reply handled after the others'.

    Replies to concurrent lookups on separate connections can be handled in any order
    (seen under load in CI); this makes the worst order happen every time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookups = 0

    async def _get_or_lock(self, key: str, lock: str) -> tuple[dict[str, Any] | None, bool]:
        self.lookups += 1
        first = self.lookups == 1
        result = await super()._get_or_lock(key, lock)
        if first:
            await asyncio.sleep(0.1)
        return result


async def test_identical_misses_compute_once_whatever_order_redis_answers_in(
    cache_factory: CacheFactory, redis_prefix: str
) -> None:
    replicas = [cache_factory.build(_LockTakerAnsweredLast, lock_wait_seconds=1) for _ in range(2)]
    compute = Computation({"answer": 9}, seconds=0.2)
    key = cache_key(redis_prefix, CacheKeyParts("t", {"q": 9}, "user", None, "m", 1))
    results = await asyncio.gather(
        *(replica.get_or_compute(key, "t", compute) for replica in replicas for _ in range(4))
    )
    assert compute.calls == 1
    assert all(value == {"answer": 9} for value, _ in results)
    # One process asks Redis once however many identical calls it has in flight.
    assert [replica.lookups for replica in replicas] == [1, 1]


async def test_cache_entries_expire_with_the_configured_ttl(
    cache_factory: CacheFactory, redis_prefix: str, redis_client: redis.Redis
) -> None:
    cache = cache_factory(ttl_seconds=123)
    key = cache_key(redis_prefix, CacheKeyParts("t", {}, "user", None, "m", 1))

    async def compute() -> dict[str, Any]:
        return {"x": 1}

    await cache.get_or_compute(key, "t", compute)
    await cache.flush()  # the answer is written after the caller has it
    assert 0 < int(redis_client.ttl(key)) <= 123


class _TcpProxy:
    """A loopback TCP relay to the real Redis that the test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_redis_outage_mid_run_degrades_then_recovers(
    cache_factory: CacheFactory, redis_url: str, redis_prefix: str
) -> None:
    from urllib.parse import urlparse

    target = urlparse(redis_url)
    proxy = _TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    metrics = Metrics()
    cache = cache_factory(
        url=f"redis://127.0.0.1:{proxy.port}/0",
        metrics=metrics,
        retry_seconds=0.1,
        local_entries=0,  # this test is about the Redis tier
    )
    compute = Computation()
    key = cache_key(redis_prefix, CacheKeyParts("t", {}, "user", None, "m", 1))
    await cache.get_or_compute(key, "t", compute)
    await cache.flush()  # the answer is written after the caller has it
    assert (await cache.get_or_compute(key, "t", compute)) == ({"n": 1}, True)

    await proxy.stop()
    during, hit = await cache.get_or_compute(key, "t", compute)
    assert (during, hit) == ({"n": 2}, False)  # answered, uncached
    assert cache.status() == "down"
    assert metrics.cache_error_count >= 1

    await proxy.start()
    recovered = False
    for _ in range(200):
        await asyncio.sleep(0.05)
        _, hit = await cache.get_or_compute(key, "t", compute)
        if hit:
            recovered = True
            break
    await cache.close()  # before its proxy goes away
    await proxy.stop()
    assert recovered
    assert cache.status() == "ok"


async def test_a_miss_stores_the_answer_with_ttl_and_drops_its_lock(
    cache_factory: CacheFactory, redis_prefix: str, redis_client: redis.Redis
) -> None:
    cache = cache_factory()
    key = cache_key(redis_prefix, CacheKeyParts("t", {"q": 2}, "user", None, "m", 1))

    async def compute() -> dict[str, Any]:
        return {"answer": 7}

    value, hit = await cache.get_or_compute(key, "t", compute)
    await cache.flush()
    stored_ttl = redis_client.ttl(key)
    lock_left = redis_client.exists(f"{key}:lock")
    assert (value, hit) == ({"answer": 7}, False)
    assert 0 < stored_ttl <= 60
    assert lock_left == 0


async def test_a_failed_computation_releases_the_lock_for_the_next_caller(
    cache_factory: CacheFactory, redis_prefix: str, redis_client: redis.Redis
) -> None:
    cache = cache_factory(lock_wait_seconds=30)
    key = cache_key(redis_prefix, CacheKeyParts("t", {"q": 3}, "user", None, "m", 1))

    async def broken() -> dict[str, Any]:
        raise RuntimeError("warehouse down")

    async def working() -> dict[str, Any]:
        return {"answer": 8}

    try:
        await cache.get_or_compute(key, "t", broken)
    except RuntimeError:
        pass
    else:  # pragma: no cover - the computation raises
        raise AssertionError("the failure must reach the caller")
    await cache.flush()
    lock_left = redis_client.exists(f"{key}:lock")
    # With the lock left behind this call would wait lock_wait_seconds (30 s) for nobody.
    value, hit = await asyncio.wait_for(cache.get_or_compute(key, "t", working), timeout=10)
    assert lock_left == 0
    assert (value, hit) == ({"answer": 8}, False)


async def test_the_local_tier_serves_repeats_without_redis_and_never_outlives_redis(
    cache_factory: CacheFactory, redis_prefix: str, redis_client: redis.Redis
) -> None:
    metrics = Metrics()
    writer = cache_factory(ttl_seconds=1)
    reader = cache_factory(metrics=metrics)
    key = cache_key(redis_prefix, CacheKeyParts("t", {"q": 4}, "user", None, "m", 1))
    compute = Computation()
    # Another replica stored the answer with a 1 s TTL; this one reads it from Redis.
    await writer.get_or_compute(key, "t", compute)
    await writer.flush()
    assert (await reader.get_or_compute(key, "t", compute)) == ({"n": 1}, True)
    # The repeat is served in process: deleting the Redis entry does not change it.
    redis_client.delete(key)
    assert (await reader.get_or_compute(key, "t", compute)) == ({"n": 1}, True)
    assert metrics.cache_local_hits.labels(tool="t")._value.get() == 1
    # ...but never for longer than the Redis entry had left to live.
    await asyncio.sleep(1.2)
    assert (await reader.get_or_compute(key, "t", compute)) == ({"n": 2}, False)
    assert compute.calls == 2


async def test_the_local_tier_is_bounded(cache_factory: CacheFactory, redis_prefix: str) -> None:
    metrics = Metrics()
    cache = cache_factory(metrics=metrics, local_entries=2)
    keys = [
        cache_key(redis_prefix, CacheKeyParts("t", {"q": n}, "user", None, "m", 1))
        for n in range(3)
    ]

    async def compute() -> dict[str, Any]:
        return {"answer": 1}

    for key in keys:
        await cache.get_or_compute(key, "t", compute)
        await cache.flush()
    for key in keys:  # all three are hits; the oldest had to come from Redis again
        assert (await cache.get_or_compute(key, "t", compute))[1] is True
    assert len(cache._local) == 2
    assert metrics.cache_local_hits.labels(tool="t")._value.get() < 3


async def test_a_wire_result_lives_and_dies_with_its_in_process_answer(
    cache_factory: CacheFactory, redis_prefix: str
) -> None:
    cache = cache_factory(ttl_seconds=1, local_entries=1)
    key, other = (
        cache_key(redis_prefix, CacheKeyParts("t", {"q": n}, "user", None, "m", 1)) for n in (1, 2)
    )
    wire = {"structuredContent": {"cached": True}}
    assert cache.attach_wire(key, "2025-11-25", wire) is False  # no answer held: not kept
    await cache.get_or_compute(key, "t", Computation())
    await cache.flush()
    assert cache.attach_wire(key, "2025-11-25", wire) is True
    assert cache.local_wire(key, "2025-11-25") == wire
    assert cache.local_wire(key, "2026-07-28") is None  # each protocol version its own
    cache.clear_local()
    assert cache.local_wire(key, "2025-11-25") is None

    await cache.get_or_compute(key, "t", Computation())  # a Redis hit: held again, bare
    assert cache.local_wire(key, "2025-11-25") is None
    assert cache.attach_wire(key, "2025-11-25", wire) is True
    await cache.get_or_compute(other, "t", Computation())  # evicts it (one entry)
    await cache.flush()
    assert cache.local_wire(key, "2025-11-25") is None
    assert cache.attach_wire(other, "2025-11-25", wire) is True
    await asyncio.sleep(1.1)  # expires with the answer
    assert cache.local_wire(other, "2025-11-25") is None
