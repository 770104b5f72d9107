"""Cache-aside for tool answers in Redis, with single-flight and graceful degradation.

Key = prefix + sha256(tool, normalized arguments, role, campaign scope, embedding model,
content version, and for answers built on a campaign's KPIs that campaign's KPI version).
Because the content version is part of the key, new content makes every older answer
unreachable at once (they expire by TTL); nothing stale is served and nothing has to be
scanned or deleted. The KPI version does the same for one campaign when an ETL run
changes its data (the server polls the versions, see ``ContentService``).

Concurrent identical misses share one computation: in one process through a shared
future, across replicas through a short-lived Redis lock whose losers wait (bounded)
for the winner's answer.

In front of Redis sits a small in-process tier (an LRU of recent answers, each kept no
longer than its Redis entry lives): agents repeat the same calls, and a Redis round trip
plus its client code is a fifth of a cached answer's whole cost. Its keys are the Redis
keys, so the content version invalidates both tiers at once. An entry can also hold the
answer's wire result as the SDK produced it, per protocol version, which the protocol
layer replays for a repeat (``mcp_server.protocol_path``); it lives and dies with the entry.

Round trips are the cost of a cache that sits in front of a few-millisecond answer, so
a Redis lookup is one: a server-side script returns the answer or, on a miss, takes the lock
in the same call. Storing a computed answer happens after the caller has it (in the
background, ``WRITE_BEHIND_SECONDS`` later, still under the lock and the in-process shared
future, so a concurrent identical call never computes twice while the write is pending).
When Redis fails, the cache opens a circuit for ``retry_seconds`` and answers are
computed uncached; health reports the cache as down until a call succeeds again.

On a Sentinel-managed set (``mcp_server.answers.cache_engine``) every MCP replica reads and
writes the same answers, whichever cache pod a connection reaches: the lookup reads a
replica first (reads scale with the replicas) and only a replica's miss goes to the
primary, whose script looks again and takes the lock there, so an answer written a
moment ago and not yet replicated is still a hit, and the single-flight lock has one
home. A replica that fails only sends its reads to the primary; losing the primary
opens the circuit until Sentinel has promoted a replica, and then the cache resumes by
itself (its connections ask the Sentinels for the new primary).

The protocol layer's wire results are shared too: a wire result attached on one MCP
replica is published on the cache's channel (only while its answer is still in Redis);
every replica listening (``start``) keeps it in its in-process tier, so a repeat on
another replica is replayed as fast as on the first one. Measured through a round-robin
balancer on two replicas (``bench.mcp_replicas``), reading the other replica's answer from
Redis instead left the repeat at 1.35 times the no-op tool at p95, where a local replay
is under 1.0. A replica that missed the message (it started later, or its subscription
was reconnecting) finds the answer in Redis on the repeat, the same single round trip as
any Redis hit, and holds that hit's wire result from then on. Wire results are never
read from Redis: an earlier version stored them there for such replicas, which cost
every *miss* a second round trip before the lookup, to spare a rare repeat one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mcp_server.answers import wire
from mcp_server.answers.cache_engine import DEFAULT_MASTER_NAME, CacheClients, connect
from mcp_server.metrics import Metrics

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

# How long a computed answer waits before it is written to Redis. The write shares the
# event loop with sending this answer and reading the caller's next request; deferred a
# few milliseconds it lands while the loop idles (a next uncached call is on the compute
# thread by then). Measured at 100 items, two A/B pairs: uncached p95 9.6/9.0 -> 8.8/8.1
# ms. Meanwhile the answer is served from the shared future here and other replicas wait
# on the lock, so nothing is computed twice.
WRITE_BEHIND_SECONDS = 0.005

# KEYS[1] the answer, KEYS[2] its single-flight lock, ARGV[1] the lock's TTL in ms.
# Returns {1, answer, its remaining TTL in ms} on a hit, else {0, 1} when this caller
# took the lock, {0, 0} when another holds it. Both keys share the answer's name, so on
# a Redis Cluster a hash tag in the prefix keeps them in one slot.
_GET_OR_LOCK = """
local answer = redis.call('GET', KEYS[1])
if answer then return {1, answer, redis.call('PTTL', KEYS[1])} end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return {0, 1} end
return {0, 0}
"""


# KEYS[1] the answer; ARGV[1] the channel, ARGV[2] the message. Published only while
# the answer lives, checked where it lives: nothing is shared for a gone answer.
_SHARE_WIRE = """
if redis.call('PTTL', KEYS[1]) <= 0 then return 0 end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"""


class _LocalEntry:
    """An answer in the in-process tier, and its wire results (protocol version -> dict)."""

    __slots__ = ("answer", "expires", "wire")

    def __init__(self, expires: float, answer: JsonObject | None) -> None:
        self.expires = expires
        self.answer = answer  # None: only a wire result another replica published is held
        self.wire: dict[str, JsonObject] = {}


@dataclass(frozen=True)
class CacheKeyParts:
    tool: str
    arguments: Mapping[str, Any]
    role: str
    scope: str | None
    model_id: str
    content_version: int
    kpi_version: int | None = None
    """The campaign's ``warehouse.campaign_kpi_version`` for answers built on its KPIs: an
    ETL run that changes them moves the key, as new content does. None for other tools."""


def cache_key(prefix: str, parts: CacheKeyParts) -> str:
    """A fixed-length key: hashing keeps caller text out of Redis key names (and logs)."""
    fields: dict[str, Any] = {
        "t": parts.tool,
        "a": parts.arguments,
        "r": parts.role,
        "s": parts.scope,
        "m": parts.model_id,
        "v": parts.content_version,
    }
    if parts.kpi_version is not None:  # absent, not null: content answers keep their keys
        fields["k"] = parts.kpi_version
    canonical = orjson.dumps(
        fields,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    digest = hashlib.sha256(canonical).hexdigest()
    return f"{prefix}{parts.tool}:v{parts.content_version}:{digest}"


class ResponseCache:
    """Redis cache-aside; every Redis failure degrades to computing the answer."""

    def __init__(
        self,
        url: str | None,
        *,
        prefix: str,
        ttl_seconds: int,
        metrics: Metrics,
        retry_seconds: float = 5.0,
        socket_timeout: float = 1.0,
        lock_wait_seconds: float = 2.0,
        lock_ttl_seconds: float = 10.0,
        local_entries: int = 1024,
        sentinels: Sequence[tuple[str, int]] = (),
        sentinel_master: str = DEFAULT_MASTER_NAME,
        read_from_replicas: bool = True,
    ) -> None:
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._metrics = metrics
        self._retry_seconds = retry_seconds
        self._lock_wait_seconds = lock_wait_seconds
        self._lock_ttl_seconds = lock_ttl_seconds
        self._clients: CacheClients | None = (
            connect(
                url,
                sentinels=sentinels,
                master_name=sentinel_master,
                socket_timeout=socket_timeout,
                read_from_replicas=read_from_replicas,
            )
            if url
            else None
        )
        self._client: aioredis.Redis | None = (
            self._clients.primary if self._clients is not None else None
        )
        self._open_until = 0.0
        self._last_error: str | None = None
        self._inflight: dict[str, asyncio.Future[JsonObject]] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self.channel = f"{prefix}wires"
        # Most recently used last; expiry on the monotonic clock.
        self._local: OrderedDict[str, _LocalEntry] = OrderedDict()
        self._local_entries = local_entries
        self._get_or_lock_script = (
            self._client.register_script(_GET_OR_LOCK) if self._client is not None else None
        )
        self._share_wire_script = (
            self._client.register_script(_SHARE_WIRE) if self._client is not None else None
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def status(self) -> str:
        """``ok``, ``down`` (circuit open after a failure) or ``disabled``."""
        if self._client is None:
            return "disabled"
        return "down" if self._last_error is not None else "ok"

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return False
        self._recover()
        return True

    def start(self) -> None:
        """Listen for the wire results other replicas share (until ``close``)."""
        if self._clients is not None and self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        """Keep what other replicas publish; resubscribe after any failure (a failover
        closes the connection), never opening the circuit: only hits are lost meanwhile."""
        assert self._clients is not None
        try:
            while True:
                try:
                    async with self._clients.reader.pubsub() as sub:
                        await sub.subscribe(self.channel)
                        async for message in sub.listen():
                            if message.get("type") == "subscribe":
                                self._listening = True  # confirmed by the server
                            elif message.get("type") == "message":
                                self._received(message.get("data"))
                except (RedisError, OSError) as exc:
                    log.debug("wire subscription lost", extra={"error": type(exc).__name__})
                self._listening = False
                await asyncio.sleep(self._retry_seconds)
        finally:
            self._listening = False

    @property
    def listening(self) -> bool:
        """Whether the server has confirmed this replica's subscription to the wire
        results others share: from then on, a share published is a share received."""
        return self._listening

    def _received(self, data: object) -> None:
        if not isinstance(data, bytes | str):
            return
        try:
            message = wire.loads(data)
        except ValueError:
            return  # not one of ours
        if not isinstance(message, dict):
            return
        key, protocol, ttl_ms, result = (message.get(k) for k in ("k", "p", "t", "w"))
        if not (
            isinstance(key, str)
            and key.startswith(self.prefix)
            and isinstance(protocol, str)
            and isinstance(ttl_ms, int)
            and isinstance(result, dict)
        ):
            return
        if self.local_wire(key, protocol) is not None:
            return  # ours, or already held
        entry = self._local_entry(key) or self._local_put(
            key, None, min(ttl_ms, self.ttl_seconds * 1000) / 1000
        )
        if entry is not None:
            entry.wire[protocol] = result
            self._metrics.record_shared_wire_received()

    async def close(self) -> None:
        """Finish the answers still being written, then disconnect."""
        if self._listener is not None:
            # Bounded, and never swallowing a cancellation of the caller (an in-process
            # client's exit cancels the server's lifespan while it closes).
            listener, self._listener = self._listener, None
            listener.cancel()
            await asyncio.wait({listener}, timeout=1.0)
        await self.flush()
        if self._clients is not None:
            await self._clients.aclose()

    async def flush(self) -> None:
        """Wait until every computed answer has been written (or failed to be)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _fail(self, exc: BaseException) -> None:
        if self._last_error is None:
            log.warning(
                "cache unavailable, answering uncached", extra={"error": type(exc).__name__}
            )
        self._last_error = type(exc).__name__
        self._open_until = time.monotonic() + self._retry_seconds
        self._metrics.record_cache_error()

    def _recover(self) -> None:
        if self._last_error is not None:
            log.info("cache available again")
        self._last_error = None
        self._open_until = 0.0

    def _usable(self) -> bool:
        return self._client is not None and time.monotonic() >= self._open_until

    async def _get(self, key: str) -> JsonObject | None:
        if not self._usable():
            return None
        assert self._client is not None
        try:
            raw = await self._client.get(key)
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return None
        self._recover()
        if raw is None:
            return None
        value = wire.loads(raw)
        return value if isinstance(value, dict) else None

    async def _set(self, key: str, value: JsonObject, release: str | None) -> bool:
        """Store the answer and, in the same round trip, drop the lock we held for it."""
        if not self._usable():
            return False
        assert self._client is not None
        try:
            if release is None:
                await self._client.set(key, wire.dumps(value), ex=self.ttl_seconds)
                return True
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(key, wire.dumps(value), ex=self.ttl_seconds)
                pipe.delete(release)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return False
        return True

    def _local_entry(self, key: str) -> _LocalEntry | None:
        entry = self._local.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            self._local.pop(key, None)
            return None
        self._local.move_to_end(key)
        return entry

    def _local_get(self, key: str) -> JsonObject | None:
        entry = self._local_entry(key)
        return entry.answer if entry is not None else None

    def local_wire(self, key: str, protocol: str) -> JsonObject | None:
        """The stored wire result of ``key``'s in-process answer under ``protocol``."""
        entry = self._local_entry(key)
        return entry.wire.get(protocol) if entry is not None else None

    def attach_wire(self, key: str, protocol: str, wire: JsonObject) -> bool:
        """Keep ``wire`` (a hit on ``key``, as sent) with the in-process answer, if held,
        and publish it to the listening replicas (for what is left of the answer's
        lifetime, so it never outlives the answer it was made from)."""
        entry = self._local_entry(key)
        if entry is None:
            return False
        entry.wire[protocol] = wire
        remaining_ms = int((entry.expires - time.monotonic()) * 1000)
        if remaining_ms > 0 and self._usable():
            self._spawn(self._share_wire(key, protocol, wire, remaining_ms))
        return True

    async def _share_wire(self, key: str, protocol: str, value: JsonObject, ttl_ms: int) -> None:
        """Tell the listening replicas, if the answer is still in Redis (one round trip)."""
        if not self._usable():
            return
        assert self._share_wire_script is not None
        message = {"k": key, "p": protocol, "t": ttl_ms, "w": value}
        try:
            await self._share_wire_script(keys=[key], args=[self.channel, wire.dumps(message)])
        except (RedisError, OSError) as exc:
            self._fail(exc)

    def replay_wire(self, key: str, protocol: str) -> JsonObject | None:
        """The wire result of ``key`` under ``protocol`` held in process (attached here
        or published by another replica); None when not held. Never a Redis read."""
        # While the cache is known down nothing is served from it, held or not: health
        # says uncached, and a wire result replays a hit.
        return self.local_wire(key, protocol) if self._last_error is None else None

    async def _read(self, key: str) -> tuple[JsonObject, int] | None:
        """``key``'s value and remaining TTL (ms) from the reader in one round trip.

        A failing replica only costs this read (the primary is asked next, and decides
        whether the cache is down); reading the primary itself, a failure opens the
        circuit as any other.
        """
        assert self._clients is not None
        try:
            async with self._clients.reader.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                raw, ttl_ms = await pipe.execute()
        except (RedisError, OSError) as exc:
            if self._clients.reads_replicas:
                self._metrics.record_cache_error()
            else:
                self._fail(exc)
            return None
        if raw is None or int(ttl_ms) <= 0:
            return None
        value = wire.loads(raw)
        if not isinstance(value, dict):
            return None
        return value, min(int(ttl_ms), self.ttl_seconds * 1000)

    def _local_put(
        self, key: str, value: JsonObject | None, ttl_seconds: float
    ) -> _LocalEntry | None:
        """Hold ``value`` (None: only wire results) for ``ttl_seconds``; wire results
        already held for the key stay with it (same key, same answer)."""
        if self._local_entries <= 0 or ttl_seconds <= 0:
            return None
        previous = self._local_entry(key)
        entry = _LocalEntry(time.monotonic() + ttl_seconds, value)
        if previous is not None:
            entry.wire = previous.wire
        self._local[key] = entry
        self._local.move_to_end(key)
        while len(self._local) > self._local_entries:
            self._local.popitem(last=False)
        return entry

    def clear_local(self) -> None:
        """Forget the in-process tier (the benchmark uses it to time Redis hits)."""
        self._local.clear()

    async def _get_or_lock(self, key: str, lock: str) -> tuple[JsonObject | None, bool]:
        """One round trip: (the cached answer, False), or (None, whether we took the lock)."""
        if not self._usable():
            return None, False
        assert self._clients is not None
        assert self._get_or_lock_script is not None
        if self._clients.reads_replicas:
            replicated = await self._read(key)
            if replicated is not None:
                value, ttl_ms = replicated
                self._local_put(key, value, ttl_ms / 1000)
                return value, False
        try:
            reply = await self._get_or_lock_script(
                keys=[key, lock], args=[int(self._lock_ttl_seconds * 1000)]
            )
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return None, False
        self._recover()
        if not reply[0]:
            return None, bool(reply[1])
        value = wire.loads(reply[1])
        if not isinstance(value, dict):
            return None, False
        self._local_put(key, value, min(int(reply[2]), self.ttl_seconds * 1000) / 1000)
        return value, False

    async def get_or_compute(
        self, key: str, tool: str, compute: Callable[[], Awaitable[JsonObject]]
    ) -> tuple[JsonObject, bool]:
        """The cached answer, or the computed one (stored for next time); second item: hit."""
        pending = self._inflight.get(key)
        if pending is not None:
            # Looked up or computed by this process right now: share it. A finished one is
            # only waiting for its write to Redis, so it is served as the hit it is.
            done = pending.done()
            self._metrics.record_cache(tool, hit=done)
            return await asyncio.shield(pending), done
        # Known down (a call failed, the circuit is open or retrying): computed uncached,
        # as health reports, even if this process still holds the answer.
        local = self._local_get(key) if self._last_error is None else None
        if local is not None:
            self._metrics.record_cache(tool, hit=True, local=True)
            return local, True
        # Registered before asking Redis, so identical calls in this process wait for this
        # one and only this one can take the key's cross-replica lock.
        future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        lock = f"{key}:lock"
        holds_lock = False
        try:
            cached, holds_lock = await self._get_or_lock(key, lock)
            if cached is not None:
                self._inflight.pop(key, None)
                future.set_result(cached)
                self._metrics.record_cache(tool, hit=True)
                return cached, True
            self._metrics.record_cache(tool, hit=False)
            elsewhere = None if holds_lock else await self._computed_elsewhere(key)
            value = elsewhere if elsewhere is not None else await compute()
        except BaseException as exc:
            self._inflight.pop(key, None)
            if holds_lock:
                self._spawn(self._release(lock))
            future.set_exception(exc)
            future.exception()  # consumed here so a lone caller leaves no warning
            raise
        future.set_result(value)
        if elsewhere is None and self._usable():
            self._spawn(self._store(key, value, lock if holds_lock else None))
        elif elsewhere is None:
            # Redis is down: this answer will not be stored, so a repeat must not be served
            # this future as a hit during the write-behind delay (health says uncached).
            self._inflight.pop(key, None)
        else:  # another replica's answer, read from Redis just now: nothing to write
            self._inflight.pop(key, None)
            self._local_put(key, value, self.ttl_seconds)
        return value, False

    def _spawn(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, key: str, value: JsonObject, release: str | None) -> None:
        """Write the answer (and drop our lock), then retire the shared future."""
        try:
            await asyncio.sleep(WRITE_BEHIND_SECONDS)
            if await self._set(key, value, release):
                # Only answers Redis holds enter the local tier: with Redis down or
                # disabled nothing is cached anywhere, as health reports.
                self._local_put(key, value, self.ttl_seconds)
        finally:
            self._inflight.pop(key, None)

    async def _computed_elsewhere(self, key: str) -> JsonObject | None:
        """Another replica holds the key's lock: wait (bounded) for its answer.

        None means compute here: Redis is unusable, or the holder took longer than
        ``lock_wait_seconds`` (waiting is bounded, never a stall). The lock expires by
        itself, so a crashed holder blocks nobody for long.
        """
        if not self._usable():
            return None
        deadline = time.monotonic() + self._lock_wait_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            value = await self._get(key)
            if value is not None:
                return value
        return None

    async def _release(self, lock: str) -> None:
        if self._client is None or not self._usable():
            return
        try:
            await self._client.delete(lock)
        except (RedisError, OSError) as exc:
            self._fail(exc)
