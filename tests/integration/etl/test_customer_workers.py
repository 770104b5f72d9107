"""Customers encrypted in worker processes land exactly as those encrypted in the reader
thread: first load (direct COPY) and a later merge (staging), quarantine included."""

from __future__ import annotations

from typing import Any

import psycopg

from etl_job.source_model import PERSONAL_FIELDS
from promptsales.pii import PiiCipher
from tests.integration.etl.env import EtlEnv, execute, snapshot, source_dsn

_QUARANTINE = (
    "SELECT source_key, reason, payload, resolved_run_id IS NULL FROM warehouse.etl_quarantine "
    "WHERE source_view = 'v_customer' ORDER BY source_key"
)


def _decrypted(env: EtlEnv, warehouse: str) -> dict[int, dict[str, Any]]:
    with psycopg.connect(warehouse) as conn:
        cipher = PiiCipher.load(conn, env.keyring())
        return {
            cid: cipher.decrypt(key_id, blob)
            for cid, key_id, blob in conn.execute(
                "SELECT customer_id, pii_key_id, pii_ciphertext FROM warehouse.dim_customer"
            )
        }


def _source_fields(env: EtlEnv) -> dict[int, dict[str, Any]]:
    """The personal fields as the encrypted JSON has them (dates as ISO text)."""
    with psycopg.connect(source_dsn(env.crm)) as conn:
        rows = conn.execute(f"SELECT customer_id, {', '.join(PERSONAL_FIELDS)} FROM customers")
        return {
            r[0]: {
                name: (value.isoformat() if hasattr(value, "isoformat") else value)
                for name, value in zip(PERSONAL_FIELDS, r[1:], strict=True)
            }
            for r in rows
        }


def _same(env: EtlEnv, workers_wh: str, thread_wh: str) -> None:
    assert snapshot(workers_wh) == snapshot(thread_wh)
    with psycopg.connect(workers_wh) as a, psycopg.connect(thread_wh) as b:
        assert a.execute(_QUARANTINE).fetchall() == b.execute(_QUARANTINE).fetchall()
    decrypted = _decrypted(env, workers_wh)
    assert decrypted == _decrypted(env, thread_wh)
    source = _source_fields(env)
    assert decrypted == {cid: source[cid] for cid in decrypted}


def test_worker_processes_load_customers_like_the_reader_thread(etl_env: EtlEnv) -> None:
    workers: dict[str, Any] = {"pii_workers": 2, "batch_rows": 100}  # 300 customers: 3 batches
    execute(
        etl_env.crm,
        "UPDATE customers SET email = '   ' WHERE customer_id IN "
        "(SELECT customer_id FROM customers ORDER BY customer_id LIMIT 3)",
    )
    thread_wh = etl_env.fresh_warehouse()

    first = etl_env.run(**workers)
    assert first.status == "succeeded", first.error
    assert first.rows_read["v_customer"] == 300
    assert first.rows_quarantined["v_customer"] == 3
    assert etl_env.run(warehouse=thread_wh).status == "succeeded"
    _same(etl_env, etl_env.warehouse, thread_wh)

    # A later run merges through staging: every customer changes, one email comes back.
    execute(etl_env.crm, "UPDATE customers SET phone = phone || '9'")
    execute(
        etl_env.crm,
        "UPDATE customers SET email = 'back@example.com' WHERE customer_id = "
        "(SELECT min(customer_id) FROM customers)",
    )
    merged = etl_env.run(**workers)
    assert merged.status == "succeeded", merged.error
    assert merged.rows_read["v_customer"] == 300
    assert merged.rows_loaded["v_customer"] == 298
    assert etl_env.run(warehouse=thread_wh).status == "succeeded"
    _same(etl_env, etl_env.warehouse, thread_wh)
