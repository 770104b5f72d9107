"""Pure decisions of the operator: spec reading, windows, conditions, certificates."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

import certs
from promptsales.config import ConfigError, load_settings
from promptsales_operator import certificates as certdecide
from promptsales_operator.campaign import SpecError, WindowState, parse_campaign
from promptsales_operator.conditions import Condition, merge_conditions, summarize
from promptsales_operator.reconcile import is_subset
from promptsales_operator.settings import OperatorSettings
from workloads import campaign_certificate as secret_builder

NOW = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)


def body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "c1", "namespace": "promptsales", "uid": "u1", "generation": 3},
        "spec": {"campaignId": "42", "displayName": "C1", **spec},
    }


def test_spec_defaults_match_the_crd() -> None:
    campaign = parse_campaign(body())
    assert campaign.schedule == "*/11 * * * *"
    assert campaign.sources == ("ads", "crm")
    assert campaign.role == "marketing"
    assert campaign.validity == dt.timedelta(days=90)
    assert campaign.renew_before == dt.timedelta(days=30)
    assert campaign.key_algorithm == "ecdsa-p256"
    assert campaign.requests_per_second == 1
    assert campaign.generation == 3


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"certificate": {"validity": "soon"}}, "spec.certificate.validity"),
        ({"certificate": {"validity": "1h", "renewBefore": "2h"}}, "renewBefore"),
        ({"certificate": {"role": "admin"}}, "spec.certificate.role"),
        ({"window": {"start": "2027-01-02T00:00:00Z", "end": "2027-01-01T00:00:00Z"}}, "end"),
        ({"window": {"start": "yesterday"}}, "spec.window.start"),
        ({"demand": {"requestsPerSecond": -1}}, "requestsPerSecond"),
    ],
)
def test_unusable_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=field):
        parse_campaign(body(**spec))


def test_window_states_at_the_boundaries() -> None:
    start, end = NOW, NOW + dt.timedelta(days=1)
    campaign = parse_campaign(
        body(window={"start": "2026-12-10T00:00:00Z", "end": "2026-12-11T00:00:00Z"})
    )
    assert campaign.window_state(start - dt.timedelta(seconds=1)) is WindowState.BEFORE
    assert campaign.window_state(start) is WindowState.ACTIVE
    assert campaign.window_state(end - dt.timedelta(seconds=1)) is WindowState.ACTIVE
    assert campaign.window_state(end) is WindowState.AFTER
    assert parse_campaign(body()).window_state(NOW) is WindowState.ACTIVE


def test_transition_time_kept_while_status_unchanged() -> None:
    first = merge_conditions(None, [Condition("Ready", True, "Reconciled")], now="t1", generation=1)
    same = merge_conditions(first, [Condition("Ready", True, "Reconciled")], now="t2", generation=1)
    assert same == first
    flipped = merge_conditions(
        same, [Condition("Ready", False, "ApiError")], now="t3", generation=1
    )
    assert flipped[0]["lastTransitionTime"] == "t3"


def test_summary_conditions() -> None:
    ok = {"EtlScheduled": Condition("EtlScheduled", True, "Scheduled")}
    ready, reconciling, stalled, _ = summarize(ok, stalled=None)
    assert (ready.status, reconciling.status, stalled.status) == (True, False, False)
    failing = {"EtlScheduled": Condition("EtlScheduled", False, "ApiError", "500")}
    ready, reconciling, stalled, _ = summarize(failing, stalled=None)
    assert (ready.status, ready.reason, reconciling.status) == (False, "ApiError", True)
    stop = Condition("Stalled", True, "CAUnavailable", "no CA")
    ready, _, stalled, _ = summarize(ok, stalled=stop)
    assert (ready.status, stalled.status, stalled.reason) == (False, True, "CAUnavailable")


def test_is_subset_allows_server_defaults_but_not_changes() -> None:
    wanted = {"spec": {"a": 1, "items": [{"x": 1}]}}
    assert is_subset(wanted, {"spec": {"a": 1, "b": 2, "items": [{"x": 1, "y": 0}]}})
    assert not is_subset(wanted, {"spec": {"a": 2, "items": [{"x": 1}]}})
    assert not is_subset(wanted, {"spec": {"a": 1, "items": [{"x": 1}, {"x": 2}]}})


# --- certificate decisions ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> certs.CertificateAuthority:
    return certs.create_root_ca("Unit CA", validity=dt.timedelta(days=3650), now=NOW)


def platform(*authorities: certs.CertificateAuthority) -> certdecide.PlatformCA:
    signer = authorities[0]
    data = certs.tls_secret_data(signer, certs.trust_bundle(*authorities))
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return certdecide.load_platform_ca({"data": encoded}, "promptsales-ca")


def issued_secret(
    ca: certs.CertificateAuthority, pca: certdecide.PlatformCA, role: str = "marketing"
) -> certdecide.ObservedSecret:
    """A Secret as the operator writes it, observed as the watch would deliver it."""
    return certdecide.observe_secret(issued_manifest(ca, pca, role))


def issued_manifest(
    ca: certs.CertificateAuthority, pca: certdecide.PlatformCA, role: str = "marketing"
) -> dict[str, Any]:
    issued = certs.issue_client_certificate(
        ca,
        campaign_name="c1",
        campaign_id="42",
        role=role,
        validity=dt.timedelta(hours=48),
        now=NOW,
    )
    identity = certdecide.client_identity("c1", "42", role)
    return secret_builder.build_tls_secret(
        name="c1-client-tls",
        namespace="promptsales",
        component="certificate",
        pem_data=certs.tls_secret_data(issued, pca.bundle),
        annotations=certdecide.annotations_for(
            issued.certificate, pca, identity, dt.timedelta(hours=24)
        ),
    )


WANTED = certdecide.Wanted("c1/42/marketing", "ecdsa-p256", dt.timedelta(hours=24))


def test_missing_secret_is_issued(ca: certs.CertificateAuthority) -> None:
    decision = certdecide.decide(None, platform(ca), WANTED, NOW)
    assert decision.action is certdecide.Action.ISSUE


def test_observing_keeps_no_key_material_and_catches_a_broken_secret(
    ca: certs.CertificateAuthority,
) -> None:
    pca = platform(ca)
    manifest = issued_manifest(ca, pca)
    observed = certdecide.observe_secret(manifest)
    assert observed.leaf is not None
    assert observed.key_algorithm == "ecdsa-p256"
    assert not any(isinstance(v, bytes | str) and "PRIVATE" in v for v in vars_of(observed))
    other = issued_manifest(ca, pca, role="sales")
    manifest["data"]["tls.key"] = other["data"]["tls.key"]  # a key that is not the cert's
    broken = certdecide.decide(certdecide.observe_secret(manifest), pca, WANTED, NOW)
    assert (broken.action, broken.message) == (
        certdecide.Action.ISSUE,
        "stored certificate is unreadable",
    )


def vars_of(observed: certdecide.ObservedSecret) -> list[object]:
    return [getattr(observed, name) for name in observed.__slots__]


def test_fresh_certificate_is_left_alone_until_renewal_time(
    ca: certs.CertificateAuthority,
) -> None:
    pca = platform(ca)
    secret = issued_secret(ca, pca)
    assert certdecide.decide(secret, pca, WANTED, NOW).action is certdecide.Action.NONE
    later = NOW + dt.timedelta(hours=23, minutes=59)
    assert certdecide.decide(secret, pca, WANTED, later).action is certdecide.Action.NONE
    due = certdecide.decide(secret, pca, WANTED, NOW + dt.timedelta(hours=24))
    assert (due.action, due.reason) == (certdecide.Action.ISSUE, "CertificateRenewed")


def test_role_or_algorithm_change_reissues(ca: certs.CertificateAuthority) -> None:
    pca = platform(ca)
    secret = issued_secret(ca, pca, role="sales")
    assert certdecide.decide(secret, pca, WANTED, NOW).message == "identity or role changed"
    rsa = certdecide.Wanted("c1/42/marketing", "rsa-2048", dt.timedelta(hours=24))
    assert certdecide.decide(issued_secret(ca, pca), pca, rsa, NOW).message == (
        "key algorithm changed"
    )


def test_rollover_first_refreshes_bundle_then_reissues_on_new_signer(
    ca: certs.CertificateAuthority,
) -> None:
    old = platform(ca)
    secret = issued_secret(ca, old)
    new_ca = certs.create_root_ca("Unit CA 2", validity=dt.timedelta(days=3650), now=NOW)
    distributing = platform(ca, ca, new_ca)  # old CA still signs, bundle has both
    decision = certdecide.decide(secret, distributing, WANTED, NOW)
    assert decision.action is certdecide.Action.REFRESH_BUNDLE
    migrating = platform(new_ca, new_ca, ca)
    decision = certdecide.decide(secret, migrating, WANTED, NOW)
    assert (decision.action, decision.message) == (
        certdecide.Action.ISSUE,
        "signed by a previous CA",
    )


def test_missing_ca_secret_is_reported_by_name() -> None:
    with pytest.raises(certdecide.CAUnavailableError, match="promptsales-ca"):
        certdecide.load_platform_ca(None, "promptsales-ca")


def test_settings_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_OPERATOR_MCP_MIN_REPLICAS", "5")
    monkeypatch.setenv("PROMPTSALES_OPERATOR_MCP_MAX_REPLICAS", "2")
    with pytest.raises(ConfigError, match="PROMPTSALES_OPERATOR_MCP_MAX_REPLICAS"):
        load_settings(OperatorSettings)


@pytest.mark.parametrize(
    ("state", "suspend_spec", "suspended"),
    [
        (WindowState.ACTIVE, False, False),
        (WindowState.ACTIVE, True, True),
        (WindowState.BEFORE, False, True),
        (WindowState.AFTER, False, True),
    ],
)
def test_cronjob_is_suspended_outside_the_window_or_by_spec(
    state: WindowState, suspend_spec: bool, suspended: bool
) -> None:
    from promptsales_operator.reconcile import desired_cronjob

    campaign = parse_campaign(body(etl={"suspend": suspend_spec}))
    manifest = desired_cronjob(campaign, state, "img:1")
    assert manifest["spec"]["suspend"] is suspended
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u1"
