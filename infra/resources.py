"""Turn a ``workloads/`` manifest dict into the matching typed pulumi-kubernetes resource.

Typed resources (not ``yaml.ConfigFile``/``ConfigGroup``) because they are what Pulumi's
mocks can observe and what the engine diffs field by field; the manifest dict stays the
single description shared with the operator and ``promptsales render``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from workloads.common import Manifest

ResourceClass = Callable[..., pulumi.CustomResource]

KINDS: dict[tuple[str, str], ResourceClass] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("batch/v1", "CronJob"): k8s.batch.v1.CronJob,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): (
        k8s.apiextensions.v1.CustomResourceDefinition
    ),
}

# Custom resources of the engines the production tier and the monitoring run on: declared
# as generic ``CustomResource``s (their operators' CRDs, not pulumi-kubernetes, define them).
CUSTOM_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("postgresql.cnpg.io/v1", "Cluster"),
        ("postgresql.cnpg.io/v1", "ScheduledBackup"),
        ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"),
        ("mongodb.com/v1", "MongoDBSearch"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    }
)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def logical_name(manifest: Manifest) -> str:
    """A stable, unique Pulumi name: kind, namespace and name (renaming one replaces it)."""
    meta = manifest["metadata"]
    parts = [manifest["kind"].lower(), meta.get("namespace", ""), meta["name"]]
    return "-".join(part for part in parts if part)


def _kwargs(manifest: Manifest) -> dict[str, Any]:
    return {
        _CAMEL.sub("_", key).lower(): value
        for key, value in manifest.items()
        if key not in {"apiVersion", "kind"}
    }


def declare(
    manifest: Manifest, opts: pulumi.ResourceOptions | None = None
) -> pulumi.CustomResource:
    """Register ``manifest`` as its typed resource; unknown kinds are refused by name."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key in CUSTOM_KINDS:
        return k8s.apiextensions.CustomResource(
            logical_name(manifest),
            api_version=key[0],
            kind=key[1],
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=opts,
        )
    try:
        cls = KINDS[key]
    except KeyError:
        raise ValueError(f"no typed resource for apiVersion/kind {key[0]}/{key[1]}") from None
    # No ignore_changes for the operator's fields: the builders leave them out (the
    # Deployments it scales carry no spec.replicas), so Pulumi's server-side apply never
    # takes ownership of them.
    return cls(logical_name(manifest), opts=opts, **_kwargs(manifest))
