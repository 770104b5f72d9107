"""Prometheus metrics of one server instance, on its own registry.

A registry per instance (not the global default) lets tests and the benchmark run
several servers in one process without colliding series.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tool_calls = Counter(
            "promptsales_mcp_tool_calls",
            "Tool calls by outcome",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.tool_latency = Histogram(
            "promptsales_mcp_tool_latency_seconds",
            "Tool call latency",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "promptsales_mcp_cache_requests",
            "Cache lookups by result",
            ["tool", "result"],
            registry=self.registry,
        )
        self.cache_local_hits = Counter(
            "promptsales_mcp_cache_local_hits",
            "Cache hits served by the in-process tier without asking Redis",
            ["tool"],
            registry=self.registry,
        )
        self.cache_replayed_hits = Counter(
            "promptsales_mcp_cache_replayed_hits",
            "In-process hits answered at the protocol layer from the stored wire result",
            ["tool"],
            registry=self.registry,
        )
        self.cache_shared_wires_received = Counter(
            "promptsales_mcp_cache_shared_wires_received",
            "Wire results another replica published and this one now holds for replay",
            registry=self.registry,
        )
        self.protocol_layer_answers = Counter(
            "promptsales_mcp_protocol_layer_answers",
            "Calls answered at the protocol layer without the SDK's tool dispatch "
            "(replays of held wire results not included)",
            ["tool"],
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "promptsales_mcp_cache_errors",
            "Redis failures (answers served uncached)",
            registry=self.registry,
        )
        self.cache_hit_ratio = Gauge(
            "promptsales_mcp_cache_hit_ratio",
            "Cache hits / lookups since start",
            registry=self.registry,
        )
        self.content_items = Gauge(
            "promptsales_mcp_content_items", "Items in the search index", registry=self.registry
        )
        self.content_version = Gauge(
            "promptsales_mcp_content_version",
            "Content version of the search index",
            registry=self.registry,
        )
        self._hits = 0
        self._lookups = 0
        self._errors = 0
        # ``labels()`` takes a lock and builds the label tuple on every call: about a
        # fifth of a protocol-layer hit's own work. The few label sets are bound once.
        self._child = cache(self._bind)

    @staticmethod
    def _bind(metric: Any, *labels: str) -> Any:
        return metric.labels(*labels)

    def record_call(self, tool: str, outcome: str, seconds: float) -> None:
        self._child(self.tool_calls, tool, outcome).inc()
        self._child(self.tool_latency, tool).observe(seconds)

    def record_cache(
        self, tool: str, *, hit: bool, local: bool = False, replayed: bool = False
    ) -> None:
        self._child(self.cache_requests, tool, "hit" if hit else "miss").inc()
        if local:
            self._child(self.cache_local_hits, tool).inc()
        if replayed:
            self._child(self.cache_replayed_hits, tool).inc()
        self._lookups += 1
        self._hits += int(hit)
        self.cache_hit_ratio.set(self._hits / self._lookups)

    def record_protocol_layer_answer(self, tool: str) -> None:
        self._child(self.protocol_layer_answers, tool).inc()

    def record_shared_wire_received(self) -> None:
        self.cache_shared_wires_received.inc()

    def record_cache_error(self) -> None:
        self.cache_errors.inc()
        self._errors += 1

    @property
    def cache_error_count(self) -> int:
        return self._errors

    @property
    def hit_ratio(self) -> float:
        return self._hits / self._lookups if self._lookups else 0.0

    def render(self) -> bytes:
        return generate_latest(self.registry)
