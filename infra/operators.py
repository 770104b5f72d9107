"""The database operators the production tier runs on, installed from their Helm charts.

Only ``pulumi up`` installs them (``promptsales render`` users install operators the way
their GitOps tooling installs any chart), and only when ``operators.install`` is true: a
platform team that already runs CloudNativePG or MongoDB's operator sets it false and the
custom resources go to the operators it has.

A Helm release (``helm.v3.Release``) rather than rendering the charts into resources:
the charts install their own CRDs and webhooks, and ``helm`` keeps the upgrade semantics
their projects test (CRDs updated before the Deployment). Our custom resources depend on
the release, so their CRDs exist before Pulumi creates them.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from workloads.render import PlatformSpec

CLOUDNATIVEPG_REPOSITORY = "https://cloudnative-pg.github.io/charts"
CLOUDNATIVEPG_CHART = "cloudnative-pg"
MONGODB_REPOSITORY = "https://mongodb.github.io/helm-charts"
MONGODB_CHART = "mongodb-kubernetes"


@dataclasses.dataclass(frozen=True)
class OperatorReleases:
    """The releases each kind of custom resource must wait for (absent: nothing to wait)."""

    cloudnativepg: pulumi.Resource | None = None
    mongodb: pulumi.Resource | None = None


def cloudnativepg_values() -> dict[str, object]:
    """The chart's CRDs on, and its own PodMonitor off (ours is rendered with the rest)."""
    return {"crds": {"create": True}, "monitoring": {"podMonitorEnabled": False}}


def mongodb_values(data_namespace: str) -> dict[str, object]:
    """The operator watches the data namespace only, where ``MongoDBCommunity`` lives."""
    return {"operator": {"watchNamespace": data_namespace}}


def install_operators(spec: PlatformSpec, opts: pulumi.ResourceOptions) -> OperatorReleases:
    """Helm releases of the operators the configuration needs and asks us to install."""
    if not spec.operators.install:
        return OperatorReleases()
    cfg = spec.operators
    cnpg: pulumi.Resource | None = None
    mongo: pulumi.Resource | None = None
    if spec.warehouse_on_cloudnativepg:
        cnpg = k8s.helm.v3.Release(
            "cloudnative-pg",
            name="cloudnative-pg",
            chart=CLOUDNATIVEPG_CHART,
            version=cfg.cloudnativepg_chart_version,
            namespace=cfg.cloudnativepg_namespace,
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CLOUDNATIVEPG_REPOSITORY),
            values=cloudnativepg_values(),
            atomic=True,
            opts=opts,
        )
    if spec.content_on_operator:
        mongo = k8s.helm.v3.Release(
            "mongodb-kubernetes",
            name="mongodb-kubernetes",
            chart=MONGODB_CHART,
            version=cfg.mongodb_chart_version,
            namespace=cfg.mongodb_namespace,
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=MONGODB_REPOSITORY),
            values=mongodb_values(spec.data_namespace),
            atomic=True,
            opts=opts,
        )
    return OperatorReleases(cloudnativepg=cnpg, mongodb=mongo)
