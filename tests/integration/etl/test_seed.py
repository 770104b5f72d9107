"""The seed generator is deterministic and refuses to overwrite data by accident."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from etl_job.seed import SeedError, SeedSize, seed_sources
from etl_job.source_model import source_tables
from tests.integration.etl.env import _url, source_dsn

SIZE = SeedSize(campaigns=5, customers=200, days=10, seed=3)


def _digest(url: str, source: str) -> dict[str, str]:
    with psycopg.connect(source_dsn(url)) as conn:
        result = {}
        for table in source_tables(source):
            columns = ", ".join(c.name for c in table.c if c.name != "row_version")
            row = conn.execute(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) "
                f"FROM (SELECT {columns} FROM {table.name}) t"
            ).fetchone()
            result[table.name] = str(row[0]) if row else ""
        return result


def test_same_seed_same_rows_other_seed_other_rows(pg_database_factory: Any) -> None:
    pairs = [
        (_url(pg_database_factory("ps_ads")), _url(pg_database_factory("ps_crm"))) for _ in "abc"
    ]
    seed_sources(*pairs[0], SIZE)
    seed_sources(*pairs[1], SIZE)
    seed_sources(*pairs[2], SeedSize(campaigns=5, customers=200, days=10, seed=4))
    digests = [{**_digest(a, "ads"), **_digest(c, "crm")} for a, c in pairs]
    assert digests[0] == digests[1]
    assert digests[0]["customers"] != digests[2]["customers"]
    with pytest.raises(SeedError, match="already holds rows"):
        seed_sources(*pairs[0], SIZE)
    summary = seed_sources(*pairs[0], SIZE, reset=True)
    assert summary.customers == 200
    assert {**_digest(pairs[0][0], "ads"), **_digest(pairs[0][1], "crm")} == digests[0]


def test_campaign_ids_start_where_asked(pg_database_factory: Any) -> None:
    ads, crm = _url(pg_database_factory("ps_ads")), _url(pg_database_factory("ps_crm"))
    seed_sources(ads, crm, SeedSize(campaigns=5, customers=200, days=10, first_campaign_id=1001))
    with psycopg.connect(source_dsn(ads)) as conn:
        ids = [row[0] for row in conn.execute("SELECT campaign_id FROM campaigns ORDER BY 1")]
    with psycopg.connect(source_dsn(crm)) as conn:
        lead_ids = conn.execute("SELECT min(campaign_id), max(campaign_id) FROM leads").fetchone()
    assert ids == [1001, 1002, 1003, 1004, 1005]
    assert lead_ids is not None
    assert 1001 <= lead_ids[0] <= lead_ids[1] <= 1005
