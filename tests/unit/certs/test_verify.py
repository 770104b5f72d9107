from __future__ import annotations

import datetime as dt

import pytest

import certs
from tests.unit.certs.conftest import NOW


@pytest.fixture(scope="module")
def server(intermediate: certs.CertificateAuthority) -> certs.IssuedCertificate:
    return certs.issue_server_certificate(
        intermediate,
        "mcp",
        dns_names=["promptsales-mcp.promptsales.svc"],
        ip_addresses=["127.0.0.1"],
        validity=dt.timedelta(days=30),
        now=NOW,
    )


@pytest.fixture(scope="module")
def client(intermediate: certs.CertificateAuthority) -> certs.IssuedCertificate:
    return certs.issue_client_certificate(
        intermediate,
        campaign_name="c",
        campaign_id="1",
        role="sales",
        validity=dt.timedelta(days=30),
        now=NOW,
    )


@pytest.mark.parametrize("hostname", ["promptsales-mcp.promptsales.svc", "127.0.0.1"])
def test_server_chain_verifies_by_dns_and_ip(
    server: certs.IssuedCertificate,
    root: certs.CertificateAuthority,
    intermediate: certs.CertificateAuthority,
    hostname: str,
) -> None:
    chain = certs.verify_server(
        server.certificate,
        trust=[root.certificate],
        hostname=hostname,
        intermediates=server.chain,
        now=NOW,
    )
    assert chain == [server.certificate, intermediate.certificate, root.certificate]


def test_client_chain_verifies(
    client: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    chain = certs.verify_client(
        client.certificate, trust=[root.certificate], intermediates=client.chain, now=NOW
    )
    assert chain[0] == client.certificate
    assert chain[-1] == root.certificate


def test_wrong_purpose_is_refused(
    server: certs.IssuedCertificate,
    client: certs.IssuedCertificate,
    root: certs.CertificateAuthority,
) -> None:
    with pytest.raises(certs.VerificationError, match="EKU"):
        certs.verify_client(
            server.certificate, trust=[root.certificate], intermediates=server.chain, now=NOW
        )
    with pytest.raises(certs.VerificationError):
        certs.verify_server(
            client.certificate,
            trust=[root.certificate],
            hostname="promptsales-mcp.promptsales.svc",
            intermediates=client.chain,
            now=NOW,
        )


@pytest.mark.parametrize(
    "moment",
    [NOW - dt.timedelta(hours=1), NOW + dt.timedelta(days=31)],
    ids=["not-yet-valid", "expired"],
)
def test_outside_validity_is_refused(
    server: certs.IssuedCertificate, root: certs.CertificateAuthority, moment: dt.datetime
) -> None:
    with pytest.raises(certs.VerificationError):
        certs.verify_server(
            server.certificate,
            trust=[root.certificate],
            hostname="127.0.0.1",
            intermediates=server.chain,
            now=moment,
        )


def test_clock_skew_allowance_accepts_a_lagging_peer(
    server: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    certs.verify_server(
        server.certificate,
        trust=[root.certificate],
        hostname="127.0.0.1",
        intermediates=server.chain,
        now=NOW - dt.timedelta(minutes=4),
    )


def test_wrong_hostname_wrong_ca_and_missing_intermediate_are_refused(
    server: certs.IssuedCertificate, root: certs.CertificateAuthority
) -> None:
    other = certs.create_root_ca("Other", validity=dt.timedelta(days=365), now=NOW)
    cases = [
        {"trust": [root.certificate], "hostname": "evil.example", "intermediates": server.chain},
        {"trust": [other.certificate], "hostname": "127.0.0.1", "intermediates": server.chain},
        {"trust": [root.certificate], "hostname": "127.0.0.1", "intermediates": ()},
    ]
    for case in cases:
        with pytest.raises(certs.VerificationError):
            certs.verify_server(server.certificate, now=NOW, **case)  # type: ignore[arg-type]


def test_empty_trust_is_refused(server: certs.IssuedCertificate) -> None:
    with pytest.raises(certs.VerificationError, match="empty"):
        certs.verify_client(server.certificate, trust=[], now=NOW)


def test_rsa_chain_verifies() -> None:
    rsa_root = certs.create_root_ca(
        "rsa", validity=dt.timedelta(days=10), key_algorithm=certs.KeyAlgorithm.RSA_2048, now=NOW
    )
    leaf = certs.issue_client_certificate(
        rsa_root,
        campaign_name="r",
        campaign_id="r",
        role="user",
        key_algorithm=certs.KeyAlgorithm.RSA_2048,
        now=NOW,
    )
    certs.verify_client(leaf.certificate, trust=[rsa_root.certificate], now=NOW)
