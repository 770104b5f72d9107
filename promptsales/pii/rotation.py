"""Key rotation: re-wrap data keys under a new KEK, re-encrypt rows under a new data key.

* ``rotate_kek`` touches only ``pii_data_keys`` (a handful of rows): the customer rows keep
  their ciphertexts because the data keys themselves do not change.
* ``rotate_dek`` re-encrypts ``warehouse.dim_customer`` in batches, one transaction each,
  selecting rows by "key id is not the active one". That predicate is the resume point:
  after a crash the next call finds exactly the rows still to do and never starts a second
  new key while an earlier rotation is unfinished.
* ``retire_unused`` destroys the wrapped form of data keys no row references any more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from promptsales.pii import datakeys
from promptsales.pii.cipher import PiiCipher
from promptsales.pii.datakeys import KEYS_LOCK, TABLE
from promptsales.pii.errors import KeyInUseError
from promptsales.pii.keyring import Keyring

ENCRYPTED_TABLE = "warehouse.dim_customer"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DekRotation:
    active_key_id: str
    new_key_created: bool
    rows_reencrypted: int
    retired_key_ids: tuple[str, ...]


def rotate_kek(dsn: str, keyring: Keyring) -> int:
    """Re-wrap every live data key under the keyring's active KEK; returns how many changed."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (KEYS_LOCK,))
        changed = 0
        for record in datakeys.load_records(conn).values():
            if record.state == "retired" or record.kek_id == keyring.active_kek_id:
                continue
            dek = datakeys.unwrap(keyring, record)
            kek_id, wrapped = datakeys.wrap(keyring, record.key_id, dek)
            conn.execute(
                f"UPDATE {TABLE} SET kek_id = %s, wrapped_key = %s WHERE key_id = %s",
                (kek_id, wrapped, record.key_id),
            )
            changed += 1
        return changed


def kek_usage(dsn: str) -> dict[str, int]:
    """Live data keys per KEK id: a KEK with none may be removed from the keyring."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT kek_id, count(*) FROM {TABLE} WHERE state <> 'retired' GROUP BY kek_id"
        ).fetchall()
    return {str(kek): int(n) for kek, n in rows}


def ensure_kek_unused(dsn: str, kek_id: str) -> None:
    used = kek_usage(dsn).get(kek_id, 0)
    if used:
        raise KeyInUseError(
            f"KEK {kek_id!r} still wraps {used} data key(s); run `promptsales pii rotate-kek` first"
        )


def _remaining(conn: psycopg.Connection, active: str) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM {ENCRYPTED_TABLE} WHERE pii_key_id <> %s", (active,)
    ).fetchone()
    return int(row[0]) if row else 0


def _start_or_resume(dsn: str, keyring: Keyring) -> tuple[str, bool]:
    """Resume an unfinished rotation, else switch to a new active key (exclusive lock)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (KEYS_LOCK,))
        active = datakeys.active_key_id(conn)
        if active is not None and _remaining(conn, active) > 0:
            return active, False
        return datakeys.create_active_key(conn, keyring), True


def _reencrypt_batch(
    conn: psycopg.Connection, cipher: PiiCipher, active: str, after_id: int, batch_rows: int
) -> tuple[int, int]:
    rows = conn.execute(
        f"SELECT customer_id, pii_key_id, pii_ciphertext FROM {ENCRYPTED_TABLE} "
        "WHERE pii_key_id <> %s AND customer_id > %s ORDER BY customer_id LIMIT %s "
        "FOR UPDATE SKIP LOCKED",
        (active, after_id, batch_rows),
    ).fetchall()
    if not rows:
        return 0, after_id
    ids, old_keys, blobs = [], [], []
    for customer_id, key_id, blob in rows:
        fields = cipher.decrypt(key_id, blob)
        ids.append(customer_id)
        old_keys.append(key_id)
        blobs.append(cipher.encrypt(fields, active)[1])
    cur = conn.execute(
        f"UPDATE {ENCRYPTED_TABLE} d SET pii_key_id = %s, pii_ciphertext = v.blob "
        "FROM unnest(%s::int[], %s::text[], %s::bytea[]) AS v(id, old_key, blob) "
        "WHERE d.customer_id = v.id AND d.pii_key_id = v.old_key",
        (active, ids, old_keys, blobs),
    )
    return cur.rowcount, int(ids[-1])


def retire_unused(dsn: str) -> tuple[str, ...]:
    """Retire decrypt-only data keys that no row uses (exclusive lock: no loader mid-write)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (KEYS_LOCK,))
        rows = conn.execute(
            f"UPDATE {TABLE} k SET state = 'retired', wrapped_key = NULL, retired_at = now() "
            f"WHERE k.state = 'decrypt_only' AND NOT EXISTS "
            f"(SELECT 1 FROM {ENCRYPTED_TABLE} d WHERE d.pii_key_id = k.key_id) "
            "RETURNING k.key_id"
        ).fetchall()
    return tuple(sorted(str(r[0]) for r in rows))


def rotate_dek(
    dsn: str,
    keyring: Keyring,
    *,
    batch_rows: int = 5_000,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> DekRotation:
    """Re-encrypt every row under a new data key, batch by batch, then retire unused keys.

    ``max_batches`` stops early (tests use it to simulate a crash between batches).
    """
    active, created = _start_or_resume(dsn, keyring)
    done = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        cipher = PiiCipher.load(conn, keyring)
        total = _remaining(conn, active)
        after_id, batches, rescanned = -1, 0, False
        while max_batches is None or batches < max_batches:
            with conn.transaction():
                changed, last_id = _reencrypt_batch(conn, cipher, active, after_id, batch_rows)
            if last_id == after_id:
                # End of the key range; rows skipped while locked by a loader get one rescan.
                if rescanned or _remaining(conn, active) == 0:
                    break
                after_id, rescanned = -1, True
                continue
            after_id = last_id
            batches += 1
            done += changed
            if progress is not None:
                progress(done, total)
        finished = _remaining(conn, active) == 0
    retired = retire_unused(dsn) if finished else ()
    return DekRotation(active, created, done, retired)
