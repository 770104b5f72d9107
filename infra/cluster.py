"""Which cluster the stack deploys into: the kubeconfig's, or a Civo cluster it creates.

Every Kubernetes resource goes through the explicit provider returned here, so switching
``promptsales:cluster.create`` moves the whole platform and nothing silently lands in
whatever context happens to be current.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ClusterConfig
from promptsales.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The provider every resource uses, plus the new cluster's kubeconfig when created."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str] | None = None


def _civo_cluster(config: ClusterConfig) -> pulumi.Output[str]:
    try:
        import pulumi_civo as civo
    except ImportError:
        raise ConfigError(
            "stack",
            ["promptsales:cluster.create: needs pulumi-civo (pip install 'promptsales[cloud]')"],
        ) from None
    # Only the API server is reachable from outside; nodes may reach anything (images).
    firewall = civo.Firewall(
        f"{config.name}-firewall",
        name=f"{config.name}-firewall",
        region=config.region,
        create_default_rules=False,
        ingress_rules=[
            civo.FirewallIngressRuleArgs(
                label="kubernetes-api",
                protocol="tcp",
                port_range="6443",
                cidrs=list(config.api_allowed_cidrs),
                action="allow",
            )
        ],
        egress_rules=[
            civo.FirewallEgressRuleArgs(
                label="all-egress",
                protocol="tcp",
                port_range="1-65535",
                cidrs=["0.0.0.0/0"],
                action="allow",
            ),
            civo.FirewallEgressRuleArgs(
                label="all-egress-udp",
                protocol="udp",
                port_range="1-65535",
                cidrs=["0.0.0.0/0"],
                action="allow",
            ),
        ],
    )
    cluster = civo.KubernetesCluster(
        config.name,
        name=config.name,
        region=config.region,
        firewall_id=firewall.id,
        kubernetes_version=config.kubernetes_version,
        # Civo's default CNI (flannel) ignores NetworkPolicies; the platform relies on them.
        cni="cilium",
        cluster_type="k3s",
        write_kubeconfig=True,
        pools=civo.KubernetesClusterPoolsArgs(
            node_count=config.node_count, size=config.node_size, label="promptsales"
        ),
    )
    return pulumi.Output.secret(cluster.kubeconfig)


def kubernetes_cluster(config: ClusterConfig) -> Cluster:
    """The Kubernetes provider for this stack (creating the cluster first if asked)."""
    if config.create:
        kubeconfig = _civo_cluster(config)
        provider = k8s.Provider("promptsales", kubeconfig=kubeconfig)
        return Cluster(provider, kubeconfig)
    return Cluster(k8s.Provider("promptsales", context=config.context))
