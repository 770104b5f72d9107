"""``promptsales certs rotate-ca`` on the local platform, with TLS traffic throughout.

The server is the MCP server's own reloading TLS context over ``.promptsales/pki`` (its
serving certificate and client CA bundle); the client re-reads ``ca.crt`` lazily, through
a copy refreshed every ``LAG`` seconds, as a client that picks up files on its own
schedule does. Every connection during the whole rollover must succeed, and the server
must have presented leaves of both CAs. With a propagation delay shorter than the
client's lag, the same harness sees connections fail: the delay is what protects them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509

import certs
from promptsales_cli.local import pki
from tests.support.tls_traffic import Client, FileSync, Server, Traffic, running

LAG = 0.5


def _rotate(home: Path, cwd: Path, propagation_seconds: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptsales_cli", "certs", "rotate-ca", "--wait",
         "--propagation-seconds", str(propagation_seconds)],
        env={**os.environ, "PROMPTSALES_LOCAL_HOME": str(home)},
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _rollover_with_traffic(
    tmp_path: Path, propagation_seconds: float
) -> tuple[subprocess.CompletedProcess[str], Traffic, dict[str, x509.Certificate]]:
    home = tmp_path / "state"
    local = pki.ensure_pki(home)
    directory = pki.pki_directory(home)
    old = pki.load_signing_ca(directory).certificate
    client_trust = FileSync(
        tmp_path / "client", lambda: {"ca.crt": local.ca_cert.read_bytes()}, lag=LAG
    )
    server = Server(local.server_cert, local.server_key, local.ca_cert)
    traffic = Traffic(server, [Client("agent", tmp_path / "client" / "ca.crt")])
    with running(server.serve, client_trust.run, traffic.run):
        traffic.wait_for_attempts(5)
        result = _rotate(home, tmp_path, propagation_seconds)
        time.sleep(2 * LAG)  # the client has re-read the final ca.crt
        settled = len(traffic.attempts)
        traffic.wait_for_attempts(5)
    assert all(a.ok for a in traffic.attempts[settled:]), traffic.attempts[settled:][:3]
    new = pki.load_signing_ca(directory).certificate
    return result, traffic, {"old": old, "new": new}


def test_rotate_ca_keeps_every_connection_working(tmp_path: Path) -> None:
    result, traffic, cas = _rollover_with_traffic(tmp_path, propagation_seconds=2 * LAG + 1)
    assert result.returncode == 0, result.stderr
    assert "complete: the new CA" in result.stdout
    failures = [a for a in traffic.attempts if not a.ok]
    assert not failures, failures[:3]
    served = [a.server_issuer(cas) for a in traffic.attempts]
    assert served[0] == "old"
    assert served[-1] == "new"
    assert set(served) == {"old", "new"}
    bundle = certs.load_certificates((tmp_path / "state" / "pki" / "ca.crt").read_text())
    assert bundle == [cas["new"]]
    assert sorted(p.name for p in (tmp_path / "state" / "pki").iterdir()) == [
        "ca.crt",
        "ca.key",
        "mcp.crt",
        "mcp.key",
    ]


def test_without_a_propagation_delay_connections_fail(tmp_path: Path) -> None:
    """The harness can fail: switching signers before clients re-read ca.crt breaks them."""
    result, traffic, _ = _rollover_with_traffic(tmp_path, propagation_seconds=0)
    assert result.returncode == 0, result.stderr
    failures = [a for a in traffic.attempts if not a.ok]
    assert failures
    assert all("CERTIFICATE_VERIFY_FAILED" in a.error for a in failures)
