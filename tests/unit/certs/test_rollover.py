from __future__ import annotations

import datetime as dt

import pytest

import certs
from tests.unit.certs.conftest import NOW


@pytest.fixture(scope="module")
def old_ca() -> certs.CertificateAuthority:
    return certs.create_root_ca("PromptSales CA", validity=dt.timedelta(days=365), now=NOW)


@pytest.fixture(scope="module")
def new_ca() -> certs.CertificateAuthority:
    # Same subject as the old CA on purpose: only the signature tells their leaves apart.
    return certs.create_root_ca(
        "PromptSales CA", validity=dt.timedelta(days=730), now=NOW + dt.timedelta(days=200)
    )


def _client(ca: certs.CertificateAuthority, name: str, day: int) -> certs.IssuedCertificate:
    return certs.issue_client_certificate(
        ca, campaign_name=name, campaign_id=name, role="user", now=NOW + dt.timedelta(days=day)
    )


def test_rollover_runs_distribute_migrate_complete(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    now = NOW + dt.timedelta(days=201)
    leaves = {
        "a": _client(old_ca, "a", 150).certificate,
        "b": _client(old_ca, "b", 150).certificate,
    }
    plan = certs.plan_ca_rollover(old_ca, new_ca, leaves, now=now, bundle_published_at=None)
    assert plan.phase is certs.RolloverPhase.DISTRIBUTE
    assert plan.trust_bundle == (new_ca.certificate, old_ca.certificate)
    assert plan.signing_ca == old_ca.certificate
    assert plan.reissue == ()
    assert not plan.drop_old_ca

    published = now
    early = certs.plan_ca_rollover(
        old_ca, new_ca, leaves, now=now + dt.timedelta(seconds=30), bundle_published_at=published
    )
    assert early.phase is certs.RolloverPhase.DISTRIBUTE
    assert early.next_check == published + dt.timedelta(minutes=2)

    later = now + dt.timedelta(minutes=5)
    plan = certs.plan_ca_rollover(old_ca, new_ca, leaves, now=later, bundle_published_at=published)
    assert plan.phase is certs.RolloverPhase.MIGRATE
    assert plan.trust_bundle == (new_ca.certificate, old_ca.certificate)
    assert plan.signing_ca == new_ca.certificate
    assert plan.reissue == ("a", "b")
    assert not plan.drop_old_ca

    leaves["a"] = _client(new_ca, "a", 201).certificate
    plan = certs.plan_ca_rollover(old_ca, new_ca, leaves, now=later, bundle_published_at=published)
    assert plan.phase is certs.RolloverPhase.MIGRATE
    assert plan.reissue == ("b",)

    leaves["b"] = _client(new_ca, "b", 201).certificate
    plan = certs.plan_ca_rollover(old_ca, new_ca, leaves, now=later, bundle_published_at=published)
    assert plan.phase is certs.RolloverPhase.COMPLETE
    assert plan.trust_bundle == (new_ca.certificate,)
    assert plan.drop_old_ca


def test_leaves_of_unrelated_cas_do_not_block_completion(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    other = certs.create_root_ca("PromptSales CA", validity=dt.timedelta(days=365), now=NOW)
    now = NOW + dt.timedelta(days=210)
    plan = certs.plan_ca_rollover(
        old_ca,
        new_ca,
        {"x": _client(other, "x", 201).certificate},
        now=now,
        bundle_published_at=now - dt.timedelta(hours=1),
    )
    assert plan.phase is certs.RolloverPhase.COMPLETE


def test_same_ca_twice_is_refused(old_ca: certs.CertificateAuthority) -> None:
    with pytest.raises(certs.CertificateError, match="same"):
        certs.plan_ca_rollover(old_ca, old_ca, {}, now=NOW, bundle_published_at=None)


def test_trust_bundle_deduplicates_orders_newest_first_and_drops_expired(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    assert certs.trust_bundle(old_ca, new_ca.certificate, old_ca.certificate) == (
        new_ca.certificate,
        old_ca.certificate,
    )
    after_old = old_ca.certificate.not_valid_after_utc
    assert certs.trust_bundle(old_ca, new_ca, now=after_old) == (new_ca.certificate,)
    with pytest.raises(certs.CertificateError, match="empty"):
        certs.trust_bundle(old_ca, now=after_old)


def test_intermediate_contributes_its_root(
    root: certs.CertificateAuthority, intermediate: certs.CertificateAuthority
) -> None:
    assert certs.trust_bundle(intermediate) == (root.certificate,)


def test_intermediate_rollover_under_the_same_root(root: certs.CertificateAuthority) -> None:
    old = certs.create_intermediate_ca(root, "Issuing", validity=dt.timedelta(days=90), now=NOW)
    new = certs.create_intermediate_ca(
        root, "Issuing", validity=dt.timedelta(days=90), now=NOW + dt.timedelta(days=1)
    )
    now = NOW + dt.timedelta(days=2)
    leaves = {"a": _client(old, "a", 1).certificate}
    plan = certs.plan_ca_rollover(old, new, leaves, now=now, bundle_published_at=NOW)
    assert plan.phase is certs.RolloverPhase.MIGRATE
    assert plan.trust_bundle == (root.certificate,)
    assert plan.signing_ca == new.certificate
    assert plan.reissue == ("a",)
    leaves["a"] = certs.reissue(new, leaves["a"], now=now).certificate
    plan = certs.plan_ca_rollover(old, new, leaves, now=now, bundle_published_at=NOW)
    assert plan.phase is certs.RolloverPhase.COMPLETE
    assert plan.trust_bundle == (root.certificate,)
