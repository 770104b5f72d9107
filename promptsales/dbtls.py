"""One TLS setting for every database connection, translated into each driver's options.

Why one place: the platform talks to four engines through four drivers (libpq via psycopg,
ODBC via pyodbc, pymongo, redis-py) and each spells "verify the server against our CA and
check its name" differently. A mistake in any one of them (``sslmode=require``, which
never checks the certificate; ``tlsAllowInvalidHostnames``; ``TrustServerCertificate=yes``)
silently downgrades to encryption without authentication. Every component therefore
loads :class:`DatabaseTLS` once and asks this module for its driver's options; no
component spells those options itself.

When TLS is on, verification is always full: chain to the platform CA *and* host name
(libpq ``verify-full``, redis-py ``ssl_cert_reqs=required`` + ``ssl_check_hostname``,
pymongo ``tls`` + ``tlsCAFile`` with no ``tlsAllow*`` escape hatch, ODBC ``Encrypt=yes;
TrustServerCertificate=no``). There is deliberately no "encrypt but don't verify" mode.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import Field, FilePath, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from promptsales.config import load_settings, secrets_dir

ENV_PREFIX = "PROMPTSALES_DB_TLS_"
#: Where the Kubernetes workloads mount the platform CA bundle (``ca.crt`` of the
#: ``promptsales-ca`` Secret): during a CA rollover it holds both the old and new CA.
DEFAULT_CA_FILE = "/var/run/secrets/promptsales-ca/ca.crt"


class DatabaseTLSError(ValueError):
    """A TLS setting that a driver cannot honour; the message names the setting."""


class DatabaseTLS(BaseSettings):
    """TLS for database connections: off, or verify-full against the platform CA.

    ``cert_file``/``key_file`` are the optional client certificate (mutual TLS). MongoDB
    drivers read certificate and key from one PEM file, so for them ``cert_file`` must
    hold both and ``key_file`` stays unset (or names the same file).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    enabled: bool = False
    ca_file: FilePath | None = Field(default=None, validate_default=True)
    cert_file: FilePath | None = None
    key_file: FilePath | None = Field(default=None, validate_default=True)

    @field_validator("ca_file")
    @classmethod
    def _ca_required_when_enabled(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("enabled"):
            raise ValueError(f"required when {ENV_PREFIX}ENABLED is true")
        return value

    @field_validator("key_file")
    @classmethod
    def _key_needs_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("cert_file") is None:
            raise ValueError(f"a client key needs {ENV_PREFIX}CERT_FILE as well")
        return value


def load_database_tls(**overrides: Any) -> DatabaseTLS:
    """The TLS setting from the environment or mounted Secret files, or ConfigError."""
    return load_settings(DatabaseTLS, _secrets_dir=secrets_dir(), **overrides)


def _ca(tls: DatabaseTLS) -> str:
    if tls.ca_file is None:  # the validator rules this out; a hand-built object may not
        raise DatabaseTLSError(f"{ENV_PREFIX}CA_FILE is not set")
    return str(tls.ca_file)


# --- PostgreSQL (libpq: psycopg, and SQLAlchemy's postgresql dialects) -----------------


def libpq_options(tls: DatabaseTLS) -> dict[str, str]:
    """libpq keywords: ``sslmode=verify-full`` + ``sslrootcert`` (+ client cert and key)."""
    if not tls.enabled:
        return {}
    options = {"sslmode": "verify-full", "sslrootcert": _ca(tls)}
    if tls.cert_file is not None:
        options["sslcert"] = str(tls.cert_file)
        options["sslkey"] = str(tls.key_file or tls.cert_file)
    return options


def libpq_dsn(dsn: str, tls: DatabaseTLS) -> str:
    """``dsn`` (URL or key=value form) with the TLS keywords applied.

    The platform setting wins over an ``sslmode`` already in the DSN, so a stale DSN cannot
    downgrade a deployment that has TLS switched on.
    """
    options = libpq_options(tls)
    if not options:
        return dsn
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, **options)


# --- SQLAlchemy URLs (the ETL's sources: mssql+pyodbc, or PostgreSQL as stand-in) -------

#: ODBC Driver 18 keywords: encrypt, and never trust a certificate without validating it.
MSSQL_ODBC_TLS = {"Encrypt": "yes", "TrustServerCertificate": "no"}


def mssql_odbc_options(tls: DatabaseTLS) -> dict[str, str]:
    """ODBC connection-string keywords for SQL Server.

    ODBC Driver 18 on Linux validates the chain against OpenSSL's trust store and has no
    per-connection CA keyword, so the platform CA must be in that store (the image adds
    ``DEFAULT_CA_FILE`` to it, or ``SSL_CERT_FILE`` points OpenSSL at the bundle).
    """
    return dict(MSSQL_ODBC_TLS) if tls.enabled else {}


def sqlalchemy_url(url: str | URL, tls: DatabaseTLS) -> URL:
    """``url`` with the TLS options its backend understands; unknown backends are refused."""
    parsed = make_url(url) if isinstance(url, str) else url
    if not tls.enabled:
        return parsed
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        options = libpq_options(tls)
    elif backend == "mssql":
        options = mssql_odbc_options(tls)
    else:
        raise DatabaseTLSError(
            f"{ENV_PREFIX}ENABLED is true but database TLS is not supported for "
            f"'{backend}' URLs (supported: postgresql, mssql)"
        )
    return parsed.update_query_dict(options)


# --- Redis (redis-py, sync and asyncio) -----------------------------------------------


def redis_url(url: str, tls: DatabaseTLS) -> str:
    """``redis://`` becomes ``rediss://`` when TLS is on: redis-py picks TLS by the scheme."""
    if tls.enabled and url.startswith("redis://"):
        return "rediss://" + url.removeprefix("redis://")
    if tls.enabled and not url.startswith("rediss://"):
        raise DatabaseTLSError("a Redis URL must start with redis:// or rediss://")
    return url


def redis_options(tls: DatabaseTLS) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` / ``redis.asyncio.from_url``."""
    if not tls.enabled:
        return {}
    options: dict[str, Any] = {
        "ssl_ca_certs": _ca(tls),
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
    }
    if tls.cert_file is not None:
        options["ssl_certfile"] = str(tls.cert_file)
        options["ssl_keyfile"] = str(tls.key_file or tls.cert_file)
    return options


# --- MongoDB (pymongo) ----------------------------------------------------------------


def mongo_options(tls: DatabaseTLS) -> dict[str, Any]:
    """Keyword arguments for ``pymongo.MongoClient``: ``tls`` + ``tlsCAFile`` (+ client PEM)."""
    if not tls.enabled:
        return {}
    options: dict[str, Any] = {"tls": True, "tlsCAFile": _ca(tls)}
    if tls.cert_file is not None:
        if tls.key_file is not None and tls.key_file != tls.cert_file:
            raise DatabaseTLSError(
                f"MongoDB reads the client certificate and key from one PEM file: put both in "
                f"{ENV_PREFIX}CERT_FILE and leave {ENV_PREFIX}KEY_FILE unset"
            )
        options["tlsCertificateKeyFile"] = str(tls.cert_file)
    return options


# --- anything else that takes an ssl.SSLContext ------------------------------------------


def client_ssl_context(tls: DatabaseTLS) -> ssl.SSLContext | None:
    """A verify-full client context for drivers that accept one (``None`` when TLS is off)."""
    if not tls.enabled:
        return None
    context = ssl.create_default_context(cafile=_ca(tls))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file or tls.cert_file))
    return context
