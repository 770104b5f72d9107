"""The queue of campaigns waiting for a pass, with client-go's workqueue guarantees.

Every trigger (a campaign's or a child's watch event, a window edge or renewal coming due,
the capacity plan applied, the CA rotated, the safety-net resync) only *adds the campaign's
name*; workers take names and run one pass each. That gives, as controller-runtime's
queue does:

- a name is queued at most once, however many triggers fire before a worker takes it
  (a thousand child events during a burst cost one pass each, not a thousand);
- a name is never processed by two workers at once; added while in process, it is run
  again right after (so no trigger is lost);
- a failed pass is retried after an exponential, per-name backoff (``base`` doubling up to
  ``limit``), forgotten after a success, so a broken campaign cannot spin or starve others.
"""

from __future__ import annotations

import asyncio
import collections


class WorkQueue:
    def __init__(self, *, base_delay: float, max_delay: float) -> None:
        self._base = base_delay
        self._max = max(max_delay, base_delay)
        self._queue: collections.deque[str] = collections.deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: collections.Counter[str] = collections.Counter()
        self._delayed: dict[str, asyncio.TimerHandle] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        """Queue ``key`` (no-op if already waiting); safe to call from any coroutine."""
        if self._closed or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() queues it again
        self._queue.append(key)
        self._notify()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` in ``delay`` seconds (an earlier pending delay for it is replaced)."""
        pending = self._delayed.pop(key, None)
        if pending is not None:
            pending.cancel()
        loop = asyncio.get_running_loop()
        self._delayed[key] = loop.call_later(delay, self._fire_delayed, key)

    def retry(self, key: str) -> float:
        """Queue ``key`` again after its backoff; returns the delay chosen."""
        failures = self._failures[key]
        self._failures[key] += 1
        delay = min(self._max, self._base * float(2 ** min(failures, 30)))
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """A pass succeeded: the next failure starts the backoff over."""
        self._failures.pop(key, None)

    def discard(self, key: str) -> None:
        """The object is gone: drop its backoff and any delayed add."""
        self.forget(key)
        pending = self._delayed.pop(key, None)
        if pending is not None:
            pending.cancel()

    async def get(self) -> str | None:
        """The next key to process (now owned by the caller until :meth:`done`), or None
        once the queue is closed."""
        while not self._queue and not self._closed:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._queue:
                    self._notify()  # pass the wake-up on to another worker
                raise
        if self._closed:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def close(self) -> None:
        self._closed = True
        for handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _fire_delayed(self, key: str) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def _notify(self) -> None:
        """Wake one waiting worker."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
