"""Customer batches encrypted in child processes come back whole and in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from etl_job.customer_rows import CustomerBlock
from etl_job.customer_worker import WorkerError, encode_blocks
from etl_job.source_model import PERSONAL_FIELDS
from promptsales.pii.cipher import BatchKey
from tests.unit.etl.customer_copy import cipher, parse


def _batches(n_rows: int, size: int) -> Iterator[list[tuple[Any, ...]]]:
    rows = [
        (
            cid,
            *(f"{name}-{cid}" for name in PERSONAL_FIELDS[:-1]),
            "1990-05-06",
            "FR",
            dt.datetime(2026, 1, 1) + dt.timedelta(hours=cid),
            cid * 10,
        )
        for cid in range(n_rows)
    ]
    rows[7] = (*rows[7][:3], None, *rows[7][4:])  # no email
    for start in range(0, n_rows, size):
        yield rows[start : start + size]


def _decoded(blocks: Sequence[CustomerBlock]) -> list[tuple[Any, ...]]:
    c = cipher()
    return [
        (p[0], p[1], p[4], p[5], p[6], c.decrypt(p[2], p[3]))
        for block in blocks
        for p in parse(block.data) + parse(block.missing)
    ]


def test_workers_give_what_the_thread_gives() -> None:
    in_thread = list(encode_blocks(cipher(), _batches(1_000, 100), 100, workers=0))
    in_workers = list(encode_blocks(cipher(), _batches(1_000, 100), 100, workers=2))
    assert len(in_workers) == len(in_thread) == 10
    assert [len(b) for b in in_workers] == [100] * 10
    assert _decoded(in_workers) == _decoded(in_thread)
    assert [b.rejected for b in in_workers] == [b.rejected for b in in_thread]
    assert sum(b.loaded for b in in_workers) == 999


class _BrokenKey(BatchKey):
    """A key whose cipher fails in the child (its ``rows_encryptor`` raises)."""

    def cipher(self) -> Any:
        class _Fails:
            def rows_encryptor(self, names: Any) -> Any:
                def fail(rows: Any) -> Any:
                    raise ValueError("boom")

                return fail

            def active_key_id(self) -> str:
                return "k"

            def email_hmac(self, email: str) -> bytes:
                return b""

        return _Fails()


def test_a_failing_worker_fails_the_load() -> None:
    c = cipher()
    c.batch_key = lambda: _BrokenKey("k", b"0" * 32, b"0" * 32)  # type: ignore[method-assign]
    blocks = encode_blocks(c, _batches(500, 100), 100, workers=1)
    next(blocks)  # the first batch, encoded in this thread while the child starts
    with pytest.raises(WorkerError, match="boom"):
        list(blocks)
