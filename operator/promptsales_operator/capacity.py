"""Keeps ``spec.replicas`` of the shared MCP and cache Deployments at the formula's answer.

One worker, not one write per campaign: campaign passes only signal that demand changed;
the worker waits a short debounce so a burst of a thousand new campaigns becomes one
recomputation, lists the campaigns (the API, not memory, is the truth after a restart),
and patches a Deployment only when its replicas differ. A periodic resync catches windows
that opened or closed while nothing else happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from promptsales_operator import events
from promptsales_operator.campaign import SpecError, WindowState, parse_campaign
from promptsales_operator.clock import rfc3339
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError, path
from workloads.capacity import CampaignDemand, CapacityPlan, plan_capacity
from workloads.common import CACHE_DEPLOYMENT, MCP_DEPLOYMENT

log = logging.getLogger(__name__)


async def current_plan(ctx: OperatorContext) -> CapacityPlan:
    now = ctx.clock.now()
    demands = []
    for body in await ctx.client.list(ctx.campaigns_path()):
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            campaign = parse_campaign(body)
        except SpecError:
            continue  # a bad spec contributes nothing; its own status says why
        demands.append(
            CampaignDemand(
                campaign.name,
                campaign.requests_per_second,
                campaign.peak_requests_per_second,
                active=campaign.window_state(now) is WindowState.ACTIVE,
            )
        )
    return plan_capacity(demands, ctx.settings.capacity_policy())


async def apply_plan(ctx: OperatorContext, plan: CapacityPlan) -> None:
    for name, replicas in (
        (MCP_DEPLOYMENT, plan.mcp_replicas),
        (CACHE_DEPLOYMENT, plan.cache_replicas),
    ):
        ctx.metrics.replicas.labels(name).set(replicas)
        url = path("apps/v1", "deployments", ctx.namespace, name)
        if name == CACHE_DEPLOYMENT:
            # A platform on a managed Redis (infra's external cache mode) has no cache
            # Deployment: nothing to scale, and no reason to fail the campaigns' capacity.
            found = await ctx.client.get_or_none(url)
            if found is None:
                continue
            deployment = found
        else:
            deployment = await ctx.client.get(url)
        current = (deployment.get("spec") or {}).get("replicas")
        if current == replicas:
            continue
        await ctx.client.patch(url, {"spec": {"replicas": replicas}})
        ctx.metrics.writes.labels("Deployment").inc()
        message = (
            f"scaled {name} from {current} to {replicas} replicas for "
            f"{plan.total_requests_per_second:g} req/s of {plan.active_campaigns} active campaigns"
        )
        log.info(message)
        await events.post_direct(
            ctx.client, deployment, "Scaled", message, now=rfc3339(ctx.clock.now())
        )


async def reconcile_capacity(ctx: OperatorContext) -> CapacityPlan | None:
    try:
        plan = await current_plan(ctx)
        await apply_plan(ctx, plan)
    except ApiError as exc:
        ctx.capacity_error = f"cannot scale shared deployments: {exc.status} {exc.reason}"
        ctx.metrics.errors.labels("CapacityScaleFailed").inc()
        log.warning(ctx.capacity_error)
        return None
    ctx.capacity_error = None
    return plan


async def capacity_worker(ctx: OperatorContext, stopped: asyncio.Event) -> None:
    """Run until ``stopped``: debounce change signals, resync periodically."""
    settings = ctx.settings
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.resync_seconds):
                await ctx.capacity_changed.wait()
        if stopped.is_set():
            return
        await asyncio.sleep(settings.capacity_debounce_seconds)
        ctx.capacity_changed.clear()
        await reconcile_capacity(ctx)
        if ctx.capacity_error is not None:
            await asyncio.sleep(settings.retry_backoff_seconds)
