"""Choose scenarios, run them, and render what happened as text a person can follow."""

from __future__ import annotations

from collections.abc import Iterable

from etl_job.concurrency import deadlock, dirty_read, lost_update
from etl_job.concurrency.outcome import Outcome
from etl_job.concurrency.scenario import Scenario
from etl_job.concurrency.settings import SimulationSettings


def run_scenario(scenario: Scenario, settings: SimulationSettings) -> list[Outcome]:
    """Run one scenario (or all three) against the configured servers."""
    postgres = settings.postgres_dsn.get_secret_value()
    mariadb = settings.mariadb_url.get_secret_value()
    outcomes: list[Outcome] = []
    if scenario in (Scenario.LOST_UPDATE, Scenario.ALL):
        outcomes += lost_update.simulate(postgres)
    if scenario in (Scenario.DIRTY_READ, Scenario.ALL):
        outcomes += dirty_read.simulate(postgres, mariadb)
    if scenario in (Scenario.DEADLOCK, Scenario.ALL):
        outcomes += deadlock.simulate(postgres)
    return outcomes


def render(outcomes: Iterable[Outcome]) -> str:
    """Each variant as a header, its interleaved steps, and a verdict line."""
    blocks = []
    for outcome in outcomes:
        label = "protected" if outcome.protected else "unprotected"
        verdict = ("ANOMALY" if outcome.anomaly else "PREVENTED") + (
            "" if outcome.as_expected else "  (UNEXPECTED for this variant)"
        )
        lines = [f"== {outcome.scenario} / {outcome.variant} [{outcome.engine}, {label}]"]
        lines += [f"   {step}" for step in outcome.steps]
        lines.append(f"   -> {verdict}: {outcome.summary}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
