"""Liveness, readiness and /metrics on one small aiohttp server.

Liveness fails when the operator's event loop stops turning (the probe handler itself runs
on it) or one of its background workers has ended (the kubelet then restarts the pod
rather than leave a stuck operator running); readiness waits until the operator has
connected and its startup handlers ran, so a rollout does not count a still-connecting
operator as available.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from promptsales_operator.metrics import OperatorMetrics


class Probes:
    def __init__(self, metrics: OperatorMetrics) -> None:
        self.metrics = metrics
        self.ready = asyncio.Event()
        self.alive: Callable[[], bool] = lambda: True
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        if self.alive():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "a background worker stopped"}, status=500)

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready.is_set():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting"}, status=503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> int:
        """Serve on ``port`` (0 picks a free one); returns the bound port."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
