"""Human- and machine-readable summaries of certificates for ``inspect`` and ``due``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from certs.rotation import certificate_renewal_time, fingerprint


def _san_strings(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[str] = [f"DNS:{v}" for v in san.get_values_for_type(x509.DNSName)]
    out += [f"IP:{v}" for v in san.get_values_for_type(x509.IPAddress)]
    out += [f"URI:{v}" for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    out += [f"email:{v}" for v in san.get_values_for_type(x509.RFC822Name)]
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def describe(
    cert: x509.Certificate, *, now: dt.datetime, renew_before: dt.timedelta | None = None
) -> dict[str, Any]:
    """The facts an operator asks about a certificate, JSON-serialisable."""
    renew_at = certificate_renewal_time(cert, renew_before=renew_before)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": f"{cert.serial_number:x}",
        "sans": _san_strings(cert),
        "is_ca": _is_ca(cert),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": fingerprint(cert),
        "renewal_time": renew_at.isoformat(),
        "renewal_due": now >= renew_at,
        "expired": now >= cert.not_valid_after_utc,
    }
