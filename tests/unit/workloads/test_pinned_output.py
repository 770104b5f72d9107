"""The cache and MCP server manifests, pinned to the byte against a reviewed golden file.

They are the two workloads the operator scales (the MCP Deployment, the cache's data
StatefulSet beside its Sentinels) and share the pod skeleton of ``workloads.pods``, so
any drift in content or key order must show up here as a diff someone reviews. After an
intended change, rewrite the file with ``python -m tests.unit.workloads.test_pinned_output``
and review the diff.
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
        "mcp_default": mcp.mcp_server("ns", cache_sentinels=cache.sentinels_setting("ns")),
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


def test_golden_file_holds_every_workload_of_each_rendering() -> None:
    """Guards the golden file itself: an empty or truncated rewrite would pin nothing."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    kinds = {name: [m["kind"] for m in manifests] for name, manifests in golden.items()}
    for name, found in kinds.items():
        expected = {"Deployment": 1} if name.startswith("mcp") else {"StatefulSet": 2}
        assert {kind: found.count(kind) for kind in expected} == expected, kinds
    assert set(kinds) == set(rendered())


if __name__ == "__main__":
    GOLDEN.write_text(_text(), encoding="utf-8")
