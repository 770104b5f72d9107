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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, FilePath, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from promptsales.config import load_settings, secrets_dir

ENV_PREFIX = "PROMPTSALES_DB_TLS_"
#: Where the Kubernetes workloads find the platform CA bundle: ``ca.crt`` beside the
#: credentials in the component's mounted Secret (``workloads.databases.CONSUMER_CA_FILE``).
#: During a CA rollover the bundle holds both the old and the new CA.
DEFAULT_CA_FILE = "/var/run/secrets/promptsales/ca.crt"


class DatabaseTLSError(ValueError):
    """A TLS setting that a driver cannot honour; the message names the setting."""


@dataclass(frozen=True)
class TLSFiles:
    """Paths as the connecting process will see them; nothing is read here.

    This is the pure form the translators work on, so manifest builders (which run where
    the files do not exist) produce exactly the options the running components use.
    """

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if not self.ca_file:
            raise DatabaseTLSError(f"{ENV_PREFIX}CA_FILE must not be empty")
        if self.key_file and not self.cert_file:
            raise DatabaseTLSError(f"{ENV_PREFIX}KEY_FILE needs {ENV_PREFIX}CERT_FILE as well")

    @property
    def client_key(self) -> str | None:
        """The client key path (a combined PEM serves as both certificate and key)."""
        return self.key_file or self.cert_file


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

    def files(self) -> TLSFiles | None:
        """The pure form, or ``None`` when TLS is off."""
        if not self.enabled:
            return None
        if self.ca_file is None:  # the validator rules this out; model_construct may not
            raise DatabaseTLSError(f"{ENV_PREFIX}CA_FILE is not set")
        return TLSFiles(
            ca_file=str(self.ca_file),
            cert_file=str(self.cert_file) if self.cert_file else None,
            key_file=str(self.key_file) if self.key_file else None,
        )


def load_database_tls(**overrides: Any) -> DatabaseTLS:
    """The TLS setting from the environment or mounted Secret files, or ConfigError."""
    return load_settings(DatabaseTLS, _secrets_dir=secrets_dir(), **overrides)


#: What every translator accepts: the loaded setting, its pure form, or ``None`` (off).
TLSInput = DatabaseTLS | TLSFiles | None


def _files(tls: TLSInput) -> TLSFiles | None:
    return tls.files() if isinstance(tls, DatabaseTLS) else tls


# --- PostgreSQL (libpq: psycopg, and SQLAlchemy's postgresql dialects) -----------------


def libpq_options(tls: TLSInput) -> dict[str, str]:
    """libpq keywords: ``sslmode=verify-full`` + ``sslrootcert`` (+ client cert and key)."""
    files = _files(tls)
    if files is None:
        return {}
    options = {"sslmode": "verify-full", "sslrootcert": files.ca_file}
    if files.cert_file and files.client_key:
        options["sslcert"] = files.cert_file
        options["sslkey"] = files.client_key
    return options


def libpq_dsn(dsn: str, tls: TLSInput) -> str:
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


def mssql_odbc_options(tls: TLSInput) -> dict[str, str]:
    """ODBC connection-string keywords for SQL Server.

    ODBC Driver 18 on Linux validates the chain against OpenSSL's trust store and has no
    per-connection CA keyword, so the platform CA must be in that store: point
    ``SSL_CERT_FILE`` at ``DEFAULT_CA_FILE`` in the pod, or add the CA with
    ``update-ca-certificates``. (Not exercised here: there is no SQL Server to test
    against; the options are checked in the compiled ODBC string.) Client certificates do
    not apply: SQL Server authenticates logins, not TLS clients.
    """
    return dict(MSSQL_ODBC_TLS) if _files(tls) is not None else {}


def sqlalchemy_url(url: str | URL, tls: TLSInput) -> URL:
    """``url`` with the TLS options its backend understands; unknown backends are refused."""
    parsed = make_url(url) if isinstance(url, str) else url
    if _files(tls) is None:
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


def redis_options(tls: TLSInput) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` / ``redis.asyncio.from_url``."""
    files = _files(tls)
    if files is None:
        return {}
    options: dict[str, Any] = {
        "ssl_ca_certs": files.ca_file,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
    }
    if files.cert_file and files.client_key:
        options["ssl_certfile"] = files.cert_file
        options["ssl_keyfile"] = files.client_key
    return options


def redis_url(url: str, tls: TLSInput, *, embed: bool = False) -> str:
    """``redis://`` becomes ``rediss://`` when TLS is on: redis-py picks TLS by the scheme.

    ``embed=True`` also writes :func:`redis_options` into the query string (redis-py reads
    them from there), for a URL that must carry everything, like a Secret value.
    """
    if _files(tls) is None:
        return url
    if url.startswith("redis://"):
        url = "rediss://" + url.removeprefix("redis://")
    elif not url.startswith("rediss://"):
        raise DatabaseTLSError("a Redis URL must start with redis:// or rediss://")
    if not embed:
        return url
    return _with_query(url, {k: _query_value(v) for k, v in redis_options(tls).items()})


# --- MongoDB (pymongo) ----------------------------------------------------------------


def mongo_options(tls: TLSInput) -> dict[str, Any]:
    """Keyword arguments for ``pymongo.MongoClient``: ``tls`` + ``tlsCAFile`` (+ client PEM)."""
    files = _files(tls)
    if files is None:
        return {}
    options: dict[str, Any] = {"tls": True, "tlsCAFile": files.ca_file}
    if files.cert_file:
        if files.key_file and files.key_file != files.cert_file:
            raise DatabaseTLSError(
                f"MongoDB reads the client certificate and key from one PEM file: put both in "
                f"{ENV_PREFIX}CERT_FILE and leave {ENV_PREFIX}KEY_FILE unset"
            )
        options["tlsCertificateKeyFile"] = files.cert_file
    return options


def mongo_uri(uri: str, tls: TLSInput) -> str:
    """``uri`` with :func:`mongo_options` in its query string (pymongo reads them there)."""
    return _with_query(uri, {k: _query_value(v) for k, v in mongo_options(tls).items()})


# --- anything else that takes an ssl.SSLContext ------------------------------------------


def client_ssl_context(tls: TLSInput) -> ssl.SSLContext | None:
    """A verify-full client context for drivers that accept one (``None`` when TLS is off)."""
    files = _files(tls)
    if files is None:
        return None
    context = ssl.create_default_context(cafile=files.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.cert_file:
        context.load_cert_chain(files.cert_file, files.client_key)
    return context


def _query_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _with_query(url: str, options: dict[str, str]) -> str:
    """``url`` with ``options`` set in its query (replacing same-named parameters)."""
    if not options:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in options]
    return urlunsplit(parts._replace(query=urlencode([*query, *options.items()], safe="/")))
