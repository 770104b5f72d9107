"""How many MCP-server and cache replicas the active campaigns need: one pure formula.

The formula (documented in operator/README.md, tested in tests/unit/operator):

    demand(c)      = max(c.requestsPerSecond, c.peakRequestsPerSecond / 2)   if c is active, else 0
    total          = sum of demand(c) over all campaigns
    load           = total * (1 + headroom)
    mcp replicas   = clamp(ceil(load / mcp_rps_per_replica),   mcp_min,   mcp_max)
    cache replicas = clamp(ceil(load / cache_rps_per_replica), cache_min, cache_max)

The MCP replicas are the ``promptsales-mcp`` Deployment's; the cache replicas are the
``promptsales-cache`` data StatefulSet's (Redis under Sentinel: one primary and read
replicas), so ``cache_min`` is at least 2, one primary and one replica to promote.

Half the peak is planned for because the MCP server answers repeated questions from the
Redis cache, so short bursts cost less than steady load; the headroom keeps one replica's
loss (or a rolling update) from overloading the rest. Clamping keeps a quiet platform
available (minimum) and a runaway spec from exhausting the cluster (maximum).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from workloads.common import CACHE_STATEFULSET, MCP_DEPLOYMENT

# One primary and at least one replica, so Sentinel has a replica to promote.
CACHE_MIN_REPLICAS = 2


@dataclass(frozen=True)
class CapacityPolicy:
    """Tunables of the formula; the operator fills them from its settings."""

    mcp_rps_per_replica: float = 50.0
    cache_rps_per_replica: float = 500.0
    headroom: float = 0.2
    mcp_min: int = 1
    mcp_max: int = 20
    cache_min: int = CACHE_MIN_REPLICAS
    cache_max: int = 6

    def __post_init__(self) -> None:
        if self.mcp_rps_per_replica <= 0 or self.cache_rps_per_replica <= 0:
            raise ValueError("rps_per_replica must be positive")
        if self.headroom < 0:
            raise ValueError("headroom must not be negative")
        if not 0 <= self.mcp_min <= self.mcp_max:
            raise ValueError("mcp_min must be between 0 and mcp_max")
        if not CACHE_MIN_REPLICAS <= self.cache_min <= self.cache_max:
            raise ValueError(
                f"cache_min must be between {CACHE_MIN_REPLICAS} (a primary and a replica "
                "to promote) and cache_max"
            )


@dataclass(frozen=True)
class CampaignDemand:
    """One campaign's declared demand and whether it is inside its active window now."""

    name: str
    requests_per_second: float
    peak_requests_per_second: float | None = None
    active: bool = True

    @property
    def effective(self) -> float:
        if not self.active:
            return 0.0
        peak = self.peak_requests_per_second or 0.0
        return max(self.requests_per_second, peak / 2)


@dataclass(frozen=True)
class CapacityPlan:
    """Desired replicas of the shared workloads and the demand they were computed from."""

    total_requests_per_second: float
    active_campaigns: int
    mcp_replicas: int
    cache_replicas: int

    def replicas_of(self, workload: ScaledWorkload) -> int:
        return self.mcp_replicas if workload == MCP_SERVER else self.cache_replicas


@dataclass(frozen=True)
class ScaledWorkload:
    """A shared workload whose ``spec.replicas`` the operator owns."""

    kind: str
    plural: str
    name: str


MCP_SERVER = ScaledWorkload("Deployment", "deployments", MCP_DEPLOYMENT)
# The cache's data StatefulSet: read replicas add capacity and keep every hit (its
# Sentinels are a fixed three, not scaled).
CACHE_DATA = ScaledWorkload("StatefulSet", "statefulsets", CACHE_STATEFULSET)
SCALED_WORKLOADS = (MCP_SERVER, CACHE_DATA)


def _replicas(load: float, per_replica: float, low: int, high: int) -> int:
    return min(high, max(low, math.ceil(load / per_replica)))


def plan_capacity(demands: Iterable[CampaignDemand], policy: CapacityPolicy) -> CapacityPlan:
    """Apply the formula above; order of ``demands`` does not matter."""
    items = list(demands)
    total = math.fsum(d.effective for d in items)
    load = total * (1 + policy.headroom)
    return CapacityPlan(
        total_requests_per_second=total,
        active_campaigns=sum(1 for d in items if d.active),
        mcp_replicas=_replicas(load, policy.mcp_rps_per_replica, policy.mcp_min, policy.mcp_max),
        cache_replicas=_replicas(
            load, policy.cache_rps_per_replica, policy.cache_min, policy.cache_max
        ),
    )
