"""ETL load throughput against dlt and against psycopg binary COPY, all in one run.

Sources are the deterministic seed in two PostgreSQL stand-in databases (PromptAds sized by
``--rows`` of daily ad metrics, PromptCRM by ``--customers``). Every contender loads the
same rows of the seven ETL views into its own empty database on the same server:

- ``copy_raw``: ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`` piped block by block into
  ``COPY ... FROM STDIN (FORMAT BINARY)`` of plain tables: the server-to-server limit.
- ``copy_python_rows``: psycopg fetches rows into Python tuples and writes them with
  binary ``copy.write_row`` into plain tables: the floor of any Python row pipeline.
- ``copy_python_rows_shaped``: the same, into tables keyed, indexed and partitioned like
  the warehouse tables the ETL writes (primary keys, the same secondary indexes, monthly
  ``day`` partitions created during the load): the apples-to-apples floor. The issue's
  target is stated against ``copy_python_rows``; both ratios are reported.
- ``dlt``: dlt 1.31 ``sql_database`` (``backend="pyarrow"``, its fastest installed here)
  with ``incremental("change_version")``, ``write_disposition="merge"`` and primary keys,
  into the same PostgreSQL.
- ``promptsales``: :func:`etl_job.run.run_etl` (staging COPY, quarantine checks, versioned
  upserts into partitioned facts, KPI aggregates, watermarks, ledger, PII encryption).

Then 1% of the rows of every source table change and ``promptsales`` and ``dlt`` run
incrementally. Targets (issue 5): full load >= 4x dlt and >= 60% of ``copy_python_rows``;
the 1% incremental run under 1 s.

Each contender loads ``--repeat`` times into fresh databases, interleaved in rotating order
(the machine is shared); the best time of each is compared, all times are in the JSON.

Run: ``python -m bench.etl_load [--rows 200000] [--customers 2000] [--repeat 3] [--skip-dlt]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from etl_job import bulk
from etl_job.extract import EXTRACT_ORDER, Scope
from etl_job.run import RunSummary, run_etl
from etl_job.seed import SeedSize, seed_sources
from etl_job.settings import EtlSettings
from etl_job.source_model import VIEWS, view_source
from etl_job.warehouse import init_warehouse
from promptsales.pii.keyring import Keyring, generate_keyring

RESULTS = Path(__file__).parent / "results" / "etl_load.json"
ADMIN_DSN = os.environ.get(
    "PROMPTSALES_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AVG_ADS_PER_CAMPAIGN = 3
DAYS = 90
PRIMARY_KEYS = {
    "v_channel": ["channel_id"],
    "v_campaign": ["campaign_id"],
    "v_ad": ["ad_id"],
    "v_ad_metrics_daily": ["ad_id", "day"],
    "v_customer": ["customer_id"],
    "v_lead": ["lead_id"],
    "v_conversion": ["conversion_id"],
}
_PG_TYPES = {
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "DATE": "date",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "NUMERIC(14, 2)": "numeric(14,2)",
}


CONTENDER_KEYS = {
    "copy_raw": "raw",
    "copy_python_rows": "pyrows",
    "copy_python_rows_shaped": "shaped",
    "promptsales": "ours",
    "dlt": "dlt",
}
"""Result names → the short names the repeat loop uses for databases and timings."""


def dsn_for(database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo("", **info)


def url_for(database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    return (
        f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}"
        f":{info.get('port', 5432)}/{database}"
    )


@contextmanager
def databases(*roles: str) -> Iterator[dict[str, str]]:
    """Fresh databases for one benchmark run, dropped afterwards whatever happens."""
    tag = uuid.uuid4().hex[:8]
    names = {role: f"bench_etl_{role}_{tag}" for role in roles}
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield names
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            for name in names.values():
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def seed(dbs: dict[str, str], rows: int, customers: int) -> dict[str, int]:
    campaigns = max(1, round(rows / (AVG_ADS_PER_CAMPAIGN * DAYS)))
    summary = seed_sources(
        url_for(dbs["ads"]),
        url_for(dbs["crm"]),
        SeedSize(campaigns=campaigns, customers=customers, days=DAYS, seed=42),
    )
    return summary.as_dict()


def _view_columns(view: str) -> list[tuple[str, str]]:
    table = VIEWS[view]
    dialect = psycopg_dialect()
    return [(c.name, _PG_TYPES.get(str(c.type.compile(dialect)), "text")) for c in table.c]


def psycopg_dialect() -> Any:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()  # type: ignore[no-untyped-call]


def _create_plain_tables(conn: psycopg.Connection) -> None:
    for view in EXTRACT_ORDER:
        cols = ", ".join(f"{name} {kind}" for name, kind in _view_columns(view))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {view} ({cols})")
    conn.commit()


def copy_raw(dbs: dict[str, str], target: str) -> int:
    """Server → client → server binary COPY, no Python row objects at all."""
    with psycopg.connect(dsn_for(target)) as dst:
        _create_plain_tables(dst)
        total = 0
        for view in EXTRACT_ORDER:
            with psycopg.connect(dsn_for(dbs[view_source(view)])) as src:
                out = src.cursor().copy(
                    f"COPY (SELECT * FROM etl.{view}) TO STDOUT (FORMAT BINARY)"
                )
                with (
                    out as reader,
                    dst.cursor().copy(f"COPY {view} FROM STDIN (FORMAT BINARY)") as writer,
                ):
                    for block in reader:
                        writer.write(block)
            counted = dst.execute(f"SELECT count(*) FROM {view}").fetchone()
            total += int(counted[0]) if counted else 0
        return total


def copy_python_rows(dbs: dict[str, str], target: str) -> int:
    """Rows become Python tuples, then go back out through binary ``write_row``."""
    with psycopg.connect(dsn_for(target)) as dst:
        _create_plain_tables(dst)
        total = 0
        for view in EXTRACT_ORDER:
            types = [kind.split("(")[0] for _, kind in _view_columns(view)]
            with psycopg.connect(dsn_for(dbs[view_source(view)])) as src, src.cursor() as cur:
                cur.execute(f"SELECT * FROM etl.{view}")
                with dst.cursor().copy(f"COPY {view} FROM STDIN (FORMAT BINARY)") as writer:
                    writer.set_types(types)
                    while batch := cur.fetchmany(20_000):
                        for row in batch:
                            writer.write_row(row)
                        total += len(batch)
        return total


SHAPED_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    # view: (primary key, secondary indexes), as the warehouse table it lands in has them.
    "v_channel": ("channel_id", ()),
    "v_campaign": ("campaign_id", ()),
    "v_ad": ("ad_id", ("campaign_id",)),
    "v_ad_metrics_daily": ("day, ad_id", ("campaign_id, day",)),
    # email stands in for email_hmac, country for the low-cardinality pii_key_id index.
    "v_customer": ("customer_id", ("email", "country")),
    "v_lead": ("day, lead_id", ("lead_id", "campaign_id, day")),
    "v_conversion": ("day, conversion_id", ("conversion_id", "campaign_id, day", "customer_id")),
}
SHAPED_DAY_FROM = {"v_lead": "created_at", "v_conversion": "converted_at"}
"""Fact views without a ``day`` column get it prepended in Python, as the ETL does."""


def create_shaped_tables(target: str) -> None:
    """View-shaped tables keyed, indexed and partitioned like the warehouse tables.

    Like ``init-schema`` for the ETL, this runs before the clock starts; monthly partitions
    are created inside the timed load, as the ETL creates its own.
    """
    with psycopg.connect(dsn_for(target)) as conn:
        for view in EXTRACT_ORDER:
            pk, secondary = SHAPED_KEYS[view]
            cols = ", ".join(f"{name} {kind}" for name, kind in _view_columns(view))
            if view in SHAPED_DAY_FROM:
                cols = f"day date NOT NULL, {cols}"
            fact = view in bulk.DIRECT_FACTS
            conn.execute(
                f"CREATE TABLE {view} ({cols}, PRIMARY KEY ({pk}))"
                + (" PARTITION BY RANGE (day)" if fact else "")
            )
            for i, columns in enumerate(secondary):
                conn.execute(f"CREATE INDEX {view}_{i} ON {view} ({columns})")


def _create_month_partitions(
    conn: psycopg.Connection, table: str, first: dt.date | None, last: dt.date | None
) -> None:
    if first is None or last is None:
        return
    month = first.replace(day=1)
    while month <= last:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        conn.execute(
            f"CREATE TABLE {table}_{month:%Y_%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month}') TO ('{following}')"
        )
        month = following


def copy_python_rows_shaped(dbs: dict[str, str], target: str) -> int:
    """``copy_python_rows`` into :func:`create_shaped_tables` tables: same rows, same indexes."""
    with psycopg.connect(dsn_for(target)) as dst:
        total = 0
        for view in EXTRACT_ORDER:
            types = [kind.split("(")[0] for _, kind in _view_columns(view)]
            day_from = SHAPED_DAY_FROM.get(view)
            names = [name for name, _ in _view_columns(view)]
            day_at = names.index(day_from) if day_from else -1
            with psycopg.connect(dsn_for(dbs[view_source(view)])) as src, src.cursor() as cur:
                if view in bulk.DIRECT_FACTS:
                    day_sql = f"{day_from}::date" if day_from else "day"
                    span = src.execute(
                        f"SELECT min({day_sql}), max({day_sql}) FROM etl.{view}"
                    ).fetchone()
                    _create_month_partitions(dst, view, *(span or (None, None)))
                cur.execute(f"SELECT * FROM etl.{view}")
                with dst.cursor().copy(f"COPY {view} FROM STDIN (FORMAT BINARY)") as writer:
                    writer.set_types(["date", *types] if day_from else types)
                    while batch := cur.fetchmany(20_000):
                        if day_from:
                            for row in batch:
                                writer.write_row((row[day_at].date(), *row))
                        else:
                            for row in batch:
                                writer.write_row(row)
                        total += len(batch)
        return total


class DltLoader:
    """dlt ``sql_database`` → PostgreSQL, merge on primary keys, incremental cursor."""

    def __init__(self, dbs: dict[str, str], target: str, workdir: str) -> None:
        import dlt

        self._dlt = dlt
        self._dbs = dbs
        self._pipelines = {
            source: dlt.pipeline(
                pipeline_name=f"bench_{source}_{target}",
                pipelines_dir=workdir,
                destination=dlt.destinations.postgres(credentials=dsn_url(target)),
                dataset_name=f"dlt_{source}",
            )
            for source in ("ads", "crm")
        }

    def run(self) -> int:
        from dlt.sources.sql_database import sql_database

        rows = 0
        for source, pipeline in self._pipelines.items():
            views = [v for v in EXTRACT_ORDER if view_source(v) == source]
            src = sql_database(
                credentials=dsn_url(self._dbs[source]),
                schema="etl",
                table_names=views,
                include_views=True,
                backend="pyarrow",
                chunk_size=50_000,
            )
            for view in views:
                getattr(src, view).apply_hints(
                    primary_key=PRIMARY_KEYS[view],
                    write_disposition="merge",
                    incremental=self._dlt.sources.incremental("change_version"),
                )
            pipeline.run(src, loader_file_format="csv")
            trace = pipeline.last_trace
            norm = trace.last_normalize_info if trace is not None else None
            if norm is not None:
                rows += sum(n for t, n in norm.row_counts.items() if not t.startswith("_dlt"))
        return rows


def dsn_url(database: str) -> str:
    """dlt insists on a password; the local server trusts loopback, so any value does."""
    url = url_for(database).replace("postgresql+psycopg://", "postgresql://")
    user, rest = url.removeprefix("postgresql://").split("@", 1)
    return f"postgresql://{user.split(':')[0]}:unused@{rest}"


def settings_for(dbs: dict[str, str], warehouse: str) -> EtlSettings:
    return EtlSettings(
        ads_url=url_for(dbs["ads"]),
        crm_url=url_for(dbs["crm"]),
        warehouse_dsn=dsn_for(warehouse),
    )


def run_promptsales(
    dbs: dict[str, str], warehouse: str, keyring: Keyring, **kwargs: Any
) -> RunSummary:
    summary = run_etl(settings_for(dbs, warehouse), Scope(), keyring, **kwargs)
    if summary.status != "succeeded":
        raise RuntimeError(f"ETL run failed: {summary.error}")
    return summary


def change_one_percent(dbs: dict[str, str]) -> int:
    """Update 1% of the rows of every source table (every 100th key)."""
    changed = 0
    statements = {
        "ads": [
            "UPDATE ad_metrics_daily SET clicks = clicks + 1, spend = spend + 0.01 "
            "WHERE (ad_id * 7 + (day - DATE '2000-01-01')) % 100 = 0",
            "UPDATE campaigns SET status = status WHERE campaign_id % 100 = 0",
            "UPDATE ads SET headline = headline || '.' WHERE ad_id % 100 = 0",
        ],
        "crm": [
            "UPDATE customers SET phone = phone || '0' WHERE customer_id % 100 = 0",
            "UPDATE leads SET status = 'qualified' WHERE lead_id % 100 = 0",
            "UPDATE conversions SET revenue = revenue + 1 WHERE conversion_id % 100 = 0",
        ],
    }
    for source, items in statements.items():
        with psycopg.connect(dsn_for(dbs[source])) as conn:
            for statement in items:
                changed += conn.execute(statement).rowcount
    return changed


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="daily ad-metric rows")
    parser.add_argument("--customers", type=int, default=2_000, help="CRM customers")
    parser.add_argument("--skip-dlt", action="store_true", help="leave dlt out")
    parser.add_argument("--repeat", type=int, default=3, help="full loads per contender")
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    keyring = generate_keyring()
    results: dict[str, Any] = {"rows_arg": args.rows, "customers_arg": args.customers}
    contenders = ["raw", "pyrows", "shaped", "ours"] + ([] if args.skip_dlt else ["dlt"])
    roles = ["ads", "crm"] + [f"{c}{r}" for r in range(args.repeat) for c in contenders]
    seconds: dict[str, list[float]] = {c: [] for c in contenders}
    incr_seconds: dict[str, list[float]] = {"ours": [], "dlt": []}
    with databases(*roles) as dbs, tempfile.TemporaryDirectory() as workdir:
        results["source_rows"] = seed(dbs, args.rows, args.customers)
        total_rows = sum(results["source_rows"].values())
        loaders: list[DltLoader] = []
        for rep in range(args.repeat):
            # Interleave, rotating the order, so load from other tenants hits all alike.
            order = contenders[rep % len(contenders) :] + contenders[: rep % len(contenders)]
            for contender in order:
                target = dbs[f"{contender}{rep}"]
                if contender == "raw":
                    raw_rows, secs = timed(partial(copy_raw, dbs, target))
                elif contender == "pyrows":
                    py_rows, secs = timed(partial(copy_python_rows, dbs, target))
                elif contender == "shaped":
                    create_shaped_tables(target)
                    shaped_rows, secs = timed(partial(copy_python_rows_shaped, dbs, target))
                elif contender == "ours":
                    init_warehouse(dsn_for(target))
                    full, secs = timed(partial(run_promptsales, dbs, target, keyring))
                else:
                    loader = DltLoader(dbs, target, workdir)
                    loaders.append(loader)
                    dlt_rows, secs = timed(loader.run)
                seconds[contender].append(secs)
        changed = change_one_percent(dbs)
        for rep in range(args.repeat):
            incr, secs = timed(partial(run_promptsales, dbs, dbs[f"ours{rep}"], keyring))
            incr_seconds["ours"].append(secs)
        for loader in loaders:
            dlt_incr_rows, secs = timed(loader.run)
            incr_seconds["dlt"].append(secs)
    raw_s, py_s, full_s = min(seconds["raw"]), min(seconds["pyrows"]), min(seconds["ours"])
    shaped_s = min(seconds["shaped"])
    dlt_s = min(seconds["dlt"]) if "dlt" in seconds else None
    if args.skip_dlt:
        dlt_rows = dlt_incr_rows = None
    incr_s = min(incr_seconds["ours"])
    dlt_incr_s = min(incr_seconds["dlt"]) if incr_seconds["dlt"] else None
    results["all_seconds"] = {"full": seconds, "incremental": incr_seconds}
    ours_rows = sum(full.rows_read.values())
    rate = {
        "copy_raw": raw_rows / raw_s,
        "copy_python_rows": py_rows / py_s,
        "copy_python_rows_shaped": shaped_rows / shaped_s,
        "promptsales": ours_rows / full_s,
    }
    if dlt_rows is not None and dlt_s is not None:
        rate["dlt"] = dlt_rows / dlt_s
    results |= {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "full_load": {
            "rows": {
                "copy_raw": raw_rows,
                "copy_python_rows": py_rows,
                "copy_python_rows_shaped": shaped_rows,
                "promptsales": ours_rows,
                "dlt": dlt_rows,
                "source_total": total_rows,
            },
            "seconds": {
                "copy_raw": raw_s,
                "copy_python_rows": py_s,
                "copy_python_rows_shaped": shaped_s,
                "promptsales": full_s,
                "dlt": dlt_s,
            },
            "median_seconds": {c: statistics.median(v) for c, v in seconds.items()},
            "rows_per_second": rate,
            "promptsales_phase_ms": full.phase_ms,
        },
        "incremental_1pct": {
            "rows_changed": changed,
            "promptsales_rows_read": sum(incr.rows_read.values()),
            "promptsales_seconds": incr_s,
            "promptsales_phase_ms": incr.phase_ms,
            "dlt_rows": dlt_incr_rows,
            "dlt_seconds": dlt_incr_s,
        },
        "ratios": {
            "promptsales_vs_copy_python_rows": rate["promptsales"] / rate["copy_python_rows"],
            "promptsales_vs_copy_python_rows_shaped": (
                rate["promptsales"] / rate["copy_python_rows_shaped"]
            ),
            "promptsales_vs_copy_raw": rate["promptsales"] / rate["copy_raw"],
            "promptsales_vs_dlt": rate["promptsales"] / rate["dlt"] if "dlt" in rate else None,
        },
        "targets": {
            "full_vs_dlt_min": 4.0,
            "full_vs_copy_python_rows_min": 0.60,
            "incremental_seconds_max": 1.0,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"{'contender':<24} {'rows':>9} {'seconds':>8} {'median s':>8} {'rows/s':>10}")
    for name in ("copy_raw", "copy_python_rows", "copy_python_rows_shaped", "dlt", "promptsales"):
        secs = results["full_load"]["seconds"][name]
        if secs is None:
            continue
        rows_n = results["full_load"]["rows"][name]
        median = results["full_load"]["median_seconds"][CONTENDER_KEYS[name]]
        print(f"{name:<24} {rows_n:>9} {secs:>8.2f} {median:>8.2f} {rate[name]:>10.0f}")
    ratios = results["ratios"]
    vs_rows = ratios["promptsales_vs_copy_python_rows"]
    print(f"promptsales / copy_python_rows = {vs_rows:.2f} (issue 5 target >= 0.60)")
    vs_shaped = ratios["promptsales_vs_copy_python_rows_shaped"]
    print(f"promptsales / copy_python_rows_shaped = {vs_shaped:.2f} (same indexes and partitions)")
    if ratios["promptsales_vs_dlt"] is not None:
        print(f"promptsales / dlt              = {ratios['promptsales_vs_dlt']:.2f} (target >= 4)")
    inc = results["incremental_1pct"]
    print(
        f"1% incremental: {inc['rows_changed']} rows changed, promptsales "
        f"{inc['promptsales_seconds']:.3f} s (target < 1 s)"
        + (f", dlt {inc['dlt_seconds']:.2f} s" if inc["dlt_seconds"] is not None else "")
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
