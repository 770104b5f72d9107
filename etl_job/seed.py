"""Deterministic seed data for the stand-in sources: same seed, same rows, every time.

Rows are generated column-wise with numpy (one seeded ``Generator``) and streamed into the
PostgreSQL stand-in with text COPY, which is what makes 500,000 customers a matter of
seconds instead of minutes of INSERTs. The generator only fills the stand-in: production
sources are the real operational databases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql

from etl_job import seed_funnel, sqlserver_ingest
from etl_job.db import libpq_dsn, source_url
from etl_job.source_model import source_ddl, source_tables

ANCHOR_DAY = dt.date(2026, 9, 30)
"""Last day of generated metrics: fixed, so the seed does not depend on the wall clock."""

CHANNELS: tuple[tuple[int, str, str], ...] = tuple(
    (p.channel_id, p.name, p.kind) for p in seed_funnel.PROFILES
)
_THEMES = [
    "Spring Sale",
    "Brand Awareness",
    "Retargeting",
    "New Customers",
    "Loyalty",
    "Product Launch",
    "Back to School",
    "Webinar Signups",
    "Free Trial",
    "Holiday Preview",
    "Lookalike Audiences",
    "Competitor Terms",
]
_HEADLINES = [
    "Save 20% this week only",
    "Free shipping on your first order",
    "See why 10,000 teams switched",
    "Start your free 14-day trial",
    "New collection just dropped",
    "Book a demo in 2 minutes",
    "Limited stock: order today",
    "Rated 4.8 by our customers",
]
_FIRST = [
    "Ana",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Mara",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Ugo",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
]
_LAST = [
    "Alvarez",
    "Brown",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ulrich",
    "Vargas",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhou",
]
_CITIES = [
    "Lisbon",
    "Austin",
    "Berlin",
    "Lagos",
    "Osaka",
    "Lima",
    "Lyon",
    "Turin",
    "Oslo",
    "Pune",
    "Quito",
    "Riga",
]
_COUNTRIES = ["PT", "US", "DE", "NG", "JP", "PE", "FR", "IT", "NO", "IN", "EC", "LV"]
_STREETS = ["Oak", "Pine", "Maple", "Cedar", "Elm", "Birch", "Willow", "Ash"]


@dataclass(frozen=True)
class SeedSize:
    """How much to generate; the defaults are the quick-start size, not the seed scale."""

    campaigns: int = 20
    customers: int = 2_000
    days: int = 90
    seed: int = 42
    # PromptAds ids are the campaign ids everything else uses (CRs, content, MCP calls);
    # the quick start starts at 1001 so the seed content's campaigns exist in PromptAds.
    first_campaign_id: int = 1


@dataclass(frozen=True)
class SeedSummary:
    """Row counts per source table, printed by the CLI as JSON."""

    channels: int
    campaigns: int
    budgets: int
    ads: int
    ad_metrics_daily: int
    customers: int
    leads: int
    conversions: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class SeedError(RuntimeError):
    """The target source cannot be seeded (already holds data, or is not the stand-in)."""


def _tsv(rows: Iterator[Sequence[object]]) -> Iterator[str]:
    """Text-COPY lines; the generated values never contain tabs, newlines or backslashes."""
    for row in rows:
        yield "\t".join("\\N" if value is None else str(value) for value in row) + "\n"


def _copy(
    conn: psycopg.Connection, table: str, columns: Sequence[str], lines: Iterator[str]
) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    buffer: list[str] = []
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for line in lines:
            buffer.append(line)
            if len(buffer) >= 10_000:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        copy.write("".join(buffer))
        count += len(buffer)
    return count


Writer = Callable[[str, Sequence[str], Iterable[Sequence[object]]], int]
"""Writes one table's rows (in the given column order); returns how many."""


def _copy_writer(conn: psycopg.Connection) -> Writer:
    """The stand-in's writer: text COPY."""
    return lambda table, columns, rows: _copy(conn, table, columns, _tsv(iter(rows)))


TVP_BATCH_ROWS = 10_000
"""Rows per ingest-procedure call on SQL Server (one table-valued parameter each)."""


def sqlserver_writer(cursor: Any) -> Writer:
    """SQL Server's writer on a pyodbc cursor: the ingest procedures' TVPs for the tables
    they cover (metrics, customers, leads, conversions), ``executemany`` for the rest.

    Money comes as text from the generator (the stand-in's COPY format) and goes to the
    TVP as ``Decimal``, so the driver binds ``decimal(14, 2)`` exactly.
    """
    procedures = {table.name: table for table in sqlserver_ingest.INGESTED.values()}

    def write(table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
        money = [i for i, name in enumerate(columns) if name in ("spend", "revenue", "amount")]

        def exact(row: Sequence[object]) -> tuple[object, ...]:
            values = list(row)
            for i in money:
                values[i] = None if values[i] is None else Decimal(str(values[i]))
            return tuple(values)

        target = procedures.get(table)
        if target is None:
            cursor.fast_executemany = True
            placeholders = ", ".join("?" for _ in columns)
            batch = [exact(r) for r in rows]
            if batch:
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", batch
                )
            return len(batch)
        if list(columns) != sqlserver_ingest.ingest_columns(target):
            raise ValueError(f"{table}: columns {columns} are not the ingest type's order")
        written = 0
        pending: list[tuple[object, ...]] = []
        for row in rows:
            pending.append(exact(row))
            if len(pending) >= TVP_BATCH_ROWS:
                written += sqlserver_ingest.call_ingest(cursor, target, pending)
                pending = []
        return written + sqlserver_ingest.call_ingest(cursor, target, pending)

    return write


@contextmanager
def _sqlserver(url: str, source: str, reset: bool) -> Iterator[Writer]:
    """A SQL Server source (production-shaped test systems): one transaction, rows through
    the ingest procedures. Not run here (no SQL Server); its writer is unit-tested."""
    engine = create_engine(source_url(url))
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            names = [t.name for t in source_tables(source) if not t.name.endswith("_tombstones")]
            for name in names:
                if reset:
                    cursor.execute(f"DELETE FROM {name}")
                elif cursor.execute(f"SELECT TOP 1 1 FROM {name}").fetchone() is not None:
                    raise SeedError(
                        f"source table {name!r} already holds rows; pass --reset to replace"
                    )
            if reset:  # the deletes above left tombstones; a fresh seed has none
                for table in source_tables(source):
                    if table.name.endswith("_tombstones"):
                        cursor.execute(f"DELETE FROM {table.name}")
            yield sqlserver_writer(cursor)
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()


def _create_schema(conn: psycopg.Connection, source: str) -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    for statement in source_ddl(source, dialect):
        conn.execute(statement.encode())


def _ensure_empty_schema(conn: psycopg.Connection, source: str, *, reset: bool) -> None:
    _create_schema(conn, source)
    names = [table.name for table in source_tables(source)]
    if reset:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, names))))
        return
    for name in names:
        cur = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(name)))
        row = cur.fetchone()
        if row is not None and row[0]:
            raise SeedError(f"source table {name!r} already holds rows; pass --reset to replace")


_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de"]
_PHONE_PREFIX = {
    "PT": "+351 9",
    "US": "+1 ",
    "DE": "+49 15",
    "NG": "+234 80",
    "JP": "+81 90",
    "PE": "+51 9",
    "FR": "+33 6",
    "IT": "+39 3",
    "NO": "+47 4",
    "IN": "+91 9",
    "EC": "+593 9",
    "LV": "+371 2",
}
_COUNTRY_WEIGHTS = np.array([4, 30, 14, 5, 8, 3, 10, 8, 3, 10, 2, 3], dtype=float)


@dataclass(frozen=True)
class _World:
    """Everything the seed writes, generated before any row is: the CRM's leads follow the
    clicks of PromptAds' metrics (see :mod:`etl_job.seed_funnel`)."""

    campaign_ids: np.ndarray
    camp: seed_funnel.Campaigns
    ad_ids: np.ndarray
    ad_campaign: np.ndarray
    metrics: seed_funnel.Metrics
    funnel: seed_funnel.Funnel


def _world(size: SeedSize, rng: np.random.Generator) -> _World:
    camp = seed_funnel.campaigns(rng, size.campaigns, size.days)
    ads_per = rng.integers(2, 5, size.campaigns)
    ad_campaign = np.repeat(np.arange(size.campaigns), ads_per)
    total_leads = max(1, int(size.customers * seed_funnel.LEADS_PER_CUSTOMER))
    window = _window_start(size)
    rows = seed_funnel.metrics(rng, camp, ad_campaign, window, size.days, total_leads)
    funnel = seed_funnel.funnel(
        rng, camp, ad_campaign, rows, size.customers, total_leads, size.days
    )
    return _World(
        campaign_ids=np.arange(size.first_campaign_id, size.first_campaign_id + size.campaigns),
        camp=camp,
        ad_ids=np.arange(1, ad_campaign.size + 1),
        ad_campaign=ad_campaign,
        metrics=rows,
        funnel=funnel,
    )


def _window_start(size: SeedSize) -> dt.date:
    return ANCHOR_DAY - dt.timedelta(days=size.days - 1)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _seed_ads(write: Writer, size: SeedSize, world: _World) -> dict[str, int]:
    counts: dict[str, int] = {}
    counts["channels"] = write("channels", ("channel_id", "name", "kind"), (iter(CHANNELS)))
    camp, window = world.camp, _window_start(size)

    def day(offset: int) -> dt.date:
        return window + dt.timedelta(days=int(offset))

    campaign_rows = (
        (
            int(cid),
            CHANNELS[int(ch)][0],
            f"{CHANNELS[int(ch)][1]} · {_THEMES[i % len(_THEMES)]} {day(start):%b %Y}",
            camp.status[i],
            day(start),
            day(end) if has_end else None,
        )
        for i, (cid, ch, start, end, has_end) in enumerate(
            zip(world.campaign_ids, camp.channel, camp.start, camp.end, camp.has_end, strict=True)
        )
    )
    counts["campaigns"] = write(
        "campaigns",
        ("campaign_id", "channel_id", "name", "status", "start_date", "end_date"),
        (campaign_rows),
    )
    # A campaign's budget in one or two lines (an initial budget and a top-up).
    split = np.random.default_rng(size.seed + 1).random(size.campaigns)
    lines: list[tuple[object, ...]] = []
    for i, (cid, cents) in enumerate(zip(world.campaign_ids, camp.budget_cents, strict=True)):
        if split[i] < 0.35:
            first = int(cents * 0.7) // 100 * 100
            lines.append((len(lines) + 1, int(cid), _money(first), "USD"))
            lines.append((len(lines) + 1, int(cid), _money(int(cents) - first), "USD"))
        else:
            lines.append((len(lines) + 1, int(cid), _money(int(cents)), "USD"))
    counts["budgets"] = write(
        "budgets", ("budget_id", "campaign_id", "amount", "currency"), (iter(lines))
    )
    counts["ads"] = write(
        "ads",
        ("ad_id", "campaign_id", "headline"),
        (
            (int(a), int(world.campaign_ids[c]), _HEADLINES[int(a) % len(_HEADLINES)])
            for a, c in zip(world.ad_ids, world.ad_campaign, strict=True)
        ),
    )
    m = world.metrics
    days = [window + dt.timedelta(days=d) for d in range(size.days)]

    def metric_rows() -> Iterator[tuple[object, ...]]:
        ad_ids = world.ad_ids[m.ad_index].tolist()
        for ad, d, imp, clk, cents, conv in zip(
            ad_ids,
            m.day.tolist(),
            m.impressions.tolist(),
            m.clicks.tolist(),
            m.spend_cents.tolist(),
            m.platform_conversions.tolist(),
            strict=True,
        ):
            yield (ad, days[d], imp, clk, f"{cents // 100}.{cents % 100:02d}", conv)

    counts["ad_metrics_daily"] = write(
        "ad_metrics_daily",
        ("ad_id", "day", "impressions", "clicks", "spend", "conversions"),
        (metric_rows()),
    )
    return counts


def _seed_crm(
    write: Writer, size: SeedSize, world: _World, rng: np.random.Generator
) -> dict[str, int]:
    counts: dict[str, int] = {}
    n = size.customers
    f = world.funnel
    first = rng.integers(0, len(_FIRST), n).tolist()
    last = rng.integers(0, len(_LAST), n).tolist()
    country = rng.choice(len(_COUNTRIES), n, p=_COUNTRY_WEIGHTS / _COUNTRY_WEIGHTS.sum()).tolist()
    domain = rng.integers(0, len(_DOMAINS), n).tolist()
    house = rng.integers(1, 400, n).tolist()
    street = rng.integers(0, len(_STREETS), n).tolist()
    phone = rng.integers(1_000_000, 9_999_999, n).tolist()
    has_phone = (rng.random(n) < 0.8).tolist()
    # Adults: 18 to 75 years old on the last day.
    birth = rng.integers(18 * 365, 75 * 365, n).tolist()
    created = f.customer_created.tolist()
    origin = dt.datetime.combine(_window_start(size), dt.time())

    def customer_rows() -> Iterator[tuple[object, ...]]:
        for i in range(n):
            cid = i + 1
            fn, ln, c = _FIRST[first[i]], _LAST[last[i]], country[i]
            code = _COUNTRIES[c]
            yield (
                cid,
                fn,
                ln,
                f"{fn.lower()}.{ln.lower()}{cid}@{_DOMAINS[domain[i]]}",
                f"{_PHONE_PREFIX[code]}{phone[i]}" if has_phone[i] else None,
                f"{house[i]} {_STREETS[street[i]]} St",
                _CITIES[c],
                f"{(cid * 7919) % 100_000:05d}",
                code,
                ANCHOR_DAY - dt.timedelta(days=birth[i]),
                origin + dt.timedelta(seconds=created[i]),
            )

    counts["customers"] = write(
        "customers",
        (
            "customer_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "street",
            "city",
            "postal_code",
            "country",
            "birth_date",
            "created_at",
        ),
        (customer_rows()),
    )
    campaign_ids = world.campaign_ids[f.lead_campaign].tolist()
    customers_of = f.lead_customer.tolist()
    lead_at = f.lead_at.tolist()
    counts["leads"] = write(
        "leads",
        ("lead_id", "customer_id", "campaign_id", "created_at", "status"),
        (
            (
                i + 1,
                customers_of[i],
                campaign_ids[i],
                origin + dt.timedelta(seconds=lead_at[i]),
                f.lead_status[i],
            )
            for i in range(len(lead_at))
        ),
    )
    revenue = f.sale_revenue_cents.tolist()
    sale_at = f.sale_at.tolist()
    counts["conversions"] = write(
        "conversions",
        ("conversion_id", "customer_id", "campaign_id", "lead_id", "converted_at", "revenue"),
        (
            (
                k + 1,
                customers_of[i],
                campaign_ids[i],
                i + 1,
                origin + dt.timedelta(seconds=sale_at[k]),
                _money(revenue[k]),
            )
            for k, i in enumerate(f.sale_lead.tolist())
        ),
    )
    return counts


def seed_sources(ads_url: str, crm_url: str, size: SeedSize, *, reset: bool = False) -> SeedSummary:
    """Create the stand-in source schemas and fill them; one transaction per source."""
    rng = np.random.default_rng(size.seed)
    world = _world(size, rng)
    counts: dict[str, int] = {}
    if source_url(ads_url).drivername.startswith("mssql"):
        with _sqlserver(ads_url, "ads", reset) as write:
            counts |= _seed_ads(write, size, world)
        with _sqlserver(crm_url, "crm", reset) as write:
            counts |= _seed_crm(write, size, world, rng)
        return SeedSummary(**counts)
    with psycopg.connect(libpq_dsn(ads_url)) as conn:
        _ensure_empty_schema(conn, "ads", reset=reset)
        counts |= _seed_ads(_copy_writer(conn), size, world)
    with psycopg.connect(libpq_dsn(crm_url)) as conn:
        _ensure_empty_schema(conn, "crm", reset=reset)
        counts |= _seed_crm(_copy_writer(conn), size, world, rng)
    return SeedSummary(**counts)


def create_source_schema(ads_url: str, crm_url: str) -> None:
    """Create the stand-in source tables, triggers and ETL views without data."""
    for url, source in ((ads_url, "ads"), (crm_url, "crm")):
        with psycopg.connect(libpq_dsn(url)) as conn:
            _create_schema(conn, source)
