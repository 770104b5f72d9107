"""One ETL run: lock the scope, extract every view, load, advance watermarks, commit once.

Transaction shape (warehouse, one transaction per run):

1. ``pg_try_advisory_xact_lock(scope)``: a second run of the same scope waits up to
   ``lock_wait_seconds`` and then exits as *skipped*; it never loads the same changes twice.
2. A shared PII-keys lock, so a key rotation cannot retire the data key this run writes with.
3. Extract every view of both sources into temp staging tables (binary COPY).
4. ``pg_advisory_xact_lock(merge)``: merges of different scopes (``--all`` and a campaign)
   run one after the other, so aggregate refreshes always see each other's facts.
5. Quarantine, upsert, refresh KPI aggregates, bump the changed campaigns'
   ``campaign_kpi_version`` rows (the MCP server's cache keys), store watermarks, complete
   the ledger row.
6. COMMIT: everything above becomes visible together, or (crash, SIGKILL, error) nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any

import psycopg
import sqlalchemy.exc
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine

from etl_job import bulk, load
from etl_job.customer_rows import CustomerBlock
from etl_job.customer_worker import encode_blocks
from etl_job.db import source_engine
from etl_job.extract import (
    DELETE_VIEWS,
    EXTRACT_ORDER,
    Scope,
    extract_query,
    read_change_bound,
)
from etl_job.fetch import stream_tuples
from etl_job.prefetch import ReadAhead
from etl_job.settings import EtlSettings
from etl_job.source_model import view_source
from promptsales.logs import redact_text
from promptsales.pii import PiiCipher, PiiError
from promptsales.pii.datakeys import KEYS_LOCK, ensure_active_key
from promptsales.pii.keyring import Keyring

MERGE_LOCK = 0x5053_4554_4C4D  # "PSETLM": serializes merges across scopes


class ExitCode(IntEnum):
    """What a CronJob (and a person reading ``kubectl get jobs``) can act on."""

    OK = 0  # succeeded, nothing to do, or skipped because the same scope is already running
    FAILED = 1  # unexpected error: see the JSON line and the failed ledger row
    CONFIG = 2  # bad or missing configuration (names the variable)
    SOURCE_UNAVAILABLE = 3  # PromptAds / PromptCRM unreachable: retry later
    WAREHOUSE_UNAVAILABLE = 4  # the warehouse unreachable: retry later
    KEYS = 5  # PII keyring or data key missing or corrupt: restore the Secret


@dataclass
class RunSummary:
    """The one JSON line a run prints."""

    scope: str
    status: str = "succeeded"
    run_id: int | None = None
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_loaded: dict[str, int] = field(default_factory=dict)
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    aggregates_changed: int = 0
    campaigns_changed: int = 0
    """Campaigns given a new ``campaign_kpi_version`` (their MCP answers are recomputed)."""
    phase_ms: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    exit_code: int = ExitCode.OK
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"event": "etl-run", **asdict(self)}


class SourceError(RuntimeError):
    """A source database could not be read."""


def _scope_key(scope: Scope) -> str:
    return f"promptsales-etl:{scope.name}"


def _acquire_scope_lock(conn: psycopg.Connection, scope: Scope, wait_seconds: float) -> bool:
    row = conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (_scope_key(scope),)
    ).fetchone()
    if row is not None and row[0]:
        return True
    if wait_seconds <= 0:
        return False
    conn.execute(f"SET LOCAL lock_timeout = '{int(wait_seconds * 1000)}ms'")
    try:
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_scope_key(scope),)
            )
    except psycopg.errors.LockNotAvailable:
        return False
    conn.execute("SET LOCAL lock_timeout = 0")
    return True


def _source_connection(engine: Engine) -> Connection:
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        # Bound and rows from one snapshot (see etl_job.extract).
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    return engine.connect().execution_options(**options)


SourceItem = tuple[str, Any]
"""What a source reader yields, in order: ``("bound", high)``, then per view
``("view", (name, columns))``, its ``("rows", batch)`` items and ``("end", None)``."""


def _read_source(
    engine: Engine,
    source: str,
    views: Sequence[str],
    scope: Scope,
    watermarks: dict[str, int],
    cipher: PiiCipher,
    batch_rows: int,
    pii_workers: int,
) -> Iterator[SourceItem]:
    """Everything a run reads from one source, in one snapshot; runs on the read-ahead thread.

    Fetching and the customers' encryption happen here (a large customer view's
    encryption in a worker process, see :mod:`etl_job.customer_worker`), so they overlap
    the warehouse work of the main thread: the rows of the next view (or, started early, of the next
    source) are read while the warehouse still merges, rebuilds indexes or takes a COPY.
    Views are read one after the other on one connection (SQL Server's driver streams one
    result set per connection at a time).
    """
    try:
        with _source_connection(engine) as sconn:
            high = read_change_bound(sconn)
            yield "bound", high
            for view in views:
                query = extract_query(view, scope)
                params: dict[str, Any] = {"low": watermarks.get(view, 0), "high": high}
                yield "view", (view, [column.name for column in query.selected_columns])
                customers = view == "v_customer"
                batches = stream_tuples(sconn, query, params, batch_rows, iso_dates=customers)
                if customers:
                    for block in encode_blocks(cipher, batches, batch_rows, pii_workers):
                        yield "rows", block
                else:
                    for batch in batches:
                        yield "rows", batch
                yield "end", None
    except sqlalchemy.exc.OperationalError as exc:
        raise SourceError(f"source {source} unavailable: {exc.orig!s}") from None
    except psycopg.OperationalError as exc:  # the stand-in's row cursor, below SQLAlchemy
        raise SourceError(f"source {source} unavailable: {exc!s}") from None


def _view_batches(reader: Iterator[SourceItem]) -> Iterator[Sequence[Any]]:
    """The row batches of the view ``reader`` is at, up to that view's end marker."""
    for kind, value in reader:
        if kind == "end":
            return
        yield value


def _copy_direct_fact(
    wh: psycopg.Connection,
    view: str,
    batches: Iterator[Sequence[Any]],
    columns: Sequence[str],
    summary: RunSummary,
    known: tuple[set[int], set[int]],
) -> list[str]:
    """First load of one fact view: rows straight into the fact table.

    ``known`` holds the campaign and ad ids of the merged dimensions (the quarantine rules'
    references).

    Returns the statements that rebuild the secondary indexes dropped for the load; the
    caller runs them once the next source's reader is under way, so the rebuild overlaps
    that source's first reads.
    """
    assert summary.run_id is not None
    fact = bulk.DIRECT_FACTS[view]
    batches, deferred = _defer_indexes_if_large(wh, fact.table, batches)
    campaigns, ads = known
    done = bulk.copy_facts(
        wh,
        fact,
        batches,
        bulk.rule_for(view, campaigns, ads),
        bulk.accept_for(view, campaigns, ads),
        summary.run_id,
        columns,
    )
    _count_direct(summary, view, done)
    return deferred


def _defer_indexes_if_large(
    wh: psycopg.Connection, table: str, batches: Iterator[Sequence[Any]]
) -> tuple[Iterator[Sequence[Any]], list[str]]:
    """Drop ``table``'s secondary indexes when the load is large; returns the rows (none
    lost) and the statements that rebuild the indexes.

    Small loads keep the indexes: building a handful of indexes per partition costs more
    than maintaining them for a few rows. Looks ahead just far enough to tell. A fact's
    indexes are dropped before any partition of this load exists, so none is created with
    indexes that would be dropped right away.
    """
    head: list[Sequence[Any]] = []
    seen = 0
    for batch in batches:
        head.append(batch)
        seen += len(batch)
        if seen >= bulk.DEFER_INDEX_ROWS:
            break
    deferred = bulk.drop_secondary_indexes(wh, table) if seen >= bulk.DEFER_INDEX_ROWS else []
    return itertools.chain(head, batches), deferred


def _count_direct(summary: RunSummary, view: str, done: bulk.DirectResult) -> None:
    summary.rows_read[view] = done.loaded + done.quarantined
    summary.rows_loaded[view] = done.loaded
    summary.rows_quarantined[view] = done.quarantined


def _copy_direct_customers(
    wh: psycopg.Connection, batches: Iterator[Sequence[Any]], summary: RunSummary
) -> list[str]:
    """First load of customers into an empty ``dim_customer`` (see ``bulk.copy_customers``);
    returns the index rebuilds it deferred."""
    assert summary.run_id is not None
    batches, deferred = _defer_indexes_if_large(wh, "dim_customer", batches)
    blocks = _customer_blocks(batches)
    _count_direct(summary, "v_customer", bulk.copy_customers(wh, blocks, summary.run_id))
    return deferred


def _customer_blocks(batches: Iterator[Any]) -> Iterator[CustomerBlock]:
    """The customer reader's items, which are :class:`CustomerBlock` s, not row lists."""
    for block in batches:
        assert isinstance(block, CustomerBlock), type(block)
        yield block


# Reference data every fact refers to: loaded whatever the campaign's sources, or a
# CRM-only campaign's leads would all be quarantined as belonging to an unknown campaign.
DIMENSION_VIEWS = ("v_channel", "v_campaign")


def selected_views(sources: Sequence[str]) -> list[str]:
    """The views a run extracts: the shared dimensions plus every view of the chosen sources."""
    return [v for v in EXTRACT_ORDER if v in DIMENSION_VIEWS or view_source(v) in sources]


def _load_order(views: Sequence[str], direct: bool) -> list[str]:
    """The order a run takes the views in (each source's reader reads them in this order).

    Dimensions first: every fact is checked against them. On a first load PromptAds'
    daily metrics, the largest stream, come last among the facts: their reader reads (and
    parses) ahead while the warehouse merges the CRM, so those two stop taking turns. The
    tombstone views come after every row they could delete.
    """
    deletes = [v for v in views if v in DELETE_VIEWS]
    dims = [v for v in views if v not in bulk.FACT_VIEWS and v not in DELETE_VIEWS]
    facts = [v for v in views if v in bulk.FACT_VIEWS]
    if direct:
        facts.sort(key=lambda v: v == "v_ad_metrics_daily")
    return dims + facts + deletes


def _load_view(
    wh: psycopg.Connection,
    reader: Iterator[SourceItem],
    view: str,
    summary: RunSummary,
    direct: bool,
    known: Callable[[], tuple[set[int], set[int]]],
) -> list[str]:
    """Stage one view (or, on a first load, merge a dimension or COPY a fact).

    Returns the index rebuilds a first load deferred.
    """
    assert summary.run_id is not None
    kind, (read, columns) = next(reader)
    assert (kind, read) == ("view", view), (kind, read, view)  # reader and load agree on order
    batches = _view_batches(reader)
    if direct and view in bulk.DIRECT_FACTS:
        return _copy_direct_fact(wh, view, batches, columns, summary, known())
    if direct and view == "v_customer" and bulk.customers_direct(wh):
        return _copy_direct_customers(wh, batches, summary)
    spec = load.VIEW_LOADS[view]
    load.create_staging(wh, spec)
    if view == "v_customer":
        blocks = _customer_blocks(batches)
        summary.rows_read[view] = load.copy_customer_blocks(wh, spec, blocks, analyze=not direct)
    else:
        summary.rows_read[view] = load.copy_rows(wh, spec, batches, analyze=not direct)
    if direct:
        summary.rows_quarantined[view], summary.rows_loaded[view] = load.settle(
            wh, spec, summary.run_id, staged=summary.rows_read[view]
        )
    return []


def _unpark_after_first_load(
    wh: psycopg.Connection, views: Sequence[str], summary: RunSummary
) -> None:
    """A first load's COPY bypasses staging, so rows parked by earlier runs (a warehouse
    whose every fact so far waited for its parent) are merged here, through staging."""
    assert summary.run_id is not None
    for view in views:
        if view not in bulk.DIRECT_FACTS:
            continue
        spec = load.VIEW_LOADS[view]
        load.create_staging(wh, spec)
        _, loaded = load.settle(wh, spec, summary.run_id, staged=0)
        summary.rows_loaded[view] = summary.rows_loaded.get(view, 0) + loaded


MERGE_RANDOM_PAGE_COST = 1.1
"""The merge transaction's ``random_page_cost`` (see ``_run_in_transaction``)."""

READ_AHEAD_ROWS = 80_000
"""Rows a source reader may hold ready (at least two batches): enough to keep parsing
PromptAds' metrics while the warehouse merges the CRM, a few tens of MB of tuples."""


CipherFactory = Callable[[psycopg.Connection, Keyring], PiiCipher]


def _start_readers(
    stack: contextlib.ExitStack,
    settings: EtlSettings,
    views: Sequence[str],
    scope: Scope,
    watermarks: dict[str, int],
    cipher: PiiCipher,
) -> dict[str, ReadAhead[SourceItem]]:
    """One reader thread and connection per source, started now, closed with ``stack``.

    Every source is read from the start, so connecting, reading and encrypting overlap the
    warehouse work of the run (its own set-up, the other views' merges).
    """
    urls = {"ads": settings.ads_url, "crm": settings.crm_url}
    depth = max(2, READ_AHEAD_ROWS // settings.batch_rows)
    readers: dict[str, ReadAhead[SourceItem]] = {}
    for source in dict.fromkeys(view_source(v) for v in views):
        engine = source_engine(urls[source].get_secret_value())
        stack.callback(engine.dispose)  # after the reader below has closed its connection
        items = _read_source(
            engine,
            source,
            [v for v in views if view_source(v) == source],
            scope,
            watermarks,
            cipher,
            settings.batch_rows,
            settings.pii_workers,
        )
        readers[source] = stack.enter_context(ReadAhead(items, depth))
    return readers


class _Laps:
    """Milliseconds per phase into ``summary.phase_ms``."""

    def __init__(self, summary: RunSummary) -> None:
        self._phase_ms = summary.phase_ms
        self._clock = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self._phase_ms[phase] = int((now - self._clock) * 1000)
        self._clock = now


def _run_in_transaction(
    wh: psycopg.Connection,
    settings: EtlSettings,
    scope: Scope,
    keyring: Keyring,
    summary: RunSummary,
    cipher_factory: CipherFactory,
) -> bool:
    if not _acquire_scope_lock(wh, scope, settings.lock_wait_seconds):
        return False
    wh.execute("SELECT pg_advisory_xact_lock_shared(%s)", (KEYS_LOCK,))
    # Merges hash-join and group hundreds of thousands of staged rows on a full load; the
    # server default (4MB) would spill them to disk.
    wh.execute("SET LOCAL work_mem = '64MB'")
    # The planner's default random_page_cost (4) prices an index probe as a disk seek, so
    # matching a few thousand staged keys against a partitioned fact table was planned as
    # a scan of every partition (3,000 changed leads against 300,000 at design scale:
    # 104-130 ms hashed, 57 ms probed). The warehouse's index pages are hot and its
    # storage is SSD: 1.1 is the usual figure for that, and the merge plans by it.
    wh.execute(f"SET LOCAL random_page_cost = {MERGE_RANDOM_PAGE_COST}")
    cipher = cipher_factory(wh, keyring)
    watermarks: dict[str, int] = dict(
        wh.execute(
            "SELECT source_view, low_version FROM warehouse.etl_watermark WHERE scope = %s",
            (scope.name,),
        ).fetchall()
    )
    views = selected_views(settings.source_names)
    highs: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        # Started under the scope lock, once the watermarks are read: the readers connect
        # and read their bounds while this transaction writes its ledger row and looks for
        # a first load.
        readers = _start_readers(stack, settings, views, scope, watermarks, cipher)
        started = dt.datetime.now(dt.UTC)
        row = wh.execute(
            "INSERT INTO warehouse.etl_run (scope, status, started_at, duration_ms) "
            "VALUES (%s, 'succeeded', %s, 0) RETURNING run_id",
            (scope.name, started),
        ).fetchone()
        assert row is not None
        summary.run_id = int(row[0])
        wh.execute(load.CREATE_DELTAS_SQL)
        # First load into empty facts: take the merge lock now and COPY facts directly. The
        # first look goes through its own short connection: a lock on the fact tables held
        # by this transaction while it waits for the merge lock would deadlock with the
        # holder's partition DDL.
        # A scope with watermarks has run before, so its facts are most likely loaded: it
        # merges without the probe's extra connection (the merge is correct either way;
        # the direct COPY is only the faster path into empty facts).
        direct = False
        if not watermarks:
            with psycopg.connect(
                settings.warehouse_dsn.get_secret_value(), autocommit=True
            ) as probe:
                direct = bulk.facts_empty(probe)
        if direct:
            wh.execute("SELECT pg_advisory_xact_lock(%s)", (MERGE_LOCK,))
            direct = bulk.facts_empty(wh)
        lap = _Laps(summary)
        for source, reader in readers.items():
            kind, high = next(reader)
            assert kind == "bound", kind
            highs[source] = int(high)
        lap("connect_sources")
        deferred: list[str] = []
        # Dimensions come first in the order, so their ids are read once, after the last.
        known = functools.cache(lambda: bulk.known_keys(wh))
        for view in _load_order(views, direct):
            deferred += _load_view(wh, readers[view_source(view)], view, summary, direct, known)
            lap(f"extract_{view}")
    for statement in deferred:
        wh.execute(statement)
    lap("rebuild_indexes")
    if direct:
        _unpark_after_first_load(wh, views, summary)
        summary.aggregates_changed = bulk.refresh_all_aggregates(wh)
        lap("aggregates")
        bulk.analyze_facts(wh)
        lap("statistics")
    else:
        # Only the merge path collects changed campaigns (a first load versions them all);
        # made before the merge lock so that it is not held for the catalog write.
        wh.execute(load.CREATE_CHANGED_CAMPAIGNS_SQL)
        wh.execute("SELECT pg_advisory_xact_lock(%s)", (MERGE_LOCK,))
        lap("merge_lock_wait")
        for view in views:
            spec = load.VIEW_LOADS[view]
            summary.rows_quarantined[view], summary.rows_loaded[view] = load.settle(
                wh, spec, summary.run_id, staged=summary.rows_read.get(view, 0)
            )
            lap(f"merge_{view}")
        summary.aggregates_changed = load.refresh_aggregates(wh)
        lap("aggregates")
    # Under the merge lock either way (a first load took it before its COPY).
    summary.campaigns_changed = load.write_kpi_versions(wh, summary.run_id, first_load=direct)
    lap("kpi_versions")
    if any(summary.rows_read.values()):
        # Only a run that read something moves the watermarks: a run with no changes
        # writes nothing but its ledger row. All views of a source share that source's bound.
        wh.execute(
            "INSERT INTO warehouse.etl_watermark AS w (scope, source_view, low_version, run_id) "
            "SELECT %s, v.view, v.low, %s FROM unnest(%s::text[], %s::bigint[]) AS v(view, low) "
            "ON CONFLICT (scope, source_view) DO UPDATE SET low_version = EXCLUDED.low_version, "
            "run_id = EXCLUDED.run_id, updated_at = now()",
            (
                scope.name,
                summary.run_id,
                views,
                [highs[view_source(v)] for v in views],
            ),
        )
    return True


def _record_failure(dsn: str, scope: Scope, started: dt.datetime, summary: RunSummary) -> None:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute(
                "INSERT INTO warehouse.etl_run (scope, status, started_at, duration_ms, error) "
                "VALUES (%s, 'failed', %s, %s, %s) RETURNING run_id",
                (scope.name, started, summary.duration_ms, summary.error),
            ).fetchone()
            summary.run_id = int(row[0]) if row else None
    except psycopg.Error:
        summary.run_id = None  # the warehouse itself is the problem; the JSON line says so


def run_etl(
    settings: EtlSettings,
    scope: Scope,
    keyring: Keyring,
    *,
    cipher_factory: CipherFactory = PiiCipher.load,
) -> RunSummary:
    """Run once for ``scope``; never raises for operational failures, the summary says.

    ``cipher_factory`` exists for the encryption-cost benchmark; the CLI never passes it.
    """
    summary = RunSummary(scope=scope.name)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    dsn = settings.warehouse_dsn.get_secret_value()
    try:
        ensure_active_key(dsn, keyring)
        with psycopg.connect(dsn) as wh:
            if not _run_in_transaction(wh, settings, scope, keyring, summary, cipher_factory):
                wh.rollback()
                summary.status = "skipped"
                summary.error = f"another run of scope {scope.name} holds the lock"
                summary.duration_ms = int((time.perf_counter() - clock) * 1000)
                return summary
            summary.duration_ms = int((time.perf_counter() - clock) * 1000)
            wh.execute(
                # now() would be the transaction's start, before started_at (the clock is
                # read when the ledger row is written); clock_timestamp() is the real end.
                "UPDATE warehouse.etl_run SET finished_at = clock_timestamp(), duration_ms = %s, "
                "rows_read = %s, rows_loaded = %s, rows_quarantined = %s WHERE run_id = %s",
                (
                    summary.duration_ms,
                    Jsonb(summary.rows_read),
                    Jsonb(summary.rows_loaded),
                    Jsonb(summary.rows_quarantined),
                    summary.run_id,
                ),
            )
        return summary
    except SourceError as exc:
        summary.exit_code, summary.error = ExitCode.SOURCE_UNAVAILABLE, str(exc)
    except PiiError as exc:
        summary.exit_code, summary.error = ExitCode.KEYS, str(exc)
    except psycopg.OperationalError as exc:
        summary.exit_code, summary.error = ExitCode.WAREHOUSE_UNAVAILABLE, f"warehouse: {exc}"
    except psycopg.errors.UndefinedTable as exc:
        summary.exit_code = ExitCode.FAILED
        summary.error = f"warehouse schema missing ({exc}); run `promptsales etl init-schema`"
    except Exception as exc:
        summary.exit_code, summary.error = ExitCode.FAILED, f"{type(exc).__name__}: {exc}"
    summary.status = "failed"
    summary.error = redact_text(summary.error or "")[:2000]
    summary.run_id = None
    summary.rows_loaded, summary.rows_quarantined, summary.aggregates_changed = {}, {}, 0
    summary.campaigns_changed = 0
    summary.duration_ms = int((time.perf_counter() - clock) * 1000)
    if summary.exit_code != ExitCode.WAREHOUSE_UNAVAILABLE:
        _record_failure(dsn, scope, started, summary)
    return summary
