"""Prometheus metrics of the operator, in a registry of its own.

A registry per operator instance (not the global default) so tests and the benchmark can
run several operators in one process without collisions.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "promptsales_operator_reconciles",
            "Campaign reconcile passes by result (ok, retry, stalled).",
            ["result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "promptsales_operator_errors",
            "Reconcile failures by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "promptsales_operator_reconcile_duration_seconds",
            "Time one campaign reconcile pass takes.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.issue_seconds = Histogram(
            "promptsales_operator_certificate_issue_seconds",
            "Time spent generating keys and signing certificates (the CPU-bound share).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=self.registry,
        )
        self.writes = Counter(
            "promptsales_operator_api_writes",
            "Write calls the operator made, by object kind.",
            ["kind"],
            registry=self.registry,
        )
        self.requests = Counter(
            "promptsales_operator_api_requests",
            "Requests the operator's own client sent, by verb (kopf's watches not counted).",
            ["verb"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "promptsales_operator_queue_depth",
            "Campaigns waiting for a pass.",
            registry=self.registry,
        )
        self.cached_objects = Gauge(
            "promptsales_operator_cached_objects",
            "Objects in the operator's watch-fed caches, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.phase_gauge = Gauge(
            "promptsales_operator_campaigns",
            "Campaigns by phase.",
            ["phase"],
            registry=self.registry,
        )
        self.cert_expiry = Gauge(
            "promptsales_operator_certificate_expiry_seconds",
            "Seconds until each managed certificate expires.",
            ["secret"],
            registry=self.registry,
        )
        self.replicas = Gauge(
            "promptsales_operator_desired_replicas",
            "Replicas the capacity formula asks of each shared workload (the MCP Deployment, "
            "the cache's data StatefulSet); the label keeps its first name for dashboards.",
            ["deployment"],
            registry=self.registry,
        )
        self._phases: dict[str, str] = {}

    def set_phase(self, campaign: str, phase: str | None) -> None:
        if phase is None:
            self._phases.pop(campaign, None)
        else:
            self._phases[campaign] = phase
        counts = collections.Counter(self._phases.values())
        for known in ("Provisioning", "Scheduled", "Active", "Suspended", "Completed", "Stalled"):
            self.phase_gauge.labels(known).set(counts.get(known, 0))

    def set_expiry(self, secret: str, not_after: dt.datetime | None, now: dt.datetime) -> None:
        if not_after is None:
            with contextlib.suppress(KeyError):
                self.cert_expiry.remove(secret)
            return
        self.cert_expiry.labels(secret).set((not_after - now).total_seconds())
