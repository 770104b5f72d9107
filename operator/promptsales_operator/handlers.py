"""kopf wiring: which events run a reconcile pass, and the background workers' lifetime.

Handlers are registered on a registry built per operator instance (not kopf's global
one), closing over an :class:`OperatorContext`; tests and the benchmark can therefore run
operators with their own clock and settings side by side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from promptsales_operator.capacity import capacity_worker
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import Connection
from promptsales_operator.platform_certs import platform_certificate_worker
from promptsales_operator.reconcile import reconcile_campaign
from promptsales_operator.resync import resync_worker

log = logging.getLogger(__name__)

RESOURCE = ("promptsales.io", "v1alpha1", "promptsalescampaigns")


def build_registry(ctx: OperatorContext, connection: Connection) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    workers: list[asyncio.Task[None]] = []
    stopped = asyncio.Event()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection.kopf_info(ctx.namespace)

    @kopf.on.startup(registry=registry)
    async def start_workers(**_: Any) -> None:
        workers.append(asyncio.create_task(capacity_worker(ctx, stopped), name="capacity"))
        workers.append(
            asyncio.create_task(platform_certificate_worker(ctx, stopped), name="platform-certs")
        )
        workers.append(asyncio.create_task(resync_worker(ctx, stopped), name="resync"))
        ctx.capacity_changed.set()  # first plan right after start (covers restarts)

    @kopf.on.cleanup(registry=registry)
    async def stop_workers(**_: Any) -> None:
        stopped.set()
        ctx.capacity_changed.set()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await ctx.requeue.close()

    async def run_pass(body: kopf.Body) -> None:
        result = await reconcile_campaign(ctx, body)
        if result.permanent is not None:
            raise kopf.PermanentError(result.permanent)
        if result.retry is not None:
            raise kopf.TemporaryError(result.retry, delay=ctx.settings.retry_backoff_seconds)

    @kopf.on.resume(*RESOURCE, registry=registry, id="reconcile")
    @kopf.on.create(*RESOURCE, registry=registry, id="reconcile")
    @kopf.on.update(*RESOURCE, registry=registry, id="reconcile", field="spec")
    async def on_change(body: kopf.Body, **_: Any) -> None:
        await run_pass(body)

    @kopf.on.event(*RESOURCE, registry=registry, id="forget")
    async def on_event(type: str | None, name: str, **_: Any) -> None:
        if type == "DELETED":
            ctx.note_demand(name, None)  # capacity recomputed without it
            ctx.metrics.set_phase(name, None)
            ctx.locks.pop(name, None)
            ctx.requeue.cancel(name)

    return registry


def kopf_settings(ctx: OperatorContext) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="promptsales.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="promptsales.io", key="last-handled-configuration"
    )
    settings.posting.enabled = True
    settings.posting.level = logging.INFO
    # One kopf worker per campaign with events queued (kopf's default: no limit); a
    # limit here would hold a thousand-campaign burst behind workers idling out.
    settings.batching.worker_limit = None
    settings.batching.idle_timeout = 1.0
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 600
    return settings
