"""Throwaway databases and session plumbing shared by the simulations.

Every run creates its own database and drops it afterwards, so simulations can run in
parallel (tests use xdist) and never touch data anybody else owns.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pymysql
from psycopg import sql
from psycopg.rows import TupleRow
from pymysql.cursors import Cursor
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from promptsales.logs import redact_text

#: Upper bound for any single wait on the other session; reaching it means the
#: interleaving went wrong, and the simulation fails loudly instead of hanging.
STEP_TIMEOUT_S = 30.0


class SimulationError(RuntimeError):
    """A simulation could not be staged (server unreachable, interleaving broke)."""


def _database_name(scenario: str) -> str:
    return f"ps_sim_{scenario.replace('-', '_')}_{uuid.uuid4().hex[:10]}"


@contextmanager
def postgres_database(admin_dsn: str, scenario: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one run; yields its DSN and drops it afterwards."""
    name = _database_name(scenario)
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SimulationError(
            f"PostgreSQL is not reachable ({redact_text(str(exc)).strip()}); set "
            "PROMPTSALES_ETL_SIM_POSTGRES_DSN or start the server"
        ) from None
    with admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise SimulationError(
                f"cannot create a throwaway PostgreSQL database ({exc.sqlstate}): the "
                "PROMPTSALES_ETL_SIM_POSTGRES_DSN role needs CREATEDB"
            ) from None
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class MariaDBTarget:
    """Connection parameters of one MariaDB database (the password never reaches a message)."""

    host: str
    port: int
    user: str
    password: str
    database: str | None = None

    def connect(self, *, autocommit: bool = False) -> pymysql.connections.Connection[Cursor]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            autocommit=autocommit,
            connect_timeout=5,
        )


def parse_mariadb_url(url: str) -> MariaDBTarget:
    """Read a SQLAlchemy-style ``mysql+pymysql://user:pw@host:port/`` URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SimulationError(
            "PROMPTSALES_ETL_SIM_MARIADB_URL is not a URL like mysql+pymysql://root@127.0.0.1:3306/"
        ) from None
    if not parsed.drivername.startswith(("mysql", "mariadb")):
        raise SimulationError(
            "PROMPTSALES_ETL_SIM_MARIADB_URL must be a mysql:// or mariadb:// URL"
        )
    return MariaDBTarget(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
    )


@contextmanager
def mariadb_database(url: str, scenario: str) -> Iterator[MariaDBTarget]:
    """A fresh MariaDB database for one run; yields its target and drops it afterwards."""
    server = parse_mariadb_url(url)
    name = _database_name(scenario)
    try:
        admin = server.connect(autocommit=True)
    except pymysql.err.OperationalError as exc:
        raise SimulationError(
            f"MariaDB is not reachable at {server.host}:{server.port} ({exc.args[-1]}); start it "
            "with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
        ) from None
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield MariaDBTarget(server.host, server.port, server.user, server.password, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def wait_until_lock_wait(observer: psycopg.Connection[TupleRow], backend_pid: int) -> None:
    """Block until PostgreSQL reports ``backend_pid`` waiting on a lock.

    This is how a simulation proves the other session is really queued behind a lock
    before it lets the lock holder continue: a condition checked in the server's own
    view, not a guess about how long a thread needs.
    """
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        row = observer.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.005)
    raise SimulationError(f"session {backend_pid} never waited on a lock")
