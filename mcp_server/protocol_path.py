"""Cacheable tool calls answered at the protocol layer, without the SDK's tool dispatch.

Measured on the benchmark machine, a repeated ``getContent`` served by the in-process
cache tier still spent ~0.8 ms of a ~5.7 ms round trip inside the SDK after our lookup,
and a new one ~1 ms more than its own work: spec validation of the request, tool
lookup, the tool's argument model, building a ``Context``, our tool body planning the
call a second time, the output model's validation of an answer that was validated when
it was computed, and the result's re-validation and dump for the wire. None of that can
change the answer.

So a server middleware (the SDK's documented short-circuit: a middleware that returns
without ``call_next`` is trusted to return its own well-formed result) answers a
``tools/call`` of a cacheable tool itself, in one of two ways:

- **replay**: the in-process tier holds the answer's result *in wire form* (the dict
  sent the first time this answer was served as a hit, here or on another replica,
  see ``ResponseCache.attach_wire``): it is returned as it is;
- **answer**: otherwise the call is answered through ``ContentService.answer`` (the same
  cache-aside lookup, single-flight and computation the tool body uses) and put in the
  wire shape the SDK gave this tool's first result in this process under this protocol
  version (:class:`WireShape`). The shape is learned, never assumed: until the SDK has
  produced one successful result of the tool, every call goes through the SDK; a result
  whose members are not exactly "one text block holding the structured content's own
  JSON, plus members that do not depend on the answer" teaches nothing, so such a tool
  keeps going through the SDK.

Why neither can differ from what the SDK would answer:

- the call is planned exactly as the tool body plans it: the SDK's own argument model
  for the same function (``Tool.from_function``), then the same ``plan_*`` method with
  every authorization, campaign-scope, readiness and input check, then the same cache
  key (role, campaign scope, model, content and KPI versions included);
- the request passes the same spec validation the SDK applies
  (``mcp_types.methods.validate_client_request``);
- answers are validated when computed (each through its pydantic model, the one the
  advertised output schema is generated from) and stored as that model's dump; the
  SDK's second validation of the same dict is what the answer path saves;
- a stored wire result lives in the answer's own in-process entry, so it expires, is
  evicted and is invalidated with it, exists only for answers Redis holds, is kept per
  protocol version (the wire shape depends on it), and only a successful hit
  (``cached: true``) is stored; it is replayed only to a caller whose own text it
  repeats (answers are shared by callers whose queries differ only in case; see
  ``AnswerPlan.echo``);
- only HTTP calls are answered here: each stateless HTTP request is complete in itself,
  while a stdio session has an initialization gate that runs inside the middleware chain;
- anything unusual (unknown request members, arguments the model rejects, a failed
  check, no principal, an answer that raised) goes to the SDK, which answers or rejects
  it as always, with the tool's own error. A call whose answer raised here is therefore
  planned and tried again there (errors after a successful plan are rare: a warehouse
  that stopped answering, say), and its cache miss is counted twice.

Metrics and the call log are the same as for a call served by the tool body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mcp.server.context import CallNext, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp_types.methods import validate_client_request
from pydantic import ValidationError
from starlette.requests import Request

from mcp_server.access.auth import AuthorizationError, Principal
from mcp_server.answers import wire
from mcp_server.memo import BoundedMemo, canonical
from mcp_server.service import AnswerPlan, ContentService, ToolInputError, ToolUnavailableError

# A tool's validated arguments -> its plan, for this caller. The tool body calls the same.
Planner = Callable[[ContentService, Principal, dict[str, Any]], AnswerPlan]

# Request members this path may ignore; any other member may mean something to the SDK.
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
# The members of a result that carry the answer; the rest must not depend on it.
_ANSWER_MEMBERS = frozenset({"content", "structuredContent"})


@dataclass(frozen=True)
class CachedTool:
    """A cacheable tool: the SDK's view of its function (for the argument model) and its
    planner."""

    tool: Tool
    plan: Planner

    @classmethod
    def of(cls, fn: Callable[..., Any], name: str, plan: Planner) -> CachedTool:
        return cls(Tool.from_function(fn, name=name), plan)


@dataclass(frozen=True)
class WireShape:
    """How the SDK put one tool's successful result on the wire under one protocol
    version: the answer as structured content and as its JSON text, plus ``rest`` (for
    example ``isError: false``), which does not depend on the answer."""

    rest: dict[str, Any]

    @classmethod
    def learn(cls, result: object) -> WireShape | None:
        """The shape of ``result`` if it is exactly a successful answer the way
        ``wire.structured_result`` hands it to the SDK; else None (nothing learned)."""
        if not isinstance(result, dict) or result.get("isError"):
            return None
        structured, content = result.get("structuredContent"), result.get("content")
        if not isinstance(structured, dict) or not isinstance(content, list):
            return None
        if len(content) != 1 or content[0] != {
            "type": "text",
            "text": wire.dumps(structured).decode(),
        }:
            return None
        return cls({k: v for k, v in result.items() if k not in _ANSWER_MEMBERS})

    def result(self, answer: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.rest,
            "content": [{"type": "text", "text": wire.dumps(answer).decode()}],
            "structuredContent": answer,
        }


def _hit(result: object) -> dict[str, Any] | None:
    """``result`` if it is a successful cache hit in wire form (what a repeat returns)."""
    if not isinstance(result, dict) or result.get("isError"):
        return None
    structured = result.get("structuredContent")
    return result if isinstance(structured, dict) and structured.get("cached") is True else None


def _echoes(wire_result: dict[str, Any], echo: dict[str, Any]) -> bool:
    """The stored result repeats this caller's own text (else the call is answered
    afresh, with this caller's text, and that result becomes the stored one)."""
    structured = wire_result.get("structuredContent") or {}
    return all(structured.get(name) == value for name, value in echo.items())


@dataclass(frozen=True)
class _Planned:
    tool: str
    principal: Principal
    key: str
    plan: AnswerPlan


def answer_cacheable_calls(
    service: ContentService,
    cached_tools: Iterable[CachedTool],
    principal_of: Callable[[Request], Principal | None],
) -> ServerMiddleware[Any]:
    tools = {cached.tool.name: cached for cached in cached_tools}
    # Requests already validated (the SDK's request model, then the tool's argument model)
    # -> the validated arguments: a repeat skips both (see memo.py). The plan, with every
    # authorization, scope and readiness check, still runs on every call.
    validated_requests: BoundedMemo[dict[str, Any]] = BoundedMemo()
    # (tool, protocol version) -> the shape the SDK gave its results (see WireShape).
    shapes: dict[tuple[str, str], WireShape] = {}

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        planned = _plan(ctx) if ctx.method == "tools/call" else None
        if planned is None:
            return await call_next(ctx)
        protocol = ctx.protocol_version
        held = service.cache.replay_wire(planned.key, protocol)
        if held is not None and _echoes(held, planned.plan.echo):
            async with service.observe(planned.tool, planned.principal):
                service.metrics.record_cache(planned.tool, hit=True, local=True, replayed=True)
            return dict(held)
        shape = shapes.get((planned.tool, protocol))
        if shape is not None:
            answered = await _answer(planned, shape, protocol)
            if answered is not None:
                return answered
        result = await call_next(ctx)
        if shape is None:
            learned = WireShape.learn(result)
            if learned is not None:
                shapes[(planned.tool, protocol)] = learned
        hit = _hit(result)
        if hit is not None:
            service.cache.attach_wire(planned.key, protocol, hit)
        return result

    async def _answer(planned: _Planned, shape: WireShape, protocol: str) -> Any:
        """The call answered here, or None: the SDK path answers (and reports) it."""
        start = time.perf_counter()
        try:
            answer = await service.answer(planned.principal, planned.plan)
        except Exception:  # the tool body raises it again, as its own error
            return None
        service.report_call(planned.tool, planned.principal, "ok", time.perf_counter() - start)
        service.metrics.record_protocol_layer_answer(planned.tool)
        result = shape.result(answer)
        if answer.get("cached") is True:
            service.cache.attach_wire(planned.key, protocol, result)
        return result

    def _plan(ctx: ServerRequestContext[Any, Any]) -> _Planned | None:
        """The tool, caller, answer key and plan of a call this path may answer."""
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
        return None if key is None else _Planned(name, principal, key, plan)

    return middleware
