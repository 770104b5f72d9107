"""Secret data written as files (like a Secret volume) loads into OpenSSL as-is."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

import certs
from tests.integration.certs.tlsloop import client_context, handshake


def _materialise(directory: Path, data: dict[str, str]) -> None:
    directory.mkdir()
    for name, value in data.items():
        (directory / name).write_text(value)


def test_secret_volume_files_serve_mutual_tls(tmp_path: Path) -> None:
    root = certs.create_root_ca("Root", validity=dt.timedelta(days=30))
    issuing = certs.create_intermediate_ca(root, "Issuing", validity=dt.timedelta(days=20))
    bundle = certs.trust_bundle(root)
    _materialise(
        tmp_path / "server",
        certs.tls_secret_data(
            certs.issue_server_certificate(issuing, "mcp", dns_names=["localhost"]), bundle
        ),
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server/tls.crt", tmp_path / "server/tls.key")
    server_ctx.load_verify_locations(cafile=tmp_path / "server/ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client = certs.issue_client_certificate(
        issuing, campaign_name="c", campaign_id="1", role="marketing"
    )
    outcome = handshake(server_ctx, client_context(tmp_path, client, bundle))
    assert outcome.ok, outcome


def test_encrypted_pkcs8_key_loads_into_ssl_with_its_password(tmp_path: Path) -> None:
    root = certs.create_root_ca("Root", validity=dt.timedelta(days=30))
    leaf = certs.issue_server_certificate(root, "mcp", dns_names=["localhost"])
    (tmp_path / "tls.crt").write_text(certs.to_pem(leaf.certificate))
    (tmp_path / "tls.key").write_text(certs.private_key_to_pem(leaf.private_key, b"pw"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key", password=b"pw")
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key", password=b"nope")
