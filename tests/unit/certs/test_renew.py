from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

import certs
from tests.unit.certs.conftest import NOW

LATER = NOW + dt.timedelta(days=20)


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def test_client_reissue_keeps_identity_with_a_new_key(root: certs.CertificateAuthority) -> None:
    current = certs.issue_client_certificate(
        root,
        campaign_name="spring",
        campaign_id="c-1",
        role="marketing",
        validity=dt.timedelta(days=30),
        now=NOW,
    )
    renewed = certs.reissue(root, current.certificate, now=LATER)
    assert renewed.certificate.subject == current.certificate.subject
    assert _sans(renewed.certificate) == _sans(current.certificate)
    assert certs.client_identity_from_certificate(renewed.certificate) == (
        certs.client_identity_from_certificate(current.certificate)
    )
    assert renewed.certificate.public_key() != current.certificate.public_key()
    assert renewed.certificate.not_valid_after_utc == LATER + dt.timedelta(days=30)
    assert certs.original_validity(current.certificate) == dt.timedelta(days=30)


def test_server_reissue_from_a_new_ca_keeps_names_and_key_type(
    root: certs.CertificateAuthority,
) -> None:
    current = certs.issue_server_certificate(
        root,
        "mcp",
        dns_names=["mcp.example", "mcp"],
        ip_addresses=["10.0.0.1"],
        key_algorithm=certs.KeyAlgorithm.RSA_2048,
        now=NOW,
    )
    new_ca = certs.create_root_ca("new", validity=dt.timedelta(days=365), now=NOW)
    renewed = certs.reissue(new_ca, current.certificate, now=LATER)
    assert certs.issued_by(renewed.certificate, new_ca.certificate)
    assert not certs.issued_by(renewed.certificate, root.certificate)
    assert _sans(renewed.certificate) == _sans(current.certificate)
    assert isinstance(renewed.certificate.public_key(), rsa.RSAPublicKey)


def test_reissue_can_keep_the_key_when_asked(root: certs.CertificateAuthority) -> None:
    current = certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=NOW)
    kept = certs.reissue(root, current.certificate, private_key=current.private_key, now=LATER)
    assert kept.certificate.public_key() == current.certificate.public_key()


def test_reissue_refuses_a_ca_certificate(root: certs.CertificateAuthority) -> None:
    with pytest.raises(certs.CertificateError, match="extendedKeyUsage"):
        certs.reissue(root, root.certificate, now=LATER)


def test_issued_certificate_refuses_a_foreign_key(root: certs.CertificateAuthority) -> None:
    issued = certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=NOW)
    with pytest.raises(certs.KeyMismatchError):
        certs.IssuedCertificate(issued.certificate, certs.generate_private_key())
