"""Lost update happens with a plain read-modify-write and not with any of the protections."""

from __future__ import annotations

import pytest

from etl_job.concurrency import lost_update
from etl_job.concurrency.outcome import Outcome


@pytest.fixture(scope="module")
def outcomes(pg_admin_dsn: str) -> dict[str, Outcome]:
    return {o.variant: o for o in lost_update.simulate(pg_admin_dsn)}


def test_read_modify_write_loses_one_deposit(outcomes: dict[str, Outcome]) -> None:
    naive = outcomes["read-modify-write"]
    assert naive.anomaly
    assert naive.facts["final_balance"] in (110, 120)
    reads = [step for step in naive.steps if "read balance=100" in step]
    assert len(reads) == 2, "both sessions must read the old balance before either writes"


@pytest.mark.parametrize("variant", ["select-for-update", "optimistic-version", "repeatable-read"])
def test_protection_keeps_both_deposits(outcomes: dict[str, Outcome], variant: str) -> None:
    outcome = outcomes[variant]
    assert not outcome.anomaly
    assert outcome.facts["final_balance"] == lost_update.EXPECTED_BALANCE
    assert outcome.as_expected


def test_row_lock_makes_the_second_reader_wait(outcomes: dict[str, Outcome]) -> None:
    steps = outcomes["select-for-update"].steps
    assert "T2: blocked: waiting for T1's row lock" in steps
    assert "T2: read balance=110 version=1" in steps


def test_optimistic_and_repeatable_read_retry_the_loser(outcomes: dict[str, Outcome]) -> None:
    assert outcomes["optimistic-version"].facts["attempts"] == 3
    assert any("stale" in s for s in outcomes["optimistic-version"].steps)
    assert outcomes["repeatable-read"].facts["attempts"] == 3
    assert any("40001" in s for s in outcomes["repeatable-read"].steps)
