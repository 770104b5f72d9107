"""An unreachable database gives one line and exit code 4, never a traceback or a password."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.services import free_port

PASSWORD = "s3cret-Unreachable-pw"


@pytest.mark.parametrize("command", [["status"], ["init-schema"], ["seed", "--campaigns", "2"]])
def test_unreachable_database_is_one_line_and_exit_4(command: list[str]) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PROMPTSALES_ETL_ADS_URL": f"postgresql+psycopg://etl:{PASSWORD}@127.0.0.1:{port}/a",
        "PROMPTSALES_ETL_CRM_URL": f"postgresql+psycopg://etl:{PASSWORD}@127.0.0.1:{port}/c",
        "PROMPTSALES_ETL_WAREHOUSE_DSN": f"postgresql://etl:{PASSWORD}@127.0.0.1:{port}/w",
        "PROMPTSALES_SECRETS_DIR": "/nonexistent-promptsales-secrets",
    }
    result = subprocess.run(
        [sys.executable, "-m", "promptsales_cli", "etl", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: database unreachable:")
    assert PASSWORD not in result.stderr + result.stdout
