"""Pure parts of the simulations: URL parsing and the printed verdicts."""

from __future__ import annotations

import pytest

from etl_job.concurrency.databases import SimulationError, parse_mariadb_url
from etl_job.concurrency.outcome import Outcome
from etl_job.concurrency.runner import render


def _outcome(*, protected: bool, anomaly: bool) -> Outcome:
    return Outcome("lost-update", "v", "postgresql", protected, anomaly, "summary", ("T1: x",))


def test_mariadb_url_is_parsed_with_defaults() -> None:
    target = parse_mariadb_url("mysql+pymysql://app:s3cret@db.example:3307/")
    assert (target.host, target.port, target.user, target.password) == (
        "db.example",
        3307,
        "app",
        "s3cret",
    )
    assert parse_mariadb_url("mariadb://h").port == 3306


@pytest.mark.parametrize("url", ["not a url", "postgresql://h/db"])
def test_bad_mariadb_url_names_the_setting_without_echoing_it(url: str) -> None:
    with pytest.raises(SimulationError, match="PROMPTSALES_ETL_SIM_MARIADB_URL") as info:
        parse_mariadb_url(url)
    assert url not in str(info.value)


@pytest.mark.parametrize(
    ("protected", "anomaly", "expected"),
    [(False, True, True), (True, False, True), (False, False, False), (True, True, False)],
)
def test_as_expected_means_protection_and_anomaly_disagree(
    protected: bool, anomaly: bool, expected: bool
) -> None:
    assert _outcome(protected=protected, anomaly=anomaly).as_expected is expected


def test_render_flags_a_variant_that_misbehaved() -> None:
    text = render([_outcome(protected=True, anomaly=True)])
    assert "ANOMALY" in text
    assert "UNEXPECTED" in text
    assert "T1: x" in text
