"""The ``promptsales-ca`` Secret as the CA store, and the operator's leaves as the leaves.

The Secret keeps the layout the operator reads (``tls.crt`` the signing CA, ``tls.key``
its key, ``ca.crt`` the trust bundle); a rollover adds ``incoming-ca.crt`` and
``incoming-ca.key`` (the next CA, before it signs) or ``outgoing-ca.crt`` (the retired
CA, key gone), and two annotations with the times the rollover waits from. The operator
ignores the extra keys. Every write is one PUT carrying the ``resourceVersion`` that was
read, so two people rotating at once cannot overwrite each other: the second gets a
conflict and runs again.

The leaves are the ``kubernetes.io/tls`` Secrets the operator manages in the namespace
(campaign client certificates and the MCP serving certificate), each with the ``ca.crt``
the operator gave it: the operator refreshes those when ``ca.crt`` here changes and
re-issues every leaf that a CA other than ``tls.crt`` signed.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from typing import Any

import certs
from certs.validity import as_utc
from promptsales_cli.local.cluster import Cluster, ClusterError
from workloads.pods import CA_SECRET

INCOMING_CERT = "incoming-ca.crt"
INCOMING_KEY = "incoming-ca.key"
OUTGOING_CERT = "outgoing-ca.crt"
BUNDLE_PUBLISHED_AT = "promptsales.io/ca-bundle-published-at"
LEAVES_MOVED_AT = "promptsales.io/ca-leaves-moved-at"
OPERATOR_LEAVES = "app.kubernetes.io/managed-by=promptsales-operator"
ROLLOVER_KEYS = (INCOMING_CERT, INCOMING_KEY, OUTGOING_CERT)
_STANDARD_KEYS = ("tls.crt", "tls.key", "ca.crt")

Obj = dict[str, Any]


def _decoded(data: dict[str, str], key: str, secret: str) -> bytes:
    try:
        return base64.b64decode(data[key], validate=True)
    except (KeyError, ValueError):
        raise certs.MalformedInputError(
            f"Secret {secret}: {key} is missing or not base64"
        ) from None


def _time(annotations: dict[str, str], key: str) -> dt.datetime | None:
    value = annotations.get(key)
    if value is None:
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(value), key)
    except (ValueError, TypeError):
        raise certs.MalformedInputError(
            f"annotation {key}: not an ISO 8601 time with an offset"
        ) from None


def store_from_secret(secret: Obj) -> certs.CaStore:
    """The CA store a ``promptsales-ca`` Secret holds (``data``, base64)."""
    name = str(secret.get("metadata", {}).get("name", CA_SECRET))
    data: dict[str, str] = dict(secret.get("data") or {})
    parsed = certs.load_tls_secret(
        {k: data[k] for k in ("tls.crt", "tls.key", "ca.crt") if k in data}
    )
    signing = parsed.as_authority()
    incoming = None
    if INCOMING_KEY in data:
        incoming = certs.authority_for_key(
            certs.load_certificates(_decoded(data, INCOMING_CERT, name), field=INCOMING_CERT),
            certs.load_private_key(_decoded(data, INCOMING_KEY, name), field=INCOMING_KEY),
            field=INCOMING_CERT,
        )
    outgoing = None
    if OUTGOING_CERT in data:
        outgoing = certs.load_certificate(_decoded(data, OUTGOING_CERT, name), field=OUTGOING_CERT)
    annotations: dict[str, str] = dict((secret.get("metadata") or {}).get("annotations") or {})
    return certs.CaStore(
        signing=signing,
        bundle=parsed.trust_bundle or (signing.root,),
        incoming=incoming,
        outgoing=outgoing,
        bundle_published_at=_time(annotations, BUNDLE_PUBLISHED_AT),
        leaves_moved_at=_time(annotations, LEAVES_MOVED_AT),
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_with_store(secret: Obj, store: certs.CaStore) -> Obj:
    """``secret`` (as read, ``resourceVersion`` included) holding ``store``; for a PUT."""
    updated = copy.deepcopy(secret)
    updated.pop("stringData", None)
    data = {
        key: value for key, value in (updated.get("data") or {}).items() if key not in ROLLOVER_KEYS
    }
    data.update({k: _b64(v) for k, v in certs.tls_secret_data(store.signing, store.bundle).items()})
    if store.incoming is not None:
        data[INCOMING_CERT] = _b64(
            certs.to_pem((store.incoming.certificate, *store.incoming.chain))
        )
        data[INCOMING_KEY] = _b64(certs.private_key_to_pem(store.incoming.private_key))
    if store.outgoing is not None:
        data[OUTGOING_CERT] = _b64(certs.to_pem(store.outgoing))
    updated["data"] = data
    metadata = updated.setdefault("metadata", {})
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k not in {BUNDLE_PUBLISHED_AT, LEAVES_MOVED_AT}
    }
    for key, moment in (
        (BUNDLE_PUBLISHED_AT, store.bundle_published_at),
        (LEAVES_MOVED_AT, store.leaves_moved_at),
    ):
        if moment is not None:
            annotations[key] = moment.isoformat()
    metadata["annotations"] = annotations
    return updated


class SecretCaTarget:
    """``promptsales-ca`` in ``cluster.namespace``, reached with the person's kubeconfig."""

    reissues_leaves = False  # the operator does

    def __init__(self, cluster: Cluster, secret_name: str = CA_SECRET) -> None:
        self.cluster = cluster
        self.secret_name = secret_name
        self._read: Obj | None = None

    @property
    def where(self) -> str:
        return f"Secret {self.cluster.namespace}/{self.secret_name} ({self.cluster.where()})"

    @property
    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.cluster.namespace}/secrets/{self.secret_name}"

    def load(self) -> certs.CaStore:
        answer = self.cluster.request("GET", self._path)
        if answer.status_code == 404:
            raise ClusterError(f"{self.where}: not found (`pulumi up` creates it)")
        if answer.status_code != 200:
            raise ClusterError(f"{self.where}: GET answered {answer.status_code}")
        self._read = answer.json()
        try:
            return store_from_secret(self._read)
        except certs.CertificateError as exc:
            raise certs.CertificateError(f"{self.where}: {exc}") from None

    def save(self, store: certs.CaStore) -> None:
        if self._read is None:
            raise RuntimeError("load() before save()")
        body = secret_with_store(self._read, store)
        answer = self.cluster.request("PUT", self._path, json=body)
        if answer.status_code == 409:
            raise ClusterError(
                f"{self.where}: changed by someone else since it was read; "
                "nothing was written, run the command again"
            )
        if answer.status_code != 200:  # the body is not echoed: it holds CA keys
            raise ClusterError(f"{self.where}: PUT answered {answer.status_code}")
        self._read = answer.json()

    def leaves(self, store: certs.CaStore) -> dict[str, certs.Leaf]:
        collection = f"/api/v1/namespaces/{self.cluster.namespace}/secrets"
        answer = self.cluster.request("GET", collection, params={"labelSelector": OPERATOR_LEAVES})
        if answer.status_code != 200:
            raise ClusterError(
                f"{self.cluster.where()}: listing Secrets answered {answer.status_code}"
            )
        found: dict[str, certs.Leaf] = {}
        for item in answer.json().get("items") or []:
            name = str(item["metadata"]["name"])
            data = item.get("data") or {}
            if item.get("type") != "kubernetes.io/tls" or name == self.secret_name:
                continue
            try:
                leaf = certs.load_certificates(_decoded(data, "tls.crt", name), field="tls.crt")[0]
                bundle = (
                    tuple(certs.load_certificates(_decoded(data, "ca.crt", name), field="ca.crt"))
                    if data.get("ca.crt")
                    else ()
                )
            except certs.CertificateError:
                continue  # unreadable: the operator re-issues it from the signing CA
            found[name] = certs.Leaf(leaf, bundle)
        return found

    def reissue(self, names: tuple[str, ...], store: certs.CaStore, now: dt.datetime) -> None:
        raise NotImplementedError("the operator re-issues cluster leaves")
