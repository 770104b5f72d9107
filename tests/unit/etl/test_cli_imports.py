"""A CronJob's ``promptsales etl run`` loads only what the ETL needs.

1,000 campaigns' CronJobs start a process every 11 minutes each; the operator's, the MCP
server's, the renderer's and the seed's imports were most of a run's start-up. The check
is on what gets imported, not on time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, runpy, sys
sys.argv = ["promptsales", *sys.argv[1:]]
try:
    runpy.run_module("promptsales_cli", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

ELSEWHERE = (
    "kopf",  # the operator
    "promptsales_operator",
    "mcp_server",
    "workloads.render",
    "numpy",  # the seed
    "etl_job.seed",
    "etl_job.concurrency.runner",  # the simulations
    "pymysql",
)


def _modules_after(*args: str) -> tuple[set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PROMPTSALES_ENV_FILE": "", "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1])), done.stdout


@pytest.mark.parametrize("command", [["etl", "run", "--help"], ["etl", "status", "--help"]])
def test_etl_commands_import_no_other_component(command: list[str]) -> None:
    modules, output = _modules_after(*command)
    assert "Usage" in output
    assert "etl_job.cli" in modules
    assert not [m for m in ELSEWHERE if m in modules]


def test_help_without_a_command_still_lists_every_group() -> None:
    modules, output = _modules_after("--help")
    for group in ("certs", "etl", "pii", "render", "mcp", "operator", "up", "version"):
        assert group in output
    assert "promptsales_operator" in modules
