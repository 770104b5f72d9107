"""The README's first command, end to end at a small size: every step's real outcome.

Runs ``promptsales up`` in-process against the machine's PostgreSQL and Redis with its own
state directory, database names, ports and cache prefix, then runs it again (idempotent:
nothing re-created), then the component commands a newcomer runs next, as processes in the
project directory with nothing exported, then ``promptsales down --delete-data``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from harness.services import PG_ADMIN_DSN, REDIS_URL, dsn_for_database, free_port
from promptsales_cli.local.down import down
from promptsales_cli.local.processes import ManagedProcess
from promptsales_cli.local.settings import LocalSettings
from promptsales_cli.local.up import EXAMPLES_DIR, UpOptions, up


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalSettings:
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("PROMPTSALES_MCP_CACHE_PREFIX", f"pstest:e2e:{tag}:")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return LocalSettings(
        home=tmp_path / "project" / ".promptsales",  # where `up` puts it, run in project/
        pg_admin_dsn=PG_ADMIN_DSN,
        redis_url=REDIS_URL,
        mongo_port=free_port(),
        mcp_port=free_port(),
        warehouse_db=f"e2e_wh_{tag}",
        ads_db=f"e2e_ads_{tag}",
        crm_db=f"e2e_crm_{tag}",
    )


def examples_around_now(directory: Path) -> Path:
    """The shipped example campaigns with their windows moved next to today.

    The shipped windows are fixed dates, so which examples are active depends on the day
    the suite runs; here holiday-push opens in a week and loyalty-nightly opened a month
    ago, whatever the date.
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    windows = {
        "holiday-push": {"start": now + dt.timedelta(days=7), "end": now + dt.timedelta(days=37)},
        "loyalty-nightly": {"start": now - dt.timedelta(days=30)},
    }
    directory.mkdir()
    for source in sorted(EXAMPLES_DIR.glob("*.yaml")):
        manifest = yaml.safe_load(source.read_text())
        window = windows.get(manifest["metadata"]["name"])
        if window is not None:
            manifest["spec"]["window"] = {
                edge: moment.isoformat().replace("+00:00", "Z") for edge, moment in window.items()
            }
        (directory / source.name).write_text(yaml.safe_dump(manifest))
    return directory


def _promptsales(project: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``promptsales <argv>`` in ``project`` with no PROMPTSALES_* variable exported.

    Only the test's cache prefix (isolation on the shared Redis) and ``extra`` are set:
    everything else must come from what ``up`` left in ``project/.promptsales``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSALES_")}
    env["PROMPTSALES_MCP_CACHE_PREFIX"] = os.environ["PROMPTSALES_MCP_CACHE_PREFIX"]
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "promptsales_cli", *argv],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _component_commands_work(project: Path) -> None:
    """What the README's development section shows after `promptsales up`."""
    status = _promptsales(project, "etl", "status")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["runs"]

    run = _promptsales(project, "etl", "run", "--campaign-id", "1003")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["status"] == "succeeded"

    retire = _promptsales(project, "pii", "retire")
    assert retire.returncode == 0, retire.stderr
    assert json.loads(retire.stdout)["event"] == "retire"

    items = project / "items.jsonl"
    item = {
        "id": "e2e-1",
        "title": "Trail shoes",
        "caption": "Grip for wet rock.",
        "media_type": "image",
        "media_url": "https://cdn.example.com/e2e-1.jpg",
    }
    items.write_text(json.dumps(item) + "\n")
    loaded = _promptsales(project, "mcp", "load-content", str(items))
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 1 items" in loaded.stdout

    issued = _promptsales(
        project, "certs", "issue", "client", "--campaign-name", "spring-sale",
        "--campaign-id", "1003", "--role", "sales", "--out-dir", str(project),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    verified = _promptsales(
        project, "certs", "verify", str(project / "tls.crt"),
        "--trust-bundle", str(project / ".promptsales" / "pki" / "ca.crt"), "--purpose", "client",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "campaign identity: name=spring-sale id=1003 role=sales" in verified.stdout
    rollover = _promptsales(project, "certs", "rotate-ca", "--status")
    assert rollover.returncode == 0, rollover.stderr
    assert "no CA rollover in progress" in rollover.stdout

    # An exported variable still wins over the env file; without the file nothing is found.
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=3"
    redirected = _promptsales(project, "etl", "status", PROMPTSALES_ETL_WAREHOUSE_DSN=dead)
    assert redirected.returncode != 0
    unset = _promptsales(project, "etl", "status", PROMPTSALES_ENV_FILE="")
    assert unset.returncode == 2
    assert "PROMPTSALES_ETL_WAREHOUSE_DSN: Field required" in unset.stderr


def _databases(names: list[str]) -> list[str]:
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return sorted(str(r[0]) for r in rows)


# Two full `up`s and a dozen CLI processes: minutes on a shared 2-core machine.
@pytest.mark.timeout(900)
def test_up_runs_every_step_then_again_idempotently_then_down(
    local_settings: LocalSettings, tmp_path: Path
) -> None:
    examples = examples_around_now(tmp_path / "examples")
    options = UpOptions(campaigns=25, customers=300, days=30, examples_dir=examples)
    names = [local_settings.warehouse_db, local_settings.ads_db, local_settings.crm_db]
    try:
        first = up(local_settings, options, echo=False)

        # ETL: the active example campaigns ran as their CronJobs would; suspended ones did not.
        assert set(first.etl) == {"spring-sale", "loyalty-nightly"}
        assert all(s["status"] == "succeeded" for s in first.etl.values())
        assert all(sum(s["rows_loaded"].values()) > 0 for s in first.etl.values())
        warehouse = dsn_for_database(PG_ADMIN_DSN, local_settings.warehouse_db)
        with psycopg.connect(warehouse) as conn:
            totals = conn.execute(
                "SELECT campaign_id, sum(impressions), sum(leads) "
                "FROM warehouse.campaign_kpis_daily GROUP BY 1 ORDER BY 1"
            ).fetchall()
        # spring-sale (1003) loads both sources; loyalty-nightly (1002) is CRM-only
        # (spec.etl.sources), so it has leads but no ad impressions.
        by_campaign = {int(c): (int(i or 0), int(n or 0)) for c, i, n in totals}
        assert set(by_campaign) == {1002, 1003}
        assert by_campaign[1003][0] > 0
        assert by_campaign[1002] == (0, by_campaign[1002][1])
        assert by_campaign[1002][1] > 0

        # MCP over HTTPS through the SDK's client: ranked content, a cached second answer.
        items = first.demo.content["items"]
        assert items
        assert items[0]["score"] >= items[-1]["score"]
        assert first.demo.content["cached"] is False
        assert first.demo.content_again["cached"] is True
        assert first.demo.content_again["items"] == items
        assert len(first.demo.messages["variants"]) == 2
        assert all(len(v["body"]) <= 160 for v in first.demo.messages["variants"])
        assert first.demo.performance["totals"]["impressions"] > 0

        # Operator preview: built by the operator's own code.
        by_name = {p.campaign.name: p for p in first.preview.campaigns}
        assert by_name["holiday-push"].cronjob["spec"]["suspend"] is True
        assert by_name["spring-sale"].cronjob["metadata"]["name"] == "spring-sale-etl"
        assert by_name["spring-sale"].secret_name == "spring-sale-client-tls"
        assert first.preview.capacity.active_campaigns == 2

        ca_before = first.ca_file.read_bytes()
        second = up(local_settings, options, echo=False)
        assert second.ca_file.read_bytes() == ca_before
        assert all(sum(s["rows_loaded"].values()) == 0 for s in second.etl.values())
        assert second.demo.content["cached"] is True

        _component_commands_work(local_settings.home.parent)
    finally:
        stopped = down(local_settings, delete_data=True)
    assert _databases(names) == []
    assert ManagedProcess("mcp-server", local_settings.home.resolve()).pid() is None
    assert not local_settings.home.exists()
    assert any("stopped mcp-server" in line for line in stopped)


def test_missing_postgres_stops_up_with_the_command_that_starts_it(
    local_settings: LocalSettings,
) -> None:
    from promptsales_cli.local.progress import StepFailedError

    dead = local_settings.model_copy(
        update={"pg_admin_dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"}
    )
    with pytest.raises(StepFailedError, match="pg_ctlcluster"):
        up(dead, UpOptions(), echo=False)
    assert not (dead.home / "pki").exists()
