"""File edges of the CLI: reading PEM files and Secret manifests, writing keys safely.

Key files are created with mode 0600 from the first byte (``os.open`` with the mode,
not chmod after writing), so no other user can read them even briefly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from cryptography import x509

from certs.authority import CertificateAuthority, authority_for_key, issued_by
from certs.encoding import (
    CA_CRT,
    TLS_CRT,
    decode_secret_value,
    load_certificates,
    load_private_key,
    secret_payload,
)
from certs.errors import CertificateError, MalformedInputError

_PEM_CERT_MARKER = "-----BEGIN CERTIFICATE-----"
PEM_SUFFIXES = frozenset({".pem", ".crt", ".cert", ".cer"})
MANIFEST_SUFFIXES = frozenset({".yaml", ".yml"})


def check_writable(paths: list[Path], *, force: bool) -> None:
    """Refuse before writing anything, so a failed command leaves no partial output."""
    for path in paths:
        if path.exists() and not force:
            raise CertificateError(f"{path} exists; pass --force to overwrite")
        if not path.parent.is_dir():
            raise CertificateError(f"{path.parent} is not a directory")


def write_file(path: Path, text: str, *, private: bool) -> None:
    """Write ``text``; ``private`` files get mode 0600 at creation and on overwrite."""
    mode = 0o600 if private else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(text)


def read_text(path: Path) -> str:
    """File content, or CertificateError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateError(f"{path}: cannot read ({exc.__class__.__name__})") from None


def load_ca_files(
    cert_path: Path, key_path: Path, *, password: bytes | None
) -> tuple[CertificateAuthority, tuple[x509.Certificate, ...]]:
    """The CA the key file belongs to, and the trust anchors of the certificate file.

    The certificate file holds the CA and its chain, or a trust bundle (a ``ca.crt``
    that carries old and new CA during a rollover); the key picks the signing CA.
    """
    certs = load_certificates(read_text(cert_path), field=str(cert_path))
    key = load_private_key(read_text(key_path), password=password, field=str(key_path))
    ca = authority_for_key(certs, key, field=str(cert_path))
    anchors = tuple(c for c in certs if c.issuer == c.subject and issued_by(c, c))
    return ca, anchors


def _manifest_certificates(path: Path) -> Iterator[tuple[str, x509.Certificate]]:
    try:
        documents = list(yaml.safe_load_all(read_text(path)))
    except yaml.YAMLError:
        raise MalformedInputError(f"{path}: not valid YAML") from None
    for document in documents:
        for item in _secret_documents(document):
            meta = item.get("metadata") or {}
            name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
            payload = secret_payload(item)
            for key in (TLS_CRT, CA_CRT):
                if payload.get(key):
                    field = f"{path.name}:{name}/{key}"
                    raw = decode_secret_value(field, payload[key])
                    for index, cert in enumerate(load_certificates(raw, field=field)):
                        yield f"{field}#{index}", cert


def _secret_documents(document: object) -> Iterator[Mapping[str, object]]:
    if not isinstance(document, Mapping):
        return
    if document.get("kind") == "List":
        for item in document.get("items") or []:
            yield from _secret_documents(item)
    elif document.get("kind") == "Secret":
        yield document


def certificates_in(path: Path) -> list[tuple[str, x509.Certificate]]:
    """(label, certificate) for a PEM file, a Secret manifest, or a directory of them.

    In a directory, ``*.key`` files are never opened and PEM files without a certificate
    (a key saved as ``.pem``) are skipped; a single named file must hold certificates.
    """
    if path.is_dir():
        found: list[tuple[str, x509.Certificate]] = []
        for child in sorted(path.iterdir()):
            if not child.is_file() or child.suffix not in PEM_SUFFIXES | MANIFEST_SUFFIXES:
                continue
            if child.suffix in PEM_SUFFIXES and _PEM_CERT_MARKER not in read_text(child):
                continue  # e.g. a key saved as .pem: not this scan's business
            found.extend(certificates_in(child))
        return found
    if path.suffix in MANIFEST_SUFFIXES:
        return list(_manifest_certificates(path))
    certs = load_certificates(read_text(path), field=str(path))
    return [(f"{path.name}#{index}", cert) for index, cert in enumerate(certs)]
