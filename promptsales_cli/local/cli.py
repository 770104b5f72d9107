"""``promptsales up``, ``down`` and ``token``: the local platform's commands.

The orchestration modules import kopf, the MCP SDK and the operator; they are imported
inside the commands so that every other ``promptsales`` command (an ETL CronJob's above
all) starts without paying for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptsales.config import load_settings
from promptsales_cli.local.settings import LocalSettings


def up(
    campaigns: Annotated[int, typer.Option(min=1, help="Seed campaigns (default size).")] = 20,
    customers: Annotated[int, typer.Option(min=1, help="Seed CRM customers.")] = 2000,
    full_scale: Annotated[
        bool,
        typer.Option(help="Seed the original design's scale: 1,000 campaigns, 500K customers."),
    ] = False,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            envvar="PROMPTSALES_LOCAL_KUBECONFIG",
            help="Install the CRD and run the operator on this cluster instead of the preview.",
        ),
    ] = None,
) -> None:
    """Run the PromptSales data plane on this machine (idempotent: safe to run again)."""
    from promptsales_cli.local.progress import StepFailedError
    from promptsales_cli.local.up import UpOptions
    from promptsales_cli.local.up import up as up_platform

    settings = load_settings(LocalSettings)
    try:
        up_platform(
            settings,
            UpOptions(
                campaigns=campaigns,
                customers=customers,
                full_scale=full_scale,
                kubeconfig=kubeconfig,
            ),
        )
    except StepFailedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def down(
    delete_data: Annotated[
        bool, typer.Option(help="Also drop the databases and remove the state directory.")
    ] = False,
) -> None:
    """Stop what `promptsales up` started; data is kept unless --delete-data."""
    from promptsales_cli.local.down import down as down_platform

    for line in down_platform(load_settings(LocalSettings), delete_data=delete_data) or [
        "nothing was running"
    ]:
        typer.echo(line)


def token(
    role: Annotated[str, typer.Option(help="marketing, sales or user")] = "marketing",
    campaign_id: Annotated[int | None, typer.Option(min=1, help="Scope to one campaign.")] = None,
    ttl: Annotated[int, typer.Option(min=60, max=86_400, help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a bearer token from the local issuer, for connecting an agent to the local MCP."""
    from promptsales_cli.local.tokens import ensure_issuer

    if role not in {"marketing", "sales", "user"}:
        typer.echo(f"error: --role: {role!r} is not marketing, sales or user", err=True)
        raise typer.Exit(2)
    settings = load_settings(LocalSettings)
    issuer = ensure_issuer(
        settings.home.resolve(), audience=f"https://127.0.0.1:{settings.mcp_port}/mcp"
    )
    typer.echo(issuer.token(role, campaign_id, ttl))
