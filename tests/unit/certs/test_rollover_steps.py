"""``advance_rollover``: each step of a CA rollover, decided from the store and the leaves."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

import certs
from certs.rotation import RolloverPhase
from tests.unit.certs.conftest import NOW

DELAY = dt.timedelta(minutes=2)


@pytest.fixture(scope="module")
def old_ca() -> certs.CertificateAuthority:
    return certs.create_root_ca("PromptSales CA", validity=dt.timedelta(days=365), now=NOW)


@pytest.fixture(scope="module")
def new_ca() -> certs.CertificateAuthority:
    # Same subject on purpose: only signatures tell the two CAs' leaves apart.
    return certs.create_root_ca("PromptSales CA", validity=dt.timedelta(days=730), now=NOW)


def _client(ca: certs.CertificateAuthority, name: str) -> certs.IssuedCertificate:
    return certs.issue_client_certificate(
        ca, campaign_name=name, campaign_id=name, role="user", now=NOW
    )


def _store(ca: certs.CertificateAuthority) -> certs.CaStore:
    return certs.CaStore(ca, certs.trust_bundle(ca))


def test_idle_store_is_done_and_unchanged(old_ca: certs.CertificateAuthority) -> None:
    store = _store(old_ca)
    step = certs.advance_rollover(store, {}, now=NOW)
    assert step.phase is None
    assert step.done
    assert step.store == store


def test_full_rollover_waits_for_bundle_delay_reissue_and_settling(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    old_bundle = certs.trust_bundle(old_ca)
    leaves = {name: certs.Leaf(_client(old_ca, name).certificate, old_bundle) for name in "ab"}
    store = certs.begin_rollover(_store(old_ca), new_ca, now=NOW)
    both = store.bundle
    assert set(both) == {old_ca.certificate, new_ca.certificate}
    assert store.phase is RolloverPhase.DISTRIBUTE
    assert store.signing is old_ca

    # The operator has not refreshed b's ca.crt yet: nothing is published, nothing signs.
    leaves["a"] = dataclasses.replace(leaves["a"], bundle=both)
    step = certs.advance_rollover(store, leaves, now=NOW, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.DISTRIBUTE
    assert "b to hold the new CA" in step.waiting_for
    assert step.store.bundle_published_at is None
    assert step.next_check is None

    # Every holder has both CAs: the publication time is recorded; the delay runs.
    leaves["b"] = dataclasses.replace(leaves["b"], bundle=both)
    t1 = NOW + dt.timedelta(minutes=1)
    step = certs.advance_rollover(step.store, leaves, now=t1, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.DISTRIBUTE
    assert step.store.bundle_published_at == t1
    assert step.next_check == t1 + DELAY
    assert step.store.signing is old_ca

    # After the delay the new CA signs; the old CA's key is gone from the store.
    t2 = t1 + DELAY
    step = certs.advance_rollover(step.store, leaves, now=t2, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.MIGRATE
    assert step.store.signing is new_ca
    assert step.store.incoming is None
    assert step.store.outgoing == old_ca.certificate
    assert step.store.bundle == both
    assert step.reissue == ("a", "b")
    assert step.next_check is None

    leaves["a"] = certs.Leaf(_client(new_ca, "a").certificate, both)
    step = certs.advance_rollover(step.store, leaves, now=t2, propagation_delay=DELAY)
    assert step.reissue == ("b",)

    # Every leaf moved: the old CA stays trusted until the new leaves have propagated.
    leaves["b"] = certs.Leaf(_client(new_ca, "b").certificate, both)
    t3 = t2 + dt.timedelta(seconds=10)
    step = certs.advance_rollover(step.store, leaves, now=t3, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.MIGRATE
    assert step.reissue == ()
    assert step.store.leaves_moved_at == t3
    assert step.next_check == t3 + DELAY
    assert old_ca.certificate in step.store.bundle

    step = certs.advance_rollover(step.store, leaves, now=t3 + DELAY, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.COMPLETE
    assert step.done
    assert step.store == certs.CaStore(new_ca, (new_ca.certificate,))


def test_a_leaf_falling_back_to_the_old_ca_restarts_the_settling(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    both = certs.trust_bundle(new_ca, old_ca)
    store = certs.CaStore(
        new_ca,
        both,
        outgoing=old_ca.certificate,
        bundle_published_at=NOW,
        leaves_moved_at=NOW,
    )
    leaves = {"a": certs.Leaf(_client(old_ca, "a").certificate, both)}  # e.g. a restore
    step = certs.advance_rollover(store, leaves, now=NOW + DELAY, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.MIGRATE
    assert step.reissue == ("a",)
    assert step.store.leaves_moved_at is None


def test_leaves_of_other_cas_neither_block_nor_count(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    stranger = certs.create_root_ca("Elsewhere", validity=dt.timedelta(days=30), now=NOW)
    leaves = {"x": certs.Leaf(_client(stranger, "x").certificate, certs.trust_bundle(stranger))}
    store = certs.begin_rollover(_store(old_ca), new_ca, now=NOW)
    step = certs.advance_rollover(store, leaves, now=NOW, propagation_delay=DELAY)
    assert step.store.bundle_published_at == NOW
    step = certs.advance_rollover(step.store, leaves, now=NOW + DELAY, propagation_delay=DELAY)
    assert step.phase is RolloverPhase.MIGRATE
    assert step.reissue == ()


def test_an_interrupted_start_gets_its_bundle_repaired(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    store = certs.CaStore(old_ca, certs.trust_bundle(old_ca), incoming=new_ca)
    step = certs.advance_rollover(store, {}, now=NOW)
    assert set(step.store.bundle) == {old_ca.certificate, new_ca.certificate}


def test_begin_refuses_a_second_rollover_and_the_same_ca(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    with pytest.raises(certs.CertificateError, match="signs now"):
        certs.begin_rollover(_store(old_ca), old_ca, now=NOW)
    started = certs.begin_rollover(_store(old_ca), new_ca, now=NOW)
    with pytest.raises(certs.CertificateError, match="already in progress"):
        certs.begin_rollover(started, new_ca, now=NOW)


def test_store_refuses_inconsistent_memory(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    with pytest.raises(certs.CertificateError, match="bundle_published_at"):
        certs.CaStore(new_ca, (new_ca.certificate,), outgoing=old_ca.certificate)
    with pytest.raises(certs.CertificateError, match="incoming and an outgoing"):
        certs.CaStore(
            old_ca,
            (old_ca.certificate,),
            incoming=new_ca,
            outgoing=old_ca.certificate,
            bundle_published_at=NOW,
        )
    with pytest.raises(certs.CertificateError, match="empty"):
        certs.CaStore(old_ca, ())


def test_authority_for_key_picks_the_signer_from_a_bundle(
    old_ca: certs.CertificateAuthority, new_ca: certs.CertificateAuthority
) -> None:
    bundle = list(certs.trust_bundle(new_ca, old_ca))
    assert certs.authority_for_key(bundle, old_ca.private_key).certificate == old_ca.certificate
    assert certs.authority_for_key(bundle, new_ca.private_key).certificate == new_ca.certificate
    with pytest.raises(certs.KeyMismatchError, match=r"ca\.crt"):
        certs.authority_for_key(bundle, certs.generate_private_key())


def test_authority_for_key_collects_the_chain(
    root: certs.CertificateAuthority, intermediate: certs.CertificateAuthority
) -> None:
    found = certs.authority_for_key(
        [root.certificate, intermediate.certificate], intermediate.private_key
    )
    assert found.certificate == intermediate.certificate
    assert found.chain == (root.certificate,)
