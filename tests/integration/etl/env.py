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

SMALL = SeedSize(campaigns=6, customers=300, days=20, seed=7)


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
