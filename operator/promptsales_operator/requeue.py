"""One pending timer per campaign: its next pass runs exactly when it is next due.

A window start or end and a certificate's renewal time produce no event on the campaign,
so without a timer they would be acted on at the next resync, up to ``RESYNC_SECONDS``
late. After every pass the campaign's next due time is handed to :meth:`RequeueTimers.schedule`
(controller-runtime's ``RequeueAfter``); the periodic resync stays as the safety net.

- A pass that computes the same due time keeps the pending timer, so converged campaigns
  cause no churn; a converged campaign costs one sleeping task (about 1.4 KB).
- A timer waits on the operator's clock, so a test moving a ``ManualClock`` forward
  fires it; and never less than ``min_delay`` real seconds, so a due time that a pass
  cannot move (a clock skewed against a certificate's times) cannot make passes spin.
- A firing timer leaves the registry before its pass, so the pass (which schedules the
  next timer) never cancels itself; :meth:`cancel` and :meth:`close` stop the rest.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from promptsales_operator.clock import Clock

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[object]]


class RequeueTimers:
    def __init__(self, clock: Clock, *, min_delay: float, limit: int) -> None:
        self._clock = clock
        self._min_delay = min_delay
        self._limit = asyncio.Semaphore(limit)  # a thousand windows opening at once
        self._pending: dict[str, tuple[dt.datetime, asyncio.Task[None]]] = {}
        self._firing: set[asyncio.Task[None]] = set()

    def due(self, name: str) -> dt.datetime | None:
        """When ``name``'s pending timer fires (None: no timer)."""
        entry = self._pending.get(name)
        return entry[0] if entry is not None else None

    def schedule(self, name: str, due: dt.datetime | None, action: Action) -> None:
        """Run ``action`` at ``due``, replacing ``name``'s pending timer; None cancels it."""
        entry = self._pending.get(name)
        if entry is not None and entry[0] == due:
            return
        self.cancel(name)
        if due is None:
            return
        # A fresh context: a pass scheduled from a kopf handler must not keep that handler's
        # context variables (its cause, hence a copy of the body) alive until the timer fires.
        task = asyncio.create_task(
            self._fire(name, due, action), name=f"requeue {name}", context=contextvars.Context()
        )
        self._pending[name] = (due, task)

    def cancel(self, name: str) -> None:
        entry = self._pending.pop(name, None)
        if entry is not None:
            entry[1].cancel()

    async def close(self) -> None:
        """Cancel every pending timer and running timed pass (operator shutdown)."""
        tasks = [task for _, task in self._pending.values()] + list(self._firing)
        self._pending.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fire(self, name: str, due: dt.datetime, action: Action) -> None:
        await asyncio.sleep(self._min_delay)
        await self._clock.sleep_until(due)
        task = asyncio.current_task()
        assert task is not None
        entry = self._pending.get(name)
        if entry is not None and entry[1] is task:
            del self._pending[name]
        self._firing.add(task)
        try:
            async with self._limit:
                await action()
        except Exception:  # a timer has no caller to raise to; resync retries the campaign
            log.exception("timed reconcile of %s failed", name)
        finally:
            self._firing.discard(task)
