"""Mutual TLS with certificates from ``certs``, judged by OpenSSL through ``ssl``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import certs
from tests.integration.certs.tlsloop import client_context, handshake, server_context

REAL_NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def root() -> certs.CertificateAuthority:
    # Valid from long ago so certificates can be issued "in the past" (expired) and later.
    return certs.create_root_ca(
        "PromptSales Root",
        validity=dt.timedelta(days=3000),
        now=REAL_NOW - dt.timedelta(days=1000),
    )


@pytest.fixture(scope="module")
def issuing(root: certs.CertificateAuthority) -> certs.CertificateAuthority:
    return certs.create_intermediate_ca(
        root,
        "PromptSales Issuing",
        validity=dt.timedelta(days=2000),
        now=REAL_NOW - dt.timedelta(days=900),
    )


@pytest.fixture(scope="module")
def server(issuing: certs.CertificateAuthority) -> certs.IssuedCertificate:
    return certs.issue_server_certificate(
        issuing, "mcp", dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )


def _client(ca: certs.CertificateAuthority, **kwargs: object) -> certs.IssuedCertificate:
    return certs.issue_client_certificate(
        ca,
        campaign_name="spring",
        campaign_id="c-1",
        role="sales",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("algorithm", list(certs.KeyAlgorithm)[:2], ids=str)
def test_mutual_tls_succeeds(
    tmp_path: Path,
    root: certs.CertificateAuthority,
    issuing: certs.CertificateAuthority,
    server: certs.IssuedCertificate,
    algorithm: certs.KeyAlgorithm,
) -> None:
    client = _client(issuing, key_algorithm=algorithm)
    outcome = handshake(
        server_context(tmp_path, server, [root.certificate]),
        client_context(tmp_path, client, [root.certificate]),
    )
    assert outcome.ok, outcome
    assert "spring" in str(outcome.peer_subject)


def test_server_ip_san_matches(
    tmp_path: Path,
    root: certs.CertificateAuthority,
    issuing: certs.CertificateAuthority,
    server: certs.IssuedCertificate,
) -> None:
    outcome = handshake(
        server_context(tmp_path, server, [root.certificate]),
        client_context(tmp_path, _client(issuing), [root.certificate]),
        server_hostname="127.0.0.1",
    )
    assert outcome.ok, outcome


def test_server_without_client_certificate_is_refused(
    tmp_path: Path, root: certs.CertificateAuthority, server: certs.IssuedCertificate
) -> None:
    outcome = handshake(
        server_context(tmp_path, server, [root.certificate]),
        client_context(tmp_path, None, [root.certificate]),
    )
    assert not outcome.ok
    assert outcome.server_error is not None


@pytest.mark.parametrize(
    ("issued_at", "validity", "reason"),
    [
        (REAL_NOW - dt.timedelta(days=400), dt.timedelta(days=30), "certificate has expired"),
        (REAL_NOW + dt.timedelta(days=30), dt.timedelta(days=30), "not yet valid"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_client_outside_validity_is_refused(
    tmp_path: Path,
    root: certs.CertificateAuthority,
    issuing: certs.CertificateAuthority,
    server: certs.IssuedCertificate,
    issued_at: dt.datetime,
    validity: dt.timedelta,
    reason: str,
) -> None:
    client = _client(issuing, now=issued_at, validity=validity)
    outcome = handshake(
        server_context(tmp_path, server, [root.certificate]),
        client_context(tmp_path, client, [root.certificate]),
    )
    assert outcome.server_error is not None
    assert reason in outcome.server_error


def test_expired_server_is_refused_by_client(
    tmp_path: Path, root: certs.CertificateAuthority, issuing: certs.CertificateAuthority
) -> None:
    stale = certs.issue_server_certificate(
        issuing,
        "mcp",
        dns_names=["localhost"],
        now=REAL_NOW - dt.timedelta(days=100),
        validity=dt.timedelta(days=10),
    )
    outcome = handshake(
        server_context(tmp_path, stale, [root.certificate]),
        client_context(tmp_path, _client(issuing), [root.certificate]),
    )
    assert outcome.client_error is not None
    assert "certificate has expired" in outcome.client_error


def test_client_from_another_ca_is_refused(
    tmp_path: Path, root: certs.CertificateAuthority, server: certs.IssuedCertificate
) -> None:
    # Same subject as the real root: trust must come from the key, not the name.
    impostor = certs.create_root_ca("PromptSales Root", validity=dt.timedelta(days=30))
    outcome = handshake(
        server_context(tmp_path, server, [root.certificate]),
        client_context(tmp_path, _client(impostor), [root.certificate]),
    )
    assert outcome.server_error is not None
    assert "certificate verify failed" in outcome.server_error


def test_server_from_another_ca_is_refused(
    tmp_path: Path, root: certs.CertificateAuthority, issuing: certs.CertificateAuthority
) -> None:
    impostor = certs.create_root_ca("PromptSales Root", validity=dt.timedelta(days=30))
    fake = certs.issue_server_certificate(impostor, "mcp", dns_names=["localhost"])
    outcome = handshake(
        server_context(tmp_path, fake, [root.certificate]),
        client_context(tmp_path, _client(issuing), [root.certificate]),
    )
    assert outcome.client_error is not None
    assert "certificate verify failed" in outcome.client_error


def test_server_certificate_used_as_client_is_refused(
    tmp_path: Path,
    root: certs.CertificateAuthority,
    issuing: certs.CertificateAuthority,
    server: certs.IssuedCertificate,
) -> None:
    as_client = certs.issue_server_certificate(issuing, "svc", dns_names=["svc.example"])
    outcome = handshake(
        server_context(tmp_path, server, [root.certificate]),
        client_context(tmp_path, as_client, [root.certificate]),
    )
    assert outcome.server_error is not None
    assert "unsuitable certificate purpose" in outcome.server_error


def test_client_certificate_used_as_server_is_refused(
    tmp_path: Path, root: certs.CertificateAuthority, issuing: certs.CertificateAuthority
) -> None:
    # OpenSSL checks the chain's purpose before the host name, so the EKU is what fails.
    wrong = certs.issue_client_certificate(
        issuing, campaign_name="localhost", campaign_id="x", role="user"
    )
    outcome = handshake(
        server_context(tmp_path, wrong, [root.certificate]),
        client_context(tmp_path, _client(issuing), [root.certificate]),
    )
    assert outcome.client_error is not None
    assert "unsuitable certificate purpose" in outcome.client_error
