"""Run one operator: API connection, probes and metrics, kopf, background workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import kopf
from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory

from promptsales_operator.clock import Clock, SystemClock
from promptsales_operator.context import CAMPAIGN_API, CAMPAIGN_PLURAL, OperatorContext
from promptsales_operator.handlers import build_registry, kopf_settings
from promptsales_operator.kube import ApiError, Connection, KubeClient, load_connection
from promptsales_operator.metrics import OperatorMetrics
from promptsales_operator.probes import Probes
from promptsales_operator.settings import OperatorSettings

log = logging.getLogger(__name__)
CRD_POLL_SECONDS = 2.0


def quiet_kopf_objects() -> None:
    """kopf logs "Handler '...' succeeded." at INFO for every watch event of every object
    (four lines per new campaign); failures, which it logs at WARNING and above, stay."""
    objects = logging.getLogger("kopf.objects")
    objects.setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))


async def wait_for_crd(
    client: KubeClient, stop_flag: asyncio.Event | threading.Event | None
) -> bool:
    """Wait until the API server serves the campaign resource (discovery, which every
    authenticated client may read); kopf, with cluster scanning off, serves only resources
    that exist when it starts. Returns False if stopped first."""
    url = f"/apis/{CAMPAIGN_API}"
    warned = False
    while not (stop_flag is not None and stop_flag.is_set()):
        try:
            resources = (await client.get(url)).get("resources") or []
            if any(r.get("name") == CAMPAIGN_PLURAL for r in resources):
                return True
        except ApiError as exc:
            if exc.status not in {404, 503}:
                raise
        if not warned:
            log.warning(
                "the API server does not serve %s %s yet (is the CRD installed?); waiting",
                CAMPAIGN_API,
                CAMPAIGN_PLURAL,
            )
            warned = True
        await asyncio.sleep(CRD_POLL_SECONDS)
    return False


class ForgetfulMemories(ResourceMemories):
    """kopf's per-object memory, not kept between events.

    kopf remembers every object it has seen (about 1.5 KB each: a memo, an error throttler,
    daemon and indexing bookkeeping) for daemons, timers and change handlers, none of which
    this operator registers: its state is in the indexes. At ten thousand campaigns, with
    their CronJobs and Secrets, that was some 45 MB of memory kept for nothing. What is
    lost: kopf's per-object back-off after a failing event handler (ours only queue a
    name) and its retry of a failed index handler (the next event of the object retries
    it; the resync passes over every campaign regardless). kopf is pinned exactly, since
    this class leans on its internal inventory.
    """

    async def recall(
        self,
        raw_body: kopf.RawBody,
        *,
        memobase: object | None = None,
        noticed_by_listing: bool = False,
        ephemeral: bool = False,
    ) -> ResourceMemory:
        return await super().recall(
            raw_body,
            memobase=memobase,  # type: ignore[arg-type]
            noticed_by_listing=noticed_by_listing,
            ephemeral=True,
        )


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
        quiet_kopf_objects()
        connection = self.connection or load_connection(self.settings.kubeconfig)
        counter = self.metrics.requests
        async with KubeClient(
            connection,
            limit=self.settings.api_connections,
            on_request=lambda verb: counter.labels(verb).inc(),
        ) as client:
            if self.settings.probe_port:
                self.probe_port = await self.probes.start(
                    self.settings.probe_host, self.settings.probe_port
                )
            try:
                if not await wait_for_crd(client, stop_flag):
                    return
                self.ctx = OperatorContext(self.settings, self.clock, client, self.metrics)
                self.probes.alive = self.ctx.workers_alive
                registry = build_registry(self.ctx, connection)
                await kopf.operator(
                    registry=registry,
                    memories=ForgetfulMemories(),
                    settings=kopf_settings(self.ctx),
                    standalone=True,
                    namespaces=[self.settings.namespace],
                    stop_flag=stop_flag,
                    ready_flag=self.probes.ready,
                )
            finally:
                with contextlib.suppress(Exception):
                    await self.probes.stop()
