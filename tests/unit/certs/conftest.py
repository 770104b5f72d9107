"""Shared CAs for the certs unit tests; module-scoped because key generation dominates."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import pytest
from cryptography import x509

import certs

E = TypeVar("E", bound=x509.ExtensionType)

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def root() -> certs.CertificateAuthority:
    return certs.create_root_ca("PromptSales Test Root", validity=dt.timedelta(days=365), now=NOW)


@pytest.fixture(scope="module")
def intermediate(root: certs.CertificateAuthority) -> certs.CertificateAuthority:
    return certs.create_intermediate_ca(
        root, "PromptSales Test Issuing", validity=dt.timedelta(days=180), now=NOW
    )


def ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    """One extension of ``cert`` by class (raises if absent, which fails the test)."""
    return cert.extensions.get_extension_for_class(kind)
