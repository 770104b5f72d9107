"""Envelope encryption without a database: keyring parsing, wrap/unwrap, tamper detection."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from promptsales.pii import (
    IntegrityError,
    Keyring,
    KeyringError,
    MissingKeyError,
    PiiCipher,
    normalize_email,
)
from promptsales.pii.datakeys import DataKeyRecord, unwrap, wrap
from promptsales.pii.keyring import (
    generate_keyring,
    load_keyring,
    parse_keyring,
    with_new_kek,
    without_kek,
    write_keyring,
)

FIELDS = {"first_name": "Ana", "email": "Ana.Lopez@Example.com", "birth_date": "1990-01-02"}


def _cipher(
    keyring: Keyring | None = None, key_id: str = "dek-test"
) -> tuple[PiiCipher, Keyring, DataKeyRecord]:
    keyring = keyring or generate_keyring()
    kek_id, wrapped = wrap(keyring, key_id, b"k" * 32)
    record = DataKeyRecord(key_id, kek_id, wrapped, "active")
    return PiiCipher(keyring, {key_id: record}), keyring, record


def test_round_trip_and_key_id_travels_with_value() -> None:
    cipher, _, _ = _cipher()
    key_id, blob = cipher.encrypt(FIELDS)
    assert key_id == "dek-test"
    assert b"Ana" not in blob
    assert b"Example" not in blob
    assert cipher.decrypt(key_id, blob) == FIELDS
    assert cipher.encrypt(FIELDS)[1] != blob  # fresh nonce per value


def test_row_encryptor_matches_decrypt() -> None:
    cipher, _, _ = _cipher()
    encrypt_row = cipher.row_encryptor(("a", "b"))
    assert cipher.decrypt("dek-test", encrypt_row(("x", None))) == {"a": "x", "b": None}


def test_tampered_ciphertext_is_an_integrity_error_not_garbage() -> None:
    cipher, _, _ = _cipher()
    key_id, blob = cipher.encrypt(FIELDS)
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(IntegrityError, match="failed authentication"):
        cipher.decrypt(key_id, flipped)
    with pytest.raises(IntegrityError):
        cipher.decrypt(key_id, b"\x02" + blob[1:])


def test_value_moved_to_another_key_id_fails() -> None:
    keyring = generate_keyring()
    one, _, rec1 = _cipher(keyring, "dek-one")
    kek_id, wrapped = wrap(keyring, "dek-two", b"k" * 32)  # same key bytes, other id
    both = PiiCipher(
        keyring, {"dek-one": rec1, "dek-two": DataKeyRecord("dek-two", kek_id, wrapped, "active")}
    )
    _, blob = one.encrypt(FIELDS)
    with pytest.raises(IntegrityError):
        both.decrypt("dek-two", blob)


def test_missing_kek_and_corrupt_kek_give_clear_errors() -> None:
    keyring = generate_keyring()
    _, record = None, DataKeyRecord("dek-x", *wrap(keyring, "dek-x", b"k" * 32), "active")
    rotated, _ = with_new_kek(keyring)
    lost = without_kek(rotated, keyring.active_kek_id)
    with pytest.raises(MissingKeyError, match=keyring.active_kek_id):
        unwrap(lost, record)
    corrupt = keyring.model_copy(
        update={"keks": {keyring.active_kek_id: base64.b64encode(b"z" * 32).decode()}}
    )
    with pytest.raises(IntegrityError, match="dek-x"):
        unwrap(corrupt, record)


def test_unknown_and_retired_data_keys() -> None:
    cipher, keyring, _ = _cipher()
    with pytest.raises(MissingKeyError, match="dek-nope"):
        cipher.decrypt("dek-nope", b"\x01" + b"0" * 40)
    retired = PiiCipher(keyring, {"dek-r": DataKeyRecord("dek-r", None, None, "retired")})
    with pytest.raises(MissingKeyError, match="retired"):
        retired.decrypt("dek-r", b"\x01" + b"0" * 40)


def test_email_hmac_normalizes_and_depends_on_the_key() -> None:
    cipher, _, _ = _cipher()
    other, _, _ = _cipher()
    assert cipher.email_hmac(" Ana.Lopez@EXAMPLE.com ") == cipher.email_hmac(
        "ana.lopez@example.com"
    )
    assert len(cipher.email_hmac("a@b.c")) == 32
    assert cipher.email_hmac("a@b.c") != other.email_hmac("a@b.c")


def test_keyring_file_round_trip_mode_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    keyring = generate_keyring()
    write_keyring(keyring, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keyring(path) == keyring
    secret = keyring.keks[keyring.active_kek_id]
    assert secret not in repr(keyring)

    bad = json.loads(path.read_text())
    bad["keks"][keyring.active_kek_id] = base64.b64encode(b"short").decode()
    with pytest.raises(KeyringError, match="keks") as info:
        parse_keyring(bad, "test")
    assert "short" not in str(info.value)
    bad = json.loads(path.read_text())
    bad["active_kek_id"] = "kek-missing"
    with pytest.raises(KeyringError, match="kek-missing"):
        parse_keyring(bad, "test")
    with pytest.raises(KeyringError, match="cannot read keyring file"):
        load_keyring(tmp_path / "absent.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(KeyringError, match="not JSON"):
        load_keyring(tmp_path / "junk.json")
    with pytest.raises(KeyringError, match="active"):
        without_kek(keyring, keyring.active_kek_id)


@pytest.mark.parametrize("key_bytes", [32, 64, 100])
def test_email_hmac_is_standard_hmac_sha256(key_bytes: int) -> None:
    """The join key stays HMAC-SHA256 of the normalized email, byte for byte, whatever the
    key length (keys longer than a SHA-256 block are hashed first): existing warehouses and
    the MCP server's lookups must keep matching."""
    key = bytes(range(key_bytes))
    keyring = generate_keyring().model_copy(update={"hmac_key": base64.b64encode(key).decode()})
    cipher, _, _ = _cipher(keyring)
    for email in (" Ana.Lopez@EXAMPLE.com ", "ｆｕｌｌ@example.com", "a@b.c"):
        expected = hmac.new(key, normalize_email(email).encode(), hashlib.sha256).digest()
        assert cipher.email_hmac(email) == expected


def test_rows_encryptor_gives_each_row_its_own_nonce_and_decrypts() -> None:
    cipher, _, _ = _cipher()
    encrypt_rows = cipher.rows_encryptor(("email", "birth_date"))
    rows = [("a@b.c", dt.date(1990, 1, 2)), ("a@b.c", dt.date(1990, 1, 2)), ("ü@x.y", None)]
    blobs = encrypt_rows(rows)
    assert len({blob[1:13] for blob in blobs}) == len(rows)
    assert blobs[0] != blobs[1]
    assert [cipher.decrypt("dek-test", blob) for blob in blobs] == [
        {"email": "a@b.c", "birth_date": "1990-01-02"},
        {"email": "a@b.c", "birth_date": "1990-01-02"},
        {"email": "ü@x.y", "birth_date": None},
    ]
    with pytest.raises(ValueError, match="zip"):
        encrypt_rows([("only one field",)])
