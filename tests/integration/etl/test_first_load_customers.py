"""A first load COPYs customers straight into ``dim_customer``; it must quarantine, count
and leave the table exactly as the staged merge does."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from etl_job import bulk
from tests.integration.etl.env import EtlEnv, execute, snapshot

_OPEN_ENTRIES = (
    "SELECT source_key, reason, payload FROM warehouse.etl_quarantine "
    "WHERE source_view = 'v_customer' AND resolved_run_id IS NULL ORDER BY source_key"
)


def _customer_ids(env: EtlEnv) -> list[int]:
    with psycopg.connect(env.crm.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [r[0] for r in conn.execute("SELECT customer_id FROM customers ORDER BY 1")]


def _quarantined(warehouse: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(warehouse) as conn:
        return conn.execute(_OPEN_ENTRIES).fetchall()


def test_first_load_customers_match_the_staged_merge(
    etl_env: EtlEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct_calls: list[int] = []
    copy_customers = bulk.copy_customers

    def spy(*args: Any, **kwargs: Any) -> bulk.DirectResult:
        direct_calls.append(1)
        return copy_customers(*args, **kwargs)

    monkeypatch.setattr(bulk, "copy_customers", spy)
    ids = _customer_ids(etl_env)
    blank = ids[3]
    execute(etl_env.crm, "UPDATE customers SET email = '   ' WHERE customer_id = %s", (blank,))

    # Direct: a fresh warehouse, empty facts and customers.
    first = etl_env.run()
    assert first.status == "succeeded", first.error
    assert first.rows_quarantined["v_customer"] == 1
    assert first.rows_loaded["v_customer"] == len(ids) - 1
    assert first.rows_read["v_customer"] == len(ids)
    assert direct_calls == [1]

    # Staged: the same sources into a warehouse that already holds one customer (so the
    # first load must merge customers through staging, as every later run does).
    staged_wh = etl_env.fresh_warehouse()
    execute(
        staged_wh,
        "INSERT INTO warehouse.dim_customer (customer_id, email_hmac, pii_key_id, "
        "pii_ciphertext, country, created_day, source_version) "
        "VALUES (-1, '\\x00', 'none', '\\x00', 'XX', '2000-01-01', 0)",
    )
    second = etl_env.run(warehouse=staged_wh)
    assert second.status == "succeeded", second.error
    assert second.rows_quarantined["v_customer"] == first.rows_quarantined["v_customer"]
    assert second.rows_read["v_customer"] == first.rows_read["v_customer"]
    assert second.rows_loaded["v_customer"] == first.rows_loaded["v_customer"]
    assert direct_calls == [1]  # the staged warehouse merged
    execute(staged_wh, "DELETE FROM warehouse.dim_customer WHERE customer_id = -1")

    assert _quarantined(etl_env.warehouse) == _quarantined(staged_wh)
    [(key, reason, payload)] = _quarantined(etl_env.warehouse)
    assert (key, reason) == (str(blank), "missing email")
    assert set(payload) == {"customer_id", "country", "created_day", "change_version"}
    assert snapshot(etl_env.warehouse) == snapshot(staged_wh)
