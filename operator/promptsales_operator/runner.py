"""Run one operator: API connection, probes and metrics, kopf, background workers."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import kopf

from promptsales_operator.clock import Clock, SystemClock
from promptsales_operator.context import OperatorContext
from promptsales_operator.handlers import build_registry, kopf_settings
from promptsales_operator.kube import Connection, KubeClient, load_connection
from promptsales_operator.metrics import OperatorMetrics
from promptsales_operator.probes import Probes
from promptsales_operator.settings import OperatorSettings


class Operator:
    """One operator instance; ``ctx`` and ``probe_port`` are available once running."""

    def __init__(
        self,
        settings: OperatorSettings,
        *,
        clock: Clock | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.connection = connection
        self.metrics = OperatorMetrics()
        self.probes = Probes(self.metrics)
        self.ctx: OperatorContext | None = None
        self.probe_port: int | None = None

    async def run(self, stop_flag: asyncio.Event | threading.Event | None = None) -> None:
        connection = self.connection or load_connection(self.settings.kubeconfig)
        async with KubeClient(connection, limit=self.settings.worker_limit) as client:
            self.ctx = OperatorContext(self.settings, self.clock, client, self.metrics)
            registry = build_registry(self.ctx, connection)
            if self.settings.probe_port:
                self.probe_port = await self.probes.start(
                    self.settings.probe_host, self.settings.probe_port
                )
            try:
                await kopf.operator(
                    registry=registry,
                    settings=kopf_settings(self.ctx),
                    standalone=True,
                    namespaces=[self.settings.namespace],
                    stop_flag=stop_flag,
                    ready_flag=self.probes.ready,
                )
            finally:
                with contextlib.suppress(Exception):
                    await self.probes.stop()
