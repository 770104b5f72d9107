from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import certs
from certs.validity import CLOCK_SKEW
from tests.unit.certs.conftest import NOW
from tests.unit.certs.conftest import ext as _ext


def test_root_ca_has_ca_extensions(root: certs.CertificateAuthority) -> None:
    cert = root.certificate
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 1
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert cert.issuer == cert.subject
    assert isinstance(root.private_key, ec.EllipticCurvePrivateKey)
    assert root.root is cert
    assert root.chain_without_root == ()


def test_root_ca_validity_is_back_dated_for_clock_skew(root: certs.CertificateAuthority) -> None:
    assert root.certificate.not_valid_before_utc == NOW - CLOCK_SKEW
    assert root.certificate.not_valid_after_utc == NOW + dt.timedelta(days=365)


@pytest.mark.parametrize(
    ("algorithm", "bits"),
    [
        (certs.KeyAlgorithm.RSA_2048, 2048),
        (certs.KeyAlgorithm.RSA_3072, 3072),
        (certs.KeyAlgorithm.RSA_4096, 4096),
    ],
)
def test_rsa_root_ca_has_requested_key_size(algorithm: certs.KeyAlgorithm, bits: int) -> None:
    ca = certs.create_root_ca("rsa", validity=dt.timedelta(days=1), key_algorithm=algorithm)
    key = ca.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == bits


def test_key_algorithm_values_are_cli_spellings() -> None:
    assert [a.value for a in certs.KeyAlgorithm] == [
        "ecdsa-p256",
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
    ]


def test_serials_are_random_and_at_least_64_bits() -> None:
    serials = {
        certs.create_root_ca("s", validity=dt.timedelta(days=1)).certificate.serial_number
        for _ in range(5)
    }
    assert len(serials) == 5
    assert all(s.bit_length() > 64 for s in serials)


def test_intermediate_is_chained_and_capped(
    root: certs.CertificateAuthority, intermediate: certs.CertificateAuthority
) -> None:
    cert = intermediate.certificate
    assert cert.issuer == root.certificate.subject
    assert intermediate.chain == (root.certificate,)
    assert intermediate.root is root.certificate
    assert _ext(cert, x509.BasicConstraints).value.path_length == 0
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(root.certificate, x509.SubjectKeyIdentifier).value.digest
    cert.verify_directly_issued_by(root.certificate)
    long_lived = certs.create_intermediate_ca(
        root, "long", validity=dt.timedelta(days=5000), now=NOW
    )
    assert long_lived.certificate.not_valid_after_utc == root.certificate.not_valid_after_utc


def test_intermediate_respects_parent_path_length(
    root: certs.CertificateAuthority, intermediate: certs.CertificateAuthority
) -> None:
    with pytest.raises(certs.CertificateError, match="path_length 0"):
        certs.create_intermediate_ca(intermediate, "deeper", validity=dt.timedelta(days=1), now=NOW)
    with pytest.raises(certs.CertificateError, match="below the parent"):
        certs.create_intermediate_ca(
            root, "wide", validity=dt.timedelta(days=1), path_length=1, now=NOW
        )


def test_ca_refuses_key_of_another_certificate(root: certs.CertificateAuthority) -> None:
    other = certs.generate_private_key()
    with pytest.raises(certs.KeyMismatchError):
        certs.CertificateAuthority(root.certificate, other)


def test_ca_refuses_a_leaf_certificate(root: certs.CertificateAuthority) -> None:
    leaf = certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=NOW)
    with pytest.raises(certs.CertificateError, match="not a CA"):
        certs.CertificateAuthority(leaf.certificate, leaf.private_key)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validity": dt.timedelta(0)}, "validity"),
        ({"validity": dt.timedelta(days=1), "now": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"validity": dt.timedelta(days=1), "path_length": -1}, "path_length"),
    ],
)
def test_root_ca_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(certs.CertificateError, match=message):
        certs.create_root_ca("bad", **kwargs)  # type: ignore[arg-type]


def test_root_ca_refuses_empty_common_name() -> None:
    with pytest.raises(certs.CertificateError, match="common_name"):
        certs.create_root_ca("  ", validity=dt.timedelta(days=1))
