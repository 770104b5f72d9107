"""The local platform's CA and the MCP server's serving certificate, made with ``certs/``.

Created once and reused, like the cluster's ``promptsales-ca`` Secret: a second ``up``
keeps the CA (clients keep trusting it) and re-issues the serving certificate only when
its renewal time has come or another CA signed it.

``pki/`` is the local form of that Secret, and a CA rollover (``promptsales certs
rotate-ca``) works on it the same way: ``ca.crt`` is the trust bundle every client and
the MCP server read (old and new CA during a rollover), ``ca.key`` the signing key (the
certificate in ``ca.crt`` it belongs to is the signing CA), and while a rollover runs,
``incoming-ca.crt``/``incoming-ca.key`` (the next CA, before it signs), ``outgoing-ca.crt``
(the retired CA, key deleted) and ``rollover.json`` (when the bundle and the re-issued
leaves were in place). Every file is replaced by rename, so the MCP server's reloader and
a concurrent reader see either the old or the new file, never half of one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import certs
from certs.validity import as_utc

CA_VALIDITY = dt.timedelta(days=3650)
SERVING_VALIDITY = dt.timedelta(days=90)

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "mcp.crt"
SERVER_KEY = "mcp.key"
INCOMING_CERT = "incoming-ca.crt"
INCOMING_KEY = "incoming-ca.key"
OUTGOING_CERT = "outgoing-ca.crt"
ROLLOVER_STATE = "rollover.json"


@dataclass(frozen=True)
class LocalPki:
    """Paths of the PEM files the MCP server and its clients use."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    created_ca: bool
    issued_server: bool


def pki_directory(home: Path) -> Path:
    return home / "pki"


def write_atomically(path: Path, text: str, *, private: bool) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600 if private else 0o644)
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise certs.CertificateError(f"{path}: cannot read ({exc.__class__.__name__})") from None


def load_signing_ca(directory: Path) -> certs.CertificateAuthority:
    """The CA ``ca.key`` belongs to, among the certificates of ``ca.crt``."""
    bundle = certs.load_certificates(_read(directory / CA_CERT), field=str(directory / CA_CERT))
    key = certs.load_private_key(_read(directory / CA_KEY), field=str(directory / CA_KEY))
    return certs.authority_for_key(bundle, key, field=str(directory / CA_CERT))


def load_ca_store(directory: Path) -> certs.CaStore:
    """The CA store in ``directory`` (``CertificateError`` naming the file that is wrong)."""
    ca_cert = directory / CA_CERT
    bundle = tuple(certs.load_certificates(_read(ca_cert), field=str(ca_cert)))
    signing = load_signing_ca(directory)
    incoming = None
    if (directory / INCOMING_KEY).exists():
        incoming = certs.authority_for_key(
            certs.load_certificates(
                _read(directory / INCOMING_CERT), field=str(directory / INCOMING_CERT)
            ),
            certs.load_private_key(
                _read(directory / INCOMING_KEY), field=str(directory / INCOMING_KEY)
            ),
            field=str(directory / INCOMING_CERT),
        )
        if incoming.certificate == signing.certificate:
            incoming = None  # interrupted after the switch: the next save removes the files
    outgoing = None
    if (directory / OUTGOING_CERT).exists():
        outgoing = certs.load_certificate(
            _read(directory / OUTGOING_CERT), field=str(directory / OUTGOING_CERT)
        )
    times: dict[str, str] = {}
    if (directory / ROLLOVER_STATE).exists():
        try:
            times = dict(json.loads(_read(directory / ROLLOVER_STATE)))
        except (ValueError, TypeError):
            raise certs.MalformedInputError(
                f"{directory / ROLLOVER_STATE}: not a JSON object"
            ) from None
    return certs.CaStore(
        signing=signing,
        bundle=bundle,
        incoming=incoming,
        outgoing=outgoing,
        bundle_published_at=_moment(times, "bundle_published_at", directory),
        leaves_moved_at=_moment(times, "leaves_moved_at", directory),
    )


def _moment(times: dict[str, str], key: str, directory: Path) -> dt.datetime | None:
    value = times.get(key)
    if value is None:
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(value), key)
    except (ValueError, TypeError):
        raise certs.MalformedInputError(
            f"{directory / ROLLOVER_STATE}: {key} is not an ISO 8601 time with an offset"
        ) from None


def save_ca_store(directory: Path, store: certs.CaStore) -> None:
    """Write ``store``, in an order where every intermediate state loads as a valid store.

    The next CA is written before ``ca.crt`` names it; the retired CA's certificate before
    ``ca.key`` switches to the new key; leftovers are removed last.
    """
    state = {
        key: moment.isoformat()
        for key, moment in (
            ("bundle_published_at", store.bundle_published_at),
            ("leaves_moved_at", store.leaves_moved_at),
        )
        if moment is not None
    }
    if store.incoming is not None:
        write_atomically(
            directory / INCOMING_KEY,
            certs.private_key_to_pem(store.incoming.private_key),
            private=True,
        )
        write_atomically(
            directory / INCOMING_CERT,
            certs.to_pem((store.incoming.certificate, *store.incoming.chain)),
            private=False,
        )
    if store.outgoing is not None:
        write_atomically(directory / OUTGOING_CERT, certs.to_pem(store.outgoing), private=False)
    if state:
        write_atomically(directory / ROLLOVER_STATE, json.dumps(state) + "\n", private=False)
    write_atomically(directory / CA_CERT, certs.to_pem(store.bundle), private=False)
    signing_key = certs.private_key_to_pem(store.signing.private_key)
    current_key = directory / CA_KEY
    if not current_key.exists() or current_key.read_text() != signing_key:
        write_atomically(current_key, signing_key, private=True)
    if store.incoming is None:
        (directory / INCOMING_KEY).unlink(missing_ok=True)
        (directory / INCOMING_CERT).unlink(missing_ok=True)
    if store.outgoing is None:
        (directory / OUTGOING_CERT).unlink(missing_ok=True)
    if not state:
        (directory / ROLLOVER_STATE).unlink(missing_ok=True)


def issue_serving_certificate(
    directory: Path, ca: certs.CertificateAuthority, now: dt.datetime
) -> certs.IssuedCertificate:
    """The MCP server's certificate for localhost, written to ``mcp.crt``/``mcp.key``."""
    leaf = certs.issue_server_certificate(
        ca,
        "localhost",
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
        validity=SERVING_VALIDITY,
        now=now,
    )
    write_serving_certificate(directory, leaf)
    return leaf


def write_serving_certificate(directory: Path, leaf: certs.IssuedCertificate) -> None:
    """Key first: until the certificate follows, the MCP server's reloader sees a pair
    that does not match and keeps serving the previous one."""
    write_atomically(
        directory / SERVER_KEY, certs.private_key_to_pem(leaf.private_key), private=True
    )
    write_atomically(
        directory / SERVER_CERT, certs.to_pem([leaf.certificate, *leaf.chain]), private=False
    )


def ensure_pki(home: Path, now: dt.datetime | None = None) -> LocalPki:
    """Load or create the CA; (re-)issue the serving certificate for localhost when due."""
    now = now or dt.datetime.now(dt.UTC)
    directory = pki_directory(home)
    ca_cert, ca_key = directory / CA_CERT, directory / CA_KEY
    server_cert, server_key = directory / SERVER_CERT, directory / SERVER_KEY
    created_ca = False
    if ca_cert.exists() and ca_key.exists():
        ca = load_signing_ca(directory)
    else:
        ca = certs.create_root_ca("PromptSales local platform CA", validity=CA_VALIDITY, now=now)
        write_atomically(ca_key, certs.private_key_to_pem(ca.private_key), private=True)
        write_atomically(ca_cert, certs.to_pem(ca.certificate), private=False)
        created_ca = True
    issued = False
    due = True
    if server_cert.exists() and server_key.exists() and not created_ca:
        current = certs.load_certificate(server_cert.read_text(), field=SERVER_CERT)
        due = certs.is_renewal_due(current, now) or not certs.issued_by(current, ca.certificate)
    if due:
        issue_serving_certificate(directory, ca, now)
        issued = True
    return LocalPki(ca_cert, ca_key, server_cert, server_key, created_ca, issued)
