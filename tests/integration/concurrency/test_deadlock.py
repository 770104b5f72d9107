"""Opposite lock order deadlocks; retry recovers the victim; ordered locking never deadlocks."""

from __future__ import annotations

import pytest

from etl_job.concurrency import deadlock
from etl_job.concurrency.outcome import Outcome

TOTAL = 2 * deadlock.START_BALANCE


@pytest.fixture(scope="module")
def outcomes(pg_admin_dsn: str) -> dict[str, Outcome]:
    return {o.variant: o for o in deadlock.simulate(pg_admin_dsn)}


def test_opposite_order_deadlocks_and_loses_a_transfer(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["opposite-order"]
    assert outcome.anomaly
    assert outcome.facts["deadlocks"] == 1
    assert outcome.facts["failed_transfers"] == 1
    assert outcome.facts["total"] == TOTAL, "the victim is rolled back whole"
    assert (outcome.facts["balance_1"], outcome.facts["balance_2"]) != (
        deadlock.EXPECTED[1],
        deadlock.EXPECTED[2],
    )


def test_retry_recovers_the_victim(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["opposite-order+retry"]
    assert not outcome.anomaly
    # At least one deadlock happened; on a loaded machine the retried transfer can meet
    # the other one again, which the retry loop also absorbs.
    assert int(outcome.facts["deadlocks"]) >= 1
    assert outcome.facts["failed_transfers"] == 0
    assert (outcome.facts["balance_1"], outcome.facts["balance_2"]) == (
        deadlock.EXPECTED[1],
        deadlock.EXPECTED[2],
    )


def test_ordered_locking_never_deadlocks(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["ordered-locking+retry"]
    assert not outcome.anomaly
    assert outcome.facts["deadlocks"] == 0
    assert "T2: blocked: queued behind T1 on account 1 (same lock order)" in outcome.steps
    assert (outcome.facts["balance_1"], outcome.facts["balance_2"]) == (
        deadlock.EXPECTED[1],
        deadlock.EXPECTED[2],
    )
