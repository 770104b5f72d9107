"""The seed set: 100 images' metadata at the original design's scale, plus a 100K generator.

Seed items are composed from hand-written marketing briefs (subject, scene, caption,
tags) crossed with a few shot styles, so the set reads like a real campaign library and
covers every filter (campaigns, tags, media type, language). Everything is
deterministic: the same call gives the same ids and text, so reloading is idempotent.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from mcp_server.content_model import ContentItem

CDN = "https://cdn.promptsales.io/media"
SEED_CAMPAIGNS = ("1001", "1002", "1003", "1004", "1005")

# (subject, scene description, caption, tags, campaign)
_BRIEFS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    (
        "Trail running shoes",
        "a runner crossing a misty mountain ridge at sunrise",
        "Own the trail before the city wakes up",
        ("running", "outdoor", "shoes", "fitness"),
        "1001",
    ),
    (
        "Recycled-fabric yoga mat",
        "a woman practising yoga on a wooden deck by a lake",
        "Calm, grounded, made from recycled bottles",
        ("yoga", "sustainability", "fitness"),
        "1001",
    ),
    (
        "Insulated steel water bottle",
        "a hiker refilling a bottle at a cold mountain stream",
        "Cold for 24 hours, plastic-free forever",
        ("hydration", "outdoor", "sustainability"),
        "1001",
    ),
    (
        "Smart fitness watch",
        "a cyclist checking heart rate on a city bridge at dusk",
        "Every beat, every mile, one glance",
        ("wearables", "fitness", "technology"),
        "1001",
    ),
    (
        "Summer beach collection",
        "a family laughing under a striped umbrella on white sand",
        "Sun's out, deals out: up to 40% off summer essentials",
        ("summer", "sale", "beach", "family"),
        "1002",
    ),
    (
        "Linen shirts",
        "two friends sharing lemonade on a Mediterranean terrace",
        "Breathable linen for long golden evenings",
        ("summer", "fashion", "menswear"),
        "1002",
    ),
    (
        "Polarized sunglasses",
        "a close-up of sunglasses reflecting a sailboat",
        "See the sea, not the glare",
        ("summer", "accessories", "eyewear"),
        "1002",
    ),
    (
        "Picnic basket set",
        "a couple unpacking a picnic in a lavender field",
        "Everything for the perfect afternoon, in one basket",
        ("summer", "home", "gifts"),
        "1002",
    ),
    (
        "Black Friday electronics",
        "noise-cancelling headphones glowing on a dark desk",
        "Silence the noise: our lowest prices of the year",
        ("black friday", "sale", "electronics", "audio"),
        "1003",
    ),
    (
        "4K streaming stick",
        "a living room movie night with popcorn and a big screen",
        "Movie night, upgraded in one click",
        ("electronics", "home", "entertainment"),
        "1003",
    ),
    (
        "Wireless earbuds",
        "a commuter on a crowded train smiling with earbuds in",
        "Your commute, your soundtrack",
        ("electronics", "audio", "commute"),
        "1003",
    ),
    (
        "Gaming laptop",
        "a gamer's desk lit by neon keyboard light at midnight",
        "Frames per second, not seconds per frame",
        ("electronics", "gaming", "technology"),
        "1003",
    ),
    (
        "Holiday gift guide",
        "wrapped presents under a tree with warm fairy lights",
        "Gifts they'll actually keep",
        ("holiday", "gifts", "family"),
        "1004",
    ),
    (
        "Cashmere scarf",
        "a woman walking through snowy city streets in a red scarf",
        "Soft as snowfall, warm as home",
        ("holiday", "fashion", "winter"),
        "1004",
    ),
    (
        "Artisan chocolate box",
        "hands opening a gold box of hand-made chocolates",
        "A little luxury in every square",
        ("holiday", "food", "gifts"),
        "1004",
    ),
    (
        "Scented candle trio",
        "candles glowing on a windowsill during a snowstorm",
        "Cedar, clove and cozy nights in",
        ("holiday", "home", "winter"),
        "1004",
    ),
    (
        "Plant-based protein",
        "a smoothie bowl topped with berries in a bright kitchen",
        "Plant power for every morning",
        ("nutrition", "vegan", "breakfast", "fitness"),
        "1005",
    ),
    (
        "Organic coffee beans",
        "a barista pouring latte art in a sunlit café",
        "Fair-trade beans, roasted this week",
        ("coffee", "organic", "breakfast"),
        "1005",
    ),
    (
        "Meal-kit subscription",
        "a young couple cooking together in a small apartment",
        "Dinner sorted in 30 minutes, no waste",
        ("food", "subscription", "family"),
        "1005",
    ),
    (
        "Electric city bike",
        "a commuter gliding past traffic on a tree-lined bike lane",
        "Skip the traffic, not the ride",
        ("commute", "sustainability", "mobility"),
        "1005",
    ),
    (
        "Back-to-school backpacks",
        "kids racing to a yellow school bus with new backpacks",
        "Ready for the first bell",
        ("back to school", "kids", "sale"),
        "1002",
    ),
    (
        "Home office chair",
        "a remote worker stretching in an ergonomic chair by a window",
        "Work from home without the back pain",
        ("home", "office", "wellbeing"),
        "1003",
    ),
    (
        "Skincare starter kit",
        "a bathroom shelf with minimalist skincare bottles",
        "Three steps to glowing skin",
        ("beauty", "skincare", "wellbeing"),
        "1004",
    ),
    (
        "Pet adventure harness",
        "a golden retriever hiking beside its owner on a forest path",
        "Adventures are better with four paws",
        ("pets", "outdoor", "family"),
        "1001",
    ),
    (
        "Camping tent",
        "a glowing tent under the milky way beside a quiet lake",
        "Sleep under a billion stars",
        ("camping", "outdoor", "summer"),
        "1001",
    ),
)
_STYLES = (
    ("hero banner", "Wide hero banner photograph"),
    ("product shot", "Studio product photograph on a clean background"),
    ("lifestyle photo", "Candid lifestyle photograph"),
    ("social square", "Square social-media image with bold text overlay"),
)
_SEED_TIME = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)


def seed_items() -> list[ContentItem]:
    """The 100 seed images (25 briefs x 4 shot styles), all English."""
    items = []
    for b, (subject, scene, caption, tags, campaign) in enumerate(_BRIEFS):
        for s, (style, style_text) in enumerate(_STYLES):
            number = b * len(_STYLES) + s + 1
            items.append(
                ContentItem(
                    id=f"img-{number:04d}",
                    title=f"{subject} {style}",
                    description=f"{style_text} of {scene}, featuring {subject.lower()}.",
                    caption=caption,
                    tags=[*tags, style.split()[0]],
                    media_type="image",
                    media_url=f"{CDN}/img-{number:04d}.jpg",
                    campaigns=[campaign],
                    language="en",
                    created_at=_SEED_TIME + dt.timedelta(hours=number),
                    updated_at=_SEED_TIME + dt.timedelta(hours=number),
                )
            )
    return items


_MEDIA_WEIGHTS = (
    ("image", 0.6),
    ("video", 0.2),
    ("text", 0.1),
    ("audio", 0.05),
    ("document", 0.05),
)
_LANGS = (("en", 0.7), ("es", 0.1), ("fr", 0.08), ("de", 0.07), ("pt", 0.05))
_ADJECTIVES = (
    "bold",
    "minimal",
    "warm",
    "vibrant",
    "moody",
    "bright",
    "playful",
    "elegant",
    "rustic",
    "urban",
    "cinematic",
    "retro",
)


def generated_items(count: int, *, seed: int = 7, campaigns: int = 200) -> Iterator[ContentItem]:
    """``count`` synthetic items for the benchmark, varied from the seed briefs.

    Each item is a brief, a style and an adjective with a random campaign, media type
    and language, so filters select realistic fractions of the set (a campaign ~0.5%,
    a media type 5-60%).
    """
    rng = random.Random(seed)
    media = [m for m, _ in _MEDIA_WEIGHTS]
    media_w = [w for _, w in _MEDIA_WEIGHTS]
    langs = [lang for lang, _ in _LANGS]
    lang_w = [w for _, w in _LANGS]
    for n in range(count):
        subject, scene, caption, tags, _ = _BRIEFS[rng.randrange(len(_BRIEFS))]
        style, style_text = _STYLES[rng.randrange(len(_STYLES))]
        adjective = _ADJECTIVES[rng.randrange(len(_ADJECTIVES))]
        media_type = rng.choices(media, media_w)[0]
        yield ContentItem(
            id=f"gen-{n:07d}",
            title=f"{adjective.capitalize()} {subject.lower()} {style}",
            description=f"{style_text}, {adjective} mood, of {scene}.",
            caption=caption,
            tags=[*tags, adjective],
            media_type=media_type,
            media_url=f"{CDN}/gen/{n:07d}",
            campaigns=[str(2000 + rng.randrange(campaigns))],
            language=rng.choices(langs, lang_w)[0],
            created_at=_SEED_TIME,
            updated_at=_SEED_TIME,
        )
