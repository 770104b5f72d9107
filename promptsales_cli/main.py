"""The single ``promptsales`` command; each component contributes one sub-command group.

A group is registered here only once its component does real work, so ``--help`` never
advertises a command that is a placeholder. A command line that names a group imports only
that group (``build_app``): the ETL CronJobs start ``promptsales etl run`` thousands of
times an hour, and the other components' imports were most of its start-up.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

import typer

from promptsales import __version__
from promptsales.config import ConfigError

# `up` writes the local platform's env file; `up`, `down` and `token` take everything
# from PROMPTSALES_LOCAL_* and never read it.
LOCAL_PLATFORM_COMMANDS = frozenset({"up", "down", "token"})


def _local_platform_environment(ctx: typer.Context) -> None:
    # Every component command reaches the local platform after `promptsales up` without
    # exports: variables missing from the environment come from its platform.env.
    if ctx.invoked_subcommand not in LOCAL_PLATFORM_COMMANDS:
        from promptsales_cli.local.envfile import apply_env_file

        apply_env_file(os.environ)


def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


# --- component command groups (one registration each) ---
# Each is imported only when the application is built with it: a CronJob's
# `promptsales etl run` starts 1,000 times every 11 minutes and needs none of the
# operator's, the MCP server's or the renderer's imports (≈ 2 s of its start before).


def _certs(app: typer.Typer) -> None:
    from promptsales_cli import certs_commands as certs_cli
    from promptsales_cli.ca_rollover import cli as ca_rollover_cli

    if not any(c.name == "rotate-ca" for c in certs_cli.app.registered_commands):
        certs_cli.app.command("rotate-ca")(ca_rollover_cli.rotate_ca)
    app.add_typer(certs_cli.app, name="certs")


def _etl(app: typer.Typer) -> None:
    from etl_job import cli as etl_cli

    app.add_typer(etl_cli.app, name="etl")


def _pii(app: typer.Typer) -> None:
    from promptsales_cli import pii_commands as pii_cli

    app.add_typer(pii_cli.app, name="pii")


def _render(app: typer.Typer) -> None:
    from promptsales_cli import render_commands as render_cli

    app.add_typer(render_cli.app, name="render")


def _mcp(app: typer.Typer) -> None:
    from mcp_server import cli as mcp_cli

    app.add_typer(mcp_cli.app, name="mcp")


def _operator(app: typer.Typer) -> None:
    from promptsales_operator import cli as operator_cli

    app.add_typer(operator_cli.app, name="operator")


def _local(app: typer.Typer) -> None:
    from promptsales_cli.local import cli as local_cli

    app.command("up")(local_cli.up)
    app.command("down")(local_cli.down)
    app.command("token")(local_cli.token)


COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "certs": _certs,
    "etl": _etl,
    "pii": _pii,
    "render": _render,
    "mcp": _mcp,
    "operator": _operator,
    "up": _local,
    "down": _local,
    "token": _local,
}
"""Top-level command name → what registers it (``up``, ``down`` and ``token`` together)."""
# --- end component command groups ---


def build_app(command: str | None = None) -> typer.Typer:
    """The ``promptsales`` application; with ``command``, only what that command needs.

    Without one (``--help``, an unknown name) every group is registered, so help and
    errors list everything.
    """
    app = typer.Typer(
        name="promptsales",
        help="PromptSales platform: PKI, ETL, MCP server, operator and deployment tooling.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.callback()(_local_platform_environment)
    app.command()(version)
    registrations = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for register in dict.fromkeys(registrations):
        register(app)
    return app


def _command_named(argv: list[str]) -> str | None:
    """The top-level command of ``argv`` (its first word that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


@functools.cache
def _full_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> typer.Typer:
    """``from promptsales_cli.main import app``: the application with every command."""
    if name == "app":
        return _full_app()
    raise AttributeError(name)


def main() -> None:
    """Console entry point: configuration errors end the process with exit code 2."""
    try:
        build_app(_command_named(sys.argv[1:]))()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
