"""Deterministic seed data for the stand-in sources: same seed, same rows, every time.

Rows are generated column-wise with numpy (one seeded ``Generator``) and streamed into the
PostgreSQL stand-in with text COPY, which is what makes 500,000 customers a matter of
seconds instead of minutes of INSERTs. The generator only fills the stand-in: production
sources are the real operational databases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy.dialects import postgresql

from etl_job.db import libpq_dsn
from etl_job.source_model import source_ddl, source_tables

ANCHOR_DAY = dt.date(2026, 9, 30)
"""Last day of generated metrics: fixed, so the seed does not depend on the wall clock."""

CHANNELS: tuple[tuple[int, str, str], ...] = (
    (1, "Search", "search"),
    (2, "Social", "social"),
    (3, "Display", "display"),
    (4, "Video", "video"),
    (5, "Email", "email"),
    (6, "Affiliate", "affiliate"),
)
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
_LEAD_STATUS = ("new", "qualified", "won", "lost")


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


def _seed_ads(conn: psycopg.Connection, size: SeedSize, rng: np.random.Generator) -> dict[str, int]:
    counts: dict[str, int] = {}
    counts["channels"] = _copy(
        conn, "channels", ("channel_id", "name", "kind"), _tsv(iter(CHANNELS))
    )
    n = size.campaigns
    campaign_ids = np.arange(size.first_campaign_id, size.first_campaign_id + n)
    channel_ids = rng.integers(1, len(CHANNELS) + 1, n)
    start_offsets = rng.integers(size.days, size.days + 30, n)
    campaign_rows = (
        (
            int(cid),
            int(ch),
            f"Campaign {cid:05d} {CHANNELS[int(ch) - 1][1]}",
            "active",
            ANCHOR_DAY - dt.timedelta(days=int(off)),
            None,
        )
        for cid, ch, off in zip(campaign_ids, channel_ids, start_offsets, strict=True)
    )
    counts["campaigns"] = _copy(
        conn,
        "campaigns",
        ("campaign_id", "channel_id", "name", "status", "start_date", "end_date"),
        _tsv(campaign_rows),
    )
    budgets_per = rng.integers(1, 3, n)
    budget_campaigns = np.repeat(campaign_ids, budgets_per)
    amounts = rng.integers(5_000, 200_000, budget_campaigns.size)
    counts["budgets"] = _copy(
        conn,
        "budgets",
        ("budget_id", "campaign_id", "amount", "currency"),
        _tsv(
            (i + 1, int(c), f"{int(a)}.00", "USD")
            for i, (c, a) in enumerate(zip(budget_campaigns, amounts, strict=True))
        ),
    )
    ads_per = rng.integers(2, 5, n)
    ad_campaigns = np.repeat(campaign_ids, ads_per)
    ad_ids = np.arange(1, ad_campaigns.size + 1)
    counts["ads"] = _copy(
        conn,
        "ads",
        ("ad_id", "campaign_id", "headline"),
        _tsv(
            (int(a), int(c), f"Ad {a} for campaign {c}")
            for a, c in zip(ad_ids, ad_campaigns, strict=True)
        ),
    )
    days = [ANCHOR_DAY - dt.timedelta(days=d) for d in range(size.days - 1, -1, -1)]
    total = ad_ids.size * size.days
    impressions = rng.integers(200, 20_000, total)
    clicks = (impressions * rng.uniform(0.002, 0.06, total)).astype(np.int64)
    spend_cents = (clicks * rng.integers(20, 300, total)).astype(np.int64)
    conv = (clicks * rng.uniform(0.0, 0.1, total)).astype(np.int64)

    def metric_rows() -> Iterator[tuple[object, ...]]:
        i = 0
        imp_l, clk_l, sp_l, cv_l = (
            impressions.tolist(),
            clicks.tolist(),
            spend_cents.tolist(),
            conv.tolist(),
        )
        for ad in ad_ids.tolist():
            for day in days:
                cents = sp_l[i]
                yield (ad, day, imp_l[i], clk_l[i], f"{cents // 100}.{cents % 100:02d}", cv_l[i])
                i += 1

    counts["ad_metrics_daily"] = _copy(
        conn,
        "ad_metrics_daily",
        ("ad_id", "day", "impressions", "clicks", "spend", "conversions"),
        _tsv(metric_rows()),
    )
    return counts


def _seed_crm(conn: psycopg.Connection, size: SeedSize, rng: np.random.Generator) -> dict[str, int]:
    counts: dict[str, int] = {}
    n = size.customers
    first = rng.integers(0, len(_FIRST), n).tolist()
    last = rng.integers(0, len(_LAST), n).tolist()
    city = rng.integers(0, len(_CITIES), n).tolist()
    house = rng.integers(1, 400, n).tolist()
    street = rng.integers(0, len(_STREETS), n).tolist()
    birth = rng.integers(0, 20_000, n).tolist()
    created = rng.integers(0, 365 * 24 * 3600, n).tolist()
    base_birth = dt.date(1950, 1, 1)
    base_created = dt.datetime(2025, 9, 30)

    def customer_rows() -> Iterator[tuple[object, ...]]:
        for i in range(n):
            cid = i + 1
            f, la, c = _FIRST[first[i]], _LAST[last[i]], city[i]
            yield (
                cid,
                f,
                la,
                f"{f.lower()}.{la.lower()}.{cid}@example.com",
                f"+1-555-{cid:07d}",
                f"{house[i]} {_STREETS[street[i]]} St",
                _CITIES[c],
                f"{(cid * 7919) % 100_000:05d}",
                _COUNTRIES[c],
                base_birth + dt.timedelta(days=birth[i]),
                base_created + dt.timedelta(seconds=created[i]),
            )

    counts["customers"] = _copy(
        conn,
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
        _tsv(customer_rows()),
    )
    n_leads = max(1, int(n * 0.6))
    lead_customer = rng.integers(1, n + 1, n_leads).tolist()
    lead_campaign = rng.integers(
        size.first_campaign_id, size.first_campaign_id + size.campaigns, n_leads
    ).tolist()
    window = size.days * 24 * 3600
    lead_at = rng.integers(0, window - 3 * 24 * 3600, n_leads).tolist()
    lead_status = rng.integers(0, len(_LEAD_STATUS), n_leads).tolist()
    first_day = dt.datetime.combine(ANCHOR_DAY - dt.timedelta(days=size.days - 1), dt.time())
    counts["leads"] = _copy(
        conn,
        "leads",
        ("lead_id", "customer_id", "campaign_id", "created_at", "status"),
        _tsv(
            (
                i + 1,
                lead_customer[i],
                lead_campaign[i],
                first_day + dt.timedelta(seconds=lead_at[i]),
                _LEAD_STATUS[lead_status[i]],
            )
            for i in range(n_leads)
        ),
    )
    won = [i for i in range(n_leads) if _LEAD_STATUS[lead_status[i]] == "won"]
    delay = rng.integers(600, 2 * 24 * 3600, len(won)).tolist()
    revenue_cents = rng.integers(1_000, 50_000, len(won)).tolist()
    counts["conversions"] = _copy(
        conn,
        "conversions",
        ("conversion_id", "customer_id", "campaign_id", "lead_id", "converted_at", "revenue"),
        _tsv(
            (
                k + 1,
                lead_customer[i],
                lead_campaign[i],
                i + 1,
                first_day + dt.timedelta(seconds=lead_at[i] + delay[k]),
                f"{revenue_cents[k] // 100}.{revenue_cents[k] % 100:02d}",
            )
            for k, i in enumerate(won)
        ),
    )
    return counts


def seed_sources(ads_url: str, crm_url: str, size: SeedSize, *, reset: bool = False) -> SeedSummary:
    """Create the stand-in source schemas and fill them; one transaction per source."""
    rng = np.random.default_rng(size.seed)
    counts: dict[str, int] = {}
    with psycopg.connect(libpq_dsn(ads_url)) as conn:
        _ensure_empty_schema(conn, "ads", reset=reset)
        counts |= _seed_ads(conn, size, rng)
    with psycopg.connect(libpq_dsn(crm_url)) as conn:
        _ensure_empty_schema(conn, "crm", reset=reset)
        counts |= _seed_crm(conn, size, rng)
    return SeedSummary(**counts)


def create_source_schema(ads_url: str, crm_url: str) -> None:
    """Create the stand-in source tables, triggers and ETL views without data."""
    for url, source in ((ads_url, "ads"), (crm_url, "crm")):
        with psycopg.connect(libpq_dsn(url)) as conn:
            _create_schema(conn, source)
