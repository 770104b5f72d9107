"""The loop of a CA rollover: load the store, decide, save, and say what it waits for.

The decision is :func:`certs.advance_rollover`; this module only moves its outcome in and
out of a :class:`CaTarget` (the ``promptsales-ca`` Secret, or the local ``pki``
directory). In a cluster the operator re-issues leaves (it re-issues every leaf a
previous CA signed and refreshes every ``ca.crt`` when the bundle changes), so the loop
waits for it; locally nothing else runs, so the target re-issues its own leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol

import certs
from certs.rotation import RolloverPhase
from certs.validity import utcnow


class RolloverTimeoutError(certs.CertificateError):
    """``--wait`` ran out of time; the rollover stays where it is and can be continued."""


class CaTarget(Protocol):
    """Where the CA store lives and which leaves were issued from it."""

    @property
    def where(self) -> str: ...

    @property
    def reissues_leaves(self) -> bool: ...

    def load(self) -> certs.CaStore: ...

    def save(self, store: certs.CaStore) -> None: ...

    def leaves(self, store: certs.CaStore) -> dict[str, certs.Leaf]: ...

    def reissue(self, names: tuple[str, ...], store: certs.CaStore, now: dt.datetime) -> None: ...


NewCa = Callable[[certs.CertificateAuthority, dt.datetime], certs.CertificateAuthority]


@dataclasses.dataclass(frozen=True)
class RotateOptions:
    """What the person asked for."""

    propagation_delay: dt.timedelta
    wait: bool = False
    timeout: dt.timedelta = dt.timedelta(minutes=30)
    poll: dt.timedelta = dt.timedelta(seconds=5)


def describe_step(step: certs.RolloverStep, *, operator_moves_leaves: bool = False) -> str:
    """One line: the phase and what the rollover waits for (and who does it)."""
    if step.phase is None:
        return "no CA rollover in progress"
    if step.phase is RolloverPhase.COMPLETE:
        signing = certs.fingerprint(step.store.signing.certificate)
        return f"complete: the new CA ({signing}) signs and is the only CA in ca.crt"
    if step.next_check is not None:
        until = f" (until {step.next_check.isoformat(timespec='seconds')})"
    else:
        until = " (the operator does this)" if operator_moves_leaves else ""
    return f"phase {step.phase.value}: waiting for {step.waiting_for}{until}"


def rotate(
    target: CaTarget,
    options: RotateOptions,
    new_ca: NewCa,
    *,
    echo: Callable[[str], None],
    clock: Callable[[], dt.datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> certs.RolloverStep:
    """Start a rollover unless one is in progress, then advance it.

    Without ``options.wait`` this does every step that is safe now and returns; with it,
    it sleeps between checks until the rollover completes or ``options.timeout`` passes.
    """
    store = target.load()
    began = clock()
    if store.phase is None:
        incoming = new_ca(store.signing, began)
        store = certs.begin_rollover(store, incoming, now=began)
        target.save(store)
        echo(
            f"started a CA rollover: the new CA ({certs.fingerprint(incoming.certificate)}) "
            "joins ca.crt; the current CA keeps signing"
        )
    last_line = ""
    while True:
        now = clock()
        leaves = target.leaves(store)
        step = certs.advance_rollover(
            store, leaves, now=now, propagation_delay=options.propagation_delay
        )
        if step.store != store:
            if store.phase is RolloverPhase.DISTRIBUTE and step.phase in {
                RolloverPhase.MIGRATE,
                RolloverPhase.COMPLETE,
            }:
                echo("the new CA signs from now on; the old CA's key is removed from the store")
            target.save(step.store)
            store = step.store
        if step.reissue and target.reissues_leaves:
            target.reissue(step.reissue, store, now)
            echo(f"re-issued {', '.join(step.reissue)} from the new CA")
            continue
        line = describe_step(step, operator_moves_leaves=not target.reissues_leaves)
        if line != last_line:  # --wait polls; say each state once
            echo(line)
            last_line = line
        if step.done or not options.wait:
            if not step.done:
                echo("run `promptsales certs rotate-ca` again to continue, or pass --wait")
            return step
        if clock() - began >= options.timeout:
            raise RolloverTimeoutError(
                f"the rollover did not complete in {options.timeout}; it is in phase "
                f"{step.phase.value if step.phase else 'none'} and continues with the next run"
            )
        pause = options.poll
        if step.next_check is not None:
            pause = min(pause, max(step.next_check - clock(), dt.timedelta(0)))
        sleep(max(pause.total_seconds(), 0.05))


def status(target: CaTarget, propagation_delay: dt.timedelta, *, now: dt.datetime) -> str:
    """Where a rollover stands, read only: nothing is saved or re-issued."""
    store = target.load()
    step = certs.advance_rollover(
        store, target.leaves(store), now=now, propagation_delay=propagation_delay
    )
    line = describe_step(step, operator_moves_leaves=not target.reissues_leaves)
    if store.phase is None:
        return line
    # The step says what the next run would do; the stored phase is where it stands now.
    return f"{line}; stored phase {store.phase.value}"
