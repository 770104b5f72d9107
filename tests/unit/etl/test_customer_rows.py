"""Customer rows as binary COPY data: the same values the warehouse used to get row by row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from etl_job.customer_rows import block_encoder
from etl_job.source_model import PERSONAL_FIELDS
from tests.unit.etl.customer_copy import cipher, parse


def _row(cid: int, email: str | None, created: Any, birth: Any) -> tuple[Any, ...]:
    personal = {
        "first_name": f"First{cid}",
        "last_name": "Lâst",
        "email": email,
        "phone": "+1 555 0100",
        "street": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "birth_date": birth,
    }
    return (cid, *(personal[name] for name in PERSONAL_FIELDS), "DE", created, 1000 + cid)


def test_rows_with_an_email_are_copy_tuples_that_decrypt_to_the_fields() -> None:
    c = cipher()
    rows = [
        _row(1, "A@Example.com ", dt.datetime(2026, 3, 4, 23, 59), dt.date(1980, 1, 2)),
        _row(2, "b@example.com", "2026-03-05 00:00:01", "1981-02-03"),  # the stand-in's text
        _row(3, "c@example.com", dt.date(2026, 3, 6), None),
    ]
    block = block_encoder(c)(rows)
    assert (block.loaded, block.missing, block.rejected, len(block)) == (3, b"", (), 3)
    parsed = parse(block.data)
    assert [p[0] for p in parsed] == [1, 2, 3]
    assert [p[1] for p in parsed] == [c.email_hmac(r[3]) for r in rows]
    assert {p[2] for p in parsed} == {"dek-test"}
    assert [p[4:] for p in parsed] == [
        ("DE", dt.date(2026, 3, 4), 1001),
        ("DE", dt.date(2026, 3, 5), 1002),
        ("DE", dt.date(2026, 3, 6), 1003),
    ]
    fields = [c.decrypt(p[2], p[3]) for p in parsed]
    assert fields[0]["email"] == "A@Example.com "
    assert [f["birth_date"] for f in fields] == ["1980-01-02", "1981-02-03", None]
    assert fields[1]["last_name"] == "Lâst"
    assert set(fields[2]) == set(PERSONAL_FIELDS)


def test_rows_without_an_email_are_kept_apart_with_a_null_join_key() -> None:
    rows = [
        _row(1, "a@example.com", "2026-01-01 10:00:00", None),
        _row(2, "   ", "2026-01-02 10:00:00", None),
        _row(3, None, None, None),
    ]
    block = block_encoder(cipher())(rows)
    assert (block.loaded, len(block)) == (1, 3)
    assert [p[0] for p in parse(block.data)] == [1]
    missing = parse(block.missing)
    assert [(p[0], p[1], p[5]) for p in missing] == [
        (2, None, dt.date(2026, 1, 2)),
        (3, None, None),
    ]
    assert block.rejected == (
        (2, "DE", dt.date(2026, 1, 2), 1002),
        (3, "DE", None, 1003),
    )


class _PlainCipher:
    """Like ``bench.etl_pii``'s baseline: no encryption, the email itself as the join key."""

    def rows_encryptor(self, names: Any) -> Any:
        return lambda rows: [repr(r).encode() for r in rows]

    def active_key_id(self) -> str:
        return "plain"

    def email_hmac(self, email: str) -> bytes:
        return email.strip().lower().encode()


def test_a_join_key_of_any_length_is_framed_by_its_length() -> None:
    rows = [_row(1, "Ab@x.io", None, None), _row(2, "longer.name@example.com", None, None)]
    parsed = parse(block_encoder(_PlainCipher())(rows).data)
    assert [(p[0], p[1], p[2]) for p in parsed] == [
        (1, b"ab@x.io", "plain"),
        (2, b"longer.name@example.com", "plain"),
    ]
