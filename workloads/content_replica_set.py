"""The production PromptContent store: a MongoDB replica set under MongoDB's own operator.

``MongoDBCommunity`` (``mongodbcommunity.mongodb.com/v1``, served by MongoDB Controllers
for Kubernetes) rather than a StatefulSet of our own: replica-set initiation, member
re-configuration on scale, rolling version upgrades that keep a primary, the keyfile the
members authenticate each other with and SCRAM users from Secrets are the operator's job,
and each of them is where a hand-built replica set goes wrong (``rs.initiate`` races,
a member restarted before its peers caught up). A replica set is also what offers change
streams, which the MCP server follows for new content.

TLS is required on every connection, client and member alike, with the platform CA's
serving certificate: ``certificateKeySecretRef`` holds ``tls.crt``/``tls.key`` and
``caCertificateSecretRef`` the ``ca.crt`` clients and members verify against.

Secrets the manifest references (created by the Pulumi program, or by the team for
``promptsales render`` users): ``promptsales-content-password`` (``password`` of the
application user) and ``promptsales-content-tls`` (``tls.crt``, ``tls.key``, ``ca.crt``).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from workloads.common import Manifest, labels, resources

API_VERSION = "mongodbcommunity.mongodb.com/v1"
NAME = "promptsales-content"
COMPONENT = "mongodb"  # the single instance's component label: the same NetworkPolicies
SERVICE = f"{NAME}-svc"  # the headless Service the operator creates
PASSWORD_SECRET = f"{NAME}-password"
TLS_SECRET = f"{NAME}-tls"
USER = "promptsales"
DATABASE = "PromptContent"
PORT = 27017
DEFAULT_VERSION = "8.0.4"


@dataclasses.dataclass(frozen=True, slots=True)
class ContentReplicaSet:
    """Everything the ``MongoDBCommunity`` resource varies by."""

    namespace: str
    members: int = 3
    version: str = DEFAULT_VERSION
    storage: str = "10Gi"
    storage_class: str | None = None
    cpu: tuple[str, str] = ("250m", "1")
    memory: tuple[str, str] = ("1Gi", "1Gi")


def member_hosts(namespace: str, members: int, name: str = NAME) -> list[str]:
    """Each member's stable DNS name (``<pod>.<headless service>``), as the seed list."""
    return [f"{name}-{i}.{name}-svc.{namespace}.svc.cluster.local" for i in range(members)]


def serving_dns_names(namespace: str, members: int) -> list[str]:
    """The names on the members' certificate: every member, and the wildcard for growth."""
    return [
        *member_hosts(namespace, members),
        f"*.{SERVICE}.{namespace}.svc.cluster.local",
        f"*.{SERVICE}.{namespace}.svc",
        f"{SERVICE}.{namespace}.svc",
    ]


def connection_uri(namespace: str, members: int, password: str, ca_file: str) -> str:
    """A replica-set URI over every member, TLS verified against the mounted platform CA;
    the driver discovers the primary and follows elections by itself."""
    seeds = ",".join(f"{host}:{PORT}" for host in member_hosts(namespace, members))
    return (
        f"mongodb://{quote(USER, safe='')}:{quote(password, safe='')}@{seeds}/{DATABASE}"
        f"?replicaSet={NAME}&authSource=admin&tls=true&tlsCAFile={ca_file}"
    )


def _statefulset_override(spec: ContentReplicaSet) -> Manifest:
    """Merged by the operator into the StatefulSet it creates: our labels on the pods (the
    NetworkPolicies select them), sizing of ``mongod`` and of its data volume."""
    claim: Manifest = {
        "metadata": {"name": "data-volume"},
        "spec": {"resources": {"requests": {"storage": spec.storage}}},
    }
    if spec.storage_class is not None:
        claim["spec"]["storageClassName"] = spec.storage_class

    # The data namespace enforces the ``restricted`` Pod Security Standard: the pod's
    # seccomp profile and each of the operator's two containers' settings say so
    # explicitly (the operator merges containers by name).
    def hardened() -> Manifest:
        return {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        }

    return {
        "metadata": {"labels": labels(COMPONENT, "pulumi")},
        "spec": {
            "template": {
                "metadata": {"labels": labels(COMPONENT, "pulumi")},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "mongod",
                            "resources": resources(
                                spec.cpu[0], spec.memory[0], spec.cpu[1], spec.memory[1]
                            ),
                            "securityContext": hardened(),
                        },
                        {"name": "mongodb-agent", "securityContext": hardened()},
                    ],
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }


def replica_set(spec: ContentReplicaSet) -> Manifest:
    """The ``MongoDBCommunity`` resource: SCRAM users, TLS required, ``members`` members."""
    feature_compatibility = ".".join(spec.version.split(".")[:2])
    return {
        "apiVersion": API_VERSION,
        "kind": "MongoDBCommunity",
        "metadata": {
            "name": NAME,
            "namespace": spec.namespace,
            "labels": labels(COMPONENT, "pulumi"),
        },
        "spec": {
            "type": "ReplicaSet",
            "members": spec.members,
            "version": spec.version,
            "featureCompatibilityVersion": feature_compatibility,
            "security": {
                "authentication": {"modes": ["SCRAM"], "ignoreUnknownUsers": True},
                "tls": {
                    "enabled": True,
                    "optional": False,
                    "certificateKeySecretRef": {"name": TLS_SECRET},
                    "caCertificateSecretRef": {"name": TLS_SECRET},
                },
            },
            "users": [
                {
                    "name": USER,
                    "db": "admin",
                    "passwordSecretRef": {"name": PASSWORD_SECRET, "key": "password"},
                    # readWrite includes the find and changeStream actions change streams need.
                    "roles": [{"name": "readWrite", "db": DATABASE}],
                    # The operator appends "-scram-credentials" to this name.
                    "scramCredentialsSecretName": f"{NAME}-{USER}",
                }
            ],
            "statefulSet": _statefulset_override(spec),
        },
    }
