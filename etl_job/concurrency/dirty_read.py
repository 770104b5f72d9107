"""Dirty read: a reader sees a balance that a writer later rolls back.

PostgreSQL cannot show this anomaly: it accepts READ UNCOMMITTED but runs it as READ
COMMITTED. MariaDB (InnoDB) honours READ UNCOMMITTED, so the anomaly is staged there and
prevented there by READ COMMITTED; the PostgreSQL run is included as evidence of why a
second engine is needed. No session blocks in this scenario, so the two connections are
interleaved step by step from one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import psycopg
import pymysql
from pymysql.cursors import Cursor

from etl_job.concurrency.databases import mariadb_database, postgres_database
from etl_job.concurrency.outcome import Outcome, Trace

SCENARIO = "dirty-read"
START_BALANCE = 100
WITHDRAWAL = 100


class _Session(Protocol):
    """The four statements the story needs, whatever the driver."""

    table_options: str

    def execute(self, statement: str) -> None: ...
    def begin(self, isolation: str) -> None: ...
    def balance(self) -> int: ...
    def close(self) -> None: ...


class _PostgresSession:
    table_options = ""

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)

    def execute(self, statement: str) -> None:
        self._conn.execute(statement)

    def begin(self, isolation: str) -> None:
        self.execute(f"BEGIN ISOLATION LEVEL {isolation}")

    def balance(self) -> int:
        row = self._conn.execute("SELECT balance FROM account WHERE id = 1").fetchone()
        return int(row[0]) if row else -1

    def close(self) -> None:
        self._conn.close()


class _MariaDBSession:
    # Only a transactional engine has isolation levels at all.
    table_options = " ENGINE=InnoDB"

    def __init__(self, conn: pymysql.connections.Connection[Cursor]) -> None:
        self._conn = conn

    def execute(self, statement: str) -> None:
        with self._conn.cursor() as cur:
            cur.execute(statement)

    def begin(self, isolation: str) -> None:
        # MariaDB's SET TRANSACTION (no GLOBAL/SESSION) applies to the next transaction only.
        self.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        self.execute("START TRANSACTION")

    def balance(self) -> int:
        with self._conn.cursor() as cur:
            cur.execute("SELECT balance FROM account WHERE id = 1")
            row = cur.fetchone()
        return int(row[0]) if row else -1

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True)
class _Variant:
    name: str
    engine: str
    reader_isolation: str
    protected: bool


VARIANTS = (
    _Variant("read-uncommitted", "mariadb", "READ UNCOMMITTED", protected=False),
    _Variant("read-committed", "mariadb", "READ COMMITTED", protected=True),
    _Variant("read-uncommitted-requested", "postgresql", "READ UNCOMMITTED", protected=True),
)


def _stage(writer: _Session, reader: _Session, variant: _Variant) -> Outcome:
    trace = Trace()
    writer.execute(
        f"CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL){writer.table_options}"
    )
    writer.execute(f"INSERT INTO account VALUES (1, {START_BALANCE})")
    trace.step("setup", f"account 1 committed with balance={START_BALANCE}")

    writer.execute("START TRANSACTION")
    writer.execute(f"UPDATE account SET balance = balance - {WITHDRAWAL} WHERE id = 1")
    trace.step("T1", f"withdraws {WITHDRAWAL}, not committed yet")

    reader.begin(variant.reader_isolation)
    seen = reader.balance()
    reader.execute("COMMIT")
    trace.step("T2", f"reads at {variant.reader_isolation}: balance={seen}")

    writer.execute("ROLLBACK")
    committed = writer.balance()
    trace.step("T1", f"rolls back; committed balance={committed}")

    dirty = seen != committed
    summary = (
        f"reader saw {seen}, a value that was never committed (committed: {committed})"
        if dirty
        else f"reader saw {seen}, the committed value"
    )
    return Outcome(
        scenario=SCENARIO,
        variant=variant.name,
        engine=variant.engine,
        protected=variant.protected,
        anomaly=dirty,
        summary=summary,
        steps=trace.freeze(),
        facts={"seen": seen, "committed": committed, "isolation": variant.reader_isolation},
    )


def _run_mariadb(mariadb_url: str, variant: _Variant) -> Outcome:
    with mariadb_database(mariadb_url, SCENARIO) as target:
        writer = _MariaDBSession(target.connect(autocommit=True))
        reader = _MariaDBSession(target.connect(autocommit=True))
        try:
            return _stage(writer, reader, variant)
        finally:
            writer.close()
            reader.close()


def _run_postgres(admin_dsn: str, variant: _Variant) -> Outcome:
    with postgres_database(admin_dsn, SCENARIO) as dsn:
        writer, reader = _PostgresSession(dsn), _PostgresSession(dsn)
        try:
            return _stage(writer, reader, variant)
        finally:
            writer.close()
            reader.close()


def simulate(admin_dsn: str, mariadb_url: str) -> list[Outcome]:
    """Every variant, each in its own throwaway database."""
    return [
        _run_mariadb(mariadb_url, v) if v.engine == "mariadb" else _run_postgres(admin_dsn, v)
        for v in VARIANTS
    ]
