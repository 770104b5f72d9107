"""The running operator against the API emulator: create, update, windows, deletion."""

from __future__ import annotations

import base64
import datetime as dt
import logging

import pytest
from cryptography import x509

import certs
from promptsales_operator.clock import ManualClock
from tests.integration.operator.conftest import (
    CAMPAIGNS,
    CRONJOBS,
    DEPLOYMENTS,
    NS,
    SECRETS,
    STATEFULSETS,
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


def leaf_of(secret: dict[str, object]) -> x509.Certificate:
    data = secret["data"]
    assert isinstance(data, dict)
    return x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))


async def test_create_makes_cronjob_certificate_and_ready_status(
    platform: Platform, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("spring-sale", "10042"))

    obj = await wait_campaign(kube, "spring-sale", is_ready, "Ready")
    status = obj["status"]
    assert status["phase"] == "Active"
    assert status["observedGeneration"] == 1
    for kind in ("Ready", "EtlScheduled", "CertificateReady", "CapacityScaled"):
        assert condition(obj, kind)["status"] == "True"  # type: ignore[index]
    assert condition(obj, "Stalled")["status"] == "False"  # type: ignore[index]
    assert condition(obj, "Reconciling")["status"] == "False"  # type: ignore[index]

    cronjob = kube.get_object(CRONJOBS, NS, "spring-sale-etl")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["promptsales", "etl", "run", "--campaign-id", "10042"]
    assert cronjob["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert cronjob["spec"]["suspend"] is False
    assert status["etl"]["schedule"] == cronjob["spec"]["schedule"]

    secret = kube.get_object(SECRETS, NS, "spring-sale-client-tls")
    assert secret["type"] == "kubernetes.io/tls"
    leaf = leaf_of(secret)
    assert certs.issued_by(leaf, platform.ca.certificate)
    identity = certs.client_identity_from_certificate(leaf)
    assert (identity.campaign_name, identity.campaign_id, str(identity.role)) == (
        "spring-sale",
        "10042",
        "marketing",
    )
    assert status["certificate"]["serialNumber"] == format(leaf.serial_number, "x")
    assert base64.b64decode(secret["data"]["ca.crt"]).decode() == certs.to_pem(
        platform.ca.certificate
    )

    wanted = {"CronJobCreated", "CertificateIssued", "PhaseChanged"}
    await wait_for(
        lambda: wanted <= {e["reason"] for e in events_for(kube, "spring-sale")}, "events"
    )
    everything = str(kube.stored(CAMPAIGNS, NS)) + str(kube.stored("v1/events", NS))
    assert "PRIVATE KEY" not in everything
    assert "PRIVATE KEY" not in caplog.text


async def test_cronjob_history_is_mirrored_into_status(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("mirror"))
    await wait_campaign(kube, "mirror", is_ready, "Ready")
    kube.patch_object(
        CRONJOBS,
        NS,
        "mirror-etl",
        {
            "status": {
                "lastScheduleTime": "2026-12-10T00:11:00Z",
                "lastSuccessfulTime": "2026-12-10T00:12:30Z",
            }
        },
        subresource="status",
    )
    obj = await wait_campaign(
        kube, "mirror", lambda o: "lastSuccessfulTime" in o["status"]["etl"], "ETL times"
    )
    assert obj["status"]["etl"]["lastScheduleTime"] == "2026-12-10T00:11:00Z"
    assert obj["status"]["etl"]["lastSuccessfulTime"] == "2026-12-10T00:12:30Z"


async def test_converged_campaign_passes_make_no_writes(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    running = await start_operator()
    kube.create_object(CAMPAIGNS, campaign("quiet"))
    obj = await wait_campaign(kube, "quiet", is_ready, "Ready")
    # kopf writes nothing of its own: no finalizer, no annotations.
    assert not obj["metadata"].get("annotations")
    assert not obj["metadata"].get("finalizers")
    await wait_for(lambda: not running.ctx.capacity.changed.is_set(), "capacity settled")
    before = running.ctx.metrics.reconciles.labels("ok")._value.get()
    kube.reset_counts()

    await wait_for(
        lambda: running.ctx.metrics.reconciles.labels("ok")._value.get() >= before + 4,
        "four resync passes",
    )
    assert kube.write_requests == 0, kube.write_log
    # The passes read the watch-fed caches: not one request reached the API.
    reads = {key: n for key, n in kube.counts.items() if key[0] in {"get", "list"}}
    assert reads == {}


async def test_update_reissues_certificate_and_reschedules(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("upd", "7"))
    await wait_campaign(kube, "upd", is_ready, "Ready")
    first_serial = leaf_of(kube.get_object(SECRETS, NS, "upd-client-tls")).serial_number

    kube.patch_object(
        CAMPAIGNS,
        NS,
        "upd",
        {"spec": {"certificate": {"role": "sales"}, "etl": {"schedule": "5 * * * *"}}},
    )
    obj = await wait_campaign(
        kube, "upd", lambda o: o["status"].get("observedGeneration") == 2 and is_ready(o), "gen 2"
    )
    leaf = leaf_of(kube.get_object(SECRETS, NS, "upd-client-tls"))
    assert leaf.serial_number != first_serial
    assert str(certs.client_identity_from_certificate(leaf).role) == "sales"
    assert kube.get_object(CRONJOBS, NS, "upd-etl")["spec"]["schedule"] == "5 * * * *"
    assert obj["status"]["etl"]["schedule"] == "5 * * * *"
    # An ordinary spec edit is an update, not the drift repair a hand edit gets.
    reasons = [e["reason"] for e in events_for(kube, "upd")]
    assert "CronJobUpdated" in reasons
    assert "CronJobRepaired" not in reasons


async def test_window_start_and_end_move_phase_and_suspension(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    kube = platform.kube
    await start_operator()
    start = clock.now() + dt.timedelta(hours=1)
    end = start + dt.timedelta(hours=1)
    window = {"start": start.isoformat(), "end": end.isoformat()}
    kube.create_object(CAMPAIGNS, campaign("win", window=window, demand={"requestsPerSecond": 40}))
    obj = await wait_campaign(kube, "win", lambda o: phase(o) == "Scheduled", "Scheduled")
    assert is_ready(obj)
    assert kube.get_object(CRONJOBS, NS, "win-etl")["spec"]["suspend"] is True
    assert obj["status"]["capacity"]["requestsPerSecond"] == 0
    assert kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 1

    clock.advance(dt.timedelta(hours=1))
    obj = await wait_campaign(kube, "win", lambda o: phase(o) == "Active", "Active")
    assert kube.get_object(CRONJOBS, NS, "win-etl")["spec"]["suspend"] is False
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 4,
        "scaled up for the window",
    )

    clock.advance(dt.timedelta(hours=1))
    obj = await wait_campaign(kube, "win", lambda o: phase(o) == "Completed", "Completed")
    assert kube.get_object(CRONJOBS, NS, "win-etl")["spec"]["suspend"] is True
    assert condition(obj, "EtlScheduled")["reason"] == "WindowEnded"  # type: ignore[index]
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 1,
        "scaled down after the window",
    )


async def test_scaling_follows_the_sum_of_active_campaigns(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    await start_operator()

    def replicas() -> tuple[int, int]:
        """The MCP server Deployment's and the cache's data StatefulSet's."""
        mcp = kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"]
        cache = kube.get_object(STATEFULSETS, NS, "promptsales-cache")["spec"]["replicas"]
        return int(mcp), int(cache)

    for name, rps in (("a", 10), ("b", 20), ("c", 120)):
        kube.create_object(CAMPAIGNS, campaign(name, demand={"requestsPerSecond": rps}))
    # 150 req/s: 10 per MCP replica (at most 8), 50 per cache replica (see fast_settings)
    await wait_for(lambda: replicas() == (8, 3), "8 and 3")

    kube.delete_object(CAMPAIGNS, NS, "c")
    # 30 req/s: the cache keeps a primary and a replica to promote, whatever the demand
    await wait_for(lambda: replicas() == (3, 2), "3 and 2 after a deletion")

    kube.create_object(CAMPAIGNS, campaign("huge", demand={"requestsPerSecond": 5000}))
    await wait_for(lambda: replicas() == (8, 6), "both bounded by their maximum")
    scaled = {
        e["involvedObject"]["kind"] for e in kube.stored("v1/events", NS) if e["reason"] == "Scaled"
    }
    assert scaled == {"Deployment", "StatefulSet"}


async def test_deletion_takes_children_and_never_hangs(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("gone"))
    await wait_campaign(kube, "gone", is_ready, "Ready")
    assert not kube.get_object(CAMPAIGNS, NS, "gone")["metadata"].get("finalizers")

    kube.delete_object(SECRETS, NS, "promptsales-ca")  # CA already gone: must not block
    kube.delete_object(CAMPAIGNS, NS, "gone")
    assert kube.find(CAMPAIGNS, NS, "gone") is None
    assert kube.find(CRONJOBS, NS, "gone-etl") is None
    assert kube.find(SECRETS, NS, "gone-client-tls") is None


async def test_every_api_call_is_allowed_by_the_operator_rbac(
    platform: Platform, start_operator: StartOperator, clock: ManualClock
) -> None:
    from workloads import operator as operator_workloads

    kube = platform.kube
    kube.reset_counts()
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("rbac", window={"end": "2026-12-11T00:00:00Z"}))
    await wait_campaign(kube, "rbac", is_ready, "Ready")
    clock.advance(dt.timedelta(days=2))
    await wait_campaign(kube, "rbac", lambda o: phase(o) == "Completed", "Completed")
    kube.delete_object(CAMPAIGNS, NS, "rbac")

    allowed = {
        (verb, resource)
        for manifest in operator_workloads.operator_manifests(NS)
        if manifest["kind"] in {"Role", "ClusterRole"}
        for rule in manifest["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    writes = {"create", "patch", "update", "delete"}
    used = {(verb, plural) for verb, plural in kube.counts if verb not in writes}
    used |= {
        (verb, f"{plural}/{sub}" if sub else plural) for verb, plural, _, sub in kube.write_log
    }
    assert used - allowed == set()
    assert ("patch", "promptsalescampaigns/status") in used


async def test_external_cache_has_no_statefulset_and_capacity_still_converges(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    kube.delete_object(STATEFULSETS, NS, "promptsales-cache")  # infra's external cache mode
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("ext", demand={"requestsPerSecond": 30}))
    done = await wait_campaign(kube, "ext", is_ready, "Ready without a cache StatefulSet")
    scaled = condition(done, "CapacityScaled")
    assert scaled is not None
    assert scaled["status"] == "True"
    await wait_for(
        lambda: kube.get_object(DEPLOYMENTS, NS, "promptsales-mcp")["spec"]["replicas"] == 3,
        "mcp scaled to 3 for 30 req/s (10 per replica)",
    )
    assert kube.find(STATEFULSETS, NS, "promptsales-cache") is None
