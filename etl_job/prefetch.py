"""Fetch the next source batch while the current one is being written to the warehouse.

Reading a batch is mostly waiting on the source server and writing one mostly waiting on
the warehouse; psycopg releases the GIL while it waits, so one reader thread a couple of
batches ahead lets both servers work at once instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_PUT_TIMEOUT = 0.1


@dataclass(frozen=True)
class _Failure:
    error: BaseException


def prefetch(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """Yield ``items`` in order, produced by a background thread up to ``depth`` ahead.

    The source iterator is only touched by the reader thread until it is exhausted; an
    exception there is re-raised here. If the consumer stops early, the reader notices
    within ``_PUT_TIMEOUT`` and ends, so no thread outlives the load.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_PUT_TIMEOUT)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:
            put(_Failure(exc))
            return
        put(_DONE)

    reader = threading.Thread(target=read, name="etl-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()
