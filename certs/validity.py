"""Validity windows: back-dating for clock skew and capping a child by its issuer.

Two failures users of cert-manager and CloudNativePG report most start here: a leaf that
outlives its CA (it silently stops verifying when the CA expires, long before its own
renewal time) and a fresh certificate refused by a peer whose clock runs a little behind.
"""

from __future__ import annotations

import datetime as dt

from certs.errors import CertificateError

# Peers whose clocks lag by up to this much still accept a certificate issued "now".
CLOCK_SKEW = dt.timedelta(minutes=5)
_ZERO = dt.timedelta(0)


def utcnow() -> dt.datetime:
    """The wall clock, timezone-aware; only the edges of the library call it."""
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime, field: str = "now") -> dt.datetime:
    """Refuse naive datetimes: a naive 'now' shifted by the host timezone is a classic bug."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CertificateError(f"{field} must be a timezone-aware datetime")
    return moment.astimezone(dt.UTC)


def window(
    now: dt.datetime | None,
    validity: dt.timedelta,
    *,
    issuer_not_before: dt.datetime | None = None,
    issuer_not_after: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """The (notBefore, notAfter) of a new certificate, kept inside its issuer's window.

    Times are truncated to whole seconds because X.509 stores no fractions; doing it here
    keeps :func:`certs.renewal_time` on the exact instants that end up in the certificate.
    """
    if validity <= _ZERO:
        raise CertificateError("validity must be a positive duration")
    moment = (utcnow() if now is None else as_utc(now)).replace(microsecond=0)
    if issuer_not_before is not None and issuer_not_before > moment:
        raise CertificateError("issuer CA is not valid yet")
    if issuer_not_after is not None and issuer_not_after <= moment:
        raise CertificateError("issuer CA has expired; renew the CA before issuing")
    not_before = moment - CLOCK_SKEW
    not_after = moment + validity
    if issuer_not_before is not None:
        not_before = max(not_before, issuer_not_before)
    if issuer_not_after is not None:
        not_after = min(not_after, issuer_not_after)
    return not_before, not_after
