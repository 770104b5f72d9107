"""Timed passes: due-time arithmetic, clocks that can be slept on, the per-campaign timers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from promptsales_operator.campaign import parse_campaign
from promptsales_operator.clock import ManualClock, SystemClock
from promptsales_operator.reconcile import next_due
from promptsales_operator.requeue import RequeueTimers, RetryLater

NOW = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def body(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c1"}, "spec": {"campaignId": "42", **spec}}


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


async def test_a_timer_fires_at_its_due_time_and_a_new_due_time_replaces_it() -> None:
    clock = ManualClock(NOW)
    timers = RequeueTimers(clock, min_delay=0.01, retry_delay=0.01, limit=4)
    fired: list[str] = []
    any_fired = asyncio.Event()

    async def record(label: str) -> None:
        fired.append(label)
        any_fired.set()

    timers.schedule("c1", NOW + HOUR, lambda: record("first"))
    timers.schedule("c1", NOW + HOUR, lambda: record("same due: kept"))
    timers.schedule("c1", NOW + 2 * HOUR, lambda: record("replaced"))
    assert timers.due("c1") == NOW + 2 * HOUR
    timers.schedule("c2", NOW + HOUR, lambda: record("cancelled"))
    timers.cancel("c2")
    assert timers.due("c2") is None

    clock.advance(2 * HOUR)
    async with asyncio.timeout(10):
        await any_fired.wait()
    await asyncio.sleep(0.1)  # room for a timer that should have been cancelled
    assert fired == ["replaced"]
    assert timers.due("c1") is None  # a fired timer leaves the registry
    await timers.close()


async def test_a_due_time_in_the_past_cannot_make_passes_spin() -> None:
    clock = ManualClock(NOW)
    timers = RequeueTimers(clock, min_delay=0.05, retry_delay=0.05, limit=4)
    finished = 0
    one_finished = asyncio.Event()

    async def reschedule_in_the_past() -> None:
        nonlocal finished
        # What a pass does: schedule the next timer (here one already due), then go on.
        timers.schedule("c1", NOW - HOUR, reschedule_in_the_past)
        await asyncio.sleep(0)
        finished += 1
        one_finished.set()

    timers.schedule("c1", NOW - HOUR, reschedule_in_the_past)
    async with asyncio.timeout(10):
        await one_finished.wait()  # the pass ran to its end: it did not cancel itself
    await asyncio.sleep(0.5)
    await timers.close()
    assert finished <= 12  # at most one pass per min_delay (0.05 s) over about 0.5 s


async def test_a_failed_timed_pass_is_retried_after_the_backoff_until_it_succeeds() -> None:
    clock = ManualClock(NOW)
    timers = RequeueTimers(clock, min_delay=0.01, retry_delay=0.05, limit=4)
    attempts = 0
    succeeded = asyncio.Event()

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RetryLater("503 ServiceUnavailable")
        if attempts == 2:
            raise RuntimeError("an unexpected failure is retried too")
        # A successful pass sets the campaign's next timer, as reconcile_campaign does.
        timers.schedule("c1", NOW + 2 * HOUR, flaky)
        succeeded.set()

    timers.schedule("c1", NOW + HOUR, flaky)
    clock.advance(HOUR)  # the clock stays here: only the backoff can bring the retries
    async with asyncio.timeout(10):
        await succeeded.wait()
    await asyncio.sleep(0.3)  # six backoffs: room for a retry that should not happen
    assert attempts == 3
    assert timers.due("c1") == NOW + 2 * HOUR
    await timers.close()


async def test_a_failed_pass_is_not_retried_over_a_newer_pass_or_a_deletion() -> None:
    clock = ManualClock(NOW)
    timers = RequeueTimers(clock, min_delay=0.01, retry_delay=0.05, limit=4)
    calls: list[str] = []
    started = {"c1": asyncio.Event(), "c2": asyncio.Event()}
    release = asyncio.Event()

    async def newer() -> None:
        calls.append("newer")

    def failing(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            calls.append(name)
            started[name].set()
            await release.wait()
            raise RetryLater("500 InternalError")

        return run

    timers.schedule("c1", NOW + HOUR, failing("c1"))
    timers.schedule("c2", NOW + HOUR, failing("c2"))
    clock.advance(HOUR)
    async with asyncio.timeout(10):
        await started["c1"].wait()
        await started["c2"].wait()
    # While both passes run, another trigger moves c1's timer and c2 is deleted.
    timers.schedule("c1", NOW + 3 * HOUR, newer)
    timers.cancel("c2")
    release.set()
    await asyncio.sleep(0.3)  # six backoffs: room for a retry that should not happen
    assert calls == ["c1", "c2"]
    assert timers.due("c1") == NOW + 3 * HOUR
    assert timers.due("c2") is None
    await timers.close()
