"""The read-ahead thread keeps order, surfaces errors and never outlives its consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from etl_job.prefetch import prefetch


def test_yields_every_item_in_order() -> None:
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))


def test_reader_error_is_raised_in_the_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("source went away")

    items = prefetch(broken())
    assert next(items) == 1
    with pytest.raises(RuntimeError, match="source went away"):
        next(items)


def test_consumer_stopping_early_ends_the_reader() -> None:
    before = {t.ident for t in threading.enumerate()}
    items = prefetch(iter(range(10_000)), depth=1)
    assert next(items) == 0
    items.close()
    leftovers = [
        t for t in threading.enumerate() if t.name == "etl-prefetch" and t.ident not in before
    ]
    assert leftovers == []
