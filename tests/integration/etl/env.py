"""A private ETL world per test: two stand-in source databases, a warehouse, a keyring.

Shared by the ETL and PII integration tests; every helper talks to the real local
PostgreSQL, and comparisons go through the SQL a person would run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from etl_job.extract import Scope
from etl_job.run import RunSummary, run_etl
from etl_job.seed import SeedSize, seed_sources
from etl_job.settings import EtlSettings
from etl_job.warehouse import init_warehouse
from promptsales.pii import Keyring, load_keyring
from promptsales.pii.keyring import generate_keyring, write_keyring

# seed 8: four campaigns deliver the whole window, one is a draft, one started later
SMALL = SeedSize(campaigns=6, customers=300, days=20, seed=8)


@dataclass
class EtlEnv:
    ads: str
    crm: str
    warehouse: str
    keyring_file: Path
    make_db: Callable[[str], str]

    @property
    def env(self) -> dict[str, str]:
        return {
            "PROMPTSALES_ETL_ADS_URL": self.ads,
            "PROMPTSALES_ETL_CRM_URL": self.crm,
            "PROMPTSALES_ETL_WAREHOUSE_DSN": self.warehouse,
            "PROMPTSALES_PII_KEYRING_FILE": str(self.keyring_file),
            "PROMPTSALES_SECRETS_DIR": "/nonexistent-promptsales-secrets",
        }

    def settings(self, warehouse: str | None = None, **extra: Any) -> EtlSettings:
        return EtlSettings(
            ads_url=self.ads,
            crm_url=self.crm,
            warehouse_dsn=warehouse or self.warehouse,
            **extra,
        )

    def keyring(self) -> Keyring:
        return load_keyring(self.keyring_file)

    def run(
        self, scope: Scope | None = None, warehouse: str | None = None, **extra: Any
    ) -> RunSummary:
        return run_etl(self.settings(warehouse, **extra), scope or Scope(), self.keyring())

    def fresh_warehouse(self) -> str:
        dsn = self.make_db("ps_wh")
        init_warehouse(dsn)
        return dsn

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "promptsales_cli", *args],
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )


def make_env(pg_database_factory: Any, tmp_path: Path, size: SeedSize = SMALL) -> EtlEnv:
    ads = pg_database_factory("ps_ads")
    crm = pg_database_factory("ps_crm")
    wh = pg_database_factory("ps_wh")
    keyring_file = tmp_path / "keyring.json"
    write_keyring(generate_keyring(), keyring_file)
    init_warehouse(wh)
    seed_sources(_url(ads), _url(crm), size)
    return EtlEnv(_url(ads), _url(crm), wh, keyring_file, pg_database_factory)


def _url(dsn: str) -> str:
    """The factory returns libpq key=value DSNs; sources are configured as SQLAlchemy URLs."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    host = info.get("host", "127.0.0.1")
    port = info.get("port", 5432)
    user = info.get("user", "postgres")
    return f"postgresql+psycopg://{user}@{host}:{port}/{info['dbname']}"


@pytest.fixture
def etl_env(pg_database_factory: Any, tmp_path: Path) -> EtlEnv:
    return make_env(pg_database_factory, tmp_path)


def source_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def execute(url_or_dsn: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(source_dsn(url_or_dsn)) as conn:
        conn.execute(statement, params)


# Volatile columns: load times and ciphertexts (a fresh nonce each time) differ between two
# correct loads; everything else must be identical.
_SNAPSHOT_QUERIES = {
    "dim_channel": "SELECT channel_id, name, kind, source_version FROM warehouse.dim_channel",
    "dim_campaign": "SELECT campaign_id, name, channel_id, channel, status, start_date, end_date, "
    "budget, source_version FROM warehouse.dim_campaign",
    "dim_ad": "SELECT ad_id, campaign_id, headline, source_version FROM warehouse.dim_ad",
    "dim_customer": "SELECT customer_id, email_hmac, country, created_day, source_version "
    "FROM warehouse.dim_customer",
    "fact_ad_daily": "SELECT * FROM warehouse.fact_ad_daily",
    "fact_lead": "SELECT * FROM warehouse.fact_lead",
    "fact_conversion": "SELECT * FROM warehouse.fact_conversion",
    "agg_campaign_daily": "SELECT * FROM warehouse.agg_campaign_daily",
    "dim_date": "SELECT * FROM warehouse.dim_date",
}


def snapshot(warehouse: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(warehouse) as conn:
        return {
            name: sorted(conn.execute(query).fetchall())
            for name, query in _SNAPSHOT_QUERIES.items()
        }


def warehouse_aggregates(warehouse: str) -> dict[tuple[int, Any], tuple[Any, ...]]:
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "SELECT campaign_id, day, impressions, clicks, spend, platform_conversions, leads, "
            "conversions, revenue FROM warehouse.agg_campaign_daily"
        ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def source_aggregates(env: EtlEnv) -> dict[tuple[int, Any], tuple[Any, ...]]:
    """KPI inputs computed straight from the sources: the from-scratch recompute."""
    totals: dict[tuple[int, Any], list[Any]] = {}

    def slot(key: tuple[int, Any]) -> list[Any]:
        return totals.setdefault(key, [0, 0, Decimal(0), 0, 0, 0, Decimal(0)])

    with psycopg.connect(source_dsn(env.ads)) as conn:
        for cid, day, imp, clk, spend, conv in conn.execute(
            "SELECT a.campaign_id, m.day, sum(m.impressions), sum(m.clicks), sum(m.spend), "
            "sum(m.conversions) FROM ad_metrics_daily m JOIN ads a USING (ad_id) "
            "GROUP BY 1, 2"
        ):
            s = slot((cid, day))
            s[0], s[1], s[2], s[3] = imp, clk, spend, conv
    with psycopg.connect(source_dsn(env.crm)) as conn:
        for cid, day, n in conn.execute(
            "SELECT campaign_id, created_at::date, count(*) FROM leads GROUP BY 1, 2"
        ):
            slot((cid, day))[4] = n
        for cid, day, n, revenue in conn.execute(
            "SELECT campaign_id, converted_at::date, count(*), sum(revenue) FROM conversions "
            "GROUP BY 1, 2"
        ):
            s = slot((cid, day))
            s[5], s[6] = n, revenue
    return {key: tuple(value) for key, value in totals.items()}


@dataclass
class SourceTruth:
    """What the warehouse must hold, computed from the source *tables* (never the ETL views).

    A row belongs in the warehouse when every parent it names exists in its source: an ad
    metrics row's ad and that ad's campaign, a lead's or conversion's campaign (PromptAds)
    and customer reference (not NULL). Rows of unknown parents wait in the warehouse's
    quarantine; they are not part of the truth until their parent arrives.
    """

    aggregates: dict[tuple[int, Any], tuple[Any, ...]]
    metric_keys: set[tuple[int, Any]]
    lead_ids: set[int]
    conversion_ids: set[int]
    customer_ids: set[int]
    budgets: dict[int, Decimal | None]
    ad_campaigns: dict[int, int]


def source_truth(env: EtlEnv) -> SourceTruth:
    totals: dict[tuple[int, Any], list[Any]] = {}

    def slot(key: tuple[int, Any]) -> list[Any]:
        return totals.setdefault(key, [0, 0, Decimal(0), 0, 0, 0, Decimal(0)])

    metric_keys: set[tuple[int, Any]] = set()
    with psycopg.connect(source_dsn(env.ads)) as conn:
        campaigns = {r[0] for r in conn.execute("SELECT campaign_id FROM campaigns")}
        ad_campaigns = {
            int(ad): int(c)
            for ad, c in conn.execute("SELECT ad_id, campaign_id FROM ads")
            if c in campaigns
        }
        budgets: dict[int, Decimal | None] = dict.fromkeys(campaigns)
        for cid, amount in conn.execute("SELECT campaign_id, sum(amount) FROM budgets GROUP BY 1"):
            if cid in budgets:
                budgets[cid] = amount
        for ad, day, imp, clk, spend, conv in conn.execute(
            "SELECT ad_id, day, impressions, clicks, spend, conversions FROM ad_metrics_daily"
        ):
            if ad not in ad_campaigns:
                continue
            metric_keys.add((ad, day))
            s = slot((ad_campaigns[ad], day))
            s[0] += imp
            s[1] += clk
            s[2] += spend
            s[3] += conv
    lead_ids: set[int] = set()
    conversion_ids: set[int] = set()
    with psycopg.connect(source_dsn(env.crm)) as conn:
        customer_ids = {int(r[0]) for r in conn.execute("SELECT customer_id FROM customers")}
        for lead, cid, day in conn.execute(
            "SELECT lead_id, campaign_id, created_at::date FROM leads WHERE customer_id IS NOT NULL"
        ):
            if cid in campaigns:
                lead_ids.add(lead)
                slot((cid, day))[4] += 1
        for conversion, cid, day, revenue in conn.execute(
            "SELECT conversion_id, campaign_id, converted_at::date, revenue FROM conversions "
            "WHERE customer_id IS NOT NULL"
        ):
            if cid in campaigns:
                conversion_ids.add(conversion)
                s = slot((cid, day))
                s[5] += 1
                s[6] += revenue
    return SourceTruth(
        aggregates={key: tuple(value) for key, value in totals.items()},
        metric_keys=metric_keys,
        lead_ids=lead_ids,
        conversion_ids=conversion_ids,
        customer_ids=customer_ids,
        budgets=budgets,
        ad_campaigns=ad_campaigns,
    )


def warehouse_truth(warehouse: str) -> SourceTruth:
    """The same facts read back from the warehouse, for a whole-object comparison."""
    with psycopg.connect(warehouse) as conn:
        return SourceTruth(
            aggregates=warehouse_aggregates(warehouse),
            metric_keys=set(conn.execute("SELECT ad_id, day FROM warehouse.fact_ad_daily")),
            lead_ids={r[0] for r in conn.execute("SELECT lead_id FROM warehouse.fact_lead")},
            conversion_ids={
                r[0] for r in conn.execute("SELECT conversion_id FROM warehouse.fact_conversion")
            },
            customer_ids={
                r[0] for r in conn.execute("SELECT customer_id FROM warehouse.dim_customer")
            },
            budgets=dict(conn.execute("SELECT campaign_id, budget FROM warehouse.dim_campaign")),
            ad_campaigns=dict(conn.execute("SELECT ad_id, campaign_id FROM warehouse.dim_ad")),
        )


def aggregates_from_facts(warehouse: str) -> dict[tuple[int, Any], tuple[Any, ...]]:
    """A from-scratch GROUP BY over the warehouse's own facts: what the aggregate must equal."""
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "SELECT campaign_id, day, sum(imp)::bigint, sum(clk)::bigint, sum(spend), "
            "sum(pconv)::bigint, sum(leads)::bigint, sum(conv)::bigint, sum(revenue) FROM ("
            "SELECT campaign_id, day, impressions imp, clicks clk, spend_cents / 100.0 spend, "
            "conversions pconv, 0 leads, 0 conv, 0 revenue FROM warehouse.fact_ad_daily "
            "UNION ALL SELECT campaign_id, day, 0, 0, 0, 0, 1, 0, 0 FROM warehouse.fact_lead "
            "UNION ALL SELECT campaign_id, day, 0, 0, 0, 0, 0, 1, revenue "
            "FROM warehouse.fact_conversion) f GROUP BY 1, 2"
        ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}
