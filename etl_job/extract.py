"""Incremental extract: which rows of a source view a run reads, as SQLAlchemy Core.

A run reads, per view, the rows whose ``change_version`` lies in ``[low, high)``: ``low`` is
the watermark the previous run of the same scope stored, ``high`` is the source's *safe
upper bound*, below which no transaction can still commit a change:

* SQL Server: ``MIN_ACTIVE_ROWVERSION()``, the lowest rowversion of any open transaction
  (or the next one to be handed out). Every row below it is committed.
* PostgreSQL stand-in: the oldest transaction id still running *that could write to this
  database* (see :data:`PG_CHANGE_BOUND_SQL`). The stand-in's ``row_version`` is the
  writing transaction's id (stamped by a trigger), so every row below the bound comes from
  a finished transaction. A plain
  sequence would not do: sequence values are handed out at write time, not commit time,
  so a transaction that took value 10 and commits after another that took 11 would be
  skipped once the watermark passed 11. That is the late-commit problem the bound solves.

The bound is read in the same snapshot as the rows (REPEATABLE READ on the stand-in), so a
row is either visible now with a version below the bound or will show up in a later window.
Because every row read has a version below the bound of its own snapshot, a later state of
a row always carries a higher version than an earlier state any run has read, which is what
lets the load keep the newest version when runs of different scopes overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Executable,
    Select,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    union,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from etl_job.source_model import VIEWS, WATERMARK_TYPE

EXTRACT_ORDER: tuple[str, ...] = (
    "v_channel",
    "v_campaign",
    "v_ad",
    "v_ad_metrics_daily",
    "v_customer",
    "v_lead",
    "v_conversion",
    "v_ad_metrics_daily_deleted",
    "v_customer_deleted",
    "v_lead_deleted",
    "v_conversion_deleted",
)
"""Parents before children, so the load can check references against what it just merged;
the deletes (tombstone views) last, after every row they could remove has been merged."""

DELETE_VIEWS: dict[str, str] = {
    "v_ad_metrics_daily_deleted": "v_ad_metrics_daily",
    "v_customer_deleted": "v_customer",
    "v_lead_deleted": "v_lead",
    "v_conversion_deleted": "v_conversion",
}
"""Tombstone view → the view whose rows it deletes."""

UNSCOPED_VIEWS = ("v_channel", "v_customer_deleted")
"""Read whole by every scope: a handful of channels, and customer deletes (customers belong
to no campaign; a deleted customer must leave the warehouse whichever scope runs next)."""


@dataclass(frozen=True)
class Scope:
    """One campaign (the CronJob's scope) or all of them."""

    campaign_id: int | None = None

    @property
    def name(self) -> str:
        return "all" if self.campaign_id is None else f"campaign:{self.campaign_id}"


PG_OTHER_DATABASE_XIDS_SQL = """
SELECT COALESCE(array_agg(a.backend_xid::text::bigint), '{}'::bigint[])
FROM pg_stat_activity AS a
WHERE a.backend_xid IS NOT NULL
  AND a.datname IS DISTINCT FROM current_database()
"""
"""Ids (32-bit) of transactions running now on sessions of other databases.

Read in its own short transaction *before* the snapshot the bound is computed in: see
:data:`PG_CHANGE_BOUND_SQL` for why.
"""

PG_CHANGE_BOUND_SQL = """
SELECT COALESCE(
    (SELECT min(x::text::bigint)
     FROM pg_snapshot_xip(s.snap) AS x
     WHERE x::text::bigint % 4294967296 <> ALL (:other_xids)
       AND NOT EXISTS (
         SELECT 1 FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL
           AND a.datname IS DISTINCT FROM current_database()
           AND a.backend_xid::text::bigint = x::text::bigint % 4294967296)),
    pg_snapshot_xmax(s.snap)::text::bigint)
FROM (SELECT pg_current_snapshot() AS snap) AS s
"""
"""The stand-in's bound: the lowest in-progress xid of this snapshot, else its ``xmax``.

``pg_snapshot_xmin`` alone would be correct but is cluster-wide: one long transaction in
*another* database would freeze every source's watermark. So in-progress ids are skipped
only when they are positively known to belong to a session of another database (a session
never writes outside its database, so such an id can never hide a row of this one). An id
that cannot be attributed (prepared transaction, stats hidden from this role, or the timing
below) still counts, which can only make the bound lower, i.e. delay a row to the next run,
never skip it.

Attribution comes from two reads of ``pg_stat_activity``, because neither alone covers
every id of the snapshot. The snapshot is taken when the bound statement starts, and
``pg_stat_activity`` is read (then cached for the rest of the transaction) a moment *later*:
an id of another database that finishes in between is in the snapshot but no longer shown,
so on its own that read lowered the bound whenever another database committed at the wrong
moment (constant under parallel tests). ``:other_xids`` is the same question asked just
*before* the transaction started (:data:`PG_OTHER_DATABASE_XIDS_SQL`): it covers every id
that was already running then. What neither covers is an id of another database that
starts after the earlier read and ends within the microseconds between snapshot and the
later read; such an id is counted (a delay, not a loss).

An id of another database stays that database's for good, so an earlier read never
misattributes. Ids are compared modulo 2**32 (``backend_xid`` is the 32-bit ``xid``, the
snapshot holds 64-bit ``xid8``): ids running at the same moment are far less than 2**31
apart, so the low 32 bits name one transaction.
"""


def change_bound_query(dialect_name: str) -> Executable:
    """The safe upper bound of change versions on this engine (see module docstring).

    On PostgreSQL it binds ``other_xids``; :func:`read_change_bound` supplies it.
    """
    if dialect_name == "mssql":
        return select(cast(func.MIN_ACTIVE_ROWVERSION(), BigInteger))
    if dialect_name == "postgresql":
        return text(PG_CHANGE_BOUND_SQL).bindparams(
            bindparam("other_xids", type_=postgresql.ARRAY(BigInteger))
        )
    raise ValueError(f"no change-version bound for dialect {dialect_name!r}")


def read_change_bound(conn: Connection) -> int:
    """Start the connection's read transaction with the bound, its first statement.

    On the stand-in the other databases' running ids are read first, in a transaction of
    their own, so that they predate the snapshot (see :data:`PG_CHANGE_BOUND_SQL`); the
    connection must not be in a transaction yet, or the snapshot would already be taken.
    """
    dialect = conn.dialect.name
    if dialect != "postgresql":
        return int(conn.execute(change_bound_query(dialect)).scalar_one())
    if conn.in_transaction():
        raise RuntimeError("the change bound must start the connection's transaction")
    other_xids = list(conn.execute(text(PG_OTHER_DATABASE_XIDS_SQL)).scalar_one())
    conn.commit()
    bound = conn.execute(change_bound_query(dialect), {"other_xids": other_xids})
    return int(bound.scalar_one())


def _at_least(column: ColumnElement[Any], bound: str) -> ColumnElement[bool]:
    return column >= _watermark(column, bound)


def _below(column: ColumnElement[Any], bound: str) -> ColumnElement[bool]:
    return column < _watermark(column, bound)


def _watermark(column: ColumnElement[Any], bound: str) -> ColumnElement[Any]:
    """The bound as the column compares it: a raw row_version takes the watermark as
    ``binary(8)`` on SQL Server (see ``WATERMARK_TYPE``), ``change_version`` as bigint."""
    param = bindparam(bound, type_=BigInteger)
    if column.name in VERSION_COLUMNS:
        return cast(param, WATERMARK_TYPE)
    return param


def _version(view_name: str) -> ColumnElement[Any]:
    """The column a view's window is on: its raw ``row_version`` where it has one (every
    view of one table), else ``change_version`` (the campaign, over three tables)."""
    view = VIEWS[view_name]
    return view.c.row_version if "row_version" in view.c else view.c.change_version


def _window(view_name: str) -> ColumnElement[bool]:
    version = _version(view_name)
    return _at_least(version, "low") & _below(version, "high")


SPEND_CENTS = "spend_cents"
"""What the metrics extract calls ad spend: integer cents, not the view's ``numeric``."""


def extract_columns(view_name: str) -> list[ColumnElement[Any]]:
    """The columns a run reads from ``view_name``: the view's, with ad spend in cents.

    ``spend`` is ``numeric(14, 2)``, so ``spend * 100`` is an exact integer. Read as cents,
    the 200K-row metrics stream costs the client an ``int`` parse and an ``int8`` dump per
    row instead of a ``Decimal`` parse and psycopg's ``numeric`` dump (≈ 0.6 µs a row on
    the GIL-bound main thread); the warehouse stores the cents (``fact_ad_daily.spend_cents``)
    and sums them into the numeric ``spend`` of the KPI aggregate. The views themselves keep
    ``spend``: they are the sources' contract, and other readers (the benchmark's
    references) read them as is.
    """
    view = VIEWS[view_name]
    hundred = literal_column("100", BigInteger)
    return [
        cast(c * hundred, BigInteger).label(SPEND_CENTS) if c.name == "spend" else c
        for c in view.c
        if c.name not in VERSION_COLUMNS
    ]


METRICS_VERSION_PARTS = ("metric_version", "ad_version")
"""The two raw row versions ``v_ad_metrics_daily.change_version`` is the greater of."""
VERSION_COLUMNS = ("row_version", *METRICS_VERSION_PARTS)
"""Raw ``row_version`` columns the views expose for the window only (not loaded)."""


def _metrics_query(scope: Scope) -> CompoundSelect[Any]:
    """Metrics rows whose version (the greater of the row's and its ad's) is in the window.

    Written as two disjoint branches, each a range on one table's own ``row_version``, so
    that each can be served by that table's index: rows changed themselves (with an ad not
    newer than the bound), and rows of ads changed in the window whose own version lies
    below it (a moved or corrected ad: every metrics row of it, through the metrics key).
    A range on the greater of the two could only be evaluated row by row.
    """
    view = VIEWS["v_ad_metrics_daily"]
    metric, ad = view.c.metric_version, view.c.ad_version
    columns = extract_columns("v_ad_metrics_daily")
    changed_rows = select(*columns).where(
        _at_least(metric, "low"), _below(metric, "high"), or_(ad.is_(None), _below(ad, "high"))
    )
    changed_ads = select(*columns).where(
        _at_least(ad, "low"), _below(ad, "high"), _below(metric, "low")
    )
    if scope.campaign_id is not None:
        campaign = bindparam("campaign_id", value=scope.campaign_id, type_=BigInteger)
        changed_rows = changed_rows.where(view.c.campaign_id == campaign)
        changed_ads = changed_ads.where(view.c.campaign_id == campaign)
    return union_all(changed_rows, changed_ads)


def extract_query(view_name: str, scope: Scope) -> Select[Any] | CompoundSelect[Any]:
    """Rows of ``view_name`` a run of ``scope`` reads; binds ``low``, ``high`` (and campaign)."""
    if view_name == "v_ad_metrics_daily":
        return _metrics_query(scope)
    view = VIEWS[view_name]
    query = select(*extract_columns(view_name)).where(_window(view_name))
    if scope.campaign_id is None or view_name in UNSCOPED_VIEWS:
        return query
    campaign = bindparam("campaign_id", value=scope.campaign_id, type_=BigInteger)
    if view_name != "v_customer":
        return query.where(view.c.campaign_id == campaign)
    # A campaign's customers: those changed in the window that the campaign references,
    # plus those newly referenced by a lead or conversion that changed in the window (an
    # old customer row the campaign's earlier runs never needed).
    lead, conv = VIEWS["v_lead"], VIEWS["v_conversion"]
    referenced = union(
        select(lead.c.customer_id).where(lead.c.campaign_id == campaign),
        select(conv.c.customer_id).where(conv.c.campaign_id == campaign),
    )
    newly_referenced = union(
        select(lead.c.customer_id).where(lead.c.campaign_id == campaign, _window("v_lead")),
        select(conv.c.customer_id).where(conv.c.campaign_id == campaign, _window("v_conversion")),
    )
    # Two selects, not one with OR: an OR of two IN-lists cannot be served by the
    # customers' key, it scanned every customer (EXPLAIN, 60K customers); each half is a
    # semi-join on the key. UNION drops a customer that both halves find.
    version = _version("v_customer")
    columns = extract_columns("v_customer")
    changed = select(*columns).where(
        _below(version, "high"),
        _at_least(version, "low"),
        view.c.customer_id.in_(referenced.scalar_subquery()),
    )
    newly = select(*columns).where(
        _below(version, "high"), view.c.customer_id.in_(newly_referenced.scalar_subquery())
    )
    return union(changed, newly)
