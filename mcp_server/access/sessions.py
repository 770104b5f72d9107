"""Session labels for the streamable HTTP transport, on a server that keeps no sessions.

The specification lets a server assign an ``Mcp-Session-Id`` when it answers
``initialize``; clients then send it with every request of that session. This server is
stateless on purpose (any replica answers any request, so the operator can scale it
freely), and without a session id some clients and the MCP conformance suite treat it as
a server without sessions: the scenario ``server-sse-multiple-streams`` stops at "server
did not provide session ID".

So the server hands out a *label*: a random, unguessable id (``secrets.token_urlsafe``,
as the specification asks: globally unique, cryptographically secure, visible ASCII)
that names the session and holds nothing. Every replica accepts every well-formed label,
because there is no state to find or protect behind it: each request is authenticated
and authorized on its own (bearer token or client certificate), exactly as without a
label, so a label grants nothing and a stolen one is worth nothing. The server never
ends a session, so it never answers 404 for one (the specification's signal to start
again); a ``DELETE`` that asks to end one is answered 405 by the SDK's stateless
transport, which the specification allows ("the server does not allow clients to
terminate sessions"). What a label is good for: it correlates one agent's requests in
the server's log (it is logged with each tool call, never a credential).

A malformed label (not 1-128 visible ASCII characters) is refused with 400 before
anything else runs.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, ServerRequestContext
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_server.access.endpoint import send_plain_text

HEADER = "mcp-session-id"
_HEADER_BYTES = HEADER.encode()
_SCOPE_KEY = "promptsales.session_label"
_WELL_FORMED = re.compile(rb"[\x21-\x7e]{1,128}")

# The label of the request being served, for the call log (None: the caller sent none).
current_label: ContextVar[str | None] = ContextVar("promptsales_session_label", default=None)


def new_label() -> str:
    return secrets.token_urlsafe(24)


async def label_initialize(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
    """SDK middleware: an ``initialize`` over HTTP that succeeds gets a new label (set on
    the request's ASGI scope, which :class:`SessionLabels` turns into the header)."""
    result = await call_next(ctx)
    if ctx.method == "initialize" and isinstance(ctx.request, Request):
        ctx.request.scope[_SCOPE_KEY] = new_label()
    return result


class SessionLabels:
    """ASGI middleware around the MCP endpoint: refuses malformed labels, keeps the
    caller's label for the log, and sends a new session's label with its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = [value for name, value in scope["headers"] if name == _HEADER_BYTES]
        if sent and (len(sent) > 1 or not _WELL_FORMED.fullmatch(sent[0])):
            await _bad_label(send)
            return
        token = current_label.set(sent[0].decode() if sent else None)

        async def send_with_label(message: Message) -> None:
            label = scope.get(_SCOPE_KEY)
            if message["type"] == "http.response.start" and label and message["status"] == 200:
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (_HEADER_BYTES, label.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_label)
        finally:
            current_label.reset(token)


async def _bad_label(send: Send) -> None:
    body = b"Mcp-Session-Id must be one value of 1 to 128 visible ASCII characters."
    await send_plain_text(send, 400, body)
