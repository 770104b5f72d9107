"""Test helper: read binary COPY tuples (``etl_job.customer_rows``) back into Python values."""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

from promptsales.pii import PiiCipher
from promptsales.pii.cipher import BatchKey

KEY = BatchKey("dek-test", bytes(range(32)), b"h" * 32)


def cipher() -> PiiCipher:
    return KEY.cipher()


def parse(data: bytes) -> list[tuple[Any, ...]]:
    """Customer tuples: customer_id, email_hmac, key id, ciphertext, country, day, version."""
    rows = []
    at = 0
    while at < len(data):
        (count,) = struct.unpack_from("!h", data, at)
        at += 2
        assert count == 7
        values: list[bytes | None] = []
        for _ in range(count):
            (size,) = struct.unpack_from("!i", data, at)
            at += 4
            if size < 0:
                values.append(None)
                continue
            values.append(data[at : at + size])
            at += size
        cid, hmac, key_id, blob, country, day, version = values
        assert cid is not None
        assert key_id is not None
        assert blob is not None
        assert version is not None
        rows.append(
            (
                struct.unpack("!i", cid)[0],
                hmac,
                key_id.decode(),
                blob,
                None if country is None else country.decode(),
                None
                if day is None
                else dt.date(2000, 1, 1) + dt.timedelta(days=struct.unpack("!i", day)[0]),
                struct.unpack("!q", version)[0],
            )
        )
    return rows
