"""``promptsales etl simulate`` as a person runs it: the story, the verdicts, the exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.services import free_port


def _simulate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptsales_cli", "etl", "simulate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=240,
        check=False,
    )


@pytest.fixture
def servers(pg_admin_dsn: str, mariadb_url: str) -> dict[str, str]:
    return {
        "PROMPTSALES_ETL_SIM_POSTGRES_DSN": pg_admin_dsn,
        "PROMPTSALES_ETL_SIM_MARIADB_URL": mariadb_url,
    }


def test_all_scenarios_print_anomalies_then_prevention(servers: dict[str, str]) -> None:
    result = _simulate("all", env=servers)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("-> ANOMALY") == 3  # one unprotected variant per problem
    assert out.count("-> PREVENTED") == 7
    assert "UNEXPECTED" not in out
    assert "10/10 variants behaved as documented" in out
    for header in (
        "== lost-update / read-modify-write [postgresql, unprotected]",
        "== dirty-read / read-uncommitted [mariadb, unprotected]",
        "== deadlock / opposite-order [postgresql, unprotected]",
    ):
        assert header in out


def test_unreachable_server_exits_2_without_leaking_the_password(
    servers: dict[str, str],
) -> None:
    dead = f"mysql+pymysql://root:sim-Pa55word@127.0.0.1:{free_port()}/"
    result = _simulate("dirty-read", env={**servers, "PROMPTSALES_ETL_SIM_MARIADB_URL": dead})
    assert result.returncode == 2
    assert "MariaDB is not reachable" in result.stderr
    assert "start-stop-daemon" in result.stderr
    assert "sim-Pa55word" not in result.stdout + result.stderr
