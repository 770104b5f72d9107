"""Call the running MCP server the way an agent does: the SDK's client over HTTPS with a token.

What comes back is printed as the quick start's proof that the data plane works end to
end: content from MongoDB ranked by local embeddings, messages grounded in it, KPIs from
the warehouse, and the second identical call answered from the Redis cache.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


@dataclass(frozen=True)
class DemoResults:
    """Structured answers of each tool call, in call order."""

    content: dict[str, Any]
    content_again: dict[str, Any]
    messages: dict[str, Any]
    performance: dict[str, Any]


def _structured(result: Any, tool: str) -> dict[str, Any]:
    if getattr(result, "is_error", False):
        texts = [getattr(part, "text", "") for part in getattr(result, "content", [])]
        raise RuntimeError(f"{tool} returned a tool error: {' '.join(texts)}")
    data = result.structured_content
    if not isinstance(data, dict):
        raise RuntimeError(f"{tool} returned no structured content")
    return data


async def call_tools(
    url: str, ca_file: Path, token: str, campaign_id: int, today: dt.date
) -> DemoResults:
    """getContent (twice: the second is served from the cache), messages, performance.

    Answers are checked after the client has closed, so a tool error surfaces as one
    clear message rather than inside the transport's task-group exceptions.
    """
    verify = ssl.create_default_context(cafile=str(ca_file))
    headers = {"Authorization": f"Bearer {token}"}
    query = {"query": "summer running shoes for trail runners", "limit": 3}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("getContent", query),
        ("getContent", query),
        (
            "generateCampaignMessages",
            {
                "campaign_id": str(campaign_id),
                "segment": "runners 25-34",
                "channel": "sms",
                "count": 2,
                "tone": "friendly",
                "language": "en",
            },
        ),
        (
            "getCampaignPerformance",
            {
                "campaign_id": str(campaign_id),
                "date_from": (today - dt.timedelta(days=89)).isoformat(),
                "date_to": today.isoformat(),
            },
        ),
    ]
    raw: list[Any] = []
    async with (
        httpx2.AsyncClient(verify=verify, headers=headers, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        for tool, arguments in calls:
            raw.append(await client.call_tool(tool, arguments))
    content, again, messages, performance = (
        _structured(result, tool) for result, (tool, _) in zip(raw, calls, strict=True)
    )
    return DemoResults(content, again, messages, performance)
