"""Everything a pass and a worker need, passed explicitly instead of living in module globals."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from promptsales_operator.caches import ClusterCache
from promptsales_operator.certificates import CAUnavailableError, PlatformCA, load_platform_ca
from promptsales_operator.clock import Clock
from promptsales_operator.kube import KubeClient, path
from promptsales_operator.metrics import OperatorMetrics
from promptsales_operator.requeue import DueTimes
from promptsales_operator.settings import OperatorSettings
from promptsales_operator.workqueue import WorkQueue
from workloads.capacity import CapacityPlan

CAMPAIGN_API = "promptsales.io/v1alpha1"
CAMPAIGN_PLURAL = "promptsalescampaigns"
MAX_RETRY_SECONDS = 300.0


@dataclasses.dataclass
class CapacityState:
    """What the capacity worker last applied, so a pass can tell whether the campaign's
    demand is already reflected in the Deployments' replicas (its CapacityScaled)."""

    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    error: str | None = None
    applied: dict[str, float] = dataclasses.field(default_factory=dict)  # name -> demand
    plan: CapacityPlan | None = None  # the last plan applied
    summary: str = ""


@dataclasses.dataclass
class OperatorContext:
    settings: OperatorSettings
    clock: Clock
    client: KubeClient
    metrics: OperatorMetrics
    cache: ClusterCache = dataclasses.field(default_factory=ClusterCache)
    capacity: CapacityState = dataclasses.field(default_factory=CapacityState)
    # Set once kopf has listed every watched kind (the first handler call proves it).
    synced: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    platform_certs_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    # The background workers (handlers.py); a finished one means the operator is stuck.
    workers: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
    queue: WorkQueue = dataclasses.field(init=False)
    due: DueTimes = dataclasses.field(init=False)
    _ca: tuple[str, PlatformCA] | None = None

    def __post_init__(self) -> None:
        self.queue = WorkQueue(
            base_delay=self.settings.retry_backoff_seconds, max_delay=MAX_RETRY_SECONDS
        )
        self.due = DueTimes(self.clock, self.queue.add, min_delay=self.settings.requeue_min_seconds)

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def campaigns_path(self, name: str | None = None, sub: str | None = None) -> str:
        return path(CAMPAIGN_API, CAMPAIGN_PLURAL, self.namespace, name, sub)

    def platform_ca(self) -> PlatformCA:
        """The CA from the cached Secret, parsed once per resourceVersion."""
        name = self.settings.ca_secret
        entry = self.cache.secret(name)
        if entry is None:
            raise CAUnavailableError(f"Secret {name} not found")
        if self._ca is not None and self._ca[0] == entry.resource_version:
            return self._ca[1]
        ca = load_platform_ca(entry.body(), name)
        self._ca = (entry.resource_version, ca)
        return ca

    def workers_alive(self) -> bool:
        """Liveness: every background worker still runs (none ended by an exception)."""
        return all(not task.done() for task in self.workers)

    def enqueue_all(self) -> int:
        """Queue a pass for every cached campaign (CA rotated, resync); returns how many."""
        count = 0
        for entry in self.cache.campaigns():
            self.queue.add(entry.name)
            count += 1
        return count

    def is_ca_secret(self, name: str) -> bool:
        return name == self.settings.ca_secret

    def is_platform_secret(self, name: str) -> bool:
        return name in {self.settings.ca_secret, self.settings.mcp_tls_secret}


Body = dict[str, Any]
