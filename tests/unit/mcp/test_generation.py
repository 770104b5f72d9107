"""Channel limits and the offline generator's grounding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_server.content.models import ContentItem
from mcp_server.generation import (
    CHANNEL_LIMITS,
    GenerationError,
    Grounding,
    OfflineGenerator,
    fit_to_channel,
    render_variants,
    shorten,
)


@given(text=st.text(max_size=3000), limit=st.integers(2, 400))
def test_shorten_never_exceeds_the_limit(text: str, limit: int) -> None:
    assert len(shorten(text, limit)) <= limit


def test_shorten_cuts_at_a_word_boundary() -> None:
    assert shorten("one two three four", 12) == "one two…"
    assert shorten("fits", 10) == "fits"


@pytest.mark.parametrize("channel", ["sms", "email", "social", "push"])
def test_fit_to_channel_respects_body_and_subject(channel: str) -> None:
    subject, body = fit_to_channel(channel, "S" * 500, "word " * 1000)  # type: ignore[arg-type]
    limits = CHANNEL_LIMITS[channel]
    assert len(body) <= limits.body
    if limits.subject is None:
        assert subject is None
    else:
        assert subject is not None
        assert len(subject) <= limits.subject


def _grounding(language: str = "en", items: int = 2, conversions: int = 40) -> Grounding:
    return Grounding(
        campaign_id="1001",
        campaign_name="Trail season",
        segment="runners",
        channel="sms",
        tone="urgent",
        language=language,
        items=[
            ContentItem(
                id=f"img-{n}",
                title=f"Trail shoe {n}",
                caption="Own the trail",
                media_type="image",
                media_url="https://cdn.test/x",
            )
            for n in range(items)
        ],
        kpis={"conversions": conversions, "ctr": 0.01},
        kpi_period="2026-01-01/2026-03-31",
    )


def test_offline_variants_cite_items_and_kpis() -> None:
    grounding = _grounding()
    variants = render_variants(grounding, OfflineGenerator().generate(grounding, 3))
    assert [v.citations.content_ids for v in variants] == [["img-0"], ["img-1"], ["img-0"]]
    assert all("40 shoppers" in v.body for v in variants)
    assert all(v.citations.kpis["conversions"] == 40 for v in variants)
    assert all(v.length == len(v.body) <= 160 for v in variants)


def test_offline_without_content_still_writes_uncited_variants() -> None:
    grounding = _grounding(items=0, conversions=0)
    variants = render_variants(grounding, OfflineGenerator().generate(grounding, 2))
    assert all(v.citations.content_ids == [] for v in variants)


def test_offline_refuses_other_languages_naming_the_field() -> None:
    with pytest.raises(GenerationError, match=r"^language:"):
        OfflineGenerator().generate(_grounding(language="de"), 1)
