"""Certificate decisions for campaign and platform Secrets, built on ``certs``.

The decision is pure: given what a Secret holds (or None), the platform CA and the time,
say whether to issue (and why), only refresh the trust bundle, or do nothing. A Secret is
read once, when the watch delivers it (:func:`observe_secret`): the PEM is parsed and
checked then, and only public facts are kept (never the private key), so deciding costs
no parsing and the operator's cache of thousands of Secrets holds no key material. A
hand-edited Secret is caught: a leaf whose signer is not the current CA, whose key does
not match, or whose identity differs from the spec is re-issued.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography import x509

import certs
from certs.identity import client_identity_from_certificate
from promptsales_operator.clock import rfc3339
from workloads import campaign_certificate as secret_builder


class CAUnavailableError(Exception):
    """The platform CA Secret is missing or unusable; the message says which."""


@dataclasses.dataclass(frozen=True)
class PlatformCA:
    """The signing CA and the trust bundle every Secret's ``ca.crt`` carries."""

    authority: certs.CertificateAuthority
    bundle: tuple[x509.Certificate, ...]
    bundle_pem: str
    bundle_sha256: str
    issuer_fingerprint: str


def load_platform_ca(secret: Mapping[str, Any] | None, name: str) -> PlatformCA:
    """Parse the CA Secret; its ``ca.crt`` (both CAs during a rollover) is the bundle."""
    if secret is None:
        raise CAUnavailableError(f"Secret {name} not found")
    try:
        parsed = certs.load_tls_secret(secret.get("data") or {})
        authority = parsed.as_authority()
    except certs.CertificateError as exc:
        raise CAUnavailableError(f"Secret {name}: {exc}") from None
    bundle = parsed.trust_bundle or (authority.root,)
    bundle_pem = certs.to_pem(bundle)
    return PlatformCA(
        authority=authority,
        bundle=bundle,
        bundle_pem=bundle_pem,
        bundle_sha256=hashlib.sha256(bundle_pem.encode()).hexdigest(),
        issuer_fingerprint=certs.fingerprint(authority.certificate),
    )


class Action(enum.StrEnum):
    NONE = "none"
    ISSUE = "issue"
    REFRESH_BUNDLE = "refresh-bundle"


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    reason: str  # CamelCase, used as the Event reason
    message: str = ""
    current: x509.Certificate | None = None


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What the Secret's certificate must be."""

    identity: str  # compared with the stored identity annotation
    key_algorithm: str
    renew_before: dt.timedelta


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedSecret:
    """What a stored TLS Secret holds, as far as the decision needs (no key material).

    ``leaf`` is None when ``tls.crt``/``tls.key`` are missing, unreadable or do not match.
    """

    leaf: x509.Certificate | None
    key_algorithm: str | None
    bundle_sha256: str | None
    identity: str | None = None  # campaign/id/role from the subject and SPIFFE URI


def _decode(secret: Mapping[str, Any], key: str) -> bytes:
    value = (secret.get("data") or {}).get(key)
    if not value:
        raise certs.MalformedInputError(f"{key} missing")
    return base64.b64decode(value)


def observe_secret(secret: Mapping[str, Any]) -> ObservedSecret:
    """Parse and check a Secret's certificate and key once, keeping the public facts."""
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    bundle = annotations.get(secret_builder.BUNDLE_FINGERPRINT)
    try:
        parsed = certs.load_tls_secret(
            {"tls.crt": _decode(secret, "tls.crt"), "tls.key": _decode(secret, "tls.key")}
        )
        algorithm = certs.keys.algorithm_of(parsed.private_key).value
    except (certs.CertificateError, ValueError):
        return ObservedSecret(None, None, bundle)
    leaf = parsed.certificate
    return ObservedSecret(leaf, algorithm, bundle, _identity_or_none(leaf))


def decide(
    stored: ObservedSecret | None,
    ca: PlatformCA,
    wanted: Wanted,
    now: dt.datetime,
    *,
    check_identity: bool = True,
) -> Decision:
    """Issue when missing, broken, re-identified, re-keyed, signed by another CA or due."""
    if stored is None:
        return Decision(Action.ISSUE, "CertificateIssued", "no certificate yet")
    leaf = stored.leaf
    if leaf is None:
        return Decision(Action.ISSUE, "CertificateReissued", "stored certificate is unreadable")
    if check_identity and stored.identity != wanted.identity:
        return Decision(Action.ISSUE, "CertificateReissued", "identity or role changed", leaf)
    if stored.key_algorithm != wanted.key_algorithm:
        return Decision(Action.ISSUE, "CertificateReissued", "key algorithm changed", leaf)
    if not certs.issued_by(leaf, ca.authority.certificate):
        return Decision(Action.ISSUE, "CertificateReissued", "signed by a previous CA", leaf)
    if certs.is_renewal_due(leaf, now, renew_before=wanted.renew_before):
        return Decision(Action.ISSUE, "CertificateRenewed", "renewal time reached", leaf)
    if stored.bundle_sha256 != ca.bundle_sha256:
        return Decision(
            Action.REFRESH_BUNDLE, "TrustBundleUpdated", "platform CA bundle changed", leaf
        )
    return Decision(Action.NONE, "UpToDate", "", leaf)


def annotations_for(
    leaf: x509.Certificate, ca: PlatformCA, identity: str, renew_before: dt.timedelta
) -> dict[str, str]:
    """Public facts stored next to the certificate (never key material)."""
    return {
        secret_builder.SERIAL: format(leaf.serial_number, "x"),
        secret_builder.NOT_AFTER: rfc3339(leaf.not_valid_after_utc),
        secret_builder.RENEWAL_TIME: rfc3339(
            certs.certificate_renewal_time(leaf, renew_before=renew_before)
        ),
        secret_builder.ISSUER_FINGERPRINT: ca.issuer_fingerprint,
        secret_builder.BUNDLE_FINGERPRINT: ca.bundle_sha256,
        secret_builder.IDENTITY: identity,
    }


def client_identity(campaign_name: str, campaign_id: str, role: str) -> str:
    return f"{campaign_name}/{campaign_id}/{role}"


def _identity_or_none(leaf: x509.Certificate) -> str | None:
    try:
        ident = client_identity_from_certificate(leaf)
    except certs.CertificateError:
        return None
    return client_identity(ident.campaign_name, ident.campaign_id, str(ident.role))
