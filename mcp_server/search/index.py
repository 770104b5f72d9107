"""Exact in-memory vector index: normalized float32 matrix, boolean pre-filter, top-k.

Exact search over 100K x 384 floats is one matrix-vector product (a few ms), so there is
no approximate structure to tune or to drift from the data. Filters narrow the candidate
rows *before* ranking, which is what makes "top-k within campaign X" correct: filtering
after an unfiltered top-k would silently return fewer than k hits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mcp_server.content_model import ContentFilters, ContentItem, ScoredItem
from mcp_server.search.embeddings import Matrix
from mcp_server.search.scan import HalfMatrix, RowScanner

IndexArray = npt.NDArray[np.int64]

# Above this share of the rows, scoring all rows and picking the candidates is cheaper
# than gathering the candidates' vectors first (a copy of that share of the matrix).
SCAN_ALL_FRACTION = 0.125


@dataclass
class _Postings:
    """Row numbers per filter value, so a filter costs O(matching rows), not O(all rows)."""

    by_campaign: dict[str, IndexArray] = field(default_factory=dict)
    by_tag: dict[str, IndexArray] = field(default_factory=dict)
    by_media: dict[str, IndexArray] = field(default_factory=dict)
    by_language: dict[str, IndexArray] = field(default_factory=dict)


def _postings(items: Sequence[ContentItem]) -> _Postings:
    campaign: defaultdict[str, list[int]] = defaultdict(list)
    tag: defaultdict[str, list[int]] = defaultdict(list)
    media: defaultdict[str, list[int]] = defaultdict(list)
    language: defaultdict[str, list[int]] = defaultdict(list)
    for row, item in enumerate(items):
        for cid in set(item.campaigns):
            campaign[cid].append(row)
        for t in set(item.tags):
            tag[t].append(row)
        media[item.media_type].append(row)
        language[item.language].append(row)

    def arrays(d: dict[str, list[int]]) -> dict[str, IndexArray]:
        return {k: np.asarray(v, dtype=np.int64) for k, v in d.items()}

    return _Postings(arrays(campaign), arrays(tag), arrays(media), arrays(language))


class VectorIndex:
    """An immutable snapshot of one content version for one embedding model."""

    def __init__(
        self,
        items: Sequence[ContentItem],
        vectors: Matrix,
        *,
        model_id: str,
        version: int,
    ) -> None:
        if vectors.ndim != 2 or vectors.shape[0] != len(items):
            raise ValueError("vectors must be a 2-D matrix with one row per item")
        self.items = list(items)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.model_id = model_id
        self.version = version
        self._postings = _postings(self.items)
        self._half = HalfMatrix.build(self.vectors)

    @classmethod
    def empty(cls, model_id: str, dimensions: int, version: int = 0) -> VectorIndex:
        return cls(
            [], np.zeros((0, dimensions), dtype=np.float32), model_id=model_id, version=version
        )

    def with_changes(
        self,
        upserts: Sequence[ContentItem],
        vectors: Matrix,
        deleted: set[str],
        version: int,
    ) -> VectorIndex:
        """A new snapshot: ``deleted`` ids and the old rows of ``upserts`` gone, ``upserts``
        appended (rows in ``vectors``), labelled ``version``. What a change stream delivers
        is applied without reading the unchanged items from MongoDB again."""
        gone = deleted | {item.id for item in upserts}
        keep = [row for row, item in enumerate(self.items) if item.id not in gone]
        items = [self.items[row] for row in keep] + list(upserts)
        matrix = np.concatenate(
            [self.vectors[keep], np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimensions)]
        )
        return VectorIndex(items, matrix, model_id=self.model_id, version=version)

    def relabelled(self, version: int) -> VectorIndex:
        """The same items under another version (a version change with no item changes)."""
        copy = object.__new__(VectorIndex)
        copy.__dict__.update(self.__dict__)
        copy.version = version
        return copy

    def __len__(self) -> int:
        return len(self.items)

    @property
    def dimensions(self) -> int:
        return int(self.vectors.shape[1])

    def has_campaign(self, campaign_id: str) -> bool:
        """Some item of this snapshot is used by the campaign."""
        return campaign_id in self._postings.by_campaign

    def candidate_rows(self, filters: ContentFilters) -> IndexArray | None:
        """Rows passing every filter (None: no filter, all rows); tags must all be present."""
        p = self._postings
        selections: list[IndexArray] = []
        empty = np.zeros(0, dtype=np.int64)
        if filters.campaign_id is not None:
            selections.append(p.by_campaign.get(filters.campaign_id, empty))
        selections.extend(p.by_tag.get(t, empty) for t in set(filters.tags))
        if filters.media_type is not None:
            selections.append(p.by_media.get(filters.media_type, empty))
        if filters.language is not None:
            selections.append(p.by_language.get(filters.language, empty))
        if not selections:
            return None
        selections.sort(key=len)
        rows = selections[0]
        for other in selections[1:]:
            if rows.size == 0:
                break
            rows = np.intersect1d(rows, other, assume_unique=True)
        return rows

    def search(
        self,
        query: Matrix,
        filters: ContentFilters,
        limit: int,
        scanner: RowScanner | None = None,
    ) -> list[ScoredItem]:
        """The ``limit`` best items by cosine similarity, best first, ties broken by row.

        ``scanner``: the server's (see :mod:`mcp_server.search.scan`), which scans in parallel
        and, on large indexes, in two exact passes; without one numpy scores every row on
        the calling thread. Either way the answer is the float32 top ``limit``.
        """
        if query.shape != (self.dimensions,):
            raise ValueError(
                f"query has {query.shape} dimensions, index {self.model_id} has {self.dimensions}"
            )
        rows = self.candidate_rows(filters)
        if rows is not None and rows.size == 0:
            return []
        if rows is not None and rows.size <= SCAN_ALL_FRACTION * len(self.items):
            scores: npt.NDArray[np.float32] = self.vectors[rows] @ query
            candidates: IndexArray = rows
        elif scanner is not None and self._half is not None:
            candidates = self._shortlist(scanner, self._half, query, rows, limit)
            scores = self.vectors[candidates] @ query
        else:
            scores = (
                self.vectors @ query if scanner is None else scanner.scores(self.vectors, query)
            )
            if rows is None:
                candidates = np.arange(len(self.items), dtype=np.int64)
            else:
                scores, candidates = scores[rows], rows
        k = min(limit, scores.shape[0])
        if k <= 0:
            return []
        if k < scores.shape[0]:
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(scores.shape[0])
        order = top[np.lexsort((top, -scores[top]))]
        return [
            ScoredItem(score=round(float(scores[i]), 6), item=self.items[int(candidates[i])])
            for i in order
        ]

    def _shortlist(
        self,
        scanner: RowScanner,
        half: HalfMatrix,
        query: Matrix,
        rows: IndexArray | None,
        limit: int,
    ) -> IndexArray:
        """Every row that can be in the exact top ``limit`` (the float16 first pass).

        A row's approximate score is within ``error`` of its exact one, so a row more than
        ``2 * error`` below the ``limit``-th best approximate score cannot beat that row's
        exact score: everything above that line is kept for the exact second pass.
        """
        approximate = scanner.approximate_scores(half, query)
        if rows is not None:
            approximate = approximate[rows]
        k = min(limit, approximate.shape[0])
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        kth = approximate[np.argpartition(-approximate, k - 1)[k - 1]]
        keep = np.flatnonzero(approximate >= kth - 2 * half.error(query))
        return keep if rows is None else rows[keep]
