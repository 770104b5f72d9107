"""Each driver gets full verification from one setting, and bad settings are named."""

from __future__ import annotations

import ssl
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc

from promptsales import dbtls
from promptsales.config import ConfigError
from promptsales.dbtls import DatabaseTLS, DatabaseTLSError, load_database_tls

MSSQL = (
    "mssql+pyodbc://etl:pw@sql.promptsales.internal:1433/PromptAds"
    "?driver=ODBC+Driver+18+for+SQL+Server"
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("ca.crt", "client.crt", "client.key")}
    for path in paths.values():
        path.write_text("pem")
    return paths


@pytest.fixture
def tls(files: dict[str, Path]) -> DatabaseTLS:
    return load_database_tls(enabled=True, ca_file=files["ca.crt"])


@pytest.fixture
def mtls(files: dict[str, Path]) -> DatabaseTLS:
    return load_database_tls(
        enabled=True,
        ca_file=files["ca.crt"],
        cert_file=files["client.crt"],
        key_file=files["client.key"],
    )


@pytest.fixture
def off() -> DatabaseTLS:
    return load_database_tls(enabled=False)


def test_enabled_without_ca_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"PROMPTSALES_DB_TLS_CA_FILE: .*required"):
        load_database_tls(enabled=True)


def test_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PROMPTSALES_DB_TLS_CA_FILE"):
        load_database_tls(enabled=True, ca_file=tmp_path / "absent.crt")


def test_key_without_certificate_is_named(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=r"PROMPTSALES_DB_TLS_KEY_FILE: .*CERT_FILE"):
        load_database_tls(enabled=True, ca_file=files["ca.crt"], key_file=files["client.key"])


def test_settings_come_from_the_environment(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTSALES_DB_TLS_ENABLED", "true")
    monkeypatch.setenv("PROMPTSALES_DB_TLS_CA_FILE", str(files["ca.crt"]))
    loaded = load_database_tls()
    assert loaded.enabled
    assert loaded.ca_file == files["ca.crt"]


def test_off_changes_nothing(off: DatabaseTLS) -> None:
    assert dbtls.libpq_options(off) == {}
    assert dbtls.libpq_dsn("host=db sslmode=prefer", off) == "host=db sslmode=prefer"
    assert dbtls.redis_options(off) == {}
    assert dbtls.redis_url("redis://cache:6379/0", off) == "redis://cache:6379/0"
    assert dbtls.mongo_options(off) == {}
    assert dbtls.client_ssl_context(off) is None
    assert str(dbtls.sqlalchemy_url(MSSQL, off)) == MSSQL.replace("etl:pw", "etl:***")


def test_libpq_is_verify_full(tls: DatabaseTLS, files: dict[str, Path]) -> None:
    assert dbtls.libpq_options(tls) == {
        "sslmode": "verify-full",
        "sslrootcert": str(files["ca.crt"]),
    }


@pytest.mark.parametrize(
    "dsn",
    ["postgresql://etl@wh:5432/PromptSales?sslmode=disable", "host=wh dbname=x sslmode=require"],
)
def test_dsn_setting_cannot_weaken_verification(tls: DatabaseTLS, dsn: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(dbtls.libpq_dsn(dsn, tls))
    assert params["sslmode"] == "verify-full"
    assert params["host"] == "wh"


def test_libpq_client_certificate(mtls: DatabaseTLS, files: dict[str, Path]) -> None:
    options = dbtls.libpq_options(mtls)
    assert options["sslcert"] == str(files["client.crt"])
    assert options["sslkey"] == str(files["client.key"])


def test_mssql_odbc_string_encrypts_and_validates(tls: DatabaseTLS) -> None:
    url = dbtls.sqlalchemy_url(MSSQL, tls)
    # The dialect object alone (no libodbc needed) builds the exact ODBC string pyodbc gets.
    dialect = MSDialect_pyodbc()  # type: ignore[no-untyped-call]
    (connection_string,), _ = dialect.create_connect_args(url)
    assert "Encrypt=yes" in connection_string
    assert "TrustServerCertificate=no" in connection_string
    assert "TrustServerCertificate=yes" not in connection_string


def test_postgres_sqlalchemy_url_gets_libpq_options(tls: DatabaseTLS) -> None:
    url = dbtls.sqlalchemy_url("postgresql+psycopg://etl@wh/PromptSales", tls)
    assert url.query["sslmode"] == "verify-full"


def test_unsupported_backend_is_refused_not_left_plaintext(tls: DatabaseTLS) -> None:
    with pytest.raises(DatabaseTLSError, match="'sqlite'"):
        dbtls.sqlalchemy_url("sqlite:///x.db", tls)


def test_redis_requires_certificate_and_host_name(mtls: DatabaseTLS) -> None:
    assert dbtls.redis_url("redis://cache:6379/0", mtls) == "rediss://cache:6379/0"
    options = dbtls.redis_options(mtls)
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_check_hostname"] is True
    assert {"ssl_ca_certs", "ssl_certfile", "ssl_keyfile"} <= options.keys()
    with pytest.raises(DatabaseTLSError):
        dbtls.redis_url("http://cache", mtls)


def test_mongo_has_no_escape_hatch(tls: DatabaseTLS) -> None:
    options = dbtls.mongo_options(tls)
    assert options["tls"] is True
    assert "tlsCAFile" in options
    assert not any(key.startswith("tlsAllow") or key == "tlsInsecure" for key in options)


def test_mongo_needs_certificate_and_key_in_one_file(
    mtls: DatabaseTLS, files: dict[str, Path]
) -> None:
    with pytest.raises(DatabaseTLSError, match="one PEM file"):
        dbtls.mongo_options(mtls)
    combined = load_database_tls(
        enabled=True, ca_file=files["ca.crt"], cert_file=files["client.crt"]
    )
    assert dbtls.mongo_options(combined)["tlsCertificateKeyFile"] == str(files["client.crt"])


def test_client_ssl_context_is_verify_full(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = dbtls.client_ssl_context(load_database_tls(enabled=True, ca_file=ca_file))
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


# --- the pure form (no file is read) and self-contained connection strings ---------------


def test_pure_form_needs_no_files() -> None:
    files = dbtls.TLSFiles(ca_file="/var/run/secrets/promptsales-ca/ca.crt")
    assert dbtls.libpq_options(files)["sslrootcert"] == files.ca_file
    assert dbtls.redis_options(files)["ssl_ca_certs"] == files.ca_file


def test_pure_form_is_validated() -> None:
    with pytest.raises(DatabaseTLSError, match="CA_FILE"):
        dbtls.TLSFiles(ca_file="")
    with pytest.raises(DatabaseTLSError, match="KEY_FILE needs"):
        dbtls.TLSFiles(ca_file="/ca", key_file="/k")


def test_none_means_off() -> None:
    assert dbtls.libpq_options(None) == {}
    assert dbtls.mongo_uri("mongodb://m/db", None) == "mongodb://m/db"


def test_redis_url_can_carry_every_option() -> None:
    url = dbtls.redis_url(
        "redis://:pw@cache:6379/0?socket_timeout=1", dbtls.TLSFiles("/ca.crt"), embed=True
    )
    assert url.startswith("rediss://:pw@cache:6379/0?")
    assert "socket_timeout=1" in url
    assert "ssl_ca_certs=/ca.crt" in url
    assert "ssl_cert_reqs=required" in url
    assert "ssl_check_hostname=true" in url


def test_mongo_uri_carries_tls_and_replaces_weaker_settings() -> None:
    uri = dbtls.mongo_uri("mongodb://m:27017/db?tls=false&authSource=admin", dbtls.TLSFiles("/ca"))
    assert "tls=true" in uri
    assert "tls=false" not in uri
    assert "tlsCAFile=/ca" in uri
    assert "authSource=admin" in uri
