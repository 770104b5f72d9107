"""Fixtures for the database-TLS tests: a platform CA, a rogue CA, and private TLS servers.

Certificates come from ``certs/`` exactly as the platform issues them. The rogue CA stands
for any other authority (a stolen or self-made certificate): servers presenting its
certificates must be refused by every client configured through ``promptsales.dbtls``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import certs
from harness.services import ServiceUnavailableError
from promptsales.dbtls import DatabaseTLS, load_database_tls
from tests.support import tls_services
from tests.support.tls_services import ServerPem, TLSEndpoint, TLSPostgres

VALIDITY = dt.timedelta(days=2)
SERVER_NAMES = ["localhost"]
SERVER_IPS = ["127.0.0.1"]


@dataclass(frozen=True)
class PKI:
    """Files a client needs, and PEM bundles the servers present."""

    ca_file: Path
    rogue_ca_file: Path
    client_cert_file: Path
    client_key_file: Path
    client_pem_file: Path  # certificate + key in one file, the form MongoDB drivers read
    platform_server: ServerPem
    rogue_server: ServerPem
    misnamed_server: ServerPem  # platform-issued, but for another host name


def _server_pem(
    ca: certs.CertificateAuthority, names: list[str], ips: list[str], client_ca: str
) -> ServerPem:
    issued = certs.issue_server_certificate(
        ca, names[0], dns_names=names, ip_addresses=ips, validity=dt.timedelta(days=1)
    )
    return ServerPem(
        certificate_chain=certs.to_pem([issued.certificate, *issued.chain]),
        private_key=certs.private_key_to_pem(issued.private_key),
        client_ca=client_ca,
    )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    platform = certs.create_root_ca("PromptSales Test Platform CA", validity=VALIDITY)
    rogue = certs.create_root_ca("Some Other CA", validity=VALIDITY)
    platform_pem = certs.to_pem(platform.certificate)
    client = certs.issue_client_certificate(
        platform, campaign_name="spring-launch", campaign_id="42", role="marketing"
    )
    files = {
        "ca.crt": platform_pem,
        "rogue-ca.crt": certs.to_pem(rogue.certificate),
        "client.crt": certs.to_pem([client.certificate, *client.chain]),
        "client.key": certs.private_key_to_pem(client.private_key),
    }
    files["client.pem"] = files["client.crt"] + files["client.key"]
    for name, text in files.items():
        (directory / name).write_text(text)
    for key in ("client.key", "client.pem"):
        (directory / key).chmod(0o600)
    return PKI(
        ca_file=directory / "ca.crt",
        rogue_ca_file=directory / "rogue-ca.crt",
        client_cert_file=directory / "client.crt",
        client_key_file=directory / "client.key",
        client_pem_file=directory / "client.pem",
        platform_server=_server_pem(platform, SERVER_NAMES, SERVER_IPS, platform_pem),
        rogue_server=_server_pem(rogue, SERVER_NAMES, SERVER_IPS, platform_pem),
        misnamed_server=_server_pem(platform, ["db.elsewhere.internal"], [], platform_pem),
    )


@pytest.fixture(scope="session")
def tls(pki: PKI) -> DatabaseTLS:
    """TLS on, verify-full against the platform CA, no client certificate."""
    return load_database_tls(enabled=True, ca_file=pki.ca_file)


@pytest.fixture(scope="session")
def mtls(pki: PKI) -> DatabaseTLS:
    """TLS on with the campaign's client certificate (separate cert and key files)."""
    return load_database_tls(
        enabled=True,
        ca_file=pki.ca_file,
        cert_file=pki.client_cert_file,
        key_file=pki.client_key_file,
    )


@pytest.fixture(scope="session")
def tls_pg(pki: PKI) -> Iterator[TLSPostgres]:
    """A private PostgreSQL presenting a platform-issued certificate; TLS-only."""
    try:
        with tls_services.tls_postgres(pki.platform_server) as server:
            yield server
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def rogue_pg(pki: PKI) -> Iterator[TLSPostgres]:
    """A private PostgreSQL presenting a certificate from another CA."""
    try:
        with tls_services.tls_postgres(pki.rogue_server) as server:
            yield server
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def tls_redis(pki: PKI) -> Iterator[TLSEndpoint]:
    try:
        with tls_services.tls_redis(pki.platform_server) as server:
            yield server
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def tls_mongo(pki: PKI) -> Iterator[TLSEndpoint]:
    try:
        with tls_services.tls_mongo(pki.platform_server) as server:
            yield server
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
