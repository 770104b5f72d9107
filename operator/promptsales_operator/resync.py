"""Periodic resync: every campaign is reconciled again each ``resync_seconds``.

This is what repairs drift (a CronJob edited or deleted by hand), which produces no event
on the campaign. Window starts and ends and certificate renewals are acted on at their
time by each campaign's own timer (``requeue.py``), which also retries a failed timed pass
after the backoff; the resync is their safety net (a retry dropped because another trigger
moved the timer, a wall clock that jumped). One worker lists the campaigns once per
period instead of a kopf timer per campaign, because kopf timers put a finalizer on every
object (deletion would then wait for the operator) and poll from a task per campaign.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError
from promptsales_operator.reconcile import reconcile_campaign

log = logging.getLogger(__name__)


async def resync_once(ctx: OperatorContext) -> int:
    """Reconcile every campaign once (bounded concurrency); returns how many were seen."""
    bodies = await ctx.client.list(ctx.campaigns_path())
    limit = asyncio.Semaphore(ctx.settings.worker_limit)

    async def one(body: dict[str, object]) -> None:
        async with limit:
            try:
                await reconcile_campaign(ctx, body)
            except ApiError as exc:  # the next round retries; the status says why
                log.warning("resync of a campaign failed: %s %s", exc.status, exc.reason)

    live = [b for b in bodies if not (b.get("metadata") or {}).get("deletionTimestamp")]
    await asyncio.gather(*(one(body) for body in live))
    return len(live)


async def resync_worker(ctx: OperatorContext, stopped: asyncio.Event) -> None:
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ctx.settings.resync_seconds):
                await stopped.wait()
        if stopped.is_set():
            return
        try:
            await resync_once(ctx)
        except ApiError as exc:
            log.warning("resync listing failed: %s %s", exc.status, exc.reason)
