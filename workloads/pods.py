"""Pod-shape pieces the platform's own builders repeat: mounts, probes, budgets, services.

Kept apart from ``workloads.common`` (the cross-helper contract) because these are
choices of the infrastructure builders, not names other components must agree on.
"""

from __future__ import annotations

from typing import Any

from workloads.common import Manifest, pod_security_context, selector_labels

SECRETS_MOUNT = "/var/run/secrets/promptsales"
TLS_MOUNT = "/etc/promptsales/tls"
CA_MOUNT = "/etc/promptsales/ca"
CA_SECRET = "promptsales-ca"  # noqa: S105 (a Secret's name)
# An emptyDir is mounted here in every pod (root filesystems are read-only).
TMP_DIR = "/tmp"  # noqa: S108
# Secret files readable by the owner and the pod's fsGroup only: PostgreSQL refuses a
# key file that is group- or world-writable, and nobody else needs to read one.
SECRET_FILE_MODE = 0o440


def secret_volume(name: str, secret: str, items: dict[str, str] | None = None) -> Manifest:
    """A Secret volume; ``items`` (key → file name) limits what reaches the pod."""
    source: Manifest = {"secretName": secret, "defaultMode": SECRET_FILE_MODE}
    if items is not None:
        source["items"] = [{"key": key, "path": path} for key, path in sorted(items.items())]
    return {"name": name, "secret": source}


PII_KEYRING_SECRET = "promptsales-pii-keyring"  # noqa: S105 (a Secret's name)
PII_KEYRING_KEY = "keyring.json"
PII_MOUNT = "/var/run/secrets/promptsales-pii"
PII_KEYRING_FILE_ENV = {
    "name": "PROMPTSALES_PII_KEYRING_FILE",
    "value": f"{PII_MOUNT}/keyring.json",
}


def pii_keyring_volume(name: str = "pii-keyring") -> Manifest:
    """The PII keyring as a file: the ETL encrypts with it, the MCP server decrypts for sales."""
    return secret_volume(name, PII_KEYRING_SECRET, {PII_KEYRING_KEY: PII_KEYRING_KEY})


def ca_bundle_volume(name: str = "ca-bundle") -> Manifest:
    """Only ``ca.crt`` of the platform CA Secret: the CA's private key never enters a pod."""
    return secret_volume(name, CA_SECRET, {"ca.crt": "ca.crt"})


def empty_dir(name: str, size_limit: str = "64Mi") -> Manifest:
    """Scratch space for a read-only root filesystem; bounded so it cannot fill the node."""
    return {"name": name, "emptyDir": {"sizeLimit": size_limit}}


def mount(name: str, path: str, read_only: bool = True, sub_path: str | None = None) -> Manifest:
    """A volumeMount, read-only unless the container must write there."""
    result: Manifest = {"name": name, "mountPath": path, "readOnly": read_only}
    if sub_path is not None:
        result["subPath"] = sub_path
    return result


def tcp_probe(port: int | str, period: int = 10, failures: int = 3, delay: int = 0) -> Manifest:
    """A TCP probe: the engine accepts connections (used where TLS or auth blocks HTTP/exec)."""
    probe: Manifest = {
        "tcpSocket": {"port": port},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 5,
    }
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def exec_probe(command: list[str], period: int = 10, failures: int = 3) -> Manifest:
    """A command probe, for engines whose own client can tell "ready" from "listening"."""
    return {
        "exec": {"command": command},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 5,
    }


def http_probe(
    path: str, port: int | str, period: int = 10, failures: int = 3, scheme: str = "HTTP"
) -> Manifest:
    """An HTTP(S) probe; the kubelet neither verifies the server nor presents a client
    certificate, so the endpoint must not require one."""
    return {
        "httpGet": {"path": path, "port": port, "scheme": scheme},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 5,
    }


def service(
    name: str,
    namespace: str,
    component: str,
    meta_labels: dict[str, str],
    ports: list[tuple[str, int, int | str]],
    headless: bool = False,
) -> Manifest:
    """A ClusterIP Service (headless for a StatefulSet's stable pod names)."""
    spec: Manifest = {
        "selector": selector_labels(component),
        "ports": [
            {"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}
            for port_name, port, target in ports
        ],
    }
    spec["type"] = "ClusterIP"
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "spec": spec,
    }


def disruption_budget(
    name: str,
    namespace: str,
    component: str,
    meta_labels: dict[str, str],
    **bound: Any,
) -> Manifest:
    """A PodDisruptionBudget; ``bound`` is ``minAvailable=`` or ``maxUnavailable=``."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "spec": {"selector": {"matchLabels": selector_labels(component)}, **bound},
    }


def config_map(
    name: str, namespace: str, meta_labels: dict[str, str], data: dict[str, str]
) -> Manifest:
    """Non-secret configuration files (engine config, SQL scripts)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "data": data,
    }


def service_account(name: str, namespace: str, meta_labels: dict[str, str]) -> Manifest:
    """A dedicated identity per workload with no API token mounted by default."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "automountServiceAccountToken": False,
    }


def pod_template(
    service_account: str,
    meta_labels: dict[str, str],
    container: Manifest,
    volumes: list[Manifest],
    grace_period_s: int | None = None,
) -> Manifest:
    """One container under the restricted pod profile, as its own ServiceAccount with no
    API token: none of the platform's long-running pods talks to the Kubernetes API.

    ``grace_period_s`` is for engines that need longer than the default to shut down
    cleanly (a database flushing to its volume).
    """
    spec: Manifest = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
    }
    if grace_period_s is not None:
        spec["terminationGracePeriodSeconds"] = grace_period_s
    spec["containers"] = [container]
    spec["volumes"] = volumes
    return {"metadata": {"labels": meta_labels}, "spec": spec}


def deployment(
    name: str,
    namespace: str,
    component: str,
    meta_labels: dict[str, str],
    container: Manifest,
    volumes: list[Manifest],
) -> Manifest:
    """A stateless Deployment of one container, run as the ServiceAccount ``name``.

    No ``spec.replicas``: the operator owns that field of the Deployments it scales to
    campaign demand (one owner per field). A manifest that carried it would make every
    server-side re-apply of the render conflict with the operator's field manager, and a
    forced or client-side apply reset the operator's count; absent, the API server's
    default (1) stands until the operator's first plan. Rolling updates never take a
    replica away before its successor is ready (``maxUnavailable: 0``), so a rollout does
    not dip below the demand the operator sized for.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "spec": {
            "selector": {"matchLabels": selector_labels(component)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
            "template": pod_template(name, meta_labels, container, volumes),
        },
    }


def statefulset(
    name: str,
    namespace: str,
    component: str,
    meta_labels: dict[str, str],
    container: Manifest,
    volumes: list[Manifest],
    replicas: int | None = None,
) -> Manifest:
    """A StatefulSet without volumes behind the same-named headless Service, for engines
    whose members address each other by stable pod names (the cache's Redis and Sentinels).

    ``replicas`` None leaves ``spec.replicas`` to the operator, as :func:`deployment`
    explains. Pods start and stop in parallel: members find each other at start, so
    nothing is gained by waiting for each ordinal in turn, and a scale-up adds every new
    replica at once.
    """
    spec: Manifest = {"serviceName": name}
    if replicas is not None:
        spec["replicas"] = replicas
    spec |= {
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate"},
        "selector": {"matchLabels": selector_labels(component)},
        # A copy: one dict in two places would be written as a YAML alias.
        "template": pod_template(name, dict(meta_labels), container, volumes),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "spec": spec,
    }
