"""Keeps ``spec.replicas`` of the shared workloads at the formula's answer: the MCP server
Deployment and the cache's data StatefulSet (read replicas of the Sentinel-managed Redis).

One worker, not one write per campaign: passes only signal that a campaign's demand is not
yet applied; the worker waits a short debounce so a burst of a thousand new campaigns
becomes a few recomputations, plans from the cached campaigns (every campaign's parsed
spec is in the cache, so a plan over ten thousand costs milliseconds and no API read),
patches a workload only when its cached replicas differ, records which demand each
campaign had in the plan it applied, and queues the campaigns whose recorded demand
changed, so their passes can report CapacityScaled (and Ready) truthfully. A workload
whose replicas someone changed by hand is put back when its watch event arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from promptsales_operator import caches, events
from promptsales_operator.clock import rfc3339
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError, path
from workloads.capacity import (
    CACHE_DATA,
    SCALED_WORKLOADS,
    CampaignDemand,
    CapacityPlan,
    plan_capacity,
)

log = logging.getLogger(__name__)


def current_demands(ctx: OperatorContext) -> list[CampaignDemand]:
    """Each live campaign's demand now (an invalid spec counts nothing)."""
    now = ctx.clock.now()
    return [e.demand(now) for e in ctx.cache.campaigns() if e.valid and not e.deleting]


async def apply_plan(ctx: OperatorContext, plan: CapacityPlan) -> None:
    for workload in SCALED_WORKLOADS:
        name, replicas = workload.name, plan.replicas_of(workload)
        ctx.metrics.replicas.labels(name).set(replicas)
        kind = workload.plural  # the operator cache keeps each resource under its plural
        cached = ctx.cache.scaled(kind, name)
        if cached is None:
            if workload == CACHE_DATA:
                # A platform on a managed Redis (infra's external cache mode) has no cache
                # StatefulSet: nothing to scale, and no reason to fail the campaigns.
                continue
            raise ApiError(404, "NotFound", f"{workload.kind} {name} not found")
        if cached.replicas == replicas:
            continue
        url = path("apps/v1", workload.plural, ctx.namespace, name)
        answer = await ctx.client.patch(url, {"spec": {"replicas": replicas}})
        ctx.cache.remember(kind, name, caches.scaled_entry(answer))
        ctx.metrics.writes.labels(workload.kind).inc()
        message = (
            f"scaled {name} from {cached.replicas} to {replicas} replicas for "
            f"{plan.total_requests_per_second:g} req/s of {plan.active_campaigns} active campaigns"
        )
        log.info(message)
        await events.post_direct(
            ctx.client, answer, "Scaled", message, now=rfc3339(ctx.clock.now())
        )


async def reconcile_capacity(ctx: OperatorContext) -> CapacityPlan | None:
    """Plan, apply, record; queue the campaigns whose applied demand changed."""
    state = ctx.capacity
    demands = current_demands(ctx)
    plan = plan_capacity(demands, ctx.settings.capacity_policy())
    try:
        await apply_plan(ctx, plan)
    except ApiError as exc:
        error = f"cannot scale shared workloads: {exc.status} {exc.reason}"
        ctx.metrics.errors.labels("CapacityScaleFailed").inc()
        log.warning(error)
        if state.error != error:
            state.error = error
            ctx.enqueue_all()  # their CapacityScaled says why
        return None
    recovered = state.error is not None
    state.error = None
    applied = {demand.name: demand.effective for demand in demands}
    changed = [name for name, rps in applied.items() if state.applied.get(name) != rps]
    state.applied = applied
    state.plan = plan
    scaled = ", ".join(f"{w.name} {plan.replicas_of(w)}" for w in SCALED_WORKLOADS)
    state.summary = f"{scaled} replicas"
    if recovered:
        ctx.enqueue_all()
    else:
        for name in changed:
            ctx.queue.add(name)
    return plan


def replicas_drifted(ctx: OperatorContext, plural: str, name: str, replicas: int | None) -> bool:
    """A watched scaled workload's replicas differ from what the last applied plan set."""
    plan = ctx.capacity.plan
    workload = next((w for w in SCALED_WORKLOADS if (w.plural, w.name) == (plural, name)), None)
    if plan is None or workload is None:
        return False
    return replicas != plan.replicas_of(workload)


async def capacity_worker(ctx: OperatorContext, stopped: asyncio.Event) -> None:
    """Run until ``stopped``: debounce change signals; retry failures after the backoff;
    re-plan at the resync period (windows open and close without any event)."""
    settings = ctx.settings
    await ctx.synced.wait()
    ctx.capacity.changed.set()  # the first plan right after start (covers restarts)
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.resync_seconds):
                await ctx.capacity.changed.wait()
        if stopped.is_set():
            return
        await asyncio.sleep(settings.capacity_debounce_seconds)
        ctx.capacity.changed.clear()
        try:
            await reconcile_capacity(ctx)
        except Exception:  # the worker must outlive any failure: campaigns wait on it
            log.exception("capacity plan failed")
            ctx.capacity.error = "capacity plan failed unexpectedly; retrying"
        if ctx.capacity.error is not None:
            await asyncio.sleep(settings.retry_backoff_seconds)
            ctx.capacity.changed.set()
