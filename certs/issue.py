"""Issuing leaf certificates: servers (DNS/IP SANs) and campaign clients.

Every issuance generates a fresh key unless the caller passes one: renewal with a new
key is the default, as in cert-manager's ``rotationPolicy: Always``. The constant
extensions are built once at import; per certificate only the key, SAN and the key
identifiers are new, which keeps issuance close to the cost of a bare builder signature.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from certs.authority import CertificateAuthority, public_keys_match
from certs.errors import CertificateError, KeyMismatchError
from certs.identity import ClientIdentity, Role, parse_role
from certs.keys import (
    DEFAULT_KEY_ALGORITHM,
    SIGNATURE_HASH,
    KeyAlgorithm,
    PrivateKey,
    PublicKey,
    algorithm_of,
    generate_private_key,
    p256_public_point,
    pkcs8_der,
)
from certs.validity import window

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_LEAF_VALIDITY = dt.timedelta(days=90)


def _extension(value: x509.ExtensionType, *, critical: bool) -> x509.Extension[x509.ExtensionType]:
    """A constant extension, DER-encoded once by ``cryptography`` itself.

    Passed to the builder as its encoded value so signing copies bytes instead of
    re-encoding the same Python object for every certificate. Certificates come out
    byte-identical to the typed form (the tests parse them back as typed extensions).
    """
    return x509.Extension(
        value.oid, critical, x509.UnrecognizedExtension(value.oid, value.public_bytes())
    )


_LEAF_CONSTRAINTS = _extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
_SERVER_EKU = _extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
_CLIENT_EKU = _extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)


def _key_usage(key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


# RSA keys keep keyEncipherment for TLS 1.2 RSA key exchange; ECDSA keys only sign.
_KEY_USAGE = {
    False: _extension(_key_usage(False), critical=True),
    True: _extension(_key_usage(True), critical=True),
}

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
    # False only where the certificate was just built from this very key: decoding the
    # certificate's public key to compare costs a quarter of an ECDSA issuance.
    check_key: dataclasses.InitVar[bool] = True
    # The key's unencrypted PKCS#8 DER when issuance already serialized it (ECDSA, for the
    # SKI); certs.encoding PEM-wraps it instead of serializing the key a second time. Not
    # an init field: a copy made with dataclasses.replace() falls back to the key itself.
    _pkcs8_der: bytes | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self, check_key: bool) -> None:
        if check_key and not public_keys_match(self.certificate, self.private_key):
            raise KeyMismatchError("private key does not match the certificate")

    @classmethod
    def _just_issued(
        cls,
        certificate: x509.Certificate,
        private_key: PrivateKey,
        chain: tuple[x509.Certificate, ...],
        pkcs8_der: bytes | None,
    ) -> IssuedCertificate:
        """For a certificate this module just built from ``private_key``: nothing to check.

        Skips the dataclass's frozen ``__init__`` and ``__post_init__`` (a per-field
        ``object.__setattr__``), a measurable share of an ECDSA issuance.
        """
        issued = object.__new__(cls)
        issued.__dict__.update(
            certificate=certificate, private_key=private_key, chain=chain, _pkcs8_der=pkcs8_der
        )
        return issued


_SKI = ExtensionOID.SUBJECT_KEY_IDENTIFIER
_AKI_LIMIT = 256
# id(CA) -> (CA, its AKI pre-encoded); keyed by identity like certs.encoding's CA PEM cache.
_AKI: dict[int, tuple[CertificateAuthority, x509.Extension[x509.ExtensionType]]] = {}


def _authority_key_identifier(ca: CertificateAuthority) -> x509.Extension[x509.ExtensionType]:
    hit = _AKI.get(id(ca))
    if hit is not None and hit[0] is ca:
        return hit[1]
    extension = _extension(ca.authority_key_identifier, critical=False)
    if len(_AKI) >= _AKI_LIMIT:
        _AKI.clear()
    _AKI[id(ca)] = (ca, extension)
    return extension


def _subject_key_identifier(
    public: PublicKey, pkcs8: bytes | None
) -> x509.Extension[x509.ExtensionType]:
    """RFC 5280 method 1 (SHA-1 of the public key bits), as ``from_public_key`` computes it.

    For P-256 the public point is read from the PKCS#8 bytes the Secret needs anyway:
    asking the key for it again would be a second ~4 us OpenSSL serialization.
    """
    point = None if pkcs8 is None else p256_public_point(pkcs8)
    if point is None:
        digest = x509.SubjectKeyIdentifier.from_public_key(public).digest
    else:
        digest = hashlib.sha1(point, usedforsecurity=False).digest()
    # DER OCTET STRING of the 20-byte digest, exactly what the typed extension encodes to.
    return x509.Extension(_SKI, False, x509.UnrecognizedExtension(_SKI, b"\x04\x14" + digest))


_SAN = ExtensionOID.SUBJECT_ALTERNATIVE_NAME


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length, X.690 8.1.3) for contents under 64 KiB."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    if size < 0x100:
        return bytes((tag, 0x81, size)) + content
    return bytes((tag, 0x82)) + size.to_bytes(2, "big") + content


def _uri_san(uri: str) -> x509.Extension[x509.ExtensionType]:
    """A SAN of one URI, DER-encoded directly: ``SEQUENCE { [6] IA5String }``.

    Building the typed SubjectAlternativeName only to have it encoded again costs more
    than the two tags; the identity was validated as ASCII already (see certs.identity).
    The unit tests compare the result with cryptography's own encoding of the same SAN.
    """
    raw = uri.encode("ascii")
    value = (
        _der(0x30, _der(0x86, raw))
        if len(raw) > 125
        else bytes((0x30, len(raw) + 2, 0x86, len(raw))) + raw
    )
    return x509.Extension(_SAN, False, x509.UnrecognizedExtension(_SAN, value))


def _leaf(
    ca: CertificateAuthority,
    subject: x509.Name,
    san: x509.Extension[x509.ExtensionType],
    eku: x509.Extension[x509.ExtensionType],
    *,
    validity: dt.timedelta,
    key_algorithm: KeyAlgorithm,
    private_key: PrivateKey | None,
    now: dt.datetime | None,
) -> IssuedCertificate:
    if private_key is None:
        key, algorithm = generate_private_key(key_algorithm), key_algorithm
    else:
        key, algorithm = private_key, algorithm_of(private_key)
    ecdsa = algorithm is KeyAlgorithm.ECDSA_P256
    public = key.public_key()
    pkcs8 = pkcs8_der(key) if ecdsa else None
    issuer_not_before, issuer_not_after = ca.validity_window
    not_before, not_after = window(
        now, validity, issuer_not_before=issuer_not_before, issuer_not_after=issuer_not_after
    )
    # The builder's constructor takes the complete extension list at once: chaining six
    # add_extension calls copies the builder six times, which the benchmark showed to be
    # a visible share of an ECDSA issuance. Values, order and criticality are unchanged,
    # and every extension is handed over DER-encoded (see _extension).
    # Every field was validated above (window, identity, SANs), which the chained setters
    # would otherwise re-check.
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        _LEAF_CONSTRAINTS,
        _KEY_USAGE[not ecdsa],
        eku,
        san,
        _subject_key_identifier(public, pkcs8),
        _authority_key_identifier(ca),
    ]
    cert = x509.CertificateBuilder(
        issuer_name=ca.certificate.subject,
        subject_name=subject,
        public_key=public,
        serial_number=x509.random_serial_number(),
        not_valid_before=not_before,
        not_valid_after=not_after,
        extensions=extensions,
    ).sign(ca.private_key, SIGNATURE_HASH)
    return IssuedCertificate._just_issued(cert, key, ca.chain_without_root, pkcs8)


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
    if not common_name.strip():
        raise CertificateError("common_name must not be empty")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PromptSales"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return _leaf(
        ca,
        subject,
        _extension(x509.SubjectAlternativeName(names), critical=False),
        _SERVER_EKU,
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
        _uri_san(identity.spiffe_id),
        _CLIENT_EKU,
        validity=validity,
        key_algorithm=key_algorithm,
        private_key=private_key,
        now=now,
    )
