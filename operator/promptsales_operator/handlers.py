"""kopf wiring: the watch-fed caches, which events queue which campaign, and the workers.

kopf watches everything the operator reads (campaigns; the CronJobs and Secrets it owns;
the platform CA Secret; the shared workloads it scales: the MCP server Deployment and the
cache's data StatefulSet) and keeps each kind in an index
(``caches.py``); it calls no handler before all of them are listed, so the first event
handler call marks the caches synced. Event handlers only queue work: a campaign's own
change queues it, a child's change queues its owner (named by the
``promptsales.io/campaign`` label), the CA queues every campaign, a shared workload
whose replicas drifted wakes the capacity worker. The echo of the operator's own write
queues nothing. Nothing is written by kopf itself: no finalizers, no annotations, no
progress records (there are no change handlers), so deleting a campaign never waits for
the operator and a converged campaign is never touched.

Every handler is a coroutine: kopf would run a plain function in a thread pool, a thread
hop per event for work that takes microseconds. Handlers are registered on a registry
built per operator instance (not kopf's global one), closing over an
:class:`OperatorContext`; tests and the benchmark can therefore run operators with their
own clock and settings side by side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from promptsales_operator import caches
from promptsales_operator.capacity import capacity_worker, replicas_drifted
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError, Connection
from promptsales_operator.platform_certs import platform_certificate_worker
from promptsales_operator.reconcile import reconcile_campaign
from promptsales_operator.resync import resync_worker
from workloads.capacity import SCALED_WORKLOADS
from workloads.common import CAMPAIGN_LABEL

log = logging.getLogger(__name__)

CAMPAIGNS = ("promptsales.io", "v1alpha1", "promptsalescampaigns")
CRONJOBS = ("batch", "v1", "cronjobs")
SECRETS = ("", "v1", "secrets")
MANAGED_BY = "app.kubernetes.io/managed-by"
OURS = "promptsales-operator"
# The shared workloads by resource (deployments, statefulsets): kopf watches each resource
# and keeps only the named objects.
SCALED_NAMES = {
    plural: frozenset(w.name for w in SCALED_WORKLOADS if w.plural == plural)
    for plural in dict.fromkeys(w.plural for w in SCALED_WORKLOADS)
}


def _version(type_: str | None, body: kopf.Body) -> str | None:
    """The resourceVersion an event delivers; None for a deletion."""
    if type_ == "DELETED":
        return None
    return str(body.get("metadata", {}).get("resourceVersion", ""))


async def pass_worker(ctx: OperatorContext) -> None:
    """Take campaigns from the queue and run one pass each, until the queue closes."""
    await ctx.synced.wait()
    while (name := await ctx.queue.get()) is not None:
        try:
            result = await reconcile_campaign(ctx, name)
        except ApiError as exc:
            delay = ctx.queue.retry(name)
            log.warning(
                "pass of %s failed: %s %s; retry in %g s", name, exc.status, exc.reason, delay
            )
        except Exception:
            delay = ctx.queue.retry(name)
            log.exception("pass of %s failed; retry in %g s", name, delay)
        else:
            if result.retry is not None and result.permanent is None:
                delay = ctx.queue.retry(name)
                log.info("campaign %s not converged (%s); retry in %g s", name, result.retry, delay)
            else:
                ctx.queue.forget(name)
        finally:
            ctx.queue.done(name)
            ctx.metrics.queue_depth.set(len(ctx.queue))


def build_registry(ctx: OperatorContext, connection: Connection) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    tasks = ctx.workers
    stopped = asyncio.Event()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection.kopf_info(ctx.namespace)

    # --- caches ---------------------------------------------------------------------------

    # An event that delivers our own write keeps the entry built from the write's answer.

    @kopf.index(*CAMPAIGNS, registry=registry, id="campaigns_index")
    async def campaigns_index(name: str, body: kopf.Body, **_: Any) -> dict[str, caches.Entry]:
        ours = ctx.cache.echo(caches.CAMPAIGNS, name, _version(None, body) or "")
        return {name: ours or caches.campaign_entry(body)}

    @kopf.index(*CRONJOBS, registry=registry, id="cronjobs_index", labels={MANAGED_BY: OURS})
    async def cronjobs_index(name: str, body: kopf.Body, **_: Any) -> dict[str, caches.Entry]:
        ours = ctx.cache.echo(caches.CRONJOBS, name, _version(None, body) or "")
        return {name: ours or caches.cronjob_entry(body)}

    @kopf.index(*SECRETS, registry=registry, id="secrets_index")
    async def secrets_index(
        name: str, body: kopf.Body, labels: kopf.Labels, **_: Any
    ) -> dict[str, caches.Entry] | None:
        if ctx.is_ca_secret(name):  # the signing key, parsed when a pass needs it
            return {name: caches.secret_entry(body, keep_data=True)}
        if labels.get(MANAGED_BY) == OURS:
            ours = ctx.cache.echo(caches.SECRETS, name, _version(None, body) or "")
            return {name: ours or caches.secret_entry(body, keep_data=False)}
        return None  # someone else's Secret: not cached

    def scaled_index(plural: str) -> None:
        names = SCALED_NAMES[plural]

        @kopf.index("apps", "v1", plural, registry=registry, id=f"{plural}_index")
        async def index(name: str, body: kopf.Body, **_: Any) -> dict[str, caches.Entry] | None:
            return {name: caches.scaled_entry(body)} if name in names else None

    for plural in SCALED_NAMES:
        scaled_index(plural)

    # --- what queues what -----------------------------------------------------------------

    @kopf.on.event(*CAMPAIGNS, registry=registry, id="campaign_events")
    async def campaign_event(type: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        ctx.synced.set()
        if ctx.cache.observe(caches.CAMPAIGNS, name, _version(type, body)):
            return  # our own status write coming back
        if type == "DELETED":
            ctx.queue.discard(name)
            ctx.due.cancel(name)
            ctx.metrics.set_phase(name, None)
            ctx.capacity.changed.set()  # capacity recomputed without it
            return
        entry = ctx.cache.campaign(name)
        if (
            type is None  # the initial listing: check every child once
            or entry is None
            or entry.deleting
            or entry.generation != entry.observed_generation
        ):
            ctx.queue.add(name)

    @kopf.on.event(*CRONJOBS, registry=registry, id="cronjob_events", labels={MANAGED_BY: OURS})
    async def cronjob_event(type: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        ctx.synced.set()
        if ctx.cache.observe(caches.CRONJOBS, name, _version(type, body)):
            return
        owner = body.get("metadata", {}).get("labels", {}).get(CAMPAIGN_LABEL)
        if owner:
            ctx.queue.add(str(owner))

    @kopf.on.event(*SECRETS, registry=registry, id="secret_events")
    async def secret_event(type: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        ctx.synced.set()
        if ctx.cache.observe(caches.SECRETS, name, _version(type, body)):
            return
        if ctx.is_ca_secret(name):  # a CA rollover: every certificate is checked
            ctx.platform_certs_changed.set()
            if type is not None:
                ctx.enqueue_all()
            return
        if name == ctx.settings.mcp_tls_secret:
            ctx.platform_certs_changed.set()
            return
        labels = body.get("metadata", {}).get("labels", {})
        owner = labels.get(CAMPAIGN_LABEL)
        if owner and labels.get(MANAGED_BY) == OURS:
            ctx.queue.add(str(owner))

    def scaled_events(plural: str) -> None:
        names, kind = SCALED_NAMES[plural], plural  # cached under its plural (caches.KINDS)

        @kopf.on.event("apps", "v1", plural, registry=registry, id=f"{plural}_events")
        async def event(type: str | None, name: str, body: kopf.Body, **_: Any) -> None:
            ctx.synced.set()
            if name not in names:
                return
            if ctx.cache.observe(kind, name, _version(type, body)):
                return
            replicas = body.get("spec", {}).get("replicas")
            if type in {None, "DELETED"} or replicas_drifted(ctx, plural, name, replicas):
                ctx.capacity.changed.set()

    for plural in SCALED_NAMES:
        scaled_events(plural)

    # --- workers --------------------------------------------------------------------------

    @kopf.on.startup(registry=registry)
    async def start_workers(**kwargs: Any) -> None:
        for kind in caches.KINDS:
            ctx.cache.attach(kind, kwargs[f"{kind}_index"])
        tasks.append(asyncio.create_task(ctx.due.run(), name="due times"))
        tasks.append(asyncio.create_task(capacity_worker(ctx, stopped), name="capacity"))
        tasks.append(
            asyncio.create_task(platform_certificate_worker(ctx, stopped), name="platform-certs")
        )
        tasks.append(asyncio.create_task(resync_worker(ctx, stopped), name="resync"))
        for number in range(ctx.settings.worker_limit):
            tasks.append(asyncio.create_task(pass_worker(ctx), name=f"pass worker {number}"))

    @kopf.on.cleanup(registry=registry)
    async def stop_workers(**_: Any) -> None:
        stopped.set()
        ctx.queue.close()
        ctx.capacity.changed.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return registry


class NoDiffBase(kopf.DiffBaseStorage):
    """No change handlers, so no diff is ever needed: kopf's default storage would still
    deep-copy every body on every event to build one (several per cent of the CPU a
    burst of campaigns costs)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def kopf_settings(ctx: OperatorContext) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.diffbase_storage = NoDiffBase()
    # Only the operator's namespace, no cluster-wide observation: kopf would otherwise
    # list and watch CustomResourceDefinitions and Namespaces (cluster-scoped reads the
    # operator's RBAC does not grant and does not need). The CRD must exist at start;
    # the operator checks that first (runner.py).
    settings.scanning.disabled = True
    # The operator posts its own Events; kopf's would repeat handler logs as Events.
    settings.posting.enabled = False
    # The watch of CronJobs is filtered by the API server: only the operator's own.
    settings.watching.label_selectors[CRONJOBS[0], CRONJOBS[2]] = f"{MANAGED_BY}={OURS}"
    # kopf's per-object workers stay unlimited (its default): after indexing an object each
    # waits for every other object to be indexed, so a limit below the number of objects
    # found at start deadlocks the operator (kopf issue #1243). They are cheap here (the
    # handlers only queue a name) and exit after a second idle; the passes themselves are
    # bounded by our own pass workers (``worker_limit``).
    settings.batching.idle_timeout = 1.0
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 600
    return settings
