"""The cache and MCP server manifests, pinned to the byte against a reviewed golden file.

Both builders share one Deployment skeleton (``workloads.pods.deployment``); a change to it
reaches two workloads the operator scales, so any drift in content or key order must show
up here as a diff someone reviews. After an intended change, rewrite the file with
``python -m tests.unit.workloads.test_pinned_output`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

from workloads import cache, mcp
from workloads.common import Manifest

GOLDEN = Path(__file__).with_name("cache_mcp_manifests.json")


def rendered() -> dict[str, list[Manifest]]:
    """Defaults and every parameter moved off its default, LoadBalancer included."""
    return {
        "cache_default": cache.cache("ns"),
        "cache_custom": cache.cache(
            "other",
            memory_limit_mib=1024,
            image="x/redis:1",
            eviction_policy="allkeys-lfu",
        ),
        "mcp_default": mcp.mcp_server("ns"),
        "mcp_lb": mcp.mcp_server(
            "ns2",
            image="i:1",
            cpu=("1", "2"),
            memory=("1Gi", "2Gi"),
            service_type="LoadBalancer",
            source_ranges=["10.0.0.0/8"],
        ),
    }


def _text() -> str:
    # No sort_keys: the key order is part of what the rendered YAML looks like.
    return json.dumps(rendered(), indent=1) + "\n"


def test_cache_and_mcp_manifests_match_the_golden_file() -> None:
    assert _text() == GOLDEN.read_text(encoding="utf-8")


def test_golden_file_holds_one_deployment_per_rendering() -> None:
    """Guards the golden file itself: an empty or truncated rewrite would pin nothing."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    kinds = {name: [m["kind"] for m in manifests] for name, manifests in golden.items()}
    assert all(k.count("Deployment") == 1 for k in kinds.values()), kinds
    assert set(kinds) == set(rendered())


if __name__ == "__main__":
    GOLDEN.write_text(_text(), encoding="utf-8")
