"""Property: random change sequences in both sources, interleaved with runs, keep it exact.

Hypothesis draws inserts, updates, moves (an ad to another campaign, a lead or sale to
another campaign or day), deletes, late parents (rows naming a campaign or ad that
arrives later) and late commits (a change held open in its source across a run) in
PromptAds and PromptCRM, interleaved with ``--all`` and per-campaign runs. After every
``--all`` run that no open transaction held back, the warehouse must equal
:func:`source_truth`, a recompute from the source tables; after every run its KPI
aggregate must equal a GROUP BY over its own facts; and a final ``--all`` run must be exact.

Campaign-scoped runs are not compared with the whole truth: a run of campaign 1 does not
see an ad that left campaign 1 (it now belongs to the run of its new campaign, or ``--all``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_job.extract import Scope
from etl_job.seed import SeedSize
from tests.integration.etl.env import (
    EtlEnv,
    aggregates_from_facts,
    make_env,
    source_dsn,
    source_truth,
    warehouse_aggregates,
    warehouse_truth,
)

TINY = SeedSize(campaigns=4, customers=40, days=5, seed=11)
LATE_CAMPAIGN = 5  # not seeded: rows naming it wait until a step creates it
AD_IDS = st.sampled_from([1, 2, 3, 4, 5, 6, 501, 502])  # 501, 502: created by a step, maybe
CAMPAIGNS = st.sampled_from([1, 2, 3, 4, LATE_CAMPAIGN])
DAYS = st.sampled_from(["2026-09-27", "2026-09-29", "2026-09-30", "2026-10-01"])
LEADS = st.sampled_from([1, 2, 3, 7, 9001, 9002])
CONVERSIONS = st.sampled_from([1, 2, 3, 9001, 9002])
CUSTOMERS = st.integers(1, 40)


@dataclass(frozen=True)
class Change:
    """One statement in one source; ``late`` holds it open across the next run."""

    source: str
    sql: str
    params: tuple[Any, ...]
    late: bool


@dataclass(frozen=True)
class Run:
    campaign_id: int | None


def _change(source: str, sql: str, *params: st.SearchStrategy[Any]) -> st.SearchStrategy[Change]:
    return st.builds(
        Change,
        st.just(source),
        st.just(sql),
        st.tuples(*params),
        st.sampled_from([False, False, False, True]),
    )


CHANGES = st.one_of(
    _change(
        "ads",
        "UPDATE ad_metrics_daily SET clicks = clicks + %s, spend = spend + 1.25 "
        "WHERE ad_id = %s AND day = %s",
        st.integers(1, 9),
        AD_IDS,
        DAYS,
    ),
    _change(
        "ads",
        "INSERT INTO ad_metrics_daily (ad_id, day, impressions, clicks, spend, conversions) "
        "VALUES (%s, %s, %s, 7, 3.50, 1) ON CONFLICT DO NOTHING",
        AD_IDS,
        DAYS,
        st.integers(100, 5000),
    ),
    _change("ads", "DELETE FROM ad_metrics_daily WHERE ad_id = %s AND day = %s", AD_IDS, DAYS),
    _change("ads", "UPDATE ads SET campaign_id = %s WHERE ad_id = %s", CAMPAIGNS, AD_IDS),
    _change(
        "ads",
        "INSERT INTO ads (ad_id, campaign_id, headline) VALUES (%s, %s, 'new') "
        "ON CONFLICT DO NOTHING",
        st.sampled_from([501, 502]),
        CAMPAIGNS,
    ),
    _change(
        "ads",
        "INSERT INTO campaigns (campaign_id, channel_id, name, status, start_date) "
        "VALUES (%s, 2, 'Late', 'active', '2026-09-01') ON CONFLICT DO NOTHING",
        st.just(LATE_CAMPAIGN),
    ),
    _change(
        "ads",
        "INSERT INTO budgets (budget_id, campaign_id, amount, currency) "
        "VALUES (%s, %s, 1000, 'USD') ON CONFLICT DO NOTHING",
        st.integers(900, 903),
        CAMPAIGNS,
    ),
    _change("ads", "DELETE FROM budgets WHERE budget_id IN (1, %s)", st.integers(900, 903)),
    _change(
        "crm",
        "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, status) "
        "VALUES (%s, %s, %s, %s::date + time '10:00', 'new') ON CONFLICT DO NOTHING",
        LEADS,
        CUSTOMERS,
        CAMPAIGNS,
        DAYS,
    ),
    _change(
        "crm",
        "UPDATE leads SET campaign_id = %s, created_at = %s::date + time '11:00' "
        "WHERE lead_id = %s",
        CAMPAIGNS,
        DAYS,
        LEADS,
    ),
    _change("crm", "DELETE FROM leads WHERE lead_id = %s", LEADS),
    _change(
        "crm",
        "INSERT INTO conversions (conversion_id, customer_id, campaign_id, converted_at, "
        "revenue) VALUES (%s, %s, %s, %s::date + time '12:00', %s) ON CONFLICT DO NOTHING",
        CONVERSIONS,
        CUSTOMERS,
        CAMPAIGNS,
        DAYS,
        st.integers(1, 900),
    ),
    _change(
        "crm",
        "UPDATE conversions SET campaign_id = %s, revenue = revenue + 1 WHERE conversion_id = %s",
        CAMPAIGNS,
        CONVERSIONS,
    ),
    _change("crm", "DELETE FROM conversions WHERE conversion_id = %s", CONVERSIONS),
    _change("crm", "DELETE FROM customers WHERE customer_id = %s", CUSTOMERS),
    _change(
        "crm",
        "UPDATE customers SET email = 'changed.' || email WHERE customer_id = %s",
        CUSTOMERS,
    ),
)
STEPS = st.lists(
    st.one_of(CHANGES, CHANGES, st.builds(Run, st.none() | st.sampled_from([1, 2, LATE_CAMPAIGN]))),
    min_size=3,
    max_size=14,
)


def _check_consistent(env: EtlEnv) -> None:
    assert aggregates_from_facts(env.warehouse) == warehouse_aggregates(env.warehouse)


def _check_exact(env: EtlEnv) -> None:
    assert warehouse_truth(env.warehouse) == source_truth(env)
    _check_consistent(env)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    # Each example makes its own databases through the factory fixture, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_random_changes_and_runs_keep_the_warehouse_exact(
    pg_database_factory: Any, tmp_path_factory: Any, steps: list[Change | Run]
) -> None:
    env = make_env(pg_database_factory, Path(tmp_path_factory.mktemp("prop")), TINY)
    assert env.run().status == "succeeded"
    _check_exact(env)
    held: list[psycopg.Connection] = []
    try:
        for step in steps:
            if isinstance(step, Change):
                url = env.ads if step.source == "ads" else env.crm
                conn = psycopg.connect(source_dsn(url))
                # A change that needs a row a held transaction has locked is dropped.
                conn.execute("SET lock_timeout = '300ms'")
                try:
                    conn.execute(step.sql, step.params)
                except psycopg.errors.LockNotAvailable:
                    conn.close()
                    continue
                if step.late:
                    held.append(conn)
                else:
                    conn.commit()
                    conn.close()
                continue
            summary = env.run(Scope(campaign_id=step.campaign_id))
            assert summary.status == "succeeded", summary.error
            was_held = bool(held)
            for conn in held:
                conn.commit()
                conn.close()
            held.clear()
            if step.campaign_id is None and not was_held:
                _check_exact(env)
            else:
                _check_consistent(env)
    finally:
        for conn in held:
            conn.close()
    assert env.run().status == "succeeded"
    _check_exact(env)
