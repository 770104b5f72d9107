"""The two-session choreography the PostgreSQL simulations share.

Each simulation runs T1 and T2 on their own threads and hands each a hook to call right
after its first step (a read, a first row lock). Which hook decides the story:

- racing: both hooks meet at a barrier, so both sessions have taken their first step
  before either goes on and the race happens every time;
- queued: T1's hook holds T1 (and its lock) until the conductor has seen PostgreSQL
  report T2 waiting behind that lock; T2 does not pause. The protected variants need
  this to show the queue rather than hope for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow

from etl_job.concurrency.databases import STEP_TIMEOUT_S, SimulationError, wait_until_lock_wait
from etl_job.concurrency.outcome import Trace

FIRST = "T1"
SECOND = "T2"


def _no_pause() -> None:
    return None


class TwoSessions:
    """Barrier and events for one run; ``queued`` picks the choreography (see module)."""

    def __init__(self, *, queued: bool) -> None:
        self.queued = queued
        self._barrier = threading.Barrier(2, timeout=STEP_TIMEOUT_S)
        self._first_holds = threading.Event()
        self._release_first = threading.Event()

    def _meet_at_barrier(self) -> None:
        self._barrier.wait()

    def _hold_until_released(self) -> None:
        self._first_holds.set()
        self._release_first.wait(STEP_TIMEOUT_S)

    def hook(self, actor: str) -> Callable[[], None]:
        """What ``actor`` calls after its first step."""
        if not self.queued:
            return self._meet_at_barrier
        return self._hold_until_released if actor == FIRST else _no_pause

    def await_first(self, actor: str, failure: str) -> None:
        """After submitting ``actor``: when queued and it is T1, wait until T1 holds its
        lock, so T2 only starts behind it; ``failure`` says what T1 never did."""
        if self.queued and actor == FIRST and not self._first_holds.wait(STEP_TIMEOUT_S):
            raise SimulationError(failure)

    def release_first(
        self,
        observer: psycopg.Connection[TupleRow],
        second_pid: int,
        trace: Trace,
        blocked: str,
    ) -> None:
        """When queued: once PostgreSQL shows T2 in a lock wait, record ``blocked`` for T2
        and let T1 go on."""
        if not self.queued:
            return
        wait_until_lock_wait(observer, second_pid)
        trace.step(SECOND, blocked)
        self._release_first.set()
