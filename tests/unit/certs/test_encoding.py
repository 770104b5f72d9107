from __future__ import annotations

import base64

import pytest

import certs
from tests.unit.certs.conftest import NOW


@pytest.fixture(scope="module")
def leaf(intermediate: certs.CertificateAuthority) -> certs.IssuedCertificate:
    return certs.issue_server_certificate(intermediate, "mcp", dns_names=["mcp.example"], now=NOW)


def test_pem_round_trip(leaf: certs.IssuedCertificate) -> None:
    pem = certs.to_pem((leaf.certificate, *leaf.chain))
    assert pem.count("-----BEGIN CERTIFICATE-----") == 2
    assert certs.load_certificates(pem) == [leaf.certificate, *leaf.chain]
    assert certs.load_certificate(certs.to_pem(leaf.certificate)) == leaf.certificate


def test_private_key_is_pkcs8_and_optionally_encrypted(leaf: certs.IssuedCertificate) -> None:
    plain = certs.private_key_to_pem(leaf.private_key)
    assert plain.startswith("-----BEGIN PRIVATE KEY-----")
    assert certs.load_private_key(plain).public_key() == leaf.private_key.public_key()
    encrypted = certs.private_key_to_pem(leaf.private_key, b"s3cret")
    assert encrypted.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = certs.load_private_key(encrypted, password=b"s3cret")
    assert loaded.public_key() == leaf.private_key.public_key()


@pytest.mark.parametrize(
    ("password", "message"), [(None, "needs a password"), (b"wrong", "wrong password")]
)
def test_encrypted_key_without_right_password_is_refused(
    leaf: certs.IssuedCertificate, password: bytes | None, message: str
) -> None:
    encrypted = certs.private_key_to_pem(leaf.private_key, b"s3cret")
    with pytest.raises(certs.MalformedInputError, match=message):
        certs.load_private_key(encrypted, password=password)


def test_empty_password_is_refused(leaf: certs.IssuedCertificate) -> None:
    with pytest.raises(certs.CertificateError, match="password"):
        certs.private_key_to_pem(leaf.private_key, b"")


def test_tls_secret_layout(
    leaf: certs.IssuedCertificate,
    root: certs.CertificateAuthority,
    intermediate: certs.CertificateAuthority,
) -> None:
    data = certs.tls_secret_data(leaf, certs.trust_bundle(root))
    assert set(data) == {"tls.crt", "tls.key", "ca.crt"}
    assert certs.load_certificates(data["tls.crt"]) == [leaf.certificate, intermediate.certificate]
    assert certs.load_certificates(data["ca.crt"]) == [root.certificate]
    assert data["tls.key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_tls_secret_round_trip_from_string_data_and_base64_data(
    leaf: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    string_data = certs.tls_secret_data(leaf, certs.trust_bundle(root))
    data = {k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}
    for form in (string_data, data):
        loaded = certs.load_tls_secret(form)
        assert loaded.certificate == leaf.certificate
        assert loaded.chain == leaf.chain
        assert loaded.trust_bundle == (root.certificate,)
        assert loaded.as_issued().private_key.public_key() == leaf.private_key.public_key()


def test_mismatched_key_is_refused_with_a_clear_error(
    leaf: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    data = certs.tls_secret_data(leaf, certs.trust_bundle(root))
    data["tls.key"] = certs.private_key_to_pem(certs.generate_private_key())
    with pytest.raises(certs.KeyMismatchError, match=r"tls\.key.*does not match") as info:
        certs.load_tls_secret(data)
    assert isinstance(info.value, certs.CertificateError)
    assert "PRIVATE KEY" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tls.crt", "not a certificate", r"tls\.crt: neither PEM nor base64"),
        ("tls.crt", base64.b64encode(b"garbage").decode(), r"tls\.crt: no PEM"),
        (
            "tls.crt",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            r"tls\.crt: malformed",
        ),
        ("tls.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "tls.key"),
        ("ca.crt", "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n", "ca.crt"),
    ],
)
def test_malformed_secret_fields_are_named(
    leaf: certs.IssuedCertificate,
    root: certs.CertificateAuthority,
    field: str,
    value: str,
    message: str,
) -> None:
    data = certs.tls_secret_data(leaf, certs.trust_bundle(root))
    data[field] = value
    with pytest.raises(certs.MalformedInputError, match=message):
        certs.load_tls_secret(data)


def test_missing_key_is_named(
    leaf: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    data = certs.tls_secret_data(leaf, certs.trust_bundle(root))
    del data["tls.key"]
    with pytest.raises(certs.MalformedInputError, match=r"tls\.key: missing"):
        certs.load_tls_secret(data)


def test_ca_secret_round_trips_into_a_signing_authority(
    root: certs.CertificateAuthority, intermediate: certs.CertificateAuthority
) -> None:
    data = certs.tls_secret_data(intermediate, certs.trust_bundle(root))
    assert certs.load_certificates(data["tls.crt"]) == [intermediate.certificate]
    authority = certs.load_tls_secret(data).as_authority()
    assert authority.certificate == intermediate.certificate
    assert authority.root == root.certificate
    leaf = certs.issue_client_certificate(
        authority, campaign_name="c", campaign_id="1", role="user", now=NOW
    )
    certs.verify_client(
        leaf.certificate, trust=[root.certificate], intermediates=leaf.chain, now=NOW
    )


def test_leaf_secret_is_not_a_ca(
    leaf: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    data = certs.tls_secret_data(leaf, certs.trust_bundle(root))
    with pytest.raises(certs.CertificateError, match="not a CA"):
        certs.load_tls_secret(data).as_authority()


def test_secret_payload_prefers_string_data() -> None:
    manifest = {"data": {"tls.crt": "YQ==", "ca.crt": "Yg=="}, "stringData": {"tls.crt": "pem"}}
    assert certs.secret_payload(manifest) == {"tls.crt": "pem", "ca.crt": "Yg=="}
