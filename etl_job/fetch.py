"""Read a compiled extract as plain tuples from the driver cursor under a SQLAlchemy connection.

SQLAlchemy stays in charge of the source: it owns the engine, the connection, the
transaction (and so the snapshot the change bound was read in) and compiles the statement
for the dialect. Only the row fetch goes one level down, because building a SQLAlchemy
``Row`` per source row cost about a sixth of a full load's client CPU and the load needs
nothing a tuple does not give.

- PostgreSQL stand-in (psycopg 3): a named (server-side) cursor, ``FETCH`` ``batch_rows`` at
  a time, so memory stays bounded whatever the table size; text format, which psycopg
  parses faster than binary for these column types.
- SQL Server (pyodbc): pyodbc has no server-side cursors; the driver streams the result
  set and ``arraysize`` sets how many rows each ``fetchmany`` takes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from psycopg.types.string import TextLoader
from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_cursor_ids = itertools.count()


def driver_statement(
    conn: Connection, statement: ClauseElement, params: Mapping[str, Any]
) -> tuple[str, Sequence[Any] | Mapping[str, Any]]:
    """SQL text and driver parameters of ``statement`` compiled for ``conn``'s dialect.

    Positional dialects (pyodbc's ``?``) get a list in placeholder order, named ones
    (psycopg's ``%(name)s``) a mapping.
    """
    compiled = statement.compile(dialect=conn.dialect)
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"not a SQL statement: {type(statement).__name__}")
    values = dict(compiled.construct_params(dict(params)))
    if compiled.positional:
        order = compiled.positiontup or []
        return compiled.string, [values[name] for name in order]
    return compiled.string, values


def stream_tuples(
    conn: Connection,
    statement: ClauseElement,
    params: Mapping[str, Any],
    batch_rows: int,
    *,
    iso_dates: bool = False,
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of at most ``batch_rows`` row tuples of ``statement``, in ``conn``'s transaction.

    ``conn`` must already be inside its transaction (the change bound was read on it), so
    the rows come from the same snapshot.

    ``iso_dates``: on the stand-in, ``date`` and ``timestamp`` columns arrive as the
    server's ISO text (``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS``) instead of Python objects.
    For the customers, whose dates are only serialized again (the encrypted JSON has the
    birth date as that very text) or cut to a day: a date object cost its parse here and
    about 1.7 µs more to pickle to the encryption worker. Other drivers still return
    objects; readers of such rows take both.
    """
    sql, args = driver_statement(conn, statement, params)
    fairy = conn.connection
    psycopg_rows = conn.dialect.name == "postgresql"  # psycopg's rows are tuples already
    if psycopg_rows:
        driver = fairy.driver_connection
        assert driver is not None
        cursor = driver.cursor(name=f"etl_extract_{next(_cursor_ids)}")
        if iso_dates:
            driver.execute("SET LOCAL DateStyle = 'ISO'")  # the text format relied on
            for type_name in ("date", "timestamp"):
                cursor.adapters.register_loader(type_name, TextLoader)
    else:
        cursor = fairy.cursor()
        cursor.arraysize = batch_rows
    try:
        cursor.execute(sql, args)
        while batch := cursor.fetchmany(batch_rows):
            yield batch if psycopg_rows else [tuple(row) for row in batch]
    finally:
        cursor.close()
