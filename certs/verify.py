"""Chain and purpose verification through ``cryptography.x509.verification``.

Path building, EKU, validity and name checks are the library's (RFC 5280 + CA/B Forum
profile); this module only chooses the policy for each purpose and turns failures into
:class:`certs.VerificationError`. A server certificate presented as a client, or the
reverse, fails on its extendedKeyUsage.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509 import verification

from certs.errors import VerificationError
from certs.validity import as_utc, utcnow


def _builder(
    trust: Sequence[x509.Certificate], now: dt.datetime | None
) -> verification.PolicyBuilder:
    if not trust:
        raise VerificationError("trust bundle is empty")
    moment = utcnow() if now is None else as_utc(now)
    # The verifier compares naive UTC datetimes.
    return (
        verification.PolicyBuilder()
        .store(verification.Store(list(trust)))
        .time(moment.replace(tzinfo=None))
    )


def verify_server(
    leaf: x509.Certificate,
    *,
    trust: Sequence[x509.Certificate],
    hostname: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
) -> list[x509.Certificate]:
    """The verified chain (leaf first) for a serverAuth leaf answering ``hostname``."""
    subject: x509.DNSName | x509.IPAddress
    try:
        subject = x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        subject = x509.DNSName(str(hostname))
    verifier = _builder(trust, now).build_server_verifier(subject)
    try:
        return verifier.verify(leaf, list(intermediates))
    except verification.VerificationError as exc:
        raise VerificationError(f"server certificate rejected: {exc}") from None


def verify_client(
    leaf: x509.Certificate,
    *,
    trust: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
) -> list[x509.Certificate]:
    """The verified chain (leaf first) for a clientAuth leaf."""
    verifier = _builder(trust, now).build_client_verifier()
    try:
        return verifier.verify(leaf, list(intermediates)).chain
    except verification.VerificationError as exc:
        raise VerificationError(f"client certificate rejected: {exc}") from None
