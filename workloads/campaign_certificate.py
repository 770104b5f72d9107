"""The ``kubernetes.io/tls`` Secret that carries a campaign's (or a server's) certificate.

Public facts about the certificate go into annotations (serial, notAfter, renewal time,
signing CA fingerprint) so the operator can decide "is this Secret still right?" by reading
metadata it wrote, without re-parsing PEM on every pass; the private key exists only in
``data["tls.key"]``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from workloads.campaign_api import API_VERSION, KIND
from workloads.common import Manifest, labels, owner_reference

ANNOTATION_PREFIX = "promptsales.io/"
SERIAL = ANNOTATION_PREFIX + "certificate-serial"
NOT_AFTER = ANNOTATION_PREFIX + "certificate-not-after"
RENEWAL_TIME = ANNOTATION_PREFIX + "certificate-renewal-time"
ISSUER_FINGERPRINT = ANNOTATION_PREFIX + "issuer-fingerprint"
BUNDLE_FINGERPRINT = ANNOTATION_PREFIX + "trust-bundle-sha256"
IDENTITY = ANNOTATION_PREFIX + "certificate-identity"


def owner_references(campaign: str, uid: str) -> list[Manifest]:
    """The campaign as the Secret's controller, so the garbage collector deletes it along."""
    return [owner_reference(API_VERSION, KIND, campaign, uid)]


def build_tls_secret(
    *,
    name: str,
    namespace: str,
    component: str,
    pem_data: Mapping[str, str],
    annotations: Mapping[str, str],
    campaign: str | None = None,
    owner_uid: str | None = None,
) -> Manifest:
    """A Secret of type kubernetes.io/tls; ``pem_data`` holds tls.crt, tls.key and ca.crt."""
    missing = {"tls.crt", "tls.key", "ca.crt"} - set(pem_data)
    if missing:
        raise ValueError(f"pem_data lacks {sorted(missing)}")
    metadata: Manifest = {
        "name": name,
        "namespace": namespace,
        "labels": labels(component, "promptsales-operator", campaign),
        "annotations": dict(annotations),
    }
    if campaign is not None and owner_uid is not None:
        metadata["ownerReferences"] = owner_references(campaign, owner_uid)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": metadata,
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in pem_data.items()},
    }
