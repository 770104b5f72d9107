"""When each campaign next needs a pass although nothing about it changes.

A window start or end and a certificate's renewal time produce no event, so after every
pass the campaign's next due time is handed to :meth:`DueTimes.schedule`
(controller-runtime's ``RequeueAfter``); when it comes, the campaign's name is added to
the work queue like any other trigger, so failures back off there and a timer never runs
a pass itself.

- One heap and one task for all campaigns (a converged campaign costs a heap entry, not a
  sleeping task), waiting on the operator's clock, so a test moving a ``ManualClock``
  forward fires the due times it passes.
- A pass that computes the same due time leaves it alone, so converged campaigns cause no
  churn; rescheduling replaces the old time (stale heap entries are skipped lazily).
- Never sooner than ``min_delay`` real seconds after scheduling, so a due time that a pass
  cannot move (a clock skewed against a certificate's times) cannot make passes spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import heapq
import itertools
import time
from collections.abc import Callable

from promptsales_operator.clock import Clock


@dataclasses.dataclass(frozen=True, order=True)
class _Due:
    due: dt.datetime
    not_before: float  # time.monotonic()
    seq: int
    name: str = dataclasses.field(compare=False)


class DueTimes:
    def __init__(self, clock: Clock, on_due: Callable[[str], None], *, min_delay: float) -> None:
        self._clock = clock
        self._on_due = on_due
        self._min_delay = min_delay
        self._current: dict[str, _Due] = {}
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()

    def due(self, name: str) -> dt.datetime | None:
        entry = self._current.get(name)
        return entry.due if entry is not None else None

    def __len__(self) -> int:
        return len(self._current)

    def schedule(self, name: str, due: dt.datetime | None) -> None:
        """Add ``name`` to the queue at ``due``, replacing its pending time; None cancels."""
        current = self._current.get(name)
        if current is not None and current.due == due:
            return
        if due is None:
            self._current.pop(name, None)
            return
        entry = _Due(due, time.monotonic() + self._min_delay, next(self._seq), name)
        self._current[name] = entry
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._changed.set()

    def cancel(self, name: str) -> None:
        self._current.pop(name, None)

    def _head(self) -> _Due | None:
        while self._heap and self._current.get(self._heap[0].name) is not self._heap[0]:
            heapq.heappop(self._heap)  # replaced or cancelled
        return self._heap[0] if self._heap else None

    async def run(self) -> None:
        """Fire due times until cancelled."""
        while True:
            self._changed.clear()
            head = self._head()
            if head is None:
                await self._changed.wait()
                continue
            if self._clock.now() >= head.due and time.monotonic() >= head.not_before:
                heapq.heappop(self._heap)
                del self._current[head.name]
                self._on_due(head.name)
                continue
            await self._wait(head)

    async def _wait(self, head: _Due) -> None:
        """Until the clock reaches ``head.due`` and real time ``head.not_before``, or an
        earlier due time is scheduled."""

        async def reached() -> None:
            await self._clock.sleep_until(head.due)
            await asyncio.sleep(max(0.0, head.not_before - time.monotonic()))

        waits = [asyncio.ensure_future(reached()), asyncio.ensure_future(self._changed.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            for waiting in waits:
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
