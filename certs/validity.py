"""Validity windows: back-dating for clock skew and capping a child by its issuer.

Two failures users of cert-manager and CloudNativePG report most start here: a leaf that
outlives its CA (it silently stops verifying when the CA expires, long before its own
renewal time) and a fresh certificate refused by a peer whose clock runs a little behind.
"""

from __future__ import annotations

import datetime as dt
import time

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
    global _last_window
    if now is None:
        # Certificates issued within the same second with the same inputs get the same
        # window; an operator renewing a batch computes it once (a few aware-datetime
        # operations cost about as much as building a certificate's subject).
        key = (int(time.time()), validity, issuer_not_before, issuer_not_after)
        last = _last_window
        if last is not None and last[0] == key:
            return last[1]
        result = _window(
            dt.datetime.fromtimestamp(key[0], dt.UTC), validity, issuer_not_before, issuer_not_after
        )
        _last_window = (key, result)
        return result
    return _window(
        as_utc(now).replace(microsecond=0), validity, issuer_not_before, issuer_not_after
    )


_WindowKey = tuple[int, dt.timedelta, dt.datetime | None, dt.datetime | None]
_last_window: tuple[_WindowKey, tuple[dt.datetime, dt.datetime]] | None = None


def _window(
    moment: dt.datetime,
    validity: dt.timedelta,
    issuer_not_before: dt.datetime | None,
    issuer_not_after: dt.datetime | None,
) -> tuple[dt.datetime, dt.datetime]:
    if validity <= _ZERO:
        raise CertificateError("validity must be a positive duration")
    not_before = moment - CLOCK_SKEW
    not_after = moment + validity
    if issuer_not_before is not None:
        not_before = max(not_before, issuer_not_before)
    if issuer_not_after is not None:
        if issuer_not_after <= moment:
            raise CertificateError("issuer CA has expired; renew the CA before issuing")
        not_after = min(not_after, issuer_not_after)
    if issuer_not_before is not None and issuer_not_before > moment:
        raise CertificateError("issuer CA is not valid yet")
    return not_before, not_after
