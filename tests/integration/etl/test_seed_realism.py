"""The seed reads like marketing data: channel benchmarks, one funnel, paced budgets, real
lifecycles, ordered timelines, weekly rhythm, and good and bad campaigns (issue 15).

Every figure is computed from the seeded source tables with the SQL an analyst would run.
"""

from __future__ import annotations

import statistics
from collections import Counter
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from etl_job.seed import SeedSize, seed_sources
from harness import services
from tests.integration.etl.env import _url

SIZE = SeedSize(campaigns=200, customers=60_000, days=90, seed=42)


@pytest.fixture(scope="module")
def seeded(pg_admin_dsn: str) -> Any:
    names = [services.create_database(pg_admin_dsn, f"ps_seedreal_{s}") for s in ("ads", "crm")]
    ads, crm = (services.dsn_for_database(pg_admin_dsn, n) for n in names)
    seed_sources(_url(ads), _url(crm), SIZE)
    with psycopg.connect(ads) as a, psycopg.connect(crm) as c:
        yield a, c
    for name in names:
        services.drop_database(pg_admin_dsn, name)


def _campaign_stats(seeded: Any) -> dict[int, dict[str, Any]]:
    ads, crm = seeded
    stats: dict[int, dict[str, Any]] = {}
    for cid, channel, status, imp, clk, spend, pconv, budget in ads.execute(
        "SELECT c.campaign_id, ch.kind, c.status, sum(m.impressions), sum(m.clicks), "
        "sum(m.spend), sum(m.conversions), (SELECT sum(amount) FROM budgets b "
        "WHERE b.campaign_id = c.campaign_id) FROM campaigns c "
        "JOIN channels ch USING (channel_id) LEFT JOIN ads a USING (campaign_id) "
        "LEFT JOIN ad_metrics_daily m USING (ad_id) GROUP BY 1, 2, 3"
    ):
        stats[cid] = {
            "channel": channel,
            "status": status,
            "impressions": imp or 0,
            "clicks": clk or 0,
            "spend": spend or Decimal(0),
            "platform_conversions": pconv or 0,
            "budget": budget,
            "leads": 0,
            "sales": 0,
            "revenue": Decimal(0),
        }
    for cid, leads in crm.execute("SELECT campaign_id, count(*) FROM leads GROUP BY 1"):
        stats[cid]["leads"] = leads
    for cid, sales, revenue in crm.execute(
        "SELECT campaign_id, count(*), sum(revenue) FROM conversions GROUP BY 1"
    ):
        stats[cid]["sales"], stats[cid]["revenue"] = sales, revenue
    return stats


def _channel(stats: dict[int, dict[str, Any]], kind: str, key: str) -> float:
    rows = [s for s in stats.values() if s["channel"] == kind]
    return sum(float(s[key]) for s in rows)


def test_channels_differ_like_industry_benchmarks(seeded: Any) -> None:
    stats = _campaign_stats(seeded)
    ctr = {
        k: _channel(stats, k, "clicks") / _channel(stats, k, "impressions")
        for k in ("search", "social", "display", "video", "email", "affiliate")
    }
    cpc = {k: _channel(stats, k, "spend") / _channel(stats, k, "clicks") for k in ctr}
    assert 0.03 < ctr["search"] < 0.07
    assert 0.007 < ctr["social"] < 0.016
    assert 0.003 < ctr["display"] < 0.008
    assert ctr["search"] > ctr["email"] > ctr["social"] > ctr["display"]
    assert 1.8 < cpc["search"] < 3.5
    assert cpc["email"] < 0.4
    assert cpc["search"] == max(cpc.values())
    roas = {k: _channel(stats, k, "revenue") / _channel(stats, k, "spend") for k in ctr}
    assert roas["email"] == max(roas.values())
    assert roas["display"] < roas["search"]


def test_one_funnel_from_impressions_to_revenue(seeded: Any) -> None:
    stats = [s for s in _campaign_stats(seeded).values() if s["clicks"] > 2_000]
    assert len(stats) > 50
    for s in stats:
        assert s["impressions"] > s["clicks"] > s["leads"] >= s["sales"]
        if s["sales"] >= 20:
            # The ad platform over-attributes, by a factor, not by dozens.
            assert 0.7 < s["platform_conversions"] / s["sales"] < 5, s
    # Leads follow clicks (weighted by each channel's lead rate), not a constant.
    leads = [float(s["leads"]) for s in stats]
    assert statistics.correlation([float(s["clicks"]) for s in stats], leads) > 0.3
    assert max(leads) > 10 * min(leads)


def test_a_spread_of_good_and_bad_campaigns_and_a_business_that_pays(seeded: Any) -> None:
    stats = [s for s in _campaign_stats(seeded).values() if s["spend"] > 1_000]
    roas = sorted(float(s["revenue"] / s["spend"]) for s in stats)
    cpa = sorted(float(s["spend"]) / s["sales"] for s in stats if s["sales"] >= 10)
    assert roas[len(roas) // 10] < 1.0  # a tenth of campaigns lose money
    assert roas[len(roas) // 2] > 1.2  # the median one pays
    assert roas[-len(roas) // 10] > 3.0
    total = sum(float(s["revenue"]) for s in stats) / sum(float(s["spend"]) for s in stats)
    assert 1.5 < total < 6
    assert 10 < cpa[len(cpa) // 2] < 600


def test_budgets_are_paced_and_lifecycles_real(seeded: Any) -> None:
    ads, _ = seeded
    stats = _campaign_stats(seeded)
    for s in stats.values():
        assert s["spend"] <= s["budget"] * Decimal("1.05"), s
    statuses = Counter(s["status"] for s in stats.values())
    assert set(statuses) == {"active", "paused", "completed", "draft"}
    assert statuses["active"] > statuses["paused"]
    assert all(s["spend"] == 0 for s in stats.values() if s["status"] == "draft")
    outside = ads.execute(
        "SELECT count(*) FROM ad_metrics_daily m JOIN ads a USING (ad_id) "
        "JOIN campaigns c USING (campaign_id) "
        "WHERE m.day < c.start_date OR m.day > c.end_date"
    ).fetchone()
    assert outside == (0,)
    unordered = ads.execute(
        "SELECT count(*) FROM campaigns WHERE end_date < start_date "
        "OR (status = 'completed') <> (end_date < (SELECT max(day) FROM ad_metrics_daily))"
    ).fetchone()
    assert unordered == (0,)


def test_timelines_are_ordered_and_statuses_follow_outcomes(seeded: Any) -> None:
    _, crm = seeded
    checks = {
        "lead before its customer": "SELECT count(*) FROM leads l JOIN customers c "
        "USING (customer_id) WHERE l.created_at < c.created_at",
        "sale before its customer": "SELECT count(*) FROM conversions v JOIN customers c "
        "USING (customer_id) WHERE v.converted_at < c.created_at",
        "sale before its lead": "SELECT count(*) FROM conversions v JOIN leads l "
        "USING (lead_id) WHERE v.converted_at <= l.created_at",
        "won lead without sale": "SELECT count(*) FROM leads l WHERE status = 'won' "
        "AND NOT EXISTS (SELECT 1 FROM conversions v WHERE v.lead_id = l.lead_id)",
    }
    for name, query in checks.items():
        assert crm.execute(query).fetchone() == (0,), name
    shares = dict(crm.execute("SELECT status, count(*) FROM leads GROUP BY 1").fetchall())
    total = sum(shares.values())
    assert set(shares) == {"new", "qualified", "won", "lost"}
    assert shares["lost"] > shares["won"] > shares["new"]
    assert all(abs(float(n) / float(total) - 0.25) > 0.03 for n in shares.values())


def test_delivery_has_a_weekly_rhythm_and_days_that_resemble_their_neighbours(
    seeded: Any,
) -> None:
    ads, _ = seeded
    by_kind = dict(
        ads.execute(
            "SELECT ch.kind, avg(m.impressions) FILTER (WHERE extract(isodow FROM m.day) >= 6) "
            "/ avg(m.impressions) FILTER (WHERE extract(isodow FROM m.day) < 6) "
            "FROM ad_metrics_daily m JOIN ads a USING (ad_id) JOIN campaigns c "
            "USING (campaign_id) JOIN channels ch USING (channel_id) GROUP BY 1"
        ).fetchall()
    )
    assert by_kind["search"] < Decimal("0.9")
    assert by_kind["social"] > Decimal("1.05")
    lag = ads.execute(
        "SELECT corr(d, p) FROM (SELECT m.impressions::float8 - avg(m.impressions) OVER w AS d, "
        "lag(m.impressions) OVER (PARTITION BY ad_id ORDER BY day)::float8 "
        "- avg(m.impressions) OVER w AS p FROM ad_metrics_daily m "
        "WINDOW w AS (PARTITION BY ad_id)) t"
    ).fetchone()
    assert lag is not None
    assert lag[0] > 0.3
