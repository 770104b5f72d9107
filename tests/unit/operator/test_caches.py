"""The operator's caches: compact entries, and its own writes served until their echo."""

from __future__ import annotations

import datetime as dt
from typing import Any

from promptsales_operator import caches

NOW = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)


def campaign_body(rv: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "promptsales.io/v1alpha1",
        "kind": "PromptSalesCampaign",
        "metadata": {
            "name": "c1",
            "namespace": "promptsales",
            "uid": "u1",
            "generation": 2,
            "resourceVersion": rv,
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"campaignId": "7", "displayName": "C", **spec},
        "status": {"observedGeneration": 1},
    }


def version(cache: caches.ClusterCache) -> str | None:
    entry = cache.get(caches.CAMPAIGNS, "c1")
    return entry.resource_version if entry is not None else None


class Index(dict[str, list[caches.Entry]]):
    """What a kopf index looks like to a reader: name -> store of values."""


def cache_with(entry: caches.Entry, clock: list[float]) -> caches.ClusterCache:
    cache = caches.ClusterCache(clock=lambda: clock[0])
    index = Index({entry.name: [entry]})
    cache.attach(caches.CAMPAIGNS, index)  # type: ignore[arg-type]
    return cache


def test_a_campaign_entry_keeps_what_passes_read_and_drops_the_rest() -> None:
    entry = caches.campaign_entry(campaign_body("5", demand={"requestsPerSecond": 4}))
    body = entry.body()
    assert body["spec"]["campaignId"] == "7"
    assert "managedFields" not in body["metadata"]
    assert (entry.generation, entry.observed_generation) == (2, 1)
    assert entry.demand(NOW).effective == 4
    windowed = caches.campaign_entry(campaign_body("5", window={"start": "2027-01-01T00:00:00Z"}))
    assert windowed.demand(NOW).effective == 0  # not active yet
    assert not caches.campaign_entry(campaign_body("5", campaignId="x")).valid


def test_our_write_is_served_until_the_watch_delivers_it_then_its_echo_is_ignored() -> None:
    clock = [0.0]
    cache = cache_with(caches.campaign_entry(campaign_body("5")), clock)
    ours = caches.campaign_entry(campaign_body("6"))
    cache.remember(caches.CAMPAIGNS, "c1", ours)
    assert cache.get(caches.CAMPAIGNS, "c1") is ours  # the index still holds version 5
    assert cache.observe(caches.CAMPAIGNS, "c1", "5") is False  # an older event: not ours
    assert cache.get(caches.CAMPAIGNS, "c1") is ours
    assert cache.observe(caches.CAMPAIGNS, "c1", "6") is True  # the echo of our write
    assert version(cache) == "5"  # the index again


def test_a_remembered_write_expires_if_its_echo_never_comes() -> None:
    clock = [0.0]
    cache = cache_with(caches.campaign_entry(campaign_body("5")), clock)
    cache.remember(caches.CAMPAIGNS, "c1", caches.campaign_entry(campaign_body("9")))
    clock[0] = caches.REMEMBER_SECONDS + 1  # e.g. a relist skipped that version
    assert version(cache) == "5"


def test_a_deletion_clears_what_was_remembered() -> None:
    clock = [0.0]
    cache = cache_with(caches.campaign_entry(campaign_body("5")), clock)
    cache.remember(caches.CAMPAIGNS, "c1", caches.campaign_entry(campaign_body("6")))
    assert cache.observe(caches.CAMPAIGNS, "c1", None) is False  # someone else deleted it
    assert version(cache) == "5"


def test_a_write_whose_echo_came_before_it_was_remembered_does_not_shadow_the_index() -> None:
    """The watch can deliver our write before the write's own answer is handled (the echo
    wins the race to the event loop). Remembering it then must not hide what the index
    holds, or a later edit by someone else would be read as the old object (seen on a real
    API server: a spec edit right after the first status write was never followed)."""
    clock = [0.0]
    index = Index({"c1": [caches.campaign_entry(campaign_body("6"))]})
    cache = caches.ClusterCache(clock=lambda: clock[0])
    cache.attach(caches.CAMPAIGNS, index)  # type: ignore[arg-type]
    assert cache.observe(caches.CAMPAIGNS, "c1", "6") is False  # nothing remembered yet
    cache.remember(caches.CAMPAIGNS, "c1", caches.campaign_entry(campaign_body("6")))
    index["c1"] = [caches.campaign_entry(campaign_body("8"))]  # someone's edit
    assert version(cache) == "8"
    assert cache.observe(caches.CAMPAIGNS, "c1", "8") is False  # not ours: react to it


def test_a_newer_version_in_the_index_wins_over_our_remembered_write() -> None:
    """As client-go's MutationCache: resourceVersions from etcd are integers, and the
    backing cache is preferred once it holds our version or a later one."""
    clock = [0.0]
    index = Index({"c1": [caches.campaign_entry(campaign_body("5"))]})
    cache = caches.ClusterCache(clock=lambda: clock[0])
    cache.attach(caches.CAMPAIGNS, index)  # type: ignore[arg-type]
    cache.remember(caches.CAMPAIGNS, "c1", caches.campaign_entry(campaign_body("10")))
    assert version(cache) == "10"  # "5" < "10" as numbers, though not as strings
    index["c1"] = [caches.campaign_entry(campaign_body("11"))]  # a later write by someone else
    assert cache.observe(caches.CAMPAIGNS, "c1", "11") is False  # not ours: react to it
    assert version(cache) == "11"
