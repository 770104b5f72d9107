"""Dirty read shows on MariaDB at READ UNCOMMITTED, never at READ COMMITTED or on PostgreSQL."""

from __future__ import annotations

import pytest

from etl_job.concurrency import dirty_read
from etl_job.concurrency.databases import SimulationError
from etl_job.concurrency.outcome import Outcome
from harness.services import free_port


@pytest.fixture(scope="module")
def outcomes(pg_admin_dsn: str, mariadb_url: str) -> dict[str, Outcome]:
    return {o.variant: o for o in dirty_read.simulate(pg_admin_dsn, mariadb_url)}


def test_read_uncommitted_on_mariadb_sees_a_rolled_back_value(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["read-uncommitted"]
    assert outcome.engine == "mariadb"
    assert outcome.anomaly
    assert outcome.facts == {"seen": 0, "committed": 100, "isolation": "READ UNCOMMITTED"}


def test_read_committed_on_mariadb_prevents_it(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["read-committed"]
    assert not outcome.anomaly
    assert outcome.facts["seen"] == 100


def test_postgresql_never_reads_uncommitted_data(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["read-uncommitted-requested"]
    assert outcome.engine == "postgresql"
    assert not outcome.anomaly
    assert outcome.facts["seen"] == 100


def test_unreachable_mariadb_names_the_start_command(pg_admin_dsn: str) -> None:
    dead = f"mysql+pymysql://root@127.0.0.1:{free_port()}/"
    with pytest.raises(SimulationError, match=r"MariaDB is not reachable.*start-stop-daemon"):
        dirty_read.simulate(pg_admin_dsn, dead)
