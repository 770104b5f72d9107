"""The rollover loop against an in-memory CA store and a clock the test moves."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

import certs
from promptsales_cli.ca_rollover.driver import (
    RolloverTimeoutError,
    RotateOptions,
    rotate,
    status,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DELAY = dt.timedelta(seconds=30)


@dataclasses.dataclass
class MemoryTarget:
    """A store in memory; leaves re-issued by the target itself (as locally) or not."""

    store: certs.CaStore
    leaves_held: dict[str, certs.Leaf]
    reissues_leaves: bool = True
    saves: int = 0
    where: str = "memory"

    def load(self) -> certs.CaStore:
        return self.store

    def save(self, store: certs.CaStore) -> None:
        self.store = store
        self.saves += 1

    def leaves(self, store: certs.CaStore) -> dict[str, certs.Leaf]:
        # The holder reads ca.crt straight from the store, like the local MCP server.
        return {
            n: certs.Leaf(leaf.certificate, store.bundle) for n, leaf in self.leaves_held.items()
        }

    def reissue(self, names: tuple[str, ...], store: certs.CaStore, now: dt.datetime) -> None:
        for name in names:
            current = self.leaves_held[name].certificate
            self.leaves_held[name] = certs.Leaf(
                certs.reissue(store.signing, current, now=now).certificate, store.bundle
            )


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _target(reissues: bool = True) -> MemoryTarget:
    ca = certs.create_root_ca("Memory CA", validity=dt.timedelta(days=365), now=NOW)
    leaf = certs.issue_server_certificate(ca, "mcp", dns_names=["localhost"], now=NOW)
    store = certs.CaStore(ca, certs.trust_bundle(ca))
    return MemoryTarget(store, {"mcp": certs.Leaf(leaf.certificate, store.bundle)}, reissues)


def _new_ca(current: certs.CertificateAuthority, now: dt.datetime) -> certs.CertificateAuthority:
    return certs.create_root_ca("Memory CA", validity=dt.timedelta(days=730), now=now)


def test_wait_runs_to_completion_and_says_each_state_once() -> None:
    target, clock = _target(), Clock()
    lines: list[str] = []
    old = target.store.signing
    step = rotate(
        target,
        RotateOptions(propagation_delay=DELAY, wait=True, poll=dt.timedelta(seconds=5)),
        _new_ca,
        echo=lines.append,
        clock=clock,
        sleep=clock.sleep,
    )
    assert step.done
    assert target.store.signing is not old
    assert target.store.bundle == (target.store.signing.certificate,)
    assert certs.issued_by(target.leaves_held["mcp"].certificate, target.store.signing.certificate)
    assert clock.now - NOW >= 2 * DELAY  # both waits were served
    assert len(lines) == len(set(lines)), lines
    assert lines[0].startswith("started a CA rollover")
    assert lines[-1].startswith("complete:")


def test_without_wait_one_run_does_what_is_safe_now() -> None:
    target, clock = _target(), Clock()
    lines: list[str] = []
    step = rotate(
        target, RotateOptions(propagation_delay=DELAY), _new_ca, echo=lines.append, clock=clock
    )
    assert step.phase is certs.RolloverPhase.DISTRIBUTE
    assert "run `promptsales certs rotate-ca` again" in lines[-1]
    signing = target.store.signing
    clock.now += DELAY
    step = rotate(
        target, RotateOptions(propagation_delay=DELAY), _new_ca, echo=lines.append, clock=clock
    )
    assert step.phase is certs.RolloverPhase.MIGRATE  # continued, not restarted
    assert target.store.signing is not signing
    assert "re-issued mcp from the new CA" in lines


def test_waiting_on_the_operator_times_out_and_keeps_the_rollover() -> None:
    target, clock = _target(reissues=False), Clock()
    lines: list[str] = []
    with pytest.raises(RolloverTimeoutError, match="phase migrate"):
        rotate(
            target,
            RotateOptions(propagation_delay=DELAY, wait=True, timeout=dt.timedelta(minutes=5)),
            _new_ca,
            echo=lines.append,
            clock=clock,
            sleep=clock.sleep,
        )
    assert any("(the operator does this)" in line for line in lines), lines
    assert target.store.phase is certs.RolloverPhase.MIGRATE


def test_status_changes_nothing() -> None:
    target = _target()
    assert status(target, DELAY, now=NOW) == "no CA rollover in progress"
    target.store = certs.begin_rollover(target.store, _new_ca(target.store.signing, NOW), now=NOW)
    saves = target.saves
    line = status(target, DELAY, now=NOW)
    assert line.startswith("phase distribute: waiting for the bundle")
    assert line.endswith("stored phase distribute")
    assert target.saves == saves
    assert target.store.bundle_published_at is None
