"""PostgreSQL over TLS with libpq verify-full against the platform CA."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy

from promptsales.dbtls import DatabaseTLS, libpq_dsn, load_database_tls, sqlalchemy_url
from tests.integration.dbtls.conftest import PKI
from tests.support.tls_services import TLSPostgres

SSL_STATE = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def test_verify_full_connects_over_tls(tls_pg: TLSPostgres, tls: DatabaseTLS) -> None:
    dsn = libpq_dsn(tls_pg.dsn(), tls)
    with psycopg.connect(dsn) as conn:
        assert conn.info.get_parameters()["sslmode"] == "verify-full"
        ssl_on, version = conn.execute(SSL_STATE).fetchone() or (False, None)
    assert ssl_on is True
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_server_certificate_from_another_ca_is_refused(
    rogue_pg: TLSPostgres, tls: DatabaseTLS
) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(libpq_dsn(rogue_pg.dsn(), tls))


def test_without_the_setting_the_same_rogue_server_is_accepted(rogue_pg: TLSPostgres) -> None:
    """Why the setting matters: libpq's default encrypts but authenticates nobody."""
    off = load_database_tls(enabled=False)
    with psycopg.connect(libpq_dsn(rogue_pg.dsn(), off)) as conn:
        assert conn.execute(SSL_STATE).fetchone() is not None


def test_host_name_must_match_the_certificate(tls_pg: TLSPostgres, tls: DatabaseTLS) -> None:
    # Same server and a valid chain, but reached under a name the certificate lacks.
    dsn = f"host=db.elsewhere.internal hostaddr=127.0.0.1 port={tls_pg.port} user=postgres"
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(libpq_dsn(dsn, tls))


def test_a_dsn_cannot_downgrade_tls(tls_pg: TLSPostgres, tls: DatabaseTLS) -> None:
    dsn = libpq_dsn(tls_pg.dsn() + " sslmode=disable", tls)
    assert psycopg.conninfo.conninfo_to_dict(dsn)["sslmode"] == "verify-full"


def test_server_rejects_plaintext(tls_pg: TLSPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(tls_pg.dsn() + " sslmode=disable")


def test_client_certificate_is_presented_when_configured(
    tls_pg: TLSPostgres, tls: DatabaseTLS, mtls: DatabaseTLS
) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate"):
        psycopg.connect(libpq_dsn(tls_pg.dsn(user="mtls"), tls))
    with psycopg.connect(libpq_dsn(tls_pg.dsn(user="mtls"), mtls)) as conn:
        row = conn.execute(
            "SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    assert row[0] is True
    assert "CN=spring-launch" in str(row[1])


def test_sqlalchemy_postgres_url_verifies_too(
    tls_pg: TLSPostgres, rogue_pg: TLSPostgres, tls: DatabaseTLS
) -> None:
    good = sqlalchemy.create_engine(
        sqlalchemy_url(f"postgresql+psycopg://postgres@127.0.0.1:{tls_pg.port}/postgres", tls)
    )
    bad = sqlalchemy.create_engine(
        sqlalchemy_url(f"postgresql+psycopg://postgres@127.0.0.1:{rogue_pg.port}/postgres", tls)
    )
    try:
        with good.connect() as conn:
            assert conn.execute(sqlalchemy.text(SSL_STATE)).first() is not None
        with pytest.raises(sqlalchemy.exc.OperationalError, match="certificate verify failed"):
            bad.connect()
    finally:
        good.dispose()
        bad.dispose()


def test_ca_file_is_the_platform_ca(pki: PKI, tls: DatabaseTLS) -> None:
    assert tls.ca_file == pki.ca_file
