"""TLS serving: a server context that picks up renewed certificates without a restart,
and the ASGI ``tls`` extension carrying the verified client certificate.

Reload: the listening context has an SNI callback (OpenSSL calls it on every handshake,
with or without SNI) that swaps in the newest context. A background check rebuilds that
context when the mounted certificate, key or CA bundle files change, so a renewed
``promptsales-mcp-tls`` Secret or a CA rollover takes effect on the next connection.
A half-written update (key not matching the certificate yet) keeps the previous context.

Client certificates are requested, not required (``CERT_OPTIONAL``): bearer-token
callers connect without one. A certificate that is presented must chain to the CA
bundle, or the handshake fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def _fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in paths:
        try:
            stat = path.stat()
            out.append((str(path), stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            out.append((str(path), -1, -1))
    return tuple(out)


class ReloadingServerContext:
    """Owns the current server SSLContext and rebuilds it when its files change."""

    def __init__(self, cert_file: Path, key_file: Path, client_ca_file: Path | None) -> None:
        self._cert = cert_file
        self._key = key_file
        self._ca = client_ca_file
        self._current = self._build()
        self._stamp = _fingerprint(self._paths())
        self.reloads = 0
        self.listening = self._build()
        self.listening.sni_callback = self._select

    def _paths(self) -> list[Path]:
        return [self._cert, self._key, *([self._ca] if self._ca else [])]

    def _build(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self._cert, self._key)
        if self._ca is not None:
            ctx.load_verify_locations(cafile=str(self._ca))
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def _select(self, sslobj: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        sslobj.context = self._current

    def reload_if_changed(self) -> bool:
        stamp = _fingerprint(self._paths())
        if stamp == self._stamp:
            return False
        try:
            fresh = self._build()
        except (ssl.SSLError, OSError, ValueError) as exc:
            log.warning(
                "TLS files changed but do not load yet", extra={"error": type(exc).__name__}
            )
            return False
        self._current = fresh
        self._stamp = stamp
        self.reloads += 1
        log.info("TLS certificate reloaded", extra={"reloads": self.reloads})
        return True

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.reload_if_changed()


def _with_tls_extension(app: Any, chain: list[str]) -> Any:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in {"http", "websocket"}:
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {"client_cert_chain": chain}
            scope = {**scope, "extensions": extensions}
        await app(scope, receive, send)

    return wrapped


class TLSExtensionH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the ASGI ``tls`` extension (client_cert_chain as PEM)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        chain: list[str] = []
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            with contextlib.suppress(ValueError):
                der = ssl_object.getpeercert(binary_form=True)
                if der:
                    chain = [ssl.DER_cert_to_PEM_cert(der)]
        self.app = _with_tls_extension(self.app, chain)
