"""Fetch the next source batch while the current one is being written to the warehouse.

Reading a batch is mostly waiting on the source server and writing one mostly waiting on
the warehouse; psycopg releases the GIL while it waits, so one reader thread a couple of
batches ahead lets both servers work at once instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()
_PUT_TIMEOUT = 0.1


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class ReadAhead(Generic[T]):
    """``items`` produced by a background thread, started now, up to ``depth`` ahead.

    Starting at construction (not at the first ``next``) is the point: a run starts reading
    a source while its warehouse connection is still busy with earlier work. Use it as a
    context manager: leaving the block stops the reader within ``_PUT_TIMEOUT`` and closes
    ``items`` on the reader thread, so no thread or source cursor outlives the load. The
    source iterator is only ever touched by the reader thread; an exception there is
    re-raised by ``next``.
    """

    def __init__(self, items: Iterator[T], depth: int = 2) -> None:
        self._buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._items = items
        self._finished = False
        self._reader = threading.Thread(target=self._read, name="etl-prefetch", daemon=True)
        self._reader.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._buffer.put(item, timeout=_PUT_TIMEOUT)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as exc:
            self._put(_Failure(exc))
            return
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()
        self._put(_DONE)

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._buffer.get()
        if item is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        self._reader.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
