"""The ``/mcp`` endpoint's HTTP rules, beside what the SDK's transport already enforces.

* DNS-rebinding protection (MCP transport security): the SDK's own Host/Origin check,
  fed with allow-lists built from this server's URLs, loopback (Hosts and Origins alike)
  and the configured extras.
* Authentication challenges as RFC 6750 section 3.1 says: a request that carried no
  credentials gets ``WWW-Authenticate: Bearer`` with the resource metadata and no error
  code; one whose token failed gets ``error="invalid_token"``.
* No idle event streams: the server is stateless and never sends anything unasked, so a
  ``GET`` for a server-to-client stream is answered ``405 Method Not Allowed``, which the
  streamable HTTP transport specification allows, instead of a stream that never ends.
* The SDK logs "Terminating session: None" at INFO after every stateless request; that
  line says nothing in stateless mode and is dropped.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, RequireAuthMiddleware
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.config import McpSettings

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
# A page on a loopback origin runs on this machine, as anything reaching a loopback Host
# does; a rebinding attacker's page keeps its own origin, so it never carries one of these.
LOOPBACK_ORIGINS = tuple(
    f"{scheme}://{host}" for scheme in ("http", "https") for host in LOOPBACK_HOSTS
)
DEFAULT_PORTS = {"https": 443, "http": 80}


def _host_forms(url: str) -> tuple[list[str], str | None]:
    """The Host header values a client of ``url`` sends, and its browser Origin."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.scheme not in DEFAULT_PORTS:
        return [], None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    hosts = [f"{host}:{port}"]
    if port == DEFAULT_PORTS[parts.scheme]:
        hosts.append(host)  # clients omit the default port
    origin = f"{parts.scheme}://{host}" + (
        "" if port == DEFAULT_PORTS[parts.scheme] else f":{port}"
    )
    return hosts, origin


def transport_security(settings: McpSettings) -> TransportSecuritySettings:
    """Host and Origin allow-lists: the server's own URLs, loopback, and configured extras.

    A Kubernetes Service name ending in ``.svc`` is also reached as ``.svc.cluster.local``.
    Requests without an Origin header (every non-browser agent) are not affected.
    """
    hosts: list[str] = [*LOOPBACK_HOSTS]
    origins: list[str] = [*LOOPBACK_ORIGINS]
    for url in (settings.public_url, settings.oauth_audience):
        if not url:
            continue
        forms, origin = _host_forms(url)
        hosts.extend(forms)
        hosts.extend(f"{h.replace('.svc', '.svc.cluster.local', 1)}" for h in forms if ".svc" in h)
        if origin is not None:
            origins.append(origin)
    hosts.extend(settings.allowed_hosts)
    origins.extend(settings.allowed_origins)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


class ChallengingAuthMiddleware(RequireAuthMiddleware):
    """The SDK's ``RequireAuthMiddleware`` with RFC 6750's rule for absent credentials."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(scope.get("user"), AuthenticatedUser) or _presented_credentials(scope):
            await super().__call__(scope, receive, send)  # passes, or "invalid_token"
            return
        await _challenge(send, self.resource_metadata_url)


def _presented_credentials(scope: Scope) -> bool:
    """An Authorization header or a client certificate came with the request."""
    if any(name == b"authorization" for name, _ in scope.get("headers") or []):
        return True
    tls = (scope.get("extensions") or {}).get("tls") or {}
    return bool(tls.get("client_cert_chain"))


async def _challenge(send: Send, resource_metadata_url: Any) -> None:
    challenge = "Bearer"
    if resource_metadata_url:
        challenge += f' resource_metadata="{resource_metadata_url}"'
    body = json.dumps({"error_description": "Authentication required"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class NoEventStream:
    """Answers ``GET`` with 405 (no server-initiated stream); passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = b"This server sends no server-initiated messages; POST requests only."
            await send_plain_text(send, 405, body, [(b"allow", b"POST, DELETE")])
            return
        await self.app(scope, receive, send)


async def send_plain_text(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete plain-text answer, sent before the SDK's transport sees the request."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *(headers or []),
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _StatelessSessionNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            isinstance(record.msg, str) and record.msg.startswith("Terminating session: None")
        )


_NOISE_FILTER = _StatelessSessionNoise()


def quiet_stateless_session_log() -> None:
    """Drop the SDK's per-request "Terminating session: None" line (idempotent)."""
    logger = logging.getLogger("mcp.server.streamable_http")
    if _NOISE_FILTER not in logger.filters:
        logger.addFilter(_NOISE_FILTER)
