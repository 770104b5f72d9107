"""``promptsales up``: the PromptSales data plane on this machine, step by step, idempotent.

Each step finds what a previous run made before making anything, so a second ``up`` is
fast and changes nothing that exists: the CA is kept, seeded sources are not re-seeded,
content is not re-embedded, a running MCP server is reused. The ETL runs for every example
campaign through the command its CronJob would run, with the same Secret-file layout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pymongo
import redis

from etl_job.db import libpq_dsn
from promptsales_cli.local import cluster as cluster_mod
from promptsales_cli.local import preview as preview_mod
from promptsales_cli.local.databases import ensure_databases, write_secret_files
from promptsales_cli.local.demo import DemoResults, call_tools
from promptsales_cli.local.envfile import write_env_file
from promptsales_cli.local.mongo import ensure_mongo
from promptsales_cli.local.pki import ensure_pki
from promptsales_cli.local.processes import ManagedProcess
from promptsales_cli.local.progress import Progress, StepFailedError
from promptsales_cli.local.settings import LocalSettings
from promptsales_cli.local.tokens import ISSUER, ensure_issuer

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
CONTENT_DB = "PromptContent"
# The seed content library and the example campaigns use PromptAds ids from 1001 on.
FIRST_CAMPAIGN_ID = 1001


@dataclass(frozen=True)
class UpOptions:
    """What the person asked for on the command line."""

    campaigns: int = 20
    customers: int = 2000
    days: int = 90
    full_scale: bool = False
    examples_dir: Path = EXAMPLES_DIR
    # Set: install the CRD and run the operator on that cluster instead of the preview.
    kubeconfig: Path | None = None

    def seed_size(self) -> tuple[int, int, int]:
        if self.full_scale:
            return 1000, 500_000, self.days
        return self.campaigns, self.customers, self.days


def _cli() -> list[str]:
    """The ``promptsales`` command of this interpreter (works inside and outside the venv)."""
    return [sys.executable, "-m", "promptsales_cli"]


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = result.stderr[-3000:] + result.stdout[-2000:]
        raise StepFailedError(f"{what} failed (exit {result.returncode}):\n{output}")
    return result.stdout


def check_postgres(dsn: str) -> None:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        raise StepFailedError(
            "PostgreSQL does not answer at 127.0.0.1:5432 (PROMPTSALES_LOCAL_PG_ADMIN_DSN); "
            "start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
            "(or install it: apt-get install postgresql)"
        ) from None


def check_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        raise StepFailedError(
            f"Redis does not answer at {url} (PROMPTSALES_LOCAL_REDIS_URL); start it: "
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no "
            "(or install it: apt-get install redis-server)"
        ) from None
    finally:
        client.close()


def _sources_seeded(ads_url: str) -> bool:
    with psycopg.connect(libpq_dsn(ads_url)) as conn:
        if conn.execute("SELECT to_regclass('campaigns')").fetchone() == (None,):
            return False
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM campaigns)").fetchone()
        return bool(row and row[0])


def _content_count(mongo_uri: str) -> int:
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=3000) as client:
        return int(client[CONTENT_DB]["content"].estimated_document_count())


def _wait_ready(url: str, ca_file: Path, process: ManagedProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    verify = ssl.create_default_context(cafile=str(ca_file))
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, verify=verify, timeout=2)
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.pid() is None:
            break
        time.sleep(0.5)
    raise StepFailedError(f"the MCP server did not become ready; its log:\n{process.log_tail(30)}")


def _print_demo(report: UpReport, token_hint: str) -> None:
    out = sys.stdout
    results, mcp_url, ca_file = report.demo, report.mcp_url, report.ca_file
    print("\ngetContent('summer running shoes for trail runners', limit=3):", file=out)
    for item in results.content.get("items", []):
        print(f"  {item.get('score', 0):.3f}  {item.get('title')}", file=out)
    print(
        f"  (first call cached={results.content.get('cached')}, "
        f"identical second call cached={results.content_again.get('cached')})",
        file=out,
    )
    print(f"\ngenerateCampaignMessages(campaign {report.campaign_id}, sms, 2):", file=out)
    print(f"  generator: {results.messages.get('generator')}", file=out)
    for variant in results.messages.get("variants", []):
        print(f"  - {variant.get('body') or variant.get('text')}", file=out)
    totals = results.performance.get("totals", {})
    print(f"\ngetCampaignPerformance(campaign {report.campaign_id}, last 90 days):", file=out)
    print("  " + json.dumps(totals, default=str), file=out)
    print(
        "\nConnect an agent (streamable HTTP, OAuth bearer token from the local issuer):\n"
        f"  URL:    {mcp_url}\n  CA:     {ca_file}\n  token:  {token_hint}",
        file=out,
    )


@dataclass(frozen=True)
class UpReport:
    """The real outcome of each step, for the closing printout and the end-to-end test."""

    mcp_url: str
    ca_file: Path
    campaign_id: int
    etl: dict[str, dict[str, Any]]
    demo: DemoResults
    preview: preview_mod.Preview
    summary: str
    cluster: cluster_mod.ClusterReport | None = None


def up(settings: LocalSettings, options: UpOptions, *, echo: bool = True) -> UpReport:
    """Run every step; raises StepFailedError with what to install, start or fix."""
    # Checked before anything else, so a bad kubeconfig stops `up` having changed nothing.
    cluster = (
        cluster_mod.connect(options.kubeconfig, preview_mod.PLATFORM_NAMESPACE)
        if options.kubeconfig
        else None
    )
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    progress = Progress(total=7)
    mcp_url = f"https://127.0.0.1:{settings.mcp_port}/mcp"

    with progress.step("services: PostgreSQL, Redis, SecantusDB (MongoDB wire protocol)"):
        check_postgres(settings.pg_admin_dsn)
        check_redis(settings.redis_url)
        started, _ = ensure_mongo(home, settings.mongo_port, settings.mongo_uri)
        progress.note("SecantusDB " + ("started" if started else "already running"))
        progress.record("PostgreSQL", "127.0.0.1:5432 (warehouse + stand-in SQL Server sources)")
        progress.record("Redis", f"{settings.redis_url} (MCP response cache)")
        progress.record(
            "MongoDB (SecantusDB stand-in)",
            f"{settings.mongo_uri} (PromptContent, data in {home / 'mongo-data'})",
        )

    with progress.step("platform CA and MCP serving certificate (certs/)"):
        pki = ensure_pki(home)
        issuer = ensure_issuer(home, audience=mcp_url)
        progress.note(
            f"CA {'created' if pki.created_ca else 'kept'}; serving certificate "
            f"{'issued' if pki.issued_server else 'still valid'}"
        )
        progress.record("Platform CA", str(pki.ca_cert))

    with progress.step("schemas, seed data and PII keyring"):
        dbs = ensure_databases(settings)
        keyring_file = home / "secrets" / "pii" / "keyring.json"
        if not keyring_file.exists():
            keyring_file.parent.mkdir(parents=True, exist_ok=True)
            _run(
                [*_cli(), "pii", "keyring", "create", "--file", str(keyring_file)],
                {},
                "keyring create",
            )
        # Credentials as files named like their settings (a mounted Secret's layout); the
        # env file holds the rest and points at them. Every later step and every command
        # a person runs after `up` read the same two.
        platform_secrets = write_secret_files(
            home / "secrets" / "platform",
            {
                "PROMPTSALES_ETL_ADS_URL": dbs.ads_url,
                "PROMPTSALES_ETL_CRM_URL": dbs.crm_url,
                "PROMPTSALES_ETL_WAREHOUSE_DSN": dbs.warehouse_dsn,
                "PROMPTSALES_MCP_WAREHOUSE_DSN": dbs.warehouse_dsn,
                "PROMPTSALES_MCP_MONGO_URI": settings.mongo_uri,
                "PROMPTSALES_MCP_REDIS_URL": settings.redis_url,
            },
        )
        platform_env = {
            "PROMPTSALES_SECRETS_DIR": str(platform_secrets),
            "PROMPTSALES_PII_KEYRING_FILE": str(keyring_file),
            "PROMPTSALES_CERTS_CA_CERT_FILE": str(pki.ca_cert),
            "PROMPTSALES_CERTS_CA_KEY_FILE": str(pki.ca_key),
            "PROMPTSALES_MCP_MONGO_DB": CONTENT_DB,
            "PROMPTSALES_MCP_HOST": "127.0.0.1",
            "PROMPTSALES_MCP_PORT": str(settings.mcp_port),
            "PROMPTSALES_MCP_PUBLIC_URL": f"https://127.0.0.1:{settings.mcp_port}",
            "PROMPTSALES_MCP_TLS_CERT_FILE": str(pki.server_cert),
            "PROMPTSALES_MCP_TLS_KEY_FILE": str(pki.server_key),
            "PROMPTSALES_MCP_TLS_CLIENT_CA_FILE": str(pki.ca_cert),
            "PROMPTSALES_MCP_OAUTH_ISSUER": ISSUER,
            "PROMPTSALES_MCP_OAUTH_AUDIENCE": mcp_url,
            "PROMPTSALES_MCP_OAUTH_PUBLIC_KEYS_FILE": str(issuer.public_key_file),
            "PROMPTSALES_MCP_OAUTH_ALGORITHMS": '["ES256"]',
            "HF_HUB_OFFLINE": "1",
        }
        env_file = write_env_file(home, platform_env)
        progress.record("Settings for promptsales commands", str(env_file))
        _run([*_cli(), "etl", "init-schema", "--sources"], platform_env, "etl init-schema")
        if _sources_seeded(dbs.ads_url):
            progress.note("sources already seeded: kept")
        else:
            n_campaigns, customers, days = options.seed_size()
            progress.note(f"seeding {n_campaigns} campaigns, {customers} customers, {days} days")
            _run(
                [*_cli(), "etl", "seed", "--campaigns", str(n_campaigns),
                 "--customers", str(customers), "--days", str(days),
                 "--first-campaign-id", str(FIRST_CAMPAIGN_ID)],
                platform_env,
                "etl seed",
            )  # fmt: skip
        progress.record("Warehouse", f"PostgreSQL database {settings.warehouse_db}")
        progress.record(
            "Sources (SQL Server stand-in)",
            f"PostgreSQL databases {settings.ads_db}, {settings.crm_db}",
        )

    with progress.step("content library with local embeddings (all-MiniLM-L6-v2)"):
        existing = _content_count(settings.mongo_uri)
        if existing:
            progress.note(f"{existing} content items already embedded: kept")
        else:
            _run([*_cli(), "mcp", "seed-content"], platform_env, "mcp seed-content")
            progress.note(f"{_content_count(settings.mongo_uri)} items embedded and stored")

    campaigns = preview_mod.load_examples(options.examples_dir)
    now = dt.datetime.now(dt.UTC)
    etl_summaries: dict[str, dict[str, Any]] = {}
    with progress.step(f"ETL for {len(campaigns)} example campaigns, as their CronJobs run it"):
        for campaign in campaigns:
            command, env, suspended = preview_mod.cronjob_command(campaign, now)
            if suspended:
                progress.note(
                    f"{campaign.name} (campaign {campaign.campaign_id}): CronJob suspended "
                    f"(window {campaign.window_state(now)}), not run"
                )
                continue
            env.update(platform_env)
            line = _run([*_cli(), *command[1:]], env, " ".join(command))
            summary = json.loads(line.strip().splitlines()[-1])
            etl_summaries[campaign.name] = summary
            loaded = sum(int(v) for v in (summary.get("rows_loaded") or {}).values())
            progress.note(
                f"{campaign.name} (campaign {campaign.campaign_id}): {summary.get('status')}, "
                f"{loaded} rows loaded in {int(summary.get('duration_ms', 0)) / 1000:.1f}s"
            )

    process = ManagedProcess("mcp-server", home)
    with progress.step("MCP server over HTTPS, then every tool through the SDK's client"):
        if process.pid() is None:
            process.start([*_cli(), "mcp", "serve", "--transport", "http"], env=platform_env)
        _wait_ready(f"https://127.0.0.1:{settings.mcp_port}/readyz", pki.ca_cert, process, 180)
        token = issuer.token("marketing")
        active = [c for c in campaigns if c.name in etl_summaries]
        campaign_id = int(active[0].campaign_id) if active else FIRST_CAMPAIGN_ID
        try:
            results = asyncio.run(call_tools(mcp_url, pki.ca_cert, token, campaign_id, now.date()))
        except (RuntimeError, OSError) as exc:
            raise StepFailedError(f"calling the MCP server failed: {exc}") from None
        progress.record("MCP server", f"{mcp_url} (pid {process.pid()}, log {process.log_file})")

    plan = preview_mod.preview(campaigns, ca_cert=pki.ca_cert, ca_key=pki.ca_key)
    cluster_report = None
    if cluster is None:
        with progress.step("operator preview: what it would create for each example campaign"):
            progress.note(f"{len(plan.campaigns)} campaigns previewed; nothing applied")
    else:
        with progress.step("operator on the cluster: CRD, CA Secret, campaigns, until Ready"):
            try:
                cluster_report = cluster_mod.deploy(
                    cluster,
                    home=home,
                    ca_cert=pki.ca_cert,
                    ca_key=pki.ca_key,
                    examples_dir=options.examples_dir,
                )
            finally:
                cluster.close()
            progress.record("Operator", f"{cluster_report.operator} -> {cluster_report.where}")

    report = UpReport(
        mcp_url=mcp_url,
        ca_file=pki.ca_cert,
        campaign_id=campaign_id,
        etl=etl_summaries,
        demo=results,
        preview=plan,
        summary=progress.render_summary(),
        cluster=cluster_report,
    )
    if echo:
        print_report(report)
    return report


def print_report(report: UpReport) -> None:
    """What a person sees at the end of ``up``: tool answers, the preview, what runs where."""
    _print_demo(report, "promptsales token --role marketing")
    if report.cluster is not None:
        print("\n" + cluster_mod.render(report.cluster))
    else:
        print("\n" + preview_mod.render(report.preview))
        hint = cluster_mod.kubeconfig_hint()
        if hint:
            print(hint)
    print("\nRunning:\n" + report.summary)
    print("\nStop with `promptsales down` (data kept; `--delete-data` removes it).")
