"""The platform CA and serving certificates as Pulumi dynamic resources built on ``certs/``.

Why dynamic resources: the CA must be generated on the first ``up`` and never again.
A dynamic provider's ``create`` runs once; its outputs (the key marked secret, so Pulumi
encrypts it in the state) are replayed on every later ``up``, and :meth:`RootCaProvider.diff`
reports no change whatever the configuration says, so nothing short of a deliberate
``pulumi state``/``--target-replace`` operation can regenerate it. The resource is also
``protect``-ed, so ``pulumi destroy`` refuses to drop the trust anchor by accident.

Serving certificates are re-issued by an ``up`` when their names or issuing CA change,
or when they are within ``renew_before_days`` of expiry: serving certificates renew
whenever ``pulumi up`` runs (schedule it, e.g. weekly in CI with cluster credentials).

The classes' ``create``/``diff`` are plain Python and tested directly; ``pulumi.dynamic``
needs the Pulumi engine to call them, which only a real ``up`` provides.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi.dynamic
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certs import (
    CertificateAuthority,
    create_root_ca,
    issue_server_certificate,
    load_certificate,
    load_private_key,
    tls_secret_data,
)
from certs.keys import KeyAlgorithm


def _fingerprint(cert_pem: str) -> str:
    """The resource id: the certificate's SHA-256, safe to show (no key material)."""
    return hashlib.sha256(load_certificate(cert_pem).public_bytes(Encoding.DER)).hexdigest()


def new_root_ca(common_name: str, validity_days: int, key_algorithm: str) -> dict[str, str]:
    """A fresh self-signed CA as PEM: ``cert_pem`` (also the trust bundle) and ``key_pem``."""
    ca = create_root_ca(
        common_name,
        validity=dt.timedelta(days=validity_days),
        key_algorithm=KeyAlgorithm(key_algorithm),
        path_length=1,
    )
    data = tls_secret_data(ca, [ca.certificate])
    return {"cert_pem": data["tls.crt"], "key_pem": data["tls.key"]}


def _authority(ca_cert_pem: str, ca_key_pem: str) -> CertificateAuthority:
    return CertificateAuthority(
        load_certificate(ca_cert_pem, field="ca_cert_pem"),
        load_private_key(ca_key_pem, field="ca_key_pem"),
    )


def new_server_certificate(
    ca_cert_pem: str,
    ca_key_pem: str,
    common_name: str,
    dns_names: Sequence[str],
    validity_days: int,
    key_algorithm: str,
) -> dict[str, str]:
    """A serverAuth leaf for ``dns_names``; ``pem`` is cert + key for MongoDB's one-file form."""
    ca = _authority(ca_cert_pem, ca_key_pem)
    issued = issue_server_certificate(
        ca,
        common_name,
        dns_names=list(dns_names),
        validity=dt.timedelta(days=validity_days),
        key_algorithm=KeyAlgorithm(key_algorithm),
    )
    data = tls_secret_data(issued, [ca.root])
    return {
        "cert_pem": data["tls.crt"],
        "key_pem": data["tls.key"],
        "ca_pem": data["ca.crt"],
        "pem": data["tls.crt"] + data["tls.key"],
        "not_after": issued.certificate.not_valid_after_utc.isoformat(),
    }


def needs_renewal(cert_pem: str, renew_before_days: int, now: dt.datetime | None = None) -> bool:
    """True when the certificate expires within ``renew_before_days`` of ``now``."""
    moment = now or dt.datetime.now(dt.UTC)
    cert: x509.Certificate = load_certificate(cert_pem)
    return cert.not_valid_after_utc - moment <= dt.timedelta(days=renew_before_days)


class RootCaProvider(pulumi.dynamic.ResourceProvider):
    """Creates the CA once; never reports a difference afterwards."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        pem = new_root_ca(props["common_name"], int(props["validity_days"]), props["key_algorithm"])
        return pulumi.dynamic.CreateResult(id_=_fingerprint(pem["cert_pem"]), outs={**props, **pem})

    def diff(
        self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        # Configuration only shapes the first CA; a later change must not replace the
        # trust anchor every campaign certificate chains to.
        return pulumi.dynamic.DiffResult(changes=False)


_SERVER_INPUTS = ("ca_cert_pem", "common_name", "dns_names", "key_algorithm")


class ServerCertificateProvider(pulumi.dynamic.ResourceProvider):
    """Issues a serving certificate; replaces it on new names, a new CA or near expiry."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        pem = new_server_certificate(
            props["ca_cert_pem"],
            props["ca_key_pem"],
            props["common_name"],
            list(props["dns_names"]),
            int(props["validity_days"]),
            props["key_algorithm"],
        )
        return pulumi.dynamic.CreateResult(id_=_fingerprint(pem["cert_pem"]), outs={**props, **pem})

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in _SERVER_INPUTS if olds.get(key) != news.get(key)]
        old_cert = olds.get("cert_pem")
        if not old_cert or needs_renewal(old_cert, int(news["renew_before_days"])):
            replaces.append("cert_pem")
        return pulumi.dynamic.DiffResult(
            changes=bool(replaces), replaces=replaces, delete_before_replace=False
        )


class RootCertificateAuthority(pulumi.dynamic.Resource):
    """The platform CA; ``key_pem`` is a secret output."""

    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        common_name: str,
        validity_days: int,
        key_algorithm: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "common_name": common_name,
            "validity_days": validity_days,
            "key_algorithm": key_algorithm,
            "cert_pem": None,
            "key_pem": None,
        }
        own = pulumi.ResourceOptions(additional_secret_outputs=["key_pem"], protect=True)
        super().__init__(RootCaProvider(), name, props, pulumi.ResourceOptions.merge(opts, own))


class ServerCertificate(pulumi.dynamic.Resource):
    """A serving certificate issued by the platform CA; ``key_pem`` and ``pem`` are secret."""

    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]
    ca_pem: pulumi.Output[str]
    pem: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ca: RootCertificateAuthority,
        dns_names: Sequence[str],
        validity_days: int,
        renew_before_days: int,
        key_algorithm: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "ca_cert_pem": ca.cert_pem,
            "ca_key_pem": ca.key_pem,
            "common_name": dns_names[0],
            "dns_names": list(dns_names),
            "validity_days": validity_days,
            "renew_before_days": renew_before_days,
            "key_algorithm": key_algorithm,
            "cert_pem": None,
            "key_pem": None,
            "ca_pem": None,
            "pem": None,
            "not_after": None,
        }
        own = pulumi.ResourceOptions(additional_secret_outputs=["key_pem", "pem", "ca_key_pem"])
        super().__init__(
            ServerCertificateProvider(), name, props, pulumi.ResourceOptions.merge(opts, own)
        )
