"""Certificate authorities: a self-signed root and optional intermediates below it.

A CA is only a certificate, its key and the chain up to the root; issuing is done by
the functions in :mod:`certs.issue`. Facts every issuance asks of the same immutable CA
(its authorityKeyIdentifier, which chain certificates a leaf sends) are computed once
per CA object.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from certs.errors import CertificateError, KeyMismatchError
from certs.keys import (
    DEFAULT_KEY_ALGORITHM,
    SIGNATURE_HASH,
    KeyAlgorithm,
    PrivateKey,
    generate_private_key,
)
from certs.validity import window

_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclasses.dataclass(frozen=True)
class CertificateAuthority:
    """A signing CA; ``chain`` runs from its issuer up to and including the root."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not public_keys_match(self.certificate, self.private_key):
            raise KeyMismatchError("CA private key does not match the CA certificate")
        try:
            constraints = self.certificate.extensions.get_extension_for_class(
                x509.BasicConstraints
            ).value
        except x509.ExtensionNotFound:
            raise CertificateError("CA certificate has no basicConstraints") from None
        if not constraints.ca:
            raise CertificateError("certificate is not a CA (basicConstraints CA:FALSE)")

    @property
    def root(self) -> x509.Certificate:
        """The self-signed anchor that relying parties put in their trust bundle."""
        return self.chain[-1] if self.chain else self.certificate

    @property
    def path_length(self) -> int | None:
        """How many CAs may still sit below this one (``None``: unlimited)."""
        return self.certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value.path_length

    @functools.cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The AKI every certificate this CA signs carries, computed once."""
        try:
            ski = self.certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)

    @functools.cached_property
    def chain_without_root(self) -> tuple[x509.Certificate, ...]:
        """This CA and its intermediates: what a leaf sends after itself in a handshake.

        Cached: telling a root apart verifies its self-signature, which costs more than
        issuing a whole ECDSA leaf.
        """
        full = (self.certificate, *self.chain)
        return tuple(c for c in full if not _is_self_signed(c))


def issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``leaf`` (name and signature, so same-named CAs differ)."""
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and issued_by(cert, cert)


def public_keys_match(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``key`` is the private half of ``cert``'s public key."""
    return cert.public_key() == key.public_key()


def _ca_name(common_name: str) -> x509.Name:
    if not common_name.strip():
        raise CertificateError("common_name must not be empty")
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PromptSales"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None,
) -> x509.CertificateBuilder:
    if path_length is not None and path_length < 0:
        raise CertificateError("path_length must be >= 0 or None")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )


def create_root_ca(
    common_name: str,
    *,
    validity: dt.timedelta,
    key_algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM,
    path_length: int | None = 1,
    now: dt.datetime | None = None,
) -> CertificateAuthority:
    """A self-signed root. ``path_length=1`` allows one intermediate layer, no deeper."""
    key = generate_private_key(key_algorithm)
    name = _ca_name(common_name)
    not_before, not_after = window(now, validity)
    cert = _ca_builder(name, name, key, not_before, not_after, path_length).sign(
        key, SIGNATURE_HASH
    )
    return CertificateAuthority(certificate=cert, private_key=key)


def create_intermediate_ca(
    parent: CertificateAuthority,
    common_name: str,
    *,
    validity: dt.timedelta,
    key_algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM,
    path_length: int | None = 0,
    now: dt.datetime | None = None,
) -> CertificateAuthority:
    """An intermediate signed by ``parent``; its lifetime never exceeds the parent's."""
    parent_len = parent.path_length
    if parent_len is not None:
        if parent_len == 0:
            raise CertificateError("parent CA has path_length 0 and cannot sign a CA")
        if path_length is None or path_length >= parent_len:
            raise CertificateError(f"path_length must be below the parent's ({parent_len})")
    key = generate_private_key(key_algorithm)
    not_before, not_after = window(
        now,
        validity,
        issuer_not_before=parent.certificate.not_valid_before_utc,
        issuer_not_after=parent.certificate.not_valid_after_utc,
    )
    cert = (
        _ca_builder(
            _ca_name(common_name),
            parent.certificate.subject,
            key,
            not_before,
            not_after,
            path_length,
        )
        .add_extension(parent.authority_key_identifier, critical=False)
        .sign(parent.private_key, SIGNATURE_HASH)
    )
    return CertificateAuthority(
        certificate=cert, private_key=key, chain=(parent.certificate, *parent.chain)
    )


def authority_for_key(
    certificates: Sequence[x509.Certificate], private_key: PrivateKey, *, field: str = "ca.crt"
) -> CertificateAuthority:
    """The CA among ``certificates`` that ``private_key`` belongs to, with its chain.

    A CA file may hold the CA followed by its issuers, or, during a CA rollover, a trust
    bundle of several roots (old and new, newest first); the key decides which one signs.
    The chain is collected from the remaining certificates by following issuers.
    """
    signing = next((c for c in certificates if public_keys_match(c, private_key)), None)
    if signing is None:
        raise KeyMismatchError(f"{field}: no certificate matches the CA private key")
    chain: list[x509.Certificate] = []
    current = signing
    while not _is_self_signed(current):
        issuer = next(
            (
                c
                for c in certificates
                if c is not current and c not in chain and issued_by(current, c)
            ),
            None,
        )
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return CertificateAuthority(signing, private_key, tuple(chain))
