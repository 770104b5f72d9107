"""First load: facts COPY straight into their partitioned tables, no staging round trip.

When all fact tables are empty (a new warehouse, the seed's initial load) nothing can be
replaced or conflict, so the staging table, the conflict arbitration and the second write
of every row are pure cost. This path runs under the merge lock taken *before* extraction
(so no other run can add facts meanwhile), merges dimensions first, then validates fact
rows in Python with the same rules, in the same order, as the SQL quarantine of
:mod:`etl_job.load`, and COPYs accepted rows directly into the facts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any

import psycopg

from etl_job.customer_rows import COPY_SIGNATURE, COPY_TRAILER, CustomerBlock
from etl_job.extract import SPEND_CENTS

FACT_VIEWS = ("v_ad_metrics_daily", "v_lead", "v_conversion")
Row = Sequence[Any]
Rule = Callable[[Row], str | None]
Accept = Callable[[Sequence[Row]], list[Row]]


@dataclass(frozen=True)
class DirectFact:
    """How a view's rows become rows of its fact table."""

    view: str
    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    day_column: str
    key: Callable[[Row], str]
    day: Callable[[Row], dt.date]
    prepend_day: bool
    day_at: int
    """Position of the column ``day`` derives from (a date, or a timestamp whose date it is)."""


DIRECT_FACTS: dict[str, DirectFact] = {
    "v_ad_metrics_daily": DirectFact(
        view="v_ad_metrics_daily",
        table="fact_ad_daily",
        columns=(
            "ad_id",
            "campaign_id",
            "day",
            "impressions",
            "clicks",
            "spend_cents",  # ad spend in integer cents (see warehouse.sql)
            "conversions",
            "source_version",
        ),
        types=("int4", "int4", "date", "int8", "int8", "int8", "int4", "int8"),
        day_column="day",
        key=lambda r: f"{r[0]}/{r[2]}",
        day=lambda r: r[2],
        prepend_day=False,
        day_at=2,
    ),
    "v_lead": DirectFact(
        view="v_lead",
        table="fact_lead",
        columns=(
            "day",
            "lead_id",
            "customer_id",
            "campaign_id",
            "created_at",
            "status",
            "source_version",
        ),
        types=("date", "int4", "int4", "int4", "timestamp", "text", "int8"),
        day_column="created_at",
        key=lambda r: str(r[0]),
        day=lambda r: r[3].date(),
        prepend_day=True,
        day_at=3,
    ),
    "v_conversion": DirectFact(
        view="v_conversion",
        table="fact_conversion",
        columns=(
            "day",
            "conversion_id",
            "customer_id",
            "campaign_id",
            "lead_id",
            "converted_at",
            "revenue",
            "source_version",
        ),
        types=("date", "int4", "int4", "int4", "int4", "timestamp", "numeric", "int8"),
        day_column="converted_at",
        key=lambda r: str(r[0]),
        day=lambda r: r[4].date(),
        prepend_day=True,
        day_at=4,
    ),
}


def rule_for(view: str, campaigns: set[int], ads: set[int]) -> Rule:
    """The quarantine rule of ``view`` (mirror of ``ViewLoad.reason_sql``, same order)."""
    if view == "v_ad_metrics_daily":

        def metrics(r: Row) -> str | None:
            ad_id, campaign_id, day, imp, clicks, spend_cents, conv = r[:7]
            if ad_id is None or day is None:
                return "missing key"
            if campaign_id is None:
                return "unknown ad"
            if imp < 0 or clicks < 0 or spend_cents < 0 or conv < 0:
                return "negative metric"
            if campaign_id not in campaigns:
                return "unknown campaign"
            if ad_id not in ads:
                return "unknown ad"
            return None

        return metrics
    if view == "v_lead":

        def lead(r: Row) -> str | None:
            if r[1] is None:
                return "missing customer_id"
            if r[2] is None:
                return "missing campaign_id"
            if r[2] not in campaigns:
                return "unknown campaign"
            return None

        return lead

    def conversion(r: Row) -> str | None:
        if r[1] is None:
            return "missing customer_id"
        if r[2] is None:
            return "missing campaign_id"
        if r[5] < 0:
            return "negative revenue"
        if r[2] not in campaigns:
            return "unknown campaign"
        return None

    return conversion


def accept_for(view: str, campaigns: set[int], ads: set[int]) -> Accept:
    """The rows of a batch that ``rule_for(view, ...)`` passes, without a call per row.

    Checking every row through the rule function cost about a tenth of the client's time on
    a large first load; one comprehension with the conditions inline does the same test for
    the common case of a batch with no bad row. ``None`` is never in ``campaigns`` or
    ``ads``, so membership also rejects missing keys. When the result is shorter than the
    batch, :func:`copy_facts` runs the rule over that batch to name each row's reason.
    """
    if view == "v_ad_metrics_daily":
        return lambda batch: [
            r
            for r in batch
            if r[0] in ads
            and r[1] in campaigns
            and r[2] is not None
            and r[3] >= 0
            and r[4] >= 0
            and r[5] >= 0
            and r[6] >= 0
        ]
    if view == "v_lead":
        return lambda batch: [r for r in batch if r[1] is not None and r[2] in campaigns]
    return lambda batch: [r for r in batch if r[1] is not None and r[2] in campaigns and r[5] >= 0]


def facts_empty(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM warehouse.fact_ad_daily) "
        "AND NOT EXISTS (SELECT 1 FROM warehouse.fact_lead) "
        "AND NOT EXISTS (SELECT 1 FROM warehouse.fact_conversion)"
    ).fetchone()
    return bool(row and row[0])


def known_keys(conn: psycopg.Connection) -> tuple[set[int], set[int]]:
    campaigns = {r[0] for r in conn.execute("SELECT campaign_id FROM warehouse.dim_campaign")}
    ads = {r[0] for r in conn.execute("SELECT ad_id FROM warehouse.dim_ad")}
    return campaigns, ads


SECONDARY_INDEXES_SQL = """
SELECT c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary
ORDER BY c.relname
"""


DEFER_INDEX_ROWS = 20_000
"""From this many rows on, a first load builds fact secondary indexes after the COPY."""


def drop_secondary_indexes(conn: psycopg.Connection, table: str) -> list[str]:
    """Drop the fact table's non-unique indexes; returns the statements that recreate them.

    Building an index once over the loaded rows costs about half of maintaining it row by
    row during the COPY. Only for a first load: the caller holds the merge lock, the facts
    are empty and the partition DDL of this transaction already keeps readers out until
    COMMIT, and the drop, the COPY and the rebuild commit or roll back together, so no
    committed state ever lacks an index. Unique indexes (the primary key) stay: they are
    constraints and keep checking every row as it arrives.
    """
    rows = conn.execute(SECONDARY_INDEXES_SQL, (f"warehouse.{table}",)).fetchall()
    statements = []
    for name, definition in rows:
        conn.execute(f"DROP INDEX warehouse.{name}")  # names come from pg_class, not input
        # pg_get_indexdef says "ON ONLY" for a partitioned index; recreate it on every
        # partition, as warehouse.sql does.
        statements.append(str(definition).replace(" ON ONLY ", " ON ", 1))
    return statements


@dataclass
class DirectResult:
    loaded: int = 0
    quarantined: int = 0


def _as_day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _month_span(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """First day of ``first``'s month, last day of ``last``'s month."""
    following = (last.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first.replace(day=1), following - dt.timedelta(days=1)


def _payload(view_columns: Sequence[str], row: Row) -> dict[str, Any]:
    """A quarantined row as the source view has it: ad spend back from cents to money."""
    payload = dict(zip(view_columns, row, strict=True))
    if SPEND_CENTS in payload:
        cents = payload.pop(SPEND_CENTS)
        payload["spend"] = None if cents is None else Decimal(cents).scaleb(-2)
    return payload


def copy_facts(
    conn: psycopg.Connection,
    fact: DirectFact,
    batches: Iterable[Sequence[Row]],
    rule: Rule,
    accept: Accept,
    run_id: int,
    view_columns: Sequence[str],
) -> DirectResult:
    """Validate and COPY rows into the fact table; rejected rows go to the quarantine.

    ``accept`` must pass exactly the rows ``rule`` has no reason against (see
    :func:`accept_for`). Monthly partitions are created as rows need them: a batch with a
    day outside the months covered so far ends the COPY, creates the missing partitions
    and starts a new COPY. Rows come in no particular order, so the first batch usually
    covers every month; this spares the source a second pass over the window (a
    ``min``/``max`` query) before the load.
    """
    result = DirectResult()
    rejected: list[tuple[Any, ...]] = []
    columns = ", ".join(fact.columns)
    statement = f"COPY warehouse.{fact.table} ({columns}) FROM STDIN (FORMAT BINARY)"
    day_of = itemgetter(fact.day_at)
    covered: tuple[dt.date, dt.date] | None = None
    with conn.cursor() as cur, contextlib.ExitStack() as open_copy:
        copy: psycopg.Copy | None = None
        prepend, day = fact.prepend_day, fact.day
        for batch in batches:
            good = accept(batch)
            if len(good) != len(batch):
                good = []
                for row in batch:
                    reason = rule(row)
                    if reason is None:
                        good.append(row)
                        continue
                    payload = json.dumps(_payload(view_columns, row), default=str)
                    rejected.append((run_id, fact.view, fact.key(row), reason, payload))
            if not good:
                continue
            first = _as_day(min(map(day_of, good)))
            last = _as_day(max(map(day_of, good)))
            if covered is None or first < covered[0] or last > covered[1]:
                open_copy.close()  # no DDL while a COPY is in progress
                copy = None
                if covered is not None:
                    first, last = min(first, covered[0]), max(last, covered[1])
                conn.execute(
                    "SELECT warehouse.ensure_month_partitions(%s, %s::date, %s::date)",
                    (fact.table, first, last),
                )
                covered = _month_span(first, last)
            if copy is None:
                copy = open_copy.enter_context(cur.copy(statement))
                copy.set_types(list(fact.types))
            write_row = copy.write_row
            if prepend:
                for row in good:
                    write_row((day(row), *row))
            else:
                for row in good:
                    write_row(row)
            result.loaded += len(good)
    result.quarantined = _record_rejected(conn, rejected)
    return result


def _record_rejected(conn: psycopg.Connection, rejected: Sequence[tuple[Any, ...]]) -> int:
    """Write rows a bulk load refused to ``etl_quarantine`` (in the load's transaction);
    how many."""
    if rejected:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO warehouse.etl_quarantine (run_id, source_view, source_key, reason, "
                "payload) VALUES (%s, %s, %s, %s, %s::jsonb)",
                rejected,
            )
    return len(rejected)


BULK_AGGREGATES_SQL = (
    "DELETE FROM warehouse.agg_campaign_daily",
    """
    INSERT INTO warehouse.agg_campaign_daily AS a (campaign_id, day, impressions, clicks, spend,
        platform_conversions, leads, conversions, revenue)
    SELECT campaign_id, day, COALESCE(ad.impressions, 0), COALESCE(ad.clicks, 0),
           COALESCE(ad.spend, 0), COALESCE(ad.conversions, 0), COALESCE(ld.leads, 0),
           COALESCE(cv.conversions, 0), COALESCE(cv.revenue, 0)
    FROM (SELECT campaign_id, day, sum(impressions) AS impressions, sum(clicks) AS clicks,
                 sum(spend_cents) / 100.0 AS spend, sum(conversions) AS conversions
          FROM warehouse.fact_ad_daily GROUP BY campaign_id, day) ad
    FULL JOIN (SELECT campaign_id, day, count(*) AS leads
               FROM warehouse.fact_lead GROUP BY campaign_id, day) ld USING (campaign_id, day)
    FULL JOIN (SELECT campaign_id, day, count(*) AS conversions, sum(revenue) AS revenue
               FROM warehouse.fact_conversion GROUP BY campaign_id, day) cv
         USING (campaign_id, day)
    """,
    """
    INSERT INTO warehouse.dim_date (day, year, quarter, month, iso_week, day_of_week, is_weekend)
    SELECT d, extract(year FROM d), extract(quarter FROM d), extract(month FROM d),
           extract(week FROM d), extract(isodow FROM d), extract(isodow FROM d) >= 6
    FROM (SELECT DISTINCT day AS d FROM warehouse.agg_campaign_daily) days
    ON CONFLICT (day) DO NOTHING
    """,
)
"""Aggregates derive from facts only, and the facts were empty: after clearing anything left
behind (nothing, unless someone edited the table by hand) a plain INSERT cannot conflict.
Every day of any fact has an aggregate row, so the dates come from the (3x smaller)
aggregate instead of another scan of the facts."""


AGGREGATE_KEY_SQL = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'warehouse.agg_campaign_daily'::regclass AND contype = 'p'
"""


FACT_STATISTICS_TARGET = 10
"""Sample size of the statistics a first load gathers (x 300 rows per table)."""


@contextlib.contextmanager
def local_setting(conn: psycopg.Connection, name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` for the statements inside, then back to what it was, in
    this transaction only (``set_config(..., true)``). Not restored when the statements
    raise: the transaction is aborted then, and a restore would hide the error."""
    row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
    assert row is not None
    conn.execute("SELECT set_config(%s, %s, true)", (name, value))
    yield
    conn.execute("SELECT set_config(%s, %s, true)", (name, row[0]))


def analyze_facts(conn: psycopg.Connection) -> None:
    """Statistics for the partitioned fact tables a first load just filled.

    Autovacuum analyzes partitions but never a partitioned parent, and a merge joins its
    staged keys against the parent: without the parent's statistics every such join is
    planned on default guesses (a delete of 300 moved leads was estimated at 99,500 rows
    and scanned all 300,000 for them). A small sample is enough for what the merges need
    (key columns come out unique, ``n_distinct = -1``, and that scales as tables grow):
    ~0.1 s at design scale, against ~0.5 s at the default target. PostgreSQL 15 has no
    ``ANALYZE ONLY``, so the partitions get the small sample too; autovacuum analyzes them
    again at the server's target once enough of them changes.
    """
    tables = ", ".join(f"warehouse.{fact.table}" for fact in DIRECT_FACTS.values())
    with local_setting(conn, "default_statistics_target", str(FACT_STATISTICS_TARGET)):
        conn.execute(f"ANALYZE {tables}")


def refresh_all_aggregates(conn: psycopg.Connection) -> int:
    """Aggregates of a first load: every fact row is new, so group the facts whole.

    Grouped in key order, not by hashing: the facts' ``(campaign_id, day)`` indexes were
    just rebuilt, and walking them into a group aggregate beats a hash table of tens of
    thousands of groups, each with its own sum states (≈ 0.16 s against 0.22 s for 200K
    ad rows). Hash aggregation is switched off for that one statement only.

    The primary key is dropped before the insert and added back after it, in this
    transaction: one build over rows that arrive in key order costs less than inserting
    each of them into the index. The rows come from a ``GROUP BY`` of that very key, so
    the rebuild cannot meet a duplicate; if it ever did, the run would fail whole. The
    drop holds an exclusive lock on the table until COMMIT, so a reader waits for the
    finished aggregate instead of seeing the empty one (a first load only, like the fact
    partition DDL it follows).
    """
    key = conn.execute(AGGREGATE_KEY_SQL).fetchone()
    changed = 0
    for statement in BULK_AGGREGATES_SQL:
        inserting = statement.lstrip().startswith("INSERT INTO warehouse.agg_campaign_daily")
        if not inserting:
            conn.execute(statement)
            continue
        if key is not None:
            conn.execute(f"ALTER TABLE warehouse.agg_campaign_daily DROP CONSTRAINT {key[0]}")
        with local_setting(conn, "enable_hashagg", "off"):
            cur = conn.execute(statement)
        changed += max(cur.rowcount, 0)
        if key is not None:  # name and definition come from the catalog, not input
            conn.execute(
                f"ALTER TABLE warehouse.agg_campaign_daily ADD CONSTRAINT {key[0]} {key[1]}"
            )
    return changed


CUSTOMER_COLUMNS = (
    "customer_id",
    "email_hmac",
    "pii_key_id",
    "pii_ciphertext",
    "country",
    "created_day",
    "source_version",
)
_CUSTOMER_PAYLOAD = ("customer_id", "country", "created_day", "change_version")
"""What a quarantined customer's payload holds: the staged row without its private columns
(``load.quarantine`` drops email_hmac, pii_key_id and pii_ciphertext the same way)."""

CUSTOMERS_DIRECT_SQL = """
SELECT NOT EXISTS (SELECT 1 FROM warehouse.dim_customer)
   AND NOT EXISTS (SELECT 1 FROM warehouse.etl_deleted WHERE source_view = 'v_customer')
   AND NOT EXISTS (SELECT 1 FROM warehouse.etl_quarantine
                   WHERE source_view = 'v_customer' AND resolved_run_id IS NULL)
"""
"""A first load may COPY customers straight into ``dim_customer`` when nothing there can
conflict: no customer yet, no applied delete a staged row would have to be checked
against (``load.drop_deleted``), no open quarantine entry to supersede
(``load.reconsider_quarantine``). Otherwise they go through staging like any run."""


def customers_direct(conn: psycopg.Connection) -> bool:
    row = conn.execute(CUSTOMERS_DIRECT_SQL).fetchone()
    return bool(row and row[0])


def copy_customers(
    conn: psycopg.Connection, blocks: Iterable[CustomerBlock], run_id: int
) -> DirectResult:
    """First load of customers: encrypted rows straight into ``dim_customer``.

    The staged path wrote every customer twice (temp table, then ``INSERT ... SELECT``
    with its conflict arbitration), after the last row was read; here the COPY runs while
    the reader still fetches and encrypts, and the rows are written once, as the bytes
    :mod:`etl_job.customer_rows` formatted (no per-row work on this thread). The one
    quarantine rule of customers (``missing email``: no join key) was applied there; its
    rows are recorded here with the same reason and payload as the SQL rule.
    """
    result = DirectResult()
    rejected: list[tuple[Any, ...]] = []
    statement = (
        f"COPY warehouse.dim_customer ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(COPY_SIGNATURE)
        for block in blocks:
            copy.write(block.data)
            result.loaded += block.loaded
            for row in block.rejected:
                payload = dict(zip(_CUSTOMER_PAYLOAD, row, strict=True))
                rejected.append(
                    (
                        run_id,
                        "v_customer",
                        str(row[0]),
                        "missing email",
                        json.dumps(payload, default=str),
                    )
                )
        copy.write(COPY_TRAILER)
    result.quarantined = _record_rejected(conn, rejected)
    return result
