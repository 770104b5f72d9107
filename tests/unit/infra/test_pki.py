"""The dynamic providers' create/diff, called directly (the engine calls them on a real up)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certs import CertificateError, load_certificate, load_certificates, load_private_key
from infra.pki import (
    RootCaProvider,
    ServerCertificateProvider,
    needs_renewal,
    new_root_ca,
)


@pytest.fixture(scope="module")
def ca() -> dict[str, str]:
    return new_root_ca("Test CA", 365, "ecdsa-p256")


def server_props(ca: dict[str, str], **overrides: object) -> dict[str, object]:
    props: dict[str, object] = {
        "ca_cert_pem": ca["cert_pem"],
        "ca_key_pem": ca["key_pem"],
        "common_name": "promptsales-mcp",
        "dns_names": ["promptsales-mcp", "promptsales-mcp.promptsales.svc"],
        "validity_days": 365,
        "renew_before_days": 30,
        "key_algorithm": "ecdsa-p256",
    }
    props.update(overrides)
    return props


def test_root_ca_is_a_ca_with_its_key(ca: dict[str, str]) -> None:
    cert = load_certificate(ca["cert_pem"])
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = load_private_key(ca["key_pem"])
    assert key.public_key() == cert.public_key()


def test_root_ca_never_reports_a_difference() -> None:
    provider = RootCaProvider()
    created = provider.create(
        {"common_name": "A", "validity_days": 30, "key_algorithm": "ecdsa-p256"}
    )
    olds = created.outs or {}
    changed = {**olds, "common_name": "B", "validity_days": 90, "key_algorithm": "rsa-2048"}
    assert provider.diff(created.id, olds, changed).changes is False
    # The id is the certificate's fingerprint: shown in previews, never key material.
    assert created.id == load_certificate(olds["cert_pem"]).fingerprint(hashes.SHA256()).hex()


def test_server_certificate_is_issued_by_the_ca_for_its_names(ca: dict[str, str]) -> None:
    outs = ServerCertificateProvider().create(server_props(ca)).outs or {}
    leaf, *_ = load_certificates(outs["cert_pem"])
    leaf.verify_directly_issued_by(load_certificate(ca["cert_pem"]))
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "promptsales-mcp",
        "promptsales-mcp.promptsales.svc",
    ]
    assert outs["pem"] == outs["cert_pem"] + outs["key_pem"]
    assert outs["ca_pem"].strip() == ca["cert_pem"].strip()


def test_server_certificate_diff_is_quiet_when_nothing_changed(ca: dict[str, str]) -> None:
    provider = ServerCertificateProvider()
    created = provider.create(server_props(ca))
    olds = created.outs or {}
    assert provider.diff(created.id, olds, server_props(ca)).changes is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dns_names": ["promptsales-mcp", "mcp.example.com"]}, "dns_names"),
        ({"common_name": "other"}, "common_name"),
        ({"key_algorithm": "rsa-2048"}, "key_algorithm"),
    ],
)
def test_server_certificate_is_replaced_on_new_names_or_key(
    ca: dict[str, str], change: dict[str, object], field: str
) -> None:
    provider = ServerCertificateProvider()
    created = provider.create(server_props(ca))
    diff = provider.diff(created.id, created.outs or {}, server_props(ca, **change))
    assert diff.changes is True
    assert field in (diff.replaces or [])


def test_server_certificate_is_replaced_when_the_ca_changes(ca: dict[str, str]) -> None:
    provider = ServerCertificateProvider()
    created = provider.create(server_props(ca))
    other = new_root_ca("Other CA", 365, "ecdsa-p256")
    news = server_props(ca, ca_cert_pem=other["cert_pem"], ca_key_pem=other["key_pem"])
    assert "ca_cert_pem" in (provider.diff(created.id, created.outs or {}, news).replaces or [])


def test_server_certificate_is_renewed_near_expiry(ca: dict[str, str]) -> None:
    provider = ServerCertificateProvider()
    created = provider.create(server_props(ca, validity_days=10))
    diff = provider.diff(created.id, created.outs or {}, server_props(ca, validity_days=10))
    assert diff.changes is True
    assert "cert_pem" in (diff.replaces or [])


def test_needs_renewal_boundary(ca: dict[str, str]) -> None:
    outs = ServerCertificateProvider().create(server_props(ca, validity_days=60)).outs or {}
    not_after = load_certificates(outs["cert_pem"])[0].not_valid_after_utc
    assert not needs_renewal(outs["cert_pem"], 30, now=not_after - dt.timedelta(days=31))
    assert needs_renewal(outs["cert_pem"], 30, now=not_after - dt.timedelta(days=29))


def test_a_key_from_another_ca_is_refused(ca: dict[str, str]) -> None:
    other = new_root_ca("Other CA", 365, "ecdsa-p256")
    with pytest.raises(CertificateError):
        ServerCertificateProvider().create(server_props(ca, ca_key_pem=other["key_pem"]))
