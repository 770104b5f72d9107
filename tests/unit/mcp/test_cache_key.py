"""Cache keys: stable over argument order, distinct over everything that changes an answer."""

from __future__ import annotations

import hashlib

import orjson

from mcp_server.answers.cache import CacheKeyParts, cache_key


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
        _key(kpi_version=0),
        _key(kpi_version=1),
    ]
    assert len({_key(), *variants}) == len(variants) + 1


def test_key_holds_no_caller_text_and_names_the_version() -> None:
    key = _key(arguments={"query": "secret launch codename"})
    assert "secret" not in key
    assert key.startswith("p:getContent:v3:")


def test_kpi_version_moves_only_its_own_key() -> None:
    """An ETL run that changes one campaign bumps that campaign's version; another
    campaign's answer (same version as before) keeps its key."""
    old = _key(arguments={"campaign_id": "1"}, kpi_version=7)
    assert _key(arguments={"campaign_id": "1"}, kpi_version=8) != old
    assert _key(arguments={"campaign_id": "1"}, kpi_version=7) == old
    assert _key(kpi_version=8).startswith("p:getContent:v3:")


def test_answers_without_kpis_keep_their_keys() -> None:
    """No KPI version (content answers) hashes as before the field existed."""
    canonical = orjson.dumps(
        {
            "t": "getContent",
            "a": {"query": "shoes", "limit": 5},
            "r": "user",
            "s": None,
            "m": "all-MiniLM-L6-v2",
            "v": 3,
        },
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    assert _key() == f"p:getContent:v3:{hashlib.sha256(canonical).hexdigest()}"
