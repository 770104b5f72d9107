"""The memo of pure verdicts: JSON types kept apart, key order ignored, size bounded."""

from __future__ import annotations

from mcp_server.memo import BoundedMemo, canonical


def test_canonical_keys_keep_json_types_apart_and_ignore_member_order() -> None:
    keys = {canonical("t", {"limit": value}) for value in (1, 1.0, True, "1", None)}
    assert len(keys) == 5
    assert canonical("t", {"a": 1, "b": [2]}) == canonical("t", {"b": [2], "a": 1})


def test_what_json_cannot_write_is_not_remembered() -> None:
    memo: BoundedMemo[bool] = BoundedMemo()
    key = canonical({"n": 2**70})
    assert key is None
    memo.put(key, True)
    assert memo.get(key) is None
    assert len(memo) == 0


def test_the_least_recently_used_verdict_leaves_first() -> None:
    memo: BoundedMemo[str] = BoundedMemo(size=2)
    a, b, c = (canonical(n) for n in "abc")
    memo.put(a, "A")
    memo.put(b, "B")
    assert memo.get(a) == "A"  # a is now the most recent
    memo.put(c, "C")
    assert (memo.get(a), memo.get(b), memo.get(c)) == ("A", None, "C")
    assert len(memo) == 2
