"""The ``PromptContent`` document shape and the search filters over it.

One MongoDB document per media item. The embedding is stored beside the text it was
computed from, together with the model id and dimension, so a reader can always tell
which vectors belong together and never mixes two models in one index.

    {
      "_id": "img-0001",                     # stable content id (string)
      "title": "Summer sale hero banner",
      "description": "Family on a beach ...", # long text; caption is the short one
      "caption": "Sun's out, deals out",
      "tags": ["summer", "sale", "beach"],
      "media_type": "image",                  # image | video | audio | text | document
      "media_url": "https://cdn.promptsales.io/img/0001.jpg",
      "campaigns": ["cmp-1001"],              # PromptAds campaign ids using the item
      "language": "en",                       # ISO 639-1
      "created_at": datetime, "updated_at": datetime,
      "embedding": BinData(9, ...),           # BSON float32 vector, unit-normalized
      "embedding_model": "all-MiniLM-L6-v2",
      "embedding_dim": 384
    }
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

MediaType = Literal["image", "video", "audio", "text", "document"]
MEDIA_TYPES: tuple[str, ...] = ("image", "video", "audio", "text", "document")

# Plain identifiers only: ids and tags become MongoDB values and cache-key parts, so a
# string like {"$ne": ""} or "a.b" must never reach a query as anything but a literal.
_IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
IDENT_PATTERN = re.compile(_IDENT)
ContentId = Annotated[str, StringConstraints(pattern=_IDENT)]
CampaignId = Annotated[str, StringConstraints(pattern=_IDENT)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9][a-z0-9 _-]{0,47}$"),
]
Language = Annotated[str, StringConstraints(to_lower=True, pattern=r"^[a-z]{2}$")]


class ContentItem(BaseModel):
    """A marketing media item as callers see it (everything but the vector)."""

    model_config = ConfigDict(extra="forbid")

    id: ContentId
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    caption: Annotated[str, StringConstraints(max_length=500)] = ""
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    media_type: MediaType
    media_url: AnyHttpUrl
    campaigns: list[CampaignId] = Field(default_factory=list, max_length=200)
    language: Language = "en"
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    def embedding_text(self) -> str:
        """The text the embedding is computed from; stable so re-embedding is repeatable."""
        parts = [self.title, self.caption, self.description, " ".join(self.tags)]
        return ". ".join(p for p in parts if p)


class ContentFilters(BaseModel):
    """Optional restrictions applied before ranking (never after), so top-k stays exact."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: CampaignId | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    media_type: MediaType | None = None
    language: Language | None = None

    def normalized(self) -> dict[str, object]:
        return {
            "campaign_id": self.campaign_id,
            "tags": sorted(set(self.tags)),
            "media_type": self.media_type,
            "language": self.language,
        }


class ScoredItem(BaseModel):
    """One search hit: the item and its cosine similarity to the query."""

    score: float
    item: ContentItem


class ContentHit(BaseModel):
    """A search hit as returned to callers: flat, required, unconstrained fields.

    Inputs carry the validation; the output schema is kept this plain on purpose, because
    every MCP client re-validates structured results against it on each call, and nested
    optional fields with patterns cost that client more than the cached answer itself.
    """

    id: str
    score: float
    title: str
    caption: str
    description: str
    tags: list[str]
    media_type: str
    media_url: str
    campaigns: list[str]
    language: str

    @classmethod
    def from_scored(cls, hit: ScoredItem) -> ContentHit:
        item = hit.item
        return cls(
            id=item.id,
            score=hit.score,
            title=item.title,
            caption=item.caption,
            description=item.description,
            tags=item.tags,
            media_type=item.media_type,
            media_url=str(item.media_url),
            campaigns=item.campaigns,
            language=item.language,
        )
