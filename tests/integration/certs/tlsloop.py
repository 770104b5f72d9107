"""Real TLS handshakes on loopback with Python's ``ssl``: one server thread per attempt.

The server's view decides client-certificate outcomes: with TLS 1.3 the client finishes
its handshake before the server has judged the client certificate, and only learns of a
rejection on its first read.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

import certs

TIMEOUT = 10.0


@dataclasses.dataclass
class Outcome:
    server_error: str | None = None
    client_error: str | None = None
    reply: bytes = b""
    peer_subject: str | None = None

    @property
    def ok(self) -> bool:
        return self.server_error is None and self.client_error is None and self.reply == b"ok"


def write_identity(
    directory: Path, issued: certs.IssuedCertificate, name: str
) -> tuple[Path, Path]:
    """tls.crt/tls.key files as a Secret volume would present them."""
    data = certs.tls_secret_data(issued, [issued.chain[-1] if issued.chain else issued.certificate])
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_text(data["tls.crt"])
    key.write_text(data["tls.key"])
    return crt, key


def server_context(
    directory: Path, issued: certs.IssuedCertificate, trust: Sequence[x509.Certificate]
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    crt, key = write_identity(directory, issued, "server")
    ctx.load_cert_chain(crt, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=certs.to_pem(trust))
    return ctx


def client_context(
    directory: Path, issued: certs.IssuedCertificate | None, trust: Sequence[x509.Certificate]
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=certs.to_pem(trust))
    if issued is not None:
        crt, key = write_identity(directory, issued, "client")
        ctx.load_cert_chain(crt, key)
    return ctx


def handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str = "localhost"
) -> Outcome:
    """One connection: server answers ``ok`` after a successful handshake, then closes."""
    outcome = Outcome()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            outcome.server_error = f"accept: {exc}"
            return
        conn.settimeout(TIMEOUT)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert()
                subject = peer.get("subject") if peer else None
                outcome.peer_subject = repr(subject)
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            outcome.server_error = str(exc)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            outcome.reply = tls.recv(16)
    except (ssl.SSLError, OSError) as exc:
        outcome.client_error = str(exc)
    finally:
        thread.join(TIMEOUT)
        listener.close()
    return outcome
