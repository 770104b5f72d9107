"""Platform policy as plain functions over manifests (dicts in Kubernetes wire form).

They run on ``promptsales render`` output and on the inputs the Pulumi mocks capture,
because ``pulumi_policy`` packs need the Pulumi CLI, which CI here does not have. The
same checks would sit in a CrossGuard pack's ``validate`` unchanged.

Rules: every container declares CPU and memory requests and limits, runs non-root with a
read-only root filesystem, no privilege escalation, all capabilities dropped and a
seccomp profile; images name a tag or digest other than ``latest``; no credential
value sits in an environment variable, a command line or a ConfigMap; a NetworkPolicy
selects every pod; no RBAC rule uses a wildcard.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Manifest = dict[str, Any]

POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
SEEDED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})

# Names of settings that hold credentials when given a literal value.
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?$|SECRET$|_DSN$)",
    re.IGNORECASE,
)
# Values that are credentials whatever their name: URL userinfo with a password, libpq
# password=, SQL "PASSWORD = '...'" (a sqlcmd $(variable) is a reference, not a value),
# PEM private keys, Redis requirepass.
_SECRET_VALUE = re.compile(
    r"(://[^/\s:@]*:[^/\s@$]+@"
    r"|\bpassword\s*=\s*(?!\$|N?')[^\s;'\"]+"
    r"|PASSWORD\s*=\s*N?'(?!\$\()"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\brequirepass\s+\S+)",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule on one object; ``detail`` never quotes a secret value."""

    rule: str
    kind: str
    namespace: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.kind} {self.namespace}/{self.name}: {self.detail}"


def _where(manifest: Manifest) -> tuple[str, str, str]:
    meta = manifest.get("metadata") or {}
    return (
        str(manifest.get("kind", "?")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "?")),
    )


def _violation(rule: str, manifest: Manifest, detail: str) -> Violation:
    kind, namespace, name = _where(manifest)
    return Violation(rule, kind, namespace, name, detail)


def pod_template(manifest: Manifest) -> Manifest | None:
    """The pod template (metadata + spec) a workload creates pods from, if any."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind in POD_TEMPLATE_KINDS:
        template: Manifest = spec.get("template") or {}
        return template
    if kind == "CronJob":
        cron_template: Manifest = ((spec.get("jobTemplate") or {}).get("spec") or {}).get(
            "template"
        ) or {}
        return cron_template
    if kind == "Pod":
        return {"metadata": manifest.get("metadata") or {}, "spec": spec}
    return None


def _containers(pod_spec: Manifest) -> Iterator[Manifest]:
    yield from pod_spec.get("initContainers") or []
    yield from pod_spec.get("containers") or []


def check_containers(manifest: Manifest) -> list[Violation]:
    """Requests/limits, non-root, read-only root, no escalation, caps dropped, seccomp."""
    template = pod_template(manifest)
    if template is None:
        return []
    pod_spec = template.get("spec") or {}
    pod_ctx = pod_spec.get("securityContext") or {}
    found: list[Violation] = []
    for container in _containers(pod_spec):
        cname = container.get("name", "?")

        def bad(rule: str, detail: str, cname: str = cname) -> None:
            found.append(_violation(rule, manifest, f"container {cname}: {detail}"))

        res = container.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (res.get(section) or {}).get(resource):
                    bad("resources", f"no {section}.{resource}")
        ctx = container.get("securityContext") or {}
        if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
            bad("non-root", "runAsNonRoot is not true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            bad("non-root", "runAsUser is 0")
        if ctx.get("readOnlyRootFilesystem") is not True:
            bad("read-only-root", "readOnlyRootFilesystem is not true")
        if ctx.get("allowPrivilegeEscalation") is not False:
            bad("no-escalation", "allowPrivilegeEscalation is not false")
        if ctx.get("privileged"):
            bad("no-escalation", "privileged")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad("capabilities", "capabilities.drop lacks ALL")
        if caps.get("add"):
            bad("capabilities", "adds capabilities")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in SEEDED_SECCOMP:
            bad("seccomp", "no RuntimeDefault/Localhost seccompProfile")
        found.extend(_image_violations(manifest, cname, str(container.get("image", ""))))
    return found


def _image_violations(manifest: Manifest, cname: str, image: str) -> list[Violation]:
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return [_violation("image-tag", manifest, f"container {cname}: image has no tag")]
    if last.rsplit(":", 1)[1] == "latest":
        return [_violation("image-tag", manifest, f"container {cname}: image uses :latest")]
    return []


def _looks_secret(value: str) -> bool:
    return bool(_SECRET_VALUE.search(value))


def check_plain_secrets(manifest: Manifest) -> list[Violation]:
    """No credential as a literal env value, command/args element or ConfigMap value."""
    found: list[Violation] = []
    if manifest.get("kind") == "ConfigMap":
        for key, value in (manifest.get("data") or {}).items():
            if isinstance(value, str) and _looks_secret(value):
                found.append(
                    _violation("plain-secret", manifest, f"data key {key} holds a credential")
                )
        return found
    template = pod_template(manifest)
    if template is None:
        return found
    for container in _containers(template.get("spec") or {}):
        cname = container.get("name", "?")
        for env in container.get("env") or []:
            name, value = str(env.get("name", "")), env.get("value")
            if value is None or name.endswith("_FILE"):
                continue
            if _SECRET_NAME.search(name) or _looks_secret(str(value)):
                found.append(
                    _violation(
                        "plain-secret",
                        manifest,
                        f"container {cname}: env {name} has a literal value (mount a Secret file)",
                    )
                )
        for part in [*(container.get("command") or []), *(container.get("args") or [])]:
            if _looks_secret(str(part)):
                found.append(
                    _violation(
                        "plain-secret", manifest, f"container {cname}: credential in command line"
                    )
                )
    return found


def check_rbac(manifest: Manifest) -> list[Violation]:
    """No ``*`` in verbs, resources, apiGroups or resourceNames of any rule."""
    if manifest.get("kind") not in {"Role", "ClusterRole"}:
        return []
    found: list[Violation] = []
    for index, rule in enumerate(manifest.get("rules") or []):
        for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
            if any("*" in str(item) for item in rule.get(field) or []):
                found.append(_violation("rbac-wildcard", manifest, f"rules[{index}].{field} has *"))
    return found


def selector_matches(selector: Manifest, pod_labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (an empty selector matches every pod)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if pod_labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in pod_labels
        if (
            (op == "In" and pod_labels.get(key) not in values)
            or (op == "NotIn" and present and pod_labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def check_network_coverage(manifests: list[Manifest]) -> list[Violation]:
    """Every pod template is selected by a NetworkPolicy of its own namespace."""
    policies: dict[str, list[Manifest]] = {}
    for manifest in manifests:
        if manifest.get("kind") == "NetworkPolicy":
            namespace = (manifest.get("metadata") or {}).get("namespace", "")
            policies.setdefault(namespace, []).append(
                (manifest.get("spec") or {}).get("podSelector") or {}
            )
    found: list[Violation] = []
    for manifest in manifests:
        template = pod_template(manifest)
        if template is None:
            continue
        namespace = (manifest.get("metadata") or {}).get("namespace", "")
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        if not any(selector_matches(sel, pod_labels) for sel in policies.get(namespace, [])):
            found.append(
                _violation("network-policy", manifest, "no NetworkPolicy selects its pods")
            )
    return found


PER_OBJECT: tuple[Callable[[Manifest], list[Violation]], ...] = (
    check_containers,
    check_plain_secrets,
    check_rbac,
)


def check_all(manifests: Iterable[Manifest]) -> list[Violation]:
    """Every rule over a complete set of manifests (coverage needs the whole set)."""
    items = list(manifests)
    found = [
        violation for manifest in items for check in PER_OBJECT for violation in check(manifest)
    ]
    found.extend(check_network_coverage(items))
    return found


# --- NetworkPolicy evaluation: "is this flow allowed?" -----------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """A pod (namespace + labels) or, with ``namespace=None``, an address outside the cluster."""

    namespace: str | None
    labels: tuple[tuple[str, str], ...] = ()
    ip: str | None = None

    @classmethod
    def pod(cls, namespace: str, **labels: str) -> Endpoint:
        return cls(namespace, tuple(sorted(labels.items())))

    @classmethod
    def outside(cls, ip: str) -> Endpoint:
        return cls(None, (), ip)


def _peer_matches(peer: Manifest, policy_namespace: str, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        if endpoint.ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(endpoint.ip)
        inside = address in ipaddress.ip_network(block["cidr"], strict=False)
        excluded = any(
            address in ipaddress.ip_network(cidr, strict=False)
            for cidr in block.get("except") or []
        )
        return inside and not excluded
    if endpoint.namespace is None:
        return False
    pod_labels = dict(endpoint.labels)
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
        if not selector_matches(peer["namespaceSelector"], ns_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector") or {}, pod_labels)


def _port_matches(ports: list[Manifest] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    )


def _direction_allows(
    policies: list[Manifest],
    subject: Endpoint,
    peer: Endpoint,
    port: int,
    protocol: str,
    direction: str,
) -> bool:
    kind, key, peers_key = (
        ("Egress", "egress", "to") if direction == "egress" else ("Ingress", "ingress", "from")
    )
    selecting = [
        p
        for p in policies
        if (p.get("metadata") or {}).get("namespace") == subject.namespace
        and kind in ((p.get("spec") or {}).get("policyTypes") or [])
        and selector_matches((p.get("spec") or {}).get("podSelector") or {}, dict(subject.labels))
    ]
    if not selecting:
        return True
    for policy in selecting:
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(p, namespace, peer) for p in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def flow_allowed(
    manifests: Iterable[Manifest], src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the NetworkPolicies among ``manifests`` let ``src`` open ``dst:port``
    (egress checked for an in-cluster source, ingress for an in-cluster destination)."""
    policies = [m for m in manifests if m.get("kind") == "NetworkPolicy"]
    egress = src.namespace is None or _direction_allows(
        policies, src, dst, port, protocol, "egress"
    )
    ingress = dst.namespace is None or _direction_allows(
        policies, dst, src, port, protocol, "ingress"
    )
    return egress and ingress
