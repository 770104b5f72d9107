from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import certs
from tests.unit.certs.conftest import NOW


def _client_cert(
    ca: certs.CertificateAuthority,
    *,
    ou: str = "sales",
    uris: tuple[str, ...] = ("spiffe://promptsales.io/campaign/7/role/sales",),
    eku: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    org: str = "PromptSales",
) -> x509.Certificate:
    """A hand-built certificate, to produce shapes the library itself never issues."""
    key = certs.generate_private_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                    x509.NameAttribute(NameOID.COMMON_NAME, "camp"),
                ]
            )
        )
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), False
        )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    return builder.sign(ca.private_key, hashes.SHA256())


def test_hand_built_valid_identity_is_accepted(root: certs.CertificateAuthority) -> None:
    identity = certs.client_identity_from_certificate(_client_cert(root))
    assert identity == certs.ClientIdentity("camp", "7", certs.Role.SALES)
    assert identity.spiffe_id == "spiffe://promptsales.io/campaign/7/role/sales"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uris": ()}, "no subjectAltName"),
        ({"uris": ("https://promptsales.io/x",)}, "exactly one spiffe"),
        (
            {
                "uris": (
                    "spiffe://promptsales.io/campaign/7/role/sales",
                    "spiffe://promptsales.io/campaign/8/role/sales",
                )
            },
            "exactly one spiffe",
        ),
        ({"uris": ("spiffe://evil.io/campaign/7/role/sales",)}, "URI SAN is not"),
        ({"uris": ("spiffe://promptsales.io/campaign/7/role/admin",), "ou": "admin"}, "role"),
        ({"ou": "marketing"}, "OU does not match"),
        ({"org": "Evil"}, "subject O"),
        ({"eku": ()}, "no extendedKeyUsage"),
        ({"eku": (ExtendedKeyUsageOID.SERVER_AUTH,)}, "clientAuth only"),
        (
            {"eku": (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH)},
            "clientAuth only",
        ),
    ],
)
def test_bad_identities_are_refused(
    root: certs.CertificateAuthority, kwargs: dict[str, object], message: str
) -> None:
    cert = _client_cert(root, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(certs.IdentityError, match=message):
        certs.client_identity_from_certificate(cert)


def test_server_certificate_has_no_identity(root: certs.CertificateAuthority) -> None:
    server = certs.issue_server_certificate(root, "s", dns_names=["s.example"], now=NOW)
    with pytest.raises(certs.IdentityError):
        certs.client_identity_from_certificate(server.certificate)


def test_identity_accepts_role_as_text() -> None:
    assert certs.ClientIdentity("a", "b", "user").role is certs.Role.USER  # type: ignore[arg-type]
