"""Namespaces of the platform, each carrying its Pod Security Admission level.

The admission labels are the cluster's own guard: even a manifest that slipped past our
policy checks is refused at the API server if it asks for more than ``restricted``.
Platform workloads (operator, MCP server, cache, ETL) and the databases get separate
namespaces so that database credentials and volumes sit behind their own RBAC boundary.
"""

from __future__ import annotations

from typing import Literal

from workloads.common import ManagedBy, Manifest, labels

PLATFORM_NAMESPACE = "promptsales"
DATA_NAMESPACE = "promptsales-data"

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]

PSA_PREFIX = "pod-security.kubernetes.io"


def pod_security_labels(level: PodSecurityLevel) -> dict[str, str]:
    """Enforce, audit and warn at the same level, so a violation is never only a warning."""
    return {
        f"{PSA_PREFIX}/enforce": level,
        f"{PSA_PREFIX}/enforce-version": "latest",
        f"{PSA_PREFIX}/audit": level,
        f"{PSA_PREFIX}/warn": level,
    }


def namespace(
    name: str,
    component: str,
    level: PodSecurityLevel = "restricted",
    managed_by: ManagedBy = "pulumi",
) -> Manifest:
    """A Namespace with the platform labels plus its Pod Security Admission level."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {**labels(component, managed_by), **pod_security_labels(level)},
        },
    }


def platform_namespaces(
    platform: str = PLATFORM_NAMESPACE, data: str = DATA_NAMESPACE
) -> list[Manifest]:
    """Both namespaces at ``restricted``: every platform workload, databases included, runs
    non-root without capabilities, so nothing needs a weaker level."""
    return [namespace(platform, "platform"), namespace(data, "data")]
