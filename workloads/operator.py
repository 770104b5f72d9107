"""The operator's own workload: ServiceAccount, a least-privilege Role, its binding, Deployment.

The operator works in one namespace (the platform's), so everything it touches is granted
by a namespaced Role and nothing cluster-wide: kopf runs with its cluster scanning off (it
would list CustomResourceDefinitions and Namespaces cluster-wide to notice them change),
and discovery (``/apis``) is open to every authenticated client. Each rule lists only the
verbs the code uses (the real-cluster suite runs the operator as this ServiceAccount and
fails on any 403): ``list``/``watch`` feed the operator's caches of campaigns and of the
children it owns, so converged campaigns cost no reads; ``get`` is the fallback after a
create that lost a race; the shared workloads may be patched only by name: the MCP server
Deployment and the cache's data StatefulSet, the two it scales (not the Sentinels').

One replica with the ``Recreate`` strategy: kopf runs standalone (no peering objects), and
two operators at once would race on the same campaigns.
"""

from __future__ import annotations

from collections.abc import Mapping

from workloads.capacity import SCALED_WORKLOADS
from workloads.common import (
    DEFAULT_IMAGE,
    GROUP,
    Manifest,
    container_security_context,
    labels,
    pod_security_context,
    resources,
    selector_labels,
    tmp_volume,
)

COMPONENT = "operator"
NAME = "promptsales-operator"
PROBE_PORT = 8080


def _meta(name: str, namespace: str | None) -> Manifest:
    meta: Manifest = {"name": name, "labels": labels(COMPONENT, "pulumi")}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def service_account(namespace: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace)}


def role_rules() -> list[Manifest]:
    """Exactly what the operator's code calls, verb by verb."""
    return [
        {  # the campaigns' watch (kopf) feeds the cache every pass reads
            "apiGroups": [GROUP],
            "resources": ["promptsalescampaigns"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": [GROUP], "resources": ["promptsalescampaigns/status"], "verbs": ["patch"]},
        {  # per-campaign ETL CronJobs: watched, created, repaired; deletion is owner-ref GC
            "apiGroups": ["batch"],
            "resources": ["cronjobs"],
            "verbs": ["get", "list", "watch", "create", "patch"],
        },
        {  # campaign and MCP serving TLS Secrets, and the platform CA Secret they chain to
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get", "list", "watch", "create", "patch"],
        },
        *scaling_rules(),
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]


def scaling_rules() -> list[Manifest]:
    """Per scaled resource: ``list``/``watch`` so a hand edit of the replicas is put back,
    and ``patch`` on the shared workloads by name only."""
    rules: list[Manifest] = []
    for plural in dict.fromkeys(w.plural for w in SCALED_WORKLOADS):
        names = [w.name for w in SCALED_WORKLOADS if w.plural == plural]
        rules += [
            {"apiGroups": ["apps"], "resources": [plural], "verbs": ["list", "watch"]},
            {
                "apiGroups": ["apps"],
                "resources": [plural],
                "resourceNames": names,
                "verbs": ["patch"],
            },
        ]
    return rules


def role(namespace: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(NAME, namespace),
        "rules": role_rules(),
    }


def role_binding(namespace: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(NAME, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    }


def deployment(
    namespace: str, image: str = DEFAULT_IMAGE, settings: Mapping[str, str] | None = None
) -> Manifest:
    """The operator Deployment; settings come from env (PROMPTSALES_OPERATOR_*).

    ``settings`` are further variables of the operator's configuration model (the
    platform configuration's capacity bounds, serving-certificate lifetime and names).
    """
    probe = {"port": PROBE_PORT}
    env = [
        {"name": "PROMPTSALES_OPERATOR_NAMESPACE", "value": namespace},
        {"name": "PROMPTSALES_OPERATOR_PROBE_PORT", "value": str(PROBE_PORT)},
        {"name": "PROMPTSALES_OPERATOR_IMAGE", "value": image},
    ]
    env += [{"name": key, "value": value} for key, value in sorted((settings or {}).items())]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME, namespace),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(COMPONENT)},
            "template": {
                "metadata": {
                    "labels": labels(COMPONENT, "pulumi"),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PROBE_PORT),
                    },
                },
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "operator",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-m", "promptsales_operator", "run"],
                            "env": env,
                            "ports": [{"name": "http", "containerPort": PROBE_PORT}],
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", **probe},
                                "periodSeconds": 20,
                                "failureThreshold": 3,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", **probe},
                                "periodSeconds": 10,
                            },
                            "resources": resources("100m", "128Mi", "1", "256Mi"),
                            "securityContext": container_security_context(),
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                        }
                    ],
                    "volumes": [tmp_volume()],
                },
            },
        },
    }


def operator_manifests(
    namespace: str, image: str = DEFAULT_IMAGE, settings: Mapping[str, str] | None = None
) -> list[Manifest]:
    """Everything the Pulumi program applies for the operator, in dependency order."""
    return [
        service_account(namespace),
        role(namespace),
        role_binding(namespace),
        deployment(namespace, image, settings),
    ]
