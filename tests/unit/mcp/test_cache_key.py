"""Cache keys: stable over argument order, distinct over everything that changes an answer."""

from __future__ import annotations

from mcp_server.cache import CacheKeyParts, cache_key


def _key(**changes: object) -> str:
    base: dict[str, object] = {
        "tool": "getContent",
        "arguments": {"query": "shoes", "limit": 5},
        "role": "user",
        "scope": None,
        "model_id": "all-MiniLM-L6-v2",
        "content_version": 3,
    }
    base.update(changes)
    return cache_key("p:", CacheKeyParts(**base))  # type: ignore[arg-type]


def test_key_ignores_argument_order() -> None:
    assert _key(arguments={"limit": 5, "query": "shoes"}) == _key()


def test_everything_that_changes_the_answer_changes_the_key() -> None:
    variants = [
        _key(tool="generateCampaignMessages"),
        _key(arguments={"query": "shoes", "limit": 6}),
        _key(role="marketing"),
        _key(scope="1001"),
        _key(model_id="text-embedding-3-small"),
        _key(content_version=4),
    ]
    assert len({_key(), *variants}) == len(variants) + 1


def test_key_holds_no_caller_text_and_names_the_version() -> None:
    key = _key(arguments={"query": "secret launch codename"})
    assert "secret" not in key
    assert key.startswith("p:getContent:v3:")
