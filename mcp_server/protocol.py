"""The SDK's MCP server, with corrections the MCP conformance suite and the
specification asked for.

* ``prompts/get`` for a name the server does not have raised a plain ``ValueError``
  inside the SDK, whose catch-all answers any such exception with JSON-RPC error code 0
  and logs a traceback, once per call. The specification's code for an invalid prompt
  name is -32602 (Invalid params). This server offers no prompts, so every
  ``prompts/get`` takes this path.
* ``tools/call`` of a tool the server does not have is -32602 too ("Unknown tool: ..."),
  the specification's protocol error for an unknown tool (its error-handling section and
  example). The SDK answered it as a tool execution error (a result with ``isError``),
  which the specification keeps for a tool that ran and failed, or for arguments a model
  could correct; a wrong tool name is neither, and a client told ``isError`` may retry it.
* ``logging/setLevel`` (protocol versions 2025-06-18 and 2025-11-25; SEP-2577 deprecates
  the logging capability from 2026-07-28, and the SDK refuses it there) is accepted: the
  level is validated by the SDK's model (an unknown level is -32602) and the answer is
  the empty result the specification asks for. The level filters the log notifications
  this server sends, and it sends none: it is stateless and answers every request with
  one JSON body, so there is no stream a notification could travel on (its own logs go to
  its structured log, never to a client). So every level holds, and a client written for
  those versions that sets a level before working, as many do, is not refused.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    EmptyResult,
    GetPromptResult,
    InputRequiredResult,
    SetLevelRequestParams,
)


async def _accept_log_level(
    ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
) -> EmptyResult:
    """The specification's empty result: no notification is ever sent to filter."""
    return EmptyResult()


class PromptSalesMCPServer(MCPServer[Any]):
    """``MCPServer`` answering an unknown tool or prompt name with -32602, and accepting
    ``logging/setLevel`` (which declares the ``logging`` capability)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lowlevel_server.add_request_handler(
            "logging/setLevel", SetLevelRequestParams, _accept_log_level
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self._tool_manager.get_tool(name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {name}")
        return await super().call_tool(name, arguments, context)

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        if name not in {prompt.name for prompt in await self.list_prompts()}:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}")
        return await super().get_prompt(name, arguments, context)
