"""The local databases and the Secret files that point the components at them.

The same three databases a cluster has (PromptAds and PromptCRM as stand-in sources on
PostgreSQL, the PromptSales warehouse) live on the machine's PostgreSQL. Connection
strings are written as files named like the settings, exactly as the Kubernetes Secrets
are mounted, so the components read them through the same ``secrets_dir`` code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from promptsales_cli.local.settings import LocalSettings


@dataclass(frozen=True)
class LocalDatabases:
    """DSNs of the three databases and the directories holding their Secret files."""

    ads_url: str
    crm_url: str
    warehouse_dsn: str
    created: tuple[str, ...]


def _dsn(admin_dsn: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo("", **info)


def _sqlalchemy_url(dsn: str) -> str:
    """The stand-in source URL for a libpq DSN (SQLAlchemy escapes the password)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    port = info.get("port")
    return URL.create(
        "postgresql+psycopg",
        username=str(info.get("user", "postgres")),
        password=str(info["password"]) if info.get("password") else None,
        host=str(info.get("host", "127.0.0.1")),
        port=int(port) if port else None,
        database=str(info["dbname"]),
    ).render_as_string(hide_password=False)


def ensure_databases(settings: LocalSettings) -> LocalDatabases:
    """Create the databases that are missing; never drop or touch existing data."""
    created: list[str] = []
    with psycopg.connect(settings.pg_admin_dsn, autocommit=True, connect_timeout=5) as conn:
        for name in (settings.ads_db, settings.crm_db, settings.warehouse_db):
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
    return LocalDatabases(
        ads_url=_sqlalchemy_url(_dsn(settings.pg_admin_dsn, settings.ads_db)),
        crm_url=_sqlalchemy_url(_dsn(settings.pg_admin_dsn, settings.crm_db)),
        warehouse_dsn=_dsn(settings.pg_admin_dsn, settings.warehouse_db),
        created=tuple(created),
    )


def drop_databases(settings: LocalSettings) -> list[str]:
    """Drop the three databases (``promptsales down --delete-data``)."""
    dropped: list[str] = []
    with psycopg.connect(settings.pg_admin_dsn, autocommit=True, connect_timeout=5) as conn:
        for name in (settings.ads_db, settings.crm_db, settings.warehouse_db):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            dropped.append(name)
    return dropped


def write_secret_files(directory: Path, values: dict[str, str]) -> Path:
    """Write one 0600 file per setting, the layout of a mounted Kubernetes Secret."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, value in values.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
    return directory
