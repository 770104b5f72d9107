"""The MCP tool surface: typed inputs, structured outputs, errors that name the field.

Input bounds are part of each tool's JSON schema (the SDK validates before the function
runs, and a violation comes back as a tool error naming the field). Caller identity comes
from the HTTP request the SDK attaches to the call, or, on stdio, from local settings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.context import CallNext, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ListToolsResult, ToolAnnotations
from pydantic import Field, ValidationError
from starlette.requests import Request

from mcp_server.access.auth import (
    TOOL_ROLES,
    AuthorizationError,
    Principal,
    principal_from_access_token,
)
from mcp_server.answers.wire import structured_result
from mcp_server.arguments import Gate, enforce_schemas, strict_schemas
from mcp_server.content_model import CampaignId, ContentFilters, Language, MediaType, Tag
from mcp_server.messages.channels import Channel
from mcp_server.messages.generation import Tone
from mcp_server.protocol_path import CachedTool, Planner, answer_cacheable_calls
from mcp_server.service import (
    AnswerPlan,
    CampaignContacts,
    CampaignMessages,
    CampaignPerformance,
    ContentResult,
    ContentService,
    Diversity,
    ToolInputError,
    ToolUnavailableError,
)

MAX_QUERY_CHARS = 1000
MAX_RESULTS = 50
MAX_MESSAGES = 10

Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to find")]
Limit = Annotated[int, Field(ge=1, le=MAX_RESULTS, description="How many items (1-50)")]
Segment = Annotated[
    str, Field(min_length=1, max_length=200, description="Audience segment, e.g. 'runners 25-34'")
]
Count = Annotated[int, Field(ge=1, le=MAX_MESSAGES, description="Number of variants (1-10)")]
DiversityArg = Annotated[
    Diversity,
    Field(description="'product': the best item of each product first, then the rest"),
]
TagList = Annotated[list[Tag], Field(max_length=20, description="Items must carry every tag")]


def principal_of(request: Request | None, stdio: Principal | None) -> Principal | None:
    """The authenticated principal of an HTTP request; stdio calls act as the local operator.

    ``stdio`` is set only when the server was built for stdio, so a call that somehow
    arrived without an HTTP request on an HTTP server is never mistaken for a local one.
    """
    if request is None:
        return stdio
    user = request.scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        return None
    return principal_from_access_token(user.access_token)


def caller(ctx: Context, stdio: Principal | None) -> Principal:
    principal = principal_of(ctx.request_context.request, stdio)
    if principal is None:
        raise ToolError("authentication required")
    return principal


def tools_for_role(stdio: Principal | None) -> ServerMiddleware[Any]:
    """List only the tools the caller's role may call (calls are checked again anyway)."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        result = await call_next(ctx)
        if ctx.method != "tools/list":
            return result
        request = ctx.request if isinstance(ctx.request, Request) else None
        principal = principal_of(request, stdio)
        role = principal.role if principal is not None else None

        def allowed(name: str) -> bool:
            return role in TOOL_ROLES.get(name, frozenset())

        # The handler's result reaches middleware as a model or already as its wire dict.
        if isinstance(result, ListToolsResult):
            return result.model_copy(update={"tools": [t for t in result.tools if allowed(t.name)]})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            return {**result, "tools": [t for t in result["tools"] if allowed(t.get("name", ""))]}
        return result

    return middleware


def gate(stdio: Principal | None) -> Gate:
    """Why this request's caller may not call ``tool`` (the tool's own words), or None."""

    def refusal(ctx: ServerRequestContext[Any, Any], tool: str) -> str | None:
        request = ctx.request if isinstance(ctx.request, Request) else None
        principal = principal_of(request, stdio)
        if principal is None:
            return "authentication required"
        try:
            principal.require_tool(tool)
        except AuthorizationError as exc:
            return str(exc)
        return None

    return refusal


def _tool_error(exc: Exception) -> ToolError:
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return ToolError(f"invalid argument(s): {', '.join(fields)}")
    return ToolError(str(exc))


_EXPECTED = (ToolInputError, ToolUnavailableError, AuthorizationError, ValidationError)


# Planners: a cacheable tool's validated arguments -> its plan. The tool bodies below and
# the protocol-layer answer path (protocol_path.py) both plan through these, with the arguments
# the SDK validated against the tool's own signature (so no defaults are repeated here).


def plan_get_content(service: ContentService, p: Principal, a: dict[str, Any]) -> AnswerPlan:
    filters = ContentFilters(
        campaign_id=a["campaign_id"],
        tags=a["tags"] or [],
        media_type=a["media_type"],
        language=a["language"],
    )
    return service.plan_content(p, a["query"], filters, a["limit"], a["diversity"])


def plan_messages(service: ContentService, p: Principal, a: dict[str, Any]) -> AnswerPlan:
    return service.plan_messages(
        p,
        campaign_id=a["campaign_id"],
        segment=a["segment"],
        channel=a["channel"],
        count=a["count"],
        tone=a["tone"],
        language=a["language"],
    )


def plan_performance(service: ContentService, p: Principal, a: dict[str, Any]) -> AnswerPlan:
    return service.plan_campaign_performance(p, a["campaign_id"], a["date_from"], a["date_to"])


def register_tools(server: MCPServer, service: ContentService, stdio: Principal | None) -> None:
    server.middleware.append(tools_for_role(stdio))
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    async def answer(
        ctx: Context, tool: str, planner: Planner, arguments: dict[str, Any]
    ) -> CallToolResult:
        principal = caller(ctx, stdio)
        try:
            async with service.observe(tool, principal):
                plan = planner(service, principal, arguments)
                return structured_result(await service.answer(principal, plan))
        except _EXPECTED as exc:
            raise _tool_error(exc) from None

    @server.tool(
        name="getContent",
        title="Search marketing content",
        description=(
            "Semantic search over the PromptSales content library (images, video, copy). "
            "Returns up to `limit` items ranked by cosine similarity of their embedding to "
            "the query, optionally restricted to a campaign, tags (all must match), a media "
            "type and a language. Campaign-scoped credentials only see their campaign."
        ),
        annotations=read_only,
    )
    async def get_content(
        query: Query,
        ctx: Context,
        campaign_id: CampaignId | None = None,
        tags: TagList | None = None,
        media_type: MediaType | None = None,
        language: Language | None = None,
        limit: Limit = 10,
        diversity: DiversityArg = "none",
    ) -> Annotated[CallToolResult, ContentResult]:
        arguments = {
            "query": query,
            "campaign_id": campaign_id,
            "tags": tags,
            "media_type": media_type,
            "language": language,
            "limit": limit,
            "diversity": diversity,
        }
        return await answer(ctx, "getContent", plan_get_content, arguments)

    @server.tool(
        name="generateCampaignMessages",
        title="Generate campaign message variants",
        description=(
            "Write `count` message variants for a campaign's audience segment on one channel "
            "(email: subject <= 60 chars; sms: <= 160 chars; social: <= 280; push: title <= 50, "
            "body <= 178). Variants are grounded in the campaign's content items and its "
            "warehouse KPIs for the last 90 days, and cite both. `generator` says whether an "
            "OpenAI-compatible model or the offline generator wrote them."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    )
    async def generate_campaign_messages(
        campaign_id: CampaignId,
        segment: Segment,
        channel: Channel,
        ctx: Context,
        count: Count = 3,
        tone: Tone = "friendly",
        language: Language = "en",
    ) -> Annotated[CallToolResult, CampaignMessages]:
        arguments = {
            "campaign_id": campaign_id,
            "segment": segment,
            "channel": channel,
            "count": count,
            "tone": tone,
            "language": language,
        }
        return await answer(ctx, "generateCampaignMessages", plan_messages, arguments)

    @server.tool(
        name="getCampaignPerformance",
        title="Campaign KPIs",
        description=(
            "Aggregated KPIs of one campaign from the warehouse for an inclusive date range "
            "(at most 366 days): totals with ratios of sums (ctr, cpc, cpa, roas) and one row "
            "per day. Aggregates only; no personal data."
        ),
        annotations=read_only,
    )
    async def get_campaign_performance(
        campaign_id: CampaignId,
        date_from: dt.date,
        date_to: dt.date,
        ctx: Context,
    ) -> Annotated[CallToolResult, CampaignPerformance]:
        arguments = {"campaign_id": campaign_id, "date_from": date_from, "date_to": date_to}
        return await answer(ctx, "getCampaignPerformance", plan_performance, arguments)

    if service.contacts is not None:
        register_contacts_tool(server, service, stdio)

    # Arguments are checked against the advertised schema before anything else runs
    # (see arguments.py), then cacheable calls are answered at the protocol layer (see
    # protocol_path.py): repeats held in process replayed, the rest without the SDK's dispatch.
    names = [tool.name for tool in server._tool_manager.list_tools()]
    server.middleware.append(
        enforce_schemas(server, strict_schemas(server, names), service.metrics, gate(stdio))
    )
    cached = (
        CachedTool.of(get_content, "getContent", plan_get_content),
        CachedTool.of(generate_campaign_messages, "generateCampaignMessages", plan_messages),
        CachedTool.of(get_campaign_performance, "getCampaignPerformance", plan_performance),
    )
    # HTTP only (see protocol_path.py), so a request always carries the principal.
    server.middleware.append(
        answer_cacheable_calls(service, cached, lambda r: principal_of(r, None))
    )


def register_contacts_tool(
    server: MCPServer, service: ContentService, stdio: Principal | None
) -> None:
    """getCampaignContacts: only where the PII keyring is configured."""

    @server.tool(
        name="getCampaignContacts",
        title="Campaign customer contacts (sales)",
        description=(
            "Contact details (name, email, phone, city) of customers with a lead or conversion "
            "in the caller's own campaign, most recent first. Sales role only, and only with a "
            "credential scoped to that campaign. Never cached."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def get_campaign_contacts(
        campaign_id: CampaignId,
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100, description="How many contacts (1-100)")] = 20,
    ) -> CampaignContacts:
        principal = caller(ctx, stdio)
        try:
            async with service.observe("getCampaignContacts", principal):
                return await service.campaign_contacts(principal, campaign_id, limit)
        except _EXPECTED as exc:
            raise _tool_error(exc) from None
