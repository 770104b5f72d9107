"""Drift repair, certificate renewal with time moved forward, CA rollover, failures, restart."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import aiohttp
from cryptography import x509

import certs
from harness.services import free_port
from promptsales_operator.clock import ManualClock
from tests.integration.operator.conftest import (
    CAMPAIGNS,
    CRONJOBS,
    NS,
    SECRETS,
    Platform,
    StartOperator,
    ca_secret,
    campaign,
    condition,
    events_for,
    is_ready,
    phase,
    wait_campaign,
    wait_for,
)
from tests.support.kube import Fault


def leaf_of(secret: dict[str, object] | None) -> x509.Certificate:
    assert secret is not None
    data = secret["data"]
    assert isinstance(data, dict)
    return x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))


def bundle_of(secret: dict[str, object]) -> list[x509.Certificate]:
    data = secret["data"]
    assert isinstance(data, dict)
    return certs.load_certificates(base64.b64decode(data["ca.crt"]))


async def test_children_edited_or_deleted_by_hand_are_put_back(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("drift"))
    await wait_campaign(kube, "drift", is_ready, "Ready")
    schedule = kube.get_object(CRONJOBS, NS, "drift-etl")["spec"]["schedule"]

    kube.patch_object(CRONJOBS, NS, "drift-etl", {"spec": {"schedule": "* * * * *"}})
    await wait_for(
        lambda: kube.get_object(CRONJOBS, NS, "drift-etl")["spec"]["schedule"] == schedule,
        "schedule restored",
    )
    kube.delete_object(CRONJOBS, NS, "drift-etl")
    await wait_for(lambda: kube.find(CRONJOBS, NS, "drift-etl"), "CronJob recreated")
    kube.delete_object(SECRETS, NS, "drift-client-tls")
    await wait_for(lambda: kube.find(SECRETS, NS, "drift-client-tls"), "Secret recreated")
    reasons = {e["reason"]: e["type"] for e in events_for(kube, "drift")}
    assert reasons["CronJobRepaired"] == "Warning"  # someone changed what we wrote
    assert "CronJobUpdated" not in reasons


async def test_certificate_renews_with_a_new_key_when_time_moves_forward(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    running = await start_operator()
    kube.create_object(
        CAMPAIGNS, campaign("renew", certificate={"validity": "48h", "renewBefore": "24h"})
    )
    obj = await wait_campaign(kube, "renew", is_ready, "Ready")
    first = kube.get_object(SECRETS, NS, "renew-client-tls")
    renewal = obj["status"]["certificate"]["renewalTime"]
    assert renewal == "2026-12-11T00:00:00Z"

    clock.advance(dt.timedelta(hours=23))
    passes = running.ctx.metrics.reconciles.labels("ok")._value.get()
    await wait_for(
        lambda: running.ctx.metrics.reconciles.labels("ok")._value.get() >= passes + 2,
        "two passes before the renewal time",
    )
    assert kube.get_object(SECRETS, NS, "renew-client-tls")["data"] == first["data"]

    clock.advance(dt.timedelta(hours=2))
    renewed = await wait_for(
        lambda: (
            (s := kube.find(SECRETS, NS, "renew-client-tls"))
            and s["data"]["tls.key"] != first["data"]["tls.key"]
            and s
        ),
        "renewed Secret",
    )
    new_leaf, old_leaf = leaf_of(renewed), leaf_of(first)
    assert new_leaf.serial_number != old_leaf.serial_number
    assert new_leaf.public_key() != old_leaf.public_key()
    assert new_leaf.not_valid_after_utc > old_leaf.not_valid_after_utc
    await wait_campaign(
        kube,
        "renew",
        lambda o: o["status"]["certificate"]["serialNumber"] == format(new_leaf.serial_number, "x"),
        "status shows the new serial",
    )
    await wait_for(
        lambda: "CertificateRenewed" in {e["reason"] for e in events_for(kube, "renew")},
        "CertificateRenewed event",
    )


async def test_ca_rollover_reissues_leaves_and_publishes_both_cas(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("roll"))
    await wait_campaign(kube, "roll", is_ready, "Ready")
    await wait_for(lambda: kube.find(SECRETS, NS, "promptsales-mcp-tls"), "MCP serving cert")

    new_ca = certs.create_root_ca(
        "PromptSales Test CA 2", validity=dt.timedelta(days=3650), now=clock.now()
    )
    kube.delete_object(SECRETS, NS, "promptsales-ca")
    kube.create_object(SECRETS, ca_secret(new_ca, new_ca, platform.ca))

    def migrated(name: str) -> Callable[[], dict[str, object] | None]:
        def check() -> dict[str, object] | None:
            secret = kube.find(SECRETS, NS, name)
            if secret is None or not certs.issued_by(leaf_of(secret), new_ca.certificate):
                return None
            return secret

        return check

    for name in ("roll-client-tls", "promptsales-mcp-tls"):
        secret = await wait_for(migrated(name), f"{name} re-issued")
        fingerprints = {certs.fingerprint(c) for c in bundle_of(secret)}
        assert fingerprints == {
            certs.fingerprint(new_ca.certificate),
            certs.fingerprint(platform.ca.certificate),
        }
    await wait_for(
        lambda: "CertificateReissued" in {e["reason"] for e in events_for(kube, "roll")},
        "CertificateReissued event",
    )


async def test_mcp_serving_certificate_is_issued_and_renewed(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    await start_operator(mcp_certificate_validity_hours=10, mcp_certificate_renew_before_hours=5)
    first = leaf_of(
        await wait_for(lambda: kube.find(SECRETS, NS, "promptsales-mcp-tls"), "MCP secret")
    )
    sans = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "promptsales-mcp.promptsales.svc" in sans.get_values_for_type(x509.DNSName)
    clock.advance(dt.timedelta(hours=6))
    await wait_for(
        lambda: (
            leaf_of(kube.find(SECRETS, NS, "promptsales-mcp-tls")).serial_number
            != first.serial_number
        ),
        "MCP certificate renewed",
    )


async def test_missing_ca_stalls_then_recovers(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    kube.delete_object(SECRETS, NS, "promptsales-ca")
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("noca"))
    obj = await wait_campaign(kube, "noca", lambda o: phase(o) == "Stalled", "Stalled")
    stalled = condition(obj, "Stalled")
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("True", "CAUnavailable")
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert kube.find(CRONJOBS, NS, "noca-etl") is not None  # the other concerns progressed

    kube.create_object(SECRETS, ca_secret(platform.ca))
    obj = await wait_campaign(kube, "noca", is_ready, "Ready after the CA appeared")
    assert condition(obj, "Stalled")["status"] == "False"  # type: ignore[index]


async def test_api_errors_leave_campaign_reconciling_then_it_converges(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    kube.inject_fault(Fault("create", "cronjobs", status=500, times=3))
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("flaky"))
    obj = await wait_campaign(
        kube,
        "flaky",
        lambda o: (condition(o, "Reconciling") or {}).get("status") == "True",
        "Reconciling",
    )
    assert condition(obj, "EtlScheduled")["reason"] == "ApiError"  # type: ignore[index]
    assert phase(obj) == "Provisioning"
    await wait_campaign(kube, "flaky", is_ready, "Ready after the errors stopped")
    assert len([c for c in kube.stored(CRONJOBS, NS) if c["metadata"]["name"] == "flaky-etl"]) == 1


async def test_restart_mid_reconcile_converges_without_duplicates(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    fault = kube.inject_fault(Fault("create", "secrets", status=500, times=10_000))
    first = await start_operator()
    kube.create_object(CAMPAIGNS, campaign("restart"))
    await wait_for(lambda: kube.find(CRONJOBS, NS, "restart-etl"), "half-done pass")
    await first.stop()

    fault.times = 0
    kube.reset_counts()
    await start_operator()
    await wait_campaign(kube, "restart", is_ready, "Ready after restart")
    assert kube.counts["create", "cronjobs"] == 0  # adopted, not re-created
    owned = [
        o
        for kind in (CRONJOBS, SECRETS)
        for o in kube.stored(kind, NS)
        if o["metadata"].get("labels", {}).get("promptsales.io/campaign") == "restart"
    ]
    assert sorted(o["metadata"]["name"] for o in owned) == ["restart-client-tls", "restart-etl"]


async def test_probes_and_metrics(platform: Platform, start_operator: StartOperator) -> None:
    kube = platform.kube
    port = free_port()
    await start_operator(probe_port=port, probe_host="127.0.0.1")
    kube.create_object(CAMPAIGNS, campaign("metrics"))
    await wait_campaign(kube, "metrics", is_ready, "Ready")
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/healthz")).status == 200
        assert (await http.get("/readyz")).status == 200
        text = await (await http.get("/metrics")).text()
    assert 'promptsales_operator_reconciles_total{result="ok"}' in text
    assert 'promptsales_operator_campaigns{phase="Active"} 1.0' in text
    assert 'promptsales_operator_certificate_expiry_seconds{secret="metrics-client-tls"}' in text


async def test_status_write_conflicts_are_retried(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    kube.inject_fault(Fault("patch", "promptsalescampaigns", status=409, subresource="status"))
    running = await start_operator()
    kube.create_object(CAMPAIGNS, campaign("conflict"))
    await wait_campaign(kube, "conflict", is_ready, "Ready after a conflict")
    assert running.ctx.metrics.errors.labels("StatusWriteFailed")._value.get() >= 1


async def test_one_bad_campaign_stalls_alone(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    admission = kube.admission.pop(CAMPAIGNS)  # as if stored before a CRD rule existed
    kube.create_object(
        CAMPAIGNS, campaign("bad", certificate={"validity": "1h", "renewBefore": "2h"})
    )
    kube.admission[CAMPAIGNS] = admission
    running = await start_operator()
    kube.create_object(CAMPAIGNS, campaign("good"))

    bad = await wait_campaign(kube, "bad", lambda o: phase(o) == "Stalled", "Stalled")
    assert condition(bad, "Stalled")["reason"] == "InvalidSpec"  # type: ignore[index]
    assert "renewBefore" in condition(bad, "Stalled")["message"]  # type: ignore[index]
    await wait_campaign(kube, "good", is_ready, "the good one is Ready")
    assert running.thread.is_alive()
    assert kube.find(CRONJOBS, NS, "bad-etl") is None
