"""Timed passes and the work queue: due-time arithmetic, clocks that can be slept on, the
heap of due times, and the queue's dedup, exclusivity and backoff guarantees."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from promptsales_operator.campaign import parse_campaign
from promptsales_operator.clock import ManualClock, SystemClock
from promptsales_operator.reconcile import next_due
from promptsales_operator.requeue import DueTimes
from promptsales_operator.workqueue import WorkQueue

NOW = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def body(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c1"}, "spec": {"campaignId": "42", "displayName": "C", **spec}}


def window(start: dt.datetime | None, end: dt.datetime | None) -> dict[str, str]:
    return {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}


def test_next_due_is_the_earliest_future_window_edge_or_the_renewal() -> None:
    campaign = parse_campaign(body(window=window(NOW + HOUR, NOW + 2 * HOUR)))
    renewal = {"renewalTime": "2026-12-10T00:30:00Z"}
    assert next_due(campaign, NOW, None) == NOW + HOUR
    assert next_due(campaign, NOW + HOUR, None) == NOW + 2 * HOUR  # start is not "next"
    assert next_due(campaign, NOW + 2 * HOUR, None) is None
    assert next_due(campaign, NOW, renewal) == NOW + dt.timedelta(minutes=30)
    assert next_due(parse_campaign(body()), NOW, None) is None
    open_ended = parse_campaign(body(window=window(None, NOW + HOUR)))
    assert next_due(open_ended, NOW, None) == NOW + HOUR


async def test_manual_clock_wakes_sleepers_moved_past_from_another_thread() -> None:
    clock = ManualClock(NOW)
    await clock.sleep_until(NOW)  # already there: returns at once
    sleeper = asyncio.create_task(clock.sleep_until(NOW + HOUR))
    await asyncio.to_thread(clock.advance, dt.timedelta(minutes=59))
    await asyncio.sleep(0.05)
    assert not sleeper.done()
    await asyncio.to_thread(clock.advance, dt.timedelta(minutes=1))
    async with asyncio.timeout(10):
        await sleeper


async def test_system_clock_sleeps_until_the_wall_clock_reaches_the_moment() -> None:
    clock = SystemClock()
    moment = clock.now() + dt.timedelta(milliseconds=50)
    await clock.sleep_until(moment)
    assert clock.now() >= moment


@contextlib.asynccontextmanager
async def running(times: DueTimes) -> AsyncIterator[DueTimes]:
    task = asyncio.create_task(times.run())
    try:
        yield times
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_due_time_fires_once_and_a_new_due_time_replaces_it() -> None:
    clock = ManualClock(NOW)
    fired: list[str] = []
    one_fired = asyncio.Event()

    def record(name: str) -> None:
        fired.append(name)
        one_fired.set()

    times = DueTimes(clock, record, min_delay=0.01)
    times.schedule("c1", NOW + HOUR)
    times.schedule("c1", NOW + HOUR)  # same due time: kept, not duplicated
    times.schedule("c1", NOW + 2 * HOUR)  # replaced
    assert times.due("c1") == NOW + 2 * HOUR
    times.schedule("c2", NOW + HOUR)
    times.cancel("c2")
    assert times.due("c2") is None
    async with running(times):
        clock.advance(HOUR)
        await asyncio.sleep(0.1)
        assert fired == []  # c1 moved to 2 h, c2 cancelled
        clock.advance(HOUR)
        async with asyncio.timeout(10):
            await one_fired.wait()
        await asyncio.sleep(0.1)
    assert fired == ["c1"]
    assert times.due("c1") is None
    assert len(times) == 0


async def test_an_earlier_due_time_wakes_the_waiting_heap() -> None:
    clock = ManualClock(NOW)
    fired: list[str] = []
    one_fired = asyncio.Event()

    def record(name: str) -> None:
        fired.append(name)
        one_fired.set()

    times = DueTimes(clock, record, min_delay=0.0)
    times.schedule("late", NOW + 10 * HOUR)
    async with running(times):
        await asyncio.sleep(0.05)  # now waiting for the late one
        times.schedule("early", NOW + HOUR)
        clock.advance(HOUR)
        async with asyncio.timeout(10):
            await one_fired.wait()
    assert fired == ["early"]


async def test_a_due_time_in_the_past_cannot_make_passes_spin() -> None:
    clock = ManualClock(NOW)
    fired: list[str] = []

    def pass_that_reschedules(name: str) -> None:
        # What a pass does with a due time it cannot move: schedule it again.
        fired.append(name)
        times.schedule(name, NOW - HOUR)

    times = DueTimes(clock, pass_that_reschedules, min_delay=0.05)
    times.schedule("c1", NOW - HOUR)
    async with running(times):
        await asyncio.sleep(0.5)
    assert 1 <= len(fired) <= 12  # at most one per min_delay (0.05 s) over about 0.5 s


async def test_the_queue_holds_a_key_once_however_often_it_is_added() -> None:
    queue = WorkQueue(base_delay=0.01, max_delay=1)
    for _ in range(5):
        queue.add("c1")
    queue.add("c2")
    assert len(queue) == 2
    assert await queue.get() == "c1"
    assert await queue.get() == "c2"
    assert len(queue) == 0


async def test_a_key_added_while_processed_runs_again_after_not_alongside() -> None:
    queue = WorkQueue(base_delay=0.01, max_delay=1)
    queue.add("c1")
    key = await queue.get()
    assert key == "c1"
    queue.add("c1")  # an event arrives during the pass
    assert len(queue) == 0  # not handed to a second worker meanwhile
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    queue.done(key)
    async with asyncio.timeout(5):
        assert await waiting == "c1"


async def test_failures_back_off_exponentially_and_a_success_forgets_them() -> None:
    queue = WorkQueue(base_delay=0.02, max_delay=0.08)
    delays = [queue.retry("c1") for _ in range(5)]
    assert delays == pytest.approx([0.02, 0.04, 0.08, 0.08, 0.08])
    queue.forget("c1")
    assert queue.retry("c1") == pytest.approx(0.02)
    async with asyncio.timeout(5):
        assert await queue.get() == "c1"  # the delayed add arrives


async def test_close_releases_waiting_workers() -> None:
    queue = WorkQueue(base_delay=0.01, max_delay=1)
    workers = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0.01)
    queue.close()
    async with asyncio.timeout(5):
        assert await asyncio.gather(*workers) == [None, None, None]
