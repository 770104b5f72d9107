"""The SDK's MCP server, with the specification's error code where the SDK sends code 0.

The MCP conformance scenarios ``prompts-get-*`` found it: ``prompts/get`` for a name the
server does not have raised a plain ``ValueError`` inside the SDK, whose catch-all answers
any such exception with JSON-RPC error code 0 and logs a traceback, once per call. The
specification's code for an invalid prompt name is -32602 (Invalid params). This server
offers no prompts, so every ``prompts/get`` takes this path.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, GetPromptResult, InputRequiredResult


class PromptSalesMCPServer(MCPServer[Any]):
    """``MCPServer`` answering an unknown prompt name with -32602, not code 0."""

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        if name not in {prompt.name for prompt in await self.list_prompts()}:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}")
        return await super().get_prompt(name, arguments, context)
