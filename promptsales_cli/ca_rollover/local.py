"""The local platform's ``pki`` directory as the CA store (see ``promptsales_cli.local.pki``).

Nothing like the operator runs locally, so this target re-issues its own leaf, the MCP
server's serving certificate. The MCP server reads ``ca.crt`` and ``mcp.crt`` from this
directory and reloads them when they change (``mcp_server.access.tls``), so the bundle and the
re-issued certificate reach it within its reload period.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import certs
from promptsales_cli.local import pki


class LocalCaTarget:
    """``<home>/pki`` of ``promptsales up``."""

    reissues_leaves = True

    def __init__(self, home: Path) -> None:
        self.directory = pki.pki_directory(home)

    @property
    def where(self) -> str:
        return f"local platform CA in {self.directory}"

    def load(self) -> certs.CaStore:
        if not (self.directory / pki.CA_KEY).exists():
            raise certs.CertificateError(
                f"{self.directory}: no local platform CA; run `promptsales up` first, "
                "or pass --kubeconfig to rotate a cluster's CA"
            )
        return pki.load_ca_store(self.directory)

    def save(self, store: certs.CaStore) -> None:
        pki.save_ca_store(self.directory, store)

    def leaves(self, store: certs.CaStore) -> dict[str, certs.Leaf]:
        """The serving certificate; its holder (the MCP server) reads ``ca.crt`` itself."""
        path = self.directory / pki.SERVER_CERT
        if not path.exists():
            return {}
        leaf = certs.load_certificates(path.read_text(), field=str(path))[0]
        return {pki.SERVER_CERT: certs.Leaf(leaf, store.bundle)}

    def reissue(self, names: tuple[str, ...], store: certs.CaStore, now: dt.datetime) -> None:
        """The same certificate again (names, lifetime, key type) from the signing CA."""
        for name in names:
            if name != pki.SERVER_CERT:
                raise certs.CertificateError(f"{name}: not a leaf of the local platform")
            path = self.directory / name
            current = certs.load_certificates(path.read_text(), field=str(path))[0]
            pki.write_serving_certificate(
                self.directory, certs.reissue(store.signing, current, now=now)
            )
