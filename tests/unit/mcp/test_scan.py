"""The server's scan: parallel shards give numpy's scores, and the two passes stay exact.

The two-pass search is only exact if the float16 pass errs by no more than
``half_error``; the first test holds the installed torch kernel to that bound on inputs
chosen to break it (equal components, where float16 accumulation would drift; one-hot and
tiny components, at the edges of float16's range). The search tests use near-duplicate
rows that float16 cannot tell apart but float32 can, so a shortlist that dropped a
candidate would return a wrong item, and one test shows that it does without the margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcp_server.content_model import ContentFilters, ContentItem, ScoredItem
from mcp_server.search.index import VectorIndex
from mcp_server.search.scan import MIN_ROWS_FOR_HALF, HalfMatrix, RowScanner

pytest.importorskip("torch")

ROWS = MIN_ROWS_FOR_HALF + 7_000


@pytest.fixture(scope="module")
def scanner() -> RowScanner:
    return RowScanner(threads=2)


def _unit(matrix: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    return unit


def _near_duplicates(rng: np.random.Generator) -> np.ndarray:
    """Groups of 40 rows around 1,000 centres, 1e-4 apart: one float16 value, many float32."""
    centres = rng.standard_normal((ROWS // 40 + 1, 384))
    rows = np.repeat(centres, 40, axis=0)[:ROWS] + 1e-4 * rng.standard_normal((ROWS, 384))
    return _unit(rows)


def test_half_pass_error_stays_within_the_bound(scanner: RowScanner) -> None:
    rng = np.random.default_rng(1)
    matrix = _unit(rng.standard_normal((ROWS, 384)))
    matrix[0] = 1 / np.sqrt(384)  # equal components: float16 accumulation would drift
    matrix[1] = 0
    matrix[1, 7] = 1  # one-hot
    matrix[2] = _unit(np.concatenate([[1.0], np.full(383, 1e-5)])[None])[0]  # subnormal range
    half = HalfMatrix(matrix)
    queries = [*_unit(rng.standard_normal((20, 384))), matrix[0], matrix[1], matrix[2]]
    for query in queries:
        approximate = scanner.approximate_scores(half, query).astype(np.float64)
        exact = matrix.astype(np.float64) @ query.astype(np.float64)
        assert float(np.abs(approximate - exact).max()) <= half.error(query)


def test_sharded_scores_equal_numpy(scanner: RowScanner) -> None:
    matrix = _unit(np.random.default_rng(2).standard_normal((ROWS, 384)))
    query = matrix[5]
    assert np.allclose(scanner.scores(matrix, query), matrix @ query, rtol=0, atol=1e-6)


def _index(matrix: np.ndarray) -> VectorIndex:
    items = [
        ContentItem(
            id=f"i{row}",
            title="t",
            media_type="image",
            media_url="https://cdn.test/x",
            campaigns=["1"],
            language="en" if row % 2 else "es",
        )
        for row in range(matrix.shape[0])
    ]
    return VectorIndex(items, matrix, model_id="m", version=1)


def _reference(
    matrix: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None
) -> list[tuple[float, int]]:
    """float64 brute force: (score, row), best first, ties by row."""
    candidates = np.arange(matrix.shape[0]) if rows is None else rows
    scores = matrix[candidates].astype(np.float64) @ query.astype(np.float64)
    order = sorted(zip((-scores).tolist(), candidates.tolist(), strict=True))[:k]
    return [(-s, int(r)) for s, r in order]


def _assert_same_answer(hits: list[ScoredItem], reference: list[tuple[float, int]]) -> None:
    """Same scores position by position; an item may differ only inside a float32 tie."""
    assert len(hits) == len(reference)
    kth = reference[-1][0]
    for hit, (score, row) in zip(hits, reference, strict=True):
        assert abs(hit.score - score) <= 2e-6
        if hit.item.id != f"i{row}":
            assert hit.score >= kth - 2e-6


@pytest.fixture(scope="module")
def near_duplicate_index() -> tuple[VectorIndex, np.ndarray]:
    matrix = _near_duplicates(np.random.default_rng(3))
    index = _index(matrix)
    assert index._half is not None  # the two-pass path is the one under test
    return index, matrix


@pytest.mark.parametrize("k", [1, 10, 50])
def test_two_pass_search_is_the_exact_top_k(
    scanner: RowScanner, near_duplicate_index: tuple[VectorIndex, np.ndarray], k: int
) -> None:
    index, matrix = near_duplicate_index
    rng = np.random.default_rng(k)
    for query in [matrix[123], matrix[9_000], *_unit(rng.standard_normal((8, 384)))]:
        hits = index.search(query, ContentFilters(), k, scanner)
        _assert_same_answer(hits, _reference(matrix, query, k))


def test_two_pass_search_applies_a_large_filter_first(
    scanner: RowScanner, near_duplicate_index: tuple[VectorIndex, np.ndarray]
) -> None:
    index, matrix = near_duplicate_index
    english = np.arange(1, matrix.shape[0], 2)
    for query in (matrix[124], matrix[125]):
        hits = index.search(query, ContentFilters(language="en"), 10, scanner)
        assert all(hit.item.language == "en" for hit in hits)
        _assert_same_answer(hits, _reference(matrix, query, 10, english))


def test_without_the_error_margin_the_shortlist_loses_items(
    scanner: RowScanner,
    near_duplicate_index: tuple[VectorIndex, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The margin is what makes the answer exact: with none, near-duplicates go missing."""
    index, matrix = near_duplicate_index
    monkeypatch.setattr(HalfMatrix, "error", lambda self, query: 0.0)
    wrong = 0
    for query in _unit(np.random.default_rng(7).standard_normal((10, 384))):
        hits = index.search(query, ContentFilters(), 10, scanner)
        reference = _reference(matrix, query, 10)
        wrong += [h.item.id for h in hits] != [f"i{r}" for _, r in reference]
    assert wrong > 0
