"""The production tier's NetworkPolicies: the flows CloudNativePG, the replica set and
Prometheus need, and nothing wider (evaluated, not eyeballed)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.policy import Endpoint, check_network_coverage, flow_allowed
from workloads.render import PlatformSpec, platform_manifests

P, D = "promptsales", "promptsales-data"
C = "app.kubernetes.io/component"
# The API server's address narrowed, as production should: its default (anywhere on 443 and
# 6443) would also open the object store's port to every pod that talks to the API server.
NETWORK = {"api_server_cidrs": ["10.96.0.1/32"]}
BACKUP = {"destination_path": "s3://promptsales-backups/wh", "credentials_secret": "s3"}


def pod(namespace: str, component: str, **extra: str) -> Endpoint:
    return Endpoint(namespace, tuple(sorted({C: component, **extra}.items())))


INSTANCE = pod(D, "postgres", **{"cnpg.io/cluster": "promptsales-warehouse"})
MEMBER = pod(D, "mongodb", app="promptsales-content-svc")
CNPG_OPERATOR = Endpoint("cnpg-system", (("app.kubernetes.io/name", "cloudnative-pg"),))
PROMETHEUS = Endpoint("monitoring", (("app.kubernetes.io/name", "prometheus"),))
API_SERVER = Endpoint.outside("10.96.0.1")
OBJECT_STORE = Endpoint.outside("52.95.1.1")

ALLOWED = [
    ("mcp->warehouse", pod(P, "mcp"), INSTANCE, 5432),
    ("etl->warehouse", pod(P, "etl"), INSTANCE, 5432),
    ("etl-init->warehouse", pod(P, "etl-init"), INSTANCE, 5432),
    ("instance->instance replication", INSTANCE, INSTANCE, 5432),
    ("instance->instance status", INSTANCE, INSTANCE, 8000),
    ("cnpg operator->instance status", CNPG_OPERATOR, INSTANCE, 8000),
    ("instance->api server", INSTANCE, API_SERVER, 6443),
    ("instance->object store", INSTANCE, OBJECT_STORE, 443),
    ("mcp->replica set", pod(P, "mcp"), MEMBER, 27017),
    ("member->member", MEMBER, MEMBER, 27017),
    ("member->api server", MEMBER, API_SERVER, 443),
    ("operator->api server", pod(P, "operator"), API_SERVER, 6443),
    ("prometheus->operator", PROMETHEUS, pod(P, "operator"), 8080),
    ("prometheus->mcp", PROMETHEUS, pod(P, "mcp"), 8443),
    ("prometheus->warehouse exporter", PROMETHEUS, INSTANCE, 9187),
]

DENIED = [
    ("cnpg operator->postgres port", CNPG_OPERATOR, INSTANCE, 5432),
    ("prometheus->postgres port", PROMETHEUS, INSTANCE, 5432),
    ("prometheus->cache", PROMETHEUS, pod(P, "cache"), 6379),
    ("stranger namespace->instance status", Endpoint("default", ()), INSTANCE, 8000),
    ("etl->replica set", pod(P, "etl"), MEMBER, 27017),
    ("member->internet", MEMBER, OBJECT_STORE, 443),
    ("instance->member", INSTANCE, MEMBER, 27017),
]


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    spec = PlatformSpec.model_validate(
        {
            "tier": "production",
            "network": NETWORK,
            "monitoring": {"enabled": True},
            "postgres": {"cluster": {"backup": {**BACKUP, "cidrs": ["52.95.0.0/16"]}}},
        }
    )
    return platform_manifests(spec)


@pytest.mark.parametrize(("case", "src", "dst", "port"), ALLOWED, ids=[c[0] for c in ALLOWED])
def test_production_flows_are_allowed(
    manifests: list[dict[str, Any]], case: str, src: Endpoint, dst: Endpoint, port: int
) -> None:
    assert flow_allowed(manifests, src, dst, port), case


@pytest.mark.parametrize(("case", "src", "dst", "port"), DENIED, ids=[c[0] for c in DENIED])
def test_other_flows_stay_denied(
    manifests: list[dict[str, Any]], case: str, src: Endpoint, dst: Endpoint, port: int
) -> None:
    assert not flow_allowed(manifests, src, dst, port), case


def test_without_backups_or_monitoring_those_flows_are_closed() -> None:
    manifests = platform_manifests(
        PlatformSpec.model_validate({"tier": "production", "network": NETWORK})
    )
    assert not flow_allowed(manifests, INSTANCE, OBJECT_STORE, 443)
    assert not flow_allowed(manifests, PROMETHEUS, pod(P, "mcp"), 8443)
    assert not flow_allowed(manifests, PROMETHEUS, INSTANCE, 9187)
    assert flow_allowed(manifests, INSTANCE, INSTANCE, 5432)


def test_backups_reach_only_the_configured_object_store(manifests: list[dict[str, Any]]) -> None:
    assert not flow_allowed(manifests, INSTANCE, Endpoint.outside("198.51.100.9"), 443)


def test_every_rendered_pod_is_covered_by_a_policy(manifests: list[dict[str, Any]]) -> None:
    assert check_network_coverage(manifests) == []


SEARCH_POD = pod(D, "mongodb-search")


def test_mongodb_search_flows_are_exactly_mongod_and_mongot() -> None:
    spec = {"tier": "production", "network": NETWORK, "mongodb": {"search": {"enabled": True}}}
    manifests = platform_manifests(PlatformSpec.model_validate(spec))
    assert flow_allowed(manifests, MEMBER, SEARCH_POD, 27028)  # $vectorSearch forwarded
    assert flow_allowed(manifests, SEARCH_POD, MEMBER, 27017)  # mongot syncs
    assert flow_allowed(manifests, pod(P, "mcp"), MEMBER, 27017)
    assert not flow_allowed(manifests, pod(P, "mcp"), SEARCH_POD, 27028)
    assert not flow_allowed(manifests, SEARCH_POD, OBJECT_STORE, 443)
    assert check_network_coverage(manifests) == []
    without = platform_manifests(
        PlatformSpec.model_validate({"tier": "production", "network": NETWORK})
    )
    assert not flow_allowed(without, MEMBER, SEARCH_POD, 27028)
