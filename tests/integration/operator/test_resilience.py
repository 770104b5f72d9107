"""Failures the operator must outlive: a stalled API server, a worker's unexpected error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from promptsales_operator import capacity
from promptsales_operator.kube import ApiError, Connection, KubeClient
from tests.integration.operator.conftest import (
    CAMPAIGNS,
    Platform,
    StartOperator,
    campaign,
    is_ready,
    wait_campaign,
)


async def test_a_request_the_server_never_answers_is_an_api_error_not_a_crash() -> None:
    async def stall(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/ns/events", stall)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with KubeClient(Connection(f"http://127.0.0.1:{port}"), read_timeout=0.2) as client:
            with pytest.raises(ApiError) as info:
                await client.create("/api/v1/namespaces/ns/events", {})
        assert info.value.status == 504
    finally:
        await runner.cleanup()


async def test_the_capacity_worker_outlives_an_unexpected_error(
    platform: Platform, start_operator: StartOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign's Ready waits on the capacity worker: if it died, every new campaign
    would wait forever (seen once, when a timeout escaped as a non-API error)."""
    real = capacity.apply_plan
    failures = {"left": 2}

    async def flaky(ctx: Any, plan: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("something nobody expected")
        await real(ctx, plan)

    monkeypatch.setattr(capacity, "apply_plan", flaky)
    running = await start_operator(retry_backoff_seconds=0.1)
    platform.kube.create_object(CAMPAIGNS, campaign("survivor"))
    await wait_campaign(platform.kube, "survivor", is_ready, "Ready after the worker recovered")
    assert failures["left"] == 0
    assert running.ctx.workers_alive()


async def test_a_start_with_more_objects_than_pass_workers_converges(
    platform: Platform, start_operator: StartOperator
) -> None:
    """A restart finds hundreds of campaigns, CronJobs and Secrets at once. kopf's own worker
    limit must not bound its per-object watchers: each waits, after indexing, for every other
    object to be indexed, so a limit below the object count deadlocked the start (kopf issue
    #1243; seen on a real API server: nothing processed after a restart mid-burst)."""
    names = [f"many-{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        platform.kube.create_object(CAMPAIGNS, campaign(name, str(200 + i)))
    await start_operator(worker_limit=4)
    for name in names:
        await wait_campaign(platform.kube, name, is_ready, "Ready after a crowded start")
