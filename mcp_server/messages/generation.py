"""Campaign message variants: what a variant is, what it is grounded in, and the checks
every variant passes before it leaves the server, whoever wrote it.

Two generators write :class:`Draft` s from the same :class:`Grounding` (retrieved content
items and the campaign's KPI totals): the offline phrasebook generator
(``copywriter.py``) and a model on any OpenAI-compatible endpoint
(``model_generator.py``). :func:`check_draft` is the one definition of a good variant:
within the channel's limits (SMS counted as carriers count it), citing only the items
and KPIs it was given, with no figure the grounding does not hold, and with no asset
text (titles, captions, descriptions of the media). The evaluation in
``bench/messages_eval.py`` scores with the same checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from mcp_server.content_model import ContentItem
from mcp_server.messages.assets import leaked_asset_text
from mcp_server.messages.channels import CHANNEL_LIMITS, Channel, SmsEncoding, sms_count

Tone = Literal["friendly", "professional", "playful", "urgent", "luxury"]
WrittenBy = Literal["model", "offline"]


class Citations(BaseModel):
    content_ids: list[str]
    kpis: dict[str, float | int | None] = Field(
        description="The KPI totals this variant's text draws on (a subset of the period's)"
    )
    kpi_period: str | None = None


class SmsInfo(BaseModel):
    encoding: SmsEncoding
    units: int = Field(description="GSM-7 septets or UCS-2 code units")
    segments: int


class MessageVariant(BaseModel):
    variant: int
    channel: Channel
    subject: str | None = Field(default=None, description="Email subject or push title")
    preheader: str | None = Field(default=None, description="Email preview text")
    body: str
    cta: str | None = Field(default=None, description="Email call to action (button text)")
    hashtags: list[str] = Field(default_factory=list)
    length: int = Field(description="Characters in the body")
    sms: SmsInfo | None = Field(default=None, description="How a carrier sends the SMS body")
    written_by: WrittenBy
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


@dataclass(frozen=True)
class Draft:
    """One variant as a generator wrote it, before numbering and citation expansion."""

    subject: str | None
    preheader: str | None
    body: str
    cta: str | None
    hashtags: list[str]
    content_ids: list[str]
    kpis: list[str]  # names of the grounding's KPIs the text uses
    written_by: WrittenBy = "offline"


@dataclass(frozen=True)
class Generated:
    drafts: list[Draft]
    generator: str
    fallback_reason: str | None = None
    notes: list[str] = field(default_factory=list)


class GenerationError(RuntimeError):
    """The generator could not produce variants (endpoint down, unusable answer, input)."""


class Generator(Protocol):
    name: str

    def generate(self, grounding: Grounding, count: int) -> Generated:
        """``count`` distinct drafts, or GenerationError."""
        ...


# --- the checks ---------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _digits(token: str) -> str:
    return token.replace(",", "").replace(".", "").lstrip("0") or "0"


def grounded_figures(grounding: Grounding) -> set[str]:
    """Every figure a variant may state: those in the KPIs (also as percentages of
    ratios), the items' text, the campaign name and the segment, digits only."""
    figures: set[str] = set()
    for value in grounding.kpis.values():
        if value is None:
            continue
        figures.add(_digits(f"{value}"))
        if isinstance(value, float):
            figures.update(_digits(f"{value:.{p}f}") for p in (0, 1, 2))
            if value < 1:
                figures.update(_digits(f"{value * 100:.{p}f}") for p in (0, 1, 2))
        else:
            figures.add(_digits(f"{value:,}"))
    texts = [grounding.campaign_name or "", grounding.segment]
    for item in grounding.items:
        texts.extend([item.title, item.caption, item.description, " ".join(item.tags)])
    for text in texts:
        figures.update(_digits(m) for m in _NUMBER.findall(text))
    return figures


def draft_text(draft: Draft) -> str:
    return " ".join(p for p in (draft.subject, draft.preheader, draft.body, draft.cta) if p)


def check_draft(grounding: Grounding, draft: Draft) -> list[str]:
    """What is wrong with ``draft`` (empty: nothing), each problem naming the part."""
    problems: list[str] = []
    limits = CHANNEL_LIMITS[grounding.channel]
    if not draft.body.strip():
        problems.append("body: empty")
    if grounding.channel == "sms":
        count = sms_count(draft.body)
        if count.segments != 1:
            problems.append(
                f"body: {count.units} {count.encoding} units is {count.segments} SMS segments"
            )
    elif len(draft.body) > limits.body:
        problems.append(f"body: {len(draft.body)} characters, limit {limits.body}")
    for part, value, limit in (
        ("subject", draft.subject, limits.subject),
        ("preheader", draft.preheader, limits.preheader),
        ("cta", draft.cta, limits.cta),
    ):
        if limit is None:
            if value:
                problems.append(f"{part}: {grounding.channel} has none")
        elif not value:
            problems.append(f"{part}: missing")
        elif len(value) > limit:
            problems.append(f"{part}: {len(value)} characters, limit {limit}")
    known_ids = {i.id for i in grounding.items}
    unknown = [i for i in draft.content_ids if i not in known_ids]
    if unknown:
        problems.append(f"citations: content ids not in the grounding: {unknown[:3]}")
    unknown_kpis = [k for k in draft.kpis if k not in grounding.kpis]
    if unknown_kpis:
        problems.append(f"citations: KPIs not in the grounding: {unknown_kpis[:3]}")
    text = draft_text(draft) + " " + " ".join(draft.hashtags)
    allowed = grounded_figures(grounding)
    invented = sorted({m for m in _NUMBER.findall(text) if _digits(m) not in allowed})
    if invented:
        problems.append(f"figures not in the grounding: {invented[:3]}")
    leaks = leaked_asset_text(text, grounding.items)
    if leaks:
        problems.append(f"asset text copied: {leaks[:2]}")
    return problems


def duplicates(drafts: Sequence[Draft]) -> list[int]:
    """Indexes of drafts whose subject and body repeat an earlier draft's."""
    seen: set[tuple[str, str]] = set()
    repeated: list[int] = []
    for n, draft in enumerate(drafts):
        key = ((draft.subject or "").casefold(), " ".join(draft.body.split()).casefold())
        if key in seen:
            repeated.append(n)
        seen.add(key)
    return repeated


def render_variants(grounding: Grounding, drafts: Sequence[Draft]) -> list[MessageVariant]:
    """Number the drafts, expand citations to the cited KPIs' values, count SMS units.

    Drafts reaching this point have passed :func:`check_draft`; a variant is never cut
    here (cutting is how the earlier generator produced repeats and broken sentences).
    """
    out = []
    for n, draft in enumerate(drafts, start=1):
        count = sms_count(draft.body) if grounding.channel == "sms" else None
        out.append(
            MessageVariant(
                variant=n,
                channel=grounding.channel,
                subject=draft.subject,
                preheader=draft.preheader,
                body=draft.body,
                cta=draft.cta,
                hashtags=draft.hashtags,
                length=len(draft.body),
                sms=SmsInfo(encoding=count.encoding, units=count.units, segments=count.segments)
                if count
                else None,
                written_by=draft.written_by,
                citations=Citations(
                    content_ids=draft.content_ids,
                    kpis={k: grounding.kpis[k] for k in draft.kpis if k in grounding.kpis},
                    kpi_period=grounding.kpi_period if draft.kpis else None,
                ),
            )
        )
    return out
