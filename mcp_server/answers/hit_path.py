"""Repeats answered at the protocol layer: an in-process hit skips the SDK's tool dispatch.

Measured on the benchmark machine, a repeated ``getContent`` served by the in-process
cache tier still spent ~0.8 ms of a ~5.7 ms round trip inside the SDK after our lookup:
spec validation of the request, tool lookup, the tool's argument model, building a
``Context``, our tool body, the output model's validation of the answer, and the
result's re-validation and dump for the wire. None of that can change a repeat's answer.

So a server middleware (the SDK's documented short-circuit: a middleware that returns
without ``call_next`` is trusted to return its own well-formed result) answers a
``tools/call`` whose answer the in-process tier holds *in wire form*, the dict the SDK
itself produced the first time this answer was served as a hit. Nothing here builds a
result; it replays one.

Why a replay cannot differ from what the SDK would answer:

- the call is planned exactly as the tool body plans it: the SDK's own argument model
  for the same function (``Tool.from_function``), then the same ``plan_*`` method with
  every authorization, campaign-scope, readiness and input check, then the same cache
  key (role, campaign scope, model, content and KPI versions included);
- a stored wire result lives in the answer's own in-process entry
  (``ResponseCache.attach_wire``), so it expires, is evicted and is invalidated with it,
  and exists only for answers Redis holds; it is also shared through Redis under the
  answer's key for the rest of the answer's lifetime and published to the other
  replicas' in-process tiers, so a repeat on another replica is replayed there under the
  same checks (a replica that missed the message reads it once:
  ``ResponseCache.replay_wire``);
- it is kept per protocol version (the wire shape depends on it), and only a successful
  hit (``cached: true``) is stored;
- the request passes the same spec validation the SDK applies
  (``mcp_types.methods.validate_client_request``);
- only HTTP calls are replayed: each stateless HTTP request is complete in itself, while
  a stdio session has an initialization gate that runs inside the middleware chain;
- a stored result is replayed only to a caller whose own text it repeats (answers are
  shared by callers whose queries differ only in case; see ``AnswerPlan.echo``);
- anything unusual (unknown request members, arguments the model rejects, a failed
  check, no principal) goes to the SDK, which answers or rejects it as always.

Metrics and the call log are the same as for a hit served by the tool body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mcp.server.context import CallNext, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp_types.methods import validate_client_request
from pydantic import ValidationError
from starlette.requests import Request

from mcp_server.access.auth import AuthorizationError, Principal
from mcp_server.memo import BoundedMemo, canonical
from mcp_server.service import AnswerPlan, ContentService, ToolInputError, ToolUnavailableError

# A tool's validated arguments -> its plan, for this caller. The tool body calls the same.
Planner = Callable[[ContentService, Principal, dict[str, Any]], AnswerPlan]

# Request members a replay may ignore; any other member may mean something to the SDK.
_KNOWN_PARAMS = frozenset({"name", "arguments", "_meta"})
# What the SDK's request validation, the argument model and the plan's checks raise.
_PLAN_REFUSED = (
    ToolInputError,
    ToolUnavailableError,
    AuthorizationError,
    ValidationError,
    ValueError,
    KeyError,
)


@dataclass(frozen=True)
class CachedTool:
    """A cacheable tool: the SDK's view of its function (for the argument model) and its
    planner."""

    tool: Tool
    plan: Planner

    @classmethod
    def of(cls, fn: Callable[..., Any], name: str, plan: Planner) -> CachedTool:
        return cls(Tool.from_function(fn, name=name), plan)


def _hit(result: object) -> dict[str, Any] | None:
    """``result`` if it is a successful cache hit in wire form (what a repeat returns)."""
    if not isinstance(result, dict) or result.get("isError"):
        return None
    structured = result.get("structuredContent")
    return result if isinstance(structured, dict) and structured.get("cached") is True else None


def _echoes(wire: dict[str, Any], echo: dict[str, Any]) -> bool:
    """The stored result repeats this caller's own text (else the SDK path answers, and
    its result, with this caller's text, becomes the stored one)."""
    structured = wire.get("structuredContent") or {}
    return all(structured.get(name) == value for name, value in echo.items())


def replay_hits(
    service: ContentService,
    cached_tools: Iterable[CachedTool],
    principal_of: Callable[[Request], Principal | None],
) -> ServerMiddleware[Any]:
    tools = {cached.tool.name: cached for cached in cached_tools}
    # Requests already validated (the SDK's request model, then the tool's argument model)
    # -> the validated arguments: a repeat skips both (see memo.py). The plan, with every
    # authorization, scope and readiness check, still runs on every call.
    validated_requests: BoundedMemo[dict[str, Any]] = BoundedMemo()

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        planned = _plan(ctx) if ctx.method == "tools/call" else None
        if planned is None:
            return await call_next(ctx)
        name, principal, key, echo = planned
        replay = await service.cache.replay_wire(key, ctx.protocol_version)
        if replay is not None and _echoes(replay[0], echo):
            wire, held = replay
            async with service.observe(name, principal):
                service.metrics.record_cache(name, hit=True, local=held, replayed=True)
            return dict(wire)
        result = await call_next(ctx)
        hit = _hit(result)
        if hit is not None:
            service.cache.attach_wire(key, ctx.protocol_version, hit)
        return result

    def _plan(
        ctx: ServerRequestContext[Any, Any],
    ) -> tuple[str, Principal, str, dict[str, Any]] | None:
        """(tool, caller, answer key, caller's text) of a call a replay could answer."""
        params = ctx.params
        if not params or not _KNOWN_PARAMS.issuperset(params):
            return None
        name, arguments = params.get("name"), params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return None
        cached = tools.get(name)
        if cached is None:
            return None
        if not isinstance(ctx.request, Request):
            return None
        principal = principal_of(ctx.request)
        if principal is None:
            return None
        try:
            request = canonical(ctx.protocol_version, params)
            validated = validated_requests.get(request)
            if validated is None:
                validate_client_request("tools/call", ctx.protocol_version, params)
                validated = cached.tool.fn_metadata.validate_arguments(arguments)
                validated_requests.put(request, validated)
            plan = cached.plan(service, principal, dict(validated))
            key = service.answer_key(principal, plan)
        except _PLAN_REFUSED:
            return None  # the SDK path reports it as a tool error
        return None if key is None else (name, principal, key, plan.echo)

    return middleware
