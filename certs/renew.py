"""Re-issuing an existing certificate: same identity, fresh key, possibly a new CA.

The operator renews a campaign certificate when it is due and re-issues every leaf from
the new CA during a rollover; both are "the same certificate again". The identity
(subject, SANs, purpose) is read back from the current certificate, so a renewal can
never silently change who a workload is. A new key is generated unless the caller
explicitly passes one (cert-manager's ``rotationPolicy: Always`` default).
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import CertificateAuthority
from certs.errors import CertificateError
from certs.identity import client_identity_from_certificate
from certs.issue import IssuedCertificate, issue_client_certificate, issue_server_certificate
from certs.keys import KeyAlgorithm, PrivateKey, algorithm_of
from certs.validity import CLOCK_SKEW


def original_validity(cert: x509.Certificate) -> dt.timedelta:
    """The lifetime that was asked for when ``cert`` was issued (without the skew margin)."""
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return lifetime - CLOCK_SKEW if lifetime > CLOCK_SKEW else lifetime


def reissue(
    ca: CertificateAuthority,
    current: x509.Certificate,
    *,
    validity: dt.timedelta | None = None,
    key_algorithm: KeyAlgorithm | None = None,
    private_key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> IssuedCertificate:
    """A new certificate from ``ca`` with ``current``'s identity and purpose.

    ``validity`` and ``key_algorithm`` default to those of ``current``. Campaign client
    certificates keep their identity (checked); server certificates keep CN and SANs.
    """
    try:
        eku = list(current.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        raise CertificateError(
            "certificate has no extendedKeyUsage; cannot tell its purpose"
        ) from None
    lifetime = original_validity(current) if validity is None else validity
    public = current.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise CertificateError("certificate key type is not ECDSA or RSA")
    algorithm = key_algorithm or algorithm_of(public)
    if eku == [ExtendedKeyUsageOID.CLIENT_AUTH]:
        identity = client_identity_from_certificate(current)
        return issue_client_certificate(
            ca,
            campaign_name=identity.campaign_name,
            campaign_id=identity.campaign_id,
            role=identity.role,
            validity=lifetime,
            key_algorithm=algorithm,
            private_key=private_key,
            now=now,
        )
    if eku == [ExtendedKeyUsageOID.SERVER_AUTH]:
        san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = current.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else san.get_values_for_type(x509.DNSName)[0]
        return issue_server_certificate(
            ca,
            common_name,
            dns_names=san.get_values_for_type(x509.DNSName),
            ip_addresses=[
                ip
                for ip in san.get_values_for_type(x509.IPAddress)
                if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
            ],
            validity=lifetime,
            key_algorithm=algorithm,
            private_key=private_key,
            now=now,
        )
    raise CertificateError("only serverAuth or clientAuth leaves can be re-issued")
