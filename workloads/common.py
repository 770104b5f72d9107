"""Labels, security contexts and resource shapes every PromptSales workload shares.

Kept in one place so the restricted Pod Security profile, the label contract and the
ownership marks cannot drift between the Pulumi program and the operator.
"""

from __future__ import annotations

from typing import Any, Literal

from workloads import campaign_api

Manifest = dict[str, Any]
ManagedBy = Literal["pulumi", "promptsales-operator"]

PART_OF = "promptsales"
# The campaign API's names, defined in workloads.campaign_api.
GROUP = campaign_api.GROUP
CRD_VERSION = campaign_api.VERSION
CRD_KIND = campaign_api.KIND
CRD_PLURAL = campaign_api.PLURAL
CAMPAIGN_LABEL = "promptsales.io/campaign"

# The shared workloads the operator scales: the MCP server Deployment and the data
# StatefulSet of the Redis cache (workloads/cache.py).
MCP_DEPLOYMENT = "promptsales-mcp"
CACHE_STATEFULSET = "promptsales-cache"

DEFAULT_IMAGE = "ghcr.io/promptsales/platform:0.1.0"
NON_ROOT_UID = 10001


def labels(component: str, managed_by: ManagedBy, campaign: str | None = None) -> dict[str, str]:
    """The label contract: part-of, component, managed-by, and the campaign when owned by one."""
    result = {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": managed_by,
    }
    if campaign is not None:
        result[CAMPAIGN_LABEL] = campaign
    return result


def selector_labels(component: str) -> dict[str, str]:
    """Immutable selector subset (managed-by is left out so ownership can change hands)."""
    return {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": component}


def pod_security_context(fs_group: int | None = NON_ROOT_UID) -> Manifest:
    """Pod-level settings of the ``restricted`` Pod Security Standard."""
    ctx: Manifest = {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_UID,
        "runAsGroup": NON_ROOT_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        ctx["fsGroup"] = fs_group
    return ctx


def container_security_context(run_as_user: int = NON_ROOT_UID) -> Manifest:
    """Container-level settings: non-root, read-only root, no escalation, no capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> Manifest:
    """Requests and limits; every container the platform creates declares both."""
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> Manifest:
    """An ownerReference that lets the garbage collector delete the child with its owner."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def tmp_volume(name: str = "tmp", size_limit: str = "64Mi") -> Manifest:
    """A small writable emptyDir, since every root filesystem is read-only."""
    return {"name": name, "emptyDir": {"sizeLimit": size_limit}}
