"""A CA rollover as safe steps on a CA store, decided from what the store and leaves hold.

:func:`certs.plan_ca_rollover` says which phase a rollover is in, given both CAs and
the leaves. A tool that performs the rollover (``promptsales certs rotate-ca``) runs more
than once and must also remember, between runs, what certificates alone cannot tell: the
next CA before it signs anything, the CA being retired once it has stopped signing, and
when the bundle and the re-issued leaves were seen everywhere. :class:`CaStore` is that
memory (the ``promptsales-ca`` Secret, or the local platform's ``pki`` directory), and
:func:`advance_rollover` is the one decision: from the store and the leaves seen now,
what the store must hold next and what the rollover is waiting for.

The order keeps every handshake working (``tests/integration/certs`` proves it with real
TLS): the old CA signs until every holder of a leaf has a ``ca.crt`` with the new CA and
``propagation_delay`` has let mounted files catch up; then the new CA signs and every leaf
still signed by the old one is re-issued (by the operator in a cluster); the old CA
leaves ``ca.crt`` only after every leaf moved and ``propagation_delay`` passed again, so
no pod still presents an old leaf to a peer that no longer trusts it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from cryptography import x509

from certs.authority import CertificateAuthority, issued_by
from certs.errors import CertificateError
from certs.rotation import (
    DEFAULT_PROPAGATION_DELAY,
    RolloverPhase,
    fingerprint,
    plan_ca_rollover,
    trust_bundle,
)
from certs.validity import as_utc


@dataclasses.dataclass(frozen=True)
class CaStore:
    """What the CA store holds: the signing CA, ``ca.crt`` and a rollover's memory.

    ``incoming`` is set while the next CA is being distributed (it signs nothing yet);
    ``outgoing`` is set while leaves move off the retired CA (its key is gone already).
    """

    signing: CertificateAuthority
    bundle: tuple[x509.Certificate, ...]
    incoming: CertificateAuthority | None = None
    outgoing: x509.Certificate | None = None
    bundle_published_at: dt.datetime | None = None
    leaves_moved_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not self.bundle:
            raise CertificateError("ca.crt: the trust bundle is empty")
        if self.incoming is not None and self.outgoing is not None:
            raise CertificateError("a CA store cannot hold an incoming and an outgoing CA")
        if self.outgoing is not None and self.bundle_published_at is None:
            raise CertificateError(
                "bundle_published_at: required while leaves move off the outgoing CA"
            )

    @property
    def phase(self) -> RolloverPhase | None:
        """``DISTRIBUTE`` or ``MIGRATE`` during a rollover, ``None`` otherwise."""
        if self.incoming is not None:
            return RolloverPhase.DISTRIBUTE
        if self.outgoing is not None:
            return RolloverPhase.MIGRATE
        return None


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A certificate the platform issued from the store, and the ``ca.crt`` given with it."""

    certificate: x509.Certificate
    bundle: tuple[x509.Certificate, ...]


@dataclasses.dataclass(frozen=True)
class RolloverStep:
    """The outcome of one decision.

    ``store`` is what the store must hold now (equal to the input when nothing changes);
    ``phase`` is ``None`` with no rollover in progress and ``COMPLETE`` on the step that
    ends one; ``reissue`` names the leaves still signed by the outgoing CA; ``waiting_for``
    says what the next change waits for, ``next_check`` when a timed wait ends (``None``:
    it waits on someone else, such as the operator refreshing or re-issuing Secrets).
    """

    store: CaStore
    phase: RolloverPhase | None
    reissue: tuple[str, ...] = ()
    waiting_for: str = ""
    next_check: dt.datetime | None = None

    @property
    def done(self) -> bool:
        return self.phase is None or self.phase is RolloverPhase.COMPLETE


def begin_rollover(store: CaStore, incoming: CertificateAuthority, *, now: dt.datetime) -> CaStore:
    """Start distributing ``incoming``: it joins ``ca.crt``; the current CA keeps signing."""
    if store.phase is not None:
        raise CertificateError(
            f"a CA rollover is already in progress (phase {store.phase.value}); "
            "continue it instead of starting another"
        )
    if fingerprint(incoming.root) == fingerprint(store.signing.root):
        raise CertificateError("the new CA is the CA that signs now")
    return dataclasses.replace(
        store,
        incoming=incoming,
        bundle=trust_bundle(incoming, *store.bundle, now=now),
        bundle_published_at=None,
        leaves_moved_at=None,
    )


def advance_rollover(
    store: CaStore,
    leaves: Mapping[str, Leaf],
    *,
    now: dt.datetime,
    propagation_delay: dt.timedelta = DEFAULT_PROPAGATION_DELAY,
) -> RolloverStep:
    """The next safe change of ``store`` given the ``leaves`` issued from it (by name)."""
    moment = as_utc(now)
    if propagation_delay < dt.timedelta(0):
        raise CertificateError("propagation_delay must not be negative")
    if store.incoming is not None:
        return _distribute(store, store.incoming, leaves, moment, propagation_delay)
    if store.outgoing is not None:
        return _migrate(store, store.outgoing, leaves, moment, propagation_delay)
    return RolloverStep(store, None)


def _distribute(
    store: CaStore,
    incoming: CertificateAuthority,
    leaves: Mapping[str, Leaf],
    now: dt.datetime,
    delay: dt.timedelta,
) -> RolloverStep:
    bundle = store.bundle
    if incoming.root not in bundle:  # an interrupted start wrote the CA but not ca.crt
        bundle = trust_bundle(incoming, *bundle, now=now)
    ours = {
        name: leaf
        for name, leaf in leaves.items()
        if issued_by(leaf.certificate, store.signing.certificate)
        or issued_by(leaf.certificate, incoming.certificate)
    }
    lagging = sorted(name for name, leaf in ours.items() if incoming.root not in leaf.bundle)
    if lagging:
        waiting = dataclasses.replace(store, bundle=bundle, bundle_published_at=None)
        return RolloverStep(
            waiting,
            RolloverPhase.DISTRIBUTE,
            waiting_for=f"ca.crt of {_names(lagging)} to hold the new CA",
        )
    published = store.bundle_published_at or now
    plan = plan_ca_rollover(
        store.signing,
        incoming,
        {name: leaf.certificate for name, leaf in ours.items()},
        now=now,
        bundle_published_at=published,
        propagation_delay=delay,
    )
    if plan.phase is RolloverPhase.DISTRIBUTE:
        return RolloverStep(
            dataclasses.replace(store, bundle=bundle, bundle_published_at=published),
            RolloverPhase.DISTRIBUTE,
            waiting_for="the bundle with both CAs to reach every pod",
            next_check=plan.next_check,
        )
    switched = CaStore(
        signing=incoming,
        bundle=bundle,
        outgoing=store.signing.certificate,
        bundle_published_at=published,
    )
    return _migrate(switched, store.signing.certificate, leaves, now, delay)


def _migrate(
    store: CaStore,
    outgoing: x509.Certificate,
    leaves: Mapping[str, Leaf],
    now: dt.datetime,
    delay: dt.timedelta,
) -> RolloverStep:
    assert store.bundle_published_at is not None  # CaStore guarantees it with outgoing set
    plan = plan_ca_rollover(
        outgoing,
        store.signing,
        {name: leaf.certificate for name, leaf in leaves.items()},
        now=now,
        bundle_published_at=store.bundle_published_at,
        propagation_delay=dt.timedelta(0),
    )
    if plan.reissue:
        return RolloverStep(
            dataclasses.replace(store, leaves_moved_at=None),
            RolloverPhase.MIGRATE,
            reissue=plan.reissue,
            waiting_for=f"{_names(plan.reissue)} to be re-issued by the new CA",
        )
    moved = store.leaves_moved_at or now
    if now < moved + delay:
        return RolloverStep(
            dataclasses.replace(store, leaves_moved_at=moved),
            RolloverPhase.MIGRATE,
            waiting_for="the re-issued leaves to reach every pod",
            next_check=moved + delay,
        )
    remaining = tuple(c for c in store.bundle if c != outgoing)
    final = trust_bundle(store.signing, *remaining, now=now)
    return RolloverStep(CaStore(store.signing, final), RolloverPhase.COMPLETE)


def _names(names: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown if len(names) <= 5 else f"{shown} and {len(names) - 5} more"
