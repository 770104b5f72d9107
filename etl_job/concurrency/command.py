"""The ``promptsales etl simulate`` command: runs the simulations and prints the story.

Exit codes: 0 when every variant behaved as documented (anomaly without protection,
none with it), 1 when one did not, 2 when a server could not be reached.
"""

from __future__ import annotations

from typing import Annotated

import typer

from etl_job.concurrency.scenario import Scenario


def simulate(
    scenario: Annotated[
        Scenario, typer.Argument(help="Which concurrency problem to stage.")
    ] = Scenario.ALL,
) -> None:
    """Stage lost update, dirty read and deadlock on real engines, unprotected then protected.

    Servers come from PROMPTSALES_ETL_SIM_POSTGRES_DSN and PROMPTSALES_ETL_SIM_MARIADB_URL;
    every run uses its own throwaway database.
    """
    from etl_job.concurrency.databases import SimulationError
    from etl_job.concurrency.runner import render, run_scenario
    from etl_job.concurrency.settings import load_simulation_settings

    settings = load_simulation_settings()
    try:
        outcomes = run_scenario(scenario, settings)
    except SimulationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(render(outcomes))
    failed = [o for o in outcomes if not o.as_expected]
    typer.echo(f"\n{len(outcomes) - len(failed)}/{len(outcomes)} variants behaved as documented")
    if failed:
        raise typer.Exit(1)
