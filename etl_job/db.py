"""Connections to the sources (SQLAlchemy engines) and the warehouse (psycopg 3).

Kept apart from the ETL logic so the choice of driver per engine lives in one place: the
stand-in sources always go through psycopg 3 (never the psycopg2 SQLAlchemy would pick for a
bare ``postgresql://`` URL), production sources through ``mssql+pyodbc``.
"""

from __future__ import annotations

from sqlalchemy import URL, Engine, create_engine, make_url

STAND_IN_DRIVER = "postgresql+psycopg"
PRODUCTION_DRIVER = "mssql+pyodbc"


class SourceUrlError(ValueError):
    """A source URL names an engine the ETL does not support."""


def source_url(url: str) -> URL:
    """Parse a source URL, pinning psycopg 3 for the PostgreSQL stand-in."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername=STAND_IN_DRIVER)
    if backend == "mssql":
        return parsed
    raise SourceUrlError(
        f"unsupported source engine {backend!r}: expected mssql (production) "
        "or postgresql (stand-in)"
    )


def source_engine(url: str) -> Engine:
    """An engine for a source; no pool kept beyond the run (a CronJob process is short-lived)."""
    return create_engine(source_url(url), pool_pre_ping=False, pool_size=2, max_overflow=0)


def libpq_dsn(url: str) -> str:
    """The libpq DSN of a PostgreSQL stand-in source URL (for COPY in the seed generator)."""
    parsed = source_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SourceUrlError("the seed generator fills PostgreSQL stand-in sources only")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
