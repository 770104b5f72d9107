"""The local platform's CA and the MCP server's serving certificate, made with ``certs/``.

Created once and reused, like the cluster's ``promptsales-ca`` Secret: a second ``up``
keeps the CA (clients keep trusting it) and re-issues the serving certificate only when
its renewal time has come.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import certs

CA_VALIDITY = dt.timedelta(days=3650)
SERVING_VALIDITY = dt.timedelta(days=90)


@dataclass(frozen=True)
class LocalPki:
    """Paths of the PEM files the MCP server and its clients use."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    created_ca: bool
    issued_server: bool


def _write(path: Path, text: str, *, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def ensure_pki(home: Path, now: dt.datetime | None = None) -> LocalPki:
    """Load or create the CA; (re-)issue the serving certificate for localhost when due."""
    now = now or dt.datetime.now(dt.UTC)
    directory = home / "pki"
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    server_cert, server_key = directory / "mcp.crt", directory / "mcp.key"
    created_ca = False
    if ca_cert.exists() and ca_key.exists():
        ca = certs.CertificateAuthority(
            certificate=certs.load_certificate(ca_cert.read_text(), field="ca.crt"),
            private_key=certs.load_private_key(ca_key.read_text(), field="ca.key"),
        )
    else:
        ca = certs.create_root_ca("PromptSales local platform CA", validity=CA_VALIDITY, now=now)
        _write(ca_key, certs.private_key_to_pem(ca.private_key), private=True)
        _write(ca_cert, certs.to_pem(ca.certificate), private=False)
        created_ca = True
    issued = False
    due = True
    if server_cert.exists() and server_key.exists() and not created_ca:
        current = certs.load_certificate(server_cert.read_text(), field="mcp.crt")
        due = certs.is_renewal_due(current, now) or not certs.issued_by(current, ca.certificate)
    if due:
        leaf = certs.issue_server_certificate(
            ca,
            "localhost",
            dns_names=["localhost"],
            ip_addresses=["127.0.0.1"],
            validity=SERVING_VALIDITY,
            now=now,
        )
        _write(server_key, certs.private_key_to_pem(leaf.private_key), private=True)
        _write(server_cert, certs.to_pem([leaf.certificate, *leaf.chain]), private=False)
        issued = True
    return LocalPki(ca_cert, ca_key, server_cert, server_key, created_ca, issued)
