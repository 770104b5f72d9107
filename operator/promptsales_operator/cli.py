"""``promptsales operator run``: the operator's process entry point."""

from __future__ import annotations

import asyncio

import typer

from promptsales.config import load_settings
from promptsales.logs import configure_logging
from promptsales_operator.settings import OperatorSettings

app = typer.Typer(help="The PromptSalesCampaign operator (kopf).", no_args_is_help=True)


@app.callback()
def group() -> None:
    """The PromptSalesCampaign operator (kopf)."""


@app.command()
def run(
    namespace: str | None = typer.Option(None, help="Namespace to watch (overrides env)."),
    kubeconfig: str | None = typer.Option(None, help="kubeconfig file; default in-cluster."),
    probe_port: int | None = typer.Option(None, help="Port for /healthz, /readyz, /metrics."),
    resync_seconds: float | None = typer.Option(None, help="Drift repair period (safety net)."),
) -> None:
    """Reconcile PromptSalesCampaigns until interrupted (settings: PROMPTSALES_OPERATOR_*)."""
    overrides = {
        key: value
        for key, value in {
            "namespace": namespace,
            "kubeconfig": kubeconfig,
            "probe_port": probe_port,
            "resync_seconds": resync_seconds,
        }.items()
        if value is not None
    }
    settings = load_settings(OperatorSettings, **overrides)
    configure_logging(settings.log_level)
    from promptsales_operator.runner import Operator

    asyncio.run(Operator(settings).run())


def main() -> None:
    """``python -m promptsales_operator``: the same command without importing the other
    components' CLIs (ETL, MCP, ...), which saves their memory in the operator's pod."""
    import sys

    from promptsales.config import ConfigError

    try:
        app()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
