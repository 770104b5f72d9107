"""The one exception family of the PKI, so callers catch a single type and still learn why.

Messages name the offending field or file part (``tls.key``, ``dns_names``...) and never
carry key material or passwords: they end up in operator events and CLI output.
"""

from __future__ import annotations


class CertificateError(ValueError):
    """Any input the PKI refuses: malformed, mismatched, expired issuer, bad identity."""


class MalformedInputError(CertificateError):
    """PEM/DER/base64 that does not parse into what the field must hold."""


class KeyMismatchError(CertificateError):
    """A private key that does not belong to the certificate it is paired with.

    Deploying such a pair makes every TLS handshake fail only at run time, far from the
    cause, so it is refused at load time instead.
    """


class IdentityError(CertificateError):
    """A client certificate that does not carry a valid PromptSales campaign identity."""


class VerificationError(CertificateError):
    """Chain or purpose verification failed (untrusted, expired, wrong EKU, wrong name)."""
