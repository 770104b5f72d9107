"""The running operator against the API emulator: create, update, windows, deletion."""

from __future__ import annotations

import base64

from cryptography import x509

import certs
from tests.integration.operator.conftest import (
    CAMPAIGNS,
    CRONJOBS,
    NS,
    SECRETS,
    Platform,
    StartOperator,
    campaign,
    condition,
    is_ready,
    wait_for,
)


async def test_create_makes_cronjob_certificate_and_ready_status(
    platform: Platform, start_operator: StartOperator
) -> None:
    kube = platform.kube
    await start_operator()
    kube.create_object(CAMPAIGNS, campaign("spring-sale", "10042"))

    obj = await wait_for(
        lambda: (o := kube.find(CAMPAIGNS, NS, "spring-sale")) and is_ready(o) and o, "Ready"
    )
    status = obj["status"]
    assert status["phase"] == "Active"
    assert status["observedGeneration"] == 1
    for kind in ("Ready", "EtlScheduled", "CertificateReady", "CapacityScaled"):
        assert condition(obj, kind)["status"] == "True"  # type: ignore[index]
    assert condition(obj, "Stalled")["status"] == "False"  # type: ignore[index]

    cronjob = kube.get_object(CRONJOBS, NS, "spring-sale-etl")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "10042"
    assert cronjob["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert status["etl"]["schedule"] == cronjob["spec"]["schedule"]

    secret = kube.get_object(SECRETS, NS, "spring-sale-client-tls")
    assert secret["type"] == "kubernetes.io/tls"
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    assert certs.issued_by(leaf, platform.ca.certificate)
    identity = certs.client_identity_from_certificate(leaf)
    assert (identity.campaign_name, identity.campaign_id, str(identity.role)) == (
        "spring-sale",
        "10042",
        "marketing",
    )
    assert status["certificate"]["serialNumber"] == format(leaf.serial_number, "x")
    assert "PRIVATE KEY" not in str(obj)
