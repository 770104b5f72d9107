"""What a content item is as an asset (its title's shot words, caption, description) as
against what it offers (a product name, tags), and how to tell if copy leaked the former.

A media library names assets for the people who manage them: "Trail running shoes hero
banner", with a caption and a description of the photograph. Customer copy may name the
product and use the tags; it must not carry the asset's title, caption or description,
nor its shot words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_server.content_model import ContentItem

# Words a media library puts in asset titles and tags that are no part of the offer.
ASSET_WORDS = frozenset(
    {
        "hero", "banner", "product", "shot", "lifestyle", "photo", "photograph", "photography",
        "image", "picture", "social", "square", "video", "clip", "thumbnail", "poster", "render",
        "mockup", "still", "reel", "story", "flyer", "graphic", "illustration", "footage",
        "foto", "fotografía", "imagen", "vídeo", "cartel",
    }
)  # fmt: skip
# Visual-style adjectives that describe the shot, not the product, when also a tag.
STYLE_WORDS = frozenset(
    {
        "bold", "minimal", "warm", "vibrant", "moody", "bright", "playful", "elegant",
        "rustic", "urban", "cinematic", "retro",
    }
)  # fmt: skip
MAX_PRODUCT_CHARS = 40
MAX_PRODUCT_WORDS = 6
MAX_HASHTAGS = 3


def _words(text: str) -> list[str]:
    return text.split()


def asset_suffix(item: ContentItem) -> str:
    """The asset words at the end of a title ("hero banner"), or ""."""
    words = _words(item.title)
    cut = len(words)
    while cut > 0 and words[cut - 1].casefold() in ASSET_WORDS:
        cut -= 1
    return " ".join(words[cut:])


def product_name(item: ContentItem) -> str | None:
    """The offer an item shows, from its title; None when no usable name is left.

    Leading style adjectives that are also the item's tags ("Moody linen shirts") and
    trailing asset words ("... lifestyle photo") are dropped. A name longer than a
    product name can be (a sentence, perhaps text planted in a title) is not used.
    """
    words = _words(item.title)
    tags = {t.casefold() for t in item.tags}
    while words and words[0].casefold() in STYLE_WORDS and words[0].casefold() in tags:
        words.pop(0)
    while words and words[-1].casefold() in ASSET_WORDS:
        words.pop()
    name = " ".join(words).strip(" .,:;-")
    if not name or len(name) > MAX_PRODUCT_CHARS or len(words) > MAX_PRODUCT_WORDS:
        return None
    if not re.search(r"\w", name):
        return None
    return name[0].upper() + name[1:]


def hashtags(items: Sequence[ContentItem], limit: int = MAX_HASHTAGS) -> list[str]:
    """Hashtags from the items' tags (asset and style words left out), CamelCase."""
    out: list[str] = []
    for item in items:
        for tag in item.tags:
            words = tag.replace("-", " ").replace("_", " ").split()
            if not words or any(w in ASSET_WORDS or w in STYLE_WORDS for w in words):
                continue
            label = "#" + "".join(w[:1].upper() + w[1:] for w in words)
            if label not in out:
                out.append(label)
            if len(out) == limit:
                return out
    return out


MIN_LEAK_CHARS = 12


def leaked_asset_text(text: str, items: Sequence[ContentItem]) -> list[str]:
    """Which asset texts of ``items`` appear in ``text`` (case-insensitive)."""
    haystack = " ".join(text.split()).casefold()
    found: list[str] = []
    for item in items:
        candidates = [item.caption, item.description]
        if product_name(item) != item.title:
            candidates.append(item.title)
        suffix = asset_suffix(item)
        if suffix:
            candidates.append(suffix)
        for candidate in candidates:
            needle = " ".join(candidate.split()).casefold().rstrip(".")
            short = needle == suffix.casefold()
            if needle and (short or len(needle) >= MIN_LEAK_CHARS) and needle in haystack:
                found.append(f"{item.id}: {candidate[:60]}")
    return found
