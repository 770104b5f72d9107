"""The offline generator: campaign copy from the phrasebook, grounded in the retrieval.

What it takes from the content items is facts, never their text: a product name (the
item title without the asset words a library adds, such as "hero banner" or "lifestyle
photo"), and tags for hashtags. Titles, captions and descriptions describe the asset,
not the offer ("Studio product photograph on a clean background ..."), so none of them
is copied into a message. What it takes from the warehouse is one KPI figure (the
period's conversions) or a fact derived from one (a click-through rate of 2 % or more).

Variant ``n`` uses headline ``n`` and angle ``n`` of the tone's phrasebook (ten each)
and product ``n`` modulo the products found, so every variant up to the maximum count
differs in its subject and in its body. Each channel gets its own format (see
``channels.py``), built to fit rather than cut: optional parts are left out before any
sentence is shortened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_server.content_model import ContentItem
from mcp_server.messages.assets import hashtags, product_name
from mcp_server.messages.channels import (
    CHANNEL_LIMITS,
    fold_to_gsm7,
    shorten,
    shorten_sms,
    sms_fits,
)
from mcp_server.messages.copy_phrases import (
    ALSO,
    AND,
    ANGLES,
    BARGAIN_WORDS,
    CONVERSIONS_HOOK,
    CTAS,
    CTR_HOOK,
    FOR_SEGMENT,
    GREETINGS,
    HEADLINES,
    LANGUAGES,
    LEADS,
    OUR_COLLECTION,
)
from mcp_server.messages.generation import Draft, Generated, GenerationError, Grounding

CONVERSIONS_FOR_HOOK = 10
CTR_FOR_HOOK = 0.02


def _number(value: int, language: str) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if language == "es" else text


def kpi_hook(grounding: Grounding) -> tuple[str | None, list[str]]:
    """A sentence grounded in the KPIs, and the KPI names it cites."""
    conversions = grounding.kpis.get("conversions")
    ctr = grounding.kpis.get("ctr")
    if isinstance(conversions, int) and conversions >= CONVERSIONS_FOR_HOOK:
        hook = CONVERSIONS_HOOK[grounding.language]
        return hook.format(n=_number(conversions, grounding.language)), ["conversions"]
    if isinstance(ctr, float) and ctr >= CTR_FOR_HOOK:
        return CTR_HOOK[grounding.language], ["ctr"]
    return None, []


def _has_bargain_words(text: str) -> bool:
    words = set(re.findall(r"\w+", text.casefold()))
    return any(word in words for word in BARGAIN_WORDS)


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, *, product: str, segment: str, campaign: str) -> str:
    text = template.format(
        product=product,
        segment=segment,
        Segment=_capitalized(segment),
        campaign=campaign,
        Campaign=_capitalized(campaign),
    )
    return _capitalized(text)


class OfflineGenerator:
    """Phrasebook copy in English or Spanish; no network, deterministic."""

    name = "offline"
    languages = LANGUAGES

    def generate(self, grounding: Grounding, count: int) -> Generated:
        language = grounding.language
        if language not in LANGUAGES:
            raise GenerationError(
                "language: the offline generator writes "
                + ", ".join(LANGUAGES)
                + "; other languages need the model generator"
            )
        named = [(item, product_name(item)) for item in grounding.items]
        products = [(item, name) for item, name in named if name is not None]
        campaign = grounding.campaign_name or OUR_COLLECTION[language]
        if grounding.tone == "luxury" and _has_bargain_words(campaign):
            campaign = OUR_COLLECTION[language]
        hook, kpi_names = kpi_hook(grounding)
        drafts: list[Draft] = []
        seen: set[tuple[str | None, str]] = set()
        for n in range(count):
            draft = self._variant(grounding, n, products, campaign, hook, kpi_names)
            key = (draft.subject, draft.body)
            if key in seen:  # only if the phrasebook ran short: say so, never repeat
                raise GenerationError(f"count: at most {n} distinct variants for this input")
            seen.add(key)
            drafts.append(draft)
        return Generated(drafts, self.name)

    def _variant(
        self,
        grounding: Grounding,
        n: int,
        products: list[tuple[ContentItem, str]],
        campaign: str,
        hook: str | None,
        kpi_names: list[str],
    ) -> Draft:
        language, tone, channel = grounding.language, grounding.tone, grounding.channel
        headlines, angles = HEADLINES[language][tone], ANGLES[language]
        if products:
            item, product = products[n % len(products)]
            cited = [item.id]
        else:
            item, product, cited = None, campaign, []
        slots = {"product": product, "segment": grounding.segment, "campaign": campaign}
        template = headlines[n % len(headlines)]
        headline = _fill(template, **slots)
        # A long segment may not fit a subject: "for <segment>" becomes "for you".
        addressed = _fill(template.replace(*FOR_SEGMENT[language]), **slots)
        angle = _fill(angles[n % len(angles)], **slots)
        lead = LEADS[language][tone][n % len(LEADS[language][tone])]
        cta = CTAS[language][tone]
        used_kpis = kpi_names if hook else []
        if channel == "sms":
            body, kept_hook = _fit([lead, angle, hook, f"{cta}."], sms=True)
            return Draft(None, None, body, None, [], cited, used_kpis if kept_hook else [])
        if channel == "push":
            limits = CHANNEL_LIMITS["push"]
            title = _fit_subject(headline, addressed, limits.subject or 50)
            body, _ = _fit([lead, angle, None, f"{cta}."], limit=limits.body)
            return Draft(title, None, body, None, [], cited, [])
        if channel == "social":
            tags = hashtags(([item] if item else []) + [i for i, _ in products])
            if tone == "luxury":
                tags = [t for t in tags if not _has_bargain_words(t[1:])]
            tail = " ".join(tags)
            body, kept_hook = _fit([lead, angle, hook, f"{cta}."], limit=279 - len(tail))
            body = f"{body} {tail}".strip()
            return Draft(None, None, body, None, tags, cited, used_kpis if kept_hook else [])
        # email
        limits = CHANNEL_LIMITS["email"]
        subject = _fit_subject(headline, addressed, limits.subject or 60)
        preheader = shorten(_fill(angles[(n + 5) % len(angles)], **slots), limits.preheader or 100)
        greeting = GREETINGS[language][tone].format(segment=grounding.segment)
        others = [name for _, name in products if name != product]
        paragraphs = [greeting, f"{lead} {angle}"]
        if others:
            listed = AND[language].join(dict.fromkeys(others[:2]))
            paragraphs.append(ALSO[language].format(campaign=campaign, others=listed))
        if hook:
            paragraphs.append(hook)
        paragraphs.append(f"{cta}.")
        ids = cited + [i.id for i, name in products if name != product][:2]
        body = _paragraphs(paragraphs, limits.body)
        return Draft(subject, preheader, body, cta, [], list(dict.fromkeys(ids)), used_kpis)


def _paragraphs(paragraphs: list[str], limit: int) -> str:
    """An email body: paragraphs separated by blank lines, the "also" line (third of
    five) left out first if the body is too long, cut at a word only as a last resort."""
    body = "\n\n".join(paragraphs)
    if len(body) > limit and len(paragraphs) > 3:
        body = "\n\n".join(paragraphs[:2] + paragraphs[3:])
    return body if len(body) <= limit else shorten(body, limit)


def _fit_subject(headline: str, addressed: str, limit: int) -> str:
    """The headline within the subject/title limit: whole, else its lead before the
    colon (the part that carries the tone and the segment), else addressed to "you"
    instead of the segment, else cut at a word."""
    if len(headline) <= limit:
        return headline
    lead = headline.split(": ", 1)[0]
    if lead != headline and len(lead) <= limit:
        return lead
    if len(addressed) <= limit:
        return addressed
    return shorten(headline, limit)


def _fit(parts: Sequence[str | None], *, limit: int = 0, sms: bool = False) -> tuple[str, bool]:
    """``lead angle hook cta`` within the channel's limit, and whether the hook stayed.

    Optional parts go first (the hook, then the lead); the angle, which names the product
    and the segment, and the call to action stay; only then is the text shortened.
    """
    lead, angle, hook, cta = (fold_to_gsm7(p) if sms and p else p for p in parts)

    def fits(text: str) -> bool:
        return sms_fits(text) if sms else len(text) <= limit

    for chosen in ((lead, angle, hook, cta), (lead, angle, None, cta), (None, angle, None, cta)):
        text = " ".join(p for p in chosen if p)
        if fits(text):
            return text, chosen[2] is not None
    text = " ".join(p for p in (angle, cta) if p)
    return (shorten_sms(text) if sms else shorten(text, limit)), False
