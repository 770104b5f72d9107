"""Evaluation of ``generateCampaignMessages``: does the copy read as a marketer's would?

    python -m bench.messages_eval [--count 10] [--out bench/results/messages_eval.json]

Grid: the seed library's five campaigns x four channels x five segments x five tones x
two languages (English and Spanish), ``count`` variants each, written by the offline
generator and, when ``PROMPTSALES_MCP_OPENAI_CHAT_MODEL`` (with ``..._OPENAI_BASE_URL``
and ``..._OPENAI_API_KEY``) is set, by that model through the server's own model path.
Grounding is what the server would give the generator: the campaign's items, one per
product (``service.one_per_product``), and KPI totals (synthetic, spread from none to
tens of thousands of conversions so every KPI hook is exercised).

Scores per generator (targets in brackets):

- ``distinct_ratio``: distinct (subject, body) pairs / variants, per call, worst call
  and mean [1.0];
- ``limit_violations``: variants over a channel limit, SMS counted by the carrier's
  encoding (GSM-7 septets or UCS-2 units, one segment) [0];
- ``asset_leaks``: variants carrying an item's title, caption, description or shot words
  [0];
- ``citation_errors``: variants citing content ids or KPIs they were not given, or
  stating a figure the grounding does not hold [0];
- ``segment_reflected``: share of variants that name the segment [1.0];
- ``tone_reflected``: share of variants with a marker of their tone from an independent
  lexicon below (not the phrasebook), and no discount wording in ``luxury`` [1.0].

The lexicon check is a proxy for tone, not a judgement of it; it catches the failure
the issue reported (one tone-less template for every tone).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_server.content.seed import SEED_CAMPAIGNS, seed_items
from mcp_server.content_model import ContentItem
from mcp_server.messages.assets import leaked_asset_text
from mcp_server.messages.channels import CHANNELS, fold_to_gsm7, sms_count
from mcp_server.messages.copywriter import OfflineGenerator
from mcp_server.messages.generation import Draft, Generator, Grounding, check_draft, draft_text
from mcp_server.service import GROUNDING_ITEMS, one_per_product

TONES = ("friendly", "professional", "playful", "urgent", "luxury")
LANGUAGES = ("en", "es")
SEGMENTS = {
    "en": (
        "weekend trail runners",
        "new parents",
        "young professionals 25-34",
        "retirees who travel",
        "students on a budget",
    ),
    "es": (
        "corredores de fin de semana",
        "padres primerizos",
        "jóvenes profesionales de 25 a 34",
        "jubilados viajeros",
        "estudiantes con presupuesto ajustado",
    ),
}
CAMPAIGN_NAMES = {
    "1001": "Trail season",
    "1002": "Summer sale",
    "1003": "Black Friday",
    "1004": "Holiday gifts",
    "1005": "Everyday wellness",
}
KPIS: dict[str, dict[str, float | int | None]] = {
    "1001": {"impressions": 250_000, "clicks": 6_000, "conversions": 1_234, "ctr": 0.024},
    "1002": {"impressions": 90_000, "clicks": 2_700, "conversions": 8, "ctr": 0.03},
    "1003": {"impressions": 1_200_000, "clicks": 18_000, "conversions": 56_789, "ctr": 0.015},
    "1004": {"impressions": 0, "clicks": 0, "conversions": 0, "ctr": None},
    "1005": {"impressions": 40_000, "clicks": 400, "conversions": 12, "ctr": 0.01},
}
PERIOD = "2026-06-01/2026-08-29"

# Independent of the phrasebook: words a reader takes as each tone.
TONE_MARKERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "friendly": ("hi", "hello", "good news", "love", "like", "nice", "favourite", "look"),
        "professional": ("introducing", "available", "designed", "recommended", "learn more"),
        "playful": ("psst", "guess", "plot twist", "fun", "spoiler", "knock", "treat", "hey"),
        "urgent": ("now", "don't", "today", "quick", "fast", "act", "heads up", "wait"),
        "luxury": ("discover", "exclusive", "invitation", "crafted", "refined", "elegance"),
    },
    "es": {
        "friendly": ("hola", "buenas noticias", "encantar", "vistazo", "favorito", "especial"),
        "professional": ("presentamos", "disponible", "diseñado", "recomendado", "información"),
        "playful": ("psst", "adivina", "giro", "spoiler", "toc", "capricho", "oye", "sonrisas"),
        "urgent": ("ya", "no esperes", "hoy", "prisa", "rápido", "momento", "no te lo pierdas"),
        "luxury": ("descubre", "exclusiva", "invitación", "refinado", "elegancia", "creado"),
    },
}
DISCOUNT_WORDS = ("deal", "sale", "% off", "cheap", "discount", "oferta", "descuento", "rebaja")
LIMIT_WORDS = ("characters, limit", "SMS segments", ": missing", "has none", "body: empty")
CITATION_WORDS = ("citations:", "figures not in the grounding")


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def tone_reflected(draft: Draft, tone: str, language: str) -> bool:
    text = draft_text(draft).casefold()
    if tone == "luxury" and any(w in text for w in DISCOUNT_WORDS):
        return False
    markers = TONE_MARKERS[language][tone]
    folded = [m.casefold() for m in markers]
    return any(_has_word(text, m) for m in folded)


def segment_reflected(draft: Draft, segment: str, channel: str) -> bool:
    """The segment is named (in an SMS, as written in the GSM-7 alphabet)."""
    if channel == "sms":
        return fold_to_gsm7(segment).casefold() in draft_text(draft).casefold()
    return segment.casefold() in draft_text(draft).casefold()


def groundings(count_items: int = GROUNDING_ITEMS) -> list[Grounding]:
    items = seed_items()
    grid: list[Grounding] = []
    for campaign in SEED_CAMPAIGNS:
        own: list[ContentItem] = [i for i in items if campaign in i.campaigns]
        chosen = one_per_product(own, count_items)
        for language in LANGUAGES:
            for channel in CHANNELS:
                for segment in SEGMENTS[language]:
                    for tone in TONES:
                        grid.append(
                            Grounding(
                                campaign_id=campaign,
                                campaign_name=CAMPAIGN_NAMES[campaign],
                                segment=segment,
                                channel=channel,
                                tone=tone,  # type: ignore[arg-type]
                                language=language,
                                items=chosen,
                                kpis=KPIS[campaign],
                                kpi_period=PERIOD,
                            )
                        )
    return grid


def evaluate(generator: Generator, grid: Sequence[Grounding], count: int) -> dict[str, Any]:
    totals: dict[str, float] = defaultdict(float)
    worst_distinct = 1.0
    examples: dict[str, list[str]] = defaultdict(list)
    sms_encodings: dict[str, int] = defaultdict(int)
    fallbacks = 0
    errors = 0
    started = time.perf_counter()
    for grounding in grid:
        try:
            written = generator.generate(grounding, count)
        except Exception as exc:
            errors += 1
            examples["errors"].append(f"{grounding.campaign_id}/{grounding.channel}: {exc}")
            continue
        drafts = written.drafts
        fallbacks += written.fallback_reason is not None
        keys = {((d.subject or "").casefold(), d.body.casefold()) for d in drafts}
        ratio = len(keys) / count
        worst_distinct = min(worst_distinct, ratio)
        totals["calls"] += 1
        totals["distinct_sum"] += ratio
        for draft in drafts:
            totals["variants"] += 1
            problems = check_draft(grounding, draft)
            limit = [p for p in problems if any(w in p for w in LIMIT_WORDS)]
            cites = [p for p in problems if any(w in p for w in CITATION_WORDS)]
            leaks = leaked_asset_text(draft_text(draft), grounding.items)
            totals["limit_violations"] += bool(limit)
            totals["citation_errors"] += bool(cites)
            totals["asset_leaks"] += bool(leaks)
            totals["segment_reflected"] += segment_reflected(
                draft, grounding.segment, grounding.channel
            )
            totals["tone_reflected"] += tone_reflected(draft, grounding.tone, grounding.language)
            totals["subjects_cut"] += bool(draft.subject and draft.subject.endswith("…"))
            if grounding.channel == "sms":
                sms_encodings[sms_count(draft.body).encoding] += 1
            for name, found in (("limit", limit), ("citation", cites), ("leak", leaks)):
                if found and len(examples[name]) < 5:
                    examples[name].append(f"{found[0]} :: {draft.body[:120]}")
    variants = totals["variants"] or 1
    return {
        "generator": getattr(generator, "name", type(generator).__name__),
        "calls": int(totals["calls"]),
        "errors": errors,
        "variants": int(totals["variants"]),
        "distinct_ratio_mean": round(totals["distinct_sum"] / (totals["calls"] or 1), 4),
        "distinct_ratio_worst": round(worst_distinct, 4),
        "limit_violations": int(totals["limit_violations"]),
        "asset_leaks": int(totals["asset_leaks"]),
        "citation_errors": int(totals["citation_errors"]),
        "segment_reflected": round(totals["segment_reflected"] / variants, 4),
        "tone_reflected": round(totals["tone_reflected"] / variants, 4),
        "sms_encodings": dict(sms_encodings),
        # Not a target: subjects or push titles cut at a word to fit (within the limit).
        "subjects_cut": int(totals["subjects_cut"]),
        "fallbacks": fallbacks,
        "seconds": round(time.perf_counter() - started, 2),
        "examples": dict(examples),
    }


def meets_targets(score: dict[str, Any]) -> bool:
    return bool(
        score["errors"] == 0
        and score["distinct_ratio_worst"] == 1.0
        and score["limit_violations"] == 0
        and score["asset_leaks"] == 0
        and score["citation_errors"] == 0
        and score["segment_reflected"] == 1.0
        and score["tone_reflected"] == 1.0
    )


def _model_generator() -> Generator | None:
    if not os.environ.get("PROMPTSALES_MCP_OPENAI_CHAT_MODEL"):
        return None
    from mcp_server.app import build_generator
    from mcp_server.config import load_mcp_settings

    return build_generator(load_mcp_settings())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10, help="variants per call (1-10)")
    parser.add_argument("--out", type=Path, default=None, help="write the scores as JSON")
    args = parser.parse_args(argv)
    grid = groundings()
    generators: list[Generator] = [OfflineGenerator()]
    model = _model_generator()
    if model is not None:
        generators.append(model)
    scores = [evaluate(g, grid, args.count) for g in generators]
    report = {"grid": len(grid), "count": args.count, "scores": scores}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0 if all(meets_targets(s) for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
