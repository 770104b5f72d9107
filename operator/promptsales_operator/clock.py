"""Time as a dependency: the operator asks a clock, tests move a manual one forward.

Renewal, window start and window end are all "is it time yet?" questions; injecting the
clock lets tests answer them in milliseconds instead of waiting for months. The same
clock also answers "wake me then" (:meth:`Clock.sleep_until`), so the operator's timers
fire when a test moves a :class:`ManualClock` past them, not when real time gets there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    async def sleep_until(self, moment: dt.datetime) -> None:
        """Return once ``now() >= moment`` (at once if it already is)."""
        ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep_until(self, moment: dt.datetime) -> None:
        # asyncio sleeps on the monotonic clock; checking the wall clock again after each
        # sleep keeps a step backwards (NTP) from waking us before ``moment``.
        while True:
            remaining = (moment - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)


_Sleeper = tuple[dt.datetime, asyncio.AbstractEventLoop, asyncio.Future[None]]


class ManualClock:
    """A clock that only moves when told to (tests and benchmarks).

    Tests move it from their own thread and event loop while the operator sleeps on it in
    another, so sleepers are woken through their loop's thread-safe scheduling.
    """

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start
        self._lock = threading.Lock()
        self._sleepers: list[_Sleeper] = []

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._now += delta
            now = self._now
        self._wake()
        return now

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._now = moment
        self._wake()

    async def sleep_until(self, moment: dt.datetime) -> None:
        loop = asyncio.get_running_loop()
        sleeper: _Sleeper = (moment, loop, loop.create_future())
        with self._lock:
            if self._now >= moment:
                return
            self._sleepers.append(sleeper)
        try:
            await sleeper[2]
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._sleepers.remove(sleeper)

    def _wake(self) -> None:
        with self._lock:
            due = [s for s in self._sleepers if s[0] <= self._now]
            self._sleepers = [s for s in self._sleepers if s[0] > self._now]
        for _, loop, future in due:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def rfc3339(moment: dt.datetime) -> str:
    """Kubernetes' timestamp spelling (seconds, ``Z``)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
