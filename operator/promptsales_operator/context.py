"""Everything a handler needs, passed explicitly instead of living in module globals."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from typing import Any

from promptsales_operator.certificates import PlatformCA, load_platform_ca
from promptsales_operator.clock import Clock
from promptsales_operator.kube import KubeClient, path
from promptsales_operator.metrics import OperatorMetrics
from promptsales_operator.requeue import RequeueTimers
from promptsales_operator.settings import OperatorSettings

CAMPAIGN_API = "promptsales.io/v1alpha1"
CAMPAIGN_PLURAL = "promptsalescampaigns"
# A burst of passes (a resync round, a thousand new campaigns) shares one read of the CA;
# a rotated CA is still seen within a second.
CA_TTL_SECONDS = 1.0


@dataclasses.dataclass
class OperatorContext:
    settings: OperatorSettings
    clock: Clock
    client: KubeClient
    metrics: OperatorMetrics
    capacity_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    capacity_error: str | None = None
    locks: collections.defaultdict[str, asyncio.Lock] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(asyncio.Lock)
    )
    demands: dict[str, float] = dataclasses.field(default_factory=dict)
    requeue: RequeueTimers = dataclasses.field(init=False)
    _ca_cache: tuple[str, PlatformCA] | None = None
    _ca_fetched: float = 0.0

    def __post_init__(self) -> None:
        self.requeue = RequeueTimers(
            self.clock,
            min_delay=self.settings.requeue_min_seconds,
            retry_delay=self.settings.retry_backoff_seconds,
            limit=self.settings.worker_limit,
        )

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def campaigns_path(self, name: str | None = None, sub: str | None = None) -> str:
        return path(CAMPAIGN_API, CAMPAIGN_PLURAL, self.namespace, name, sub)

    async def platform_ca(self) -> PlatformCA:
        """The CA Secret: fetched at most every CA_TTL_SECONDS, parsed once per version."""
        now = time.monotonic()
        if self._ca_cache is not None and now - self._ca_fetched < CA_TTL_SECONDS:
            return self._ca_cache[1]
        name = self.settings.ca_secret
        secret = await self.client.get_or_none(path("v1", "secrets", self.namespace, name))
        version = str(((secret or {}).get("metadata") or {}).get("resourceVersion", ""))
        if self._ca_cache is not None and secret is not None and self._ca_cache[0] == version:
            self._ca_fetched = now
            return self._ca_cache[1]
        ca = load_platform_ca(secret, name)
        self._ca_cache = (version, ca)
        self._ca_fetched = now
        return ca

    def note_demand(self, campaign: str, effective: float | None) -> None:
        """Wake the capacity worker only when a campaign's counted demand changed."""
        previous = self.demands.get(campaign)
        if effective is None:
            self.demands.pop(campaign, None)
        else:
            self.demands[campaign] = effective
        if previous != effective:
            self.capacity_changed.set()


Body = dict[str, Any]
