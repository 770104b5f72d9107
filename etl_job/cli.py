"""``promptsales etl ...``: schema set-up, seed data, runs and their status.

Commands import what only they need inside themselves: ``run`` is what every campaign's
CronJob starts, and the seed's numpy or the simulations' drivers would only slow its start.

Exit codes are part of the interface a CronJob and an operator act on; see
:class:`etl_job.run.ExitCode`. Every ``run`` prints exactly one JSON summary line on stdout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import psycopg
import sqlalchemy
import typer

from etl_job.concurrency.command import simulate as simulate_command
from etl_job.extract import Scope
from etl_job.run import ExitCode, RunSummary, run_etl
from etl_job.settings import load_etl_settings
from promptsales.config import ConfigError
from promptsales.logs import redact_text
from promptsales.pii import PiiError, load_keyring
from promptsales.pii.settings import load_pii_settings


@contextmanager
def _database_errors() -> Iterator[None]:
    """One line and an exit code a person can act on, instead of a driver traceback."""
    try:
        yield
    except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
        typer.echo(f"error: database unreachable: {redact_text(str(exc)).strip()}", err=True)
        raise typer.Exit(int(ExitCode.WAREHOUSE_UNAVAILABLE)) from None


app = typer.Typer(
    help="ETL: PromptAds and PromptCRM into the PromptSales warehouse.", no_args_is_help=True
)


@app.command("init-schema")
def init_schema(
    sources: Annotated[
        bool, typer.Option(help="Also create the stand-in source tables, triggers and views.")
    ] = False,
) -> None:
    """Create the warehouse schema (idempotent: safe to run twice)."""
    from etl_job.seed import create_source_schema
    from etl_job.warehouse import init_warehouse

    settings = load_etl_settings()
    with _database_errors():
        init_warehouse(settings.warehouse_dsn.get_secret_value())
        if sources:
            create_source_schema(
                settings.ads_url.get_secret_value(), settings.crm_url.get_secret_value()
            )
    typer.echo(json.dumps({"event": "init-schema", "status": "ok", "sources": sources}))


@app.command()
def seed(
    campaigns: Annotated[int, typer.Option(min=1, help="Campaigns (seed scale: 1000).")] = 20,
    customers: Annotated[
        int, typer.Option(min=1, help="CRM customers (seed scale: 500000).")
    ] = 2000,
    days: Annotated[int, typer.Option(min=1, help="Days of daily ad metrics.")] = 90,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    first_campaign_id: Annotated[
        int, typer.Option(min=1, help="PromptAds id of the first campaign (ids are consecutive).")
    ] = 1,
    reset: Annotated[bool, typer.Option(help="Truncate the source tables first.")] = False,
) -> None:
    """Fill the PostgreSQL stand-in sources with deterministic data."""
    from etl_job.seed import SeedError, SeedSize, seed_sources  # numpy: only for the seed

    settings = load_etl_settings()
    size = SeedSize(
        campaigns=campaigns,
        customers=customers,
        days=days,
        seed=seed_value,
        first_campaign_id=first_campaign_id,
    )
    with _database_errors():
        try:
            summary = seed_sources(
                settings.ads_url.get_secret_value(),
                settings.crm_url.get_secret_value(),
                size,
                reset=reset,
            )
        except SeedError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps({"event": "seed", "status": "ok", "rows": summary.as_dict()}))


app.command("simulate")(simulate_command)


@app.command()
def run(
    campaign_id: Annotated[
        int | None, typer.Option(min=1, help="Load one campaign (the CronJob's scope).")
    ] = None,
    all_campaigns: Annotated[bool, typer.Option("--all", help="Load every campaign.")] = False,
) -> None:
    """Load changes since the last run of this scope; prints one JSON summary line."""
    if (campaign_id is None) == (not all_campaigns):
        typer.echo("error: pass exactly one of --campaign-id N or --all", err=True)
        raise typer.Exit(int(ExitCode.CONFIG))
    scope = Scope(campaign_id=campaign_id)
    try:
        settings = load_etl_settings()
        keyring = load_keyring(load_pii_settings().keyring_file)
    except ConfigError as exc:
        summary = RunSummary(scope=scope.name, status="failed", exit_code=ExitCode.CONFIG)
        summary.error = str(exc)
        typer.echo(json.dumps(summary.as_dict()))
        raise typer.Exit(int(ExitCode.CONFIG)) from None
    except PiiError as exc:
        summary = RunSummary(scope=scope.name, status="failed", exit_code=ExitCode.KEYS)
        summary.error = str(exc)
        typer.echo(json.dumps(summary.as_dict()))
        raise typer.Exit(int(ExitCode.KEYS)) from None
    summary = run_etl(settings, scope, keyring)
    typer.echo(json.dumps(summary.as_dict(), separators=(",", ":")))
    raise typer.Exit(summary.exit_code)


@app.command()
def status(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many recent runs.")] = 10,
) -> None:
    """Recent runs, watermarks per scope and view, quarantine counts (JSON)."""
    from etl_job.status import read_status

    settings = load_etl_settings()
    with _database_errors():
        report = read_status(settings.warehouse_dsn.get_secret_value(), limit)
    typer.echo(json.dumps(report, default=str, indent=2))
