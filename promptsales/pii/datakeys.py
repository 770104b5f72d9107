"""Data keys (DEKs) in the warehouse table ``warehouse.pii_data_keys``, wrapped by a KEK.

A data key is 32 random bytes used for AES-GCM on customer rows; only its wrapped form is
stored: ``nonce || AES-GCM(KEK, dek, aad = key id + KEK id)``. Binding both ids into the
associated data means a wrapped key copied onto another row or KEK fails authentication
instead of decrypting to the wrong key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from promptsales.pii.errors import IntegrityError, MissingKeyError
from promptsales.pii.keyring import KEY_BYTES, Keyring

KeyState = Literal["active", "decrypt_only", "retired"]
NONCE_BYTES = 12
KEYS_LOCK = 0x5053_5049_4900  # "PSPII\0": writers share it, key switches and retirement own it
TABLE = "warehouse.pii_data_keys"


@dataclass(frozen=True)
class DataKeyRecord:
    key_id: str
    kek_id: str | None
    wrapped_key: bytes | None
    state: KeyState

    def __repr__(self) -> str:  # never show wrapped key bytes
        return (
            f"DataKeyRecord(key_id={self.key_id!r}, kek_id={self.kek_id!r}, state={self.state!r})"
        )


def _aad(key_id: str, kek_id: str) -> bytes:
    return f"promptsales-dek:v1:{key_id}:{kek_id}".encode()


def wrap(keyring: Keyring, key_id: str, dek: bytes) -> tuple[str, bytes]:
    kek_id = keyring.active_kek_id
    kek = keyring.kek(kek_id)
    assert kek is not None  # the keyring validator guarantees the active KEK exists
    nonce = os.urandom(NONCE_BYTES)
    return kek_id, nonce + AESGCM(kek).encrypt(nonce, dek, _aad(key_id, kek_id))


def unwrap(keyring: Keyring, record: DataKeyRecord) -> bytes:
    """The plain data key, or a clear error saying which key is lost or corrupt."""
    if record.state == "retired" or record.wrapped_key is None or record.kek_id is None:
        raise MissingKeyError(
            f"data key {record.key_id!r} is retired; values encrypted under it are unreadable"
        )
    kek = keyring.kek(record.kek_id)
    if kek is None:
        raise MissingKeyError(
            f"data key {record.key_id!r} is wrapped by KEK {record.kek_id!r}, which is not in "
            "the keyring file; restore that KEK to the promptsales-pii-keyring Secret"
        )
    blob = record.wrapped_key
    try:
        dek = AESGCM(kek).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(record.key_id, record.kek_id)
        )
    except InvalidTag:
        raise IntegrityError(
            f"data key {record.key_id!r} failed authentication under KEK {record.kek_id!r}: "
            "the KEK in the keyring or the wrapped key in the warehouse is corrupt"
        ) from None
    if len(dek) != KEY_BYTES:
        raise IntegrityError(f"data key {record.key_id!r} has the wrong length")
    return dek


def _record(row: tuple[Any, ...]) -> DataKeyRecord:
    key_id, kek_id, wrapped, state = row
    return DataKeyRecord(
        key_id=str(key_id),
        kek_id=None if kek_id is None else str(kek_id),
        wrapped_key=None if wrapped is None else bytes(wrapped),
        state=state,
    )


def load_records(conn: psycopg.Connection) -> dict[str, DataKeyRecord]:
    rows = conn.execute(f"SELECT key_id, kek_id, wrapped_key, state FROM {TABLE}").fetchall()
    return {str(row[0]): _record(row) for row in rows}


def load_record(conn: psycopg.Connection, key_id: str) -> DataKeyRecord | None:
    row = conn.execute(
        f"SELECT key_id, kek_id, wrapped_key, state FROM {TABLE} WHERE key_id = %s", (key_id,)
    ).fetchone()
    return None if row is None else _record(row)


def new_key_id() -> str:
    return f"dek-{secrets.token_hex(8)}"


def create_active_key(conn: psycopg.Connection, keyring: Keyring) -> str:
    """Demote the current active key to decrypt-only and insert a new active one.

    Caller holds the exclusive ``KEYS_LOCK`` inside its transaction, so no writer is
    mid-load with the old key when the switch commits.
    """
    key_id = new_key_id()
    kek_id, wrapped = wrap(keyring, key_id, secrets.token_bytes(KEY_BYTES))
    conn.execute(f"UPDATE {TABLE} SET state = 'decrypt_only' WHERE state = 'active'")
    conn.execute(
        f"INSERT INTO {TABLE} (key_id, kek_id, wrapped_key, state) VALUES (%s, %s, %s, 'active')",
        (key_id, kek_id, wrapped),
    )
    return key_id


def active_key_id(conn: psycopg.Connection) -> str | None:
    row = conn.execute(f"SELECT key_id FROM {TABLE} WHERE state = 'active'").fetchone()
    return None if row is None else str(row[0])


def ensure_active_key(dsn: str, keyring: Keyring) -> str:
    """The active data key's id, creating the first one if none exists (own transaction)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (KEYS_LOCK,))
        current = active_key_id(conn)
        return current if current is not None else create_active_key(conn, keyring)
