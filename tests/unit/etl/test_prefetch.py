"""The read-ahead thread keeps order, surfaces errors and never outlives its consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from etl_job.prefetch import ReadAhead


def test_yields_every_item_in_order() -> None:
    with ReadAhead(iter(range(1000)), depth=3) as ahead:
        assert list(ahead) == list(range(1000))


def test_reader_error_is_raised_in_the_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("source went away")

    with ReadAhead(broken()) as items:
        assert next(items) == 1
        with pytest.raises(RuntimeError, match="source went away"):
            next(items)


def test_consumer_stopping_early_ends_the_reader() -> None:
    before = {t.ident for t in threading.enumerate()}
    items = ReadAhead(iter(range(10_000)), depth=1)
    assert next(items) == 0
    items.close()
    leftovers = [
        t for t in threading.enumerate() if t.name == "etl-prefetch" and t.ident not in before
    ]
    assert leftovers == []


def test_read_ahead_reads_before_the_first_next_and_closes_its_source() -> None:
    started = threading.Event()
    closed = threading.Event()

    def source() -> Iterator[int]:
        started.set()
        try:
            yield from range(10_000)
        finally:
            closed.set()

    with ReadAhead(source(), depth=2) as ahead:
        assert started.wait(5)  # nobody has asked for an item yet
        assert next(ahead) == 0
    assert closed.is_set()  # the source's cleanup (its cursor) ran on leaving the block
