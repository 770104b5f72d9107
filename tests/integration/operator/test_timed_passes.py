"""Window edges and certificate renewals are acted on at their time, not at the next resync.

Every test here runs with a resync period of an hour, far longer than the waits (15 s), so
only the campaign's own timer (or the serving certificate's worker waiting for its renewal
time) can make the expected pass happen. Time is a ManualClock: moving it past a due time
is what fires the timer. A failed timed pass is retried after RETRY_BACKOFF_SECONDS of real
time (0.2 s in these tests), as kopf retries its handlers.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

from cryptography import x509

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
from tests.support.kube import Fault
from workloads.campaign_certificate import RENEWAL_TIME

NO_RESYNC = 3600.0
HOUR = dt.timedelta(hours=1)


def suspended(platform: Platform, name: str) -> bool:
    return bool(platform.kube.get_object(CRONJOBS, NS, f"{name}-etl")["spec"]["suspend"])


def serial(secret: dict[str, Any] | None) -> int:
    assert secret is not None
    pem = base64.b64decode(secret["data"]["tls.crt"])
    return int(x509.load_pem_x509_certificate(pem).serial_number)


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
    await wait_for(lambda: running.ctx.due.due("timed") == start, "timer at window start")

    clock.advance(HOUR)
    await wait_for(lambda: not suspended(platform, "timed"), "CronJob unsuspended at start")
    await wait_campaign(kube, "timed", lambda o: phase(o) == "Active", "Active")
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 4,
        "scaled up at window start",
    )
    await wait_for(lambda: running.ctx.due.due("timed") == end, "timer at window end")

    clock.advance(HOUR)
    await wait_for(lambda: suspended(platform, "timed"), "CronJob suspended at end")
    obj = await wait_campaign(kube, "timed", lambda o: phase(o) == "Completed", "Completed")
    assert condition(obj, "EtlScheduled")["reason"] == "WindowEnded"  # type: ignore[index]
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 1,
        "scaled down at window end",
    )
    # The pass that wrote Completed schedules its next timer after posting its Event, so
    # the timer can lag the status by an API round trip.
    renewal = dt.datetime.fromisoformat(obj["status"]["certificate"]["renewalTime"])
    await wait_for(lambda: running.ctx.due.due("timed") == renewal, "timer at renewal")


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
    await wait_for(lambda: running.ctx.due.due("timedcert") == renewal, "timer at renewal")

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
        lambda: running.ctx.due.due("timedcert") == renewal + 24 * HOUR, "next renewal timer"
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
    await wait_for(lambda: running.ctx.due.due("moved") == START + HOUR, "first timer")

    later = START + 3 * HOUR
    kube.patch_object(CAMPAIGNS, NS, "moved", {"spec": {"window": {"start": later.isoformat()}}})
    await wait_for(lambda: running.ctx.due.due("moved") == later, "timer moved by the edit")

    kube.delete_object(CAMPAIGNS, NS, "moved")
    await wait_for(lambda: running.ctx.due.due("moved") is None, "timer cancelled")


async def test_mcp_serving_certificate_is_renewed_at_its_renewal_time(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    await start_operator(
        resync_seconds=NO_RESYNC,
        mcp_certificate_validity_hours=10,
        mcp_certificate_renew_before_hours=5,
    )
    secret = await wait_for(lambda: kube.find(SECRETS, NS, "promptsales-mcp-tls"), "MCP secret")
    first = serial(secret)
    assert secret["metadata"]["annotations"][RENEWAL_TIME] == ("2026-12-10T05:00:00Z")

    clock.advance(5 * HOUR - dt.timedelta(seconds=1))
    await asyncio.sleep(0.5)  # room for a renewal that would be early
    assert serial(kube.find(SECRETS, NS, "promptsales-mcp-tls")) == first

    clock.set(START + 5 * HOUR)
    await wait_for(
        lambda: serial(kube.find(SECRETS, NS, "promptsales-mcp-tls")) != first,
        "MCP serving certificate renewed at its renewal time",
    )


async def test_a_failed_timed_pass_is_retried_after_the_backoff_until_it_succeeds(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    running = await start_operator(resync_seconds=NO_RESYNC, retry_backoff_seconds=0.2)
    start, end = START + HOUR, START + 2 * HOUR
    kube.create_object(
        CAMPAIGNS, campaign("retried", window={"start": start.isoformat(), "end": end.isoformat()})
    )
    await wait_campaign(kube, "retried", lambda o: phase(o) == "Scheduled", "Scheduled")
    await wait_for(lambda: running.ctx.due.due("retried") == start, "timer at window start")

    # The timed pass's status write fails three times: the queue retries it with backoff.
    fault = kube.inject_fault(
        Fault(
            "patch",
            "promptsalescampaigns",
            status=500,
            name="retried",
            subresource="status",
            times=3,
        )
    )
    clock.advance(HOUR)
    await wait_campaign(kube, "retried", lambda o: phase(o) == "Active", "Active after retries")
    assert not suspended(platform, "retried")
    assert fault.times == 0
    await wait_for(lambda: running.ctx.due.due("retried") == end, "timer back at window end")
    # Writes still owed, not retries: the window's start also counts the campaign's demand
    # (the capacity worker scales the shared Deployments and re-queues the campaign for its
    # CapacityScaled: done once it is Ready), and the pass that wrote Active posts its
    # PhaseChanged Event after the status write the wait above saw.
    await wait_campaign(kube, "retried", is_ready, "Ready with its demand counted")
    await wait_for(
        lambda: any(
            e["reason"] == "PhaseChanged" and e["message"].endswith("-> Active")
            for e in events_for(kube, "retried")
        ),
        "PhaseChanged to Active posted",
    )

    def retried_passes() -> float:
        return float(running.ctx.metrics.reconciles.labels("retry")._value.get())

    writes, log_before, retries_before = kube.write_requests, list(kube.write_log), retried_passes()
    await asyncio.sleep(1.0)  # five backoffs: room for a retry that should not happen
    assert kube.write_requests == writes, kube.write_log[len(log_before) :]
    # A pass the watch event of the last status write causes is fine (it writes nothing);
    # a pass that still ends wanting a retry is not.
    assert retried_passes() == retries_before
    assert running.ctx.due.due("retried") == end


async def test_a_timed_pass_with_a_failing_concern_is_retried_after_the_backoff(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    running = await start_operator(resync_seconds=NO_RESYNC, retry_backoff_seconds=0.2)
    start = START + HOUR
    kube.create_object(CAMPAIGNS, campaign("patchy", window={"start": start.isoformat()}))
    await wait_campaign(kube, "patchy", lambda o: phase(o) == "Scheduled", "Scheduled")
    await wait_for(lambda: running.ctx.due.due("patchy") == start, "timer at window start")

    # Unsuspending the CronJob fails twice: the pass completes, the campaign Reconciling.
    fault = kube.inject_fault(Fault("patch", "cronjobs", status=500, name="patchy-etl", times=2))
    clock.advance(HOUR)
    await wait_for(lambda: fault.times == 0, "both failing attempts made")
    await wait_for(lambda: not suspended(platform, "patchy"), "CronJob unsuspended by a retry")
    await wait_campaign(kube, "patchy", lambda o: phase(o) == "Active", "Active")
    renewal = START + dt.timedelta(days=60)  # the default 90d validity, renewBefore 30d
    await wait_for(lambda: running.ctx.due.due("patchy") == renewal, "timer at renewal")
