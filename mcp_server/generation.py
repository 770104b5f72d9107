"""Campaign message variants: channel limits, the offline generator and the OpenAI one.

Both generators receive the same grounding (retrieved content items and the campaign's
KPI totals) and both outputs go through :func:`fit_to_channel`, so a variant that breaks
a channel limit can never leave the server, whoever wrote it. Each variant cites the
content ids and KPI names it drew on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from mcp_server.content.models import ContentItem

log = logging.getLogger(__name__)

Channel = Literal["email", "sms", "social", "push"]
Tone = Literal["friendly", "professional", "playful", "urgent", "luxury"]


@dataclass(frozen=True)
class ChannelLimits:
    body: int
    subject: int | None  # email subject or push title; None where the channel has none


# SMS: one GSM-7 segment. Email subject: what inboxes show before truncating.
# Social: the strictest large network (280). Push: title and body as iOS/Android show them.
CHANNEL_LIMITS: dict[str, ChannelLimits] = {
    "sms": ChannelLimits(body=160, subject=None),
    "email": ChannelLimits(body=2000, subject=60),
    "social": ChannelLimits(body=280, subject=None),
    "push": ChannelLimits(body=178, subject=50),
}


class Citations(BaseModel):
    content_ids: list[str]
    kpis: dict[str, float | int | None]
    kpi_period: str | None = None


class MessageVariant(BaseModel):
    variant: int
    channel: Channel
    subject: str | None = Field(default=None, description="Email subject or push title")
    body: str
    length: int
    citations: Citations


@dataclass(frozen=True)
class Grounding:
    campaign_id: str
    campaign_name: str | None
    segment: str
    channel: Channel
    tone: Tone
    language: str
    items: Sequence[ContentItem]
    kpis: dict[str, float | int | None]
    kpi_period: str | None


class GenerationError(RuntimeError):
    """The generator could not produce variants (endpoint down, unusable answer)."""


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis; text already within the limit is unchanged."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(",.;:-– ") + "…"


def fit_to_channel(channel: Channel, subject: str | None, body: str) -> tuple[str | None, str]:
    limits = CHANNEL_LIMITS[channel]
    fitted_subject = None
    if limits.subject is not None:
        fitted_subject = shorten(subject or body, limits.subject)
    return fitted_subject, shorten(body, limits.body)


class Generator(Protocol):
    name: str

    def generate(self, grounding: Grounding, count: int) -> list[tuple[str | None, str, list[str]]]:
        """(subject, body, cited content ids) per variant."""
        ...


_OPENERS: dict[str, tuple[str, ...]] = {
    "friendly": ("Hi there!", "Good news:", "We thought you'd like this:"),
    "professional": ("Introducing", "Now available:", "For your consideration:"),
    "playful": ("Psst!", "Guess what?", "Plot twist:"),
    "urgent": ("Last chance:", "Ends soon:", "Don't miss out:"),
    "luxury": ("Discover", "Exclusively for you:", "An invitation:"),
}
_CTAS: dict[str, str] = {
    "email": "See the collection",
    "sms": "Shop now",
    "social": "Tap the link to explore",
    "push": "Open the app",
}


def _kpi_hook(kpis: dict[str, float | int | None]) -> tuple[str, list[str]]:
    """A phrase grounded in the campaign's numbers, and the KPI names it used."""
    conversions = kpis.get("conversions")
    ctr = kpis.get("ctr")
    if isinstance(conversions, int) and conversions >= 10:
        return f"Join {conversions:,} shoppers who already said yes.", ["conversions"]
    if isinstance(ctr, float) and ctr >= 0.02:
        return "Our most-clicked picks this season.", ["ctr"]
    return "Fresh picks, chosen for you.", []


class OfflineGenerator:
    """Template generator grounded in retrieved content and KPIs; English only, no network."""

    name = "offline"

    def generate(self, grounding: Grounding, count: int) -> list[tuple[str | None, str, list[str]]]:
        if grounding.language != "en":
            raise GenerationError(
                "language: the offline generator writes English only; configure "
                "PROMPTSALES_MCP_OPENAI_CHAT_MODEL for other languages"
            )
        hook, _ = _kpi_hook(grounding.kpis)
        openers = _OPENERS[grounding.tone]
        cta = _CTAS[grounding.channel]
        variants: list[tuple[str | None, str, list[str]]] = []
        items = list(grounding.items)
        for n in range(count):
            opener = openers[n % len(openers)]
            if items:
                item = items[n % len(items)]
                subject = f"{opener} {item.title}"
                lead = item.caption or item.title
                body = f"{opener} {lead}. {hook} {cta}."
                if grounding.channel == "email":
                    body += f"\n\n{item.description}"
                cited = [item.id]
            else:
                subject = f"{opener} something new for {grounding.segment}"
                body = f"{opener} {hook} {cta}."
                cited = []
            variants.append((subject, body, cited))
        return variants


_SYSTEM_PROMPT = (
    "You write marketing message variants. Use only facts from the provided content items "
    'and KPIs. Answer with JSON: {"variants": [{"subject": str|null, "body": str, '
    '"content_ids": [str]}]}.'
)


class OpenAIGenerator:
    """Chat-completions generation on OpenAI or any compatible endpoint."""

    def __init__(self, *, model: str, base_url: str | None, api_key: str | None, timeout: float):
        from openai import OpenAI

        self.name = f"openai:{model}"
        self._model = model
        self._client = OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout)

    def _prompt(self, grounding: Grounding, count: int) -> str:
        limits = CHANNEL_LIMITS[grounding.channel]
        payload: dict[str, Any] = {
            "campaign": {"id": grounding.campaign_id, "name": grounding.campaign_name},
            "segment": grounding.segment,
            "channel": grounding.channel,
            "limits": {"body_chars": limits.body, "subject_chars": limits.subject},
            "tone": grounding.tone,
            "language": grounding.language,
            "count": count,
            "kpis": grounding.kpis,
            "content_items": [
                {"id": i.id, "title": i.title, "caption": i.caption, "tags": i.tags}
                for i in grounding.items
            ],
        }
        return json.dumps(payload, ensure_ascii=False)

    def generate(self, grounding: Grounding, count: int) -> list[tuple[str | None, str, list[str]]]:
        from openai import OpenAIError

        try:
            response = self._client.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": _SYSTEM_PROMPT},
                    {"role": "user", "content": self._prompt(grounding, count)},
                ],
                response_format={"type": "json_object"},
            )
            content = response.choices[0].message.content or ""
            data = json.loads(content)
        except OpenAIError as exc:
            raise GenerationError(f"chat endpoint failed: {type(exc).__name__}") from None
        except (json.JSONDecodeError, IndexError, AttributeError):
            raise GenerationError("chat endpoint returned no usable JSON") from None
        known = {i.id for i in grounding.items}
        variants: list[tuple[str | None, str, list[str]]] = []
        raw_variants = data.get("variants") if isinstance(data, dict) else None
        for raw in (raw_variants or [])[:count]:
            if not isinstance(raw, dict) or not isinstance(raw.get("body"), str):
                continue
            subject = raw.get("subject") if isinstance(raw.get("subject"), str) else None
            ids = raw.get("content_ids")
            if not isinstance(ids, list):
                ids = []
            cited = [i for i in ids if isinstance(i, str) and i in known]  # no invented sources
            variants.append((subject, raw["body"], cited))
        if not variants:
            raise GenerationError("chat endpoint returned no variants")
        return variants


def render_variants(
    grounding: Grounding, raw: list[tuple[str | None, str, list[str]]]
) -> list[MessageVariant]:
    """Apply channel limits and attach citations (content ids and the KPIs given)."""
    out = []
    for n, (subject, body, cited) in enumerate(raw, start=1):
        fitted_subject, fitted_body = fit_to_channel(grounding.channel, subject, body)
        out.append(
            MessageVariant(
                variant=n,
                channel=grounding.channel,
                subject=fitted_subject,
                body=fitted_body,
                length=len(fitted_body),
                citations=Citations(
                    content_ids=cited, kpis=grounding.kpis, kpi_period=grounding.kpi_period
                ),
            )
        )
    return out
