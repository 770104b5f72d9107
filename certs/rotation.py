"""Rotation decisions as pure functions of certificates and an explicit ``now``.

Nothing here reads a clock or a cluster, so the operator and Pulumi can ask "what
should happen" and tests can ask the same for any instant.

Timing follows cert-manager: renew at ``notAfter - renew_before`` when that is inside
the lifetime, otherwise at ``fraction`` (2/3) of the lifetime.

A CA rollover runs in three phases, so that no handshake ever sees a leaf signed by a CA
its peer does not trust yet (the failure cert-manager users hit when the CA Secret is
replaced in place):

1. ``DISTRIBUTE``: the trust bundle gains the new CA; leaves are still signed by the old
   one until the bundle has had ``propagation_delay`` to reach every pod (kubelet
   refreshes mounted Secrets within about a minute or two).
2. ``MIGRATE``: the new CA signs; every leaf still issued by the old CA is re-issued.
3. ``COMPLETE``: no leaf depends on the old CA any more; it leaves the bundle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certs.authority import CertificateAuthority, issued_by
from certs.errors import CertificateError
from certs.validity import as_utc

DEFAULT_RENEWAL_FRACTION = 2 / 3
DEFAULT_PROPAGATION_DELAY = dt.timedelta(minutes=2)
_SHA256 = hashes.SHA256()


def renewal_time(
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    renew_before: dt.timedelta | None = None,
    fraction: float = DEFAULT_RENEWAL_FRACTION,
) -> dt.datetime:
    """When a certificate with this validity window should be renewed.

    ``renew_before`` wins when it leaves a positive time to renewal, i.e. is shorter than
    the lifetime; otherwise (or when None) the renewal is at ``fraction`` of the lifetime.
    The result always lies in ``[not_before, not_after]``.
    """
    start, end = as_utc(not_before, "not_before"), as_utc(not_after, "not_after")
    if end <= start:
        raise CertificateError("not_after must be later than not_before")
    if not 0 < fraction <= 1:
        raise CertificateError("fraction must be in (0, 1]")
    lifetime = end - start
    if renew_before is not None:
        if renew_before <= dt.timedelta(0):
            raise CertificateError("renew_before must be a positive duration")
        if renew_before < lifetime:
            return end - renew_before
    return start + lifetime * fraction


def certificate_renewal_time(
    cert: x509.Certificate,
    *,
    renew_before: dt.timedelta | None = None,
    fraction: float = DEFAULT_RENEWAL_FRACTION,
) -> dt.datetime:
    """:func:`renewal_time` of a certificate's own validity window."""
    return renewal_time(
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        renew_before=renew_before,
        fraction=fraction,
    )


def is_renewal_due(
    cert: x509.Certificate,
    now: dt.datetime,
    *,
    renew_before: dt.timedelta | None = None,
    fraction: float = DEFAULT_RENEWAL_FRACTION,
) -> bool:
    """True from the renewal time on, including after expiry."""
    due = certificate_renewal_time(cert, renew_before=renew_before, fraction=fraction)
    return as_utc(now) >= due


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, hex with colons, as ``openssl x509 -fingerprint -sha256``."""
    digest = cert.fingerprint(_SHA256).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _as_cert(item: x509.Certificate | CertificateAuthority) -> x509.Certificate:
    return item.root if isinstance(item, CertificateAuthority) else item


def trust_bundle(
    *anchors: x509.Certificate | CertificateAuthority,
    now: dt.datetime | None = None,
) -> tuple[x509.Certificate, ...]:
    """The ``ca.crt`` contents: roots (a CA contributes its root), newest first, no duplicates.

    With ``now``, expired anchors are left out: they can no longer verify anything, and
    keeping them only grows every pod's bundle.
    """
    seen: set[bytes] = set()
    out: list[x509.Certificate] = []
    moment = None if now is None else as_utc(now)
    for cert in map(_as_cert, anchors):
        if moment is not None and cert.not_valid_after_utc <= moment:
            continue
        fp = cert.fingerprint(_SHA256)
        if fp not in seen:
            seen.add(fp)
            out.append(cert)
    if not out:
        raise CertificateError("trust bundle would be empty")
    return tuple(sorted(out, key=lambda c: c.not_valid_before_utc, reverse=True))


class RolloverPhase(enum.StrEnum):
    """Where a CA rollover stands; see the module docstring."""

    DISTRIBUTE = "distribute"
    MIGRATE = "migrate"
    COMPLETE = "complete"


@dataclasses.dataclass(frozen=True)
class RolloverPlan:
    """What to publish and do now. ``reissue`` holds the keys of ``leaves`` to re-issue."""

    phase: RolloverPhase
    trust_bundle: tuple[x509.Certificate, ...]
    signing_ca: x509.Certificate
    reissue: tuple[str, ...]
    drop_old_ca: bool
    next_check: dt.datetime | None


def plan_ca_rollover(
    old_ca: x509.Certificate | CertificateAuthority,
    new_ca: x509.Certificate | CertificateAuthority,
    leaves: Mapping[str, x509.Certificate],
    *,
    now: dt.datetime,
    bundle_published_at: dt.datetime | None,
    propagation_delay: dt.timedelta = DEFAULT_PROPAGATION_DELAY,
) -> RolloverPlan:
    """Decide the rollover step from the current leaves (name -> certificate).

    ``bundle_published_at`` is when a bundle holding both CAs was first written (None: not
    yet). Leaves that are issued by neither CA are ignored: they are not this rollover's
    business and must not block dropping the old CA. The bundle holds roots, so rolling
    an intermediate under an unchanged root keeps a one-root bundle throughout; the
    phases still order signing and re-issuing.
    """
    old, new = _as_cert(old_ca), _as_cert(new_ca)
    signing_new = new_ca.certificate if isinstance(new_ca, CertificateAuthority) else new
    signing_old = old_ca.certificate if isinstance(old_ca, CertificateAuthority) else old
    moment = as_utc(now)
    if signing_old == signing_new:
        raise CertificateError("old_ca and new_ca are the same certificate")
    both = trust_bundle(new, old)
    if (
        bundle_published_at is None
        or moment < as_utc(bundle_published_at, "bundle_published_at") + propagation_delay
    ):
        ready = (
            moment + propagation_delay
            if bundle_published_at is None
            else as_utc(bundle_published_at) + propagation_delay
        )
        return RolloverPlan(RolloverPhase.DISTRIBUTE, both, signing_old, (), False, ready)
    pending = tuple(sorted(name for name, leaf in leaves.items() if issued_by(leaf, signing_old)))
    if pending:
        return RolloverPlan(RolloverPhase.MIGRATE, both, signing_new, pending, False, None)
    return RolloverPlan(RolloverPhase.COMPLETE, (new,), signing_new, (), True, None)
