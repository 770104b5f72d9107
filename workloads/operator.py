"""The operator's own workload: ServiceAccount, a least-privilege Role, its binding, Deployment.

The operator watches campaigns in one namespace (the platform's), so everything it touches
is granted by a namespaced Role, except one read: kopf lists and watches Namespaces
(cluster-scoped) to notice its namespace appearing or going, so a ClusterRole grants
``list``/``watch`` on namespaces and nothing else. Each rule lists only the verbs the code
uses (an integration test compares them with every call the running operator makes);
Deployments are further limited to the two it scales by name.

One replica with the ``Recreate`` strategy: kopf runs standalone (no peering objects), and
two operators at once would race on the same campaigns.
"""

from __future__ import annotations

from workloads.common import (
    CACHE_DEPLOYMENT,
    DEFAULT_IMAGE,
    GROUP,
    MCP_DEPLOYMENT,
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
        {  # watch and annotate campaigns (kopf keeps its handled-state in annotations)
            "apiGroups": [GROUP],
            "resources": ["promptsalescampaigns"],
            "verbs": ["get", "list", "watch", "patch"],
        },
        {"apiGroups": [GROUP], "resources": ["promptsalescampaigns/status"], "verbs": ["patch"]},
        {  # per-campaign ETL CronJobs: read, create, repair; deletion is owner-ref GC
            "apiGroups": ["batch"],
            "resources": ["cronjobs"],
            "verbs": ["get", "create", "patch"],
        },
        {  # campaign and MCP serving TLS Secrets; reads the platform CA Secret
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get", "create", "patch"],
        },
        {  # scale only the two shared Deployments
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": [MCP_DEPLOYMENT, CACHE_DEPLOYMENT],
            "verbs": ["get", "patch"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]


def cluster_role_rules() -> list[Manifest]:
    return [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]


def cluster_role() -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(NAME, None),
        "rules": cluster_role_rules(),
    }


def cluster_role_binding(namespace: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(NAME, None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    }


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


def deployment(namespace: str, image: str = DEFAULT_IMAGE) -> Manifest:
    """The operator Deployment; settings come from env (PROMPTSALES_OPERATOR_*)."""
    probe = {"port": PROBE_PORT}
    env = [
        {"name": "PROMPTSALES_OPERATOR_NAMESPACE", "value": namespace},
        {"name": "PROMPTSALES_OPERATOR_PROBE_PORT", "value": str(PROBE_PORT)},
    ]
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


def operator_manifests(namespace: str, image: str = DEFAULT_IMAGE) -> list[Manifest]:
    """Everything the Pulumi program applies for the operator, in dependency order."""
    return [
        service_account(namespace),
        role(namespace),
        role_binding(namespace),
        cluster_role(),
        cluster_role_binding(namespace),
        deployment(namespace, image),
    ]
