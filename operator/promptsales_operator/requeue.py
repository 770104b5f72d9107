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
- A pass that raises is run again ``retry_delay`` real seconds later (kopf's handlers
  back off the same way), so an API error at a window edge does not wait for the resync.
  Only if nothing else touched the campaign's timer meanwhile: a pass from another trigger
  that scheduled or cancelled it (a newer due time, a deletion) knows better. Each retry
  follows a failure by ``retry_delay``, so a campaign that keeps failing cannot spin.
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


class RetryLater(Exception):  # noqa: N818 (an instruction, not an error report)
    """An expected failure of a timed pass: logged without a traceback, then retried."""


class RequeueTimers:
    def __init__(self, clock: Clock, *, min_delay: float, retry_delay: float, limit: int) -> None:
        self._clock = clock
        self._min_delay = min_delay
        self._retry_delay = max(retry_delay, min_delay)
        self._limit = asyncio.Semaphore(limit)  # a thousand windows opening at once
        self._pending: dict[str, tuple[dt.datetime, asyncio.Task[None]]] = {}
        self._firing: dict[str, set[asyncio.Task[None]]] = {}
        # Firing timers whose campaign another trigger has scheduled or cancelled since.
        self._superseded: set[asyncio.Task[None]] = set()

    def due(self, name: str) -> dt.datetime | None:
        """When ``name``'s pending timer fires (None: no timer)."""
        entry = self._pending.get(name)
        return entry[0] if entry is not None else None

    def schedule(self, name: str, due: dt.datetime | None, action: Action) -> None:
        """Run ``action`` at ``due``, replacing ``name``'s pending timer; None cancels it."""
        self._supersede(name)
        entry = self._pending.get(name)
        if entry is not None and entry[0] == due:
            return
        self._drop(name)
        if due is None:
            return
        self._start(name, due, action, self._min_delay)

    def cancel(self, name: str) -> None:
        self._supersede(name)
        self._drop(name)

    async def close(self) -> None:
        """Cancel every pending timer and running timed pass (operator shutdown)."""
        tasks = [task for _, task in self._pending.values()]
        tasks += [task for firing in self._firing.values() for task in firing]
        self._pending.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, name: str, due: dt.datetime, action: Action, delay: float) -> None:
        # A fresh context: a pass scheduled from a kopf handler must not keep that handler's
        # context variables (its cause, hence a copy of the body) alive until the timer fires.
        task = asyncio.create_task(
            self._fire(name, due, action, delay),
            name=f"requeue {name}",
            context=contextvars.Context(),
        )
        self._pending[name] = (due, task)

    def _drop(self, name: str) -> None:
        entry = self._pending.pop(name, None)
        if entry is not None:
            entry[1].cancel()

    def _supersede(self, name: str) -> None:
        """Another trigger decided ``name``'s timer: its firing pass must not retry over it.

        A timed pass scheduling its own next timer (from its own task) supersedes nothing.
        """
        current = asyncio.current_task()
        self._superseded.update(t for t in self._firing.get(name, ()) if t is not current)

    async def _fire(self, name: str, due: dt.datetime, action: Action, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._clock.sleep_until(due)
        task = asyncio.current_task()
        assert task is not None
        entry = self._pending.get(name)
        if entry is not None and entry[1] is task:
            del self._pending[name]
        self._firing.setdefault(name, set()).add(task)
        failed = True
        try:
            async with self._limit:
                await action()
            failed = False
        except RetryLater as exc:
            log.warning("timed pass of %s failed: %s", name, exc)
        except Exception:  # a timer has no caller to raise to
            log.exception("timed pass of %s failed", name)
        finally:
            firing = self._firing[name]
            firing.discard(task)
            if not firing:
                del self._firing[name]
            superseded = task in self._superseded
            self._superseded.discard(task)
        if failed and not superseded:
            # Replaces the timer the failed pass may have set itself; the retry sets it again.
            log.info("retrying the timed pass of %s in %g s", name, self._retry_delay)
            self._drop(name)
            self._start(name, self._clock.now(), action, self._retry_delay)
