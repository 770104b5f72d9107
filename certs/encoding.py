"""PEM, PKCS#8 and the ``kubernetes.io/tls`` Secret layout, both directions.

Parsing is strict and every error names the field it came from (``tls.crt``,
``tls.key``, ``ca.crt``) without echoing its content, since that may be a private key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certs.authority import CertificateAuthority, public_keys_match
from certs.errors import CertificateError, KeyMismatchError, MalformedInputError
from certs.issue import IssuedCertificate
from certs.keys import PrivateKey, algorithm_of

TLS_CRT = "tls.crt"
TLS_KEY = "tls.key"
CA_CRT = "ca.crt"
SECRET_TYPE_TLS = "kubernetes.io/tls"  # noqa: S105 (a Secret type name, not a secret)

_PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"


def to_pem(certificates: x509.Certificate | Iterable[x509.Certificate]) -> str:
    """One PEM text for a certificate or a sequence of them (in the given order)."""
    if isinstance(certificates, x509.Certificate):
        return _pem(certificates)
    return "".join(_pem(c) for c in certificates)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def private_key_to_pem(key: PrivateKey, password: bytes | None = None) -> str:
    """PKCS#8 PEM, encrypted with the best available scheme when a password is given."""
    encryption: serialization.KeySerializationEncryption
    if password is None:
        encryption = serialization.NoEncryption()
    elif not password:
        raise CertificateError("key password must not be empty")
    else:
        encryption = serialization.BestAvailableEncryption(password)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def load_certificates(data: str | bytes, *, field: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in a PEM text; at least one, else MalformedInputError."""
    raw = _as_bytes(data)
    if _PEM_CERT_MARKER not in raw:
        raise MalformedInputError(f"{field}: no PEM CERTIFICATE block found")
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise MalformedInputError(f"{field}: malformed PEM certificate") from None
    return certs


def load_certificate(data: str | bytes, *, field: str = "certificate") -> x509.Certificate:
    """Exactly one certificate."""
    certs = load_certificates(data, field=field)
    if len(certs) != 1:
        raise MalformedInputError(f"{field}: expected one certificate, found {len(certs)}")
    return certs[0]


def load_private_key(
    data: str | bytes, *, password: bytes | None = None, field: str = "private key"
) -> PrivateKey:
    """A PEM private key (PKCS#8, or the legacy PKCS#1/SEC1 forms) of an allowed type."""
    raw = _as_bytes(data)
    if b"-----BEGIN" not in raw or b"PRIVATE KEY-----" not in raw:
        raise MalformedInputError(f"{field}: no PEM PRIVATE KEY block found")
    try:
        key = serialization.load_pem_private_key(raw, password=password)
    except TypeError:
        # cryptography raises TypeError for a missing or superfluous password.
        state = "encrypted and needs" if password is None else "not encrypted but was given"
        raise MalformedInputError(f"{field}: key is {state} a password") from None
    except ValueError:
        raise MalformedInputError(f"{field}: malformed PEM private key or wrong password") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise MalformedInputError(f"{field}: unsupported key type {type(key).__name__}")
    algorithm_of(key)
    return key


@dataclasses.dataclass(frozen=True)
class TLSSecret:
    """A parsed ``kubernetes.io/tls`` Secret: leaf (or CA) cert, key, chain and trust."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    trust_bundle: tuple[x509.Certificate, ...]

    def as_issued(self) -> IssuedCertificate:
        """The leaf view, e.g. to hand to an ``ssl.SSLContext``."""
        return IssuedCertificate(self.certificate, self.private_key, self.chain)

    def as_authority(self) -> CertificateAuthority:
        """The CA view of the ``promptsales-ca`` Secret; refuses a non-CA certificate.

        The root is looked up in the trust bundle so a CA read back from a Secret keeps
        its full chain.
        """
        chain = list(self.chain)
        last = chain[-1] if chain else self.certificate
        if last.issuer != last.subject:
            chain.extend(t for t in self.trust_bundle if t.subject == last.issuer)
        return CertificateAuthority(self.certificate, self.private_key, tuple(chain))


def tls_secret_data(
    issued: IssuedCertificate | CertificateAuthority,
    trust_bundle: Iterable[x509.Certificate],
) -> dict[str, str]:
    """The Secret's ``stringData``: ``tls.crt`` leaf+chain, ``tls.key`` PKCS#8, ``ca.crt``.

    Also accepts a CA, for the ``promptsales-ca`` Secret (``tls.crt`` the signing CA).
    """
    bundle = tuple(trust_bundle)
    if not bundle:
        raise CertificateError("trust_bundle must hold at least one CA certificate")
    chain = (
        issued.chain_without_root[1:] if isinstance(issued, CertificateAuthority) else issued.chain
    )
    return {
        TLS_CRT: to_pem((issued.certificate, *chain)),
        TLS_KEY: private_key_to_pem(issued.private_key),
        CA_CRT: to_pem(bundle),
    }


def decode_secret_value(key: str, value: str | bytes) -> bytes:
    """PEM bytes from a ``stringData`` (PEM) or ``data`` (base64) value."""
    raw = _as_bytes(value)
    if raw.lstrip().startswith(b"-----BEGIN"):
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInputError(f"{key}: neither PEM nor base64") from None


def load_tls_secret(data: Mapping[str, str | bytes], *, password: bytes | None = None) -> TLSSecret:
    """Parse Secret ``stringData`` (PEM) or ``data`` (base64 PEM) into a checked pair.

    A key that does not match ``tls.crt``'s first certificate raises KeyMismatchError.
    ``ca.crt`` is optional in the Secret type, but without it the trust bundle is empty.
    """
    for required in (TLS_CRT, TLS_KEY):
        if required not in data:
            raise MalformedInputError(f"{required}: missing from the Secret data")
    certs = load_certificates(decode_secret_value(TLS_CRT, data[TLS_CRT]), field=TLS_CRT)
    key = load_private_key(
        decode_secret_value(TLS_KEY, data[TLS_KEY]), password=password, field=TLS_KEY
    )
    if not public_keys_match(certs[0], key):
        raise KeyMismatchError(
            f"{TLS_KEY}: private key does not match the first certificate in {TLS_CRT}"
        )
    bundle: tuple[x509.Certificate, ...] = ()
    if data.get(CA_CRT):
        bundle = tuple(load_certificates(decode_secret_value(CA_CRT, data[CA_CRT]), field=CA_CRT))
    return TLSSecret(certs[0], key, tuple(certs[1:]), bundle)


def secret_payload(manifest: Mapping[str, object]) -> dict[str, str | bytes]:
    """The certificate fields of a Secret manifest, from ``stringData`` or ``data``.

    ``stringData`` wins per key, mirroring how the API server merges the two on write.
    """
    merged: dict[str, str | bytes] = {}
    for section in ("data", "stringData"):
        values = manifest.get(section) or {}
        if not isinstance(values, Mapping):
            raise MalformedInputError(f"{section}: must be a mapping")
        for key, value in values.items():
            if isinstance(value, str | bytes):
                merged[str(key)] = value
    return merged
