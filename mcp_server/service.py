"""The tools' behaviour, independent of the MCP wiring: retrieval, KPIs, generation, cache.

One :class:`ContentService` per process holds the embedder (loaded once), the current
index snapshot (swapped atomically when the content version moves), the cache and the
warehouse repository. Blocking work runs off the event loop so it keeps serving other
callers: I/O (pymongo, generation) in worker threads, and the model and the index scans
on one dedicated compute thread. Why one: on a small node, native thread pools (a model
runtime's, BLAS's) spinning for the same cores slowed each other several-fold when
measured. The local model runs single-threaded on that thread (see
``mcp_server.search.local_model``) and a full scan is split over threads of our own that sleep
when idle (``mcp_server.search.scan``), so nothing spins between requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import anyio.to_thread
from pydantic import BaseModel, ValidationError, WithJsonSchema

from mcp_server.access import sessions
from mcp_server.access.auth import Principal
from mcp_server.answers.cache import CacheKeyParts, JsonObject, ResponseCache, cache_key
from mcp_server.content.follow import ChangeBatch, ContentFollower, HistoryLostError
from mcp_server.content.store import (
    ContentStore,
    decode_document,
    run_vector_search,
    vectors_from_bson,
)
from mcp_server.content_model import ContentFilters, ContentHit, ContentItem, ScoredItem
from mcp_server.messages.assets import product_name
from mcp_server.messages.channels import Channel
from mcp_server.messages.copywriter import OfflineGenerator
from mcp_server.messages.generation import (
    Draft,
    GenerationError,
    Generator,
    Grounding,
    MessageVariant,
    Tone,
    check_draft,
    duplicates,
    render_variants,
)
from mcp_server.metrics import Metrics
from mcp_server.search.embeddings import Embedder, QueryEmbeddingCache
from mcp_server.search.index import VectorIndex
from mcp_server.search.scan import RowScanner
from mcp_server.sources.contacts import Contact, ContactsRepository
from mcp_server.sources.warehouse import UnknownCampaignError, WarehouseError, WarehouseRepository
from mcp_server.text import key_text, visible_text
from workloads.content_search import INDEX_NAME

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

KPI_WINDOW_DAYS = 90
GROUNDING_ITEMS = 4  # distinct products a message set may draw on
GROUNDING_CANDIDATES = 16  # searched to find them (a product often has several shots)
STARTUP_KPI_POLL_SECONDS = 2.0


class ToolInputError(ValueError):
    """A caller mistake; the message starts with the offending field's name."""


Diversity = Literal["none", "product"]
DIVERSITY_POOL = 4


def product_key(item: ContentItem) -> str:
    """Items showing the same product share this (the title without shot words)."""
    return (product_name(item) or item.id).casefold()


def products_first(hits: list[ScoredItem], limit: int) -> list[ScoredItem]:
    """The best hit of each product in score order, then the other hits in score order."""
    seen: set[str] = set()
    firsts: list[ScoredItem] = []
    rest: list[ScoredItem] = []
    for hit in hits:
        key = product_key(hit.item)
        (rest if key in seen else firsts).append(hit)
        seen.add(key)
    return (firsts + rest)[:limit]


def one_per_product(items: list[ContentItem], limit: int) -> list[ContentItem]:
    """The best-ranked item of each distinct product, in rank order, up to ``limit``."""
    seen: set[str] = set()
    chosen: list[ContentItem] = []
    for item in items:
        key = product_key(item)
        if key not in seen:
            seen.add(key)
            chosen.append(item)
        if len(chosen) == limit:
            break
    return chosen


def _final_check(grounding: Grounding, drafts: list[Draft]) -> None:
    """No variant leaves the server unless it passes the checks, whoever wrote it."""
    for n, draft in enumerate(drafts, start=1):
        problems = check_draft(grounding, draft)
        if problems:
            log.error("variant failed the final check", extra={"problems": problems})
            raise GenerationError(f"variant {n} failed the message checks")
    if duplicates(drafts):
        raise GenerationError("the generator repeated a variant")


def _visible(field_name: str, text: str) -> str:
    try:
        return visible_text(field_name, text)
    except ValueError as exc:
        raise ToolInputError(str(exc)) from None


class ToolUnavailableError(RuntimeError):
    """A dependency of the tool is missing or down; safe to show to the caller."""


# The advertised schema of `items` is deliberately shallow. MCP clients re-validate every
# structured result against the output schema (the Python SDK with jsonschema): checking
# 10 items x 10 typed fields costs the client ~1 ms, more than a cached answer costs the
# server. The server still validates each hit against ContentHit before sending it.
_HITS_SCHEMA = {
    "type": "array",
    "description": (
        "Hits, best first. Each: id, score (cosine similarity), title, caption, description, "
        "tags, media_type, media_url, campaigns, language."
    ),
    "items": {"type": "object"},
}


class ContentResult(BaseModel):
    query: str
    model: str
    content_version: int
    cached: bool = False
    items: Annotated[list[ContentHit], WithJsonSchema(_HITS_SCHEMA)]


class CampaignPerformance(BaseModel):
    campaign: dict[str, Any]
    date_from: dt.date
    date_to: dt.date
    totals: dict[str, float | int | None]
    daily: list[dict[str, Any]]
    cached: bool = False


class CampaignContacts(BaseModel):
    campaign_id: str
    contacts: list[Contact]


class CampaignMessages(BaseModel):
    campaign_id: str
    segment: str
    channel: Channel
    tone: Tone
    language: str
    generator: str
    fallback_reason: str | None = None
    content_version: int
    cached: bool = False
    variants: list[MessageVariant]


@dataclass(frozen=True)
class AnswerPlan:
    """A cacheable tool call after every check: what keys its answer, and how to compute it.

    Built by the ``plan_*`` methods, which do all of a call's authorization, readiness and
    input checks (raising as the call would) and normalize its arguments. The tool body
    and the protocol-layer answer path (``mcp_server.protocol_path``) plan through the same
    methods, so a hit there is exactly the call the tool would have answered.
    """

    tool: str
    arguments: dict[str, Any]  # normalized; part of the cache key
    compute: Callable[[], Awaitable[JsonObject]]
    kpi_campaign: str | None = None
    """Built on this campaign's warehouse data: its KPI version joins the key."""
    echo: dict[str, Any] = field(default_factory=dict)
    """The caller's own text, written over the answer's: callers whose texts differ only
    in case share one cached answer, but each gets back what it sent."""


class ContentService:
    def __init__(
        self,
        *,
        store: ContentStore,
        embedder: Embedder,
        cache: ResponseCache,
        metrics: Metrics,
        warehouse: WarehouseRepository | None = None,
        generator: Generator | None = None,
        query_cache_size: int = 4096,
        refresh_seconds: float = 5.0,
        use_vector_search: bool | None = False,
        contacts: ContactsRepository | None = None,
        follow_changes: bool = True,
        vector_index_name: str = INDEX_NAME,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.queries = QueryEmbeddingCache(embedder, query_cache_size)
        self.cache = cache
        self.metrics = metrics
        self.warehouse = warehouse
        self.generator: Generator = generator or OfflineGenerator()
        self.contacts = contacts
        self.refresh_seconds = refresh_seconds
        self._use_vector_search = use_vector_search
        self.vector_index_name = vector_index_name
        # Follow content through a change stream where the server offers one (see
        # mcp_server.content.follow); None until opened, and then polling otherwise.
        self.follow_changes = follow_changes
        self.follower: ContentFollower | None = None
        self._follow_task: asyncio.Task[None] | None = None
        self.index = VectorIndex.empty(embedder.model_id, max(embedder.dimensions, 1), version=-1)
        self.items = 0  # items searchable now (in the index, or in MongoDB's search index)
        self.ready = False
        self._refresh_lock = asyncio.Lock()
        # campaign id -> warehouse.campaign_kpi_version, polled with the content version.
        # None until the first poll answered: an answer cached under a guessed version
        # could be one an earlier process cached before the data changed.
        self.kpi_versions: dict[str, int] | None = None
        self._kpi_seen = 0
        self._kpi_failing = False
        self._compute_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="promptsales-compute"
        )
        self.scanner = RowScanner()

    async def run_compute(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run model or index work on the compute thread (see the module docstring)."""
        return await asyncio.wrap_future(self._compute_thread.submit(function, *args, **kwargs))

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def vector_search(self) -> bool:
        """getContent runs ``$vectorSearch`` in MongoDB; no index is held in process."""
        return bool(self._use_vector_search)

    def _publish(self, index: VectorIndex, items: int) -> None:
        self.index = index
        self.items = items
        self.metrics.content_items.set(items)
        self.metrics.content_version.set(index.version)

    async def refresh(self, force: bool = False) -> bool:
        """Rebuild the index if the stored content version moved; True when rebuilt.

        With ``$vectorSearch`` only the version is followed (it keys the cache): the
        items stay in MongoDB, so a server's memory no longer bounds the library.
        """
        async with self._refresh_lock:
            version = await anyio.to_thread.run_sync(self.store.version)
            if not force and version == self.index.version:
                return False
            if self.vector_search:
                count = await anyio.to_thread.run_sync(self.store.count, self.model_id)
                self._publish(self.index.relabelled(version), count)
                log.info("content version followed", extra={"content_version": version})
                return True
            index = await anyio.to_thread.run_sync(
                self.store.load_index, self.model_id, self.embedder.dimensions
            )
            self._publish(index, len(index))
            log.info(
                "search index built", extra={"items": len(index), "content_version": index.version}
            )
            return True

    async def apply_changes(self, batch: ChangeBatch) -> None:
        """Publish what the change stream delivered (see :mod:`mcp_server.content.follow`)."""
        if batch.reload:
            log.info("content collection dropped or renamed; reading it again")
            if self.follower is not None:
                await anyio.to_thread.run_sync(self.follower.reopen)
            await self.refresh(force=True)
            return
        async with self._refresh_lock:
            # Versions only rise (ContentStore.bump_version); an event replayed from
            # before the first load may carry an older one.
            version = max(batch.version or 0, self.index.version)
            if self.vector_search:
                count = await anyio.to_thread.run_sync(self.store.count, self.model_id)
                self._publish(self.index.relabelled(version), count)
                return
            upserts: list[ContentItem] = []
            vectors: list[bytes] = []
            deleted: set[str] = set()
            for content_id, doc in batch.items.items():
                decoded = (
                    None
                    if doc is None
                    else decode_document(doc, self.model_id, self.embedder.dimensions)
                )
                if decoded is None:  # deleted, or no longer this model's: out of the index
                    deleted.add(content_id)
                else:
                    upserts.append(decoded[0])
                    vectors.append(decoded[1])
            if not upserts and not deleted:
                index = self.index.relabelled(version)
            else:
                matrix = vectors_from_bson(vectors, self.embedder.dimensions)
                index = await anyio.to_thread.run_sync(
                    self.index.with_changes, upserts, matrix, deleted, version
                )
            self._publish(index, len(index))
            log.info(
                "content changes applied",
                extra={
                    "upserted": len(upserts),
                    "deleted": len(deleted),
                    "items": len(index),
                    "content_version": version,
                },
            )

    async def _follow_loop(self) -> None:
        """Apply change-stream batches as they come; reload when the stream cannot resume."""
        follower = self.follower
        assert follower is not None
        while True:
            try:
                batch = await anyio.to_thread.run_sync(follower.next_batch)
                if batch:
                    await self.apply_changes(batch)
                elif follower.interrupted:
                    await asyncio.sleep(min(self.refresh_seconds, 1.0))
            except HistoryLostError as exc:
                log.warning(
                    "change stream cannot resume; reading all content again",
                    extra={"error": str(exc)},
                )
                try:
                    await anyio.to_thread.run_sync(follower.reopen)
                    await self.refresh(force=True)
                except Exception:
                    log.exception("content reload failed; retrying")
                    await asyncio.sleep(self.refresh_seconds)
            except Exception:
                log.exception("applying content changes failed; serving the previous snapshot")
                await asyncio.sleep(self.refresh_seconds)

    async def _load(self) -> bool:
        """First load; False (and not ready) while MongoDB or the embedder is unavailable."""
        try:
            if self._use_vector_search is None:
                self._use_vector_search = await anyio.to_thread.run_sync(
                    self.store.supports_vector_search, self.vector_index_name
                )
            if not self.embedder.dimensions:
                # A remote model's dimension is learnt from one probe unless configured.
                await anyio.to_thread.run_sync(self.embedder.embed, ["dimension probe"])
            if self._use_vector_search and not await anyio.to_thread.run_sync(
                self.store.supports_vector_search, self.vector_index_name
            ):
                # Configured for $vectorSearch: not ready until mongot has built the index.
                raise ToolUnavailableError(
                    f"vector search index {self.vector_index_name} is not queryable yet"
                )
            if self.follow_changes and self.follower is None:
                # Opened before the full load, so nothing written meanwhile is missed.
                follower = ContentFollower(self.store, items=not self.vector_search)
                if await anyio.to_thread.run_sync(follower.open):
                    self.follower = follower
            await self.refresh(force=True)
        except Exception as exc:
            log.warning("content index not loaded yet, retrying", extra={"error": repr(exc)})
            return False
        log.info(
            "vector backend",
            extra={
                "backend": "mongo" if self.vector_search else "exact",
                "follow": self.follow_mode,
            },
        )
        self.ready = True
        return True

    async def refresh_kpi_versions(self) -> bool:
        """Fetch the campaigns whose KPI data changed since the last poll; False on failure.

        One small query per poll (an index range on the version), none per call. A
        warehouse that does not answer leaves the last map in use: the ETL cannot have
        written to a warehouse that is down, and content answers do not depend on it.
        """
        if self.warehouse is None:
            return False
        try:
            changed, newest = await self.warehouse.kpi_versions(self._kpi_seen)
            versions = self.kpi_versions
            if versions is None or newest < self._kpi_seen:
                # First poll, or the table was rebuilt (versions went back): take it whole.
                if versions is not None:
                    changed, newest = await self.warehouse.kpi_versions(0)
                versions = {}
            versions.update(changed)
        except (WarehouseError, UnknownCampaignError) as exc:
            if not self._kpi_failing:
                log.warning(
                    "KPI versions not refreshed; keeping the last ones", extra={"error": str(exc)}
                )
            self._kpi_failing = True
            return False
        if self._kpi_failing:
            log.info("KPI versions refreshed again")
        self._kpi_failing = False
        self.kpi_versions, self._kpi_seen = versions, newest
        return True

    @property
    def follow_mode(self) -> str:
        """How content changes reach this server: ``change_stream`` or ``poll``."""
        return "change_stream" if self.follower is not None else "poll"

    def _start_following(self) -> None:
        if self.follower is not None and self._follow_task is None:
            self._follow_task = asyncio.create_task(self._follow_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh_kpi_versions()
            except Exception:
                log.exception("KPI version refresh failed")
            if not self.ready:
                await self._load()
                self._start_following()
                continue
            if self.follower is not None:
                continue  # the follow loop applies content changes
            try:
                await self.refresh()
            except Exception:
                log.exception("index refresh failed; serving the previous snapshot")

    def require_ready(self) -> None:
        if not self.ready:
            raise ToolUnavailableError("the content index is loading; retry shortly")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ContentService]:
        # Serving starts even when MongoDB is down: /readyz answers 503 and tools say
        # "loading" until the background loop has built the first index.
        await self._load()
        self.cache.start()  # wire results other replicas share
        # Bounded: a warehouse that does not answer must not hold up serving content; KPI
        # answers stay uncached until the loop below reads the versions.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.refresh_kpi_versions(), STARTUP_KPI_POLL_SECONDS)
        task = asyncio.create_task(self._refresh_loop())
        self._start_following()
        try:
            yield self
        finally:
            self.ready = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._follow_task is not None:
                self._follow_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._follow_task
                self._follow_task = None
            if self.follower is not None:
                await anyio.to_thread.run_sync(self.follower.close)
            await self.cache.close()
            if self.warehouse is not None:
                await self.warehouse.close()
            self._compute_thread.shutdown(wait=False, cancel_futures=True)
            self.scanner.close()

    async def health(self) -> dict[str, Any]:
        mongo = await anyio.to_thread.run_sync(self.store.ping)
        cache_ok = await self.cache.ping() if self.cache.enabled else None
        warehouse = await self.warehouse.ping() if self.warehouse is not None else None
        ready = self.ready and mongo
        return {
            "status": "ok"
            if ready and cache_ok is not False
            else ("degraded" if ready else "down"),
            "ready": ready,
            "content": {
                "reachable": mongo,
                "items": self.items,
                "version": self.index.version,
                "follow": self.follow_mode,
                "search": "mongo" if self.vector_search else "in_process",
            },
            "cache": self.cache.status(),
            "warehouse": {None: "disabled", True: "ok", False: "down"}[warehouse],
            # "pending": KPI answers are computed but not cached until the versions are read.
            "kpi_versions": "disabled"
            if self.warehouse is None
            else ("pending" if self.kpi_versions is None else "loaded"),
            "embedding_model": self.model_id,
        }

    # --- instrumentation and caching ------------------------------------------------------

    def answer_key(self, principal: Principal, plan: AnswerPlan) -> str | None:
        """The cache key of ``plan``'s answer for ``principal``; None: not cacheable now.

        ``plan.kpi_campaign``: the answer is built on that campaign's warehouse data, so
        its KPI version joins the key (0 for a campaign no ETL run has versioned yet).
        Until the versions have been read once, such answers are not cached.
        """
        kpi_version: int | None = None
        if plan.kpi_campaign is not None and self.warehouse is not None:
            if self.kpi_versions is None:
                return None
            kpi_version = self.kpi_versions.get(plan.kpi_campaign, 0)
        parts = CacheKeyParts(
            tool=plan.tool,
            arguments=plan.arguments,
            role=principal.role,
            scope=principal.campaign_id,
            model_id=self.model_id,
            content_version=self.index.version,
            kpi_version=kpi_version,
        )
        return cache_key(self.cache.prefix, parts)

    async def answer(self, principal: Principal, plan: AnswerPlan) -> JsonObject:
        """The tool's answer, already in wire form, with ``cached`` saying whether it was a hit.

        Answers are validated once, when computed (through their pydantic model), and
        stored as that model's JSON dump. A hit is therefore handed on as the parsed dict,
        not re-validated into a model and dumped again: on the cached path that round trip
        was a measurable share of the whole call (see the README's benchmark section).
        """
        key = self.answer_key(principal, plan)
        if key is None:
            return {**(await plan.compute()), **plan.echo, "cached": False}
        data, hit = await self.cache.get_or_compute(key, plan.tool, plan.compute)
        # A copy: on a miss, ``data`` is shared with concurrent identical callers.
        return {**data, **plan.echo, "cached": hit}

    @contextlib.asynccontextmanager
    async def observe(self, tool: str, principal: Principal) -> AsyncIterator[None]:
        start = time.perf_counter()
        outcome = "ok"
        try:
            yield
        except (ToolInputError, PermissionError, ValidationError):
            outcome = "rejected"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self.report_call(tool, principal, outcome, time.perf_counter() - start)

    def report_call(self, tool: str, principal: Principal, outcome: str, elapsed: float) -> None:
        """Count and log one call (``observe`` does it for the tool bodies; the protocol
        layer's answer path reports the calls it answers itself the same way)."""
        self.metrics.record_call(tool, outcome, elapsed)
        # Logged: who and how it went. Never the query text or generated messages.
        log.info(
            "tool call",
            extra={
                "tool": tool,
                "outcome": outcome,
                "role": principal.role,
                "auth": principal.method,
                "session": sessions.current_label.get(),
                "ms": round(elapsed * 1000, 2),
            },
        )

    # --- getContent ----------------------------------------------------------------------

    def _exact_search(self, query: str, filters: ContentFilters, limit: int) -> list[ScoredItem]:
        return self.index.search(self.queries.embed_query(query), filters, limit, self.scanner)

    async def search(self, query: str, filters: ContentFilters, limit: int) -> list[ScoredItem]:
        if not self._use_vector_search:
            return await self.run_compute(self._exact_search, query, filters, limit)
        vector = await self.run_compute(self.queries.embed_query, query)
        return await anyio.to_thread.run_sync(
            run_vector_search,
            self.store,
            vector,
            filters,
            limit,
            self.model_id,
            self.vector_index_name,
        )

    def plan_content(
        self,
        principal: Principal,
        query: str,
        filters: ContentFilters,
        limit: int,
        diversity: Diversity = "none",
    ) -> AnswerPlan:
        """getContent; its answer is a :class:`ContentResult` dump.

        ``diversity="product"``: the best item of each product first (a library holds
        several shots of one product, which otherwise fill the top results), then the
        rest by score; drawn from the top ``limit x DIVERSITY_POOL`` candidates.
        """
        principal.require_tool("getContent")
        self.require_ready()
        if principal.campaign_id is not None:
            if filters.campaign_id not in (None, principal.campaign_id):
                principal.require_campaign(filters.campaign_id)
            filters = filters.model_copy(update={"campaign_id": principal.campaign_id})
        query = _visible("query", query)
        version = self.index.version
        campaign = filters.campaign_id
        known = campaign is None or self.index.has_campaign(campaign)

        async def compute() -> JsonObject:
            # With $vectorSearch no index is held here: MongoDB says whether content
            # belongs to the campaign.
            if (
                not known
                and campaign is not None
                and not (
                    self.vector_search
                    and await anyio.to_thread.run_sync(self.store.has_campaign, campaign)
                )
            ):
                await self._require_known_campaign(campaign)
            if diversity == "product":
                pool = await self.search(query, filters, min(limit * DIVERSITY_POOL, 200))
                hits = products_first(pool, limit)
            else:
                hits = await self.search(query, filters, limit)
            result = ContentResult(
                query=query,
                model=self.model_id,
                content_version=version,
                items=[ContentHit.from_scored(h) for h in hits],
            )
            return result.model_dump(mode="json")

        args: dict[str, Any] = {
            "query": key_text(query),
            "filters": filters.normalized(),
            "limit": limit,
        }
        if diversity != "none":  # absent by default: keys of plain searches are unchanged
            args["diversity"] = diversity
        return AnswerPlan("getContent", args, compute, echo={"query": query})

    async def _require_known_campaign(self, campaign_id: str) -> None:
        """A campaign no content item uses must at least exist in the warehouse."""
        if self.warehouse is None:
            raise ToolInputError("campaign_id: no content item belongs to this campaign")
        try:
            await self.warehouse.campaign(campaign_id)
        except UnknownCampaignError:
            raise ToolInputError("campaign_id: no such campaign") from None
        except WarehouseError as exc:
            raise ToolUnavailableError(str(exc)) from None

    # --- getCampaignPerformance ----------------------------------------------------------

    def _require_warehouse(self) -> WarehouseRepository:
        if self.warehouse is None:
            raise ToolUnavailableError("the warehouse is not configured on this server")
        return self.warehouse

    def plan_campaign_performance(
        self, principal: Principal, campaign_id: str, date_from: dt.date, date_to: dt.date
    ) -> AnswerPlan:
        """getCampaignPerformance; its answer is a :class:`CampaignPerformance` dump."""
        principal.require_tool("getCampaignPerformance")
        principal.require_campaign(campaign_id)
        if date_to < date_from:
            raise ToolInputError("date_to: must not be before date_from")
        if (date_to - date_from).days > 366:
            raise ToolInputError("date_to: the range may span at most 366 days")
        warehouse = self._require_warehouse()

        async def compute() -> JsonObject:
            try:
                campaign = await warehouse.campaign(campaign_id)
                totals = await warehouse.totals(campaign_id, date_from, date_to)
                daily = await warehouse.daily_kpis(campaign_id, date_from, date_to)
            except UnknownCampaignError:
                raise ToolInputError("campaign_id: no such campaign in the warehouse") from None
            except WarehouseError as exc:
                raise ToolUnavailableError(str(exc)) from None
            return CampaignPerformance(
                campaign=campaign,
                date_from=date_from,
                date_to=date_to,
                totals=totals.as_dict(),
                daily=daily,
            ).model_dump(mode="json")

        args = {
            "campaign_id": campaign_id,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
        }
        return AnswerPlan("getCampaignPerformance", args, compute, kpi_campaign=campaign_id)

    # --- generateCampaignMessages --------------------------------------------------------

    async def _campaign_grounding_kpis(
        self, campaign_id: str, today: dt.date
    ) -> tuple[str | None, dict[str, float | int | None], str | None]:
        """Campaign name, KPI totals and the period they cover: the last
        ``KPI_WINDOW_DAYS`` days of the campaign's data (not of the calendar), so a
        campaign that ended months ago still cites its own numbers and true dates."""
        if self.warehouse is None:
            return None, {}, None
        try:
            campaign = await self.warehouse.campaign(campaign_id)
            span = await self.warehouse.kpi_span(campaign_id, today, KPI_WINDOW_DAYS)
            if span is None:
                return campaign["name"], {}, None
            first, last = span
            totals = await self.warehouse.totals(campaign_id, first, last)
        except UnknownCampaignError:
            raise ToolInputError("campaign_id: no such campaign in the warehouse") from None
        except WarehouseError as exc:
            raise ToolUnavailableError(str(exc)) from None
        return campaign["name"], totals.as_dict(), f"{first.isoformat()}/{last.isoformat()}"

    def plan_messages(
        self,
        principal: Principal,
        *,
        campaign_id: str,
        segment: str,
        channel: Channel,
        count: int,
        tone: Tone,
        language: str,
    ) -> AnswerPlan:
        """generateCampaignMessages; its answer is a :class:`CampaignMessages` dump."""
        principal.require_tool("generateCampaignMessages")
        principal.require_campaign(campaign_id)
        self.require_ready()
        segment = _visible("segment", segment)
        version = self.index.version
        today = dt.datetime.now(dt.UTC).date()

        async def compute() -> JsonObject:
            name, kpis, period = await self._campaign_grounding_kpis(campaign_id, today)
            query = f"{segment} {name or ''}".strip()
            items = await self.search(
                query, ContentFilters(campaign_id=campaign_id), GROUNDING_CANDIDATES
            )
            if not items:
                items = await self.search(
                    query, ContentFilters(language=language), GROUNDING_CANDIDATES
                )
            grounding = Grounding(
                campaign_id=campaign_id,
                campaign_name=name,
                segment=segment,
                channel=channel,
                tone=tone,
                language=language,
                items=one_per_product([h.item for h in items], GROUNDING_ITEMS),
                kpis=kpis,
                kpi_period=period,
            )
            try:
                written = await anyio.to_thread.run_sync(self.generator.generate, grounding, count)
                _final_check(grounding, written.drafts)
            except GenerationError as exc:
                message = str(exc)
                if message.startswith(("language:", "count:")):
                    raise ToolInputError(message) from None
                raise ToolUnavailableError(message) from None
            return CampaignMessages(
                campaign_id=campaign_id,
                segment=segment,
                channel=channel,
                tone=tone,
                language=language,
                generator=written.generator,
                fallback_reason=written.fallback_reason,
                content_version=version,
                variants=render_variants(grounding, written.drafts),
            ).model_dump(mode="json")

        args = {
            "campaign_id": campaign_id,
            # Exact, not case-folded: the segment's wording is written into the messages.
            "segment": segment,
            "channel": channel,
            "count": count,
            "tone": tone,
            "language": language,
            "day": today.isoformat(),
            "generator": self.generator.name,
        }
        return AnswerPlan("generateCampaignMessages", args, compute, kpi_campaign=campaign_id)

    # --- getCampaignContacts (sales, own campaign, never cached) --------------------------

    async def campaign_contacts(
        self, principal: Principal, campaign_id: str, limit: int
    ) -> CampaignContacts:
        principal.require_tool("getCampaignContacts")
        principal.require_own_campaign(campaign_id)
        if self.contacts is None:
            raise ToolUnavailableError("customer contacts are not configured on this server")
        try:
            rows = await anyio.to_thread.run_sync(self.contacts.contacts, campaign_id, limit)
        except UnknownCampaignError:
            raise ToolInputError("campaign_id: no such campaign in the warehouse") from None
        except WarehouseError as exc:
            raise ToolUnavailableError(str(exc)) from None
        return CampaignContacts(campaign_id=campaign_id, contacts=rows)
