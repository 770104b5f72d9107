"""The NetworkPolicies allow exactly the architecture's flows (evaluated, not eyeballed)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.policy import Endpoint, flow_allowed
from workloads.render import PlatformSpec, platform_manifests

P, D = "promptsales", "promptsales-data"
C = "app.kubernetes.io/component"


def pod(namespace: str, component: str) -> Endpoint:
    return Endpoint(namespace, ((C, component),))


AGENT = Endpoint.outside("198.51.100.7")
API_SERVER = Endpoint.outside("10.96.0.1")
LLM = Endpoint.outside("104.18.2.3")
DNS = Endpoint("kube-system", (("k8s-app", "kube-dns"),))

ALLOWED = [
    ("agent", AGENT, pod(P, "mcp"), 8443),
    ("mcp->cache", pod(P, "mcp"), pod(P, "cache"), 6379),
    ("mcp->sentinel", pod(P, "mcp"), pod(P, "cache-sentinel"), 26379),
    ("replication", pod(P, "cache"), pod(P, "cache"), 6379),
    ("cache start-up->sentinel", pod(P, "cache"), pod(P, "cache-sentinel"), 26379),
    ("sentinel->cache", pod(P, "cache-sentinel"), pod(P, "cache"), 6379),
    ("sentinel->sentinel", pod(P, "cache-sentinel"), pod(P, "cache-sentinel"), 26379),
    ("mcp->mongodb", pod(P, "mcp"), pod(D, "mongodb"), 27017),
    ("mcp->postgres", pod(P, "mcp"), pod(D, "postgres"), 5432),
    ("etl->sqlserver", pod(P, "etl"), pod(D, "sqlserver"), 1433),
    ("etl->postgres", pod(P, "etl"), pod(D, "postgres"), 5432),
    ("etl-init->postgres", pod(P, "etl-init"), pod(D, "postgres"), 5432),
    ("sqlserver-init->sqlserver", pod(D, "sqlserver-init"), pod(D, "sqlserver"), 1433),
    ("operator->api", pod(P, "operator"), API_SERVER, 6443),
    ("mcp->dns", pod(P, "mcp"), DNS, 53),
]

DENIED = [
    ("agent->cache", AGENT, pod(P, "cache"), 6379),
    ("agent->postgres", AGENT, pod(D, "postgres"), 5432),
    ("agent->mcp other port", AGENT, pod(P, "mcp"), 22),
    ("mcp->sqlserver", pod(P, "mcp"), pod(D, "sqlserver"), 1433),
    ("etl->mongodb", pod(P, "etl"), pod(D, "mongodb"), 27017),
    ("etl->cache", pod(P, "etl"), pod(P, "cache"), 6379),
    ("etl->internet", pod(P, "etl"), LLM, 443),
    ("mcp->llm when not configured", pod(P, "mcp"), LLM, 443),
    ("cache->anything", pod(P, "cache"), pod(D, "postgres"), 5432),
    ("sentinel->anything", pod(P, "cache-sentinel"), pod(D, "postgres"), 5432),
    ("agent->sentinel", AGENT, pod(P, "cache-sentinel"), 26379),
    ("etl->sentinel", pod(P, "etl"), pod(P, "cache-sentinel"), 26379),
    ("mcp->sentinel on the data port", pod(P, "mcp"), pod(P, "cache-sentinel"), 6379),
    ("stranger pod->sentinel", Endpoint("default", ((C, "mcp"),)), pod(P, "cache-sentinel"), 26379),
    ("operator->databases", pod(P, "operator"), pod(D, "postgres"), 5432),
    ("databases->internet", pod(D, "postgres"), LLM, 443),
    ("stranger pod->mcp", Endpoint("default", ((C, "mcp"),)), pod(P, "cache"), 6379),
    ("other namespace->postgres", pod("default", "etl"), pod(D, "postgres"), 5432),
]


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return platform_manifests(PlatformSpec())


@pytest.mark.parametrize(("case", "src", "dst", "port"), ALLOWED, ids=[c[0] for c in ALLOWED])
def test_architecture_flows_are_allowed(
    manifests: list[dict[str, Any]], case: str, src: Endpoint, dst: Endpoint, port: int
) -> None:
    assert flow_allowed(manifests, src, dst, port), case


@pytest.mark.parametrize(("case", "src", "dst", "port"), DENIED, ids=[c[0] for c in DENIED])
def test_other_flows_are_denied(
    manifests: list[dict[str, Any]], case: str, src: Endpoint, dst: Endpoint, port: int
) -> None:
    assert not flow_allowed(manifests, src, dst, port), case


def test_dns_is_allowed_over_udp(manifests: list[dict[str, Any]]) -> None:
    assert flow_allowed(manifests, pod(D, "mongodb"), DNS, 53, "UDP")


def test_configured_peers_narrow_and_widen_the_flows() -> None:
    spec = PlatformSpec.model_validate(
        {
            "network": {
                "agent_cidrs": ["203.0.113.0/24"],
                "api_server_cidrs": ["10.96.0.1/32"],
                "llm_cidrs": ["104.18.0.0/16"],
            }
        }
    )
    manifests = platform_manifests(spec)
    assert not flow_allowed(manifests, AGENT, pod(P, "mcp"), 8443)
    assert flow_allowed(manifests, Endpoint.outside("203.0.113.9"), pod(P, "mcp"), 8443)
    assert flow_allowed(manifests, pod(P, "mcp"), LLM, 443)
    assert not flow_allowed(manifests, pod(P, "operator"), Endpoint.outside("10.96.0.2"), 443)
    assert flow_allowed(manifests, pod(P, "operator"), API_SERVER, 443)


def test_external_databases_are_reached_at_their_configured_address_only() -> None:
    spec = PlatformSpec.model_validate(
        {
            "postgres": {"external_secret": "pg", "external_cidrs": ["10.20.0.0/16"]},
            "sqlserver": {
                "external_secret": "sql",
                "external_cidrs": ["10.30.0.5/32"],
                "external_port": 14330,
            },
        }
    )
    manifests = platform_manifests(spec)
    managed_pg, managed_sql = Endpoint.outside("10.20.4.4"), Endpoint.outside("10.30.0.5")
    assert flow_allowed(manifests, pod(P, "mcp"), managed_pg, 5432)
    assert flow_allowed(manifests, pod(P, "etl"), managed_pg, 5432)
    assert flow_allowed(manifests, pod(P, "etl-init"), managed_pg, 5432)
    assert flow_allowed(manifests, pod(P, "etl"), managed_sql, 14330)
    assert not flow_allowed(manifests, pod(P, "etl"), managed_sql, 1433)
    assert not flow_allowed(manifests, pod(P, "mcp"), managed_sql, 14330)
    assert not flow_allowed(manifests, pod(P, "etl"), Endpoint.outside("10.21.0.1"), 5432)
    # MongoDB stayed in the cluster: still reached in the data namespace only.
    assert flow_allowed(manifests, pod(P, "mcp"), pod(D, "mongodb"), 27017)
    names = {m["metadata"]["name"] for m in manifests if m["kind"] == "NetworkPolicy"}
    assert "promptsales-postgres" not in names
    assert "promptsales-sqlserver-init" not in names


def test_external_cache_is_reached_by_mcp_only_at_its_configured_address() -> None:
    spec = PlatformSpec.model_validate(
        {
            "cache": {
                "external_secret": "redis",
                "external_cidrs": ["10.40.0.0/24"],
                "external_port": 6380,
            }
        }
    )
    manifests = platform_manifests(spec)
    managed_redis = Endpoint.outside("10.40.0.9")
    assert flow_allowed(manifests, pod(P, "mcp"), managed_redis, 6380)
    assert not flow_allowed(manifests, pod(P, "mcp"), managed_redis, 6379)
    assert not flow_allowed(manifests, pod(P, "mcp"), Endpoint.outside("10.41.0.9"), 6380)
    assert not flow_allowed(manifests, pod(P, "etl"), managed_redis, 6380)
    # No in-cluster cache any more, so no way to it and no policy for it.
    assert not flow_allowed(manifests, pod(P, "mcp"), pod(P, "cache"), 6379)
    assert not flow_allowed(manifests, pod(P, "mcp"), pod(P, "cache-sentinel"), 26379)
    names = {m["metadata"]["name"] for m in manifests if m["kind"] == "NetworkPolicy"}
    assert not {"promptsales-cache", "promptsales-cache-sentinel"} & names
    # The databases stayed in the cluster.
    assert flow_allowed(manifests, pod(P, "mcp"), pod(D, "postgres"), 5432)


def test_external_cache_port_defaults_to_redis() -> None:
    spec = PlatformSpec.model_validate({"cache": {"external_secret": "redis"}})
    assert flow_allowed(
        platform_manifests(spec), pod(P, "mcp"), Endpoint.outside("192.0.2.1"), 6379
    )
