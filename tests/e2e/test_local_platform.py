"""The README's first command, end to end at a small size: every step's real outcome.

Runs ``promptsales up`` in-process against the machine's PostgreSQL and Redis with its own
state directory, database names, ports and cache prefix, then runs it again (idempotent:
nothing re-created), then ``promptsales down --delete-data``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from promptsales.local.down import down
from promptsales.local.processes import ManagedProcess
from promptsales.local.settings import LocalSettings
from promptsales.local.up import EXAMPLES_DIR, UpOptions, up
from tests.support.services import PG_ADMIN_DSN, REDIS_URL, dsn_for_database, free_port


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalSettings:
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("PROMPTSALES_MCP_CACHE_PREFIX", f"pstest:e2e:{tag}:")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return LocalSettings(
        home=tmp_path / "state",
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


def _databases(names: list[str]) -> list[str]:
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return sorted(str(r[0]) for r in rows)


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
    finally:
        stopped = down(local_settings, delete_data=True)
    assert _databases(names) == []
    assert ManagedProcess("mcp-server", local_settings.home.resolve()).pid() is None
    assert not local_settings.home.exists()
    assert any("stopped mcp-server" in line for line in stopped)


def test_missing_postgres_stops_up_with_the_command_that_starts_it(
    local_settings: LocalSettings,
) -> None:
    from promptsales.local.progress import StepFailedError

    dead = local_settings.model_copy(
        update={"pg_admin_dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"}
    )
    with pytest.raises(StepFailedError, match="pg_ctlcluster"):
        up(dead, UpOptions(), echo=False)
    assert not (dead.home / "pki").exists()
