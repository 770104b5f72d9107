"""The batch filter of a first load passes exactly the rows its quarantine rule passes."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from etl_job import bulk

CAMPAIGNS = {1, 2}
ADS = {10, 11}
DAY = dt.date(2026, 7, 1)
AT = dt.datetime(2026, 7, 1, 12)

# Every field takes a good value and each way it can be bad; the product covers every mix.
FIELD_VALUES: dict[str, list[list[Any]]] = {
    "v_ad_metrics_daily": [
        [10, 11, 12, None],  # ad_id: known, known, unknown, missing
        [1, 3, None],  # campaign_id: known, unknown, missing (an ad without campaign)
        [DAY, None],
        [0, 5, -1],  # impressions
        [0, -2],  # clicks
        [0, 150, -1],  # spend_cents: the extract reads ad spend as integer cents
        [0, -1],  # conversions
        [7],  # change_version
    ],
    "v_lead": [
        [100],
        [5, None],  # customer_id
        [1, 2, 3, None],  # campaign_id
        [AT],
        ["new"],
        [7],
    ],
    "v_conversion": [
        [200],
        [5, None],
        [1, 3, None],
        [None, 100],  # lead_id
        [AT],
        [Decimal("0.00"), Decimal("9.99"), Decimal("-1.00")],  # revenue
        [7],
    ],
}


@pytest.mark.parametrize("view", bulk.FACT_VIEWS)
def test_accept_matches_the_rule(view: str) -> None:
    rows = [tuple(combo) for combo in itertools.product(*FIELD_VALUES[view])]
    rule = bulk.rule_for(view, CAMPAIGNS, ADS)
    expected = [row for row in rows if rule(row) is None]
    assert bulk.accept_for(view, CAMPAIGNS, ADS)(rows) == expected
    # Both outcomes occur, or the comparison above would prove little.
    assert 0 < len(expected) < len(rows)
