"""Caller text as the tools use it: invisible characters out, something visible required.

A query of zero-width spaces passes a ``min_length`` check and embeds to a vector like
any other, so it "finds" items. Format characters (Unicode category Cf: zero-width
spaces and joiners, soft hyphens, byte-order marks, bidirectional controls) and control
characters are removed, whitespace runs collapse to one space, and the result must hold
at least one letter, digit or symbol. Case is kept: answers repeat the caller's own text.
"""

from __future__ import annotations

import functools
import unicodedata

_VISIBLE = ("L", "N", "S")


@functools.lru_cache(maxsize=4096)  # a pure function of the text; repeats are the cached path
def clean_text(text: str) -> str:
    """``text`` without format or control characters, whitespace collapsed."""
    kept = "".join(c for c in text if c.isspace() or unicodedata.category(c) not in ("Cf", "Cc"))
    return " ".join(kept.split())


def visible_text(field: str, text: str) -> str:
    """:func:`clean_text`, or ValueError naming ``field`` when nothing visible is left."""
    cleaned = clean_text(text)
    if not any(unicodedata.category(c)[0] in _VISIBLE for c in cleaned):
        raise ValueError(f"{field}: must contain a visible letter, digit or symbol")
    return cleaned


def key_text(text: str) -> str:
    """The form two callers' texts are compared in (the cache key): case-folded."""
    return text.casefold()
