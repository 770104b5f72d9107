"""Issuing leaf certificates: servers (DNS/IP SANs) and campaign clients.

Every issuance generates a fresh key unless the caller passes one: renewal with a new
key is the default, as in cert-manager's ``rotationPolicy: Always``. Certificates are
built the way ``cryptography`` documents it: ``x509.CertificateBuilder``'s setters and
the library's typed extension classes, so every byte of DER is the library's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import CertificateAuthority, public_keys_match
from certs.errors import CertificateError, KeyMismatchError
from certs.identity import ClientIdentity, Role, parse_role
from certs.keys import (
    DEFAULT_KEY_ALGORITHM,
    SIGNATURE_HASH,
    KeyAlgorithm,
    PrivateKey,
    algorithm_of,
    generate_private_key,
)
from certs.validity import window

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_LEAF_VALIDITY = dt.timedelta(days=90)
# RFC 5280's upper bound for a commonName (ub-common-name).
_MAX_COMMON_NAME = 64

# RFC 1123 labels, optional leading wildcard label.
_DNS_NAME = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


@dataclasses.dataclass(frozen=True)
class IssuedCertificate:
    """A leaf, its key and the CA certificates a peer needs between it and the root.

    ``chain`` holds the issuing CA and any intermediates, never the self-signed root:
    relying parties must get the root from their trust bundle, not from the peer.
    """

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not public_keys_match(self.certificate, self.private_key):
            raise KeyMismatchError("private key does not match the certificate")


def _leaf_key_usage(algorithm: KeyAlgorithm) -> x509.KeyUsage:
    """digitalSignature; RSA keys keep keyEncipherment for TLS 1.2 RSA key exchange."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=algorithm is not KeyAlgorithm.ECDSA_P256,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca: CertificateAuthority,
    subject: x509.Name,
    names: list[x509.GeneralName],
    purpose: x509.ObjectIdentifier,
    *,
    validity: dt.timedelta,
    key_algorithm: KeyAlgorithm,
    private_key: PrivateKey | None,
    now: dt.datetime | None,
) -> IssuedCertificate:
    key = generate_private_key(key_algorithm) if private_key is None else private_key
    algorithm = algorithm_of(key)
    not_before, not_after = window(
        now,
        validity,
        issuer_not_before=ca.certificate.not_valid_before_utc,
        issuer_not_after=ca.certificate.not_valid_after_utc,
    )
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(algorithm), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(ca.authority_key_identifier, critical=False)
        .sign(ca.private_key, SIGNATURE_HASH)
    )
    return IssuedCertificate(certificate, key, ca.chain_without_root)


def _dns(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        if len(name) > 253 or not _DNS_NAME.fullmatch(name):
            raise CertificateError(f"dns_names: {name!r} is not a valid DNS name")
        out.append(x509.DNSName(name.lower()))
    return out


def _ips(addresses: Iterable[IPAddress | str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for address in addresses:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            raise CertificateError(f"ip_addresses: {address!r} is not an IP address") from None
    return out


def issue_server_certificate(
    ca: CertificateAuthority,
    common_name: str,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[IPAddress | str] = (),
    validity: dt.timedelta = DEFAULT_LEAF_VALIDITY,
    key_algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM,
    private_key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> IssuedCertificate:
    """A serverAuth leaf. TLS clients match only SANs, so at least one name is required."""
    if isinstance(dns_names, str):
        raise CertificateError("dns_names must be a list of names, not a string")
    names = _dns(dns_names) + _ips(ip_addresses)
    if not names:
        raise CertificateError("dns_names/ip_addresses: a server certificate needs a SAN")
    if not common_name.strip() or len(common_name) > _MAX_COMMON_NAME:
        raise CertificateError(f"common_name must be 1-{_MAX_COMMON_NAME} characters")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PromptSales"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return _leaf(
        ca,
        subject,
        names,
        ExtendedKeyUsageOID.SERVER_AUTH,
        validity=validity,
        key_algorithm=key_algorithm,
        private_key=private_key,
        now=now,
    )


def issue_client_certificate(
    ca: CertificateAuthority,
    *,
    campaign_name: str,
    campaign_id: str,
    role: Role | str,
    validity: dt.timedelta = DEFAULT_LEAF_VALIDITY,
    key_algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM,
    private_key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> IssuedCertificate:
    """A clientAuth leaf carrying the campaign identity (see :mod:`certs.identity`)."""
    identity = ClientIdentity(
        campaign_name=campaign_name, campaign_id=campaign_id, role=parse_role(role)
    )
    return _leaf(
        ca,
        identity.subject(),
        [x509.UniformResourceIdentifier(identity.spiffe_id)],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        validity=validity,
        key_algorithm=key_algorithm,
        private_key=private_key,
        now=now,
    )
