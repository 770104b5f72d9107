"""The single ``promptsales`` command; each component contributes one sub-command group.

A group is registered here only once its component does real work, so ``--help`` never
advertises a command that is a placeholder.
"""

from __future__ import annotations

import os
import sys

import typer

from etl_job import cli as etl_cli
from mcp_server import cli as mcp_cli
from promptsales import __version__
from promptsales.config import ConfigError
from promptsales_cli import certs_commands as certs_cli
from promptsales_cli import pii_commands as pii_cli
from promptsales_cli import render_commands as render_cli
from promptsales_cli.ca_rollover import cli as ca_rollover_cli
from promptsales_cli.local import cli as local_cli
from promptsales_cli.local.envfile import apply_env_file
from promptsales_operator import cli as operator_cli

app = typer.Typer(
    name="promptsales",
    help="PromptSales platform: PKI, ETL, MCP server, operator and deployment tooling.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# `up` writes the local platform's env file; `up`, `down` and `token` take everything
# from PROMPTSALES_LOCAL_* and never read it.
LOCAL_PLATFORM_COMMANDS = frozenset({"up", "down", "token"})


@app.callback()
def _local_platform_environment(ctx: typer.Context) -> None:
    # Every component command reaches the local platform after `promptsales up` without
    # exports: variables missing from the environment come from its platform.env.
    if ctx.invoked_subcommand not in LOCAL_PLATFORM_COMMANDS:
        apply_env_file(os.environ)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


# --- component command groups (one line each) ---
certs_cli.app.command("rotate-ca")(ca_rollover_cli.rotate_ca)
app.add_typer(certs_cli.app, name="certs")
app.add_typer(etl_cli.app, name="etl")
app.add_typer(pii_cli.app, name="pii")
app.add_typer(render_cli.app, name="render")
app.add_typer(mcp_cli.app, name="mcp")
app.add_typer(operator_cli.app, name="operator")
app.command("up")(local_cli.up)
app.command("down")(local_cli.down)
app.command("token")(local_cli.token)
# --- end component command groups ---


def main() -> None:
    """Console entry point: configuration errors end the process with exit code 2."""
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
