"""Source customer rows → binary COPY data of ``dim_customer`` rows (ciphertext and HMAC only).

Encrypting, HMACing and COPY-formatting 500,000 customers was most of a design-scale first
load, all of it Python holding one GIL (profile, 2026-12-07: per customer ≈ 5.6 µs of
encryption and shaping on the CRM reader thread, ≈ 3 µs of psycopg's ``write_row`` on the
main thread). This module turns a fetch batch into one :class:`CustomerBlock`: the rows
already in PostgreSQL's binary COPY tuple format, so the warehouse connection only passes
bytes on (``Copy.write``), and the whole of the shaping can run in another process
(:mod:`etl_job.customer_worker`) on the machine's other core.

Tuple layout (the staging table's and ``dim_customer``'s column order, both
``bulk.CUSTOMER_COLUMNS``): ``customer_id int4, email_hmac bytea, pii_key_id text,
pii_ciphertext bytea, country text, created_day date, version int8``.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from etl_job.source_model import PERSONAL_FIELDS

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
"""Binary COPY header: signature, flags, header extension length."""
COPY_TRAILER = struct.pack("!h", -1)

_NULL = struct.pack("!i", -1)
_HEAD = struct.Struct("!hii")  # field count, int4 length, customer_id
_LENGTH = struct.Struct("!i")
_DAY = struct.Struct("!ii")  # int4 length, days since 2000-01-01
_VERSION = struct.Struct("!iq")  # int8 length, version
_PG_EPOCH = dt.date(2000, 1, 1).toordinal()
_FIELDS = 7


@dataclass(frozen=True)
class CustomerBlock:
    """One fetch batch of customers, encrypted and COPY-formatted.

    ``data`` holds the rows with an email (the join key), ``missing`` the rows without one
    (``email_hmac`` NULL), both as binary COPY tuples without header or trailer. A staged
    load writes both (the SQL quarantine rule takes the second kind out); a first load's
    direct COPY writes ``data`` and records ``rejected`` (customer_id, country, created_day,
    version: the quarantine payload of the SQL rule) itself.
    """

    data: bytes
    loaded: int
    missing: bytes
    rejected: tuple[tuple[Any, ...], ...]

    def __len__(self) -> int:
        return self.loaded + len(self.rejected)


def _day(created: Any) -> dt.date | None:
    """The day of ``created_at``: a ``datetime`` (SQL Server's driver) or the stand-in's
    ISO text (``fetch.stream_tuples(iso_dates=True)``)."""
    if created is None:
        return None
    if isinstance(created, str):
        return dt.date.fromisoformat(created[:10])
    if isinstance(created, dt.datetime):
        return created.date()
    assert isinstance(created, dt.date), type(created)
    return created


BlockEncoder = Callable[[Sequence[Sequence[Any]]], CustomerBlock]


def block_encoder(cipher: Any) -> BlockEncoder:
    """Batch function: ``v_customer`` extract rows → a :class:`CustomerBlock`.

    ``cipher`` is a ``PiiCipher`` (or the encryption benchmark's plain stand-in): the
    batch's fields are encrypted by ``rows_encryptor`` (one nonce draw per batch), emails
    HMACed by ``email_hmac``. Extract rows: ``customer_id``, the personal fields, country,
    ``created_at``, ``change_version``.
    """
    encrypt_rows = cipher.rows_encryptor(PERSONAL_FIELDS)
    key_id = cipher.active_key_id().encode()
    key_field = _LENGTH.pack(len(key_id)) + key_id
    email_hmac = cipher.email_hmac
    n_personal = len(PERSONAL_FIELDS)
    email_at = PERSONAL_FIELDS.index("email")
    head, length, day_field, version_field = _HEAD.pack, _LENGTH.pack, _DAY.pack, _VERSION.pack

    def encode(rows: Sequence[Sequence[Any]]) -> CustomerBlock:
        personal = [row[1 : 1 + n_personal] for row in rows]
        blobs = encrypt_rows(personal)
        data = bytearray()
        missing = bytearray()
        rejected: list[tuple[Any, ...]] = []
        for row, fields, blob in zip(rows, personal, blobs, strict=True):
            email = fields[email_at]
            country = row[1 + n_personal]
            created_day = _day(row[2 + n_personal])
            version = row[-1]
            if email and email.strip():
                out = data
                out += head(_FIELDS, 4, row[0])
                join_key = email_hmac(email)  # 32 bytes, but the plain benchmark's is not
                out += length(len(join_key))
                out += join_key
            else:
                out = missing
                out += head(_FIELDS, 4, row[0])
                out += _NULL
                rejected.append((row[0], country, created_day, version))
            out += key_field
            out += length(len(blob))
            out += blob
            if country is None:
                out += _NULL
            else:
                text = country.encode()
                out += length(len(text))
                out += text
            out += (
                _NULL if created_day is None else day_field(4, created_day.toordinal() - _PG_EPOCH)
            )
            out += version_field(8, version)
        return CustomerBlock(
            bytes(data), len(rows) - len(rejected), bytes(missing), tuple(rejected)
        )

    return encode
