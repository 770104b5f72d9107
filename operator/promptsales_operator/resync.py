"""The safety net: every ``resync_seconds`` each cached campaign is queued for a pass.

Drift is seen through the watches (a deleted or edited CronJob or Secret queues its
campaign at once) and window edges and renewals through each campaign's due time
(``requeue.py``); this round catches whatever a missed event or a wall clock that jumped
could leave behind. It reads nothing from the API: passes work on the caches, and a
converged campaign's pass sends no request at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from promptsales_operator.context import OperatorContext

log = logging.getLogger(__name__)


async def resync_worker(ctx: OperatorContext, stopped: asyncio.Event) -> None:
    await ctx.synced.wait()
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ctx.settings.resync_seconds):
                await stopped.wait()
        if stopped.is_set():
            return
        queued = ctx.enqueue_all()
        for kind, size in ctx.cache.sizes().items():
            ctx.metrics.cached_objects.labels(kind).set(size)
        ctx.capacity.changed.set()
        ctx.platform_certs_changed.set()
        log.debug("resync: %d campaigns queued", queued)
