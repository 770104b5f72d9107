"""Window edges and certificate renewals are acted on at their time, not at the next resync.

Every test here runs with a resync period of an hour, far longer than the waits (15 s), so
only the campaign's own timer can make the expected pass happen. Time is a ManualClock:
moving it past a due time is what fires the timer.
"""

from __future__ import annotations

import datetime as dt

from promptsales_operator.clock import ManualClock
from tests.integration.operator.conftest import (
    CAMPAIGNS,
    CRONJOBS,
    DEPLOYMENTS,
    NS,
    SECRETS,
    START,
    Platform,
    StartOperator,
    campaign,
    condition,
    events_for,
    is_ready,
    phase,
    wait_campaign,
    wait_for,
)

NO_RESYNC = 3600.0
HOUR = dt.timedelta(hours=1)


def suspended(platform: Platform, name: str) -> bool:
    return bool(platform.kube.get_object(CRONJOBS, NS, f"{name}-etl")["spec"]["suspend"])


async def test_window_start_and_end_are_acted_on_at_their_time(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    running = await start_operator(resync_seconds=NO_RESYNC)
    start, end = START + HOUR, START + 2 * HOUR
    kube.create_object(
        CAMPAIGNS,
        campaign(
            "timed",
            window={"start": start.isoformat(), "end": end.isoformat()},
            demand={"requestsPerSecond": 40},
        ),
    )
    await wait_campaign(kube, "timed", lambda o: phase(o) == "Scheduled", "Scheduled")
    assert suspended(platform, "timed")
    await wait_for(lambda: running.ctx.requeue.due("timed") == start, "timer at window start")

    clock.advance(HOUR)
    await wait_for(lambda: not suspended(platform, "timed"), "CronJob unsuspended at start")
    await wait_campaign(kube, "timed", lambda o: phase(o) == "Active", "Active")
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 4,
        "scaled up at window start",
    )
    await wait_for(lambda: running.ctx.requeue.due("timed") == end, "timer at window end")

    clock.advance(HOUR)
    await wait_for(lambda: suspended(platform, "timed"), "CronJob suspended at end")
    obj = await wait_campaign(kube, "timed", lambda o: phase(o) == "Completed", "Completed")
    assert condition(obj, "EtlScheduled")["reason"] == "WindowEnded"  # type: ignore[index]
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 1,
        "scaled down at window end",
    )
    renewal = obj["status"]["certificate"]["renewalTime"]
    assert running.ctx.requeue.due("timed") == dt.datetime.fromisoformat(renewal)


async def test_certificate_is_renewed_at_its_renewal_time(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    running = await start_operator(resync_seconds=NO_RESYNC)
    kube.create_object(
        CAMPAIGNS, campaign("timedcert", certificate={"validity": "48h", "renewBefore": "24h"})
    )
    obj = await wait_campaign(kube, "timedcert", is_ready, "Ready")
    first = kube.get_object(SECRETS, NS, "timedcert-client-tls")
    renewal = START + 24 * HOUR
    assert obj["status"]["certificate"]["renewalTime"] == "2026-12-11T00:00:00Z"
    await wait_for(lambda: running.ctx.requeue.due("timedcert") == renewal, "timer at renewal")

    clock.set(renewal)
    await wait_for(
        lambda: (
            kube.get_object(SECRETS, NS, "timedcert-client-tls")["data"]["tls.key"]
            != first["data"]["tls.key"]
        ),
        "certificate renewed at its renewal time",
    )
    await wait_campaign(
        kube,
        "timedcert",
        lambda o: o["status"]["certificate"]["renewalTime"] == "2026-12-12T00:00:00Z",
        "status shows the next renewal time",
    )
    await wait_for(
        lambda: running.ctx.requeue.due("timedcert") == renewal + 24 * HOUR, "next renewal timer"
    )
    await wait_for(
        lambda: "CertificateRenewed" in {e["reason"] for e in events_for(kube, "timedcert")},
        "CertificateRenewed event",
    )


async def test_timer_follows_spec_edits_and_goes_with_the_campaign(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    running = await start_operator(resync_seconds=NO_RESYNC)
    kube.create_object(CAMPAIGNS, campaign("moved", window={"start": (START + HOUR).isoformat()}))
    await wait_for(lambda: running.ctx.requeue.due("moved") == START + HOUR, "first timer")

    later = START + 3 * HOUR
    kube.patch_object(CAMPAIGNS, NS, "moved", {"spec": {"window": {"start": later.isoformat()}}})
    await wait_for(lambda: running.ctx.requeue.due("moved") == later, "timer moved by the edit")

    kube.delete_object(CAMPAIGNS, NS, "moved")
    await wait_for(lambda: running.ctx.requeue.due("moved") is None, "timer cancelled")
