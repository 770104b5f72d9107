"""Each CEL rule of the campaign API and the Python check declared beside it agree.

The API server runs the CEL; the operator runs the Python (on objects admitted before a
rule existed). Hypothesis draws values around every rule's boundary and both must give
the same verdict.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support import crd
from workloads import campaign_api as api

durations = st.builds(
    lambda h, m, s: (
        "".join(f"{value}{unit}" for value, unit in ((h, "h"), (m, "m"), (s, "s")) if value) or "0s"
    ),
    st.integers(0, 3000),
    st.integers(0, 120),
    st.integers(0, 120),
)
moments = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 1, 3), timezones=st.just(dt.UTC)
)


def _cel_ok(model: type[api.ApiModel], value: dict[str, Any]) -> bool:
    schema = crd.version_schema(crd.load_crd())["properties"]["spec"]["properties"]
    section = {
        api.Certificate: "certificate",
        api.Demand: "demand",
        api.Window: "window",
    }[model]
    return not crd.cel_violations(schema[section], value, None)


def _python_ok(model: type[api.ApiModel], value: dict[str, Any]) -> bool:
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(validity=durations, renew=durations)
def test_certificate_rules_agree(validity: str, renew: str) -> None:
    value = {"validity": validity, "renewBefore": renew}
    assert _cel_ok(api.Certificate, value) == _python_ok(api.Certificate, value)


@settings(max_examples=150, deadline=None)
@given(rps=st.floats(0, 10_000), peak=st.none() | st.floats(0, 100_000))
def test_demand_rule_agrees(rps: float, peak: float | None) -> None:
    value: dict[str, Any] = {"requestsPerSecond": rps}
    if peak is not None:
        value["peakRequestsPerSecond"] = peak
    assert _cel_ok(api.Demand, value) == _python_ok(api.Demand, value)


@settings(max_examples=150, deadline=None)
@given(start=st.none() | moments, end=st.none() | moments)
def test_window_rule_agrees(start: dt.datetime | None, end: dt.datetime | None) -> None:
    value = {
        key: moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        for key, moment in (("start", start), ("end", end))
        if moment is not None
    }
    assert _cel_ok(api.Window, value) == _python_ok(api.Window, value)


@pytest.mark.parametrize("name", ["a" * 63, "a" * 64])
def test_root_name_rule_agrees(name: str) -> None:
    obj = {"metadata": {"name": name}, "spec": {"campaignId": "1", "displayName": "x"}}
    schema = crd.version_schema(crd.load_crd())
    cel_ok = not [v for v in crd.cel_violations(schema, obj, None) if v.path == "."]
    assert cel_ok == all(rule.check(name) for rule in api.ROOT_RULES)
