from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import certs
from certs.validity import CLOCK_SKEW
from tests.unit.certs.conftest import NOW
from tests.unit.certs.conftest import ext as _ext


def test_server_certificate_extensions(root: certs.CertificateAuthority) -> None:
    issued = certs.issue_server_certificate(
        root,
        "mcp",
        dns_names=["promptsales-mcp.promptsales.svc", "*.example.org"],
        ip_addresses=["127.0.0.1", ipaddress.ip_address("::1")],
        validity=dt.timedelta(days=30),
        now=NOW,
    )
    cert = issued.certificate
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "promptsales-mcp.promptsales.svc",
        "*.example.org",
    ]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert not constraints.value.ca
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(root.certificate, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_before_utc == NOW - CLOCK_SKEW
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=30)
    assert cert.serial_number.bit_length() > 64
    cert.verify_directly_issued_by(root.certificate)
    assert issued.chain == ()


def test_rsa_leaf_keeps_key_encipherment(root: certs.CertificateAuthority) -> None:
    issued = certs.issue_server_certificate(
        root, "rsa", dns_names=["rsa.example"], key_algorithm=certs.KeyAlgorithm.RSA_2048, now=NOW
    )
    assert _ext(issued.certificate, x509.KeyUsage).value.key_encipherment


def test_leaf_not_after_is_capped_at_issuer(intermediate: certs.CertificateAuthority) -> None:
    issued = certs.issue_server_certificate(
        intermediate, "x", dns_names=["x.example"], validity=dt.timedelta(days=9999), now=NOW
    )
    assert issued.certificate.not_valid_after_utc == intermediate.certificate.not_valid_after_utc
    assert issued.chain == (intermediate.certificate,)


def test_leaf_not_before_never_precedes_issuer(root: certs.CertificateAuthority) -> None:
    start = root.certificate.not_valid_before_utc
    issued = certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=start)
    assert issued.certificate.not_valid_before_utc == start


def test_expired_or_future_issuer_refuses_to_sign(root: certs.CertificateAuthority) -> None:
    after = root.certificate.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(certs.CertificateError, match="expired"):
        certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=after)
    before = root.certificate.not_valid_before_utc - dt.timedelta(days=1)
    with pytest.raises(certs.CertificateError, match="not valid yet"):
        certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=before)


def test_every_issuance_has_a_fresh_key_unless_given(root: certs.CertificateAuthority) -> None:
    first = certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=NOW)
    second = certs.issue_server_certificate(root, "x", dns_names=["x.example"], now=NOW)
    assert first.certificate.public_key() != second.certificate.public_key()
    assert first.certificate.serial_number != second.certificate.serial_number
    kept = certs.issue_server_certificate(
        root, "x", dns_names=["x.example"], private_key=first.private_key, now=NOW
    )
    assert kept.certificate.public_key() == first.certificate.public_key()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dns_names": []}, "SAN"),
        ({"dns_names": "x.example"}, "dns_names"),
        ({"dns_names": ["bad name"]}, "dns_names"),
        ({"dns_names": ["-x.example"]}, "dns_names"),
        ({"dns_names": ["x.example"], "ip_addresses": ["300.1.1.1"]}, "ip_addresses"),
        ({"dns_names": ["x.example"], "validity": dt.timedelta(seconds=-1)}, "validity"),
    ],
)
def test_server_certificate_refuses_bad_input(
    root: certs.CertificateAuthority, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(certs.CertificateError, match=field):
        certs.issue_server_certificate(root, "x", now=NOW, **kwargs)  # type: ignore[arg-type]


def test_client_certificate_follows_identity_convention(
    root: certs.CertificateAuthority,
) -> None:
    issued = certs.issue_client_certificate(
        root, campaign_name="spring-sale", campaign_id="cmp-42", role="marketing", now=NOW
    )
    cert = issued.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "PromptSales"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "marketing"
    )
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "spring-sale"
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://promptsales.io/campaign/cmp-42/role/marketing"
    ]
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert certs.client_identity_from_certificate(cert) == certs.ClientIdentity(
        "spring-sale", "cmp-42", certs.Role.MARKETING
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"campaign_name": "Spring_Sale"}, "campaign_name"),
        ({"campaign_name": "a" * 64}, "campaign_name"),
        ({"campaign_id": "a/b"}, "campaign_id"),
        ({"campaign_id": ".."}, "campaign_id"),
        ({"role": "admin"}, "role"),
    ],
)
def test_client_certificate_refuses_bad_identity(
    root: certs.CertificateAuthority, kwargs: dict[str, str], field: str
) -> None:
    values = {"campaign_name": "c", "campaign_id": "1", "role": "user", **kwargs}
    with pytest.raises(certs.IdentityError, match=field):
        certs.issue_client_certificate(root, now=NOW, **values)  # type: ignore[arg-type]


def test_longest_identity_round_trips(root: certs.CertificateAuthority) -> None:
    """A 63-character name and a 128-character id: a SAN longer than 127 bytes."""
    identity = certs.ClientIdentity("n" * 63, "7" * 128, certs.Role.SALES)
    issued = certs.issue_client_certificate(
        root,
        campaign_name=identity.campaign_name,
        campaign_id=identity.campaign_id,
        role=identity.role,
        now=NOW,
    )
    assert len(identity.spiffe_id) > 127
    assert certs.client_identity_from_certificate(issued.certificate) == identity
    certs.verify_client(issued.certificate, trust=[root.certificate], now=NOW)


def test_server_common_name_longer_than_x509_allows_is_refused(
    root: certs.CertificateAuthority,
) -> None:
    with pytest.raises(certs.CertificateError, match="common_name"):
        certs.issue_server_certificate(root, "c" * 65, dns_names=["a.example"], now=NOW)
