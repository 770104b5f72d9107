"""PII in the real warehouse: never in clear, decryptable for the sales role, rotations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psycopg
import pytest

from promptsales.pii import KeyInUseError, Keyring, MissingKeyError, PiiCipher, rotation
from promptsales.pii.keyring import with_new_kek, without_kek, write_keyring
from tests.integration.etl.env import EtlEnv, source_dsn


def _source_customers(env: EtlEnv) -> list[tuple[object, ...]]:
    with psycopg.connect(source_dsn(env.crm)) as conn:
        return conn.execute(
            "SELECT customer_id, first_name, last_name, email, phone, street, postal_code "
            "FROM customers ORDER BY customer_id"
        ).fetchall()


def _dump(warehouse: str) -> str:
    result = subprocess.run(
        ["pg_dump", "--data-only", "--schema=warehouse", warehouse],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def test_personal_fields_never_reach_the_warehouse_in_clear(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    dump = _dump(etl_env.warehouse)
    customers = _source_customers(etl_env)
    assert "dim_customer" in dump
    assert len(customers) == 300
    for _, first, last, email, phone, street, _postal in customers:
        for value in (email, phone, street, f"{first}\t{last}", str(email).split("@")[0]):
            assert str(value) not in dump


def test_sales_role_decrypts_and_hmac_joins(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    customers = {row[0]: row for row in _source_customers(etl_env)}
    with psycopg.connect(etl_env.warehouse) as conn:
        cipher = PiiCipher.load(conn, etl_env.keyring())
        rows = conn.execute(
            "SELECT customer_id, email_hmac, pii_key_id, pii_ciphertext "
            "FROM warehouse.dim_customer ORDER BY customer_id LIMIT 20"
        ).fetchall()
    for customer_id, mac, key_id, blob in rows:
        fields = cipher.decrypt(key_id, blob)
        src = customers[customer_id]
        assert fields["email"] == src[3]
        assert fields["phone"] == src[4]
        assert bytes(mac) == cipher.email_hmac(str(src[3]).upper())


def _decrypt_all(env: EtlEnv, keyring: Keyring | None = None) -> dict[int, dict[str, object]]:
    with psycopg.connect(env.warehouse) as conn:
        cipher = PiiCipher.load(conn, keyring or env.keyring())
        return {
            cid: cipher.decrypt(key_id, blob)
            for cid, key_id, blob in conn.execute(
                "SELECT customer_id, pii_key_id, pii_ciphertext FROM warehouse.dim_customer"
            ).fetchall()
        }


def test_rotate_kek_rewraps_only_data_keys_then_old_kek_can_go(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    before = _decrypt_all(etl_env)
    old = etl_env.keyring()
    with psycopg.connect(etl_env.warehouse) as conn:
        blobs = conn.execute("SELECT pii_ciphertext FROM warehouse.dim_customer").fetchall()
    rotated, new_kek = with_new_kek(old)
    write_keyring(rotated, etl_env.keyring_file)
    with pytest.raises(KeyInUseError):
        rotation.ensure_kek_unused(etl_env.warehouse, old.active_kek_id)
    assert rotation.rotate_kek(etl_env.warehouse, rotated) == 1
    rotation.ensure_kek_unused(etl_env.warehouse, old.active_kek_id)
    with psycopg.connect(etl_env.warehouse) as conn:
        assert conn.execute("SELECT pii_ciphertext FROM warehouse.dim_customer").fetchall() == blobs
        assert conn.execute("SELECT DISTINCT kek_id FROM warehouse.pii_data_keys").fetchall() == [
            (new_kek,)
        ]
    slim = without_kek(rotated, old.active_kek_id)
    assert _decrypt_all(etl_env, slim) == before
    with pytest.raises(MissingKeyError, match=new_kek):
        _decrypt_all(etl_env, without_kek(with_new_kek(slim)[0], new_kek))


def test_rotate_dek_is_resumable_and_retires_only_unused_keys(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    before = _decrypt_all(etl_env)
    keyring = etl_env.keyring()
    progress: list[tuple[int, int]] = []
    # "Crash" after two batches: half-rotated state must stay fully readable.
    partial = rotation.rotate_dek(
        etl_env.warehouse,
        keyring,
        batch_rows=50,
        max_batches=2,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert partial.new_key_created
    assert partial.rows_reencrypted == 100
    assert partial.retired_key_ids == ()
    assert progress == [(50, 300), (100, 300)]
    assert _decrypt_all(etl_env) == before
    # New ETL rows in the meantime use the new key; the old key must not be retired yet.
    assert rotation.retire_unused(etl_env.warehouse) == ()

    resumed = rotation.rotate_dek(etl_env.warehouse, keyring, batch_rows=50)
    assert not resumed.new_key_created
    assert resumed.active_key_id == partial.active_key_id
    assert resumed.rows_reencrypted == 200
    assert len(resumed.retired_key_ids) == 1
    assert _decrypt_all(etl_env) == before
    with psycopg.connect(etl_env.warehouse) as conn:
        keys = conn.execute(
            "SELECT state, wrapped_key IS NULL FROM warehouse.pii_data_keys ORDER BY state"
        ).fetchall()
        used = conn.execute("SELECT DISTINCT pii_key_id FROM warehouse.dim_customer").fetchall()
    assert keys == [("active", False), ("retired", True)]
    assert used == [(resumed.active_key_id,)]


def test_pii_cli_rotation_prints_ids_never_keys(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    key_text = etl_env.keyring_file.read_text()
    secrets_in_file = [v for v in json.loads(key_text)["keks"].values()]
    added = etl_env.cli("pii", "keyring", "add-kek", "--file", str(etl_env.keyring_file))
    assert added.returncode == 0, added.stderr
    rewrap = etl_env.cli("pii", "rotate-kek")
    assert rewrap.returncode == 0, rewrap.stderr
    assert json.loads(rewrap.stdout)["rewrapped"] == 1
    dek = etl_env.cli("pii", "rotate-dek", "--batch-rows", "100")
    assert dek.returncode == 0, dek.stderr
    assert "re-encrypted 300/300" in dek.stderr
    assert json.loads(dek.stdout)["rows_reencrypted"] == 300
    retire = etl_env.cli("pii", "retire")
    assert retire.returncode == 0
    assert len(json.loads(retire.stdout)["unused_kek_ids"]) == 1
    all_keys = json.loads(etl_env.keyring_file.read_text())
    for output in (added, rewrap, dek, retire):
        for secret in [*secrets_in_file, *all_keys["keks"].values(), all_keys["hmac_key"]]:
            assert secret not in output.stdout + output.stderr


def test_rotate_dek_killed_mid_way_resumes_without_loss(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    before = _decrypt_all(etl_env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptsales_cli", "pii", "rotate-dek", "--batch-rows", "1"],
        env={**os.environ, **etl_env.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert first.startswith("re-encrypted 1/300")
    assert proc.returncode == -signal.SIGKILL
    with psycopg.connect(etl_env.warehouse) as conn:
        mixed = conn.execute(
            "SELECT count(DISTINCT pii_key_id) FROM warehouse.dim_customer"
        ).fetchone()
    assert mixed == (2,)
    assert _decrypt_all(etl_env) == before

    resumed = etl_env.cli("pii", "rotate-dek", "--batch-rows", "100")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["new_key_created"] is False
    assert len(result["retired_key_ids"]) == 1
    assert _decrypt_all(etl_env) == before
    with psycopg.connect(etl_env.warehouse) as conn:
        assert conn.execute(
            "SELECT count(DISTINCT pii_key_id) FROM warehouse.dim_customer"
        ).fetchone() == (1,)
