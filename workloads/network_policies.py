"""NetworkPolicies: deny everything in both namespaces, then allow only the architecture's flows.

Flows (and nothing else): agents → MCP (8443); MCP → cache data pods (6379) and their
Sentinels (26379); cache data pods ↔ each other (replication) and ↔ the Sentinels (a
Sentinel watches and reconfigures the data pods; a data pod asks the Sentinels for the
primary at start); Sentinels ↔ each other; MCP → MongoDB (27017),
PostgreSQL (5432) and, if configured, an LLM API (443); ETL and its init Job → SQL Server
(1433) and PostgreSQL; the SQL Server init Job → SQL Server; the operator → the API
server; every pod → cluster DNS. A database (or the cache) in external mode is reached at
its configured CIDRs and port instead of its in-cluster pods. Pods are matched by the
``app.kubernetes.io/component`` label, namespaces by the ``kubernetes.io/metadata.name``
label the API server sets.
"""

from __future__ import annotations

import dataclasses

from workloads.cache import CACHE_PORT, COMPONENT, SENTINEL_COMPONENT, SENTINEL_PORT
from workloads.common import PART_OF, Manifest, labels

COMPONENT_LABEL = "app.kubernetes.io/component"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


@dataclasses.dataclass(frozen=True, slots=True)
class NetworkPeers:
    """Peers outside the platform, which only the cluster's owner knows."""

    # Where agents connect from; the MCP port still demands a client certificate.
    agent_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    # The Kubernetes API server (ClusterIP and node addresses vary by provider).
    api_server_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    api_server_ports: tuple[int, ...] = (443, 6443)
    # An OpenAI-compatible endpoint for the MCP server; empty keeps it offline.
    llm_cidrs: tuple[str, ...] = ()
    dns_namespace: str = "kube-system"
    dns_pod_labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    # Engines running outside the cluster (external mode): engine → (CIDRs, port). Their
    # clients' egress goes there instead of to the data namespace.
    external: tuple[tuple[str, tuple[str, ...], int], ...] = ()

    def external_target(self, engine: str) -> tuple[tuple[str, ...], int] | None:
        for name, cidrs, port in self.external:
            if name == engine:
                return cidrs, port
        return None


def _pods(*components: str) -> Manifest:
    if len(components) == 1:
        return {"matchLabels": {COMPONENT_LABEL: components[0]}}
    return {
        "matchExpressions": [
            {"key": COMPONENT_LABEL, "operator": "In", "values": sorted(components)}
        ]
    }


def _peer(namespace: str, *components: str) -> Manifest:
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}},
        "podSelector": _pods(*components),
    }


def _ports(*ports: int, protocol: str = "TCP") -> list[Manifest]:
    return [{"protocol": protocol, "port": port} for port in ports]


def _cidrs(cidrs: tuple[str, ...]) -> list[Manifest]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def _policy(name: str, namespace: str, selector: Manifest, **spec: object) -> Manifest:
    types = [kind for kind, key in (("Ingress", "ingress"), ("Egress", "egress")) if key in spec]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels("network-policy", "pulumi"),
        },
        "spec": {"podSelector": selector, "policyTypes": types, **spec},
    }


def _baseline(namespace: str, peers: NetworkPeers) -> list[Manifest]:
    deny = _policy(f"{PART_OF}-default-deny", namespace, {})
    deny["spec"]["policyTypes"] = ["Ingress", "Egress"]
    dns = _policy(
        f"{PART_OF}-allow-dns",
        namespace,
        {},
        egress=[
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {NAMESPACE_LABEL: peers.dns_namespace}
                        },
                        "podSelector": {"matchLabels": dict(peers.dns_pod_labels)},
                    }
                ],
                "ports": _ports(53, protocol="UDP") + _ports(53),
            }
        ],
    )
    return [deny, dns]


ENGINE_PORTS = {"mongodb": 27017, "postgres": 5432, "sqlserver": 1433}
# The cache's name in ``NetworkPeers.external``; its in-cluster pods live in the platform
# namespace, not the data one, so it is not among ENGINE_PORTS.
REDIS = "redis"


def _to_cache_set() -> list[Manifest]:
    """Egress to the in-cluster cache: its data pods and its Sentinels."""
    return [
        {"to": [{"podSelector": _pods(COMPONENT)}], "ports": _ports(CACHE_PORT)},
        {"to": [{"podSelector": _pods(SENTINEL_COMPONENT)}], "ports": _ports(SENTINEL_PORT)},
    ]


def _to_cache(peers: NetworkPeers) -> list[Manifest]:
    """Egress to the cache: its pods beside the MCP server, or an external Redis."""
    external = peers.external_target(REDIS)
    if external is None:
        return _to_cache_set()
    cidrs, port = external
    return [{"to": _cidrs(cidrs), "ports": _ports(port)}]


def _cache_policies(platform: str) -> list[Manifest]:
    """The cache's data pods and Sentinels: reached by the MCP server and by each other."""

    def members() -> list[Manifest]:  # a fresh list each time: no YAML aliases in the render
        return [{"podSelector": _pods("mcp", COMPONENT, SENTINEL_COMPONENT)}]

    return [
        _policy(
            "promptsales-cache",
            platform,
            _pods(COMPONENT),
            ingress=[{"from": members(), "ports": _ports(CACHE_PORT)}],
            egress=_to_cache_set(),
        ),
        _policy(
            "promptsales-cache-sentinel",
            platform,
            _pods(SENTINEL_COMPONENT),
            ingress=[{"from": members(), "ports": _ports(SENTINEL_PORT)}],
            egress=_to_cache_set(),
        ),
    ]


def _to_engine(peers: NetworkPeers, data: str, engine: str) -> Manifest:
    """Egress to a database: its pods in the data namespace, or its external address."""
    external = peers.external_target(engine)
    if external is None:
        return {"to": [_peer(data, engine)], "ports": _ports(ENGINE_PORTS[engine])}
    cidrs, port = external
    return {"to": _cidrs(cidrs), "ports": _ports(port)}


def network_policies(platform: str, data: str, peers: NetworkPeers | None = None) -> list[Manifest]:
    """Every NetworkPolicy of both namespaces."""
    peers = peers or NetworkPeers()
    in_cluster = {e for e in ENGINE_PORTS if peers.external_target(e) is None}
    mcp_egress: list[Manifest] = [
        *_to_cache(peers),
        _to_engine(peers, data, "mongodb"),
        _to_engine(peers, data, "postgres"),
    ]
    if peers.llm_cidrs:
        mcp_egress.append({"to": _cidrs(peers.llm_cidrs), "ports": _ports(443)})
    platform_policies = [
        _policy(
            "promptsales-mcp",
            platform,
            _pods("mcp"),
            ingress=[{"from": _cidrs(peers.agent_cidrs), "ports": _ports(8443)}],
            egress=mcp_egress,
        ),
        _policy(
            "promptsales-etl",
            platform,
            _pods("etl", "etl-init"),
            egress=[_to_engine(peers, data, "sqlserver"), _to_engine(peers, data, "postgres")],
        ),
        _policy(
            "promptsales-operator",
            platform,
            _pods("operator"),
            egress=[
                {"to": _cidrs(peers.api_server_cidrs), "ports": _ports(*peers.api_server_ports)}
            ],
        ),
    ]
    if peers.external_target(REDIS) is None:
        platform_policies[1:1] = _cache_policies(platform)
    data_policies = []
    if "mongodb" in in_cluster:
        data_policies.append(
            _policy(
                "promptsales-mongodb",
                data,
                _pods("mongodb"),
                ingress=[{"from": [_peer(platform, "mcp")], "ports": _ports(27017)}],
            )
        )
    if "postgres" in in_cluster:
        data_policies.append(
            _policy(
                "promptsales-postgres",
                data,
                _pods("postgres"),
                ingress=[
                    {"from": [_peer(platform, "mcp", "etl", "etl-init")], "ports": _ports(5432)}
                ],
            )
        )
    if "sqlserver" in in_cluster:
        data_policies += [
            _policy(
                "promptsales-sqlserver",
                data,
                _pods("sqlserver"),
                ingress=[
                    {
                        "from": [_peer(platform, "etl"), {"podSelector": _pods("sqlserver-init")}],
                        "ports": _ports(1433),
                    }
                ],
            ),
            _policy(
                "promptsales-sqlserver-init",
                data,
                _pods("sqlserver-init"),
                egress=[{"to": [{"podSelector": _pods("sqlserver")}], "ports": _ports(1433)}],
            ),
        ]
    return [
        *_baseline(platform, peers),
        *platform_policies,
        *_baseline(data, peers),
        *data_policies,
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class DataTierFlows:
    """The production tier's extra flows, and the monitoring scrapes.

    A CloudNativePG instance streams WAL to its peers, answers its operator's status calls
    on 8000, watches the API server (its instance manager is a controller) and, with
    backups, writes to the object store over HTTPS. MongoDB replica-set members replicate
    to each other, and their agents patch their own pod through the API server. Prometheus
    scrapes the operator, the MCP server and the warehouse instances.
    """

    cloudnativepg_namespace: str | None = None  # None: no CloudNativePG cluster
    backup_cidrs: tuple[str, ...] = ()  # empty: no backups configured
    content_replica_set: bool = False
    content_search: bool = False  # mongot beside the replica set (MongoDBSearch)
    prometheus_namespace: str | None = None  # None: monitoring off


WAREHOUSE_CLUSTER_LABEL = "cnpg.io/cluster"
CNPG_STATUS_PORT = 8000
CNPG_METRICS_PORT = 9187
OPERATOR_METRICS_PORT = 8080
MCP_PORT = 8443
MONGOT_PORT = 27028  # mongod -> mongot (MongoDB Search)
MONGOD_PORT = 27017


def _api_server(peers: NetworkPeers) -> Manifest:
    return {"to": _cidrs(peers.api_server_cidrs), "ports": _ports(*peers.api_server_ports)}


def data_tier_policies(
    platform: str,
    data: str,
    warehouse: str,
    flows: DataTierFlows,
    peers: NetworkPeers | None = None,
) -> list[Manifest]:
    """The NetworkPolicies the production tier and the monitoring add to both namespaces."""
    peers = peers or NetworkPeers()
    result: list[Manifest] = []
    if flows.cloudnativepg_namespace is not None:

        def instances() -> Manifest:  # a fresh dict each time: no YAML aliases in the render
            return {"matchLabels": {WAREHOUSE_CLUSTER_LABEL: warehouse}}

        ingress: list[Manifest] = [
            {"from": [{"podSelector": instances()}], "ports": _ports(5432, CNPG_STATUS_PORT)},
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {NAMESPACE_LABEL: flows.cloudnativepg_namespace}
                        }
                    }
                ],
                "ports": _ports(CNPG_STATUS_PORT),
            },
        ]
        if flows.prometheus_namespace is not None:
            ingress.append(_from_prometheus(flows.prometheus_namespace, CNPG_METRICS_PORT))
        egress = [
            {"to": [{"podSelector": instances()}], "ports": _ports(5432, CNPG_STATUS_PORT)},
            _api_server(peers),
        ]
        if flows.backup_cidrs:
            egress.append({"to": _cidrs(flows.backup_cidrs), "ports": _ports(443)})
        result.append(
            _policy(f"{warehouse}-instances", data, instances(), ingress=ingress, egress=egress)
        )
    if flows.content_replica_set:
        ingress = [{"from": [{"podSelector": _pods("mongodb")}], "ports": _ports(MONGOD_PORT)}]
        egress = [
            {"to": [{"podSelector": _pods("mongodb")}], "ports": _ports(MONGOD_PORT)},
            _api_server(peers),
        ]
        if flows.content_search:
            # mongod forwards $vectorSearch to mongot; mongot syncs from mongod.
            search = _pods("mongodb-search")
            ingress.append({"from": [{"podSelector": search}], "ports": _ports(MONGOD_PORT)})
            egress.append(
                {"to": [{"podSelector": _pods("mongodb-search")}], "ports": _ports(MONGOT_PORT)}
            )
            result.append(
                _policy(
                    "promptsales-content-search",
                    data,
                    _pods("mongodb-search"),
                    ingress=[
                        {"from": [{"podSelector": _pods("mongodb")}], "ports": _ports(MONGOT_PORT)}
                    ],
                    egress=[
                        {"to": [{"podSelector": _pods("mongodb")}], "ports": _ports(MONGOD_PORT)}
                    ],
                )
            )
        result.append(
            _policy(
                "promptsales-content-members",
                data,
                _pods("mongodb"),
                ingress=ingress,
                egress=egress,
            )
        )
    if flows.prometheus_namespace is not None:
        result += [
            _policy(
                "promptsales-operator-metrics",
                platform,
                _pods("operator"),
                ingress=[_from_prometheus(flows.prometheus_namespace, OPERATOR_METRICS_PORT)],
            ),
            _policy(
                "promptsales-mcp-metrics",
                platform,
                _pods("mcp"),
                ingress=[_from_prometheus(flows.prometheus_namespace, MCP_PORT)],
            ),
        ]
    return result


def _from_prometheus(namespace: str, port: int) -> Manifest:
    return {
        "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}],
        "ports": _ports(port),
    }
